"""The Hub's scheduled jobs: find this project's one by its labels, create it, change its schedule, delete
it, and read its last runs. Every call goes through :class:`~orchestrator.remote.hub.Hub`'s retry policy and
error translation.

Creating a scheduled job is not idempotent, so it is sent once (``retry_on=is_unsent``): a try that may have
reached the Hub is found on the next ``orchestrator schedule`` by its labels (:meth:`HfSchedules.find`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .hfjobs import JobState, _state, carries
from .retry import is_unsent

if TYPE_CHECKING:  # pragma: no cover
    from .hub import Hub


@dataclass(frozen=True)
class JobRequest:
    """What a job runs: its image, command, environment, secrets (values), hardware, timeout and labels."""

    image: str
    command: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict)
    flavor: str = "cpu-basic"
    timeout: int | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Scheduled:
    """A scheduled job as the Hub shows it (secrets by name only: the Hub never gives their values back)."""

    id: str
    schedule: str
    suspended: bool
    concurrency: bool
    image: str | None
    command: tuple[str, ...]
    env: Mapping[str, str]
    secret_names: tuple[str, ...]
    flavor: str | None
    labels: Mapping[str, str]
    last_job: str | None = None
    last_run_at: str | None = None
    next_run_at: str | None = None


class HfSchedules:
    """The scheduled-jobs API of the Hub, called through the Hub client's retry policy and error translation."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def find(self, labels: Mapping[str, str], namespace: str) -> list[Scheduled]:
        """The scheduled jobs carrying all of ``labels``, oldest first."""
        found = self.hub.call(
            f"listing the scheduled jobs of {namespace}",
            lambda: list(self.hub.api.list_scheduled_jobs(labels=dict(labels), namespace=namespace)),
            not_found=f"check the namespace {namespace!r}",
        )
        mine = [_scheduled(info) for info in found]
        return sorted((s for s in mine if carries(s.labels, labels)), key=lambda s: s.id)

    def create(self, request: JobRequest, *, schedule: str, namespace: str) -> Scheduled:
        what = f"creating a scheduled job ({request.image}, {schedule!r}) in {namespace}"
        info = self.hub.call(
            what,
            lambda: self.hub.api.create_scheduled_job(
                image=request.image, command=list(request.command), schedule=schedule, suspend=False,
                concurrency=False, env=dict(request.env), secrets=dict(request.secrets) or None, flavor=request.flavor,
                timeout=request.timeout, labels=dict(request.labels), namespace=namespace,
            ),
            not_found=f"check the namespace {namespace!r}",
            refused=f"check the schedule {schedule!r} (a cron expression or @hourly, @daily...), the image "
            f"({request.image}) and the flavor ({request.flavor})",
            retry_on=is_unsent,
        )
        return _scheduled(info)

    def reschedule(self, scheduled_id: str, schedule: str, namespace: str) -> Scheduled:
        """Change only when it runs: its job, labels and suspension are kept."""
        info = self.hub.call(
            f"changing the schedule of scheduled job {scheduled_id}",
            lambda: self.hub.api.update_scheduled_job_schedule(
                scheduled_job_id=scheduled_id, schedule=schedule, namespace=namespace),
            not_found=f"check that scheduled job {scheduled_id} exists in {namespace!r}",
            refused=f"check the schedule {schedule!r} (a cron expression or @hourly, @daily...)",
        )
        return _scheduled(info)

    def resume(self, scheduled_id: str, namespace: str) -> None:
        self.hub.call(
            f"resuming scheduled job {scheduled_id}",
            lambda: self.hub.api.resume_scheduled_job(scheduled_job_id=scheduled_id, namespace=namespace),
            not_found=f"check that scheduled job {scheduled_id} exists in {namespace!r}",
        )

    def delete(self, scheduled_id: str, namespace: str) -> None:
        self.hub.call(
            f"deleting scheduled job {scheduled_id}",
            lambda: self.hub.api.delete_scheduled_job(scheduled_job_id=scheduled_id, namespace=namespace),
            not_found=f"check that scheduled job {scheduled_id} exists in {namespace!r}",
        )

    def runs(self, labels: Mapping[str, str], namespace: str, *, limit: int = 5) -> list[JobState]:
        """The jobs a schedule started (they carry its labels), newest first."""
        jobs = self.hub.call(
            f"listing the HF Jobs of {namespace}",
            lambda: list(self.hub.api.list_jobs(labels=dict(labels), namespace=namespace)),
            not_found=f"check the namespace {namespace!r}",
        )
        started = [info for info in jobs if carries(info.labels, labels)]
        started.sort(key=lambda info: str(getattr(info, "created_at", "") or ""), reverse=True)
        return [_state(info) for info in started[:limit]]


def _scheduled(info: Any) -> Scheduled:
    spec = getattr(info, "job_spec", None)
    status = getattr(info, "status", None)
    last = getattr(status, "last_job", None)
    following = getattr(status, "next_job_run_at", None)
    secrets = getattr(spec, "secrets", None) or {}
    flavor = getattr(spec, "flavor", None)
    return Scheduled(
        id=str(info.id),
        schedule=str(getattr(info, "schedule", "") or ""),
        suspended=bool(getattr(info, "suspend", False)),
        concurrency=bool(getattr(info, "concurrency", False)),
        image=getattr(spec, "docker_image", None),
        command=tuple(getattr(spec, "command", None) or ()),
        env={str(k): str(v) for k, v in (getattr(spec, "environment", None) or {}).items()},
        secret_names=tuple(sorted(secrets if isinstance(secrets, (dict, list)) else ())),
        flavor=str(getattr(flavor, "value", flavor)) if flavor else None,
        labels=dict(getattr(spec, "labels", None) or getattr(info, "labels", None) or {}),
        last_job=getattr(last, "id", None),
        last_run_at=last.at.isoformat() if last is not None and getattr(last, "at", None) else None,
        next_run_at=following.isoformat() if following is not None else None,
    )
