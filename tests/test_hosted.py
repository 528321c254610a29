"""What a Hub-hosted run is handed (orchestrator/hosted/spec.py): its command, its environment and its secrets,
and what a stock image cannot honour, named as warnings."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import TOKEN
from test_launch_hfjobs import write_config

from orchestrator.config.loader import load_settings
from orchestrator.errors import ConfigError
from orchestrator.hosted.spec import DEFAULT_INSTALL, Hosting, command, concerns, describe, job_request

PG = "postgresql+psycopg://postgres:pw-hosted-1@127.0.0.1:5432/test"


def settings_for(config: Path | None, **environ: str):
    return load_settings({"HF_TOKEN": TOKEN, "HF_ENDPOINT": "http://127.0.0.1:9", **environ}, config_file=config,
                         env_file=None)


def test_the_job_gets_the_config_text_and_known_variables_with_every_secret_as_a_secret(tmp_path):
    config = write_config(tmp_path, "postgresql+psycopg://postgres@127.0.0.1:5432/test")  # no password in the file
    settings = settings_for(config, STATE_DATABASE_URL=PG, THRESHOLD_DEPARTMENT="12", POLL_TIMEOUT="99",
                            DRY_RUN="true", UNRELATED="x", NOTIFY_URLS="json://127.0.0.1:9/hook")
    request = job_request(settings, Hosting(), {"orchestrator-schedule": "p"})
    assert request.command == ("bash", "-c", f"pip install -q {DEFAULT_INSTALL} && orchestrator run --no-wait")
    assert request.env["THRESHOLD_DEPARTMENT"] == "12" and request.env["POLL_TIMEOUT"] == "99"
    assert request.env["HF_ENDPOINT"] == "http://127.0.0.1:9"
    assert "UNRELATED" not in request.env and "DRY_RUN" not in request.env  # only what the orchestrator reads
    assert request.env["ORCHESTRATOR_CONFIG_TOML"] == config.read_text()  # no secret in that file: plain env
    assert request.secrets == {"HF_TOKEN": TOKEN, "STATE_DATABASE_URL": PG, "NOTIFY_URLS": "json://127.0.0.1:9/hook"}
    shown = "\n".join(describe(request))
    assert "pw-hosted-1" not in shown and TOKEN not in shown and "STATE_DATABASE_URL=***" in shown
    assert request.labels == {"orchestrator-schedule": "p"}


def test_a_config_file_holding_a_secret_goes_in_as_a_secret_and_an_image_with_the_package_runs_it_directly(tmp_path):
    config = write_config(tmp_path, PG)  # database_url, with its password, is written in the file
    request = job_request(settings_for(config), Hosting(install=""), {}, "--webhook-payload-env", "WEBHOOK_PAYLOAD")
    assert "ORCHESTRATOR_CONFIG_TOML" in request.secrets and "ORCHESTRATOR_CONFIG_TOML" not in request.env
    assert request.command == ("orchestrator", "run", "--no-wait", "--webhook-payload-env", "WEBHOOK_PAYLOAD")
    assert command(Hosting(install="pkg==1 ; rm -rf /"))[2].startswith("pip install -q 'pkg==1 ; rm -rf /' && ")


def test_the_job_is_given_the_text_it_was_itself_handed(tmp_path):
    """A hosted run that schedules (or a run of such a job) hands on the TOML it read from the variable."""
    text = write_config(tmp_path, PG).read_text()
    settings = settings_for(None, ORCHESTRATOR_CONFIG_TOML=text)
    assert [label.name for label in settings.labels] == ["department", "urgency"]  # the loader read the text
    assert job_request(settings, Hosting(), {}).secrets["ORCHESTRATOR_CONFIG_TOML"] == text


def test_settings_a_stock_image_cannot_honour_are_named_and_a_missing_token_refused(tmp_path):
    config = tmp_path / "local.toml"
    config.write_text(
        '[orchestrator]\ndatabase_url = "sqlite:///app.db"\n[prepare]\ntarget = { command = ["true"] }\n'
        '[labels.department]\nthreshold = 5\ndataset = "data/department"\nretrain = { command = ["true"] }\n'
    )
    settings = load_settings({"STATE_DATABASE_URL": "sqlite:///state.db"}, config_file=config, env_file=None)
    message = "\n".join(concerns(settings))
    assert "app database (DATABASE_URL) is SQLite" in message
    assert "state database (STATE_DATABASE_URL) is SQLite: a job's disk is gone" in message
    assert "label 'department': metadata, dataset, prepare (a local command), retrain (a local command)" in message
    with pytest.raises(ConfigError, match="HF_TOKEN is not set") as caught:
        job_request(settings, Hosting(), {})
    assert caught.value.exit_code == 2


def test_a_broken_config_text_is_a_configuration_error_naming_the_variable():
    with pytest.raises(ConfigError, match="ORCHESTRATOR_CONFIG_TOML is not valid TOML"):
        settings_for(None, ORCHESTRATOR_CONFIG_TOML="[labels.department\nthreshold = 1")


def test_a_password_in_a_database_urls_query_makes_the_config_text_a_secret(tmp_path):
    config = write_config(tmp_path, "postgresql+psycopg://app@127.0.0.1:5432/app?password=pw-in-query-1")
    request = job_request(settings_for(config), Hosting(), {})
    assert "ORCHESTRATOR_CONFIG_TOML" in request.secrets
    assert "pw-in-query-1" not in repr(request.env) and "pw-in-query-1" not in "\n".join(describe(request))


def test_serve_settings_are_not_handed_to_a_hosted_job(tmp_path):
    config = write_config(tmp_path, "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    request = job_request(settings_for(config, WEBHOOK_SECRET="pw-hook-2", STATUS_TOKEN="pw-status-3"), Hosting(), {})
    assert not {"WEBHOOK_SECRET", "STATUS_TOKEN"} & (set(request.env) | set(request.secrets))

