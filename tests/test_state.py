"""The state store on real databases: migrations, the lease and its fencing, the action ledger."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from orchestrator.remote.database import make_engine
from orchestrator.state.records import Action, LabelState, Spent, utc_now
from orchestrator.state.store import HEAD, VERSION_TABLE, LostLease, StateStore, upgrade

REPO = Path(__file__).resolve().parents[1]


def test_head_matches_the_newest_migration():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(REPO / "orchestrator" / "state" / "migrations"))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD


def test_migrate_from_an_empty_database(db_url):
    store = StateStore(make_engine(db_url, immediate=True))
    assert store.schema_version() is None
    assert store.migrate() is True
    assert store.schema_version() == HEAD
    assert store.migrate() is False  # idempotent
    tables = set(inspect(store.engine).get_table_names())
    assert {"orchestrator_runs", "orchestrator_lock", "orchestrator_label_state", "orchestrator_actions", VERSION_TABLE} <= tables


def test_migrate_from_the_previous_schema_version_keeps_the_data(db_url):
    engine = make_engine(db_url)
    with engine.begin() as conn:
        upgrade(conn, "0001")
        conn.execute(
            text("INSERT INTO orchestrator_runs (id, started_at, status, dry_run) VALUES ('old', :t, 'ok', :f)"),
            {"t": utc_now(), "f": False},
        )
    store = StateStore(engine)
    assert store.schema_version() == "0001"
    assert store.migrate() is True
    assert store.schema_version() == HEAD
    (run,) = store.history()
    assert run["id"] == "old" and run["status"] == "ok" and run["mode"] is None
    assert store.acquire("me", 10) is not None  # the lock row of 0001 survived


def test_migrate_from_0002_keeps_label_states_and_adds_the_outcome_columns(db_url):
    """0003 upgrades a 0002 table in place: every label row survives, a label waiting for its dataset
    stays waiting, and the new outcome columns start empty."""
    engine = make_engine(db_url)
    with engine.begin() as conn:
        upgrade(conn, "0002")
        conn.execute(
            text(
                "INSERT INTO orchestrator_label_state (label, state, cursor, baseline_version, requested_at, "
                "last_retrained_version) VALUES ('department', 'prepare_requested', 40, 'v1', :t, 'v0'), "
                "('urgency', 'idle', 12, NULL, NULL, 'v7')"
            ),
            {"t": utc_now()},
        )
        conn.execute(
            text(
                "INSERT INTO orchestrator_actions (key, kind, labels, target, version, run_id, intent_at, result) "
                "VALUES ('retrain:urgency:v7', 'retrain', 'urgency', 'Space o/r', 'v7', 'old', :t, 'ok')"
            ),
            {"t": utc_now()},
        )
    store = StateStore(engine)
    assert store.schema_version() == "0002"
    columns = {c["name"] for c in inspect(engine).get_columns("orchestrator_label_state")}
    assert "last_outcome" not in columns
    assert store.migrate() is True
    assert store.schema_version() == HEAD and HEAD >= "0003"  # 0003's columns, and any later revision's
    states = store.labels()
    assert states["department"].state == "prepare_requested" and states["department"].cursor == 40
    assert states["department"].baseline_version == "v1" and states["department"].requested_at is not None
    assert states["urgency"].last_retrained_version == "v7"
    assert all(s.last_outcome is None and s.retrain_ref is None and s.last_metric is None for s in states.values())
    assert store.action("retrain:urgency:v7").result == "ok"  # the ledger is untouched: v7 is never retrained again
    lease = store.acquire("me", 60)  # and the new columns are written and read back
    with store.write(lease) as tx:
        tx.save(states["urgency"].with_(state="retraining", retrain_ref="owner/job1", retrain_started_at=utc_now()))
    with store.write(lease) as tx:
        tx.save(store.labels()["urgency"].with_(state="idle", last_outcome="deployed", last_metric=0.8125, last_metric_name="macro_f1"))
    urgency = store.labels()["urgency"]
    assert (urgency.last_outcome, urgency.last_metric, urgency.retrain_ref) == ("deployed", 0.8125, "owner/job1")
    assert urgency.retrain_started_at is not None and urgency.retrain_started_at.tzinfo is not None


def test_migrate_from_0003_widens_the_ledger_and_adds_the_prepare_columns(db_url):
    """0004 upgrades a 0003 database in place: the ledger then holds any number of labels and any target,
    label rows survive, and the new prepare columns start empty."""
    engine = make_engine(db_url)
    with engine.begin() as conn:
        upgrade(conn, "0003")
        conn.execute(
            text("INSERT INTO orchestrator_label_state (label, state, cursor, last_outcome) "
                 "VALUES ('department', 'idle', 40, 'deployed')")
        )
    store = StateStore(engine)
    assert store.migrate() is True and store.schema_version() == HEAD and HEAD >= "0004"  # and any later revision's
    department = store.labels()["department"]
    assert (department.cursor, department.last_outcome, department.prepare_ref, department.prepare_failed_at) == (
        40, "deployed", None, None)
    names = tuple(f"topic_{i:03d}_{'x' * 30}" for i in range(100))  # 4,000 characters of labels
    target = "command " + " ".join(["--an-argument"] * 100)
    lease = store.acquire("me", 60)
    with store.write(lease) as tx:
        assert tx.intent(Action("prepare", names, "prepare:r1:digest", target=target), run_id="r1")
    assert store.action("prepare:r1:digest").labels == names and store.action("prepare:r1:digest").target == target


def test_migrate_from_0004_adds_the_trigger_baselines(db_url):
    """0005 upgrades a 0004 database in place: label rows survive with empty trigger baselines (the error rate of a
    label prepared before it is measured over all its feedback until its next prepare), and the new columns are
    written and read back, times with their time zone."""
    engine = make_engine(db_url)
    with engine.begin() as conn:
        upgrade(conn, "0004")
        conn.execute(text("INSERT INTO orchestrator_label_state (label, state, cursor, prepare_failed_at) "
                          "VALUES ('department', 'idle', 40, 12)"))
    store = StateStore(engine)
    assert store.schema_version() == "0004"
    assert store.migrate() is True and store.schema_version() == HEAD and HEAD >= "0005"
    department = store.labels()["department"]
    assert (department.cursor, department.prepare_failed_at) == (40, 12)
    assert (department.pending_reviewed, department.reviewed_cursor, department.prepared_at, department.first_seen_at) == (
        None, None, None, None)
    seen, prepared = utc_now() - timedelta(days=40), utc_now() - timedelta(days=31)
    with store.write(store.acquire("me", 60)) as tx:
        tx.save(department.with_(pending_reviewed=300, reviewed_cursor=250, prepared_at=prepared, first_seen_at=seen))
    department = store.labels()["department"]
    assert (department.pending_reviewed, department.reviewed_cursor) == (300, 250)
    assert department.prepared_at == prepared and department.prepared_at.tzinfo is not None
    assert department.first_seen_at == seen and department.first_seen_at.tzinfo is not None


def test_migrate_from_0005_adds_the_outcome_and_cost_of_each_action(db_url):
    """0006 upgrades a 0005 ledger in place: its actions survive with no outcome and no cost (they count for nothing
    in the cost per deploy), and an ended action's outcome, time and cost are written and read back."""
    engine = make_engine(db_url)
    with engine.begin() as conn:
        upgrade(conn, "0005")
        conn.execute(
            text("INSERT INTO orchestrator_actions (key, kind, labels, target, version, run_id, intent_at, result) "
                 "VALUES ('retrain:department:v7', 'retrain', 'department', 'HF Job x (a10g-small)', 'v7', 'old', :t, 'ok')"),
            {"t": utc_now()},
        )
    store = StateStore(engine)
    assert store.schema_version() == "0005"
    assert store.migrate() is True and store.schema_version() == HEAD and HEAD >= "0006"
    (old,) = store.actions(label="department")
    assert (old.key, old.result, old.outcome, old.ended_at, old.cost_seconds, old.cost_usd, old.cost_basis) == (
        "retrain:department:v7", "ok", None, None, None, None, None)
    ended = utc_now()
    with store.write(store.acquire("me", 60)) as tx:
        tx.ended(old.ended("rejected", Spent(412.0, 0.1144, "HF Job 412 s on a10g-small at $1.00/h"), ended))
    (back,) = store.actions(label="department")
    assert (back.outcome, back.cost_seconds, back.cost_usd, back.cost_basis) == (
        "rejected", 412.0, 0.1144, "HF Job 412 s on a10g-small at $1.00/h")
    assert back.ended_at == ended and back.ended_at.tzinfo is not None
    assert store.actions(label="depart") == [] and store.actions(label="department_x") == []  # labels match whole


