"""The executor: carries out a :class:`~orchestrator.plan.planner.Plan` through the launchers and the journal.

    read baselines → preflight → (dry run: print the plan and stop)
        → retrain the ready labels → prepare the firing ones → wait for the pending ones → retrain each

Each firing label's current ``version_tag`` is read *before* the prepare restart, a label's failure is
its own, and a dataset version handed to retraining is never retrained again: its ledger key
``retrain:<label>:<version>`` is recorded once.
"""

from __future__ import annotations

from ..config.settings import LabelConfig
from ..config.targets import Target
from ..contracts.actions import prepare_key
from ..errors import AuthError, HubError, LaunchError, MetadataError, OrchestratorError, RemoteUnavailable
from ..plan.planner import Plan
from ..state.records import IDLE, PREPARE_REQUESTED, RETRAINING, Action, utc_now
from .context import RunContext
from .dry_run import Baselines, print_plan
from .retrains import Retrain, Retrainer
from .wait import Waiter


class Executor:
    """Carries out a plan: baselines, preflight, the dry run's plan, prepare, then the wait and retrains."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.retrainer = Retrainer(ctx)

    def execute(self, plan: Plan) -> None:
        ctx = self.ctx
        firing, pending, ready = plan.of("fire"), plan.of("pending"), plan.of("ready")
        baselines = self._read_baselines(firing)
        firing = self._preflight([label for label in firing if label.name in baselines])
        if ctx.dry_run:  # a waiting label's retrain is checked as a firing label's is
            waiting = self._checked(ctx.by_target([*pending, *ready], "retrain"), keep=[*pending, *ready])
            print_plan(ctx, plan, firing, waiting, baselines)
            return
        retried = {entry.name for entry in plan.labels if entry.retry}
        # A dataset that arrived before a crash (or a failed retrain retried): retrain now.
        self.retrainer.launch([
            Retrain(label, ctx.journal.state(label.name).last_retrained_version or "", retry=True) if label.name in retried
            else Retrain(label, ctx.journal.state(label.name).dataset_version or "")
            for label in ready
        ])
        launched = [label for label in ready if ctx.journal.state(label.name).state == RETRAINING]
        prepared = self._prepare(firing, baselines)
        # A retrain this run launched (reconciliation may have re-sent one) is followed; one an earlier run
        # launched is looked at once.
        earlier = [label for label in plan.of("follow") if ctx.journal.state(label.name).last_run_id != ctx.journal.run_id]
        resent = [label for label in plan.of("follow") if label not in earlier]
        Waiter(ctx, self.retrainer.launch).wait([*resent, *launched, *pending, *prepared], once=earlier)

    # ---------------------------------------------------------------------------------- before acting
    def _read_baselines(self, firing: list[LabelConfig]) -> Baselines:
        """Each firing label's current version, read BEFORE anything is triggered. A baseline that breaks
        the contract counts as no version; its ETag is kept, so that only a document that differs from
        it can end the wait."""
        ctx = self.ctx
        baselines: Baselines = {}
        reads = ctx.each(firing, ctx.reader.read)
        for label in firing:
            try:
                seen = reads[label].get()
            except (AuthError, RemoteUnavailable):
                raise  # the token or the Hub itself is the problem: nothing can work, stop now
            except (HubError, MetadataError) as exc:
                ctx.fail(label.name, exc)
                continue
            ctx.etags[label.name] = seen.etag
            if seen.status == "malformed":
                assert seen.error is not None
                ctx.reporter.warning(
                    f"{seen.error.message}; it counts as no version yet, and only a new document ends the wait",
                    title=f"label {label.name}",
                )
                baselines[label.name] = None
                continue
            baselines[label.name] = seen.metadata
            ctx.warn_optional(label.name, seen)
            version = seen.metadata.version_tag if seen.metadata else None
            ctx.update(label.name, old_version=version)
            ctx.reporter.info(f"[{label.name}] current dataset version: {version or 'none yet'}")
        return baselines

    def _preflight(self, firing: list[LabelConfig]) -> list[LabelConfig]:
        """Read-only checks of every target a firing label needs, before anything is triggered."""
        usable = self._checked(self.ctx.by_target(firing, "retrain"), keep=firing)
        return self._checked(self.ctx.by_target(usable, "prepare"), keep=usable)

    def _checked(
        self, groups: dict[Target, list[LabelConfig]], keep: list[LabelConfig] | None = None
    ) -> list[LabelConfig]:
        """Check each target once (all at once), and fail the labels of a target that cannot be used; the
        labels left (of ``keep``, in its order, else of the groups). A refused token or an unreachable
        remote stops the run."""
        ctx = self.ctx
        launchers = {target: ctx.launcher(target) for target in groups}
        answers = ctx.each(list(groups), lambda target: launchers[target].check())
        broken: set[str] = set()
        for target, members in groups.items():
            try:
                answers[target].get()
            except (AuthError, RemoteUnavailable):
                raise
            except (HubError, LaunchError) as exc:
                for label in members:
                    ctx.fail(label.name, exc)
                broken.update(label.name for label in members)
        labels = keep if keep is not None else [label for members in groups.values() for label in members]
        return [label for label in labels if label.name not in broken]

    # ---------------------------------------------------------------------------------- acting
    def _prepare(self, firing: list[LabelConfig], baselines: Baselines) -> list[LabelConfig]:
        ctx, journal = self.ctx, self.ctx.journal
        prepared = []
        for target, members in ctx.by_target(firing, "prepare").items():
            names = tuple(label.name for label in members)
            launcher = ctx.launcher(target)
            key = prepare_key(journal.run_id, {name: ctx.results[name].corrections for name in names})
            action = Action("prepare", names, key, target=launcher.describe())
            now = utc_now()
            requested = [
                journal.state(label.name).with_(
                    state=PREPARE_REQUESTED,
                    pending_corrections=ctx.results[label.name].corrections,
                    pending_reviewed=ctx.results[label.name].reviewed,
                    required=ctx.results[label.name].required,
                    baseline_version=baselines[label.name].version_tag if baselines.get(label.name) else None,
                    etag=ctx.etags.get(label.name),
                    dataset_version=None,
                    requested_at=now,
                    prepare_ref=None,
                    prepare_failed_at=None,
                    prepare_outcome=None,
                    last_error=None,
                )
                for label in members
            ]
            journal.record(*requested, intent=action)
            ctx.crash_point("after_prepare_intent")
            try:
                launched = launcher.launch(action)
            except RemoteUnavailable as exc:
                # Maybe restarted, maybe not: the labels stay pending and the open intent is reconciled by
                # the next run (resent if the Space shows no sign of it), PREPARE_DEADLINE the backstop.
                for name in names:
                    ctx.fail(name, OrchestratorError(exc.message + "; whether prepare started is checked on the next run", hint=exc.hint))
                    ctx.note_state(name)
                continue
            except OrchestratorError as exc:
                idle = [journal.state(n).with_(state=IDLE, requested_at=None, last_error=exc.message) for n in names]
                journal.record(*idle, result=action.settled("failed", exc.message))
                for name in names:
                    ctx.fail(name, exc)
                    ctx.note_state(name)
                continue
            ctx.crash_point("after_prepare_launch")
            # the launched prepare is followed as the labels wait: it may fail, or end without their datasets
            followed = [journal.state(name).with_(prepare_ref=launched.ref) for name in names]
            journal.record(*followed, result=action.settled("ok", launched.detail))
            ctx.crash_point("after_prepare_recorded")
            ctx.reporter.info(f"prepare launched: {launched.target} ({launched.detail}) for {', '.join(names)}")
            for line in launched.output:
                ctx.reporter.info(f"  | {line}")
            prepared.extend(members)
        return prepared
