"""Settings: the seed's variables, the TOML file, precedence, and one clear error per bad value."""

from __future__ import annotations

import pytest
from conftest import run_cli

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


HEAD = '[orchestrator]\ndatabase_url = "sqlite://"\n[prepare]\ntarget = "o/p"\n[labels.x]\nthreshold = 1\n'


def toml_problems(tmp_path, text: str) -> list[str]:
    """The lines of the configuration error ``text`` (after HEAD) gives, the file's name left out."""
    config = tmp_path / "c.toml"
    config.write_text(HEAD + text)
    with pytest.raises(ConfigError) as caught:
        load_settings({}, config_file=config, env_file=None)
    assert caught.value.exit_code == 2
    message = caught.value.message.removeprefix("invalid configuration: ")
    return [line.strip().removeprefix("- ").removeprefix("c.toml: ") for line in message.strip().splitlines()]


@pytest.mark.parametrize(("snippet", "problems"), [
    # every kind of target: an HF Job, a GitHub workflow, a Space, a command; as a label's prepare target too
    ('metadata = "x"\nretrain = { job = "python:3.12", command = ["x"], flavour = "a10g-small" }\n',
     ["labels.x.retrain: unknown key 'flavour' (did you mean 'flavor'?)"]),
    ('metadata = "x"\nretrain = { github = "o/r", workflw = "x.yml" }\n',
     ["labels.x.retrain: 'workflow' is required", "labels.x.retrain: unknown key 'workflw' (did you mean 'workflow'?)"]),
    ('metadata = "x"\nretrain = { space = "o/r", spcae = "o/s" }\n', ["labels.x.retrain: unknown key 'spcae' (did you mean 'space'?)"]),
    ('metadata = "x"\nretrain = { command = ["x"], timout = 3 }\n', ["labels.x.retrain: unknown key 'timout' (did you mean 'timeout'?)"]),
    ('metadata = "x"\nretrain = "o/r"\nprepare = { command = ["x"], cwdd = "." }\n',
     ["labels.x.prepare: unknown key 'cwdd' (did you mean 'cwd'?)"]),
    # no key says which kind of target: the misspelt one is named, or the keys that would say it
    ('metadata = "x"\nretrain = { githb = "o/r", workflow = "x.yml" }\n', ["labels.x.retrain: unknown key 'githb' (did you mean 'github'?)"]),
    ('metadata = "x"\nretrain = { workflow = "x.yml" }\n',
     ["labels.x.retrain: the table needs one of the keys 'space', 'job', 'github', 'command', which says what it is"]),
    # every kind of source and location: a Hub repo (metadata, result), a local folder, a dataset repo
    ('retrain = "o/r"\nmetadata = { repo = "o/d", revison = "v1" }\n', ["labels.x.metadata: unknown key 'revison' (did you mean 'revision'?)"]),
    ('metadata = "x"\nretrain = "o/r"\nresult = { repo = "o/m", paht = "r.json" }\n',
     ["labels.x.result: unknown key 'paht' (did you mean 'path'?)"]),
    ('retrain = "o/r"\nmetadata = { path = "/tmp", pth = "x" }\n', ["labels.x.metadata: unknown key 'pth' (did you mean 'path'?)"]),
    ('retrain = "o/r"\nmetadata = { rpo = "o/d" }\n', ["labels.x.metadata: unknown key 'rpo' (did you mean 'repo'?)"]),
    ('metadata = "x"\nretrain = "o/r"\ndataset = { repo = "o/d", rpo = "o/e" }\n', ["labels.x.dataset: unknown key 'rpo' (did you mean 'repo'?)"]),
    ('retrain = "o/r"\ndataset = { rpo = "o/d" }\n',  # no metadata: it would have been the dataset's
     ["labels.x.metadata (or HF_HUB_METADATA_X): is required but not set", "labels.x.dataset: unknown key 'rpo' (did you mean 'repo'?)"]),
    # the label itself, [notify], [serve], [hub] and the globals
    ('metadata = "x"\nretrain = "o/r"\nthreshhold = 2\n', ["labels.x: unknown key 'threshhold' (did you mean 'threshold'?)"]),
    ('metadata = "x"\nretrain = "o/r"\n[notify]\nevent = ["deployed"]\n', ["notify: unknown key 'event' (did you mean 'events'?)"]),
    ('metadata = "x"\nretrain = "o/r"\n[serve]\nwebhook_secet = "s3cr3t-value"\n',
     ["serve: unknown key 'webhook_secet' (did you mean 'webhook_secret'?)"]),
    ('metadata = "x"\nretrain = "o/r"\n[hub]\nendpont = "https://h"\n', ["hub: unknown key 'endpont' (did you mean 'endpoint'?)"]),
    ('metadata = "x"\nretrain = "o/r"\n[notfy]\nurls = "x"\n', ["unknown key 'notfy' (did you mean 'notify'?)"]),
    ('metadata = "x"\nretrain = "o/r"\nprepare = { space = "o/p", xyz = 1 }\n', ["labels.x.prepare: unknown key 'xyz'"]),
])
def test_a_key_unknown_or_missing_inside_a_table_is_named(tmp_path, snippet, problems):
    assert toml_problems(tmp_path, snippet) == problems


