"""A seed retrain Space's outcome, with no change to the Space: its model repo tells deployed (a new
model_metadata.json or metadata.json), its stage tells not deployed (paused with no new model) or failed. And a
retrain job still running at RETRAIN_DEADLINE is said to be (where, what it costs), or cancelled. Through the real
CLI, against the Hub stand-in."""

from __future__ import annotations

import json
import time

import pytest
from conftest import TOKEN, run_cli, seed_env, seed_feedback
from support.hubstub import HubStub

MODEL = "owner/dept_model"


def publish_dataset(hub: HubStub) -> None:
    hub.put_metadata("owner/dept_dataset", version_tag="v2", num_samples=500)


def seed_space(*, deploys: bool, metadata_file: str = "model_metadata.json", stage: str = "PAUSED"):
    """What the seed's retrain Space does: on deploy, push the model and its metadata, then pause itself."""

    def retrain(hub: HubStub) -> None:
        if deploys:
            hub.put_file(MODEL, metadata_file, json.dumps({
                "model_name": "xlm-roberta-department", "timestamp_utc": "2026-12-06T10:00:00Z",
                "eval_metrics": {"eval_loss": 0.31, "eval_accuracy": 0.95, "eval_f1": 0.9412},
                "self.version_tag": "v2",
            }), repo_type="model")
        hub.set_stage("owner/retrain_dept", stage)

    return retrain


def outcome(done) -> dict:
    return next(label for label in json.loads(done.stdout)["labels"] if label["label"] == "department")


@pytest.mark.parametrize("metadata_file", ["model_metadata.json", "metadata.json"])
def test_a_seed_retrain_space_that_deploys_is_followed_to_deployed_with_its_metric(stub, sqlite_url, metadata_file):
    seed_feedback(sqlite_url, {"department": 40, "urgency": 5})
    stub.put_file(MODEL, metadata_file, json.dumps({"eval_metrics": {"eval_f1": 0.90}}), repo_type="model")  # the last deploy
    stub.on_restart("owner/prepare", publish_dataset, delay=0.2)
    stub.on_restart("owner/retrain_dept", seed_space(deploys=True, metadata_file=metadata_file), delay=0.5)
    env = seed_env(stub, sqlite_url, HF_MODEL_REPO_DEPARTMENT=MODEL, POLL_INTERVAL="0.2", POLL_TIMEOUT="30")
    done = run_cli(env, "run", "--json", timeout=60)
    assert done.returncode == 0, done.stderr
    department = outcome(done)
    assert (department["outcome"], department["metric_name"], department["metric"]) == ("deployed", "eval_f1", 0.9412)
    assert f"a new {metadata_file} in {MODEL}" in department["retrain_reason"]
    status = json.loads(run_cli(env, "status", "--json").stdout)
    assert [(row["last_outcome"], row["metric"]) for row in status if row["label"] == "department"] == [("deployed", 0.9412)]


def test_a_seed_retrain_space_that_pauses_without_a_new_model_is_not_deployed(stub, sqlite_url):
    seed_feedback(sqlite_url, {"department": 40, "urgency": 5})
    stub.on_restart("owner/prepare", publish_dataset, delay=0.2)
    stub.on_restart("owner/retrain_dept", seed_space(deploys=False), delay=0.5)
    env = seed_env(stub, sqlite_url, HF_MODEL_REPO_DEPARTMENT=MODEL, POLL_INTERVAL="0.2", POLL_TIMEOUT="30")
    done = run_cli(env, "run", "--json", timeout=60)
    assert done.returncode == 0, done.stderr
    department = outcome(done)
    assert department["outcome"] == "not deployed"
    assert "finished (stage PAUSED) with no new model in owner/dept_model" in department["retrain_reason"]
    assert "rejected the model, or it failed" in department["retrain_reason"]


def test_a_seed_retrain_space_in_an_error_stage_fails(stub, sqlite_url):
    seed_feedback(sqlite_url, {"department": 40, "urgency": 5})
    stub.on_restart("owner/prepare", publish_dataset, delay=0.2)
    stub.on_restart("owner/retrain_dept", seed_space(deploys=False, stage="RUNTIME_ERROR"), delay=0.5)
    env = seed_env(stub, sqlite_url, HF_MODEL_REPO_DEPARTMENT=MODEL, POLL_INTERVAL="0.2", POLL_TIMEOUT="30")
    done = run_cli(env, "run", "--json", timeout=60)
    assert done.returncode == 1, done.stderr
    assert outcome(done)["outcome"] == "failed" and "RUNTIME_ERROR" in outcome(done)["error"]


