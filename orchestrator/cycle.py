"""One orchestration cycle, the only place that sequences the steps:

    lock → reconcile unfinished actions → count → decide → read baselines → preflight
         → prepare → await (blocking: until POLL_TIMEOUT; non-blocking: one check) → retrain → unlock

Every external action is recorded as an *intent* before the call and a *result* after it, together with
the label's new state, in one fenced transaction. A crash at any point therefore leaves either nothing,
or an intent whose outcome the next run checks against the outside world (the Space's runtime, the
dataset's metadata) before it sends anything again. A label waiting for its dataset is never prepared
again, and a dataset version handed to retraining is never retrained again.

Order also fixes the seed's faults: each firing label's current ``version_tag`` is read *before* the
prepare restart, all pending labels are polled in one loop, a label's failure is its own, and a dry
run stops after the read-only checks.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import Engine

from .config import CommandTarget, LabelConfig, LocalFileSource, Settings, SpaceTarget
from .errors import (
    EXIT_LABEL_FAILED,
    EXIT_OK,
    AuthError,
    HubError,
    HubUnavailable,
    LaunchError,
    LockedError,
    MetadataError,
    OrchestratorError,
)
from .feedback import count_corrections
from .hub import Hub
from .launchers import Job, Launcher, launcher_for
from .metadata import DatasetMetadata
from .policy import decide, has_arrived
from .report import Reporter
from .results import (
    ALREADY_DONE,
    FAILED,
    PENDING,
    PLANNED,
    RETRAINED,
    SKIPPED,
    TIMED_OUT,
    LabelResult,
    RunResult,
)
from .sources import MetadataReader, Observation
from .state import (
    DATASET_READY,
    HEAD,
    IDLE,
    PREPARE_REQUESTED,
    RETRAIN_REQUESTED,
    Action,
    LabelState,
    Lease,
    LostLease,
    StateStore,
    utc_now,
)

# Named points where ORCHESTRATOR_CRASH_AT makes the process exit abruptly (crash-recovery tests).
CRASH_POINTS = (
    "after_lock",
    "after_prepare_intent",
    "after_prepare_launch",
    "after_prepare_recorded",
    "after_dataset_ready",
    "after_retrain_intent",
    "after_retrain_launch",
    "after_retrain_recorded",
)
CRASH_EXIT_CODE = 70

Target = SpaceTarget | CommandTarget


def iso(moment: datetime | None = None) -> str:
    return (moment or datetime.now(timezone.utc)).isoformat(timespec="seconds")


@dataclass
class Cycle:
    """What one run talks to. Tests build it with real parts pointed at local stand-ins."""

    settings: Settings
    engine: Engine
    state_engine: Engine
    hub: Hub
    reporter: Reporter
    dry_run: bool = False
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    launcher_factory: Callable[..., Launcher] = launcher_for
    results: dict[str, LabelResult] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.reader = MetadataReader(self.hub)
        self.store = StateStore(self.state_engine)
        self.run_id = uuid.uuid4().hex
        self.lease: Lease | None = None
        self.states: dict[str, LabelState] = {}
        self.etags: dict[str, str | None] = {}
        self.reconcile_errors: dict[str, OrchestratorError] = {}
        self.heartbeat: _Heartbeat | None = None
        self.wait = self.settings.wait
        self.warned: set[tuple[str, str | None]] = set()

    # ================================================================================== the run
    def run(self) -> RunResult:
        started = iso()
        try:
            try:
                if self.dry_run:
                    self._load_read_only()
                else:
                    self._lock()
                    self.heartbeat = _Heartbeat(self.store, self.lease, self.reporter)
                    self._crash_point("after_lock")
                self._run()
            except LockedError as exc:
                self.reporter.info(exc.message)
                return self._result(started, exit_code=EXIT_OK, notes=(exc.message,), locked=True)
            except OrchestratorError as exc:
                self.reporter.error(str(exc), title="orchestrator stopped")
                return self._finish(started, exit_code=exc.exit_code, error=exc.message, hint=exc.hint)
            failed = any(r.failed for r in self.results.values())
            return self._finish(started, exit_code=EXIT_LABEL_FAILED if failed else EXIT_OK)
        finally:  # whatever happened (an interrupt, a bug), the heartbeat stops and the lease is given back
            self._release()

    def _result(self, started: str, *, locked: bool = False, **kwargs) -> RunResult:
        ordered = tuple(self.results[label.name] for label in self.settings.labels if label.name in self.results)
        if locked:
            ordered = ()
        return RunResult(started_at=started, finished_at=iso(), dry_run=self.dry_run, labels=ordered, **kwargs)

    def _finish(self, started: str, **kwargs) -> RunResult:
        result = self._result(started, **kwargs)
        if self.lease is not None:
            try:  # the run row is this run's own: it is written even if the lease was lost
                with self.store.write(None) as tx:
                    tx.finish_run(self.run_id, status=result.status, exit_code=result.exit_code, summary=result.to_dict())
            except OrchestratorError as exc:  # the state database went away: the result still gets reported
                self.reporter.warning(f"could not record the run's result: {exc.message}", title="history")
        return result

    def _release(self) -> None:
        if self.heartbeat is not None:
            self.heartbeat.stop()
            self.heartbeat = None
        if self.lease is not None:
            try:
                self.store.release(self.lease)
            except OrchestratorError as exc:  # it expires by itself after LOCK_LEASE
                self.reporter.warning(f"could not release the run lock: {exc.message}", title="lock")
            self.lease = None

    def _lock(self) -> None:
        self.store.migrate()
        deadline = self.clock() + self.settings.lock_wait
        owner = f"{os.uname().nodename}:{os.getpid()}:{self.run_id[:8]}"
        while True:
            self.lease = self.store.acquire(owner, self.settings.lock_lease)
            if self.lease is not None:
                break
            if self.clock() >= deadline:
                holder, expires = self.store.holder()
                raise LockedError(
                    f"skipped: another run holds the lock ({holder}, until {iso(expires) if expires else '?'}); "
                    "it will carry on where needed"
                )
            self.sleep(min(1.0, max(deadline - self.clock(), 0.05)))
        with self.store.write(self.lease) as tx:
            tx.mark_crashed(self.run_id)
            tx.start_run(self.run_id, dry_run=False, mode="wait" if self.wait else "no-wait")
        self.states = self.store.labels()

    def _load_read_only(self) -> None:
        """A dry run writes nothing anywhere: it reads the state if the tables exist (and does not
        create a SQLite file that is not there)."""
        url = self.state_engine.url
        if url.get_backend_name() == "sqlite" and url.database and not os.path.exists(url.database):
            return
        if self.store.schema_version() == HEAD:
            self.states = self.store.labels()

    def _crash_point(self, name: str) -> None:
        if self.settings.crash_at == name:
            self.reporter.info(f"ORCHESTRATOR_CRASH_AT={name}: exiting abruptly (test hook)")
            os._exit(CRASH_EXIT_CODE)

    # ================================================================================== steps
    def _run(self) -> None:
        settings = self.settings
        if not self.dry_run:
            self._reconcile()
        counts = count_corrections(self.engine, settings.labels)
        firing: list[LabelConfig] = []
        for label in settings.labels:
            state = self.state(label.name)
            if self._record_decision(label, counts[label.name], state):
                firing.append(label)
        for name, exc in self.reconcile_errors.items():
            if name in self.results:
                self._fail(name, exc)
        pending = [label for label in settings.labels if self.state(label.name).state == PREPARE_REQUESTED]
        # dataset_ready, or retrain_requested with its intent settled: the retrain is (re)tried, and the
        # ledger's key tells whether it was in fact sent already.
        ready = [
            label
            for label in settings.labels
            if self.state(label.name).state in (DATASET_READY, RETRAIN_REQUESTED)
            and label.name not in self.reconcile_errors  # just failed: the next run tries again
        ]
        if not firing and not pending and not ready:
            self.reporter.info("no label reached its threshold and none is pending: nothing to do")
            return

        baselines = self._read_baselines(firing)
        firing = self._preflight([label for label in firing if label.name in baselines])
        if self.dry_run:
            self._print_plan(firing, pending + ready, baselines)
            return
        for label in ready:  # a dataset that arrived before a crash: straight to retraining
            self._retrain(label, self.state(label.name).dataset_version or "")
        prepared = self._prepare(firing, baselines)
        self._await([*pending, *prepared])

    def state(self, name: str) -> LabelState:
        return self.states.get(name) or LabelState(name)

    def _save(
        self, *states: LabelState, intent: tuple | None = None, result: tuple | None = None, forget: bool = False
    ) -> bool:
        """Write label states and a ledger intent or result, in one fenced transaction. ``forget`` drops
        the failed result's key in the same transaction, so that the action may be tried again."""
        recorded = True
        with self.store.write(self.lease) as tx:
            if intent is not None:
                recorded = tx.intent(*intent, run_id=self.run_id)
                if not recorded:
                    return False
            if result is not None:
                tx.result(*result)
                if forget:
                    tx.forget(result[0])
            for state in states:
                self.states[state.label] = tx.save(state.with_(last_run_id=self.run_id))
        return recorded

    def _record_decision(self, label: LabelConfig, corrections: int, state: LabelState) -> bool:
        cumulative = self.settings.trigger_mode == "cumulative"
        decision = decide(label, corrections, since=0 if cumulative else state.cursor)
        result = LabelResult(
            label=label.name,
            corrections=corrections,
            counted=decision.counted,
            dataset_len=decision.dataset_len,
            threshold=decision.threshold,
            required=decision.required,
            fire=decision.fire and not state.pending,
            reason=decision.reason,
            decision="pending" if state.pending else ("prepare" if decision.fire else "skip"),
            state=state.state,
            old_version=state.baseline_version if state.pending else None,
            outcome=PENDING if state.pending else SKIPPED,
            prepare_target=self.settings.prepare_target(label).describe(),
            retrain_target=label.retrain.describe(),
        )
        self.results[label.name] = result
        with self.reporter.group(f"label {label.name}"):
            sampled = decision.dataset_len - decision.counted
            scope = "" if cumulative or not state.cursor else f" new_since_last_prepare={decision.counted}"
            self.reporter.info(
                f"[{label.name}] corrections={corrections}{scope} sampled_correct={sampled} "
                f"dataset_len={decision.dataset_len} threshold={decision.threshold}"
            )
            if state.pending:
                since = iso(state.requested_at) if state.requested_at else "?"
                self.reporter.info(
                    f"[{label.name}] pending since {since}: waiting for a dataset newer than "
                    f"{state.baseline_version or 'none'} ({state.state})"
                )
            else:
                self.reporter.info(f"[{label.name}] {'prepare' if decision.fire else 'skip'}: {decision.reason}")
        return result.fire

    def _fail(self, label: str, exc: OrchestratorError, *, outcome: str = FAILED) -> None:
        self.results[label] = self.results[label].with_(outcome=outcome, error=exc.message, hint=exc.hint)
        level = self.reporter.warning if outcome in (TIMED_OUT, PENDING) else self.reporter.error
        level(str(exc), title=f"label {label}: {outcome}")

    def _note_state(self, name: str) -> None:
        self.results[name] = self.results[name].with_(state=self.state(name).state)

    # ---------------------------------------------------------------------------------- recovery
    def _reconcile(self) -> None:
        """Settle intents a crashed run left without a result: check the outside world first.

        - the action visibly happened (the dataset moved, the Space is building): record it as sent;
        - it visibly did not (no sign of it within a minute of the intent): send it now;
        - nobody can tell (an older intent): a prepare is assumed sent, with PREPARE_DEADLINE as the
          backstop; a retrain is sent again. A duplicate retrain costs one training run that the gate
          then rejects; a lost one would leave the model stale without anyone noticing.
        A Hub that rejects the token or cannot be reached stops the run here, before anything is sent.
        """
        for action in self.store.unfinished():
            age = (utc_now() - action.intent_at).total_seconds()
            labels = [self.settings.label(name) for name in action.labels if name in self.settings.label_names]
            if not labels:
                continue
            target = self.settings.prepare_target(labels[0]) if action.kind == "prepare" else labels[0].retrain
            launcher = self.launcher_factory(target, self.hub)
            sent = self._dataset_moved(labels) if action.kind == "prepare" else False
            if not sent:
                try:
                    sent = launcher.evidence(age)
                except (AuthError, HubUnavailable):
                    raise
                except (HubError, LaunchError) as exc:
                    self.reporter.warning(f"could not check {action.key}: {exc.message}", title="reconcile")
                    sent = None
            if sent is None and action.kind == "prepare":
                how = "assumed sent (cannot tell); PREPARE_DEADLINE backs this up"
                self.reporter.warning(f"reconciled {action.key}: {how}", title="reconcile")
                self._save(result=(action.key, "reconciled", how))
            elif sent:
                how = "it is under way"
                self.reporter.info(f"reconciled {action.key}: {how}")
                if action.kind == "retrain":
                    self._save(self._retrained(self.state(labels[0].name), action.version), result=(action.key, "reconciled", how))
                else:
                    self._save(result=(action.key, "reconciled", how))
            else:
                why = "shows no sign of it" if sent is False else "cannot tell whether it happened"
                self.reporter.warning(
                    f"{action.kind} for {', '.join(action.labels)} was recorded by run {action.run_id[:8]} but not "
                    f"confirmed, and {launcher.describe()} {why}: sending it now",
                    title="reconcile",
                )
                self._resend(action, labels, launcher)

    def _dataset_moved(self, labels: list[LabelConfig]) -> bool:
        for label in labels:
            state = self.state(label.name)
            try:
                seen = self.reader.read(label)
            except (AuthError, HubUnavailable):
                raise
            except OrchestratorError:
                continue
            if seen.metadata is not None and seen.metadata.version_tag != state.baseline_version:
                return True
        return False

    def _resend(self, action: Action, labels: list[LabelConfig], launcher: Launcher) -> None:
        job = Job(action.kind, action.labels, action.key, action.version)
        try:
            launched = launcher.launch(job)
        except (AuthError, HubUnavailable):
            raise  # the intent stays open: the next run reconciles it again
        except OrchestratorError as exc:
            self.reporter.error(f"re-sending {action.key} failed: {exc.message}", title="reconcile")
            if action.kind == "retrain":  # back to dataset_ready: a later run tries this retrain again
                state = self.state(labels[0].name).with_(state=DATASET_READY, last_error=exc.message)
                self._save(state, result=(action.key, "failed", exc.message), forget=True)
            else:  # the labels stay pending; PREPARE_DEADLINE lets them be prepared again
                self._save(result=(action.key, "failed", exc.message))
            for label in labels:
                self.reconcile_errors[label.name] = exc
            return
        if action.kind == "retrain":
            self._save(self._retrained(self.state(labels[0].name), action.version), result=(action.key, "ok", launched.detail))
        else:
            self._save(result=(action.key, "ok", launched.detail))

    def _retrained(self, state: LabelState, version: str | None) -> LabelState:
        return state.with_(
            state=IDLE,
            last_retrained_version=version,
            pending_corrections=None,
            required=None,
            baseline_version=None,
            dataset_version=None,
            requested_at=None,
            last_error=None,
        )

    def _expire_if_overdue(self, name: str) -> bool:
        """A prepare pending longer than PREPARE_DEADLINE fails; the next run may prepare again."""
        state = self.state(name)
        if state.requested_at is None:
            return False
        age = (utc_now() - state.requested_at).total_seconds()
        if age <= self.settings.deadline:
            return False
        error = OrchestratorError(
            f"no new dataset {age:.0f}s after prepare was requested (deadline {self.settings.deadline:.0f}s); "
            "the label is idle again and may be prepared on the next run",
            hint="check the prepare job's logs; raise PREPARE_DEADLINE if preparation is this slow",
        )
        self._save(state.with_(state=IDLE, requested_at=None, last_error=error.message))
        self._fail(name, error)
        self._note_state(name)
        return True

    # ---------------------------------------------------------------------------------- before acting
    def _read_baselines(self, firing: list[LabelConfig]) -> dict[str, DatasetMetadata | None]:
        """Each firing label's current version, read BEFORE anything is triggered. A baseline that breaks
        the contract counts as no version; its ETag is kept, so that only a document that differs from
        it can end the wait."""
        baselines: dict[str, DatasetMetadata | None] = {}
        for label in firing:
            try:
                seen = self.reader.read(label)
            except (AuthError, HubUnavailable):
                raise  # the token or the Hub itself is the problem: nothing can work, stop now
            except (HubError, MetadataError) as exc:
                self._fail(label.name, exc)
                continue
            self.etags[label.name] = seen.etag
            if seen.status == "malformed":
                assert seen.error is not None
                self.reporter.warning(
                    f"{seen.error.message}; it counts as no version yet, and only a new document ends the wait",
                    title=f"label {label.name}: metadata",
                )
                baselines[label.name] = None
                continue
            baselines[label.name] = seen.metadata
            self._warn_optional(label.name, seen)
            version = seen.metadata.version_tag if seen.metadata else None
            self.results[label.name] = self.results[label.name].with_(old_version=version)
            self.reporter.info(f"[{label.name}] current dataset version: {version or 'none yet'}")
        return baselines

    def _warn_optional(self, name: str, seen: Observation) -> None:
        """Once per document: what is missing or mistyped among the optional metadata fields."""
        if seen.metadata is None or not seen.metadata.warnings or (name, seen.etag) in self.warned:
            return
        self.warned.add((name, seen.etag))
        self.reporter.warning(
            f"metadata {seen.metadata.version_tag}: {'; '.join(seen.metadata.warnings)} (optional fields; the cycle "
            "needs only version_tag and num_samples)",
            title=f"label {name}: metadata",
        )

    def _preflight(self, firing: list[LabelConfig]) -> list[LabelConfig]:
        """Read-only checks of every target a firing label needs, before anything is triggered."""
        usable = []
        for label in firing:
            if self._check(label.retrain, [label]):
                usable.append(label)
        for target, members in self._by_prepare_target(usable).items():
            if not self._check(target, members):
                usable = [label for label in usable if label not in members]
        return usable

    def _check(self, target: Target, labels: list[LabelConfig]) -> bool:
        try:
            self.launcher_factory(target, self.hub).check()
        except (AuthError, HubUnavailable):
            raise
        except (HubError, LaunchError) as exc:
            for label in labels:
                self._fail(label.name, exc)
            return False
        return True

    def _by_prepare_target(self, labels: list[LabelConfig]) -> dict[Target, list[LabelConfig]]:
        groups: dict[Target, list[LabelConfig]] = {}
        for label in labels:
            groups.setdefault(self.settings.prepare_target(label), []).append(label)
        return groups

    def _print_plan(self, firing: list[LabelConfig], waiting: list[LabelConfig], baselines: dict) -> None:
        self.reporter.info("DRY RUN: nothing is restarted, recorded or awaited. The plan:")
        for target, members in self._by_prepare_target(firing).items():
            names = ", ".join(label.name for label in members)
            self.reporter.info(f"  would launch prepare: {target.describe()} for {names}")
        how_long = f"for up to {self.settings.poll_timeout:.0f}s" if self.wait else "once (non-blocking)"
        for label in firing:
            old = baselines.get(label.name)
            result = self.results[label.name]
            self.reporter.info(
                f"  [{label.name}] would wait {how_long} for version_tag to change from "
                f"{old.version_tag if old else 'none'} with num_samples >= {result.required}, "
                f"then launch retrain: {label.retrain.describe()}"
            )
            if isinstance(label.metadata, LocalFileSource) and not os.path.isdir(os.path.dirname(label.metadata.path)):
                self.reporter.warning(
                    f"the metadata folder {os.path.dirname(label.metadata.path)} does not exist: unless the prepare "
                    "job creates it, a real run would wait for nothing",
                    title=f"label {label.name}: plan",
                )
            self.results[label.name] = result.with_(outcome=PLANNED)
        for label in waiting:
            state = self.state(label.name)
            self.reporter.info(
                f"  [{label.name}] pending: would check {how_long} for a version newer than "
                f"{state.baseline_version or 'none'}, then launch retrain: {label.retrain.describe()}"
            )

    # ---------------------------------------------------------------------------------- prepare
    def _prepare(self, firing: list[LabelConfig], baselines: dict[str, DatasetMetadata | None]) -> list[LabelConfig]:
        prepared = []
        for target, members in self._by_prepare_target(firing).items():
            names = tuple(label.name for label in members)
            key = f"prepare:{self.run_id}:" + ",".join(f"{n}={self.results[n].corrections}" for n in names)
            launcher = self.launcher_factory(target, self.hub)
            now = utc_now()
            requested = [
                self.state(label.name).with_(
                    state=PREPARE_REQUESTED,
                    pending_corrections=self.results[label.name].corrections,
                    required=self.results[label.name].required,
                    baseline_version=baselines[label.name].version_tag if baselines.get(label.name) else None,
                    etag=self.etags.get(label.name),
                    dataset_version=None,
                    requested_at=now,
                    last_error=None,
                )
                for label in members
            ]
            self._save(*requested, intent=(key, "prepare", names, launcher.describe()))
            self._crash_point("after_prepare_intent")
            try:
                launched = launcher.launch(Job("prepare", names, key))
            except HubUnavailable as exc:
                # Maybe restarted, maybe not: the labels stay pending and the open intent is reconciled by
                # the next run (resent if the Space shows no sign of it), PREPARE_DEADLINE the backstop.
                for name in names:
                    self._fail(name, OrchestratorError(exc.message + "; whether prepare started is checked on the next run", hint=exc.hint))
                    self._note_state(name)
                continue
            except OrchestratorError as exc:
                idle = [self.state(n).with_(state=IDLE, requested_at=None, last_error=exc.message) for n in names]
                self._save(*idle, result=(key, "failed", exc.message))
                for name in names:
                    self._fail(name, exc)
                    self._note_state(name)
                continue
            self._crash_point("after_prepare_launch")
            self._save(result=(key, "ok", launched.detail))
            self._crash_point("after_prepare_recorded")
            self.reporter.info(f"prepare launched: {launched.target} ({launched.detail}) for {', '.join(names)}")
            for line in launched.output:
                self.reporter.info(f"  | {line}")
            prepared.extend(members)
        return prepared

    # ---------------------------------------------------------------------------------- await
    def _await(self, labels: list[LabelConfig]) -> None:
        settings = self.settings
        waiting = {label.name: label for label in labels}
        for name in waiting:
            self.etags.setdefault(name, self.state(name).etag)
        if not waiting:
            return
        latest: dict[str, DatasetMetadata | None] = {}
        deadline = self.clock() + (settings.poll_timeout if self.wait else 0)
        with self.reporter.progress(list(waiting), settings.poll_timeout if self.wait else 0) as progress:
            first = True
            while True:
                for name, label in list(waiting.items()):
                    if self._poll(label, latest, progress):
                        del waiting[name]
                    elif first and self._expire_if_overdue(name):  # checked once more, then given up
                        del waiting[name]
                first = False
                if self.heartbeat is not None and self.heartbeat.lost.is_set():
                    raise LostLease(
                        "this run's lock was taken over by another run while it waited; it stops, the other carries on",
                        hint="raise LOCK_LEASE, or check that the state database stays reachable",
                    )
                remaining = deadline - self.clock()
                if not waiting or remaining <= 0:
                    break
                self.sleep(min(settings.poll_interval, remaining))
                progress.tick()
        for name in waiting:
            self._still_pending(name, latest.get(name))

    def _still_pending(self, name: str, seen: DatasetMetadata | None) -> None:
        state = self.state(name)
        if seen is not None and seen.version_tag != state.baseline_version:
            why = f"version {seen.version_tag} has num_samples={seen.num_samples} < required {state.required}"
        else:
            why = f"version_tag is still {state.baseline_version or 'missing'}"
        if not self.wait:
            self.results[name] = self.results[name].with_(outcome=PENDING)
            self.reporter.info(f"[{name}] still pending ({why}); a later run checks again")
            return
        self._fail(
            name,
            OrchestratorError(
                f"no new dataset after {self.settings.poll_timeout:.0f}s: {why}; the label stays pending and the "
                "next run goes on waiting",
                hint="check the prepare job's logs; raise POLL_TIMEOUT if preparation is slow",
            ),
            outcome=TIMED_OUT,
        )

    def _poll(self, label: LabelConfig, latest: dict, progress) -> bool:
        """Check ``label`` once; True when it is settled for this run (retrained or failed)."""
        name = label.name
        state = self.state(name)
        try:
            seen = self.reader.read(label, etag=self.etags.get(name))
        except (MetadataError, HubError) as exc:  # broken metadata or a permanent HTTP error: this label only
            self._save(state.with_(last_error=exc.message))
            self._fail(name, exc)
            self._note_state(name)
            return True
        except HubUnavailable as exc:  # the Hub is having a bad minute: keep waiting
            progress.update(name, f"Hub unavailable, will poll again ({exc.message})")
            return False
        if seen.status == "malformed":  # a document that differs from the last one seen, and breaks the contract
            assert seen.error is not None
            self._save(state.with_(last_error=seen.error.message))
            self._fail(name, seen.error)
            self._note_state(name)
            return True
        if seen.status == "changed":
            self.etags[name] = seen.etag
            latest[name] = seen.metadata
            self._warn_optional(name, seen)
        current = latest.get(name)
        required = state.required or 0
        if current is not None and has_arrived(
            baseline=state.baseline_version,
            version_tag=current.version_tag,
            num_samples=current.num_samples,
            required=required,
        ):
            progress.update(name, f"dataset {current.version_tag} arrived ({current.num_samples} samples)")
            self._save(
                state.with_(
                    state=DATASET_READY,
                    dataset_version=current.version_tag,
                    etag=self.etags.get(name),
                    cursor=state.pending_corrections if state.pending_corrections is not None else state.cursor,
                )
            )
            self._crash_point("after_dataset_ready")
            self.results[name] = self.results[name].with_(num_samples=current.num_samples)
            self._retrain(label, current.version_tag)
            return True
        if seen.status == "changed" and self.etags.get(name) != state.etag:
            self._save(state.with_(etag=self.etags.get(name)))  # the next run's GET stays conditional
        if current is None:
            progress.update(name, f"no change yet: version {state.baseline_version or 'none'}, required_len={required}")
        else:
            progress.update(
                name, f"current_len={current.num_samples} required_len={required} version={current.version_tag}"
            )
        return False

    # ---------------------------------------------------------------------------------- retrain
    def _retrain(self, label: LabelConfig, version: str) -> None:
        name = label.name
        state = self.state(name)
        self.results[name] = self.results[name].with_(new_version=version, old_version=state.baseline_version)
        key = f"retrain:{name}:{version}"
        launcher = self.launcher_factory(label.retrain, self.hub)
        if not self._save(state.with_(state=RETRAIN_REQUESTED), intent=(key, "retrain", (name,), launcher.describe(), version)):
            self.reporter.warning(f"dataset {version} was already handed to retraining: not retraining it again", title=f"label {name}")
            self._save(self._retrained(state, version))
            self.results[name] = self.results[name].with_(outcome=ALREADY_DONE)
            self._note_state(name)
            return
        self._crash_point("after_retrain_intent")
        try:
            launched = launcher.launch(Job("retrain", (name,), key=key, version=version))
        except HubUnavailable as exc:
            # The call may or may not have taken effect: the intent stays open for the next run to
            # reconcile against the Space's runtime, rather than be recorded as failed and sent again.
            self._save(self.state(name).with_(last_error=exc.message))
            self._fail(name, OrchestratorError(exc.message + "; whether the retrain started is checked on the next run", hint=exc.hint))
            self._note_state(name)
            return
        except OrchestratorError as exc:
            # Back to dataset_ready, and the failed key released in the same transaction: the next run
            # tries this retrain again.
            self._save(state.with_(state=DATASET_READY, last_error=exc.message), result=(key, "failed", exc.message), forget=True)
            self._fail(name, exc)
            self._note_state(name)
            return
        self._crash_point("after_retrain_launch")
        self._save(self._retrained(self.state(name), version), result=(key, "ok", launched.detail))
        self._crash_point("after_retrain_recorded")
        self.reporter.info(f"[{name}] retrain launched: {launched.target} ({launched.detail}) on {version}")
        for line in launched.output:
            self.reporter.info(f"  | {line}")
        self.results[name] = self.results[name].with_(outcome=RETRAINED)
        self._note_state(name)


class _Heartbeat:
    """Extends the lease in the background while the run is alive, so long waits keep it."""

    def __init__(self, store: StateStore, lease: Lease | None, reporter: Reporter) -> None:
        self.store, self.lease, self.reporter = store, lease, reporter
        self._stop = threading.Event()
        self.lost = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="lease-heartbeat", daemon=True)
        if lease is not None:
            self._thread.start()

    def _beat(self) -> None:
        assert self.lease is not None
        while not self._stop.wait(self.lease.ttl / 3):
            try:
                self.store.renew(self.lease)
            except LostLease:
                self.reporter.warning("the run lock was taken over by another run", title="lock")
                self.lost.set()
                return
            except OrchestratorError as exc:  # the state database blipped: the next beat tries again
                self.reporter.warning(f"could not extend the run lock: {exc.message}", title="lock")

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
