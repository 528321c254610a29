"""One orchestration cycle: the only place that sequences the steps.

    lock → reconcile unfinished actions (reconcile.py) → count → plan (plan.py)
         → execute the plan (execute.py: baselines, preflight, prepare, wait, retrain)
         → the costs of what ended (costs.py) → record the run → unlock

The modules it sequences each own one part: :mod:`~orchestrator.run.lease` the run lock and its heartbeat,
:mod:`~orchestrator.run.journal` the fenced state writes and the intent/result ledger,
:mod:`~orchestrator.run.reconcile` recovery after a crash, :mod:`~orchestrator.plan.planner` the pure decisions,
:mod:`~orchestrator.run.execute` and :mod:`~orchestrator.run.wait` the actions. A dry run reads, plans, checks
and prints; it writes nothing anywhere.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy import Engine

from ..config.settings import Settings
from .. import interrupts
from ..errors import EXIT_INTERRUPTED, EXIT_LABEL_FAILED, EXIT_OK, LockedError, OrchestratorError
from ..launch import launcher_for
from ..launch.protocol import Launcher
from ..plan.planner import LabelPlan, Plan, RetryStep, make_plan
from ..remote.feedback import count_feedback
from ..remote.hub import Hub
from ..report.reporter import Reporter
from ..report.results import PENDING, SKIPPED, LabelResult, RunResult
from ..state.records import RETRAINING, utc_now
from ..state.store import HEAD, StateStore
from .context import RunContext
from .costs import note_costs
from .execute import Executor
from .journal import Journal
from .lease import RunLock, iso
from .reconcile import reconcile


@dataclass
class Cycle:
    """What one run talks to. Tests build it with real parts pointed at local stand-ins."""

    settings: Settings
    engine: Engine
    state_engine: Engine
    hub: Hub
    reporter: Reporter
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    launcher_factory: Callable[..., Launcher] = launcher_for
    retry: Mapping[str, RetryStep | None] | None = None  # ``orchestrator retry``: labels whose failed step goes again

    def __post_init__(self) -> None:
        self.store = StateStore(self.state_engine)
        self.run_id = uuid.uuid4().hex
        self.lock = RunLock(self.store, self.reporter, clock=self.clock, sleep=self.sleep)
        self.journal = Journal(self.store, self.run_id, self.lock)
        self._readable = False  # a dry run found the state tables
        self._abandoned = False  # given up by another thread: its row says so, and stays as it says
        self.ctx = RunContext(
            settings=self.settings,
            hub=self.hub,
            reporter=self.reporter,
            journal=self.journal,
            lock=self.lock,
            launcher_factory=self.launcher_factory,
            sleep=self.sleep,
            clock=self.clock,
        )

    @property
    def dry_run(self) -> bool:
        return self.settings.dry_run

    def run(self) -> RunResult:
        started = self._started = iso()
        try:
            try:
                if self.dry_run:
                    self._readable = self._load_read_only()
                else:
                    self._lock()
                    self.ctx.crash_point("after_lock")
                self._run()
            except LockedError as exc:
                self.reporter.info(exc.message)
                return self._result(started, exit_code=EXIT_OK, notes=(exc.message,), locked=True)
            except OrchestratorError as exc:
                self.reporter.error(str(exc), title="orchestrator stopped")
                return self._finish(started, exit_code=exc.exit_code, error=exc.message, hint=exc.hint)
            except KeyboardInterrupt:  # SIGTERM or Ctrl-C: a launched job is not cancelled, and is not forgotten
                interrupts.handling()
                with interrupts.deferred():  # a second signal (Actions sends SIGINT, then SIGTERM) waits for this
                    self._interrupted("interrupted")
                raise
            failed = any(r.failed for r in self.ctx.results.values())
            return self._finish(started, exit_code=EXIT_LABEL_FAILED if failed else EXIT_OK)
        finally:  # whatever happened (an interrupt, a bug), the heartbeat stops and the lease is given back
            with interrupts.deferred():
                self.lock.release()

    # ---------------------------------------------------------------------------------- the run
    def _run(self) -> None:
        blocked = {} if self.dry_run else reconcile(self.ctx)
        feedback = count_feedback(self.engine, self.settings.labels)
        unconfirmed = self.store.unfinished() if self.dry_run and self._readable else ()
        plan = make_plan(
            self.settings, self.journal.states, feedback.corrections, reviewed=feedback.reviewed, now=utc_now(),
            unconfirmed=unconfirmed, blocked=blocked, retry=self.retry,
        )
        for entry in plan.labels:
            self._record(plan, entry)
        for name, exc in blocked.items():
            if name in self.ctx.results:
                self.ctx.fail(name, exc)
        if plan.idle:
            self.reporter.info("no label's trigger fired and none is pending: nothing to do")
            return
        Executor(self.ctx).execute(plan)
        note_costs(self.ctx)  # what each label's deployed improvements cost, where something ended

    def _record(self, plan: Plan, entry: LabelPlan) -> None:
        """The label's result row from its plan, and the plan's lines in the log."""
        label, state, decision, pending = entry.label, entry.state, entry.decision, entry.state.pending
        self.ctx.results[label.name] = LabelResult(
            label=label.name,
            corrections=decision.corrections,
            reviewed=decision.reviewed,
            trigger=decision.trigger if entry.step == "fire" and not entry.retry else (),
            counted=decision.counted,
            dataset_len=decision.dataset_len,
            threshold=decision.threshold,
            required=decision.required,
            fire=entry.step == "fire",
            reason=entry.reason if entry.retry else decision.reason,
            decision="retry" if entry.retry else "pending" if pending else ("prepare" if entry.step == "fire" else "skip"),
            state=state.state,
            old_version=state.baseline_version if pending else None,
            outcome=PENDING if pending else SKIPPED,
            prepare_target=self.settings.prepare_target(label).describe(),
            retrain_target=label.retrain.describe(),
        )
        with self.reporter.group(f"label {label.name}"):
            sampled = decision.dataset_len - decision.counted
            scope = "" if plan.cumulative or not state.cursor else f" new_since_last_prepare={decision.counted}"
            self.reporter.info(
                f"[{label.name}] corrections={decision.corrections}{scope} sampled_correct={sampled} "
                f"dataset_len={decision.dataset_len} threshold={decision.threshold}"
            )
            if state.state == RETRAINING:
                since = iso(state.retrain_started_at) if state.retrain_started_at else "?"
                self.reporter.info(
                    f"[{label.name}] retraining since {since}: following the retrain of "
                    f"{state.last_retrained_version or '?'} ({state.retrain_ref or label.retrain.describe()})"
                )
            elif pending:
                since = iso(state.requested_at) if state.requested_at else "?"
                self.reporter.info(
                    f"[{label.name}] pending since {since}: waiting for a dataset newer than "
                    f"{state.baseline_version or 'none'} ({state.state})"
                )
            else:
                by = f" ({', '.join(decision.trigger)})" if entry.step == "fire" and len(label.triggers) > 1 else ""
                self.reporter.info(f"[{label.name}] {'prepare' if entry.step == 'fire' else 'skip'}{by}: {decision.reason}")
            if entry.retry:
                self.reporter.info(f"[{label.name}] {entry.reason}")

    def abandon(self, why: str) -> None:
        """Give up this cycle from another thread (the service shutting down while it runs): record it as
        interrupted, with what it did so far, and give its lease back. Its own thread, if it goes on, can no
        longer write (its lease is gone) nor rewrite the run's row."""
        self._abandoned = True  # first: the cycle's own thread no longer writes its row
        self._interrupted(why, mine=True)
        self.lock.release()

    def _interrupted(self, why: str, *, mine: bool = False) -> None:
        """Say what keeps running, and record the run as interrupted (exit 130) with its labels so far and
        what it launched: the history shows it, and the next run does not take it for a crash."""
        notes = []
        for name, state in self.journal.states.items():
            if state.state == RETRAINING:
                notes.append(f"{why}: the retrain of {state.last_retrained_version} ({state.retrain_ref}) keeps running; "
                             "it is recorded, and the next run follows it to its end")
                self.reporter.warning(notes[-1], title=f"label {name}")
        try:
            unfinished = self.store.unfinished() if self.journal.lease is not None else ()
        except OrchestratorError:
            unfinished = ()
        for action in unfinished:
            notes.append(f"{why} while sending {action.key} to {action.target}: the next run checks whether it started "
                         "before sending anything")
            self.reporter.warning(notes[-1], title="interrupted")
        self._finish(getattr(self, "_started", iso()), exit_code=EXIT_INTERRUPTED, interrupted=True, notes=tuple(notes),
                     mine=mine)

    # ---------------------------------------------------------------------------------- lock and record
    def _lock(self) -> None:
        self.store.migrate()
        lease = self.lock.acquire(self.run_id, ttl=self.settings.lock_lease, wait=self.settings.lock_wait)
        with self.store.write(lease) as tx:
            tx.mark_crashed(self.run_id)
            tx.start_run(self.run_id, dry_run=False, mode="wait" if self.settings.wait else "no-wait")
        self.journal.load()
        self.journal.seen(self.settings.label_names, utc_now())

    def _load_read_only(self) -> bool:
        """A dry run writes nothing anywhere: it reads the state if the tables exist (and does not
        create a SQLite file that is not there). True if they do."""
        url = self.state_engine.url
        if url.get_backend_name() == "sqlite" and url.database and not os.path.exists(url.database):
            return False
        if self.store.schema_version() != HEAD:
            return False
        self.journal.load()
        return True

    def _result(self, started: str, *, locked: bool = False, **kwargs) -> RunResult:
        results = self.ctx.results
        ordered = () if locked else tuple(results[label.name] for label in self.settings.labels if label.name in results)
        return RunResult(started_at=started, finished_at=iso(), dry_run=self.dry_run, labels=ordered, locked=locked, **kwargs)

    def _finish(self, started: str, *, mine: bool = False, **kwargs) -> RunResult:
        """The run's result, recorded in its row (``mine``: by :meth:`abandon`, which alone writes it then)."""
        result = self._result(started, **kwargs)
        if self.journal.lease is not None and (mine or not self._abandoned):
            try:  # the run row is this run's own: it is written even if the lease was lost
                with self.store.write(None) as tx:
                    tx.finish_run(self.run_id, status=result.status, exit_code=result.exit_code, summary=result.to_dict())
            except OrchestratorError as exc:  # the state database went away: the result still gets reported
                self.reporter.warning(f"could not record the run's result: {exc.message}", title="history")
        return result
