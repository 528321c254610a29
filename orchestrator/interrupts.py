"""Stopping on SIGTERM or Ctrl-C: the signal becomes a ``KeyboardInterrupt`` that unwinds the command, and it
keeps coming until the code that handles it says so.

Python raises a signal handler's exception wherever the main thread happens to be. When that is a finalizer (a
``__del__`` or a weakref callback, which the database driver and the HTTP client both have), the exception is
printed as "Exception ignored" and dropped, and the run would go on as if it had never been told to stop: a
cancelled CI job would keep its lease until the runner kills it. So, once a stop is asked for, the interrupt is
raised again every :data:`REPEAT_SECONDS` until :func:`handling` is called.

Some steps must not be cut short: recording that a run was interrupted, giving the lease back. Inside
:func:`deferred`, a signal is noted and not raised; the repeat raises it once the step is over.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

REPEAT_SECONDS = 1.0
_pending = False
_deferring = 0


def _arm(seconds: float) -> None:
    if hasattr(signal, "setitimer"):  # not on Windows: there, a lost interrupt is not repeated
        signal.setitimer(signal.ITIMER_REAL, seconds)


def _stop(_signum, _frame) -> None:
    global _pending
    _pending = True
    _arm(REPEAT_SECONDS)
    if not _deferring:
        raise KeyboardInterrupt


def _again(_signum, _frame) -> None:
    if _pending:
        _arm(REPEAT_SECONDS)
        if not _deferring:
            raise KeyboardInterrupt


def install() -> None:
    """Turn SIGTERM (a cancelled CI job, ``docker stop``) and Ctrl-C into a repeated ``KeyboardInterrupt``.
    Call it from the main thread."""
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if hasattr(signal, "SIGALRM"):
        signal.signal(signal.SIGALRM, _again)


def handling() -> None:
    """The interrupt reached the code that handles it: stop repeating it."""
    global _pending
    _pending = False
    _arm(0)


@contextmanager
def deferred() -> Iterator[None]:
    """A step that a stop must not cut short: a signal during it is raised (by the repeat) after it."""
    global _deferring
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1
