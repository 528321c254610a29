"""Every prepare is followed like a retrain: a prepare that dies, or ends without publishing, fails its labels
at once (not at POLL_TIMEOUT or PREPARE_DEADLINE), naming the target and how it ended; and it is not launched
again for the same feedback on its own. Through the real CLI, against the Hub and GitHub stand-ins."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
from conftest import TOKEN, run_cli, seed_env, seed_feedback
from support.githubstub import GitHubStub
from support.hubstub import HubStub

from orchestrator.remote.database import make_engine
from orchestrator.state.store import StateStore


def crash(space: str):
    def crashed(stub: HubStub) -> None:
        stub.set_stage(space, "RUNTIME_ERROR")  # nothing published

    return crashed


def outcomes(done) -> dict[str, str]:
    return {label["label"]: label["outcome"] for label in json.loads(done.stdout)["labels"]}


def test_a_prepare_space_that_crashes_fails_the_run_at_once_and_is_not_launched_again(stub, db_url):
    seed_feedback(db_url, {"department": 40, "urgency": 5})
    stub.on_restart("owner/prepare", crash("owner/prepare"), delay=2)
    started = time.monotonic()
    done = run_cli(seed_env(stub, db_url, POLL_INTERVAL="0.2", POLL_TIMEOUT="60"), "run", "--json", timeout=45)
    assert done.returncode == 1, done.stderr
    assert time.monotonic() - started < 30  # not POLL_TIMEOUT (60 s), not PREPARE_DEADLINE
    assert "Space owner/prepare" in done.stderr and "RUNTIME_ERROR" in done.stderr
    assert outcomes(done) == {"department": "prepare failed", "urgency": "skipped"}
    assert stub.restarts("owner/prepare") == 1 and stub.restarts("owner/retrain_dept") == 0

    # the same feedback: not prepared again on its own, and the plan says how to
    stub.set_stage("owner/prepare", "RUNNING")
    again = run_cli(seed_env(stub, db_url, POLL_INTERVAL="0.2"), "run", "--json")
    assert again.returncode == 0, again.stderr
    assert outcomes(again)["department"] == "skipped" and "orchestrator retry --label department" in again.stderr
    assert stub.restarts("owner/prepare") == 1

    # new feedback: prepared again
    seed_feedback(db_url, {"department": 3})
    stub.on_restart("owner/prepare", lambda hub: hub.put_metadata("owner/dept_dataset", version_tag="v2", num_samples=500))
    third = run_cli(seed_env(stub, db_url, POLL_INTERVAL="0.2"), "run", "--json")
    assert third.returncode == 0, third.stderr
    assert stub.restarts("owner/prepare") == 2 and stub.restarts("owner/retrain_dept") == 1


def test_a_prepare_space_that_pauses_without_publishing_fails_the_label(stub, sqlite_url):
    seed_feedback(sqlite_url, {"department": 40, "urgency": 40})
    stub.on_restart("owner/prepare", lambda hub: hub.set_stage("owner/prepare", "PAUSED"), delay=0.5)
    done = run_cli(seed_env(stub, sqlite_url, POLL_INTERVAL="0.2", POLL_TIMEOUT="60"), "run", "--json", timeout=45)
    assert done.returncode == 1, done.stderr
    assert outcomes(done) == {"department": "prepare failed", "urgency": "prepare failed"}
    assert "finished (stage PAUSED), and version_tag is still v1" in done.stderr
    # a failed prepare cost something too: its wall time (a Space), recorded once, when its last label gave up
    (prepare,) = StateStore(make_engine(sqlite_url)).actions()
    assert prepare.labels == ("department", "urgency") and prepare.ended_at is not None
    assert prepare.cost_seconds >= 0.5 and prepare.cost_usd is None
    assert prepare.cost_basis == f"wall time {prepare.cost_seconds:.0f} s"
    assert done.stderr.count("the prepare for department, urgency cost wall time") == 1


def test_a_dataset_published_before_the_space_paused_is_retrained(stub, sqlite_url):
    """The seed's prepare Space publishes, then pauses itself: that is a delivered prepare, not a failure."""
    seed_feedback(sqlite_url, {"department": 40, "urgency": 5})

    def publish_then_pause(hub: HubStub) -> None:
        hub.put_metadata("owner/dept_dataset", version_tag="v2", num_samples=500)
        hub.set_stage("owner/prepare", "PAUSED")

    stub.on_restart("owner/prepare", publish_then_pause, delay=0.5)
    done = run_cli(seed_env(stub, sqlite_url, POLL_INTERVAL="0.2"), "run", "--json")
    assert done.returncode == 0, done.stderr
    assert outcomes(done)["department"] == "retrain triggered" and stub.restarts("owner/retrain_dept") == 1


