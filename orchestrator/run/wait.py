"""Waiting: for new dataset versions, and for the outcome of the retrains launched on them. Every waiting
label is polled in one loop, each settled on its own.

Blocking mode polls every POLL_INTERVAL until POLL_TIMEOUT; non-blocking mode checks once and leaves the
label pending (or retraining) for a later run. Reads are conditional (the ETag last seen), a Hub that is
having a bad minute means "poll again", a label whose dataset arrived is handed to retraining at once,
and a retrain whose outcome can be followed (:mod:`orchestrator.run.follow`) stays in the loop until it ends.
"""

from __future__ import annotations

from collections.abc import Callable

from ..config.settings import LabelConfig
from ..config.targets import Target
from ..contracts.metadata import DatasetMetadata
from ..errors import AuthError, HubError, LaunchError, MetadataError, OrchestratorError, RemoteUnavailable
from ..launch.protocol import Status
from ..plan.rules import has_arrived
from ..remote.documents import Observation
from ..report.results import EXPIRED, PENDING, PREPARE_FAILED, RETRAIN_RUNNING, TIMED_OUT
from ..state.records import DATASET_READY, IDLE, PREPARE_REQUESTED, RETRAINING, LabelState, utc_now
from .context import Answer, RunContext
from .costs import prepare_ended
from .follow import Follower
from .retrains import Retrain


