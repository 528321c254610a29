"""The environment variables users and workflows set: the seed's names, kept as they were, and the
orchestrator's own. :mod:`orchestrator.config.loader` reads them from the mapping the command line hands it;
the launchers find the tokens and secrets they pass on in that same mapping (``Settings.environ``).

A label named in the TOML file gets the same per-label variables as the seed's two (``THRESHOLD_TOPIC``,
``RETRAIN_TOPIC_REPO``, ``HF_HUB_METADATA_TOPIC``, ``SAMPLE_RATIO_TOPIC``, ``RETRAIN_RESULT_TOPIC``); the
seed abbreviates ``department`` as ``DEPT`` in some of its names, and that stays.
"""

from __future__ import annotations

# The labels without a TOML file: the seed's two.
SEED_LABELS = ("department", "urgency")
# The seed abbreviates some labels in its variable names (RETRAIN_DEPT_REPO, HF_HUB_METADATA_DEPT).
SEED_ALIASES = {"department": "DEPT"}
# Variables whose whole value is a secret (URLs' credentials are found in any value).
SECRET_VARIABLES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "GITHUB_TOKEN", "GH_TOKEN", "NOTIFY_URLS", "WEBHOOK_SECRET",
                    "STATUS_TOKEN")

# The config file's text itself, for a job that has no file (orchestrator schedule and hooks hand it on).
CONFIG_TEXT_VARIABLE = "ORCHESTRATOR_CONFIG_TOML"
# Variables that hold a database URL: their password is a secret, so the whole value is handed on as one.
DATABASE_VARIABLES = ("DATABASE_URL", "STATE_DATABASE_URL")

# Global variables: (env var, path in the settings tree).
GLOBAL_VARIABLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("DATABASE_URL", ("database_url",)),
    ("STATE_DATABASE_URL", ("state_database_url",)),
    ("POLL_INTERVAL", ("poll_interval",)),
    ("POLL_TIMEOUT", ("poll_timeout",)),
    ("DRY_RUN", ("dry_run",)),
    ("ORCHESTRATOR_WAIT", ("wait",)),
    ("TRIGGER_MODE", ("trigger_mode",)),
    ("PREPARE_DEADLINE", ("prepare_deadline",)),
    ("RETRAIN_DEADLINE", ("retrain_deadline",)),
    ("CANCEL_AT_DEADLINE", ("cancel_at_deadline",)),
    ("LOCK_LEASE", ("lock_lease",)),
    ("LOCK_WAIT", ("lock_wait",)),
    ("ORCHESTRATOR_CRASH_AT", ("crash_at",)),
    ("PREPARE_DATASET_REPO", ("prepare",)),
    ("HF_ENDPOINT", ("hub", "endpoint")),
    ("HUGGING_FACE_HUB_TOKEN", ("hub", "token")),  # legacy name; HF_TOKEN below wins
    ("HF_TOKEN", ("hub", "token")),
    ("HF_TOKEN_ALLOWED_HOSTS", ("hub", "token_hosts")),
    ("HTTP_TIMEOUT", ("hub", "timeout")),
    ("HTTP_RETRIES", ("hub", "retries")),
    ("HTTP_BACKOFF", ("hub", "backoff")),
    ("NOTIFY_URLS", ("notify", "urls")),
    ("NOTIFY_EVENTS", ("notify", "events")),
    ("WEBHOOK_SECRET", ("serve", "webhook_secret")),
    ("STATUS_TOKEN", ("serve", "status_token")),
    ("WEBHOOK_FORWARD_REPO", ("serve", "forward_to")),
)


def label_variables(name: str) -> dict[str, str]:
    """The variables that configure label ``name``: field -> variable name (seed names for seed labels)."""
    upper = name.upper()
    alias = SEED_ALIASES.get(name, upper)
    return {
        "threshold": f"THRESHOLD_{upper}",
        "retrain": f"RETRAIN_{alias}_REPO",
        "metadata": f"HF_HUB_METADATA_{alias}",
        "sample_ratio": f"SAMPLE_RATIO_{upper}",
        "result": f"RETRAIN_RESULT_{alias}",
        "model_repo": f"HF_MODEL_REPO_{upper}",
    }
