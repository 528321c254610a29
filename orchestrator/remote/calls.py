"""The one shell every call to an outside system goes through: the retry policy (:mod:`.retry`), a line for
each retry, and whatever escapes translated once into our error types, the way huggingface_hub's
``hf_raise_for_status`` is that library's one translator.

The Hub and GitHub clients each hold a :class:`Calls` and give every call a translator that knows what
the call was about (a repo to check, a workflow to name).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from ..errors import OrchestratorError
from .retry import RetryAfterTooLong, is_transient, retrying, status_of

T = TypeVar("T")
# (what escaped, how many tries were made) -> the error to raise instead
Translate = Callable[[Exception, int], Exception]


class Calls:
    """Calls to one outside system (``system``: "the Hub", "GitHub"), each under the retry policy.

    ``before`` runs before every try (the Hub client sets its timeout there). A server that asks us to wait
    longer than the policy allows makes ``unavailable`` (the system's exit-3 error); our own errors raised
    inside a call pass as they are; anything else goes through the call's translator.
    """

    def __init__(
        self,
        system: str,
        *,
        unavailable: type[OrchestratorError],
        retries: int,
        backoff: float,
        sleep: Callable[[float], None] = time.sleep,
        on_retry: Callable[[str], None] | None = None,
        before: Callable[[], None] | None = None,
    ) -> None:
        self.system, self.unavailable = system, unavailable
        self.retries, self.backoff, self.sleep, self.on_retry, self.before = retries, backoff, sleep, on_retry, before

    def __call__(
        self, what: str, fn: Callable[[], T], *, translate: Translate, retry_on: Callable[[BaseException], bool] = is_transient
    ) -> T:
        """Run ``fn`` (``what`` names it in every message) until it succeeds or the policy gives up."""
        tries = 0

        def attempt() -> T:
            nonlocal tries
            tries += 1
            if self.before is not None:
                self.before()
            return fn()

        def note(exc: BaseException, attempt: int, delay: float) -> None:
            if self.on_retry is not None:
                reason = status_of(exc) or type(exc).__name__
                self.on_retry(f"{what}: attempt {attempt} failed ({reason}); retrying in {delay:.1f}s")

        try:
            return retrying(self.retries, sleep=self.sleep, on_retry=note, base=self.backoff, retry_on=retry_on)(attempt)
        except RetryAfterTooLong as exc:
            raise self.unavailable(
                f"{what}: {self.system} is rate-limiting us and asked to wait {exc.seconds:.0f}s",
                hint="run again later, or space out scheduled runs",
            ) from None
        except OrchestratorError:
            raise
        except Exception as exc:  # noqa: BLE001 - translated, or re-raised as it is when the translator does not know it
            raise translate(exc, tries) from None


def tries_text(tries: int) -> str:
    return f"{tries} tr{'y' if tries == 1 else 'ies'}"
