"""The planner: label states, correction counts and the open ledger in, a :class:`Plan` out. No I/O here.

Per label the plan says one of:

- ``skip``: no trigger fires, nothing pending (or its last prepare failed, and no new feedback came);
- ``fire``: one of its triggers fires (its threshold is reached, its error rate is significantly above its
  ``error_rate``, or its last prepare is older than its ``max_age`` and new corrections came): prepare a dataset;
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
from datetime import datetime
from typing import Literal

from ..config.settings import LabelConfig, Settings
from ..errors import ConfigError
from ..state.records import DATASET_READY, IDLE, PREPARE_REQUESTED, RETRAIN_REQUESTED, RETRAINING, Action, LabelState
from .rules import Baseline, Decision, decide

Step = Literal["skip", "fire", "pending", "ready", "follow", "reconcile"]
RetryStep = Literal["prepare", "retrain"]


@dataclass(frozen=True)
class LabelPlan:
    """One label's step in the plan, why, and what it was decided from (the counts' verdict and the state)."""

    label: LabelConfig
    step: Step
    reason: str
    decision: Decision  # the threshold rule's verdict on the counts (also for a label that is pending)
    state: LabelState
    unconfirmed: Action | None = None  # an earlier run's intent without a result (dry runs only)
    retry: bool = False  # ``orchestrator retry`` asked: a failed step launched again (a retrain: on the same version)

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
    reviewed: Mapping[str, int] | None = None,
    now: datetime | None = None,
    unconfirmed: Iterable[Action] = (),
    blocked: Collection[str] = (),
    retry: Mapping[str, RetryStep | None] | None = None,
) -> Plan:
    """The plan for every configured label. ``counts`` are each label's corrections now, ``reviewed`` the rows
    reviewed in its table (for ``error_rate``), ``now`` the time (for ``max_age``: without it, that trigger
    waits). ``unconfirmed`` are ledger intents without a result (a dry
    run's view; a real run reconciles them first); ``blocked`` are labels whose reconciliation failed in
    this run, which are not retrained again until a later run; ``retry`` are labels whose failed step
    ``orchestrator retry`` launches again (the step, or None: the one that failed). A label with nothing to
    retry is a :class:`ConfigError`."""
    cumulative = settings.trigger_mode == "cumulative"
    open_by_label: dict[str, Action] = {}
    for action in unconfirmed:
        for name in action.labels:
            open_by_label.setdefault(name, action)
    entries = []
    for label in settings.labels:
        state = states.get(label.name) or LabelState(label.name)
        decision = _unless_failed(decide(
            label, counts[label.name], reviewed=(reviewed or {}).get(label.name, 0), baseline=baseline(state, cumulative),
            now=now,
        ), state)
        unconfirmed_action = open_by_label.get(label.name)
        retried = retry is not None and label.name in retry
        if retried:
            step, reason = _retry(state, retry[label.name])
        else:
            step, reason = _step(state, decision, label.name in blocked)
        if unconfirmed_action is not None:
            reason += (
                f"; first, the {unconfirmed_action.kind} recorded by run {unconfirmed_action.run_id[:8]} is unconfirmed: "
                f"the next real run checks {unconfirmed_action.target} before sending anything"
            )
        entries.append(LabelPlan(label, step, reason, decision, state, unconfirmed_action, retried))
    return Plan(tuple(entries), cumulative)


def baseline(state: LabelState, cumulative: bool) -> Baseline:
    """What ``state``'s new feedback is counted from. The threshold and the error rate count everything in
    cumulative mode, as they do for a label never prepared; a label prepared before the reviewed rows were
    remembered waits for its next prepare to use the error rate (it would count feedback already prepared);
    ``max_age`` always wants a correction beyond the last prepare."""
    known = not cumulative and state.reviewed_cursor is not None
    return Baseline(
        corrections=0 if cumulative else state.cursor,
        rate=(state.cursor, state.reviewed_cursor or 0) if known else None,
        cursor=state.cursor,
        at=state.prepared_at or state.first_seen_at,
        prepared=state.prepared_at is not None,
        rate_unknown=not cumulative and state.cursor > 0 and state.reviewed_cursor is None,
    )


def _unless_failed(decision: Decision, state: LabelState) -> Decision:
    """A prepare that failed is not launched again for the same feedback on its own: the label fires again
    once new corrections come (or ``orchestrator retry`` asks)."""
    if not decision.fire or state.prepare_outcome != "failed" or decision.corrections > (state.prepare_failed_at or 0):
        return decision
    return replace(decision, fire=False, trigger=(), reason=(
        f"{decision.reason}, but its prepare for these {decision.corrections} corrections failed: it is not launched "
        f"again for the same feedback (new corrections, or `orchestrator retry --label {state.label}`, launch it)"
    ))


def _retry(state: LabelState, asked: RetryStep | None) -> tuple[Step, str]:
    """The step that launches a failed (or expired) prepare, or a failed retrain, again."""
    prepare = state.state == IDLE and state.prepare_outcome in ("failed", "expired")
    retrain = state.state == IDLE and state.last_outcome in ("failed", "not_deployed") and bool(state.last_retrained_version)
    step = asked or ("prepare" if prepare else "retrain" if retrain else None)
    if step == "prepare" and prepare:
        return "fire", (f"retry: its prepare for {state.prepare_failed_at} corrections {state.prepare_outcome}; "
                        "launching it again for the same feedback")
    if step == "retrain" and retrain:
        return "ready", (f"retry: the retrain of {state.last_retrained_version} ended {state.last_outcome}; "
                         f"launching it again on {state.last_retrained_version}")
    if state.state != IDLE:
        why = f"it is {state.state.replace('_', ' ')}: the running step is followed, nothing failed yet"
    elif step == "prepare" or (asked is None and not retrain):
        why = "its last prepare did not fail" + (f" (the last retrain ended {state.last_outcome})" if state.last_outcome else "")
    else:
        why = f"its last retrain did not fail (it ended {state.last_outcome or 'nowhere: none was launched'})"
    raise ConfigError(
        f"nothing to retry for label {state.label}: {why}",
        hint="`orchestrator status` shows where each label stands; retry launches again a prepare that failed or "
        "expired, or a retrain that failed",
    )


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
