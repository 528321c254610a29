"""Retrain outcomes followed to the end, through the real CLI: a retrain's result document
(retrain_result.json) says deployed or rejected, its job's status says failed, RETRAIN_DEADLINE
catches a silent one, and status, history, the job summary and the step outputs show what happened."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from conftest import run_cli, seed_feedback

# prepare: publish a new dataset version for every firing label (a local folder stands in for the Hub)
PREPARE = """
import json, os, pathlib, sys
for label in sys.argv[1].split(","):
    folder = pathlib.Path("datasets") / label
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dataset_metadata.json").write_text(json.dumps({"version_tag": label + "-v2", "num_samples": 500}))
"""
# retrain: publish a decision as the contract has it; what it decides comes from the label's argument
RETRAIN = """
import json, os, pathlib, sys
label, version, decision = sys.argv[1], sys.argv[2], sys.argv[3]
assert os.environ["DATASET_VERSION"] == version, "DATASET_VERSION reaches the command"
if decision == "crash":
    print("Traceback: CUDA out of memory", file=sys.stderr)
    sys.exit(3)
if decision != "silent":
    folder = pathlib.Path("models") / label
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "retrain_result.json").write_text(json.dumps({
        "dataset_version": "old-version" if decision == "stale" else version,
        "decision": "rejected" if decision == "stale" else decision,
        "reason": "gain +0.021 over the champion" if decision == "deployed" else "no real gain (+0.001)",
        "metrics": {"macro_f1": 0.8123, "macro_f1_golden": 0.79},
        "metric": "macro_f1",
    }))
