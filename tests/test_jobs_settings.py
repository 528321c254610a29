"""The reference jobs' own settings: read from their TOML section, unknown to the core, and still read
from the places earlier versions read them, with a warning."""

from __future__ import annotations

import pytest
from conftest import run_cli

from orchestrator.config.loader import load_settings
from orchestrator.errors import ConfigError
from orchestrator.jobs.settings import JobLabel, load_job_settings

CORE = """
[orchestrator]
database_url = "sqlite:///app.db"

[prepare]
target = { command = ["true"] }
"""

OLD_LAYOUT = CORE + """
[jobs]
min_delta = 0.01

[labels.department]
threshold = 10
dataset = "hub/datasets/department"
model = "hub/models/department"
base_dataset = "base.parquet"
inference_space = "owner/inference"
retrain = { command = ["true"] }
"""

NEW_LAYOUT = CORE + """
[jobs]
min_delta = 0.01

[jobs.labels.department]
model = "hub/models/department"
base_dataset = "base.parquet"
inference_space = "owner/inference"

[labels.department]
threshold = 10
dataset = "hub/datasets/department"
retrain = { command = ["true"] }
"""


def test_the_core_settings_know_nothing_of_the_jobs(tmp_path):
    config = tmp_path / "o.toml"
    config.write_text(NEW_LAYOUT)
    core = load_settings({}, config_file=config, env_file=None)
    assert not hasattr(core, "jobs") and not hasattr(core.labels[0], "model")
    assert core.deprecations == ()


@pytest.mark.parametrize("layout", [OLD_LAYOUT, NEW_LAYOUT], ids=["old places", "new places"])
def test_the_jobs_read_their_keys_from_either_place(tmp_path, layout):
    config = tmp_path / "o.toml"
    config.write_text(layout)
    settings = load_job_settings({}, config_file=config, env_file=None)
    label = settings.label("department")
    assert isinstance(label, JobLabel)
    assert label.model.path == str(tmp_path / "hub/models/department")  # relative to the TOML file
    assert label.base_dataset == str(tmp_path / "base.parquet")
    assert label.inference_space == "owner/inference"
    assert settings.jobs.min_delta == 0.01
    moved = [line for line in settings.deprecations if "labels.department." in line]
    if layout is OLD_LAYOUT:
        assert len(moved) == 3
        assert "o.toml: labels.department.model is a setting of the reference jobs: move it to [jobs.labels.department]" in moved[0]
    else:
        assert moved == []


def test_the_new_place_wins(tmp_path):
    config = tmp_path / "o.toml"
    config.write_text(OLD_LAYOUT + '\n[jobs.labels.department]\ninference_space = "owner/newer"\n')
    assert load_job_settings({}, config_file=config, env_file=None).label("department").inference_space == "owner/newer"


def test_a_bad_job_setting_is_named_by_its_key(tmp_path):
    config = tmp_path / "o.toml"
    config.write_text(NEW_LAYOUT.replace("min_delta = 0.01", "min_delta = 2").replace('"owner/inference"', '"not a repo"'))
    with pytest.raises(ConfigError) as caught:
        load_job_settings({}, config_file=config, env_file=None)
    assert "o.toml: jobs.min_delta" in caught.value.message
    config.write_text(NEW_LAYOUT.replace('"owner/inference"', '"not a repo"'))
    with pytest.raises(ConfigError) as caught:
        load_job_settings({}, config_file=config, env_file=None)
    assert "o.toml: jobs.labels.department.inference_space" in caught.value.message


def test_every_command_says_once_where_a_moved_key_goes(tmp_path):
    (tmp_path / "o.toml").write_text(OLD_LAYOUT)
    done = run_cli({}, "status", "--config", "o.toml", cwd=tmp_path)
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 3, done.stderr
    assert all("[jobs.labels.department]" in line for line in warnings)


def test_moved_keys_given_as_table_defaults_or_under_orchestrator_are_still_read(tmp_path):
    config = tmp_path / "o.toml"
    config.write_text(CORE + """
[tables]
predicted_in_complaints = "pred_col"
model = "m/models"

[orchestrator.labels.department]
threshold = 10
dataset = "hub/datasets/department"
inference_space = "owner/inference"
retrain = { command = ["true"] }

[orchestrator.jobs]
min_delta = 0.01
""")
    settings = load_job_settings({}, config_file=config, env_file=None)
    label = settings.label("department")
    assert label.predicted_in_complaints == "pred_col" and label.model.path == str(tmp_path / "m/models")
    assert label.inference_space == "owner/inference" and settings.jobs.min_delta == 0.01
    assert any("o.toml: tables.model is a setting of the reference jobs" in line for line in settings.deprecations)


LABEL = """
[labels.department]
threshold = 10
dataset = "hub/datasets/department"
retrain = { command = ["true"] }
"""


@pytest.mark.parametrize("text, words", [
    ("jobs = 5\n" + CORE + LABEL, "jobs must be a table"),
    (CORE + "[jobs]\nmin_deltaa = 0.1\n" + LABEL, "o.toml: jobs.min_deltaa: Extra inputs are not permitted"),
    (CORE + '[jobs.labels.departmnet]\nmodel = "m"\n' + LABEL, "jobs.labels.departmnet: there is no label 'departmnet'"),
])
def test_every_command_refuses_a_broken_jobs_section(tmp_path, text, words):
    (tmp_path / "o.toml").write_text(text)
    for command in ("run", "status", "prepare"):
        done = run_cli({}, command, "--config", "o.toml", cwd=tmp_path)
        assert done.returncode == 2, done.stderr
        assert words in done.stderr and "Traceback" not in done.stderr


def test_a_bad_value_in_the_old_place_is_named_where_it_was_written(tmp_path):
    config = tmp_path / "o.toml"
    config.write_text(OLD_LAYOUT.replace('"owner/inference"', '"not a repo"').replace("min_delta = 0.01", "min_delta = 2"))
    with pytest.raises(ConfigError) as caught:
        load_job_settings({}, config_file=config, env_file=None)
    assert "o.toml: labels.department.inference_space" in caught.value.message
    assert "o.toml: jobs.min_delta" in caught.value.message  # both problems, in one message
