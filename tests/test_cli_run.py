"""End to end: ``orchestrator run`` as a real subprocess, with only the seed's variables, against the Hub
stand-in (real HTTP, real huggingface_hub client) and real databases."""

from __future__ import annotations

import json
import sys
import time

import pytest
from conftest import CHECKOUT, REPO, TOKEN, run_cli, seed_env, seed_feedback
from support.hubstub import HubStub


def publish_both(version: str = "2", samples: int = 500):
    def publish(hub: HubStub) -> None:
        hub.put_metadata("owner/dept_dataset", version_tag=f"v{version}", num_samples=samples)
        hub.put_metadata("owner/urgency_dataset", version_tag=f"u{version}", num_samples=samples)

    return publish


def posts(stub: HubStub) -> list[str]:
    return [r.path for r in stub.requests if r.method == "POST" and r.status == 200]


def test_two_labels_over_threshold_prepare_once_retrain_each(stub, db_url):
    seed_feedback(db_url, {"department": 25, "urgency": 40}, noise=12)
    stub.on_restart("owner/prepare", publish_both(), delay=0.5)
    done = run_cli(seed_env(stub, db_url), "run")
    assert done.returncode == 0, done.stderr
    assert stub.restarts("owner/prepare") == 1
    assert stub.restarts("owner/retrain_dept") == 1
    assert stub.restarts("owner/retrain_urgency") == 1
    # the prepare restart happens before any retrain, and each label's count is in the log
    assert posts(stub)[0] == "/api/spaces/owner/prepare/restart"
    assert "[department] corrections=25 sampled_correct=12 dataset_len=37 threshold=30" in done.stderr
    assert "[urgency] corrections=40 sampled_correct=20 dataset_len=60 threshold=30" in done.stderr


