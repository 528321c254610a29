"""``orchestrator.remote.retry``: classification, Retry-After, full-jitter waits and the stop rule (no network)."""

from __future__ import annotations

import random
import sys
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import httpx2
import pytest
import tenacity

from orchestrator.remote import retry

REQUEST = httpx2.Request("GET", "http://hub.test/api/x")


def status_error(status: int, headers: dict[str, str] | list[tuple[bytes, bytes]] | None = None) -> httpx2.HTTPStatusError:
    response = httpx2.Response(status, headers=headers, request=REQUEST)
    return httpx2.HTTPStatusError(f"HTTP {status}", request=REQUEST, response=response)


class WithResponse(Exception):
    """Any exception carrying a ``.response`` (as ``HfHubHTTPError`` does)."""

    def __init__(self, response: object) -> None:
        super().__init__("with response")
        self.response = response


def state(attempt: int, exc: BaseException) -> tenacity.RetryCallState:
    call = tenacity.RetryCallState(retry_object=None, fn=None, args=(), kwargs={})
    call.attempt_number = attempt
    try:
        raise exc
    except BaseException:
        call.set_exception(sys.exc_info())
    return call


# ---------------------------------------------------------------------------------------------- retry_after
def test_retry_after_seconds() -> None:
    assert retry.retry_after(status_error(429, {"Retry-After": "2"})) == 2.0
    assert retry.retry_after(status_error(503, {"Retry-After": " 17 "})) == 17.0
    assert retry.retry_after(status_error(503, {"Retry-After": "0"})) == 0.0


def test_retry_after_http_date_in_the_future() -> None:
    when = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=60)
    asked = retry.retry_after(status_error(503, {"Retry-After": format_datetime(when, usegmt=True)}))
    assert asked is not None
    assert 58.0 <= asked <= 60.0


def test_retry_after_http_date_in_the_past_is_zero() -> None:
    assert retry.retry_after(status_error(503, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})) == 0.0


@pytest.mark.parametrize(
    "exc",
    [
        None,
        ValueError("no response"),
        status_error(503),  # no header
        status_error(503, {"Retry-After": "soon"}),
        status_error(503, {"Retry-After": "-5"}),
        WithResponse(object()),  # a response without headers
    ],
)
def test_retry_after_absent_or_unreadable_is_none(exc: BaseException | None) -> None:
    assert retry.retry_after(exc) is None


# ---------------------------------------------------------------------------------------------- is_transient
@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_transient_statuses(status: int) -> None:
    assert retry.is_transient(status_error(status)) is True
    assert retry.is_transient(WithResponse(httpx2.Response(status))) is True
    assert retry.status_of(status_error(status)) == status


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 501])
def test_permanent_statuses(status: int) -> None:
    assert retry.is_transient(status_error(status)) is False
    assert retry.is_transient(WithResponse(httpx2.Response(status))) is False


@pytest.mark.parametrize(
    "exc",
    [
        httpx2.ConnectError("refused", request=REQUEST),
        httpx2.ReadTimeout("slow", request=REQUEST),
        httpx2.ConnectTimeout("slow", request=REQUEST),
        httpx2.RemoteProtocolError("dropped", request=REQUEST),
    ],
)
def test_transport_errors_are_transient(exc: BaseException) -> None:
    assert retry.is_transient(exc) is True
    assert retry.status_of(exc) is None


@pytest.mark.parametrize("exc", [ValueError("x"), KeyError("y"), RuntimeError("z")])
def test_other_errors_are_permanent(exc: BaseException) -> None:
    assert retry.is_transient(exc) is False


# ---------------------------------------------------------------------------------------------- wait
@pytest.mark.parametrize("seed", [0, 1, 42])
def test_full_jitter_wait_is_seeded_uniform_under_the_doubling_cap(seed: int) -> None:
    wait = retry.wait_retry_after_or_jitter(base=1.0, cap=30.0, rng=random.Random(seed))
    expected_rng = random.Random(seed)
    for attempt in range(1, 9):
        bound = min(30.0, 1.0 * 2 ** (attempt - 1))
        delay = wait(state(attempt, status_error(503)))
        assert delay == expected_rng.uniform(0, bound)
        assert 0.0 <= delay <= bound


