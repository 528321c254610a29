"""Following a launched retrain to its end: deployed, rejected, not deployed, failed, or completed.

Three sources tell how a retrain ended. The job's status is read first, so that what it published just
before it ended is seen by the reads that follow:

1. the result the retrain publishes (``retrain_result.json``, :mod:`orchestrator.contracts.retrain_result`),
   where the label's ``result`` points; read with conditional GETs, and only a document for the awaited dataset
   version counts. It wins over the others;
2. a seed retrain Space's model repo (the label's ``model_repo``): a new ``model_metadata.json`` or
   ``metadata.json`` since the launch means deployed (:mod:`orchestrator.contracts.model_metadata`), and the
   Space paused with none means not deployed;
3. the launched job's own status (:meth:`~orchestrator.launch.protocol.Launcher.status`): an HF Job's stage, a
   GitHub run's conclusion, a command's exit, a Space's stage. A failed job fails the label, with the tail of
   its logs; a job that succeeded without publishing a result (none is configured) is ``completed``.

A retrain with none of these past ``RETRAIN_DEADLINE`` has failed; one still running then is said to (and
cancelled with ``cancel_at_deadline``). A settled retrain leaves its label idle, with the outcome, its reason
and the deployed model's metric kept on the label (``last_outcome``...), and its ledger entry with the outcome
and what it cost (:mod:`orchestrator.run.costs`), in the same write.
"""

from __future__ import annotations

from ..config.settings import LabelConfig
from ..contracts.model_metadata import headline_metric
from ..contracts.retrain_result import RetrainResult, parse_result
from ..errors import AuthError, HubError, LaunchError, MetadataError, OrchestratorError, RemoteUnavailable
from ..launch.protocol import Status
from ..remote.documents import new_model, read_file
from ..report.results import AWAITING_APPROVAL, DEPLOYED, FAILED, NOT_DEPLOYED, REJECTED, RETRAINED, Outcome
from ..state.records import IDLE, RetrainOutcome, utc_now
from .context import RunContext
from .costs import retrain_ended

_AS_RESULT: dict[RetrainOutcome, Outcome] = {
    "deployed": DEPLOYED,
    "rejected": REJECTED,
    "failed": FAILED,
    "completed": RETRAINED,
    "not_deployed": NOT_DEPLOYED,
    "awaiting_approval": AWAITING_APPROVAL,
}


