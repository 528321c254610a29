"""The planner: label states, correction counts and the open ledger in, a :class:`Plan` out. No I/O here.

Per label the plan says one of:

- ``skip``: below its threshold, nothing pending (or its last prepare failed, and no new feedback came);
- ``fire``: its threshold is reached: prepare a dataset;
- ``pending``: a prepare was requested earlier: wait for the new dataset version;
- ``ready``: its dataset arrived (or a retrain intent was settled): retrain on it;
- ``follow``: its retrain was launched: learn how it ended (deployed, rejected, failed). Its corrections
  go on counting, and it fires again once the outcome is in: one retrain per label at a time;
- ``reconcile``: re-sending an action a crashed run left unconfirmed just failed: a later run tries again.

A dry run, which reconciles nothing, also sees each label's unconfirmed action (``unconfirmed``): the
label keeps the step its state gives, and the next real run settles that action first.

``orchestrator run`` acts on the plan (:mod:`orchestrator.run.execute`), the dry run prints it, and
``orchestrator status`` shows it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Literal

from ..config.settings import LabelConfig, Settings
from ..state.records import DATASET_READY, PREPARE_REQUESTED, RETRAIN_REQUESTED, RETRAINING, Action, LabelState
from .rules import Decision, decide

Step = Literal["skip", "fire", "pending", "ready", "follow", "reconcile"]


@dataclass(frozen=True)
class LabelPlan:
    """One label's step in the plan, why, and what it was decided from (the counts' verdict and the state)."""

    label: LabelConfig
    step: Step
    reason: str
    decision: Decision  # the threshold rule's verdict on the counts (also for a label that is pending)
    state: LabelState
    unconfirmed: Action | None = None  # an earlier run's intent without a result (dry runs only)

    @property
    def name(self) -> str:
        return self.label.name


@dataclass(frozen=True)
class Plan:
    """The plan of one run: a step per label (skip, fire, pending, ready, follow, reconcile)."""

    labels: tuple[LabelPlan, ...]
    cumulative: bool  # the seed's rule: every correction counts, not only those since the last prepare

    def of(self, *steps: Step) -> list[LabelConfig]:
        return [entry.label for entry in self.labels if entry.step in steps]

    @property
    def idle(self) -> bool:
        """Nothing to prepare, await or retrain (a label whose reconciliation just failed waits for a later run)."""
        return not self.of("fire", "pending", "ready", "follow")


def make_plan(
    settings: Settings,
    states: Mapping[str, LabelState],
    counts: Mapping[str, int],
    *,
    unconfirmed: Iterable[Action] = (),
    blocked: Collection[str] = (),
) -> Plan:
    """The plan for every configured label. ``unconfirmed`` are ledger intents without a result (a dry
    run's view; a real run reconciles them first); ``blocked`` are labels whose reconciliation failed in
    this run, which are not retrained again until a later run."""
    cumulative = settings.trigger_mode == "cumulative"
    open_by_label: dict[str, Action] = {}
    for action in unconfirmed:
        for name in action.labels:
            open_by_label.setdefault(name, action)
    entries = []
    for label in settings.labels:
        state = states.get(label.name) or LabelState(label.name)
        decision = _unless_failed(decide(label, counts[label.name], since=0 if cumulative else state.cursor), state)
        unconfirmed_action = open_by_label.get(label.name)
        step, reason = _step(state, decision, label.name in blocked)
        if unconfirmed_action is not None:
            reason += (
                f"; first, the {unconfirmed_action.kind} recorded by run {unconfirmed_action.run_id[:8]} is unconfirmed: "
                f"the next real run checks {unconfirmed_action.target} before sending anything"
            )
        entries.append(LabelPlan(label, step, reason, decision, state, unconfirmed_action))
    return Plan(tuple(entries), cumulative)


def _unless_failed(decision: Decision, state: LabelState) -> Decision:
    """A prepare that failed is not launched again for the same feedback on its own: the label fires again
    once new corrections come (or ``orchestrator retry`` asks)."""
    if not decision.fire or state.prepare_outcome != "failed" or decision.corrections > (state.prepare_failed_at or 0):
        return decision
    return replace(decision, fire=False, reason=(
        f"{decision.reason}, but its prepare for these {decision.corrections} corrections failed: it is not launched "
        f"again for the same feedback (new corrections, or `orchestrator retry --label {state.label}`, launch it)"
    ))


def _step(state: LabelState, decision: Decision, blocked: bool) -> tuple[Step, str]:
    if state.state == PREPARE_REQUESTED:
        return "pending", f"waiting for a dataset newer than {state.baseline_version or 'none'}"
    if state.state == RETRAINING:
        return "follow", f"the retrain of {state.last_retrained_version or '?'} is running: learn how it ended"
    if state.state in (DATASET_READY, RETRAIN_REQUESTED):
        if blocked:
            return "reconcile", "re-sending its retrain failed: a later run tries again"
        return "ready", f"dataset {state.dataset_version or '?'} arrived: retrain on it"
    return ("fire" if decision.fire else "skip"), decision.reason
