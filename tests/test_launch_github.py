"""The GitHub workflow launcher end to end: ``orchestrator run`` dispatches a workflow on a local stand-in
of GitHub's REST API, finds its run, and follows it to its conclusion; the token goes to that host only."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from conftest import run_cli, seed_feedback
from support.githubstub import GitHubStub

GH_TOKEN = "ghp_testtoken1234567890abcdef"
REPO = "owner/app"
PREPARE = """
import json, pathlib, sys
for label in sys.argv[1].split(","):
    folder = pathlib.Path("datasets") / label
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dataset_metadata.json").write_text(json.dumps({"version_tag": label + "-v2", "num_samples": 500}))
"""


@pytest.fixture
def github():
    stub = GitHubStub(tokens={GH_TOKEN: "write"})
    stub.start()
    stub.add_workflow(
        REPO, "retrain.yml", inputs=["label", "version", "orchestrator_key"],
        run_name="retrain ${{ inputs.label }} ${{ inputs.orchestrator_key }}",
    )
    try:
        yield stub
    finally:
        stub.stop()


def write_config(tmp: Path, url: str, labels=("department", "urgency"), **globals_) -> Path:
    (tmp / "prepare.py").write_text(PREPARE)
    python = json.dumps(sys.executable)
    lines = ["[orchestrator]", f"database_url = {json.dumps(url)}", "poll_interval = 0.1", "poll_timeout = 5"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in globals_.items()]
    lines += ["", "[prepare]", f'target = {{ command = [{python}, "prepare.py", "{{labels}}"], cwd = {json.dumps(str(tmp))} }}']
    for label in labels:
        lines += [
            "", f"[labels.{label}]", "threshold = 30", f'dataset = "datasets/{label}"', f'result = "models/{label}"',
            f'retrain = {{ github = "{REPO}", workflow = "retrain.yml", inputs = {{ label = "{{label}}", version = "{{version}}" }} }}',
        ]
    config = tmp / "orchestrator.toml"
    config.write_text("\n".join(lines) + "\n")
    return config


def env(github: GitHubStub, **extra: str) -> dict[str, str]:
    return {"GITHUB_API_URL": github.url, "GITHUB_TOKEN": GH_TOKEN, **extra}


def publishing(tmp: Path, outcomes: dict[str, str]):
    """The workflow's job: publish its decision for the dataset version it got, then finish the run."""

    def on_dispatch(stub: GitHubStub, run: dict) -> None:
        inputs = run["inputs"]
        outcome = outcomes[inputs["label"]]
        if outcome == "failure":
            stub.finish_run(run["id"], "failure", failed_steps={"train": "Fit the model"})
            return
        folder = tmp / "models" / inputs["label"]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "retrain_result.json").write_text(json.dumps({
            "dataset_version": inputs["version"], "decision": outcome, "reason": "gain +0.03",
            "metrics": {"macro_f1": 0.84},
        }))
        stub.finish_run(run["id"], "success")

    return on_dispatch


def test_dispatch_follows_each_run_to_its_outcome(tmp_path, sqlite_url, github):
    seed_feedback(sqlite_url, {"department": 40, "urgency": 40})
    github.on_dispatch(publishing(tmp_path, {"department": "deployed", "urgency": "failure"}))
    config = write_config(tmp_path, sqlite_url)
    done = run_cli(env(github), "run", "--config", str(config), "--json")
    assert done.returncode == 1, done.stderr
    labels = {entry["label"]: entry for entry in json.loads(done.stdout)["labels"]}
    assert labels["department"]["outcome"] == "deployed" and labels["department"]["metric"] == 0.84
    assert labels["urgency"]["outcome"] == "failed"
    assert "ended failure" in labels["urgency"]["error"] and "train: Fit the model" in labels["urgency"]["error"]
    dispatches = github.dispatches()
    assert len(dispatches) == 2
    sent = {d.body["inputs"]["label"]: d.body["inputs"] for d in dispatches}
    assert sent["department"]["version"] == "department-v2"
    assert len(sent["department"]["orchestrator_key"]) == 16  # the correlation id the run's title carries
    # the token went to the GitHub API's host only, and shows nowhere
    assert {r.headers.get("authorization") for r in github.requests} == {f"Bearer {GH_TOKEN}"}
    assert GH_TOKEN not in done.stdout + done.stderr
    again = run_cli(env(github), "run", "--config", str(config))
    assert len(github.dispatches()) == 2, again.stderr  # no dataset version is dispatched twice


def test_non_blocking_runs_learn_the_outcome_later(tmp_path, sqlite_url, github):
    seed_feedback(sqlite_url, {"department": 40})
    config = write_config(tmp_path, sqlite_url, labels=("department",), wait=False)
    first = run_cli(env(github), "run", "--config", str(config), "--json")
    assert first.returncode == 0, first.stderr  # prepare launched, dataset not checked yet... or retrain dispatched
    for _ in range(3):  # until the dispatch happened: the run is then in progress
        if github.runs():
            break
        run_cli(env(github), "run", "--config", str(config))
    (run,) = github.runs()
    status = json.loads(run_cli(env(github), "status", "--config", str(config), "--json").stdout)[0]
    assert (status["state"], status["retrain_ref"]) == ("retraining", str(run["id"]))
    still = run_cli(env(github), "run", "--config", str(config), "--json")
    assert json.loads(still.stdout)["labels"][0]["outcome"] == "retraining"
    publishing(tmp_path, {"department": "rejected"})(github, run)
    later = run_cli(env(github), "run", "--config", str(config), "--json")
    assert later.returncode == 0, later.stderr
    (entry,) = json.loads(later.stdout)["labels"]
    assert entry["outcome"] == "rejected" and entry["retrain_reason"] == "gain +0.03"
    assert len(github.dispatches()) == 1