def test_lease_is_exclusive_until_released_or_expired(db_url):
    store = StateStore(make_engine(db_url, immediate=True))
    store.migrate()
    first = store.acquire("first", 60)
    assert first is not None and first.fence == 1
    assert store.acquire("second", 60) is None
    store.release(first)
    second = store.acquire("second", 0.5)
    assert second is not None and second.fence == 2
    assert store.acquire("third", 60) is None
    time.sleep(0.7)  # the holder "crashed": its lease runs out
    third = store.acquire("third", 60)
    assert third is not None and third.fence == 3


def test_a_run_that_lost_its_lease_cannot_write(db_url):
    store = StateStore(make_engine(db_url, immediate=True))
    store.migrate()
    stale = store.acquire("stale", 0.3)
    time.sleep(0.5)
    fresh = store.acquire("fresh", 60)
    assert fresh is not None
    with pytest.raises(LostLease):
        with store.write(stale) as tx:
            tx.save(LabelState("department", cursor=99))
    assert store.labels() == {}  # the stale write was rolled back
    with store.write(fresh) as tx:
        tx.save(LabelState("department", cursor=5))
    assert store.labels()["department"].cursor == 5


def test_writes_extend_the_lease(db_url):
    clock = [utc_now()]
    store = StateStore(make_engine(db_url, immediate=True), clock=lambda: clock[0])
    store.migrate()
    lease = store.acquire("me", 60)
    clock[0] += timedelta(seconds=50)
    store.renew(lease)
    clock[0] += timedelta(seconds=50)  # 100 s after acquiring, but only 50 after the renewal
    assert store.acquire("other", 60) is None
    clock[0] += timedelta(seconds=11)
    assert store.acquire("other", 60) is not None