class Follower:
    """Looks at each running retrain: its published result first, then its job's status, then the deadline."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def poll(self, label: LabelConfig, progress) -> bool:
        """Check ``label``'s running retrain once; True when it is settled (for good, or for this run)."""
        ctx, name = self.ctx, label.name
        state = ctx.journal.state(name)
        version = state.last_retrained_version or "?"
        launcher = ctx.launcher(label.retrain)
        watched = label.model_repo is not None and state.model_marker is not None  # a seed retrain Space's model repo
        try:
            # The job's status first: a result or a model published just before it ended is seen by what follows.
            status = None
            if state.retrain_ref is not None:
                status = self._ask(name, version, lambda: launcher.status(state.retrain_ref))
            result = self._ask(name, version, lambda: self._result(label, version))
            if result is not None:
                return self._settle(label, result[0].decision, result[0].reason, result[0], etag=result[1])
            model = self._ask(name, version, lambda: new_model(ctx.hub, label.model_repo, state.model_marker)) if watched else None
        except RemoteUnavailable as exc:
            progress.update(name, f"Hub unavailable, will check again ({exc.message})")
            return False
        if model is not None:
            # The result may have been published between the two looks: it wins, so it is read once more.
            try:
                late = self._ask(name, version, lambda: self._result(label, version)) if label.result is not None else None
            except RemoteUnavailable:
                late = None  # the model settles it
            if late is not None:
                return self._settle(label, late[0].decision, late[0].reason, late[0], etag=late[1])
            metric = headline_metric(model[1])
            deployed = RetrainResult(version, "deployed", f"a new {model[0]} in {label.model_repo}",
                                     metric[0] if metric else None, metric[1] if metric else None)
            return self._settle(label, "deployed", deployed.reason, deployed)
        if status is not None and status.phase == "failed":
            tail = "\n".join(status.logs[-10:])
            return self._settle(label, "failed", status.detail + (f"; the end of its logs:\n{tail}" if tail else ""))
        if status is not None and status.phase == "succeeded" and watched:
            return self._settle(label, "not_deployed", (
                f"{status.detail} with no new model in {label.model_repo}: its gate rejected the model, or it failed "
                "(which, it does not say: its logs do)"))
        if status is not None and status.phase == "succeeded" and label.result is None:
            return self._settle(label, "completed", f"{status.detail}; set result to learn whether it deployed")
        age = (utc_now() - (state.retrain_started_at or utc_now())).total_seconds()
        if age > ctx.settings.retrain_deadline:
            return self._settle(label, "failed", self._overdue(label, version, age, status))
        where = status.detail if status is not None else "no outcome yet"
        progress.update(name, f"retrain of {version} running: {where}")
        return False

    def _overdue(self, label: LabelConfig, version: str, age: float, status: Status | None) -> str:
        """Why a retrain failed at RETRAIN_DEADLINE. A job that still runs is said to (where, and what it
        costs where the Hub gives a price), and is cancelled with ``cancel_at_deadline``."""
        ctx, state = self.ctx, self.ctx.journal.state(label.name)
        after = f"{age:.0f}s after it was launched (RETRAIN_DEADLINE {ctx.settings.retrain_deadline:.0f}s)"
        if status is None or status.phase != "running" or state.retrain_ref is None:
            if status is not None and status.phase == "succeeded":
                where = label.result.describe() if label.result else "?"
                return f"the retrain of {version} finished but published no result for it at {where} {after}"
            return f"the retrain of {version} gave no outcome {after}"
        launcher = ctx.launcher(label.retrain)
        said = f"the retrain of {version} is still running {after}: {status.detail}"
        if ctx.settings.cancel_at_deadline:
            try:
                return f"{said}; {launcher.cancel(state.retrain_ref)} (cancel_at_deadline)"
            except OrchestratorError as exc:
                return f"{said}; cancelling it failed ({exc.message}): stop it yourself"
        try:
            cost = launcher.cost()
        except OrchestratorError:
            cost = None
        costs = f" and keeps costing {cost}" if cost else ""
        return f"{said}; it was not stopped{costs}: stop it, or set cancel_at_deadline = true"

    def _ask(self, name: str, version: str, question):
        """One look at a source; a permanent problem with it is a warning (once), and no answer."""
        try:
            return question()
        except (HubError, LaunchError, MetadataError) as exc:
            if isinstance(exc, AuthError):
                raise
            if (name, exc.message) not in self.ctx.warned:
                self.ctx.warned.add((name, exc.message))
                self.ctx.reporter.warning(f"could not check the retrain of {version}: {exc.message}", title=f"label {name}")
            return None

    def _result(self, label: LabelConfig, version: str) -> tuple[RetrainResult, str | None] | None:
        """The published result for ``version`` and its ETag, if there is one (and it changed since the
        last look). The ETag of a document that settles nothing is kept at once; that of one that settles
        the retrain is written with the outcome, so that a crash in between cannot hide it."""
        if label.result is None:
            return None
        ctx, name = self.ctx, label.name
        state = ctx.journal.state(name)
        try:
            status, etag, content = read_file(ctx.hub, label.result, etag=state.result_etag, name="retrain result")
        except HubError as exc:
            if exc.status == 404:  # the model repo is created by the first retrain that publishes to it
                return None
            raise
        if status != "changed":
            return None
        try:
            result = parse_result(content, source=f"retrain result {label.result.describe()}")
        except MetadataError:
            self._keep_etag(name, etag)  # warned about once; a new document is read again
            raise
        if result.dataset_version == version:
            return result, etag
        self._keep_etag(name, etag)  # an earlier decision: the next look stays conditional
        return None

    def _keep_etag(self, name: str, etag: str | None) -> None:
        state = self.ctx.journal.state(name)
        if etag != state.result_etag:
            self.ctx.journal.record(state.with_(result_etag=etag))

    def _settle(
        self,
        label: LabelConfig,
        outcome: RetrainOutcome,
        reason: str | None,
        result: RetrainResult | None = None,
        *,
        etag: str | None = None,
    ) -> bool:
        ctx, name = self.ctx, label.name
        state = ctx.journal.state(name)
        if outcome == "awaiting_approval":  # what to type to deploy it, wherever the reason is shown
            command = f"orchestrator promote --label {name} --version {(result and result.model_version) or 'VERSION'}"
            reason = f"{reason or 'passed the gate'}; to deploy it: {command}"
        if etag is not None:
            state = state.with_(result_etag=etag)
        metric = result.metric if result is not None and outcome == "deployed" else state.last_metric
        metric_name = result.metric_name if result is not None and outcome == "deployed" else state.last_metric_name
        ended = retrain_ended(ctx, label, state, outcome)
        ctx.journal.record(
            state.with_(
                state=IDLE,
                last_outcome=outcome,
                last_outcome_reason=reason,
                last_outcome_at=utc_now(),
                last_metric=metric,
                last_metric_name=metric_name,
                last_error=reason if outcome == "failed" else None,
            ),
            ended=ended,
        )
        version = state.last_retrained_version
        ctx.update(name, new_version=version, retrain_ref=state.retrain_ref, retrain_reason=reason, metric=metric, metric_name=metric_name)
        ctx.note_state(name)
        if outcome == "failed":
            ctx.fail(
                name,
                OrchestratorError(
                    f"the retrain on {version} failed: {reason}",
                    hint="read the job's logs; the next dataset version is retrained as usual",
                ),
            )
            return True
        ctx.update(name, outcome=_AS_RESULT[outcome])
        score = f", {metric_name} {metric:.4f}" if outcome == "deployed" and metric is not None else ""
        ctx.reporter.info(f"[{name}] retrain on {version}: {outcome}{score}" + (f" ({reason})" if reason else ""))
        return True