TRIGGER = 'metadata = "x"\nretrain = "o/r"\n'


@pytest.mark.parametrize(("snippet", "problems"), [
    ("error_rate = 1.5\n", ["labels.x.error_rate: must be a share strictly between 0 and 1, e.g. 0.08 for 8%, got 1.5"]),
    ("error_rate = 0\n", ["labels.x.error_rate: must be a share strictly between 0 and 1, e.g. 0.08 for 8%, got 0"]),
    ('error_rate = "8%"\n', ["labels.x.error_rate: must be a share strictly between 0 and 1, e.g. 0.08 for 8%, got '8%'"]),
    ("error_rate = 0.08\nmin_reviewed = 0\n", ["labels.x.min_reviewed: must be a whole number of reviewed rows, at least 1, got 0"]),
    ("error_rate = 0.08\nmin_reviewed = 2.5\n",
     ["labels.x.min_reviewed: must be a whole number of reviewed rows, at least 1, got 2.5"]),
    ("min_reviewed = 50\n", ["labels.x.min_reviewed: is the error_rate trigger's: set error_rate too, or remove min_reviewed"]),
    ('max_age = "0d"\n', ["labels.x.max_age: must be a positive duration, got '0d'"]),
    ("max_age = -3\n", ["labels.x.max_age: must be a positive duration, got -3"]),
    ('max_age = "a month"\n',
     ["labels.x.max_age: expected a duration such as '30d', '12h', '90m' or '3600s' (a number with s, m, h or d), got 'a month'"]),
    ("error_rat = 0.08\n", ["labels.x: unknown key 'error_rat' (did you mean 'error_rate'?)"]),
    ("error_rate = 0.08\nmin_reviwed = 100\n", ["labels.x: unknown key 'min_reviwed' (did you mean 'min_reviewed'?)"]),
    ('max_ag = "30d"\n', ["labels.x: unknown key 'max_ag' (did you mean 'max_age'?)"]),
])
def test_a_trigger_out_of_range_or_misspelt_is_named(tmp_path, snippet, problems):
    assert toml_problems(tmp_path, TRIGGER + snippet) == problems


@pytest.mark.parametrize(("snippet", "expected"), [
    ("", (None, None, None, ("count",))),
    ("error_rate = 0.08\n", (0.08, 200, None, ("count", "error_rate"))),  # min_reviewed's default
    ('error_rate = "0.1"\nmin_reviewed = 50\nmax_age = "30d"\n', (0.1, 50, 30 * 86400.0, ("count", "error_rate", "max_age"))),
    ('max_age = "12h"\n', (None, None, 12 * 3600.0, ("count", "max_age"))),
    ('max_age = "90m"\n', (None, None, 5400.0, ("count", "max_age"))),
    ("max_age = 3600\n", (None, None, 3600.0, ("count", "max_age"))),  # a number: seconds
    ('max_age = "45s"\n', (None, None, 45.0, ("count", "max_age"))),
])
def test_triggers_are_read_with_their_defaults(tmp_path, snippet, expected):
    config = tmp_path / "c.toml"
    config.write_text(HEAD + TRIGGER + snippet)
    (label,) = load_settings({}, config_file=config, env_file=None).labels
    assert (label.error_rate, label.min_reviewed, label.max_age, label.triggers) == expected