def test_an_idempotency_key_is_recorded_once(db_url):
    store = StateStore(make_engine(db_url, immediate=True))
    store.migrate()
    lease = store.acquire("me", 60)
    with store.write(lease) as tx:
        assert tx.intent(Action("retrain", ("department",), "retrain:department:v2", "v2", "Space o/r"), run_id="r1")
    with store.write(lease) as tx:
        assert not tx.intent(Action("retrain", ("department",), "retrain:department:v2", "v2", "Space o/r"), run_id="r2")
    (pending,) = store.unfinished()
    assert (pending.key, pending.version, pending.run_id, pending.result) == ("retrain:department:v2", "v2", "r1", None)
    with store.write(lease) as tx:
        tx.result("retrain:department:v2", "failed", "boom")
        tx.forget("retrain:department:v2")  # a failed launch frees its key for the next try
        assert tx.intent(Action("retrain", ("department",), "retrain:department:v2", "v2", "Space o/r"), run_id="r3")
        tx.result("retrain:department:v2", "ok")
        tx.forget("retrain:department:v2")  # a successful one never does
    assert store.action("retrain:department:v2").result == "ok"
    assert store.unfinished() == []


def test_concurrent_first_runs_migrate_once(pg_url):
    """Several processes creating the tables at once on PostgreSQL: all succeed, one schema."""
    import subprocess
    import sys

    code = "import sys; from orchestrator.remote.database import make_engine; from orchestrator.state.store import StateStore; " \
           "print(StateStore(make_engine(sys.argv[1])).migrate())"
    procs = [subprocess.Popen([sys.executable, "-c", code, pg_url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outputs
    assert sorted(out.strip() for out, _ in outputs).count("True") == 1
    assert StateStore(make_engine(pg_url)).schema_version() == HEAD


def test_a_deleted_lock_row_is_put_back(db_url):
    store = StateStore(make_engine(db_url, immediate=True))
    store.migrate()
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM orchestrator_lock"))
    assert store.holder() == (None, None)
    lease = store.acquire("me", 60)
    assert lease is not None and lease.fence == 1
    assert store.acquire("other", 60) is None