"""


def write_config(tmp: Path, url: str, decisions: dict[str, str], *, result: bool = True, **globals_: object) -> Path:
    (tmp / "prepare.py").write_text(PREPARE)
    (tmp / "retrain.py").write_text(RETRAIN)
    python = json.dumps(sys.executable)
    lines = ["[orchestrator]", f"database_url = {json.dumps(url)}", "poll_interval = 0.1", "poll_timeout = 5"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in globals_.items()]
    lines += ["", "[prepare]", f'target = {{ command = [{python}, "prepare.py", "{{labels}}"], cwd = {json.dumps(str(tmp))} }}']
    for label, decision in decisions.items():
        lines += [
            "",
            f"[labels.{label}]",
            "threshold = 30",
            f'dataset = "datasets/{label}"',
            *([f'result = "models/{label}"'] if result else []),
            f'retrain = {{ command = [{python}, "retrain.py", "{{label}}", "{{version}}", "{decision}"], cwd = {json.dumps(str(tmp))} }}',
        ]
    config = tmp / "orchestrator.toml"
    config.write_text("\n".join(lines) + "\n")
    return config


def run(tmp: Path, config: Path, *args: str, **env: str):
    return run_cli({"GITHUB_OUTPUT": str(tmp / "out"), "GITHUB_STEP_SUMMARY": str(tmp / "summary.md"), **env},
                   "run", "--config", str(config), *args)


def outputs(tmp: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in (tmp / "out").read_text().splitlines() if "=" in line and "<<" not in line)


def test_deployed_and_rejected_are_learned_in_the_same_blocking_run(tmp_path, db_url):
    seed_feedback(db_url, {"department": 40, "urgency": 40})
    config = write_config(tmp_path, db_url, {"department": "deployed", "urgency": "rejected"})
    done = run(tmp_path, config, "--json")
    assert done.returncode == 0, done.stderr
    labels = {entry["label"]: entry for entry in json.loads(done.stdout)["labels"]}
    assert labels["department"]["outcome"] == "deployed"
    assert (labels["department"]["metric"], labels["department"]["metric_name"]) == (0.8123, "macro_f1")
    assert labels["department"]["retrain_reason"] == "gain +0.021 over the champion"
    assert labels["urgency"]["outcome"] == "rejected"
    assert labels["urgency"]["retrain_reason"] == "no real gain (+0.001)"
    assert "[department] retrain on department-v2: deployed, macro_f1 0.8123" in done.stderr
    out = outputs(tmp_path)
    assert (out["deployed"], out["rejected"], out["failed"]) == ("department", "urgency", "")
    summary = (tmp_path / "summary.md").read_text()
    assert "| deployed | macro_f1 0.8123 |" in summary
    assert "- **urgency** rejected: no real gain (+0.001)" in summary

    status = {r["label"]: r for r in json.loads(run_cli({}, "status", "--config", str(config), "--json").stdout)}
    assert status["department"]["state"] == "idle"
    assert (status["department"]["last_outcome"], status["department"]["metric"]) == ("deployed", 0.8123)
    assert status["urgency"]["last_outcome"] == "rejected"
    table = run_cli({}, "status", "--config", str(config)).stdout
    assert "macro_f1 0.8123" in table and "urgency: last retrain rejected: no real gain (+0.001)" in table
    history = run_cli({}, "history", "--config", str(config)).stdout
    assert "department: prepare → deployed (– → department-v2), macro_f1 0.8123" in history

    again = run(tmp_path, config)  # nothing is retrained or reported twice
    assert again.returncode == 0 and "nothing to do" in again.stderr


def test_a_crashed_retrain_fails_its_label_with_the_end_of_its_output(tmp_path, sqlite_url):
    seed_feedback(sqlite_url, {"department": 40, "urgency": 40})
    config = write_config(tmp_path, sqlite_url, {"department": "crash", "urgency": "deployed"})
    done = run(tmp_path, config, "--json")
    assert done.returncode == 1, done.stderr
    labels = {entry["label"]: entry for entry in json.loads(done.stdout)["labels"]}
    assert labels["department"]["outcome"] == "failed"
    assert "exited with status 3" in labels["department"]["error"]
    assert "CUDA out of memory" in labels["department"]["error"]
    assert labels["urgency"]["outcome"] == "deployed"  # one label's failure is its own
    assert outputs(tmp_path)["failed"] == "department"


def test_a_retrain_that_publishes_no_result_fails_at_the_deadline(tmp_path, sqlite_url):
    seed_feedback(sqlite_url, {"department": 40})
    config = write_config(tmp_path, sqlite_url, {"department": "silent"}, retrain_deadline=1)
    done = run(tmp_path, config, "--json")
    assert done.returncode == 1, done.stderr
    (entry,) = json.loads(done.stdout)["labels"]
    assert entry["outcome"] == "failed"
    assert "published no result" in entry["error"] and "RETRAIN_DEADLINE 1s" in entry["error"]
    status = json.loads(run_cli({}, "status", "--config", str(config), "--json").stdout)[0]
    assert (status["state"], status["last_outcome"]) == ("idle", "failed")


def test_an_older_result_does_not_settle_the_new_retrain(tmp_path, sqlite_url):
    seed_feedback(sqlite_url, {"department": 40})
    config = write_config(tmp_path, sqlite_url, {"department": "stale"}, retrain_deadline=1)
    done = run(tmp_path, config, "--json")
    (entry,) = json.loads(done.stdout)["labels"]
    assert entry["outcome"] == "failed", done.stderr  # a rejection of "old-version" says nothing of this one


def test_without_a_result_a_finished_command_is_completed(tmp_path, sqlite_url):
    seed_feedback(sqlite_url, {"department": 40})
    config = write_config(tmp_path, sqlite_url, {"department": "deployed"}, result=False)
    done = run(tmp_path, config, "--json")
    assert done.returncode == 0, done.stderr
    (entry,) = json.loads(done.stdout)["labels"]
    assert entry["outcome"] == "retrain triggered" and "set result" in entry["retrain_reason"]
    status = json.loads(run_cli({}, "status", "--config", str(config), "--json").stdout)[0]
    assert status["last_outcome"] == "completed"


def test_a_malformed_result_is_a_warning_and_the_deadline_decides(tmp_path, sqlite_url):
    seed_feedback(sqlite_url, {"department": 40})
    config = write_config(tmp_path, sqlite_url, {"department": "silent"}, retrain_deadline=1)
    (tmp_path / "models" / "department").mkdir(parents=True)
    (tmp_path / "models" / "department" / "retrain_result.json").write_text('{"decision": "maybe"}')
    done = run(tmp_path, config, "--json")
    assert done.returncode == 1
    assert "retrain_result.json is malformed: dataset_version is missing; decision " in done.stderr


def test_a_result_whose_metric_is_not_a_number_is_malformed_not_a_perfect_score(tmp_path, sqlite_url):
    seed_feedback(sqlite_url, {"department": 40})
    config = write_config(tmp_path, sqlite_url, {"department": "silent"}, retrain_deadline=1)
    (tmp_path / "models" / "department").mkdir(parents=True)
    (tmp_path / "models" / "department" / "retrain_result.json").write_text(json.dumps(
        {"dataset_version": "department-v2", "decision": "deployed", "metrics": {"macro_f1": True}}))
    done = run(tmp_path, config, "--json")
    assert done.returncode == 1, done.stderr
    (entry,) = json.loads(done.stdout)["labels"]
    assert entry["outcome"] == "failed" and entry["metric"] is None  # not deployed with macro_f1 1.0000
    assert "retrain_result.json is malformed: metrics.macro_f1 must be a number, not true" in done.stderr


def test_a_retrain_space_is_followed_by_the_result_it_publishes(stub, sqlite_url):
    """The seed's variables plus RETRAIN_RESULT_DEPT: the Space, started by setting DATASET_VERSION,
    publishes retrain_result.json to its model repo, and the run learns "deployed" from it."""
    from conftest import seed_env

    seed_feedback(sqlite_url, {"department": 40, "urgency": 1})
    stub.on_restart("owner/prepare", lambda hub: hub.put_metadata("owner/dept_dataset", version_tag="v2", num_samples=500))

    def retrain_space(hub) -> None:  # what a retrain Space following the contract does when it starts
        version = hub.space_variables("owner/retrain_dept")["DATASET_VERSION"]
        hub.put_file("owner/dept_model", "retrain_result.json", json.dumps(
            {"dataset_version": version, "decision": "deployed", "metrics": {"accuracy": 0.91}}), repo_type="model")

    stub.on_restart("owner/retrain_dept", retrain_space, delay=0.3)
    env = seed_env(stub, sqlite_url, RETRAIN_RESULT_DEPT="hub:owner/dept_model")
    done = run_cli(env, "run", "--json")
    assert done.returncode == 0, done.stderr
    labels = {entry["label"]: entry for entry in json.loads(done.stdout)["labels"]}
    assert labels["department"]["outcome"] == "deployed"
    assert (labels["department"]["metric_name"], labels["department"]["metric"]) == ("accuracy", 0.91)
    assert stub.restarts("owner/retrain_dept") == 1
    # the result was read with conditional GETs: after the first 200, an unchanged file costs a 304
    reads = [r.status for r in stub.requests if r.path.endswith("/retrain_result.json")]
    assert reads and reads[-1] == 200 and set(reads) <= {200, 304, 404}


def test_a_space_without_a_result_is_not_followed(stub, sqlite_url):
    from conftest import seed_env

    seed_feedback(sqlite_url, {"department": 40, "urgency": 1})
    stub.on_restart("owner/prepare", lambda hub: hub.put_metadata("owner/dept_dataset", version_tag="v2", num_samples=500))
    done = run_cli(seed_env(stub, sqlite_url), "run", "--json")
    assert done.returncode == 0, done.stderr
    labels = {entry["label"]: entry for entry in json.loads(done.stdout)["labels"]}
    assert labels["department"]["outcome"] == "retrain triggered"  # as before: nothing to follow it by
    status = {r["label"]: r for r in json.loads(run_cli(seed_env(stub, sqlite_url), "status", "--json").stdout)}
    assert status["department"]["state"] == "idle"


def test_a_retrain_space_in_error_fails_its_label(stub, sqlite_url):
    from conftest import seed_env

    seed_feedback(sqlite_url, {"department": 40, "urgency": 1})
    stub.on_restart("owner/prepare", lambda hub: hub.put_metadata("owner/dept_dataset", version_tag="v2", num_samples=500))
    stub.on_restart("owner/retrain_dept", lambda hub: hub.set_stage("owner/retrain_dept", "RUNTIME_ERROR"), delay=0.3)
    env = seed_env(stub, sqlite_url, RETRAIN_RESULT_DEPT="hub:owner/dept_model")
    done = run_cli(env, "run", "--json")
    assert done.returncode == 1, done.stderr
    labels = {entry["label"]: entry for entry in json.loads(done.stdout)["labels"]}
    assert labels["department"]["outcome"] == "failed"
    assert "Space owner/retrain_dept is in stage RUNTIME_ERROR" in labels["department"]["error"]