def test_a_misspelt_global_names_its_section_and_every_problem_is_reported_at_once(tmp_path):
    text = ('metadata = "x"\nretrain = { job = "img", command = ["x"], flavour = "a10g-small" }\n'
            'prepare = { github = "o/r", workflw = "x.yml" }\n')
    config = tmp_path / "c.toml"
    config.write_text(HEAD.replace("[orchestrator]\n", "[orchestrator]\npoll_intervall = 3\n") + text)
    with pytest.raises(ConfigError) as caught:
        load_settings({}, config_file=config, env_file=None)
    assert caught.value.message == (
        "invalid configuration: "
        "\n  - c.toml: labels.x.retrain: unknown key 'flavour' (did you mean 'flavor'?)"
        "\n  - c.toml: labels.x.prepare: 'workflow' is required"
        "\n  - c.toml: labels.x.prepare: unknown key 'workflw' (did you mean 'workflow'?)"
        "\n  - c.toml: orchestrator: unknown key 'poll_intervall' (did you mean 'poll_interval'?)"
    )


def test_the_command_line_names_a_misspelt_key_in_a_target_table_and_exits_2(tmp_path):
    config = tmp_path / "file.toml"
    config.write_text(HEAD + 'metadata = "x"\nretrain = { job = "python:3.12", command = ["x"], flavour = "a10g-small" }\n')
    done = run_cli({}, "run", "--dry-run", "--config", str(config))
    assert done.returncode == 2, done.stderr
    assert "file.toml: labels.x.retrain: unknown key 'flavour' (did you mean 'flavor'?)" in done.stderr
    assert "Traceback" not in done.stderr and "Extra inputs" not in done.stderr


GITHUB_REPOS_ACCEPTED = ["octo-org/.github", "Owner-1/my.repo_name-2", "a" * 39 + "/r", "o/" + "r" * 100]
GITHUB_REPOS_REFUSED = [
    ("noslash", ""),
    ("o/r/x", ""),
    ("-octo/r", "an owner is up to 39 letters, digits and single hyphens, neither first nor last"),
    ("octo-/r", "an owner is up to 39 letters, digits and single hyphens, neither first nor last"),
    ("oc--to/r", "an owner is up to 39 letters, digits and single hyphens, neither first nor last"),
    ("octo_org/r", "an owner is up to 39 letters, digits and single hyphens, neither first nor last"),
    ("a" * 40 + "/r", "an owner is up to 39 letters, digits and single hyphens, neither first nor last"),
    ("o/" + "r" * 101, "a repository name is up to 100 letters, digits, '.', '-' and '_'"),
    ("o/my repo", "a repository name is up to 100 letters, digits, '.', '-' and '_'"),
    ("o/..", "a repository name is up to 100 letters, digits, '.', '-' and '_'"),
    ("o/models.git", "write the repository's name without '.git'"),
]


@pytest.mark.parametrize("repo", GITHUB_REPOS_ACCEPTED)
def test_a_github_repository_is_what_github_allows(tmp_path, repo):
    config = tmp_path / "c.toml"
    config.write_text(HEAD + f'metadata = "x"\nretrain = {{ github = "{repo}", workflow = "retrain.yml" }}\n')
    assert load_settings({}, config_file=config, env_file=None).labels[0].retrain.github == repo
    assert load({"WEBHOOK_FORWARD_REPO": repo}).serve.forward_to == repo


@pytest.mark.parametrize(("repo", "why"), GITHUB_REPOS_REFUSED)
def test_a_workflow_target_names_a_bad_github_repository_as_one(tmp_path, repo, why):
    (problem,) = toml_problems(tmp_path, f'metadata = "x"\nretrain = {{ github = "{repo}", workflow = "retrain.yml" }}\n')
    assert problem == f"labels.x.retrain: {repo!r} is not a GitHub repository of the form owner/name" + (f": {why}" if why else "")


@pytest.mark.parametrize(("repo", "why"), GITHUB_REPOS_REFUSED)
def test_the_forwarding_repository_is_named_as_a_github_repository(repo, why):
    message = error_for({"WEBHOOK_FORWARD_REPO": repo})
    assert f"WEBHOOK_FORWARD_REPO: {repo!r} is not a GitHub repository of the form owner/name" in message
    assert why in message and "Hub repo id" not in message


def test_broken_toml_and_missing_file_are_config_errors(tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text("[labels\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings({}, config_file=broken, env_file=None)
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings({}, config_file=tmp_path / "nope.toml", env_file=None)


def test_cli_override_wins():
    assert load({"DRY_RUN": "false"}, overrides={"dry_run": True}).dry_run is True
