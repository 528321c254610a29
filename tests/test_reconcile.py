"""Reconciling actions whose outcome a run could not confirm: never lost, never blindly repeated.

Real processes, the Hub stand-in and SQLite; each scenario counts the restarts the stand-in performed.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta

from conftest import CHECKOUT, run_cli, seed_env, seed_feedback
from sqlalchemy import text
from support.hubstub import HubStub

from orchestrator.remote.database import make_engine
from orchestrator.run.journal import CRASH_EXIT_CODE


def publish(hub: HubStub) -> None:
    hub.put_metadata("owner/dept_dataset", version_tag="v2", num_samples=500)


def restarts(stub: HubStub) -> tuple[int, int]:
    return stub.restarts("owner/prepare"), stub.restarts("owner/retrain_dept")


def age_intents(url: str, seconds: float) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        rows = conn.execute(text("SELECT id, intent_at FROM orchestrator_actions WHERE result IS NULL")).all()
        for row_id, intent_at in rows:
            older = (intent_at if not isinstance(intent_at, str) else __import__("datetime").datetime.fromisoformat(intent_at))
            conn.execute(
                text("UPDATE orchestrator_actions SET intent_at = :t WHERE id = :i"),
                {"t": older - timedelta(seconds=seconds), "i": row_id},
            )
    engine.dispose()


def test_an_old_unconfirmed_retrain_is_sent_again_not_lost(stub, sqlite_url):
    """Crash between recording a retrain and sending it, noticed more than a minute later: the Space
    shows nothing either way, so the retrain is sent (a lost retrain would go unnoticed)."""
    seed_feedback(sqlite_url, {"department": 40, "urgency": 1})
    stub.on_restart("owner/prepare", publish, delay=0.1)
    env = seed_env(stub, sqlite_url, LOCK_LEASE="1")
    assert run_cli({**env, "ORCHESTRATOR_CRASH_AT": "after_retrain_intent"}, "run").returncode == CRASH_EXIT_CODE
    age_intents(sqlite_url, 600)
    time.sleep(1.3)
    rerun = run_cli(env, "run")
    assert rerun.returncode == 0, rerun.stderr
    assert "cannot tell whether it happened: sending it now" in rerun.stderr
    assert restarts(stub) == (1, 1)
    assert run_cli(env, "run").returncode == 0
    assert restarts(stub) == (1, 1)


def test_a_failed_resend_returns_the_label_to_dataset_ready_and_a_later_run_retrains(stub, sqlite_url):
    stub.add_space("owner/retrain_dept", variables={"DATASET_VERSION": "v2"})  # already on v2: restarted explicitly
    time.sleep(3)  # set well before the intent: no evidence that the retrain was sent
    seed_feedback(sqlite_url, {"department": 40, "urgency": 1})
    stub.on_restart("owner/prepare", publish, delay=0.1)
    env = seed_env(stub, sqlite_url, LOCK_LEASE="1")
    assert run_cli({**env, "ORCHESTRATOR_CRASH_AT": "after_retrain_intent"}, "run").returncode == CRASH_EXIT_CODE
    time.sleep(1.3)
    stub.fail("POST", r"/api/spaces/owner/retrain_dept/restart", 403)
    refused = run_cli(env, "run", "--json")
    assert refused.returncode == 1
    department = json.loads(refused.stdout)["labels"][0]
    assert department["outcome"] == "failed" and "forbidden" in department["error"]
    status = {r["label"]: r for r in json.loads(run_cli(env, "status", "--json").stdout)}
    assert status["department"]["state"] == "dataset_ready"
    fixed = run_cli(env, "run")
    assert fixed.returncode == 0, fixed.stderr
    assert restarts(stub) == (1, 1)
    assert json.loads(run_cli(env, "status", "--json").stdout)[0]["state"] == "idle"


def test_a_refused_dataset_version_fails_the_label_and_restarts_nothing(stub, sqlite_url):
    seed_feedback(sqlite_url, {"department": 40, "urgency": 1})
    stub.on_restart("owner/prepare", publish, delay=0.1)
    stub.fail("POST", r"/api/spaces/owner/retrain_dept/variables", 403)
    env = seed_env(stub, sqlite_url)
    refused = run_cli(env, "run", "--json")
    assert refused.returncode == 1
    department = json.loads(refused.stdout)["labels"][0]
    assert department["outcome"] == "failed" and "setting DATASET_VERSION on Space owner/retrain_dept" in department["error"]
    assert restarts(stub) == (1, 0)
    assert run_cli(env, "run").returncode == 0  # the next run sets it, which restarts the Space once
    assert restarts(stub) == (1, 1)
    assert stub.space_variables("owner/retrain_dept") == {"DATASET_VERSION": "v2"}


def test_a_dataset_version_set_that_got_no_answer_is_checked_not_repeated(stub, sqlite_url):
    """Setting the variable restarts the Space, so a try that got no answer is not repeated: the next run
    finds the variable set to the version after its intent, and records the retrain as sent."""
    stub.build_seconds = 0  # the restart is over at once: only the variable can tell
    seed_feedback(sqlite_url, {"department": 40, "urgency": 1})
    stub.on_restart("owner/prepare", publish, delay=0.1)
    stub.delay("POST", r"/api/spaces/owner/retrain_dept/variables", 2.5)
    env = seed_env(stub, sqlite_url, HTTP_TIMEOUT="1")
    first = run_cli(env, "run")
    assert first.returncode == 1
    assert "whether the retrain started is checked on the next run" in first.stderr
    time.sleep(2)  # the delayed request has now been handled: the Space restarted
    assert restarts(stub) == (1, 1)
    second = run_cli(env, "run")
    assert second.returncode == 0, second.stderr
    assert "it is under way" in second.stderr
    assert restarts(stub) == (1, 1)
    assert [r.path for r in stub.requests if r.method == "POST"].count("/api/spaces/owner/retrain_dept/variables") == 1


def test_a_retrain_that_got_no_answer_is_checked_not_repeated(stub, sqlite_url):
    """The retrain POST times out but the Space did restart: the next run sees it building."""
    stub.add_space("owner/retrain_dept", variables={"DATASET_VERSION": "v2"})  # already on v2: restarted explicitly
    stub.build_seconds = 30
    seed_feedback(sqlite_url, {"department": 40, "urgency": 1})
    stub.on_restart("owner/prepare", publish, delay=0.1)
    stub.delay("POST", r"/api/spaces/owner/retrain_dept/restart", 2.5)
    env = seed_env(stub, sqlite_url, HTTP_TIMEOUT="1")
    first = run_cli(env, "run")
    assert first.returncode == 1
    assert "whether the retrain started is checked on the next run" in first.stderr
    time.sleep(2)  # the delayed restart has now happened
    assert restarts(stub) == (1, 1)
    second = run_cli(env, "run")
    assert second.returncode == 0, second.stderr
    assert "it is under way" in second.stderr
    assert restarts(stub) == (1, 1)


def test_a_crashed_runs_row_is_marked_crashed(stub, sqlite_url):
    seed_feedback(sqlite_url, {"department": 1, "urgency": 1})
    env = seed_env(stub, sqlite_url, LOCK_LEASE="1")
    assert run_cli({**env, "ORCHESTRATOR_CRASH_AT": "after_lock"}, "run").returncode == CRASH_EXIT_CODE
    time.sleep(1.3)
    assert run_cli(env, "run").returncode == 0
    runs = json.loads(run_cli(env, "history", "--json").stdout)
    assert [run["status"] for run in runs] == ["ok", "crashed"]


def test_a_dry_run_creates_no_state_database(stub, sqlite_url, tmp_path):
    seed_feedback(sqlite_url, {"department": 40, "urgency": 1})
    state = tmp_path / "state.db"
    done = run_cli(seed_env(stub, sqlite_url, STATE_DATABASE_URL=f"sqlite:///{state}"), "run", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert not state.exists()


def test_a_cancelled_run_gives_its_lock_back(stub, sqlite_url):
    """SIGTERM (a cancelled CI job) during a blocking wait: exit 130, and the next run is not locked out."""
    import os
    import signal
    import subprocess
    import sys

    seed_feedback(sqlite_url, {"department": 40, "urgency": 1})
    env = seed_env(stub, sqlite_url, POLL_TIMEOUT="60", LOCK_LEASE="300")
    base = {k: os.environ[k] for k in ("PATH", "HOME") if k in os.environ} | CHECKOUT
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "run"], env={**base, **env}, stderr=subprocess.PIPE, text=True, cwd="/"
    )
    deadline = time.monotonic() + 20
    while stub.restarts("owner/prepare") == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)  # now waiting for the dataset
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    stub.put_metadata("owner/dept_dataset", version_tag="v2", num_samples=500)
    after = run_cli(env, "run")
    assert after.returncode == 0, after.stderr
    assert "another run holds the lock" not in after.stderr
    assert restarts(stub) == (1, 1)
