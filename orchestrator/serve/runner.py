"""Cycles on demand, for ``orchestrator serve``: one at a time, in a worker thread, requests coalesced.

A webhook asks for a cycle of the labels whose dataset changed; the feedback endpoint asks for all of
them (a threshold check). Requests that arrive while a cycle runs, or is queued, join the next one, so
a burst of duplicate deliveries costs one or two cycles, never one each. Each cycle is the very same
:class:`~orchestrator.run.cycle.Cycle` a cron run is, in non-blocking mode: same planner, same lease, same
ledger. That is what makes a duplicated, retried or out-of-order delivery, or one that overlaps a cron
run, give one retrain per dataset version: ``retrain:<label>:<version>`` is recorded once, ever.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..config.settings import Settings
from ..errors import EXIT_UNAVAILABLE
from ..report.reporter import Reporter
from ..report.results import AWAITING_APPROVAL, DEPLOYED, REJECTED, RunResult
from ..run.cycle import Cycle

# A webhook's cycle waits this long for a cron run's lease (a non-blocking cron run holds it for about a
# second); then it is asked for again RETRY_SECONDS later, for as long as the lease is held (a blocking
# cron run holds it while it waits for its datasets). A cycle the database or the Hub stopped is asked
# for again too, MAX_RETRIES times.
LOCK_WAIT_SECONDS = 10.0
RETRY_SECONDS = 5.0
MAX_RETRIES = 12


@dataclass
class CycleRunner:
    """Runs the cycles the service is asked for, one at a time, in its own worker thread. ``cycle`` builds
    one from settings (:meth:`orchestrator.wiring.Wiring.cycle`); ``reporter`` gives the runner's own
    warnings a reporter; ``on_result`` hears of each cycle's result (to notify), once per failure episode:
    a cycle that fails as the last one it heard of did (the same cycle retried through an outage, say) is
    not handed on again; a different failure, or a failure after a success, is."""

    settings: Settings
    cycle: Callable[[Settings], Cycle]
    reporter: Callable[[], Reporter]
    on_result: Callable[[RunResult], None] = lambda result: None
    retry_seconds: float = RETRY_SECONDS  # how long until a cycle that could not run is asked for again
    _wanted: set[str] | None = None  # the labels of the next cycle (None: none requested)
    _busy: bool = False
    _stopping: bool = False
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _thread: threading.Thread | None = None
    cycles: int = 0
    last: RunResult | None = None
    _failures: int = 0  # consecutive cycles stopped by an unreachable database or Hub, or a bug
    _episode: tuple | None = None  # what the last failed result handed to on_result said (None: it succeeded)
    _current: Cycle | None = None  # the cycle running now

    def start(self) -> CycleRunner:
        self._thread = threading.Thread(target=self._loop, name="orchestrator-cycles", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Let the cycle in progress finish (``serve.shutdown_wait`` seconds at most), run no other. A cycle
        that does not finish in time is abandoned: recorded as interrupted, its lease given back, and said in
        the log. What was still asked for is said, and left to the next cron run."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(self.settings.serve.shutdown_wait if timeout is None else timeout)
        current = self._current
        if current is not None and self.alive:
            current.abandon("the service shut down")
            self.reporter().warning(
                f"shutting down before the cycle of {', '.join(current.settings.label_names)} (run {current.run_id[:8]}) "
                "finished: it is recorded as interrupted and its lease is given back; what it launched keeps running, "
                "and the next run checks it before sending anything",
                title="serve",
            )
        with self._cond:
            if self._wanted:
                self.reporter().warning(
                    f"shutting down with a cycle of {', '.join(sorted(self._wanted))} asked for and not run: the next "
                    "cron run (or delivery) does what it would have done",
                    title="serve",
                )

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def request(self, labels: Iterable[str] | None = None) -> None:
        """Ask for a cycle of ``labels`` (None: every label)."""
        names = set(self.settings.label_names if labels is None else labels)
        if not names:
            return
        with self._cond:
            if self._stopping:
                return
            self._wanted = (self._wanted or set()) | names
            self._cond.notify_all()

    def _later(self, names: set[str], why: str) -> None:
        self.reporter().warning(f"{why}: the cycle of {', '.join(sorted(names))} is tried again in {self.retry_seconds:g}s",
                                title="serve")
        timer = threading.Timer(self.retry_seconds, self.request, args=(names,))
        timer.daemon = True
        timer.start()

    def idle(self) -> bool:
        with self._cond:
            return not self._busy and not self._wanted

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._wanted and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                names, self._wanted, self._busy = self._wanted, None, True
            try:
                result = self.last = self.run_cycle(names)
                self._hand_on(result)
                if result.locked:  # a cron run holds the lease: nothing was done, and nothing may be lost
                    self._later(names, "another run holds the lease")
                elif result.exit_code == EXIT_UNAVAILABLE:  # the database or the Hub: worth another try
                    self._failures += 1
                    if self._failures <= MAX_RETRIES:
                        self._later(names, f"the cycle stopped ({result.error})")
                else:
                    self._failures = 0
            except BaseException as exc:  # noqa: BLE001 - a bug in one cycle must not stop the service
                self._failures += 1
                self.reporter().error(f"a cycle failed unexpectedly: {type(exc).__name__}: {exc}", title="serve")
                if self._failures <= 3:
                    self._later(names, "the cycle failed")
            finally:
                with self._cond:
                    self._busy = False
                    self.cycles += 1

    def _hand_on(self, result: RunResult) -> None:
        """``on_result``, unless the result repeats the failure it heard of last."""
        said = _what_it_says(result)
        if said is not None and said == self._episode:
            self.reporter().info("serve: the cycle failed as the last one did: not notified again")
            return
        if not result.locked:  # a cycle that did nothing neither ends an episode nor starts one
            self._episode = said
        self.on_result(result)

    def run_cycle(self, names: set[str]) -> RunResult:
        """A cron run's cycle, of these labels, in non-blocking mode."""
        labels = tuple(label for label in self.settings.labels if label.name in names)
        settings = self.settings.model_copy(
            update={"labels": labels, "wait": False, "dry_run": False, "lock_wait": max(self.settings.lock_wait, LOCK_WAIT_SECONDS)}
        )
        self._current = self.cycle(settings)
        try:
            return self._current.run()
        finally:
            self._current = None


def _what_it_says(result: RunResult) -> tuple | None:
    """What a failed result tells people, without when (its error, each notable label's outcome); None when
    nothing failed. An outage (exit 3) is told by what to check, not by the driver's words, which change from
    one try to the next of the same outage ("connection refused", "timeout expired", "server closed the
    connection")."""
    if not result.error and not any(label.failed for label in result.labels):
        return None
    if result.exit_code == EXIT_UNAVAILABLE:  # a deploy or a decision in such a cycle is still news
        return result.exit_code, result.hint, tuple(
            (label.label, label.outcome, label.hint if label.failed else label.new_version)
            for label in result.labels
            if label.failed or label.outcome in (DEPLOYED, REJECTED, AWAITING_APPROVAL)
        )
    notable = tuple(
        (label.label, label.outcome, label.error, label.new_version)
        for label in result.labels
        if label.failed or label.outcome in (DEPLOYED, REJECTED, AWAITING_APPROVAL)
    )
    return result.error, result.hint, notable