def test_a_prepare_that_died_while_nobody_waited_fails_the_next_non_blocking_run(stub, sqlite_url):
    seed_feedback(sqlite_url, {"department": 40, "urgency": 5})
    env = seed_env(stub, sqlite_url, ORCHESTRATOR_WAIT="false")
    first = run_cli(env, "run", "--json")
    assert first.returncode == 0 and outcomes(first)["department"] == "pending", first.stderr
    stub.set_stage("owner/prepare", "BUILD_ERROR")
    second = run_cli(env, "run", "--json")
    assert second.returncode == 1, second.stderr
    assert outcomes(second)["department"] == "prepare failed" and "BUILD_ERROR" in second.stderr


def write_config(tmp: Path, url: str, prepare: str, **globals_) -> Path:
    lines = ["[orchestrator]", f"database_url = {json.dumps(url)}", "poll_interval = 0.1", "poll_timeout = 20"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in globals_.items()]
    lines += ["", "[prepare]", f"target = {prepare}", "", "[labels.department]", "threshold = 30",
              'metadata = { repo = "owner/dept_dataset" }', 'retrain = "owner/retrain_dept"']
    config = tmp / "orchestrator.toml"
    config.write_text("\n".join(lines) + "\n")
    return config


def test_an_hf_job_prepare_that_ends_in_error_fails_with_its_logs(stub, sqlite_url, tmp_path):
    seed_feedback(sqlite_url, {"department": 40})
    stub.on_job(lambda hub, job: hub.finish_job(job["id"], "ERROR", logs=["reading the feedback",
                                                                           "psycopg.OperationalError: no route"],
                                                message="exit code 1"), delay=0.3)
    config = write_config(tmp_path, sqlite_url, '{ job = "python:3.12-slim", namespace = "owner", command = ["prep"] }')
    started = time.monotonic()
    done = run_cli({"HF_ENDPOINT": stub.url, "HF_TOKEN": TOKEN}, "run", "--config", str(config), "--json", timeout=40)
    assert done.returncode == 1, done.stderr
    assert time.monotonic() - started < 15  # not POLL_TIMEOUT (20 s)
    assert outcomes(done) == {"department": "prepare failed"}
    assert "ended ERROR: exit code 1" in done.stderr and "psycopg.OperationalError: no route" in done.stderr
    assert stub.restarts("owner/retrain_dept") == 0


def test_a_command_prepare_that_publishes_nothing_fails_on_the_first_look(stub, sqlite_url, tmp_path):
    seed_feedback(sqlite_url, {"department": 40})
    command = json.dumps([sys.executable, "-c", "print('nothing to do')"])
    config = write_config(tmp_path, sqlite_url, f"{{ command = {command} }}")
    done = run_cli({"HF_ENDPOINT": stub.url, "HF_TOKEN": TOKEN}, "run", "--config", str(config), "--json", timeout=40)
    assert done.returncode == 1, done.stderr
    summary = json.loads(done.stdout)["labels"][0]
    assert summary["outcome"] == "prepare failed"
    assert "exited 0, and version_tag is still v1" in summary["error"] and "orchestrator retry" in summary["hint"]


@pytest.fixture
def github():
    hub = GitHubStub(tokens={"ghp_preparetoken1234567890": "write"})
    hub.start()
    hub.add_workflow("owner/app", "prepare.yml", inputs=["labels", "orchestrator_key"],
                     run_name="prepare ${{ inputs.orchestrator_key }}")
    try:
        yield hub
    finally:
        hub.stop()


def test_a_github_prepare_run_that_fails_fails_the_next_non_blocking_run(stub, github, sqlite_url, tmp_path):
    seed_feedback(sqlite_url, {"department": 40})
    config = write_config(tmp_path, sqlite_url, '{ github = "owner/app", workflow = "prepare.yml", '
                          'inputs = { labels = "{labels}" } }', wait=False)
    env = {"HF_ENDPOINT": stub.url, "HF_TOKEN": TOKEN, "GITHUB_API_URL": github.url,
           "GITHUB_TOKEN": "ghp_preparetoken1234567890"}
    first = run_cli(env, "run", "--config", str(config), "--json")
    assert first.returncode == 0 and outcomes(first) == {"department": "pending"}, first.stderr
    (run,) = github.runs()
    github.finish_run(run["id"], "failure", failed_steps={"build": "Build the dataset"})
    second = run_cli(env, "run", "--config", str(config), "--json")
    assert second.returncode == 1, second.stderr
    assert outcomes(second) == {"department": "prepare failed"}
    assert f"run {run['id']} ended failure" in second.stderr and "Build the dataset" in second.stderr


