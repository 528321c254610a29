"""A Hub webhook delivery: its secret check and its payload.

A delivery is a POST whose JSON body looks like ``{event: {action, scope}, repo: {type, name, headSha},
updatedRefs: [{ref, oldSha, newSha}], webhook: {id, version}}``, with the secret in ``X-Webhook-Secret``.
The raw JSON is read (huggingface_hub's ``WebhookPayload`` model reads ``headSha`` as None). Nothing here
does I/O: which labels an event concerns is :mod:`orchestrator.plan.events`' question, and what to run
the service's.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from typing import Any


class BadDelivery(ValueError):
    """The body is not a Hub webhook payload; the message says why."""


@dataclass(frozen=True)
class HubEvent:
    """One Hub webhook delivery, as much of it as the orchestrator reads: what happened, to which repo, and the
    refs it moved."""

    action: str
    scope: str
    repo_type: str
    repo_name: str
    head_sha: str | None
    updated_refs: tuple[tuple[str, str | None, str | None], ...] = ()

    @property
    def content_update(self) -> bool:
        """New commits on the repo (what a published dataset version is)."""
        return self.scope.startswith("repo.content") and self.action == "update"

    @property
    def key(self) -> str | None:
        """What identifies the update: the repo and its new head (duplicate deliveries share it); None
        when the delivery names no commit (then it cannot be told from another)."""
        head = self.head_sha or next((new for _, _, new in self.updated_refs if new), None)
        return f"{self.repo_type}:{self.repo_name}@{head}" if head else None


def secret_matches(given: str | bytes | None, expected: str) -> bool:
    """Constant-time comparison of a presented secret (the delivery's ``X-Webhook-Secret``) with the configured
    one (``WEBHOOK_SECRET``), as UTF-8 bytes. Give a header's raw bytes: a server that decodes header values
    as latin-1 (Starlette does) would make a non-ASCII secret never match as text. A text (a query
    parameter, already decoded from UTF-8) is encoded back."""
    if given is None:
        return False
    raw = given if isinstance(given, bytes) else given.encode("utf-8", "replace")
    return hmac.compare_digest(raw, expected.encode("utf-8"))


def parse(body: bytes) -> HubEvent:
    try:
        document: Any = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise BadDelivery(f"the body is not JSON ({type(exc).__name__})") from None
    if not isinstance(document, dict):
        raise BadDelivery("the body must be a JSON object")
    event, repo = document.get("event"), document.get("repo")
    if not isinstance(event, dict) or not isinstance(repo, dict):
        raise BadDelivery("the body has no 'event' and 'repo' objects: is this a Hub webhook?")
    action, scope, kind, name = event.get("action"), event.get("scope"), repo.get("type"), repo.get("name")
    for field, value in (("event.action", action), ("event.scope", scope), ("repo.type", kind), ("repo.name", name)):
        if not isinstance(value, str) or not value:
            raise BadDelivery(f"{field} must be a non-empty string")
    head = repo.get("headSha")
    listed = document.get("updatedRefs")
    if listed is not None and not isinstance(listed, list):
        raise BadDelivery("updatedRefs must be a list")
    refs = []
    for entry in listed or []:
        if isinstance(entry, dict) and isinstance(entry.get("ref"), str):
            old, new = entry.get("oldSha"), entry.get("newSha")
            refs.append((entry["ref"], old if isinstance(old, str) else None, new if isinstance(new, str) else None))
    return HubEvent(action, scope, kind, name, head if isinstance(head, str) else None, tuple(refs))
