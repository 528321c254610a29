"""The run's journal: label states and the intent/result ledger, written together in fenced transactions.

Every external action (an :class:`~orchestrator.state.records.Action`) is recorded as an intent before the
call and settled after it, together with the labels' new states, in one transaction fenced by the run's lease. A crash at
any point therefore leaves either nothing, or an intent whose outcome the next run checks against the
outside world (:mod:`orchestrator.run.reconcile`) before it sends anything again.

The crash points (``ORCHESTRATOR_CRASH_AT``) sit between these writes; the crash-recovery tests stop the
process at each of them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import datetime

from ..state.records import Action, LabelState, Lease
from ..state.store import StateStore
from .lease import RunLock

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
# The points of `orchestrator promote` and `rollback` (run/promote.py), which a run never reaches.
PROMOTE_CRASH_POINTS = ("after_promote_intent", "after_promote_moved")
CRASH_EXIT_CODE = 70


class Journal:
    """This run's view of the label states, and the only writer of them and of the ledger."""

    def __init__(self, store: StateStore, run_id: str, lock: RunLock) -> None:
        self.store = store
        self.run_id = run_id
        self.lock = lock
        self.states: dict[str, LabelState] = {}

    @property
    def lease(self) -> Lease | None:
        """The run's lease, which fences every write (None in a dry run, which writes nothing)."""
        return self.lock.lease

    def load(self) -> None:
        self.states = self.store.labels()

    def state(self, name: str) -> LabelState:
        return self.states.get(name) or LabelState(name)

    def record(
        self, *states: LabelState, intent: Action | None = None, result: Action | None = None, forget: bool = False,
        ended: Action | None = None,
    ) -> bool:
        """Write label states and an intent or a result, in one fenced transaction; False (and nothing
        written) if the intent's key was recorded before. ``forget`` drops the failed result's key in the
        same transaction, so that the action may be tried again. ``ended``: a launched action that ended, with
        its outcome and cost (:meth:`~orchestrator.state.records.Action.ended`), written with the states that say so."""
        with self.store.write(self.lease) as tx:
            if intent is not None and not tx.intent(intent, run_id=self.run_id):
                return False
            if result is not None:
                tx.result(result.key, result.result, result.detail)
                if forget:
                    tx.forget(result.key)
            if ended is not None:
                tx.ended(ended)
            for state in states:
                self.states[state.label] = tx.save(state.with_(last_run_id=self.run_id))
        return True

    def seen(self, names: Iterable[str], now: datetime) -> None:
        """Remember when a run first saw each label (``max_age`` counts from then until its first prepare), in
        one fenced write, the first time only; the labels' other fields, their last run included, stay as they are."""
        unseen = [self.state(name).with_(first_seen_at=now) for name in names if self.state(name).first_seen_at is None]
        if unseen:
            with self.store.write(self.lease) as tx:
                for state in unseen:
                    self.states[state.label] = tx.save(state)


def crash_point(crash_at: str | None, name: str, say) -> None:
    """Exit abruptly at ``name`` when ``ORCHESTRATOR_CRASH_AT`` names it (a test hook)."""
    if crash_at == name:
        say(f"ORCHESTRATOR_CRASH_AT={name}: exiting abruptly (test hook)")
        os._exit(CRASH_EXIT_CODE)
