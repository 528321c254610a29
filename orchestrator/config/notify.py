"""``[notify]`` / ``NOTIFY_URLS``: who hears of a run's failures and deploys, as users write it.

The URLs are apprise URLs, and secrets: every part of them that could be a credential is registered for
redaction the moment it is validated, before any message could show it. Sending is
:mod:`orchestrator.report.notify`'s job.
"""

from __future__ import annotations

import re
from typing import Any, Literal, get_args
from urllib.parse import unquote

from pydantic import ConfigDict, Field, field_validator

from .. import redact
from .fields import Frozen, Seconds

Event = Literal[
    "run_failed", "label_failed", "timed_out", "prepare_expired", "deployed", "rejected", "prepare_failed", "not_deployed",
    "awaiting_approval",
]
EVENTS: tuple[Event, ...] = get_args(Event)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://\S")
_BETWEEN_URLS = re.compile(r"[\s,]+(?=[A-Za-z][A-Za-z0-9+.-]*://)")  # keeps "?to=a@x.org,b@y.org" whole


def _register(url: str) -> None:
    """The whole URL, its password and credential-named query values, and every token-like part (8+ characters
    with a digit and no dot: Slack, Discord and Teams keep their tokens in the path, not the password)."""
    redact.register(url)
    redact.register_url(url)
    rest = url.partition("://")[2]
    for piece in {*re.split(r"[/:@?&=#,]+", rest), *re.split(r"[/:@?&=#,]+", unquote(rest))}:
        if len(piece) >= 8 and "." not in piece and any(c.isdigit() for c in piece):
            redact.register(piece)


def _split(item: Any) -> list[Any]:
    if not isinstance(item, str):
        return [item]  # pydantic says what is wrong with it
    return [u.strip(",") for chunk in item.split() for u in _BETWEEN_URLS.split(chunk) if u.strip(",")]


class NotifyConfig(Frozen):
    """Who hears of what: apprise ``urls``, the ``events`` sent, and each receiver's ``timeout``."""

    model_config = ConfigDict(hide_input_in_errors=True)  # inputs are secret URLs

    urls: tuple[str, ...] = Field(default=(), repr=False)  # apprise URLs; or one comma/space separated string
    events: tuple[Event, ...] = EVENTS  # which notifications to send; all by default
    timeout: Seconds = 5.0  # connect and read timeout of each receiver; sending returns within timeout + 1 s

    @field_validator("urls", mode="before")
    @classmethod
    def _urls(cls, value: Any) -> Any:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            return value
        urls = [url for item in items for url in _split(item)]
        for url in filter(lambda u: isinstance(u, str), urls):  # before any check: no message can show a secret
            _register(url)
        for number, url in enumerate(urls, 1):
            if isinstance(url, str) and not _SCHEME.match(url):
                raise ValueError(f"notification URL #{number} is not an apprise URL of the form scheme://... "
                                 "(see https://github.com/caronc/apprise/wiki)")
        return tuple(urls)

    @field_validator("events", mode="before")
    @classmethod
    def _events(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = re.split(r"[\s,]+", value.strip()) if value.strip() else []
        if not isinstance(value, (list, tuple)):
            return value
        names = [v.strip().lower() if isinstance(v, str) else v for v in value]
        for name in names:
            if name not in EVENTS:
                raise ValueError(f"unknown notification event {name!r}; valid events: {', '.join(EVENTS)}")
        return tuple(dict.fromkeys(names))
