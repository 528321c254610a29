"""The orchestrator's own tables: run audit, per-label state machine, action ledger and the lease.

They live in ``STATE_DATABASE_URL`` (default: ``DATABASE_URL``'s database), are created and upgraded
automatically by Alembic (``orchestrator/state/migrations``), and work on PostgreSQL and SQLite.

- **Lease.** One row, ``orchestrator_lock``: an owner, an expiry and a fence number that grows with
  every acquisition. Every state write re-checks owner and fence in its own transaction (and extends
  the lease), so a run that lost its lease can never overwrite the newer holder's state. A crashed
  run blocks others for at most one lease.
- **Ledger.** ``orchestrator_actions`` records each external action's *intent* (before the call) and
  *result* (after) under an idempotency key that is unique in the table: ``retrain:<label>:<version>``
  can therefore be recorded once, ever. A launched prepare or retrain is also marked when it *ended*: how (a
  retrain's outcome), when, and what it cost.
- **Label state.** ``orchestrator_label_state``: one row per label, a
  :class:`~orchestrator.state.records.LabelState`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    inspect,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from ..errors import OrchestratorError
from ..remote.database import translate_errors
from .records import Action, LabelState, Lease, aware, utc_now

VERSION_TABLE = "orchestrator_schema_version"
HEAD = "0006"  # the newest revision in orchestrator/state/migrations/versions (a test keeps them in step)
LOCK_NAME = "cycle"
_PG_MIGRATION_LOCK = 0x6F726368  # "orch": serialises concurrent first runs creating the tables

metadata = MetaData()
runs = Table(
    "orchestrator_runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("status", String(20), nullable=False),
    Column("exit_code", Integer),
    Column("dry_run", Boolean, nullable=False),
    Column("summary", Text),
    Column("mode", String(16)),
)
lock = Table(
    "orchestrator_lock",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("owner", String(64)),
    Column("fence", BigInteger, nullable=False),
    Column("expires_at", DateTime(timezone=True)),
)
label_state = Table(
    "orchestrator_label_state",
    metadata,
    Column("label", String(40), primary_key=True),
    Column("state", String(24), nullable=False),
    Column("cursor", Integer, nullable=False),
    Column("pending_corrections", Integer),
    Column("required", Integer),
    Column("baseline_version", String(255)),
    Column("etag", String(255)),
    Column("dataset_version", String(255)),
    Column("requested_at", DateTime(timezone=True)),
    Column("last_retrained_version", String(255)),
    Column("last_run_id", String(32)),
    Column("last_error", Text),
    Column("updated_at", DateTime(timezone=True)),
    Column("retrain_ref", String(255)),
    Column("retrain_started_at", DateTime(timezone=True)),
    Column("result_etag", String(255)),
    Column("last_outcome", String(16)),
    Column("last_outcome_reason", Text),
    Column("last_outcome_at", DateTime(timezone=True)),
    Column("last_metric", Float),
    Column("last_metric_name", String(64)),
    Column("prepare_ref", String(255)),
    Column("prepare_failed_at", Integer),
    Column("prepare_outcome", String(16)),
    Column("model_marker", Text),
    Column("pending_reviewed", Integer),
    Column("reviewed_cursor", Integer),
    Column("prepared_at", DateTime(timezone=True)),
    Column("first_seen_at", DateTime(timezone=True)),
)
actions = Table(
    "orchestrator_actions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(512), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("labels", Text, nullable=False),
    Column("target", Text, nullable=False),
    Column("version", String(255)),
    Column("run_id", String(32), nullable=False),
    Column("intent_at", DateTime(timezone=True), nullable=False),
    Column("result", String(16)),
    Column("result_at", DateTime(timezone=True)),
    Column("detail", Text),
    Column("outcome", String(24)),
    Column("ended_at", DateTime(timezone=True)),
    Column("cost_seconds", Float),
    Column("cost_usd", Float),
    Column("cost_basis", Text),
)


class LostLease(OrchestratorError):
    """Another run took the lease over (ours expired): stop writing at once."""



@dataclass
class StateStore:
    """The orchestrator's tables on one engine: migrations, the lease, fenced writes (:meth:`write`), and
    the reads behind ``status`` and ``history``."""

    engine: Engine
    clock: Any = field(default=utc_now)

    # ---------------------------------------------------------------------------------- schema
    def schema_version(self, conn: Connection | None = None) -> str | None:
        if conn is None:
            with translate_errors(self.engine, "reading the state schema"), self.engine.connect() as conn:
                return self.schema_version(conn)
        if not inspect(conn).has_table(VERSION_TABLE):
            return None
        version = Table(VERSION_TABLE, MetaData(), Column("version_num", String(32)))
        return conn.execute(select(version.c.version_num)).scalar()

    def migrate(self) -> bool:
        """Create or upgrade the tables to :data:`HEAD`; True if anything changed.

        Safe when several runs start at once on a fresh database: on PostgreSQL they queue on an
        advisory transaction lock, on SQLite on the database's write lock.
        """
        if self.schema_version() == HEAD:
            return False
        with translate_errors(self.engine, "creating the orchestrator's tables"), self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(select(func.pg_advisory_xact_lock(_PG_MIGRATION_LOCK)))
            if self.schema_version(conn) == HEAD:
                return False
            upgrade(conn, HEAD)
        return True

    # ---------------------------------------------------------------------------------- lease
    def acquire(self, owner: str, ttl: float) -> Lease | None:
        """Take the lease if it is free or expired; None if another run holds it."""
        now = self.clock()
        with translate_errors(self.engine, "taking the run lock"), self.engine.begin() as conn:
            if conn.execute(select(lock.c.name).where(lock.c.name == LOCK_NAME)).first() is None:
                try:  # someone deleted the row to "clear" the lock: put it back
                    with conn.begin_nested():
                        conn.execute(insert(lock).values(name=LOCK_NAME, owner=None, fence=0, expires_at=None))
                except IntegrityError:
                    pass  # another run put it back first
            taken = conn.execute(
                update(lock)
                .where(lock.c.name == LOCK_NAME, or_(lock.c.owner.is_(None), lock.c.expires_at < now))
                .values(owner=owner, fence=lock.c.fence + 1, expires_at=now + timedelta(seconds=ttl))
            ).rowcount
            if taken != 1:
                return None
            fence = conn.execute(select(lock.c.fence).where(lock.c.name == LOCK_NAME)).scalar_one()
        return Lease(owner, int(fence), ttl)

    def holder(self) -> tuple[str | None, datetime | None]:
        with translate_errors(self.engine, "reading the run lock"), self.engine.connect() as conn:
            row = conn.execute(select(lock.c.owner, lock.c.expires_at).where(lock.c.name == LOCK_NAME)).first()
        return (row.owner, aware(row.expires_at)) if row else (None, None)

    def renew(self, lease: Lease) -> None:
        with self.write(lease):
            pass

    def release(self, lease: Lease) -> None:
        with translate_errors(self.engine, "releasing the run lock"), self.engine.begin() as conn:
            conn.execute(
                update(lock)
                .where(lock.c.name == LOCK_NAME, lock.c.owner == lease.owner, lock.c.fence == lease.fence)
                .values(owner=None, expires_at=None)
            )

    @contextlib.contextmanager
    def write(self, lease: Lease | None) -> Iterator[Writer]:
        """One transaction of state writes, fenced by ``lease`` (which it also extends)."""
        with translate_errors(self.engine, "writing the orchestrator's state"), self.engine.begin() as conn:
            if lease is not None:
                now = self.clock()
                held = conn.execute(
                    update(lock)
                    .where(lock.c.name == LOCK_NAME, lock.c.owner == lease.owner, lock.c.fence == lease.fence)
                    .values(expires_at=now + timedelta(seconds=lease.ttl))
                ).rowcount
                if held != 1:
                    raise LostLease(
                        "this run's lock expired and another run took over; it stops without writing",
                        hint="raise LOCK_LEASE above the longest pause between two polls",
                    )
            yield Writer(conn, self.clock)

    # ---------------------------------------------------------------------------------- reads
    def labels(self) -> dict[str, LabelState]:
        with translate_errors(self.engine, "reading the label states"), self.engine.connect() as conn:
            rows = conn.execute(select(label_state)).mappings().all()
        return {row["label"]: _label_state(row) for row in rows}

    def unfinished(self, kinds: tuple[str, ...] = ("prepare", "retrain")) -> list[Action]:
        """Intents without a result: what a crashed run may or may not have done (a run settles its prepares and
        retrains; ``orchestrator promote`` its promotions)."""
        with translate_errors(self.engine, "reading the action ledger"), self.engine.connect() as conn:
            query = select(actions).where(actions.c.result.is_(None), actions.c.kind.in_(kinds)).order_by(actions.c.id)
            rows = conn.execute(query).mappings()
            return [_action(row) for row in rows]

    def action(self, key: str) -> Action | None:
        with translate_errors(self.engine, "reading the action ledger"), self.engine.connect() as conn:
            row = conn.execute(select(actions).where(actions.c.key == key)).mappings().first()
        return _action(row) if row else None

    def actions(self, *, label: str | None = None, kinds: tuple[str, ...] = ("prepare", "retrain", "promote")) -> list[Action]:
        """The ledger's actions of ``kinds`` in the order they were recorded; with ``label``, those it was one of the
        labels of."""
        query = select(actions).where(actions.c.kind.in_(kinds)).order_by(actions.c.id)
        if label is not None:  # labels are stored comma-separated: narrowed here, matched exactly below
            query = query.where(actions.c.labels.contains(label, autoescape=True))
        with translate_errors(self.engine, "reading the action ledger"), self.engine.connect() as conn:
            found = [_action(row) for row in conn.execute(query).mappings()]
        return [action for action in found if label is None or label in action.labels]

    def history(self, *, limit: int = 20) -> list[dict[str, Any]]:
        with translate_errors(self.engine, "reading the run history"), self.engine.connect() as conn:
            rows = conn.execute(select(runs).order_by(runs.c.started_at.desc()).limit(limit)).mappings().all()
        history = []
        for row in rows:
            entry = dict(row)
            entry["started_at"] = aware(entry["started_at"])
            entry["finished_at"] = aware(entry["finished_at"])
            entry["summary"] = json.loads(entry["summary"]) if entry["summary"] else None
            history.append(entry)
        return history


class Writer:
    """The writes of one fenced transaction."""

    def __init__(self, conn: Connection, clock: Any) -> None:
        self.conn = conn
        self.clock = clock

    def save(self, state: LabelState) -> LabelState:
        state = state.with_(updated_at=self.clock())
        values = asdict(state)
        exists = self.conn.execute(select(label_state.c.label).where(label_state.c.label == state.label)).first()
        if exists:
            self.conn.execute(update(label_state).where(label_state.c.label == state.label).values(**values))
        else:
            self.conn.execute(insert(label_state).values(**values))
        return state

    def intent(self, action: Action, *, run_id: str) -> bool:
        """Record that ``action`` is about to be sent by run ``run_id``; False if its key was recorded before.

        Runs hold the lease, so check-then-insert is safe; the unique key is the last line of defence.
        """
        if self.conn.execute(select(actions.c.id).where(actions.c.key == action.key)).first():
            return False
        self.conn.execute(
            insert(actions).values(
                key=action.key, kind=action.kind, labels=",".join(action.labels), target=action.target,
                version=action.version, run_id=run_id, intent_at=self.clock(),
            )
        )
        return True

    def result(self, key: str, result: str, detail: str | None = None) -> None:
        self.conn.execute(
            update(actions).where(actions.c.key == key).values(result=result, result_at=self.clock(), detail=detail)
        )

    def ended(self, action: Action) -> None:
        """Record that the launched ``action`` ended: how, when, and what it cost (its :meth:`Action.ended` fields)."""
        self.conn.execute(
            update(actions).where(actions.c.key == action.key).values(
                outcome=action.outcome, ended_at=action.ended_at, cost_seconds=action.cost_seconds,
                cost_usd=action.cost_usd, cost_basis=action.cost_basis,
            )
        )

    def forget(self, key: str) -> None:
        """Drop a failed action's record so that the same key may be tried again."""
        self.conn.execute(delete(actions).where(actions.c.key == key, actions.c.result == "failed"))

    def start_run(self, run_id: str, *, dry_run: bool, mode: str) -> None:
        self.conn.execute(
            insert(runs).values(id=run_id, started_at=self.clock(), status="running", dry_run=dry_run, mode=mode)
        )

    def mark_crashed(self, current_run: str) -> None:
        """Runs still marked running while this one holds the lease died without finishing."""
        self.conn.execute(
            update(runs).where(runs.c.status == "running", runs.c.id != current_run).values(status="crashed")
        )

    def finish_run(self, run_id: str, *, status: str, exit_code: int, summary: dict[str, Any]) -> None:
        self.conn.execute(
            update(runs)
            .where(runs.c.id == run_id)
            .values(finished_at=self.clock(), status=status, exit_code=exit_code, summary=json.dumps(summary))
        )


def upgrade(conn: Connection, revision: str) -> None:
    """Run Alembic's upgrade to ``revision`` on ``conn``, inside its open transaction."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "orchestrator.state:migrations")
    config.attributes["connection"] = conn
    command.upgrade(config, revision)


_LABEL_FIELDS = {f.name for f in fields(LabelState)}


def _label_state(row: Any) -> LabelState:
    values = {k: v for k, v in dict(row).items() if k in _LABEL_FIELDS}
    for key in ("requested_at", "updated_at", "retrain_started_at", "last_outcome_at", "prepared_at", "first_seen_at"):
        values[key] = aware(values.get(key))
    return LabelState(**values)


def _action(row: Any) -> Action:
    values = dict(row)
    values.pop("id", None)
    values["labels"] = tuple(values["labels"].split(",")) if values["labels"] else ()
    values["intent_at"] = aware(values["intent_at"])
    values["result_at"] = aware(values["result_at"])
    values["ended_at"] = aware(values["ended_at"])
    return Action(**values)
