"""What a launched prepare or retrain cost, read once when it ends, and recorded with it in the ledger.

A retrain ends when its outcome is settled (:mod:`orchestrator.run.follow`); a prepare when the last of its
labels stops waiting for it (its dataset arrived, or the prepare failed or expired: :mod:`orchestrator.run.wait`).
Its launcher says what it cost (:meth:`~orchestrator.launch.protocol.Launcher.spent`); a launcher that cannot
tell, or a remote that cannot be read then, gives the wall time from the launch to that moment instead (the
latter with a warning): a cost is never a reason to fail a label. Nothing here is asked of a run with nothing
that ends.
"""

from __future__ import annotations

from ..config.settings import LabelConfig
from ..errors import OrchestratorError
from ..launch.protocol import Launcher, wall_time
from ..report.costs import label_costs
from ..state.records import PREPARE_REQUESTED, Action, LabelState, RetrainOutcome, Spent, utc_now
from .context import RunContext

LAUNCHED = ("ok", "reconciled")  # the ledger's results of an action that was sent


def retrain_ended(ctx: RunContext, label: LabelConfig, state: LabelState, outcome: RetrainOutcome) -> Action | None:
    """The label's followed retrain (``state``'s, before it settles) as it ended with ``outcome``, and its cost;
    None when the ledger holds no such launch (nothing is then recorded)."""
    version = state.last_retrained_version
    launched = [a for a in ctx.journal.store.actions(label=label.name, kinds=("retrain",))
                if a.result in LAUNCHED and a.version == version]
    if not launched or launched[-1].ended_at is not None:
        return None
    action = launched[-1]
    spent = _spent(ctx, label.name, ctx.launcher(label.retrain), state.retrain_ref, action)
    ctx.reporter.info(f"[{label.name}] the retrain of {version} cost {spent_text(spent)}")
    ctx.costed.add(label.name)
    return action.ended(outcome, spent, utc_now())


def prepare_ended(ctx: RunContext, label: LabelConfig, state: LabelState) -> Action | None:
    """The prepare ``label`` waited for (``state``, before it stops waiting), with its cost, when no other of its
    labels still waits for it; None while one does (the last one records it), or when the ledger holds no launch."""
    launched = [a for a in ctx.journal.store.actions(label=label.name, kinds=("prepare",)) if a.result in LAUNCHED]
    if not launched or launched[-1].ended_at is not None:
        return None
    action = launched[-1]
    others = [name for name in action.labels if name != label.name and name in ctx.settings.label_names]
    if any(ctx.journal.state(name).state == PREPARE_REQUESTED and ctx.journal.state(name).prepare_ref == state.prepare_ref
           for name in others):
        return None
    spent = _spent(ctx, label.name, ctx.launcher(ctx.settings.prepare_target(label)), state.prepare_ref, action)
    ctx.reporter.info(f"the prepare for {', '.join(action.labels)} cost {spent_text(spent)}")
    ctx.costed.update(name for name in action.labels if name in ctx.settings.label_names)
    return action.ended(None, spent, utc_now())


def _spent(ctx: RunContext, name: str, launcher: Launcher, ref: str | None, action: Action) -> Spent:
    ended = utc_now()
    started = action.intent_at or ended
    try:
        spent = launcher.spent(ref, started, ended) if ref else None
    except Exception as exc:  # noqa: BLE001 - never a reason to fail the label: the wall time stands in
        why = exc.message if isinstance(exc, OrchestratorError) else f"an answer that could not be read: {type(exc).__name__}"
        ctx.reporter.warning(f"could not read what the {action.kind} cost ({why}); its wall time is recorded "
                             "instead", title=f"label {name}")
        spent = None
    return spent or wall_time(started, ended)


def spent_text(spent: Spent) -> str:
    return f"${spent.usd:.4f} ({spent.basis})" if spent.usd is not None else spent.basis


def note_costs(ctx: RunContext) -> None:
    """Each label whose prepare or retrain ended in this run: its cost per deployed improvement, in its result (one
    read of the ledger, and only when something ended)."""
    names = [name for name in ctx.costed if name in ctx.results]
    if not names:
        return
    try:
        costs = label_costs(ctx.journal.store.actions(), names)
    except OrchestratorError as exc:
        ctx.reporter.warning(f"could not read the costs back: {exc.message}", title="cost")
        return
    for name in names:
        if name in costs:
            ctx.update(name, cost=costs[name].to_dict())