def test_only_labels_over_threshold_are_prepared_and_retrained(stub, sqlite_url):
    seed_feedback(sqlite_url, {"department": 5, "urgency": 40})
    stub.on_restart("owner/prepare", publish_both(), delay=0.2)
    done = run_cli(seed_env(stub, sqlite_url), "run", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    outcomes = {label["label"]: label["outcome"] for label in summary["labels"]}
    assert outcomes == {"department": "skipped", "urgency": "retrain triggered"}
    assert stub.restarts("owner/retrain_dept") == 0  # its dataset changed too, but it did not fire
    assert stub.restarts("owner/retrain_urgency") == 1


def test_dataset_published_before_the_restart_answers_is_still_seen(stub, sqlite_url):
    """The seed read the old version after the restart and missed datasets that arrived at once."""
    seed_feedback(sqlite_url, {"department": 40, "urgency": 40})
    stub.on_restart("owner/prepare", publish_both(), delay=0)  # published before the restart's reply
    done = run_cli(seed_env(stub, sqlite_url, POLL_TIMEOUT="3"), "run")
    assert done.returncode == 0, done.stderr
    assert stub.restarts("owner/retrain_dept") == 1
    assert stub.restarts("owner/retrain_urgency") == 1


def test_transient_faults_are_survived_with_the_same_outcome(stub, sqlite_url):
    seed_feedback(sqlite_url, {"department": 40, "urgency": 40})
    stub.on_restart("owner/prepare", publish_both(), delay=0.3)
    stub.fail("GET", r"/datasets/owner/dept_dataset/resolve", 503, times=2)
    stub.fail("POST", r"/api/spaces/owner/prepare/restart", 502)
    stub.fail("POST", r"/api/spaces/owner/prepare/restart", 429, headers={"Retry-After": "1"})
    started = time.monotonic()
    done = run_cli(seed_env(stub, sqlite_url), "run")
    assert done.returncode == 0, done.stderr
    assert stub.restarts("owner/prepare") == 1
    assert stub.restarts("owner/retrain_dept") == 1
    assert stub.restarts("owner/retrain_urgency") == 1
    assert time.monotonic() - started >= 1.0  # Retry-After: 1 was honoured
    statuses = [r.status for r in stub.requests if r.path == "/api/spaces/owner/prepare/restart"]
    assert statuses == [502, 429, 200]
    assert "retrying" in done.stderr


def test_wrong_token_stops_in_seconds_and_triggers_nothing(stub, sqlite_url):
    seed_feedback(sqlite_url, {"department": 40, "urgency": 40})
    wrong = "hf_wrong-token-ZZZZZZZZZZZZ"
    started = time.monotonic()
    done = run_cli(seed_env(stub, sqlite_url, HF_TOKEN=wrong), "run")
    assert done.returncode == 2
    assert time.monotonic() - started < 10
    assert posts(stub) == []
    assert "HF_TOKEN" in done.stderr
    assert wrong not in done.stderr + done.stdout


def test_dry_run_makes_no_post_waits_for_nothing_and_prints_the_plan(stub, sqlite_url):
    seed_feedback(sqlite_url, {"department": 40, "urgency": 3})
    started = time.monotonic()
    done = run_cli(seed_env(stub, sqlite_url, DRY_RUN="true", POLL_TIMEOUT="600"), "run")
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 10
    assert [r for r in stub.requests if r.method != "GET"] == []
    assert "would launch prepare: Space owner/prepare for department" in done.stderr
    assert "would wait for up to 600s for version_tag to change from v1 with num_samples >= 60" in done.stderr
    assert "Space owner/retrain_dept" in done.stderr
    assert "urgency] skip" in done.stderr


def test_dry_run_flag_overrides_the_environment(stub, sqlite_url):
    seed_feedback(sqlite_url, {"department": 40, "urgency": 40})
    done = run_cli(seed_env(stub, sqlite_url, DRY_RUN="false"), "run", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert posts(stub) == []


def test_malformed_metadata_fails_that_label_only(stub, sqlite_url):
    seed_feedback(sqlite_url, {"department": 40, "urgency": 40})

    def publish(hub: HubStub) -> None:
        hub.put_metadata("owner/dept_dataset", version_tag="v2", num_samples=500)
        hub.put_file("owner/urgency_dataset", "dataset_metadata.json", "this is not json {")

    stub.on_restart("owner/prepare", publish, delay=0.3)
    done = run_cli(seed_env(stub, sqlite_url), "run", "--json")
    assert done.returncode == 1
    assert stub.restarts("owner/retrain_dept") == 1
    assert stub.restarts("owner/retrain_urgency") == 0
    summary = json.loads(done.stdout)
    urgency = next(label for label in summary["labels"] if label["label"] == "urgency")
    assert urgency["outcome"] == "failed"
    assert "not valid JSON" in urgency["error"]
    assert "label urgency" in done.stderr


def test_metadata_mistyping_a_required_field_fails_that_label_naming_the_field(stub, sqlite_url):
    seed_feedback(sqlite_url, {"department": 40, "urgency": 40})

    def publish(hub: HubStub) -> None:
        hub.put_metadata("owner/dept_dataset", version_tag="v2", num_samples=500)
        hub.put_file("owner/urgency_dataset", "dataset_metadata.json", json.dumps({"version_tag": "u2", "num_samples": "many"}))

    stub.on_restart("owner/prepare", publish, delay=0.3)
    done = run_cli(seed_env(stub, sqlite_url), "run")
    assert done.returncode == 1
    assert stub.restarts("owner/retrain_dept") == 1
    assert stub.restarts("owner/retrain_urgency") == 0
    assert "is malformed: num_samples Input should be a valid integer" in done.stderr
    assert "label urgency: metadata: label urgency" not in done.stderr  # the label is named once


def test_the_seed_programs_metadata_is_enough_and_optional_fields_only_warn_once(stub, db_url):
    """The seed's program reads version_tag and num_samples; its prepare guide shows no created_at."""
    seed_feedback(db_url, {"department": 40, "urgency": 40})
    for repo in ("owner/dept_dataset", "owner/urgency_dataset"):
        stub.put_file(repo, "dataset_metadata.json", json.dumps({"version_tag": "v1", "num_samples": 10}))

    def publish(hub: HubStub) -> None:
        hub.put_file("owner/dept_dataset", "dataset_metadata.json",
                     json.dumps({"dataset_name": "owner/dept", "version_tag": "v2", "num_samples": 500}))
        hub.put_file("owner/urgency_dataset", "dataset_metadata.json",
                     json.dumps({"version_tag": "u2", "num_samples": 500, "splits": "most"}))

    stub.on_restart("owner/prepare", publish, delay=0.3)
    done = run_cli(seed_env(stub, db_url, POLL_INTERVAL="0.2"), "run")
    assert done.returncode == 0, done.stderr
    assert stub.restarts("owner/retrain_dept") == 1 and stub.restarts("owner/retrain_urgency") == 1
    assert done.stderr.count("metadata v1: dataset_name is missing; splits is missing; created_at is missing") == 2
    assert done.stderr.count("metadata v2: splits is missing; created_at is missing") == 1
    assert done.stderr.count("metadata u2: dataset_name is missing; created_at is missing; splits is not an object") == 1


def test_a_malformed_baseline_waits_for_a_new_document_instead_of_failing(stub, sqlite_url):
    seed_feedback(sqlite_url, {"department": 40, "urgency": 40})
    for repo in ("owner/dept_dataset", "owner/urgency_dataset"):
        stub.put_file(repo, "dataset_metadata.json", json.dumps({"version_tag": "v1", "num_samples": "ten"}))

    def publish(hub: HubStub) -> None:
        hub.put_metadata("owner/dept_dataset", version_tag="v2", num_samples=500)  # urgency's stays as it was

    stub.on_restart("owner/prepare", publish, delay=0.6)
    done = run_cli(seed_env(stub, sqlite_url, POLL_INTERVAL="0.2", POLL_TIMEOUT="2.5"), "run", "--json")
    assert done.returncode == 1  # urgency timed out: its document never changed
    outcomes = {label["label"]: label["outcome"] for label in json.loads(done.stdout)["labels"]}
    assert outcomes == {"department": "retrain triggered", "urgency": "timed out"}
    assert "it counts as no version yet, and only a new document ends the wait" in done.stderr
    assert stub.restarts("owner/retrain_dept") == 1


def test_timeout_is_reported_per_label_and_exits_1(stub, sqlite_url, tmp_path):
    seed_feedback(sqlite_url, {"department": 40, "urgency": 40})

    def publish(hub: HubStub) -> None:  # only one label's dataset ever arrives
        hub.put_metadata("owner/dept_dataset", version_tag="v2", num_samples=500)

    stub.on_restart("owner/prepare", publish, delay=0.2)
    summary_file = tmp_path / "out" / "summary.json"
    done = run_cli(
        seed_env(stub, sqlite_url, POLL_TIMEOUT="1.5", GITHUB_ACTIONS="true"),
        "run",
        "--summary-file",
        str(summary_file),
    )
    assert done.returncode == 1
    assert stub.restarts("owner/retrain_dept") == 1
    assert stub.restarts("owner/retrain_urgency") == 0
    assert "::warning title=label urgency%3A timed out::no new dataset after 2s" in done.stderr
    summary = json.loads(summary_file.read_text())
    assert summary["status"] == "failed"
    assert [label["outcome"] for label in summary["labels"]] == ["retrain triggered", "timed out"]


def test_metadata_url_on_another_host_never_gets_the_token(stub, sqlite_url):
    seed_feedback(sqlite_url, {"department": 40, "urgency": 40})
    with HubStub(tokens={TOKEN: "owner"}) as foreign:
        foreign.put_metadata("owner/urgency_dataset", version_tag="u1", num_samples=10)
        env = seed_env(stub, sqlite_url, HF_HUB_METADATA_URGENCY=foreign.metadata_url("owner/urgency_dataset"))
        done = run_cli(env, "run")
        assert done.returncode == 2
        assert "HF_HUB_METADATA_URGENCY" in done.stderr and foreign.host in done.stderr
        assert foreign.requests == []
        assert posts(stub) == []


def test_github_actions_summary_outputs_and_groups(stub, sqlite_url, tmp_path):
    seed_feedback(sqlite_url, {"department": 40, "urgency": 2})
    stub.on_restart("owner/prepare", publish_both(), delay=0.2)
    summary, outputs = tmp_path / "summary.md", tmp_path / "outputs.txt"
    env = seed_env(
        stub, sqlite_url, GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=str(summary), GITHUB_OUTPUT=str(outputs)
    )
    done = run_cli(env, "run")
    assert done.returncode == 0, done.stderr
    assert "::group::label department" in done.stderr and "::endgroup::" in done.stderr
    markdown = summary.read_text()
    assert "| department | 40 | 60 / 30 | prepare | v1 | v2 | retrain triggered |" in markdown
    assert "| urgency | 2 | 3 / 30 | skip | – | – | skipped |" in markdown
    lines = outputs.read_text().splitlines()
    assert "status=ok" in lines and "retrained=department" in lines and "failed=" in lines
    assert any(line.startswith("summary<<ORCHESTRATOR_") for line in lines)
    # no ::add-mask:: line: it would carry the secret itself into the raw log; every line is redacted instead
    assert "::add-mask::" not in done.stderr and TOKEN not in done.stderr


def test_nothing_to_do_exits_0_without_touching_the_hub(stub, sqlite_url):
    seed_feedback(sqlite_url, {"department": 3, "urgency": 4}, noise=30)
    done = run_cli(seed_env(stub, sqlite_url), "run")
    assert done.returncode == 0, done.stderr
    assert "nothing to do" in done.stderr
    assert stub.requests == []


def test_unreachable_database_fails_fast_and_triggers_nothing(stub):
    url = "postgresql+psycopg2://app:" + "s3cr3t-pw" + "@127.0.0.1:1/app"  # nothing listens on port 1
    started = time.monotonic()
    done = run_cli(seed_env(stub, url), "run")
    assert done.returncode == 3
    assert time.monotonic() - started < 10
    assert "cannot connect to the database" in done.stderr and "DATABASE_URL" in done.stderr
    assert "s3cr3t-pw" not in done.stderr + done.stdout
    assert stub.requests == []


def test_invalid_configuration_exits_2_naming_the_variable(stub, sqlite_url):
    seed_feedback(sqlite_url, {"department": 40, "urgency": 40})
    for overrides, name in [
        ({"THRESHOLD_DEPARTMENT": "40%"}, "THRESHOLD_DEPARTMENT"),
        ({"RETRAIN_URGENCY_REPO": ""}, "RETRAIN_URGENCY_REPO"),
        ({"POLL_TIMEOUT": "soon"}, "POLL_TIMEOUT"),
    ]:
        done = run_cli(seed_env(stub, sqlite_url, **overrides), "run")
        assert done.returncode == 2, overrides
        assert name in done.stderr
    assert stub.requests == []


def test_secrets_never_appear_in_any_output(stub, pg_url, tmp_path):
    """PostgreSQL here trusts any password, so the URL can carry one the tool must never print."""
    password = "pw-Very-Secret-42"
    url = pg_url.replace("postgres@", f"postgres:{password}@")
    seed_feedback(url, {"department": 40, "urgency": 40})
    stub.on_restart("owner/prepare", lambda hub: hub.put_file("owner/urgency_dataset", "dataset_metadata.json", "{"), delay=0.2)
    summary, outputs, json_file = tmp_path / "s.md", tmp_path / "o.txt", tmp_path / "j.json"
    env = seed_env(
        stub,
        url,
        POLL_TIMEOUT="1",
        GITHUB_ACTIONS="true",
        GITHUB_STEP_SUMMARY=str(summary),
        GITHUB_OUTPUT=str(outputs),
    )
    done = run_cli(env, "run", "--json", "--summary-file", str(json_file))
    assert done.returncode == 1
    everything = done.stdout + done.stderr
    everything += summary.read_text() + outputs.read_text() + json_file.read_text()
    assert TOKEN not in everything
    assert password not in everything
    # the Hub got the token, on its own host only
    assert set(stub.auth_headers_seen()) == {f"Bearer {TOKEN}"}


def test_seed_entry_point_still_runs(stub, sqlite_url):
    import subprocess

    seed_feedback(sqlite_url, {"department": 1, "urgency": 1})
    env = {**seed_env(stub, sqlite_url), "PATH": "/usr/bin:/bin", **CHECKOUT}
    done = subprocess.run(
        [sys.executable, str(REPO / "orchestrator" / "orchestrator.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(REPO / "orchestrator"),
    )
    assert done.returncode == 0, done.stderr
    assert "nothing to do" in done.stderr


def test_run_does_not_import_the_ml_stack(stub, sqlite_url):
    seed_feedback(sqlite_url, {"department": 1, "urgency": 1})
    code = (
        "import atexit, sys\n"
        "heavy = ('sklearn', 'numpy', 'pandas', 'torch', 'pyarrow', 'huggingface_hub.hf_api')\n"
        "atexit.register(lambda: print('HEAVY=' + ','.join(m for m in heavy if m in sys.modules), file=sys.stderr))\n"
        "from orchestrator.cli import main\n"
        "main(['run'])\n"
    )
    import os
    import subprocess

    env = {**seed_env(stub, sqlite_url), "PATH": os.environ["PATH"], **CHECKOUT}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "HEAVY=\n" in done.stderr or done.stderr.rstrip().endswith("HEAVY=")


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_cli_basics(flag):
    done = run_cli({}, flag)
    assert done.returncode == 0
    assert "orchestrator" in done.stdout
