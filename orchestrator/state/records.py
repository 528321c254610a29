"""The orchestrator's own records, without SQL: a label's state, an action of the ledger, the lease.

A label's states: ``idle → prepare_requested → dataset_ready → retrain_requested → retraining → idle``,
with the correction count the label was prepared at (its *cursor*; with the reviewed rows then and the prepare's
time, what the triggers count new feedback from), the versions seen, and how its last
retrain ended (``last_outcome``: deployed, rejected, failed or completed). ``retraining`` is a launched
retrain whose outcome is followed; a retrain with nothing to follow it by goes straight to idle.

The planner reads these records; :mod:`orchestrator.state.store` reads and writes them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, Literal

# A label's states: idle → prepare_requested → dataset_ready → retrain_requested → retraining → idle.
StateName = Literal["idle", "prepare_requested", "dataset_ready", "retrain_requested", "retraining"]
IDLE: StateName = "idle"
PREPARE_REQUESTED: StateName = "prepare_requested"
DATASET_READY: StateName = "dataset_ready"
RETRAIN_REQUESTED: StateName = "retrain_requested"
RETRAINING: StateName = "retraining"
# How a retrain ended. ``completed``: it finished, and published no result that tells deployed from rejected.
# ``not_deployed``: a seed retrain Space finished without a new model (its gate rejected it, or it failed).
# ``awaiting_approval``: its model passed the gate and waits for ``orchestrator promote`` (approval = "manual").
RetrainOutcome = Literal["deployed", "rejected", "failed", "completed", "not_deployed", "awaiting_approval"]
# How a prepare that delivered no dataset ended: its job failed (or finished without publishing), or its
# PREPARE_DEADLINE passed.
PrepareOutcome = Literal["failed", "expired"]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything here is stored in UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


@dataclass(frozen=True)
class LabelState:
    """One label's row of the state machine: where it stands, what it waits for, and how its last retrain
    ended."""

    label: str
    state: StateName = IDLE
    cursor: int = 0  # corrections counted when the label's last dataset was prepared
    pending_corrections: int | None = None  # corrections counted at the pending prepare
    required: int | None = None  # num_samples the pending dataset must reach
    baseline_version: str | None = None  # version_tag seen before the pending prepare
    etag: str | None = None  # of the metadata file, for conditional GETs across runs
    dataset_version: str | None = None  # the new version, once it arrived
    requested_at: datetime | None = None
    last_retrained_version: str | None = None
    last_run_id: str | None = None
    last_error: str | None = None
    updated_at: datetime | None = None
    retrain_ref: str | None = None  # the launched retrain being followed: an HF Job id, a GitHub run id
    retrain_started_at: datetime | None = None
    result_etag: str | None = None  # of the label's retrain_result.json, for conditional GETs
    last_outcome: RetrainOutcome | None = None  # how the last retrain ended
    last_outcome_reason: str | None = None
    last_outcome_at: datetime | None = None
    last_metric: float | None = None  # the deployed model's headline metric, from the last deploy
    last_metric_name: str | None = None
    prepare_ref: str | None = None  # the launched prepare being followed: a Space, an HF Job id, a GitHub run id
    prepare_failed_at: int | None = None  # corrections a failed (or expired) prepare was for: not launched again for them
    prepare_outcome: PrepareOutcome | None = None  # how the last prepare that did not deliver ended
    model_marker: str | None = None  # the model repo's metadata when the retrain was launched (a seed Space's)
    pending_reviewed: int | None = None  # rows reviewed in the label's table at the pending prepare
    reviewed_cursor: int | None = None  # rows reviewed when the last dataset was prepared (None: not recorded)
    prepared_at: datetime | None = None  # when the prepare of the label's last dataset was requested
    first_seen_at: datetime | None = None  # when a run first saw the label: max_age counts from it until a prepare

    @property
    def pending(self) -> bool:
        return self.state != IDLE

    def with_(self, **changes: Any) -> LabelState:
        return replace(self, **changes)

    def retrained(self, version: str | None, *, ref: str | None = None, follow: bool = False) -> LabelState:
        """``version`` was handed to retraining: the wait's fields are cleared, and the label is idle again,
        or ``retraining`` while the launched retrain (``ref``) is followed to its end."""
        return self.with_(
            state=RETRAINING if follow else IDLE,
            retrain_ref=ref,
            retrain_started_at=utc_now() if follow else None,
            last_retrained_version=version,
            pending_corrections=None,
            pending_reviewed=None,
            required=None,
            baseline_version=None,
            dataset_version=None,
            requested_at=None,
            last_error=None,
        )


@dataclass(frozen=True)
class Spent:
    """What an action cost once it ended: ``seconds`` of compute (an HF Job's running time, GitHub's billable
    minutes, else the wall time from its launch to its outcome being seen), ``usd`` where a price is known, and
    in one line what that was read from (``HF Job 412 s on a10g-small at $1.00/h``)."""

    seconds: float
    usd: float | None
    basis: str


# The end of the ledger's detail of a promotion of a version never deployed before (an improvement, for the costs).
FIRST_DEPLOY = "; its first deploy"
ActionKind = Literal["prepare", "retrain", "promote"]  # promote: a promotion or rollback of a model version
ActionResult = Literal["ok", "failed", "reconciled"]


@dataclass(frozen=True)
class Action:
    """A prepare or retrain the orchestrator launches: what the launcher is asked to start, and its row in
    the ledger.

    ``key`` is its idempotency key (:mod:`orchestrator.contracts.actions`), recorded once, ever. The journal
    records an action as an intent before it is sent (the ledger fills in ``run_id`` and ``intent_at``), and
    settles it after (:meth:`settled`: sent ``ok``, ``failed``, or ``reconciled`` by a later run). When a launched
    prepare or retrain ends, :meth:`ended` adds how (a retrain's ``outcome``), when, and what it cost.
    """

    kind: ActionKind
    labels: tuple[str, ...]
    key: str
    version: str | None = None  # the dataset version a retrain trains on
    target: str = ""  # where it goes, as messages describe the target
    run_id: str | None = None
    intent_at: datetime | None = None
    result: ActionResult | None = None
    result_at: datetime | None = None
    detail: str | None = None
    outcome: RetrainOutcome | None = None  # how a launched retrain ended; None for a prepare
    ended_at: datetime | None = None  # when its end was seen, and its cost read
    cost_seconds: float | None = None
    cost_usd: float | None = None
    cost_basis: str | None = None

    def settled(self, result: ActionResult, detail: str | None = None) -> Action:
        """This action with its result: how it ended, and in a few words why."""
        return replace(self, result=result, detail=detail)

    def ended(self, outcome: RetrainOutcome | None, spent: Spent, at: datetime) -> Action:
        """This action, ended at ``at`` (a retrain with its ``outcome``), having cost ``spent``."""
        return replace(self, outcome=outcome, ended_at=at, cost_seconds=spent.seconds, cost_usd=spent.usd,
                       cost_basis=spent.basis)


@dataclass(frozen=True)
class Lease:
    owner: str
    fence: int
    ttl: float
