"""The Hub's webhooks: list the token's webhooks, create one that starts a Job, change it, delete it. Every call
goes through :class:`~orchestrator.remote.hub.Hub`'s retry policy and error translation.

Creating a webhook is not idempotent, so it is sent once (``retry_on=is_unsent``); ``orchestrator hooks install``
finds its own webhook on the next try by the labels of the Job it starts (:class:`Webhook.job_labels`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .retry import is_unsent

if TYPE_CHECKING:  # pragma: no cover
    from .hub import Hub


@dataclass(frozen=True)
class Webhook:
    """A webhook as the Hub shows it: what it watches, the Job it starts (its labels and command: the Hub does not
    say which job it copied), its secret."""

    id: str
    watched: tuple[tuple[str, str], ...]  # (type, name): ("dataset", "owner/name")
    domains: tuple[str, ...]
    job_labels: Mapping[str, str] = field(default_factory=dict)
    job_image: str | None = None
    job_command: tuple[str, ...] = ()
    job_env: Mapping[str, str] = field(default_factory=dict)
    job_secret_names: tuple[str, ...] = ()
    job_flavor: str | None = None
    job_timeout: int | None = None
    secret: str | None = None
    disabled: bool = False
    url: str | None = None


class HfWebhooks:
    """The webhooks API of the Hub, called through the Hub client's retry policy and error translation."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def all(self) -> list[Webhook]:
        return [_webhook(info) for info in self.hub.call(
            "listing the token's Hub webhooks", lambda: list(self.hub.api.list_webhooks()),
            not_found="this Hub may not list webhooks (GET /api/settings/webhooks)",
        )]

    def create(self, *, job_id: str, watched: Sequence[tuple[str, str]], secret: str,
               secrets: Mapping[str, str]) -> Webhook:
        info = self.hub.call(
            f"creating a Hub webhook that starts HF Job {job_id}",
            lambda: self.hub.api.create_webhook(
                job_id=job_id, watched=[{"type": kind, "name": name} for kind, name in watched], domains=["repo"],
                secret=secret, secrets=dict(secrets) or None,
            ),
            not_found=f"check that HF Job {job_id} exists",
            refused="check the watched repos and that the token may manage webhooks (a write token)",
            retry_on=is_unsent,
        )
        return _webhook(info)

    def update(self, webhook_id: str, *, job_id: str | None, watched: Sequence[tuple[str, str]], secret: str,
               secrets: Mapping[str, str] | None) -> Webhook:
        """Change what it watches and its secret; with ``job_id`` also the job it copies and that job's secrets
        (the client sends secrets only with a job)."""
        info = self.hub.call(
            f"updating Hub webhook {webhook_id}",
            lambda: self.hub.api.update_webhook(
                webhook_id, job_id=job_id, watched=[{"type": kind, "name": name} for kind, name in watched],
                domains=["repo"], secret=secret, secrets=dict(secrets) if job_id and secrets else None,
            ),
            not_found=f"check that webhook {webhook_id} exists",
            refused="check the watched repos and that the token may manage webhooks (a write token)",
        )
        return _webhook(info)

    def enable(self, webhook_id: str) -> None:
        self.hub.call(
            f"enabling Hub webhook {webhook_id}", lambda: self.hub.api.enable_webhook(webhook_id),
            not_found=f"check that webhook {webhook_id} exists",
        )

    def delete(self, webhook_id: str) -> None:
        self.hub.call(
            f"deleting Hub webhook {webhook_id}", lambda: self.hub.api.delete_webhook(webhook_id),
            not_found=f"check that webhook {webhook_id} exists",
        )


def _webhook(info: Any) -> Webhook:
    job = getattr(info, "job", None)
    return Webhook(
        id=str(info.id),
        watched=tuple((str(item.type), str(item.name)) for item in getattr(info, "watched", None) or ()),
        domains=tuple(getattr(info, "domains", None) or ()),
        job_labels=dict(getattr(job, "labels", None) or {}),
        job_image=getattr(job, "docker_image", None),
        job_command=tuple(getattr(job, "command", None) or ()),
        job_env={str(k): str(v) for k, v in (getattr(job, "environment", None) or {}).items()},
        job_secret_names=tuple(sorted(getattr(job, "secrets", None) or ())),
        job_flavor=str(getattr(flavor, "value", flavor)) if (flavor := getattr(job, "flavor", None)) else None,
        job_timeout=getattr(job, "timeout", None),
        secret=getattr(info, "secret", None),
        disabled=bool(getattr(info, "disabled", False)),
        url=getattr(info, "url", None),
    )
