"""Which failures are worth another try, and how long to wait before it (built on tenacity).

Retryable: connection errors, timeouts, and HTTP 429, 500, 502, 503, 504. Everything else (401, 403,
404, 400, malformed answers) is permanent and fails at once. The wait honours ``Retry-After`` (seconds
or an HTTP date) and otherwise backs off exponentially with full jitter. ``sleep`` is injectable so
tests run without waiting.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import tenacity

TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})
BASE_DELAY = 1.0  # seconds before the first retry, before jitter
MAX_DELAY = 30.0  # longest wait between two tries
MAX_RETRY_AFTER = 120.0  # a Retry-After longer than this is not waited for: the call fails as unavailable


def status_of(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def is_transient(exc: BaseException) -> bool:
    import httpx2

    if isinstance(exc, httpx2.TransportError):  # connect errors, timeouts, dropped connections
        return True
    return status_of(exc) in TRANSIENT_STATUS


def is_transient_before_sending(exc: BaseException) -> bool:
    """Transient, and surely not acted upon: what a non-idempotent call (a POST) may retry.

    A read timeout or a dropped connection after the request went out may hide a call that did take
    effect; those are left to the caller to reconcile, never blindly repeated.
    """
    import httpx2

    if isinstance(exc, (httpx2.ReadTimeout, httpx2.WriteTimeout, httpx2.RemoteProtocolError, httpx2.ReadError)):
        return False
    return is_transient(exc)


def is_unsent(exc: BaseException) -> bool:
    """Surely not acted upon: the request never left (the connect phase), or it was refused unread (429).
    What a call that must not happen twice, and has no way to check first, may retry: a 5xx from a
    gateway may come after the server acted."""
    import httpx2

    unsent = isinstance(exc, (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout))
    return unsent or status_of(exc) == 429


def retry_after(exc: BaseException | None) -> float | None:
    """Seconds the server asked us to wait, from ``Retry-After``, if any."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    value = headers.get("retry-after") if headers is not None else None
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max((when - datetime.now(timezone.utc)).total_seconds(), 0.0)


class wait_retry_after_or_jitter(tenacity.wait.wait_base):
    """Wait what ``Retry-After`` says, else ``uniform(0, min(MAX_DELAY, base * 2**n))`` (full jitter)."""

    def __init__(self, base: float = BASE_DELAY, cap: float = MAX_DELAY, rng: random.Random | None = None) -> None:
        self.base = base
        self.cap = cap
        self.rng = rng or random.Random()

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        asked = retry_after(exc)
        if asked is not None:
            return asked
        return self.rng.uniform(0, min(self.cap, self.base * 2 ** (retry_state.attempt_number - 1)))


class RetryAfterTooLong(Exception):
    """The server asked us to wait longer than :data:`MAX_RETRY_AFTER`."""

    def __init__(self, seconds: float, cause: BaseException) -> None:
        super().__init__(f"the Hub asked to retry after {seconds:.0f}s")
        self.seconds = seconds
        self.cause = cause


def retrying(
    retries: int,
    *,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[BaseException, int, float], None] | None = None,
    base: float = BASE_DELAY,
    retry_on: Callable[[BaseException], bool] = is_transient,
) -> tenacity.Retrying:
    """A ``tenacity.Retrying`` for one Hub call: ``retries`` extra tries on transient failures."""

    def before_sleep(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        if exc is not None and delay > MAX_RETRY_AFTER:
            raise RetryAfterTooLong(delay, exc)
        if on_retry is not None and exc is not None:
            on_retry(exc, state.attempt_number, delay)

    return tenacity.Retrying(
        retry=tenacity.retry_if_exception(retry_on),
        wait=wait_retry_after_or_jitter(base=base),
        stop=tenacity.stop_after_attempt(retries + 1),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
