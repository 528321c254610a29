"""Recovery: settle the intents a crashed run left without a result, by checking the outside world first.

- the action visibly happened (the dataset moved, the Space is building): record it as sent;
- it visibly did not (no sign of it within a minute of the intent): send it now;
- nobody can tell *yet* (a GitHub run dispatched moments ago may not be listed): left open, and the label
  waits for the next run;
- nobody can tell (an older intent): a prepare is assumed sent, with PREPARE_DEADLINE as the backstop; a
  retrain is sent again. A duplicate retrain costs one training run that the gate then rejects; a lost
  one would leave the model stale without anyone noticing.

A Hub that rejects the token or cannot be reached stops the run here, before anything is sent.
"""

from __future__ import annotations

from ..config.settings import LabelConfig
from ..errors import AuthError, HubError, LaunchError, OrchestratorError, RemoteUnavailable
from ..launch.protocol import Found, Launcher
from ..state.records import DATASET_READY, Action, ActionResult, utc_now
from .context import RunContext


def reconcile(ctx: RunContext) -> dict[str, OrchestratorError]:
    """Settle every unfinished action; returns the labels whose re-sending failed, with the error."""
    errors: dict[str, OrchestratorError] = {}
    settings, journal = ctx.settings, ctx.journal
    for action in journal.store.unfinished():
        age = (utc_now() - action.intent_at).total_seconds()
        labels = [settings.label(name) for name in action.labels if name in settings.label_names]
        if not labels:
            continue
        target = settings.prepare_target(labels[0]) if action.kind == "prepare" else labels[0].retrain
        launcher = ctx.launcher(target)
        found = Found(True) if action.kind == "prepare" and _dataset_moved(ctx, labels) else None
        if found is None:
            try:
                found = launcher.evidence(action, age)
            except (AuthError, RemoteUnavailable):
                raise
            except (HubError, LaunchError) as exc:
                ctx.reporter.warning(f"could not check {action.key}: {exc.message}", title="reconcile")
                found = Found(None)
        sent = found.sent
        if found.later:
            why = f"{launcher.describe()} cannot tell yet whether the {action.kind} recorded by run {action.run_id[:8]} happened"
            ctx.reporter.warning(f"{why}: the next run looks again before sending anything", title="reconcile")
            error = OrchestratorError(f"{why}; the next run looks again", hint="run again in a minute")
            errors.update((label.name, error) for label in labels)
            continue
        if sent is None and action.kind == "prepare":
            how = "assumed sent (cannot tell); PREPARE_DEADLINE backs this up"
            ctx.reporter.warning(f"reconciled {action.key}: {how}", title="reconcile")
            _record_sent(ctx, action, labels, launcher, "reconciled", how, found.ref)
        elif sent:
            how = f"it is under way ({found.ref})" if found.ref and action.kind == "retrain" else "it is under way"
            ctx.reporter.info(f"reconciled {action.key}: {how}")
            _record_sent(ctx, action, labels, launcher, "reconciled", how, found.ref)
        else:
            why = "shows no sign of it" if sent is False else "cannot tell whether it happened"
            ctx.reporter.warning(
                f"{action.kind} for {', '.join(action.labels)} was recorded by run {action.run_id[:8]} but not "
                f"confirmed, and {launcher.describe()} {why}: sending it now",
                title="reconcile",
            )
            failed = _resend(ctx, action, labels, launcher)
            if failed is not None:
                errors.update((label.name, failed) for label in labels)
    return errors


def _dataset_moved(ctx: RunContext, labels: list[LabelConfig]) -> bool:
    for label in labels:
        state = ctx.journal.state(label.name)
        try:
            seen = ctx.reader.read(label)
        except (AuthError, RemoteUnavailable):
            raise
        except OrchestratorError:
            continue
        if seen.metadata is not None and seen.metadata.version_tag != state.baseline_version:
            return True
    return False


def _resend(ctx: RunContext, action: Action, labels: list[LabelConfig], launcher: Launcher) -> OrchestratorError | None:
    journal = ctx.journal
    try:
        launched = launcher.launch(action)
    except (AuthError, RemoteUnavailable):
        raise  # the intent stays open: the next run reconciles it again
    except OrchestratorError as exc:
        ctx.reporter.error(f"re-sending {action.key} failed: {exc.message}", title="reconcile")
        if action.kind == "retrain":  # back to dataset_ready: a later run tries this retrain again
            state = journal.state(labels[0].name).with_(state=DATASET_READY, last_error=exc.message)
            journal.record(state, result=action.settled("failed", exc.message), forget=True)
        else:  # the labels stay pending; PREPARE_DEADLINE lets them be prepared again
            journal.record(result=action.settled("failed", exc.message))
        return exc
    _record_sent(ctx, action, labels, launcher, "ok", launched.detail, launched.ref)
    return None


def _record_sent(
    ctx: RunContext,
    action: Action,
    labels: list[LabelConfig],
    launcher: Launcher,
    result: ActionResult,
    detail: str | None,
    ref: str | None,
) -> None:
    """Record ``action`` as having happened: a retrain also leaves its label idle, that version retrained
    (or ``retraining``, its outcome followed, when ``ref`` names what it started)."""
    journal = ctx.journal
    if action.kind == "retrain":
        follow = ref is not None and ctx.follows(labels[0], launcher)
        done = [journal.state(labels[0].name).retrained(action.version, ref=ref, follow=follow)]
    else:  # the labels wait for their datasets, following the prepare when it is known what it started
        done = [journal.state(label.name).with_(prepare_ref=ref) for label in labels if ref is not None]
    journal.record(*done, result=action.settled(result, detail))
