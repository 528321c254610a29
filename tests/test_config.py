"""Settings: the seed's variables, the TOML file, precedence, and one clear error per bad value."""

from __future__ import annotations

import pytest

from orchestrator import redact
from orchestrator.config.loader import load_settings
from orchestrator.config.sources import HubFileSource, LocalFileSource
from orchestrator.config.targets import CommandTarget, SpaceTarget
from orchestrator.errors import ConfigError

SEED = {
    "HF_TOKEN": "hf_seed-token-CCCCCCCCCCCC",
    "PREPARE_DATASET_REPO": "owner/project_prepare_dataset",
    "RETRAIN_DEPT_REPO": "owner/project_retrain_dept",
    "RETRAIN_URGENCY_REPO": "owner/project_retrain_urgency",
    "HF_HUB_METADATA_DEPT": "https://huggingface.co/datasets/owner/project_department/resolve/main/dataset_metadata.json",
    "HF_HUB_METADATA_URGENCY": "https://huggingface.co/datasets/owner/project_urgency/resolve/main/dataset_metadata.json",
    "DATABASE_URL": "postgresql+psycopg2://demo_user:" + "demo_pass" + "@db.example.com:5432/project_db",
    "THRESHOLD_DEPARTMENT": "40",
    "THRESHOLD_URGENCY": "30",
    "POLL_INTERVAL": "60",
    "POLL_TIMEOUT": "1800",
    "DRY_RUN": "false",
}


def load(env=None, **kwargs):
    return load_settings({**SEED, **(env or {})}, env_file=None, **kwargs)


def error_for(env=None, **kwargs) -> str:
    with pytest.raises(ConfigError) as caught:
        load(env, **kwargs)
    assert caught.value.exit_code == 2
    return str(caught.value)


def test_seed_example_settings_parse_with_their_meaning():
    settings = load()
    assert settings.label_names == ("department", "urgency")
    dept, urgency = settings.labels
    assert dept.threshold == 40 and urgency.threshold == 30
    assert dept.retrain == SpaceTarget(space="owner/project_retrain_dept")
    assert settings.prepare == SpaceTarget(space="owner/project_prepare_dataset")
    assert isinstance(urgency.metadata, HubFileSource) and urgency.metadata.url.endswith("project_urgency/resolve/main/dataset_metadata.json")
    assert (dept.predicted_column, dept.correct_column) == ("model_predicted_department", "correct_department")
    assert settings.poll_interval == 60 and settings.poll_timeout == 1800 and settings.dry_run is False
    assert settings.hub.endpoint == "https://huggingface.co"
    assert settings.database_url.get_secret_value().startswith("postgresql+psycopg2://")


def test_secrets_are_registered_for_redaction():
    load()
    assert redact.redact("token hf_seed-token-CCCCCCCCCCCC pw demo_pass") == "token *** pw ***"


@pytest.mark.parametrize(
    ("env", "variable", "fragment"),
    [
        ({"THRESHOLD_DEPARTMENT": "4.5"}, "THRESHOLD_DEPARTMENT", "whole number"),
        ({"THRESHOLD_URGENCY": "40%"}, "THRESHOLD_URGENCY", "whole number"),
        ({"THRESHOLD_URGENCY": "0"}, "THRESHOLD_URGENCY", "greater than or equal to 1"),
        ({"RETRAIN_DEPT_REPO": ""}, "RETRAIN_DEPT_REPO", "required"),
        ({"PREPARE_DATASET_REPO": "not a repo"}, "PREPARE_DATASET_REPO", "owner/name"),
        ({"RETRAIN_URGENCY_REPO": "owner/../etc"}, "RETRAIN_URGENCY_REPO", "owner/name"),
        ({"RETRAIN_URGENCY_REPO": "owner/a--b"}, "RETRAIN_URGENCY_REPO", "not allowed"),
        ({"DATABASE_URL": ""}, "DATABASE_URL", "required"),
        ({"POLL_INTERVAL": "-1"}, "POLL_INTERVAL", "greater than 0"),
        ({"DRY_RUN": "perhaps"}, "DRY_RUN", "true or false"),
        ({"HF_ENDPOINT": "ftp://hub"}, "HF_ENDPOINT", "http(s) URL"),
        ({"HF_HUB_METADATA_DEPT": "https://evil.example.com/x.json"}, "HF_HUB_METADATA_DEPT", "evil.example.com"),
    ],
)
def test_bad_values_name_their_variable(env, variable, fragment):
    message = error_for(env)
    assert variable in message and fragment in message