class Waiter:
    """Polls every waiting label in one loop until each is settled, POLL_TIMEOUT passes, or (non-blocking)
    once."""

    def __init__(self, ctx: RunContext, retrain: Callable[[list[Retrain]], None]) -> None:
        self.ctx = ctx
        self.retrain = retrain
        self.arrived: list[Retrain] = []  # this round's labels whose dataset arrived: their retrains go together
        self.follower = Follower(ctx)
        self.latest: dict[str, DatasetMetadata | None] = {}
        # this round's looks, made at once for every waiting label: each launched prepare, then each dataset
        self.prepares: dict[tuple[Target, str], Answer[Status]] = {}
        self.reads: dict[str, Answer[Observation]] = {}

    def wait(self, labels: list[LabelConfig], *, once: list[LabelConfig] = ()) -> None:
        """Poll ``labels`` until each is settled or POLL_TIMEOUT (blocking mode), and ``once`` (retrains
        launched by an earlier run: a scheduled run does not hold a runner for them) a single time."""
        ctx, settings = self.ctx, self.ctx.settings
        glance = {label.name for label in once}
        waiting = {label.name: label for label in [*once, *labels]}
        later: dict[str, LabelConfig] = {}
        for name in waiting:
            ctx.etags.setdefault(name, ctx.journal.state(name).etag)
        if not waiting:
            return
        timeout = settings.poll_timeout if settings.wait else 0
        deadline = ctx.clock() + timeout
        with ctx.reporter.progress(list(waiting), timeout) as progress:
            first = True
            while True:
                self._look(list(waiting.values()))
                for name, label in list(waiting.items()):
                    if self._poll(label, progress):
                        del waiting[name]
                    elif first and self._expire_if_overdue(label):  # checked once more, then given up
                        del waiting[name]
                arrived, self.arrived = self.arrived, []
                self.retrain(arrived)
                for retrain in arrived:  # settled, unless its outcome is followed and not known yet
                    name = retrain.label.name
                    if ctx.journal.state(name).state != RETRAINING or self.follower.poll(retrain.label, progress):
                        waiting.pop(name, None)
                if first:  # looked at once: the rest of the wait is not theirs
                    later = {name: waiting.pop(name) for name in glance if name in waiting}
                first = False
                ctx.lock.check()
                remaining = deadline - ctx.clock()
                if not waiting or remaining <= 0:
                    break
                ctx.sleep(min(settings.poll_interval, remaining))
                progress.tick()
        for name in [*later, *waiting]:
            if ctx.journal.state(name).state == RETRAINING:
                ctx.update(name, outcome=RETRAIN_RUNNING, retrain_ref=ctx.journal.state(name).retrain_ref)
                ctx.reporter.info(f"[{name}] the retrain is still running; a later run follows it to its end")
            else:
                self._still_pending(name, self.latest.get(name))

    def _poll(self, label: LabelConfig, progress) -> bool:
        """Check ``label`` once; True when it is settled for this run (retrained, ended or failed)."""
        ctx, journal, name = self.ctx, self.ctx.journal, label.name
        state = journal.state(name)
        if state.state == RETRAINING:
            return self.follower.poll(label, progress)
        ended = self._prepare_ended(label, state)
        looked = self.reads.pop(name, None)
        try:
            seen = looked.get() if looked is not None else ctx.reader.read(label, etag=ctx.etags.get(name))
        except AuthError:
            raise  # a refused token stops the run, as it does before anything is triggered
        except (MetadataError, HubError) as exc:  # broken metadata or a permanent HTTP error: this label only
            return self._failed(name, exc)
        except RemoteUnavailable as exc:  # the Hub is having a bad minute: keep waiting
            progress.update(name, f"Hub unavailable, will poll again ({exc.message})")
            return False
        if seen.status == "malformed":  # a document that differs from the last one seen, and breaks the contract
            assert seen.error is not None
            return self._failed(name, seen.error)
        if seen.status == "changed":
            ctx.etags[name] = seen.etag
            self.latest[name] = seen.metadata
            ctx.warn_optional(name, seen)
        current = self.latest.get(name)
        required = state.required or 0
        if current is not None and has_arrived(
            baseline=state.baseline_version,
            version_tag=current.version_tag,
            num_samples=current.num_samples,
            required=required,
        ):
            progress.update(name, f"dataset {current.version_tag} arrived ({current.num_samples} samples)")
            ended = prepare_ended(ctx, label, state)  # the last of its labels to stop waiting records its cost
            journal.record(
                state.with_(
                    state=DATASET_READY,
                    prepare_ref=None,
                    dataset_version=current.version_tag,
                    etag=ctx.etags.get(name),
                    **self._moved_baselines(state),
                ),
                ended=ended,
            )
            ctx.crash_point("after_dataset_ready")
            ctx.update(name, num_samples=current.num_samples)
            self.arrived.append(Retrain(label, current.version_tag))  # launched with the round's others
            return False
        if ended is not None:
            return self._prepare_failed(label, ended, current)
        if seen.status == "changed" and ctx.etags.get(name) != state.etag:
            journal.record(state.with_(etag=ctx.etags.get(name)))  # the next run's GET stays conditional
        if current is None:
            progress.update(name, f"no change yet: version {state.baseline_version or 'none'}, required_len={required}")
        else:
            progress.update(
                name, f"current_len={current.num_samples} required_len={required} version={current.version_tag}"
            )
        return False

    @staticmethod
    def _moved_baselines(state: LabelState) -> dict:
        """The label's dataset arrived: the triggers now count new feedback from its prepare's counts and time."""
        if state.pending_corrections is None:  # no prepare of ours recorded its counts
            return {}
        return {"cursor": state.pending_corrections, "reviewed_cursor": state.pending_reviewed,
                "prepared_at": state.requested_at or utc_now()}

    def _look(self, labels: list[LabelConfig]) -> None:
        """This round's outside reads for the labels waiting for a dataset, made at once: first how each
        launched prepare stands (once for the labels that share it), then each label's metadata, so that a
        dataset published just before its prepare ended is seen."""
        ctx = self.ctx
        waiting = [label for label in labels if ctx.journal.state(label.name).state == PREPARE_REQUESTED]
        prepares = {self._prepare_of(label): label for label in waiting if ctx.journal.state(label.name).prepare_ref}
        launchers = {target: ctx.launcher(target) for target, _ in prepares}
        self.prepares = ctx.each(list(prepares), lambda key: launchers[key[0]].status(key[1]))
        self.reads = {
            label.name: answer
            for label, answer in ctx.each(waiting, lambda label: ctx.reader.read(label, etag=ctx.etags.get(label.name))).items()
        }

    def _prepare_of(self, label: LabelConfig) -> tuple[Target, str]:
        return self.ctx.settings.prepare_target(label), self.ctx.journal.state(label.name).prepare_ref or ""

    def _prepare_ended(self, label: LabelConfig, state: LabelState) -> Status | None:
        """The launched prepare's status when it has ended (failed, or finished) without the label's dataset
        having arrived before; None while it runs, or when it cannot be followed (no ref recorded)."""
        answer = self.prepares.get(self._prepare_of(label)) if state.state == PREPARE_REQUESTED else None
        if answer is None or state.prepare_ref is None:
            return None
        ctx = self.ctx
        try:  # a refused token is not caught: it stops the run
            status = answer.get()
        except RemoteUnavailable:
            return None  # a bad minute: look again next round
        except (HubError, LaunchError) as exc:
            if (label.name, exc.message) not in ctx.warned:
                ctx.warned.add((label.name, exc.message))
                ctx.reporter.warning(f"could not check the prepare: {exc.message}", title=f"label {label.name}")
            return None
        return status if status.phase != "running" else None

    def _prepare_failed(self, label: LabelConfig, status: Status, seen: DatasetMetadata | None) -> bool:
        """The prepare ended and the label's dataset did not arrive: the label fails now, not at
        PREPARE_DEADLINE, and is not prepared again for the same feedback on its own."""
        ctx, name = self.ctx, label.name
        state = ctx.journal.state(name)
        target = ctx.settings.prepare_target(label).describe()
        if status.phase == "failed":
            tail = "\n".join(status.logs[-10:])
            why = status.detail + (f"; the end of its logs:\n{tail}" if tail else "")
        else:
            why = f"{status.detail}, and {self._missing(state, seen)}"
        error = OrchestratorError(
            f"the prepare ({target}) failed: {why}",
            hint=f"read the prepare job's logs; `orchestrator retry --label {name}` launches it again for the same "
            "feedback (new corrections launch it again too)",
        )
        return self._give_up(label, state, error, "failed", PREPARE_FAILED)

    def _give_up(self, label: LabelConfig, state: LabelState, error: OrchestratorError, prepare_outcome: str,
                 outcome: str) -> bool:
        """The awaited prepare is over without the dataset: the label is idle again, fails with ``error``, and is
        not prepared again for the same feedback on its own."""
        ended = prepare_ended(self.ctx, label, state)
        self.ctx.journal.record(
            state.with_(
                state=IDLE, requested_at=None, prepare_ref=None, prepare_outcome=prepare_outcome,
                prepare_failed_at=state.pending_corrections, last_error=error.message,
            ),
            ended=ended,
        )
        self.ctx.fail(state.label, error, outcome=outcome)
        self.ctx.note_state(state.label)
        return True

    @staticmethod
    def _missing(state: LabelState, seen: DatasetMetadata | None) -> str:
        """Why the awaited dataset is not there yet, in a few words."""
        if seen is not None and seen.version_tag != state.baseline_version:
            return f"version {seen.version_tag} has num_samples={seen.num_samples} < required {state.required}"
        return f"version_tag is still {state.baseline_version or 'missing'}"

    def _failed(self, name: str, exc: OrchestratorError) -> bool:
        self.ctx.journal.record(self.ctx.journal.state(name).with_(last_error=exc.message))
        self.ctx.fail(name, exc)
        self.ctx.note_state(name)
        return True

    def _expire_if_overdue(self, label: LabelConfig) -> bool:
        """A prepare pending longer than PREPARE_DEADLINE fails; the next run may prepare again."""
        ctx = self.ctx
        state = ctx.journal.state(label.name)
        if state.state != PREPARE_REQUESTED or state.requested_at is None:
            return False
        age = (utc_now() - state.requested_at).total_seconds()
        if age <= ctx.settings.deadline:
            return False
        error = OrchestratorError(
            f"no new dataset {age:.0f}s after prepare was requested (deadline {ctx.settings.deadline:.0f}s); "
            "the label is idle again and may be prepared on the next run",
            hint="check the prepare job's logs; raise PREPARE_DEADLINE if preparation is this slow",
        )
        return self._give_up(label, state, error, "expired", EXPIRED)

    def _still_pending(self, name: str, seen: DatasetMetadata | None) -> None:
        ctx = self.ctx
        why = self._missing(ctx.journal.state(name), seen)
        if not ctx.settings.wait:
            ctx.update(name, outcome=PENDING)
            ctx.reporter.info(f"[{name}] still pending ({why}); a later run checks again")
            return
        ctx.fail(
            name,
            OrchestratorError(
                f"no new dataset after {ctx.settings.poll_timeout:.0f}s: {why}; the label stays pending and the "
                "next run goes on waiting",
                hint="check the prepare job's logs; raise POLL_TIMEOUT if preparation is slow",
            ),
            outcome=TIMED_OUT,
        )
