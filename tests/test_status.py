"""``orchestrator status`` and ``orchestrator history`` on a loop that really ran."""

from __future__ import annotations

import json

from conftest import run_cli, seed_env, seed_feedback


def test_status_and_history_follow_the_loop(stub, sqlite_url):
    seed_feedback(sqlite_url, {"department": 40, "urgency": 10})
    env = seed_env(stub, sqlite_url, ORCHESTRATOR_WAIT="false")

    before = json.loads(run_cli(env, "status", "--json").stdout)
    assert [(r["label"], r["corrections"], r["dataset_len"], r["would_fire"], r["state"]) for r in before] == [
        ("department", 40, 60, True, "idle"),
        ("urgency", 10, 15, False, "idle"),
    ]
    assert [r["plan"] for r in before] == ["fire", "skip"]  # the planner's step, as a run would take it
    assert run_cli(env, "history").stdout.strip() == "no runs recorded yet"

    assert run_cli(env, "run").returncode == 0  # prepare triggered; department now waits for its dataset
    pending = {r["label"]: r for r in json.loads(run_cli(env, "status", "--json").stdout)}
    assert pending["department"]["state"] == "prepare_requested"
    assert pending["department"]["previous_version"] == "v1"
    assert pending["department"]["would_fire"] is False  # a waiting label is not prepared again
    assert pending["department"]["plan"] == "pending"
    assert "waiting for a dataset newer than v1" in pending["department"]["plan_reason"]
    assert pending["department"]["last_run"]["status"] == "ok"

    stub.put_metadata("owner/dept_dataset", version_tag="v2", num_samples=100)
    assert run_cli(env, "run").returncode == 0
    after = {r["label"]: r for r in json.loads(run_cli(env, "status", "--json").stdout)}
    assert after["department"]["state"] == "idle"
    assert after["department"]["last_retrained_version"] == "v2"
    assert after["department"]["new_since_last_prepare"] == 0

    table = run_cli(env, "status").stdout
    assert "department  40" in table and "v2" in table

    runs = json.loads(run_cli(env, "history", "--json").stdout)
    assert len(runs) == 2
    newest, oldest = runs
    assert oldest["labels"]["department"]["outcome"] == "pending"
    assert newest["labels"]["department"] == {
        "decision": "pending", "corrections": 40, "outcome": "retrain triggered",
        "old_version": "v1", "new_version": "v2", "error": None, "hint": None,
        "retrain_reason": None, "metric": None, "metric_name": None,  # a Space without a result: not followed
    }
    only = json.loads(run_cli(env, "history", "--label", "urgency", "--limit", "1", "--json").stdout)
    assert len(only) == 1 and list(only[0]["labels"]) == ["urgency"]
    text = run_cli(env, "history").stdout
    assert "department: pending → retrain triggered (v1 → v2)" in text


def test_history_rejects_an_unknown_label(stub, sqlite_url):
    seed_feedback(sqlite_url, {})
    done = run_cli(seed_env(stub, sqlite_url), "history", "--label", "colour")
    assert done.returncode == 2
    assert "unknown label 'colour'" in done.stderr and "department, urgency" in done.stderr


def test_status_with_the_database_down_is_a_clear_error(stub):
    done = run_cli(seed_env(stub, "postgresql+psycopg://u:" + "Pw-xyz-123" + "@127.0.0.1:1/db"), "status")
    assert done.returncode == 3
    assert "cannot connect to the database" in done.stderr and "Pw-xyz-123" not in done.stderr