# ---------------------------------------------------------------------------------------------- orchestrator retry
def test_retry_launches_a_failed_prepare_again_once_and_its_dry_run_sends_nothing(stub, sqlite_url):
    seed_feedback(sqlite_url, {"department": 40, "urgency": 5})
    stub.on_restart("owner/prepare", crash("owner/prepare"), delay=0.3)
    env = seed_env(stub, sqlite_url, POLL_INTERVAL="0.2", POLL_TIMEOUT="30")
    assert run_cli(env, "run").returncode == 1
    stub.set_stage("owner/prepare", "RUNNING")

    dry = run_cli(env, "retry", "--label", "department", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would launch prepare: Space owner/prepare for department" in dry.stderr and "retry:" in dry.stderr
    assert stub.restarts("owner/prepare") == 1

    stub.on_restart("owner/prepare", lambda hub: hub.put_metadata("owner/dept_dataset", version_tag="v2", num_samples=500))
    done = run_cli(env, "retry", "--label", "department", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["labels"][0]["decision"] == "retry"
    assert stub.restarts("owner/prepare") == 2 and stub.restarts("owner/retrain_dept") == 1

    again = run_cli(env, "retry", "--label", "department")
    assert again.returncode == 2 and "nothing to retry for label department" in again.stderr
    assert "Traceback" not in again.stderr and stub.restarts("owner/prepare") == 2
    unknown = run_cli(env, "retry", "--label", "topic")
    assert unknown.returncode == 2 and "unknown label 'topic'" in unknown.stderr


def hf_job_retrain_config(tmp: Path, url: str) -> Path:
    lines = ["[orchestrator]", f"database_url = {json.dumps(url)}", "poll_interval = 0.1", "poll_timeout = 10",
             "", "[prepare]", 'target = "owner/prepare"', "", "[labels.department]", "threshold = 30",
             'metadata = { repo = "owner/dept_dataset" }',
             'retrain = { job = "python:3.12-slim", namespace = "owner", command = ["retrain", "{version}"] }']
    config = tmp / "orchestrator.toml"
    config.write_text("\n".join(lines) + "\n")
    return config


def retrain_jobs(stub: HubStub) -> list[dict]:
    return [job for job in stub.jobs() if job["environment"].get("ORCHESTRATOR_JOB") == "retrain"]


@pytest.mark.parametrize("crash_at", [None, "after_retrain_launch", "after_retrain_intent"])
def test_retry_launches_a_failed_retrain_again_on_the_same_version_exactly_once(stub, sqlite_url, tmp_path, crash_at):
    seed_feedback(sqlite_url, {"department": 40})
    stub.on_restart("owner/prepare", lambda hub: hub.put_metadata("owner/dept_dataset", version_tag="v2", num_samples=500))
    stub.on_job(lambda hub, job: hub.finish_job(job["id"], "ERROR", logs=["CUDA out of memory"], message="exit code 1"))
    config = hf_job_retrain_config(tmp_path, sqlite_url)
    env = {"HF_ENDPOINT": stub.url, "HF_TOKEN": TOKEN, "LOCK_LEASE": "1"}
    first = run_cli(env, "run", "--config", str(config))
    assert first.returncode == 1 and "CUDA out of memory" in first.stderr, first.stderr
    assert len(retrain_jobs(stub)) == 1

    stub._on_job.clear()  # the next retrain keeps running
    retried = run_cli({**env, **({"ORCHESTRATOR_CRASH_AT": crash_at} if crash_at else {})},
                      "retry", "--label", "department", "--config", str(config), "--no-wait")
    if crash_at:  # killed between its intent and its result: the next run settles it, without a second job
        assert retried.returncode == 70, retried.stderr
        time.sleep(1.2)  # its lease (LOCK_LEASE=1) runs out
        later = run_cli(env, "run", "--config", str(config), "--no-wait")
        settled = "reconciled retrain:department:v2:retry:" in later.stderr or "sending it now" in later.stderr
        assert later.returncode == 0 and settled, later.stderr
    else:
        assert retried.returncode == 0, retried.stderr
    jobs = retrain_jobs(stub)
    assert len(jobs) == 2 and [job["environment"]["DATASET_VERSION"] for job in jobs] == ["v2", "v2"]
    assert jobs[0]["labels"]["orchestrator-key"] != jobs[1]["labels"]["orchestrator-key"]
    busy = run_cli(env, "retry", "--label", "department", "--config", str(config))
    assert busy.returncode == 2 and "it is retraining" in busy.stderr
    assert len(retrain_jobs(stub)) == 2