def test_wait_bounds_follow_base_and_cap() -> None:
    wait = retry.wait_retry_after_or_jitter(base=0.5, cap=3.0, rng=random.Random(7))
    bounds = {1: 0.5, 2: 1.0, 3: 2.0, 4: 3.0, 5: 3.0, 10: 3.0}
    for attempt, bound in bounds.items():
        delays = [wait(state(attempt, status_error(502))) for _ in range(200)]
        assert all(0.0 <= d <= bound for d in delays)
        assert max(delays) > bound * 0.8  # really spread over the range, not stuck low


def test_wait_uses_retry_after_when_given() -> None:
    wait = retry.wait_retry_after_or_jitter(base=1.0, cap=30.0, rng=random.Random(0))
    assert wait(state(1, status_error(429, {"Retry-After": "2"}))) == 2.0
    assert wait(state(5, status_error(503, {"Retry-After": "45"}))) == 45.0  # not capped by MAX_DELAY


# ---------------------------------------------------------------------------------------------- retrying
def test_retrying_stops_after_retries_plus_one_and_reraises_the_last_error() -> None:
    sleeps: list[float] = []
    notes: list[tuple[int, float]] = []
    raised: list[BaseException] = []

    def flaky() -> None:
        exc = httpx2.ConnectError(f"refused #{len(raised) + 1}", request=REQUEST)
        raised.append(exc)
        raise exc

    with pytest.raises(httpx2.ConnectError) as info:
        retry.retrying(3, sleep=sleeps.append, on_retry=lambda e, n, d: notes.append((n, d)), base=1.0)(flaky)

    assert len(raised) == 4
    assert info.value is raised[-1]
    assert str(info.value) == "refused #4"
    assert len(sleeps) == 3
    assert [n for n, _ in notes] == [1, 2, 3]
    assert [d for _, d in notes] == sleeps
    for n, delay in enumerate(sleeps, start=1):
        assert 0.0 <= delay <= 2 ** (n - 1)


def test_retrying_returns_once_the_call_succeeds() -> None:
    sleeps: list[float] = []
    calls = []

    def twice_503_then_ok() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise status_error(503, {"Retry-After": "1"})
        return "ok"

    assert retry.retrying(5, sleep=sleeps.append)(twice_503_then_ok) == "ok"
    assert len(calls) == 3
    assert sleeps == [1.0, 1.0]


def test_retrying_uses_the_given_base() -> None:
    sleeps: list[float] = []

    def always_502() -> None:
        raise status_error(502)

    with pytest.raises(httpx2.HTTPStatusError):
        retry.retrying(4, sleep=sleeps.append, base=0.001)(always_502)
    assert len(sleeps) == 4
    assert all(0.0 <= d <= 0.001 * 2 ** n for n, d in enumerate(sleeps))


@pytest.mark.parametrize("exc", [status_error(404), status_error(401), status_error(403), ValueError("bad json")])
def test_permanent_errors_are_not_retried(exc: BaseException) -> None:
    sleeps: list[float] = []
    calls = []

    def fail() -> None:
        calls.append(1)
        raise exc

    with pytest.raises(type(exc)) as info:
        retry.retrying(3, sleep=sleeps.append)(fail)

    assert info.value is exc
    assert len(calls) == 1
    assert sleeps == []


def test_retrying_zero_retries_is_one_attempt() -> None:
    calls = []

    def fail() -> None:
        calls.append(1)
        raise status_error(503)

    with pytest.raises(httpx2.HTTPStatusError):
        retry.retrying(0, sleep=[].append)(fail)
    assert len(calls) == 1


def test_retry_after_longer_than_the_limit_raises_at_once() -> None:
    sleeps: list[float] = []
    calls = []
    too_long = retry.MAX_RETRY_AFTER + 1

    def rate_limited() -> None:
        calls.append(1)
        raise status_error(429, {"Retry-After": str(int(too_long))})

    with pytest.raises(retry.RetryAfterTooLong) as info:
        retry.retrying(5, sleep=sleeps.append)(rate_limited)

    assert info.value.seconds == too_long
    assert retry.status_of(info.value.cause) == 429
    assert len(calls) == 1
    assert sleeps == []


def test_retry_after_at_the_limit_is_waited() -> None:
    sleeps: list[float] = []
    calls = []

    def once_rate_limited() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise status_error(429, {"Retry-After": str(int(retry.MAX_RETRY_AFTER))})
        return "ok"

    assert retry.retrying(2, sleep=sleeps.append)(once_rate_limited) == "ok"
    assert sleeps == [retry.MAX_RETRY_AFTER]


def test_retry_after_non_ascii_digit_is_unreadable_not_a_crash() -> None:
    assert retry.retry_after(status_error(503, [(b"Retry-After", b"\xb2")])) is None
