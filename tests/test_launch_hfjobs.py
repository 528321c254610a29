"""HF Jobs targets end to end: ``orchestrator run`` as a real subprocess starts the prepare and retrain
jobs on the Hub stand-in (the real ``huggingface_hub`` client, real HTTP), follows each retrain job to its
stage and its published result, reconciles a crashed run by the jobs' labels, and never starts a job twice."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from conftest import CHECKOUT, TOKEN, run_cli, seed_feedback, wait_for
from support.hubstub import HubStub

from orchestrator.run.journal import CRASH_EXIT_CODE

IMAGE = "python:3.12-slim"


def write_config(tmp: Path, url: str, labels=("department", "urgency"), **globals_) -> Path:
    repos = {"department": "owner/dept_dataset", "urgency": "owner/urgency_dataset"}
    globals_ = {"database_url": url, "poll_interval": 0.1, "poll_timeout": 8, **globals_}
    lines = ["[orchestrator]", *(f"{key} = {json.dumps(value)}" for key, value in globals_.items())]
    lines += [
        "", "[prepare]",
        f'target = {{ job = "{IMAGE}", namespace = "owner", secrets = ["HF_TOKEN"], '
        'command = ["bash", "-c", "orchestrator prepare --label {labels}"] }',
    ]
    for label in labels:
        lines += [
            "", f"[labels.{label}]", "threshold = 30",
            f'metadata = {{ repo = "{repos[label]}" }}',
            f'result = "hub:owner/{label}_model"',
            f'retrain = {{ job = "{IMAGE}", namespace = "owner", flavor = "a10g-small", timeout = 7200, '
            'secrets = ["HF_TOKEN"], env = { MODE = "gpu" }, '
            'command = ["orchestrator", "retrain", "--label", "{label}", "--dataset-version", "{version}"] }',
        ]
    config = tmp / "orchestrator.toml"
    config.write_text("\n".join(lines) + "\n")
    return config


def env(stub: HubStub, **extra: str) -> dict[str, str]:
    return {"HF_ENDPOINT": stub.url, "HF_TOKEN": TOKEN, "HTTP_BACKOFF": "0.05", **extra}


def publish_prepared(stub: HubStub, environment: dict) -> None:
    """What the prepare job does on the stand-in: a new dataset version for each of its labels."""
    for label in environment["ORCHESTRATOR_LABELS"].split(","):
        repo = "owner/dept_dataset" if label == "department" else "owner/urgency_dataset"
        stub.put_metadata(repo, version_tag=f"{label}-v2", num_samples=500)


class Jobs:
    """What the jobs do on the stand-in: prepare publishes new versions; retrain publishes its decision
    (or, as ``outcomes`` says, crashes or keeps running)."""

    def __init__(self, outcomes: dict[str, str]) -> None:
        self.outcomes = outcomes

    def __call__(self, stub: HubStub, job: dict) -> None:
        environment = job["environment"]
        if environment["ORCHESTRATOR_JOB"] == "prepare":
            publish_prepared(stub, environment)
            stub.finish_job(job["id"], logs=["prepared"])
            return
        label, version = environment["ORCHESTRATOR_LABELS"], environment["DATASET_VERSION"]
        outcome = self.outcomes[label]
        if outcome == "error":
            stub.finish_job(job["id"], "ERROR", logs=["loading the dataset", "Traceback (most recent call last):",
                                                        "torch.OutOfMemoryError: CUDA out of memory"],
                            message="exit code 1")
        elif outcome in ("deployed", "rejected"):
            stub.put_file(f"owner/{label}_model", "retrain_result.json", json.dumps({
                "dataset_version": version, "decision": outcome, "reason": f"{outcome}: gain measured",
                "metrics": {"macro_f1": 0.8321}, "metric": "macro_f1",
            }), repo_type="model")
            stub.finish_job(job["id"], logs=["done"])
        # "running": the job goes on (a later run follows it)


def retrain_jobs(stub: HubStub) -> list[dict]:
    return [job for job in stub.jobs() if job["environment"].get("ORCHESTRATOR_JOB") == "retrain"]


def test_one_job_per_firing_label_with_its_dataset_version_and_none_the_second_time(tmp_path, db_url, stub):
    seed_feedback(db_url, {"department": 40, "urgency": 40})
    stub.on_job(Jobs({"department": "deployed", "urgency": "rejected"}), delay=0.2)
    config = write_config(tmp_path, db_url)
    done = run_cli(env(stub), "run", "--config", str(config), "--json")
    assert done.returncode == 0, done.stderr
    jobs = stub.jobs()
    assert [j["environment"]["ORCHESTRATOR_JOB"] for j in jobs].count("prepare") == 1  # one prepare for both
    retrains = {j["environment"]["ORCHESTRATOR_LABELS"]: j for j in retrain_jobs(stub)}
    assert set(retrains) == {"department", "urgency"}  # exactly one job per firing label
    department = retrains["department"]
    assert department["environment"]["DATASET_VERSION"] == "department-v2"
    assert department["environment"]["MODE"] == "gpu"
    assert department["command"] == ["orchestrator", "retrain", "--label", "department", "--dataset-version", "department-v2"]
    assert (department["docker_image"], department["flavor"], department["timeout"]) == (IMAGE, "a10g-small", 7200)
    assert department["secrets"] == {"HF_TOKEN": TOKEN}  # handed over as a secret, not an env value
    assert TOKEN not in json.dumps(department["environment"])
    assert set(department["labels"]) >= {"orchestrator-key", "orchestrator-kind"}
    labels = {entry["label"]: entry for entry in json.loads(done.stdout)["labels"]}
    assert labels["department"]["outcome"] == "deployed" and labels["department"]["metric"] == 0.8321
    assert labels["urgency"]["outcome"] == "rejected"
    assert labels["department"]["retrain_ref"] == f"owner/{department['id']}"
    assert TOKEN not in done.stdout + done.stderr

    again = run_cli(env(stub), "run", "--config", str(config))
    assert again.returncode == 0, again.stderr
    assert len(stub.jobs()) == 3  # a second run creates no new job


def test_a_job_that_ends_in_error_fails_its_label_with_the_log_tail(tmp_path, sqlite_url, stub):
    seed_feedback(sqlite_url, {"department": 40, "urgency": 40})
    stub.on_job(Jobs({"department": "error", "urgency": "deployed"}), delay=0.2)
    config = write_config(tmp_path, sqlite_url)
    done = run_cli(env(stub), "run", "--config", str(config), "--json")
    assert done.returncode == 1, done.stderr
    labels = {entry["label"]: entry for entry in json.loads(done.stdout)["labels"]}
    error = labels["department"]["error"]
    assert labels["department"]["outcome"] == "failed"
    assert "ended ERROR: exit code 1" in error and "torch.OutOfMemoryError: CUDA out of memory" in error
    assert labels["urgency"]["outcome"] == "deployed"  # the other label goes on
    status = {r["label"]: r for r in json.loads(run_cli(env(stub), "status", "--config", str(config), "--json").stdout)}
    assert (status["department"]["state"], status["department"]["last_outcome"]) == ("idle", "failed")
    again = run_cli(env(stub), "run", "--config", str(config))
    assert len(retrain_jobs(stub)) == 2, again.stderr  # a failed GPU run is not started again for that version


def test_non_blocking_runs_follow_a_running_job_to_its_end(tmp_path, sqlite_url, stub):
    seed_feedback(sqlite_url, {"department": 40})
    jobs = Jobs({"department": "running"})
    stub.on_job(jobs)
    config = write_config(tmp_path, sqlite_url, labels=("department",), wait=False)
    for _ in range(3):  # prepare, then (once the dataset is seen) the retrain
        run_cli(env(stub), "run", "--config", str(config))
        if retrain_jobs(stub):
            break
    (job,) = retrain_jobs(stub)
    still = run_cli(env(stub), "run", "--config", str(config), "--json")
    assert json.loads(still.stdout)["labels"][0]["outcome"] == "retraining", still.stderr
    jobs.outcomes["department"] = "deployed"
    jobs(stub, job)  # the job publishes its decision and completes
    later = run_cli(env(stub), "run", "--config", str(config), "--json")
    (entry,) = json.loads(later.stdout)["labels"]
    assert entry["outcome"] == "deployed", later.stderr
    assert len(retrain_jobs(stub)) == 1


def test_a_crash_after_the_job_started_is_reconciled_by_its_labels(tmp_path, sqlite_url, stub):
    seed_feedback(sqlite_url, {"department": 40})
    stub.on_job(Jobs({"department": "deployed"}), delay=0.2)
    config = write_config(tmp_path, sqlite_url, labels=("department",), lock_lease=1)
    crashed = run_cli({**env(stub), "ORCHESTRATOR_CRASH_AT": "after_retrain_launch"}, "run", "--config", str(config))
    assert crashed.returncode == CRASH_EXIT_CODE, crashed.stderr
    assert len(retrain_jobs(stub)) == 1
    time.sleep(1.3)  # the crashed run's lease runs out
    rerun = run_cli(env(stub), "run", "--config", str(config), "--json")
    assert rerun.returncode == 0, rerun.stderr
    assert len(retrain_jobs(stub)) == 1  # found by its labels: not started again
    assert "reconciled retrain:department:department-v2: it is under way" in rerun.stderr
    (entry,) = json.loads(rerun.stdout)["labels"]
    assert entry["outcome"] == "deployed"


def test_a_missing_secret_fails_the_preflight_and_starts_nothing(tmp_path, sqlite_url, stub):
    seed_feedback(sqlite_url, {"department": 40})
    config = write_config(tmp_path, sqlite_url, labels=("department",))
    config.write_text(config.read_text().replace('secrets = ["HF_TOKEN"], env', 'secrets = ["WANDB_API_KEY"], env'))
    done = run_cli(env(stub), "run", "--config", str(config), "--json")
    assert done.returncode == 1
    (entry,) = json.loads(done.stdout)["labels"]
    assert "WANDB_API_KEY" in entry["error"] and "not set in the orchestrator's environment" in entry["error"]
    assert stub.jobs() == []


def test_a_failing_jobs_api_is_retried_and_then_reported_without_a_traceback(tmp_path, sqlite_url, stub):
    seed_feedback(sqlite_url, {"department": 40})
    stub.on_job(Jobs({"department": "deployed"}), delay=0.2)
    stub.fail("GET", r"^/api/jobs/owner/[0-9a-f]+$", 503, times=2)  # inspect: a bad minute, retried
    config = write_config(tmp_path, sqlite_url, labels=("department",))
    done = run_cli(env(stub), "run", "--config", str(config), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["labels"][0]["outcome"] == "deployed"
    assert "Traceback" not in done.stderr


def test_sigterm_in_blocking_mode_records_the_running_job_and_does_not_cancel_it(tmp_path, sqlite_url, stub):
    seed_feedback(sqlite_url, {"department": 40})
    stub.on_job(Jobs({"department": "running"}))
    config = write_config(tmp_path, sqlite_url, labels=("department",), poll_timeout=60)
    process = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "run", "--config", str(config)],
        env={**{k: v for k, v in __import__("os").environ.items() if k in ("PATH", "HOME")}, **CHECKOUT, **env(stub)},
        cwd=tempfile.mkdtemp(), stderr=subprocess.PIPE, text=True,
    )
    assert wait_for(lambda: len(retrain_jobs(stub)) == 1, timeout=30)
    time.sleep(0.5)  # the run records the job and follows it
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    (job,) = retrain_jobs(stub)
    assert stub.job(job["id"])["stage"] in ("SCHEDULING", "RUNNING")  # not cancelled
    assert f"the retrain of department-v2 (owner/{job['id']}) keeps running; it is recorded" in stderr
    assert not [r for r in stub.requests if r.path.endswith("/cancel")]
    status = json.loads(run_cli(env(stub), "status", "--config", str(config), "--json").stdout)[0]
    assert (status["state"], status["retrain_ref"]) == ("retraining", f"owner/{job['id']}")


def test_a_retrain_space_gets_its_dataset_version_before_its_one_restart(stub, sqlite_url):
    """The seed's setup, with Spaces: DATASET_VERSION is set on the retrain Space (which restarts it),
    and no second restart is sent."""
    from conftest import seed_env

    seed_feedback(sqlite_url, {"department": 40, "urgency": 1})
    stub.on_restart("owner/prepare", lambda hub: hub.put_metadata("owner/dept_dataset", version_tag="v2", num_samples=500))
    done = run_cli(seed_env(stub, sqlite_url), "run")
    assert done.returncode == 0, done.stderr
    assert stub.space_variables("owner/retrain_dept") == {"DATASET_VERSION": "v2"}
    assert stub.restarts("owner/retrain_dept") == 1
    posts = [r.path for r in stub.requests if r.method == "POST"]
    assert "/api/spaces/owner/retrain_dept/restart" not in posts
    assert posts.index("/api/spaces/owner/prepare/restart") < posts.index("/api/spaces/owner/retrain_dept/variables")


def test_a_namespace_the_token_cannot_use_fails_the_preflight(tmp_path, sqlite_url, stub):
    seed_feedback(sqlite_url, {"department": 40})
    config = write_config(tmp_path, sqlite_url, labels=("department",))
    config.write_text(config.read_text().replace('namespace = "owner", flavor', 'namespace = "someone-else", flavor'))
    done = run_cli(env(stub), "run", "--config", str(config), "--json")
    assert done.returncode == 1
    (entry,) = json.loads(done.stdout)["labels"]
    assert "HF_TOKEN belongs to 'owner', which cannot run jobs in 'someone-else'" in entry["error"]
    assert stub.jobs() == []  # nothing started, not even the prepare


def test_a_wrong_token_stops_the_run_before_any_job_starts(tmp_path, sqlite_url, stub):
    seed_feedback(sqlite_url, {"department": 40})
    config = write_config(tmp_path, sqlite_url, labels=("department",))
    done = run_cli(env(stub, HF_TOKEN="hf_wrongwrongwrongwrong"), "run", "--config", str(config))
    assert done.returncode == 2, done.stderr
    assert "hf_wrongwrongwrongwrong" not in done.stderr
    assert stub.jobs() == []


def test_a_gateway_error_on_create_is_not_retried_and_the_next_run_starts_one_job(tmp_path, sqlite_url, stub):
    """A 502 may come after the Hub created the job: the POST is not repeated; the next run looks for the
    job by its labels, finds none here, and starts exactly one."""
    seed_feedback(sqlite_url, {"department": 40})
    stub.on_job(Jobs({"department": "deployed"}), delay=0.2)
    config = write_config(tmp_path, sqlite_url, labels=("department",))
    prepare = run_cli(env(stub), "run", "--config", str(config), "--no-wait")  # prepare, as usual
    assert prepare.returncode == 0, prepare.stderr
    stub.fail("POST", r"^/api/jobs/owner$", 502)
    first = run_cli(env(stub), "run", "--config", str(config))
    assert first.returncode == 1
    assert "whether the retrain started is checked on the next run" in first.stderr
    creates = [r for r in stub.requests if r.method == "POST" and r.path == "/api/jobs/owner"]
    assert len(creates) == 2  # the prepare, then the one retrain try that got the 502: never repeated
    second = run_cli(env(stub), "run", "--config", str(config), "--json")
    assert second.returncode == 0, second.stderr
    assert len(retrain_jobs(stub)) == 1
    assert json.loads(second.stdout)["labels"][0]["outcome"] == "deployed"


def test_an_unreadable_answer_to_a_create_counts_as_maybe_started(tmp_path, sqlite_url, stub):
    seed_feedback(sqlite_url, {"department": 40})
    stub.on_job(Jobs({"department": "deployed"}), delay=0.2)
    config = write_config(tmp_path, sqlite_url, labels=("department",))
    assert run_cli(env(stub), "run", "--config", str(config), "--no-wait").returncode == 0
    stub.fail("POST", r"^/api/jobs/owner$", 200, body='{"unexpected": true}')
    first = run_cli(env(stub), "run", "--config", str(config), "--json")
    assert first.returncode == 1
    assert "the Hub's answer could not be read" in json.loads(first.stdout)["labels"][0]["error"]
    assert "Traceback" not in first.stderr
    status = json.loads(run_cli(env(stub), "status", "--config", str(config), "--json").stdout)[0]
    assert status["state"] == "retrain_requested"  # left open for the next run to check, not marked failed


def test_secret_values_in_a_failed_jobs_logs_are_masked(tmp_path, sqlite_url, stub):
    seed_feedback(sqlite_url, {"department": 40})
    secret = "wandb-9f8e7d6c5b4a3210"

    def leaky(hub: HubStub, job: dict) -> None:
        if job["environment"]["ORCHESTRATOR_JOB"] == "prepare":
            Jobs({})(hub, job)
        else:
            hub.finish_job(job["id"], "ERROR", logs=[f"login with key={secret} refused"])

    stub.on_job(leaky, delay=0.2)
    config = write_config(tmp_path, sqlite_url, labels=("department",))
    config.write_text(config.read_text().replace('secrets = ["HF_TOKEN"], env', 'secrets = ["HF_TOKEN", "WANDB_API_KEY"], env'))
    done = run_cli(env(stub, WANDB_API_KEY=secret), "run", "--config", str(config), "--json")
    assert done.returncode == 1
    (entry,) = json.loads(done.stdout)["labels"]
    assert "login with key=*** refused" in entry["error"]
    assert secret not in done.stdout + done.stderr
    assert secret not in run_cli(env(stub), "history", "--config", str(config), "--json").stdout
    assert retrain_jobs(stub)[0]["secrets"]["WANDB_API_KEY"] == secret  # it did reach the job


def test_a_blocking_run_looks_once_at_a_retrain_an_earlier_run_launched(tmp_path, sqlite_url, stub):
    """Blocking mode waits for the retrains it launched; one launched earlier is looked at once, so a
    scheduled run does not hold a runner for a long training."""
    seed_feedback(sqlite_url, {"department": 40})
    stub.on_job(Jobs({"department": "running"}))
    config = write_config(tmp_path, sqlite_url, labels=("department",), poll_timeout=3)
    first = run_cli(env(stub), "run", "--config", str(config))
    assert first.returncode == 0, first.stderr
    assert len(retrain_jobs(stub)) == 1
    config.write_text(config.read_text().replace("poll_timeout = 3", "poll_timeout = 60"))
    started = time.monotonic()
    later = run_cli(env(stub), "run", "--config", str(config), "--json")
    assert time.monotonic() - started < 20, later.stderr  # not the 60 s of POLL_TIMEOUT
    assert json.loads(later.stdout)["labels"][0]["outcome"] == "retraining"
