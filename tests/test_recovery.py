"""Exactly once across runs that crash, overlap, time out or do not wait: real processes, real HTTP,
real databases. Each scenario counts the restarts the Hub stand-in actually performed."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from conftest import CHECKOUT, run_cli, seed_env, seed_feedback
from sqlalchemy import text
from support.hubstub import HubStub

from orchestrator.remote.database import make_engine
from orchestrator.run.journal import CRASH_EXIT_CODE, CRASH_POINTS

LEASE = "1"


def publish(version: str = "2", samples: int = 500, labels=("dept", "urgency")):
    def do(hub: HubStub) -> None:
        if "dept" in labels:
            hub.put_metadata("owner/dept_dataset", version_tag=f"v{version}", num_samples=samples)
        if "urgency" in labels:
            hub.put_metadata("owner/urgency_dataset", version_tag=f"u{version}", num_samples=samples)

    return do


def restarts(stub: HubStub) -> tuple[int, int, int]:
    return stub.restarts("owner/prepare"), stub.restarts("owner/retrain_dept"), stub.restarts("owner/retrain_urgency")


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_a_crash_at_any_step_is_continued_not_repeated(stub, sqlite_url, point):
    stub.build_seconds = 30  # a restarted Space stays BUILDING: the evidence reconciliation looks for
    seed_feedback(sqlite_url, {"department": 40, "urgency": 40})
    stub.on_restart("owner/prepare", publish(), delay=0.1)
    env = seed_env(stub, sqlite_url, LOCK_LEASE=LEASE)
    crashed = run_cli({**env, "ORCHESTRATOR_CRASH_AT": point}, "run")
    assert crashed.returncode == CRASH_EXIT_CODE, crashed.stderr
    time.sleep(float(LEASE) + 0.3)  # the crashed run's lease runs out
    rerun = run_cli(env, "run")
    assert rerun.returncode == 0, rerun.stderr
    assert restarts(stub) == (1, 1, 1), rerun.stderr
    again = run_cli(env, "run")  # and nothing more happens afterwards
    assert again.returncode == 0 and "nothing to do" in again.stderr
    assert restarts(stub) == (1, 1, 1)


def test_a_dry_run_after_a_crash_shows_the_plan_and_the_unconfirmed_action(stub, sqlite_url):
    seed_feedback(sqlite_url, {"department": 40, "urgency": 1})
    env = seed_env(stub, sqlite_url, LOCK_LEASE=LEASE)
    crashed = run_cli({**env, "ORCHESTRATOR_CRASH_AT": "after_prepare_intent"}, "run")
    assert crashed.returncode == CRASH_EXIT_CODE, crashed.stderr
    dry = run_cli(env, "run", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "[department] pending: would check for up to 5s for a version newer than v1" in dry.stderr
    assert "[department] the prepare recorded by run" in dry.stderr and "is unconfirmed" in dry.stderr
    status = {r["label"]: r for r in json.loads(run_cli(env, "status", "--json").stdout)}
    assert status["department"]["plan"] == "pending" and "unconfirmed" in status["department"]["plan_reason"]
    assert restarts(stub) == (0, 0, 0)


def test_crash_recovery_on_postgres(stub, pg_url):
    stub.build_seconds = 30
    seed_feedback(pg_url, {"department": 40, "urgency": 40})
    stub.on_restart("owner/prepare", publish(), delay=0.1)
    env = seed_env(stub, pg_url, LOCK_LEASE=LEASE)
    for point in ("after_prepare_intent", "after_retrain_launch"):
        crashed = run_cli({**env, "ORCHESTRATOR_CRASH_AT": point}, "run")
        assert crashed.returncode == CRASH_EXIT_CODE, crashed.stderr
        time.sleep(float(LEASE) + 0.3)
    assert run_cli(env, "run").returncode == 0
    assert restarts(stub) == (1, 1, 1)


def test_a_crashed_runs_lock_blocks_only_until_its_lease_ends(stub, sqlite_url):
    seed_feedback(sqlite_url, {"department": 40, "urgency": 40})
    stub.on_restart("owner/prepare", publish(), delay=0.1)
    env = seed_env(stub, sqlite_url, LOCK_LEASE="6")  # long enough for the next run to start on a loaded machine
    assert run_cli({**env, "ORCHESTRATOR_CRASH_AT": "after_lock"}, "run").returncode == CRASH_EXIT_CODE
    crashed = time.monotonic()  # its lease was taken before this
    blocked = run_cli(env, "run")
    assert blocked.returncode == 0
    assert "another run holds the lock" in blocked.stderr
    assert restarts(stub) == (0, 0, 0)
    time.sleep(max(6.3 - (time.monotonic() - crashed), 0))
    assert run_cli(env, "run").returncode == 0
    assert restarts(stub) == (1, 1, 1)


def test_simultaneous_runs_trigger_each_action_once(stub, pg_url):
    seed_feedback(pg_url, {"department": 40, "urgency": 40})
    stub.on_restart("owner/prepare", publish(), delay=1.0)
    env = seed_env(stub, pg_url)
    import os

    base = {k: os.environ[k] for k in ("PATH", "HOME") if k in os.environ} | CHECKOUT
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "orchestrator", "run", "--json"],
            env={**base, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd="/",
        )
        for _ in range(4)
    ]
    outputs = [proc.communicate(timeout=90) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0, 0], [err for _, err in outputs]
    assert restarts(stub) == (1, 1, 1)
    skipped = [err for _, err in outputs if "another run holds the lock" in err]
    assert len(skipped) == 3
    summaries = [json.loads(out) for out, _ in outputs]
    assert sum(1 for s in summaries if s["notes"] and "another run holds the lock" in s["notes"][0]) == 3


def test_non_blocking_runs_cost_little_and_finish_the_cycle(stub, sqlite_url, tmp_path):
    seed_feedback(sqlite_url, {"department": 40, "urgency": 40})
    stub.on_restart("owner/prepare", publish(), delay=2.5)
    summary = tmp_path / "summary.md"
    env = seed_env(stub, sqlite_url, ORCHESTRATOR_WAIT="false", POLL_TIMEOUT="600", GITHUB_STEP_SUMMARY=str(summary))
    first = run_cli(env, "run", "--json")
    assert first.returncode == 0, first.stderr
    assert [label["outcome"] for label in json.loads(first.stdout)["labels"]] == ["pending", "pending"]
    assert restarts(stub) == (1, 0, 0)
    assert "| pending |" in summary.read_text()
    runs = 1
    while restarts(stub)[1:] != (1, 1) and runs < 12:
        time.sleep(0.5)
        done = run_cli(env, "run")
        assert done.returncode == 0, done.stderr
        runs += 1
    assert restarts(stub) == (1, 1, 1)
    assert runs >= 2  # it really had to come back: the first run left both labels pending
    metadata_gets = [r for r in stub.requests if "/resolve/" in r.path]
    assert any(r.status == 304 for r in metadata_gets)  # conditional GETs across runs (ETag kept in state)
    assert run_cli(env, "run").returncode == 0
    assert restarts(stub) == (1, 1, 1)


def test_blocking_timeout_leaves_the_label_pending_for_the_next_run(stub, sqlite_url):
    seed_feedback(sqlite_url, {"department": 40, "urgency": 40})
    stub.on_restart("owner/prepare", publish(), delay=2.0)
    env = seed_env(stub, sqlite_url, POLL_TIMEOUT="0.8", PREPARE_DEADLINE="60")
    first = run_cli(env, "run")
    assert first.returncode == 1
    assert "timed out" in first.stderr and "stays pending" in first.stderr
    time.sleep(1.7)
    second = run_cli(env, "run")
    assert second.returncode == 0, second.stderr
    assert restarts(stub) == (1, 1, 1)


def test_idle_runs_trigger_nothing_until_new_feedback_is_worth_a_dataset(stub, sqlite_url):
    seed_feedback(sqlite_url, {"department": 40, "urgency": 40})
    counter = iter(range(2, 100))
    stub.on_restart("owner/prepare", lambda hub: publish(str(next(counter)))(hub), delay=0.1)
    env = seed_env(stub, sqlite_url)
    assert run_cli(env, "run").returncode == 0
    assert restarts(stub) == (1, 1, 1)
    for _ in range(2):
        idle = run_cli(env, "run")
        assert idle.returncode == 0 and "nothing to do" in idle.stderr
    assert restarts(stub) == (1, 1, 1)
    # 15 new department corrections: dataset_len 22 < 30, not yet worth a dataset
    seed_feedback(sqlite_url, {"department": 15}, seed=1)
    still = run_cli(env, "run")
    assert "new_since_last_prepare=15" in still.stderr
    assert restarts(stub) == (1, 1, 1)
    seed_feedback(sqlite_url, {"department": 5}, seed=2)  # 20 new: 30 >= 30
    assert run_cli(env, "run").returncode == 0
    assert restarts(stub) == (2, 2, 1)


def test_cumulative_mode_keeps_the_seeds_behaviour(stub, sqlite_url):
    seed_feedback(sqlite_url, {"department": 40, "urgency": 2})
    counter = iter(range(2, 100))
    stub.on_restart("owner/prepare", lambda hub: publish(str(next(counter)))(hub), delay=0.1)
    env = seed_env(stub, sqlite_url, TRIGGER_MODE="cumulative")
    assert run_cli(env, "run").returncode == 0
    assert run_cli(env, "run").returncode == 0
    assert restarts(stub) == (2, 2, 0)


def test_an_overdue_prepare_fails_and_may_be_prepared_again(stub, sqlite_url):
    seed_feedback(sqlite_url, {"department": 40, "urgency": 2})
    env = seed_env(stub, sqlite_url, ORCHESTRATOR_WAIT="false", PREPARE_DEADLINE="1", GITHUB_ACTIONS="true")
    assert run_cli(env, "run").returncode == 0  # prepare requested; the dataset never comes
    time.sleep(1.3)
    overdue = run_cli(env, "run")
    assert overdue.returncode == 1
    assert "::error title=label department%3A expired::no new dataset" in overdue.stderr
    again = run_cli(env, "run")
    assert again.returncode == 0
    assert stub.restarts("owner/prepare") == 2


def test_a_dry_run_writes_no_state(stub, sqlite_url):
    seed_feedback(sqlite_url, {"department": 40, "urgency": 40})
    env = seed_env(stub, sqlite_url, ORCHESTRATOR_WAIT="false")
    assert run_cli(env, "run").returncode == 0  # leaves both labels pending
    engine = make_engine(sqlite_url)

    def snapshot():
        with engine.connect() as conn:
            return [
                conn.execute(text(f"SELECT * FROM {table} ORDER BY 1")).all()
                for table in ("orchestrator_runs", "orchestrator_label_state", "orchestrator_actions", "orchestrator_lock")
            ]

    before = snapshot()
    dry = run_cli(env, "run", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "[department] pending: would check once (non-blocking)" in dry.stderr
    assert snapshot() == before


def test_state_can_live_in_another_database(stub, sqlite_url, tmp_path):
    seed_feedback(sqlite_url, {"department": 40, "urgency": 40})
    stub.on_restart("owner/prepare", publish(), delay=0.1)
    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    done = run_cli(seed_env(stub, sqlite_url, STATE_DATABASE_URL=state_url), "run")
    assert done.returncode == 0, done.stderr
    with make_engine(sqlite_url).connect() as conn:
        tables = {row[0] for row in conn.execute(text("SELECT name FROM sqlite_master WHERE type='table'"))}
    assert not any(name.startswith("orchestrator_") for name in tables)
    with make_engine(state_url).connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM orchestrator_runs")).scalar_one() == 1