def test_retrain_result_json_wins_over_the_model_metadata(stub, sqlite_url):
    seed_feedback(sqlite_url, {"department": 40, "urgency": 5})
    stub.on_restart("owner/prepare", publish_dataset, delay=0.2)

    def both(hub: HubStub) -> None:
        with hub._lock:  # both at once: no poll sees one without the other
            hub.put_file(MODEL, "retrain_result.json", json.dumps({
                "dataset_version": "v2", "decision": "rejected", "reason": "gain too small"}), repo_type="model")
            seed_space(deploys=True)(hub)

    stub.on_restart("owner/retrain_dept", both, delay=0.5)
    env = seed_env(stub, sqlite_url, HF_MODEL_REPO_DEPARTMENT=MODEL, RETRAIN_RESULT_DEPT=f"hub:{MODEL}",
                   POLL_INTERVAL="0.2", POLL_TIMEOUT="30")
    done = run_cli(env, "run", "--json", timeout=60)
    assert done.returncode == 0, done.stderr
    assert (outcome(done)["outcome"], outcome(done)["retrain_reason"]) == ("rejected", "gain too small"), done.stderr


# ---------------------------------------------------------------------------------------------- HF Jobs
def job_config(tmp_path, url: str, flavor: str = "a10g-small", **globals_) -> str:
    lines = ["[orchestrator]", f"database_url = {json.dumps(url)}", "poll_interval = 0.1", "poll_timeout = 3"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in globals_.items()]
    lines += ["", "[prepare]", 'target = "owner/prepare"', "", "[labels.department]", "threshold = 30",
              'metadata = { repo = "owner/dept_dataset" }',
              f'retrain = {{ job = "python:3.12-slim", namespace = "owner", flavor = "{flavor}", command = ["train"] }}']
    config = tmp_path / "orchestrator.toml"
    config.write_text("\n".join(lines) + "\n")
    return str(config)


def test_a_mistyped_flavor_is_found_by_the_dry_run(stub, sqlite_url, tmp_path):
    seed_feedback(sqlite_url, {"department": 40})
    done = run_cli({"HF_ENDPOINT": stub.url, "HF_TOKEN": TOKEN}, "run", "--dry-run",
                   "--config", job_config(tmp_path, sqlite_url, flavor="a10g-smal"))
    assert done.returncode == 1, done.stderr
    assert "flavor 'a10g-smal' is not one the Hub runs jobs on (did you mean 'a10g-small'?)" in done.stderr
    assert stub.restarts("owner/prepare") == 0


@pytest.mark.parametrize("cancel", [False, True])
def test_a_retrain_job_still_running_at_the_deadline_is_said_to_run_and_what_it_costs(stub, sqlite_url, tmp_path, cancel):
    seed_feedback(sqlite_url, {"department": 40})
    stub.on_restart("owner/prepare", publish_dataset)  # at once: the first run launches the retrain
    config = job_config(tmp_path, sqlite_url, retrain_deadline=1, cancel_at_deadline=cancel)
    env = {"HF_ENDPOINT": stub.url, "HF_TOKEN": TOKEN}
    first = run_cli(env, "run", "--config", config, "--no-wait")
    assert first.returncode == 0, first.stderr
    (job,) = stub.jobs()
    time.sleep(1.2)  # past RETRAIN_DEADLINE, and the job runs on
    done = run_cli(env, "run", "--config", config, "--no-wait", "--json")
    assert done.returncode == 1, done.stderr
    error = outcome(done)["error"]
    assert "is still running" in error and f"HF Job {job['id']}" in error
    if cancel:
        assert f"HF Job {job['id']} was cancelled (cancel_at_deadline)" in error
        assert stub.job(job["id"])["stage"] == "CANCELED"
    else:
        assert "keeps costing $1.00/hour on a10g-small" in error and "cancel_at_deadline = true" in error
        assert stub.job(job["id"])["stage"] in ("SCHEDULING", "RUNNING")
