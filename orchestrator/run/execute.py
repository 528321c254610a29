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
from ..contracts.actions import prepare_key, retrain_key, retry_key
from ..errors import AuthError, HubError, LaunchError, MetadataError, OrchestratorError, RemoteUnavailable
from ..plan.planner import Plan
from ..remote.documents import model_marker
from ..report.results import ALREADY_DONE, RETRAIN_RUNNING, RETRAINED
from ..state.records import DATASET_READY, IDLE, PREPARE_REQUESTED, RETRAIN_REQUESTED, RETRAINING, Action, utc_now
from .context import RunContext
from .dry_run import Baselines, print_plan
from .wait import Waiter


class Executor:
    """Carries out a plan: baselines, preflight, the dry run's plan, prepare, then the wait and retrains."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

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
        for label in ready:  # a dataset that arrived before a crash (or a failed retrain retried): retrain now
            state = ctx.journal.state(label.name)
            if label.name in retried:
                self.retrain(label, state.last_retrained_version or "", retry=True)
            else:
                self.retrain(label, state.dataset_version or "")
        launched = [label for label in ready if ctx.journal.state(label.name).state == RETRAINING]
        prepared = self._prepare(firing, baselines)
        # A retrain this run launched (reconciliation may have re-sent one) is followed; one an earlier run
        # launched is looked at once.
        earlier = [label for label in plan.of("follow") if ctx.journal.state(label.name).last_run_id != ctx.journal.run_id]
        resent = [label for label in plan.of("follow") if label not in earlier]
        Waiter(ctx, self.retrain).wait([*resent, *launched, *pending, *prepared], once=earlier)

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

    def _model_marker(self, label: LabelConfig) -> str | None:
        """A seed retrain Space's model repo as it stands before the launch: what tells later that it deployed.
        None without a ``model_repo``, or when it cannot be read now (the outcome then comes from elsewhere)."""
        if label.model_repo is None:
            return None
        try:
            return model_marker(self.ctx.hub, label.model_repo)
        except AuthError:
            raise
        except (HubError, MetadataError, RemoteUnavailable) as exc:
            self.ctx.reporter.warning(f"could not read the model repo before the retrain: {exc.message}; its outcome "
                                      "is then learned from the retrain's status only", title=f"label {label.name}")
            return None

    def retrain(self, label: LabelConfig, version: str, *, retry: bool = False) -> None:
        """Launch ``label``'s retrain on ``version``, once: its ledger key is recorded before the launch (a
        ``retry`` of a failed one gets a key of its own, in this run)."""
        ctx, journal, name = self.ctx, self.ctx.journal, label.name
        state = journal.state(name)
        ctx.update(name, new_version=version, old_version=state.baseline_version)
        launcher = ctx.launcher(label.retrain)
        key = retry_key(name, version, journal.run_id) if retry else retrain_key(name, version)
        action = Action("retrain", (name,), key, version, target=launcher.describe())
        requested = state.with_(state=RETRAIN_REQUESTED, dataset_version=version, model_marker=self._model_marker(label))
        if not journal.record(requested, intent=action):
            ctx.reporter.warning(f"dataset {version} was already handed to retraining: not retraining it again", title=f"label {name}")
            journal.record(state.retrained(version))
            ctx.update(name, outcome=ALREADY_DONE)
            ctx.note_state(name)
            return
        ctx.crash_point("after_retrain_intent")
        try:
            launched = launcher.launch(action)
        except RemoteUnavailable as exc:
            # The call may or may not have taken effect: the intent stays open for the next run to
            # reconcile against the Space's runtime, rather than be recorded as failed and sent again.
            journal.record(journal.state(name).with_(last_error=exc.message))
            ctx.fail(name, OrchestratorError(exc.message + "; whether the retrain started is checked on the next run", hint=exc.hint))
            ctx.note_state(name)
            return
        except OrchestratorError as exc:
            # Back to dataset_ready, and the failed key released in the same transaction: the next run
            # tries this retrain again. (A retry goes back to where it was: `orchestrator retry` again.)
            before = state.with_(last_error=exc.message) if retry else state.with_(state=DATASET_READY, last_error=exc.message)
            journal.record(before, result=action.settled("failed", exc.message), forget=True)
            ctx.fail(name, exc)
            ctx.note_state(name)
            return
        ctx.crash_point("after_retrain_launch")
        follow = ctx.follows(label, launcher)
        journal.record(
            journal.state(name).retrained(version, ref=launched.ref, follow=follow),
            result=action.settled("ok", launched.detail),
        )
        ctx.crash_point("after_retrain_recorded")
        ctx.reporter.info(f"[{name}] retrain launched: {launched.target} ({launched.detail}) on {version}")
        for line in launched.output:
            ctx.reporter.info(f"  | {line}")
        ctx.update(name, outcome=RETRAIN_RUNNING if follow else RETRAINED, retrain_ref=launched.ref)
        ctx.note_state(name)
