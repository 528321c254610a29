"""The one protocol every launcher follows, and the records it answers with.

    launcher.describe()             the target, as messages name it
    launcher.check()                read-only preflight: is the target there and usable? (raises if not)
    launcher.launch(action)         start the action's job once: a :class:`Launched` record (raises if it could not)
    launcher.evidence(action, age)  after a crash: did a launch recorded ``age`` seconds ago happen? (:class:`Found`)
    launcher.status(ref)            how a launched job stands: running, succeeded or failed (:class:`Status`)
    launcher.spent(ref, start, end) once the action ended: what its job cost (:class:`Spent`; None: wall time)
    launcher.follows                whether ``status`` can tell when a job has ended (a Space's cannot, on its own)

An action (:class:`~orchestrator.state.records.Action`) is a prepare or a retrain; the program it starts on
the target is its job.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Literal

from ..config.targets import Target
from ..errors import LaunchError
from ..state.records import Action, Spent

# A launch younger than this may not show yet (a Space restart shows as BUILDING/APP_STARTING for longer;
# a dispatched GitHub run takes a few seconds to be listed).
RECONCILE_GRACE_SECONDS = 60.0


@dataclass(frozen=True)
class Launched:
    target: str
    ref: str  # what identifies the launched run: a Space id, a process's exit, "namespace/job id", a run id
    detail: str  # e.g. "stage BUILDING" or "exit 0"
    output: tuple[str, ...] = field(default=())  # the tail of a local command's output


@dataclass(frozen=True)
class Found:
    """A crashed run's launch: ``sent`` True (it happened: ``ref`` is what it started, if known), False (it
    did not), or None (nobody can tell). ``later``: nobody can tell *yet* (a young launch may not show
    yet): the next run looks again before anything is sent."""

    sent: bool | None
    ref: str | None = None
    later: bool = False


@dataclass(frozen=True)
class Status:
    """How a launched job stands. ``failed`` carries what went wrong and the tail of its logs."""

    phase: Literal["running", "succeeded", "failed"]
    detail: str
    logs: tuple[str, ...] = ()


class Launcher(ABC):
    """What the cycle asks of every kind of target (see the module's docstring). A launcher describes
    itself as its target does, so that every message names a target in the same words."""

    follows = True
    remote = True  # it starts the job elsewhere: several may be launched at once (a local command runs here, alone)

    def __init__(self, target: Target) -> None:
        self.target = target

    def describe(self) -> str:
        return self.target.describe()

    @abstractmethod
    def check(self) -> None: ...

    @abstractmethod
    def launch(self, action: Action) -> Launched: ...

    @abstractmethod
    def evidence(self, action: Action, age: float) -> Found: ...

    @abstractmethod
    def status(self, ref: str) -> Status: ...

    def spent(self, ref: str, started_at: datetime, ended_at: datetime) -> Spent | None:
        """What the job ``ref`` cost, once its action ended (asked once: when its outcome is seen). Here, and where
        the remote cannot say (None), the wall time from its launch to then: a command's or a Space's. Raises an
        OrchestratorError when the remote could not be read: the caller warns, and records the wall time."""
        return wall_time(started_at, ended_at)

    def cost(self) -> str | None:
        """What the target costs while a job runs on it (``$0.60/hour on a10g-small``), where the remote says."""
        return None

    def cancel(self, ref: str) -> str:
        """Stop the launched job ``ref``; says what was done. Raises LaunchError where it cannot be stopped
        from here."""
        raise LaunchError(f"{self.describe()}: a running job cannot be stopped from here",
                          hint="stop it where it runs")


def wall_time(started_at: datetime, ended_at: datetime) -> Spent:
    """The wall time from a launch to its outcome being seen, with no price."""
    seconds = max((ended_at - started_at).total_seconds(), 0.0)
    return Spent(seconds, None, f"wall time {seconds:.0f} s")


def now() -> datetime:
    return datetime.now(timezone.utc)