def test_error_does_not_echo_secrets():
    message = error_for({"THRESHOLD_URGENCY": "x", "DATABASE_URL": "postgresql://u:" + "hunter2pass" + "@h/db"})
    assert "hunter2pass" not in message


def test_allowlisted_metadata_host_is_accepted():
    env = {"HF_HUB_METADATA_DEPT": "https://mirror.example.com/d.json", "HF_TOKEN_ALLOWED_HOSTS": "mirror.example.com"}
    assert load(env).labels[0].metadata.url == "https://mirror.example.com/d.json"


def test_env_file_is_read_and_the_environment_wins(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("THRESHOLD_DEPARTMENT=7\nTHRESHOLD_URGENCY=8\n")
    base = {k: v for k, v in SEED.items() if k != "THRESHOLD_DEPARTMENT"}
    settings = load_settings({**base, "THRESHOLD_URGENCY": "9"}, env_file=env_file)
    assert [label.threshold for label in settings.labels] == [7, 9]


TOML = """
[orchestrator]
database_url = "sqlite:///app.db"
poll_interval = 5
poll_timeout = 60

[prepare]
target = "space:owner/prepare"

[tables]
table = "feedback"
reviewed_column = "is_reviewed"

[labels.department]
threshold = 10
metadata = "data/department"
retrain = { command = ["python", "-m", "orchestrator", "retrain", "--label", "{label}"], timeout = 120 }

[labels.topic]
threshold = 5
sample_ratio = 1.0
metadata = { repo = "owner/topic" }
retrain = "owner/retrain_topic"
predicted_column = "pred_topic"
correct_column = "gold_topic"
"""


def test_toml_defines_any_labels_with_their_own_targets_and_names(tmp_path):
    config = tmp_path / "orchestrator.toml"
    config.write_text(TOML)
    env = {"HF_ENDPOINT": "http://127.0.0.1:9", "THRESHOLD_TOPIC": "6"}
    settings = load_settings(env, config_file=config, env_file=None)
    assert settings.label_names == ("department", "topic")
    dept, topic = settings.labels
    assert isinstance(dept.retrain, CommandTarget) and dept.retrain.timeout == 120
    assert dept.metadata == LocalFileSource(path=str(tmp_path / "data/department/dataset_metadata.json"))
    assert (dept.table, dept.reviewed_column) == ("feedback", "is_reviewed")
    assert topic.threshold == 6  # the environment wins over the file
    assert topic.metadata.url == "http://127.0.0.1:9/datasets/owner/topic/resolve/main/dataset_metadata.json"
    assert (topic.predicted_column, topic.correct_column, topic.sample_ratio) == ("pred_topic", "gold_topic", 1.0)
    assert settings.database_url.get_secret_value() == f"sqlite:///{tmp_path / 'app.db'}"
    assert settings.prepare == SpaceTarget(space="owner/prepare")


@pytest.mark.parametrize(
    ("snippet", "fragment"),
    [
        ('[labels."Bad-Label"]\nthreshold = 1\nmetadata = "x"\nretrain = "o/r"\n', "Bad-Label"),
        ('[labels.ok]\nthreshold = 1\nmetadata = "x"\nretrain = "o/r"\ntable = "users; drop table x"\n', "safe SQL identifier"),
        ('[labels.ok]\nthreshold = 1\nmetadata = "x"\n', "labels.ok.retrain"),
        ('[labels.ok]\nthreshold = 1\nmetadata = "x"\nretrain = "o/r"\ncorrect_column = "1abc"\n', "safe SQL identifier"),
    ],
)
def test_toml_errors_name_the_key(tmp_path, snippet, fragment):
    config = tmp_path / "c.toml"
    config.write_text('[orchestrator]\ndatabase_url = "sqlite://"\n[prepare]\ntarget = "o/p"\n' + snippet)
    with pytest.raises(ConfigError) as caught:
        load_settings({}, config_file=config, env_file=None)
    assert fragment in str(caught.value)


def test_broken_toml_and_missing_file_are_config_errors(tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text("[labels\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings({}, config_file=broken, env_file=None)
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings({}, config_file=tmp_path / "nope.toml", env_file=None)


def test_cli_override_wins():
    assert load({"DRY_RUN": "false"}, overrides={"dry_run": True}).dry_run is True
