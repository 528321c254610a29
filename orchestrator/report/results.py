"""The record of one run: what the cycle decided and did per label, as the report renders it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # pragma: no cover
    from ..state.records import StateName

# Outcomes of a label in one run.
Outcome = Literal[
    "skipped", "would prepare", "retrain triggered", "retraining", "deployed", "rejected", "not deployed", "timed out",
    "failed", "prepare failed", "expired", "pending", "already retrained", "awaiting approval",
]
SKIPPED: Outcome = "skipped"  # below threshold
PLANNED: Outcome = "would prepare"  # dry run
RETRAINED: Outcome = "retrain triggered"  # launched, and its outcome is not followed (no source for it)
RETRAIN_RUNNING: Outcome = "retraining"  # launched, its outcome followed until it ends (here or in a later run)
DEPLOYED: Outcome = "deployed"  # the retrain ended and deployed its model
REJECTED: Outcome = "rejected"  # the retrain ended and its gate kept the deployed model
AWAITING_APPROVAL: Outcome = "awaiting approval"  # its model passed the gate and waits for `orchestrator promote`
NOT_DEPLOYED: Outcome = "not deployed"  # a seed retrain Space finished without a new model (rejected or failed)
PREPARE_FAILED: Outcome = "prepare failed"  # the prepare failed, or finished without the label's dataset
EXPIRED: Outcome = "expired"  # PREPARE_DEADLINE passed with no new dataset: idle again
TIMED_OUT: Outcome = "timed out"
FAILED: Outcome = "failed"
PENDING: Outcome = "pending"  # waiting for its dataset; a later run goes on
ALREADY_DONE: Outcome = "already retrained"  # this dataset version was handed to retraining before

# What the cycle decided for a label at the start of the run.
DecisionName = Literal["prepare", "skip", "pending", "retry"]
# How a run ended, as its history row and the job summary say.
RunStatus = Literal["ok", "failed", "error", "dry-run", "interrupted"]


@dataclass(frozen=True)
class LabelResult:
    """What one run decided and did for one label: the counts against the threshold, the versions, the
    outcome, and any error with its hint. One row of the summary."""

    label: str
    corrections: int
    dataset_len: int
    threshold: int
    fire: bool
    reason: str
    decision: DecisionName = "skip"  # prepare, skip, pending (waiting for a dataset prepared earlier), or retry
    counted: int = 0  # corrections counted towards the threshold (new ones since the last prepare)
    reviewed: int = 0  # rows reviewed in the label's table now (the error_rate trigger's denominator)
    trigger: tuple[str, ...] = ()  # the triggers that fired (count, error_rate, max_age); empty when it did not fire
    state: StateName = "idle"  # the label's persisted state after this run
    required: int = 0
    old_version: str | None = None
    new_version: str | None = None
    num_samples: int | None = None
    outcome: Outcome = SKIPPED
    error: str | None = None
    hint: str | None = None
    prepare_target: str | None = None
    retrain_target: str | None = None
    retrain_ref: str | None = None  # what identifies the launched retrain: an HF Job id, a GitHub run id
    retrain_reason: str | None = None  # why the retrain was deployed, rejected or failed
    metric: float | None = None  # the deployed model's headline metric (e.g. macro_f1), when known
    metric_name: str | None = None
    cost: dict[str, Any] | None = None  # when its prepare or retrain ended in this run: report.costs.LabelCost.to_dict()

    def with_(self, **changes: Any) -> LabelResult:
        return replace(self, **changes)

    @property
    def failed(self) -> bool:
        return self.outcome in (FAILED, PREPARE_FAILED, TIMED_OUT, EXPIRED)


@dataclass(frozen=True)
class RunResult:
    """What one run did: its labels' results, and a run-wide error if it stopped. Its :meth:`to_dict` is the
    JSON summary (``--json``, ``--summary-file``, the history row)."""

    started_at: str
    finished_at: str
    dry_run: bool
    labels: tuple[LabelResult, ...] = ()
    exit_code: int = 0
    error: str | None = None  # a run-wide failure (the run stopped before or outside any label)
    hint: str | None = None
    notes: tuple[str, ...] = field(default=())
    locked: bool = False  # another run held the lease: this one did nothing (exit 0)
    interrupted: bool = False  # SIGTERM, Ctrl-C, or the service shutting down: stopped midway (exit 130)

    @property
    def status(self) -> RunStatus:
        if self.interrupted:
            return "interrupted"
        if self.error:
            return "error"
        if any(label.failed for label in self.labels):
            return "failed"
        return "dry-run" if self.dry_run else "ok"

    def names(self, predicate) -> list[str]:
        return [label.label for label in self.labels if predicate(label)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "exit_code": self.exit_code,
            "dry_run": self.dry_run,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "error": self.error,
            "hint": self.hint,
            "notes": list(self.notes),
            "labels": [asdict(label) for label in self.labels],
        }
