"""The run lock: one run at a time acts, under a lease that a heartbeat extends while the run is alive.

The lease is a row in the state database with an owner, an expiry and a fence number; every state write
checks the fence (:meth:`orchestrator.state.store.StateStore.write`), so a run whose lease was taken over
stops writing at once.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import datetime, timezone

from ..errors import LockedError, OrchestratorError
from ..report.reporter import Reporter
from ..state.records import Lease
from ..state.store import LostLease, StateStore


def iso(moment: datetime | None = None) -> str:
    return (moment or datetime.now(timezone.utc)).isoformat(timespec="seconds")


class RunLock:
    """The run's lease on the state database: taken (or waited for), kept alive by a heartbeat, given back."""

    def __init__(
        self, store: StateStore, reporter: Reporter, *, clock: Callable[[], float], sleep: Callable[[float], None]
    ) -> None:
        self.store, self.reporter, self.clock, self.sleep = store, reporter, clock, sleep
        self.lease: Lease | None = None
        self.heartbeat: Heartbeat | None = None

    def acquire(self, run_id: str, *, ttl: float, wait: float) -> Lease:
        """Take the lease, waiting up to ``wait`` seconds for another run to give it back; LockedError if not."""
        deadline = self.clock() + wait
        owner = f"{os.uname().nodename}:{os.getpid()}:{run_id[:8]}"
        while True:
            self.lease = self.store.acquire(owner, ttl)
            if self.lease is not None:
                break
            if self.clock() >= deadline:
                holder, expires = self.store.holder()
                raise LockedError(
                    f"skipped: another run holds the lock ({holder}, until {iso(expires) if expires else '?'}); "
                    "it will carry on where needed"
                )
            self.sleep(min(1.0, max(deadline - self.clock(), 0.05)))
        self.heartbeat = Heartbeat(self.store, self.lease, self.reporter)
        return self.lease

    def check(self) -> None:
        """Raise LostLease if the heartbeat saw another run take the lease over."""
        if self.heartbeat is not None and self.heartbeat.lost.is_set():
            raise LostLease(
                "this run's lock was taken over by another run while it waited; it stops, the other carries on",
                hint="raise LOCK_LEASE, or check that the state database stays reachable",
            )

    def release(self) -> None:
        if self.heartbeat is not None:
            self.heartbeat.stop()
            self.heartbeat = None
        if self.lease is not None:
            try:
                self.store.release(self.lease)
            except OrchestratorError as exc:  # it expires by itself after LOCK_LEASE
                self.reporter.warning(f"could not release the run lock: {exc.message}", title="lock")
            self.lease = None


class Heartbeat:
    """Extends the lease in the background while the run is alive, so long waits keep it."""

    def __init__(self, store: StateStore, lease: Lease, reporter: Reporter) -> None:
        self.store, self.lease, self.reporter = store, lease, reporter
        self._stop = threading.Event()
        self.lost = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="lease-heartbeat", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
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
