"""Launching retrains: each ready label's retrain on its dataset version, once, and the labels of one round
together.

Each retrain's intent is recorded before it is sent, under its ledger key (``retrain:<label>:<version>``,
recorded once, ever: a version handed to retraining before is not retrained again; a ``retry`` of a failed one
gets a key of its own). The intents are recorded in order, then the launches to remote targets are sent together
(a local command runs alone, one after another: it runs here), then the results are recorded in order. A crash
between these steps leaves intents that the next run reconciles before it sends anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config.settings import LabelConfig
from ..contracts.actions import retrain_key, retry_key
from ..errors import AuthError, HubError, MetadataError, OrchestratorError, RemoteUnavailable
from ..launch.protocol import Launched
from ..remote.documents import model_marker
from ..report.results import ALREADY_DONE, RETRAIN_RUNNING, RETRAINED
from ..state.records import DATASET_READY, RETRAIN_REQUESTED, Action, LabelState
from .context import Answer, RunContext, answer


@dataclass(frozen=True)
class Retrain:
    """A retrain to launch: ``label``'s, on dataset ``version`` (``retry``: a failed one, again)."""

    label: LabelConfig
    version: str
    retry: bool = False


@dataclass(frozen=True)
class _Intended:
    retrain: Retrain
    action: Action
    before: LabelState  # the label's state before its intent: where a failed launch returns it


class Retrainer:
    """Launches the retrains of one round: intents in order, launches together, results in order."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def launch(self, retrains: list[Retrain]) -> None:
        ctx = self.ctx
        watched = [r.label for r in retrains if r.label.model_repo is not None]
        markers = ctx.each(watched, lambda label: model_marker(ctx.hub, label.model_repo))
        for answered in markers.values():  # a wrong token stops the run before any intent is recorded
            if isinstance(answered.error, AuthError):
                raise answered.error
        intended = [i for r in retrains if (i := self._intend(r, markers.get(r.label))) is not None]
        if not intended:
            return
        ctx.crash_point("after_retrain_intent")
        launchers = {i: ctx.launcher(i.retrain.label.retrain) for i in intended}
        remote = [i for i in intended if launchers[i].remote]
        answers = ctx.each(remote, lambda i: launchers[i].launch(i.action))
        ctx.crash_point("after_retrain_launch")
        unexpected: list[BaseException] = []
        # The remote launches are recorded first, before any local command runs (which may take long); then each
        # local command runs here, alone, and is recorded as it returns.
        for i in [*remote, *(i for i in intended if i not in answers)]:
            sent = answers[i] if i in answers else answer(launchers[i].launch, i.action)
            try:
                self._record(i, sent)
            except Exception as exc:  # noqa: BLE001 - a bug in one launch: the others are recorded first
                unexpected.append(exc)
        ctx.crash_point("after_retrain_recorded")
        if unexpected:
            raise unexpected[0]

    def _intend(self, retrain: Retrain, marker: Answer[str] | None) -> _Intended | None:
        """Record the retrain's intent, with the label's state; None (and nothing sent) when its key was
        recorded before: that version was handed to retraining already."""
        ctx, journal, name, version = self.ctx, self.ctx.journal, retrain.label.name, retrain.version
        state = journal.state(name)
        ctx.update(name, new_version=version, old_version=state.baseline_version)
        key = retry_key(name, version, journal.run_id) if retrain.retry else retrain_key(name, version)
        action = Action("retrain", (name,), key, version, target=ctx.launcher(retrain.label.retrain).describe())
        requested = state.with_(state=RETRAIN_REQUESTED, dataset_version=version, model_marker=self._marker(retrain, marker))
        if journal.record(requested, intent=action):
            return _Intended(retrain, action, state)
        ctx.reporter.warning(f"dataset {version} was already handed to retraining: not retraining it again", title=f"label {name}")
        journal.record(state.retrained(version))
        ctx.update(name, outcome=ALREADY_DONE)
        ctx.note_state(name)
        return None

    def _marker(self, retrain: Retrain, marker: Answer[str] | None) -> str | None:
        """A seed retrain Space's model repo as it stood before the launch: what tells later that it deployed.
        None without a ``model_repo``, or when it could not be read (the outcome then comes from elsewhere)."""
        if marker is None:
            return None
        try:
            return marker.get()
        except AuthError:
            raise
        except (HubError, MetadataError, RemoteUnavailable) as exc:
            self.ctx.reporter.warning(f"could not read the model repo before the retrain: {exc.message}; its outcome "
                                      "is then learned from the retrain's status only", title=f"label {retrain.label.name}")
            return None

    def _record(self, intended: _Intended, sent: Answer[Launched]) -> None:
        ctx, journal = self.ctx, self.ctx.journal
        retrain, action = intended.retrain, intended.action
        name, version = retrain.label.name, retrain.version
        try:
            launched = sent.get()
        except RemoteUnavailable as exc:
            # The call may or may not have taken effect: the intent stays open for the next run to
            # reconcile against the target, rather than be recorded as failed and sent again.
            journal.record(journal.state(name).with_(last_error=exc.message))
            ctx.fail(name, OrchestratorError(exc.message + "; whether the retrain started is checked on the next run", hint=exc.hint))
            ctx.note_state(name)
            return
        except OrchestratorError as exc:
            # Back to dataset_ready, and the failed key released in the same transaction: the next run
            # tries this retrain again. (A retry goes back to where it was: `orchestrator retry` again.)
            before = intended.before.with_(last_error=exc.message)
            journal.record(before if retrain.retry else before.with_(state=DATASET_READY),
                           result=action.settled("failed", exc.message), forget=True)
            ctx.fail(name, exc)
            ctx.note_state(name)
            return
        follow = ctx.follows(retrain.label, ctx.launcher(retrain.label.retrain))
        journal.record(
            journal.state(name).retrained(version, ref=launched.ref, follow=follow),
            result=action.settled("ok", launched.detail),
        )
        ctx.reporter.info(f"[{name}] retrain launched: {launched.target} ({launched.detail}) on {version}")
        for line in launched.output:
            ctx.reporter.info(f"  | {line}")
        ctx.update(name, outcome=RETRAIN_RUNNING if follow else RETRAINED, retrain_ref=launched.ref)
        ctx.note_state(name)