def test_an_older_github_without_run_details_is_found_by_its_title(tmp_path, sqlite_url, github):
    github.run_details = "ignored"  # GitHub Enterprise Server before run details: 204, no run id
    seed_feedback(sqlite_url, {"department": 40})
    github.on_dispatch(publishing(tmp_path, {"department": "deployed"}))
    config = write_config(tmp_path, sqlite_url, labels=("department",))
    done = run_cli(env(github), "run", "--config", str(config), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["labels"][0]["outcome"] == "deployed"
    (run,) = github.runs()
    assert f"run {run['id']}" in done.stderr


def test_an_undeclared_input_is_a_clear_failure(tmp_path, sqlite_url, github):
    github.add_workflow(REPO, "bare.yml", inputs=["label", "version"])  # no orchestrator_key
    seed_feedback(sqlite_url, {"department": 40})
    config = write_config(tmp_path, sqlite_url, labels=("department",))
    config.write_text(config.read_text().replace("retrain.yml", "bare.yml"))
    done = run_cli(env(github), "run", "--config", str(config), "--json")
    assert done.returncode == 1
    (entry,) = json.loads(done.stdout)["labels"]
    assert "orchestrator_key" in entry["error"] and "workflow_dispatch" in (entry["hint"] or "")
    assert "Traceback" not in done.stderr


def test_a_wrong_github_token_stops_the_run_before_anything_is_triggered(tmp_path, sqlite_url, github):
    seed_feedback(sqlite_url, {"department": 40})
    config = write_config(tmp_path, sqlite_url, labels=("department",))
    done = run_cli(env(github, GITHUB_TOKEN="ghp_wrongtoken000000000000000"), "run", "--config", str(config))
    assert done.returncode == 2, done.stderr
    assert "GITHUB_TOKEN" in done.stderr and "ghp_wrongtoken000000000000000" not in done.stderr
    assert not (tmp_path / "datasets").exists()  # the preflight stopped it: nothing was prepared
    assert github.dispatches() == []


def test_a_crash_after_the_dispatch_is_reconciled_by_the_runs_title(tmp_path, sqlite_url, github):
    from orchestrator.run.journal import CRASH_EXIT_CODE

    seed_feedback(sqlite_url, {"department": 40})
    github.on_dispatch(publishing(tmp_path, {"department": "deployed"}))
    config = write_config(tmp_path, sqlite_url, labels=("department",), lock_lease=1)
    crashed = run_cli(env(github, ORCHESTRATOR_CRASH_AT="after_retrain_launch"), "run", "--config", str(config))
    assert crashed.returncode == CRASH_EXIT_CODE, crashed.stderr
    import time

    time.sleep(1.3)  # the crashed run's lease runs out
    rerun = run_cli(env(github), "run", "--config", str(config), "--json")
    assert rerun.returncode == 0, rerun.stderr
    assert len(github.dispatches()) == 1  # found by the correlation id in its title: not dispatched again
    (run,) = github.runs()
    assert f"it is under way ({run['id']})" in rerun.stderr
    assert json.loads(rerun.stdout)["labels"][0]["outcome"] == "deployed"


def test_a_dispatch_whose_run_cannot_be_listed_is_not_dispatched_again(tmp_path, sqlite_url, github):
    github.run_details = "ignored"  # 204, no run id: the run must be found by its title...
    github.fail("GET", r"/runs$", 403, times=1000)  # ...and listing runs is refused
    seed_feedback(sqlite_url, {"department": 40})
    config = write_config(tmp_path, sqlite_url, labels=("department",), retrain_deadline=1)
    done = run_cli(env(github), "run", "--config", str(config), "--json")
    assert len(github.dispatches()) == 1, done.stderr
    run_cli(env(github), "run", "--config", str(config))
    assert len(github.dispatches()) == 1  # the dispatch happened: never sent again for this version


def test_the_github_token_may_come_from_the_env_file(tmp_path, sqlite_url, github):
    seed_feedback(sqlite_url, {"department": 40})
    github.on_dispatch(publishing(tmp_path, {"department": "deployed"}))
    config = write_config(tmp_path, sqlite_url, labels=("department",))
    env_file = tmp_path / "orchestrator.env"
    env_file.write_text(f"GH_TOKEN={GH_TOKEN}\n")
    done = run_cli({"GITHUB_API_URL": github.url}, "run", "--config", str(config), "--env-file", str(env_file), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["labels"][0]["outcome"] == "deployed"


def test_no_github_token_stops_the_preflight_and_the_dry_run_with_exit_2(tmp_path, sqlite_url, github):
    seed_feedback(sqlite_url, {"department": 40})
    config = write_config(tmp_path, sqlite_url, labels=("department",))
    for args in (("--dry-run",), ()):
        done = run_cli({"GITHUB_API_URL": github.url}, "run", "--config", str(config), *args)
        assert done.returncode == 2, done.stderr
        assert "GITHUB_TOKEN (or GH_TOKEN) is not set" in done.stderr and "actions:write" in done.stderr
        assert "404" not in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "datasets").exists()  # nothing was prepared
    assert github.dispatches() == [] and github.requests == []  # nor anything asked of GitHub
