"""The HF Jobs boundary: start a job, find one by its labels, read its stage and the tail of its logs. Every call goes through :class:`~orchestrator.remote.hub.Hub`'s retry policy and error translation.

Creating a job is not idempotent, so ``run`` is never blindly repeated: a try that may have reached the
Hub (a read timeout, a dropped connection, a gateway's 5xx, an answer that cannot be read) raises
:class:`~orchestrator.errors.HubUnavailable`, and the next run finds the job by the labels it was created
with (:meth:`HfJobs.find`) before sending anything.
Reads (inspect, list, logs) are retried as any read is. A namespace is always passed: without one the
client asks ``whoami-v2``, which the Hub rate-limits strictly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING

from ..errors import HubUnavailable
from .retry import is_unsent

if TYPE_CHECKING:  # pragma: no cover
    from .hub import Hub

FINAL_STAGES = ("COMPLETED", "ERROR", "CANCELED", "DELETED")
LOG_TAIL_LINES = 20


@dataclass(frozen=True)
class JobState:
    """An HF Job's id and stage (with the Hub's message and the job's page, when given), and what it has run
    for: the Hub's running seconds (0 for a job that never ran; None where the Hub does not say) on its flavor."""

    id: str
    stage: str  # SCHEDULING, RUNNING, or one of FINAL_STAGES
    message: str | None = None
    url: str | None = None
    running_seconds: float | None = None
    flavor: str | None = None

    @property
    def final(self) -> bool:
        return self.stage in FINAL_STAGES


class HfJobs:
    """The HF Jobs API, called through the Hub client's retry policy and error translation."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def namespace(self, namespace: str | None) -> str:
        """The job's namespace: the one configured, or the token's user (one ``whoami`` per run)."""
        return namespace or str(self.hub.whoami().get("name"))

    def run(
        self,
        *,
        image: str,
        command: list[str],
        env: Mapping[str, str],
        secrets: Mapping[str, str],
        flavor: str,
        timeout: float | None,
        labels: Mapping[str, str],
        namespace: str,
    ) -> JobState:
        what = f"starting an HF Job ({image}) in {namespace}"

        def start():
            from huggingface_hub.errors import HfHubHTTPError

            try:
                return _state(
                    self.hub.api.run_job(
                        image=image,
                        command=command,
                        env=dict(env),
                        secrets=dict(secrets) or None,
                        flavor=flavor,
                        timeout=int(timeout) if timeout else None,
                        labels=dict(labels),
                        namespace=namespace,
                    )
                )
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                if isinstance(exc, HfHubHTTPError):
                    raise
                # A 2xx we cannot read: the job may well exist. Not "failed": the next run looks for it.
                raise HubUnavailable(
                    f"{what}: the Hub's answer could not be read ({type(exc).__name__})",
                    hint="the next run looks for the job by its labels before starting anything",
                ) from None

        # Only a request that surely never reached the Hub is sent again: a 5xx from a gateway may come
        # after the job was created, and then the next run finds it by its labels.
        return self.hub.call(what, start, not_found=f"check the job's image {image!r} and namespace {namespace!r}",
                             refused=f"check the job's image ({image}), flavor ({flavor}), command and namespace "
                             f"({namespace})", retry_on=is_unsent)

    def inspect(self, job_id: str, namespace: str) -> JobState:
        info = self.hub.call(
            f"reading HF Job {job_id}",
            lambda: self.hub.api.inspect_job(job_id=job_id, namespace=namespace),
            not_found=f"check that HF Job {job_id} exists in {namespace!r}",
        )
        return _state(info)

    def find(self, labels: Mapping[str, str], namespace: str) -> JobState | None:
        """The newest job carrying all of ``labels``, if any."""
        found = self.hub.call(
            f"listing the HF Jobs of {namespace}",
            lambda: list(self.hub.api.list_jobs(labels=dict(labels), namespace=namespace)),
            not_found=f"check the namespace {namespace!r}",
        )
        matching = [info for info in found if carries(info.labels, labels)]
        if not matching:
            return None
        return _state(max(matching, key=lambda info: str(info.created_at or "")))

    def flavors(self) -> dict[str, Flavor]:
        """The Hub's hardware for jobs, by name, with its hourly price; read once per Hub client."""
        return self.hub.once("jobs hardware", lambda: {flavor.name: flavor for flavor in self.hub.call(
            "reading the Hub's hardware for jobs", lambda: [_flavor(info) for info in self.hub.api.list_jobs_hardware()],
            not_found="this Hub may not list job hardware (GET /api/jobs/hardware)",
        )})

    def cancel(self, job_id: str, namespace: str) -> None:
        """Cancel a running job (a job that ended stays as it ended)."""
        self.hub.call(
            f"cancelling HF Job {job_id}",
            lambda: self.hub.api.cancel_job(job_id=job_id, namespace=namespace),
            not_found=f"check that HF Job {job_id} exists in {namespace!r}",
            retry_on=is_unsent,
        )

    def logs(self, job_id: str, namespace: str, *, lines: int = LOG_TAIL_LINES) -> list[str]:
        """The last ``lines`` lines of a job's logs (what is there now; it does not follow a running job)."""
        return self.hub.call(
            f"reading the logs of HF Job {job_id}",
            lambda: list(
                islice(self.hub.api.fetch_job_logs(job_id=job_id, namespace=namespace, follow=False, tail=lines), 10 * lines)
            )[-lines:],
            not_found=f"check that HF Job {job_id} exists in {namespace!r}",
        )


def carries(have: Mapping[str, str] | None, wanted: Mapping[str, str]) -> bool:
    """Whether labels ``have`` hold every one of ``wanted`` (the Hub's own filter may look at only one of them)."""
    return all((have or {}).get(k) == v for k, v in wanted.items())


@dataclass(frozen=True)
class Flavor:
    """One kind of hardware jobs run on, and its price where the Hub gives one."""

    name: str
    usd_per_hour: float | None = None


def _state(info) -> JobState:
    status = getattr(info, "status", None)
    stage = getattr(status, "stage", None)
    flavor = getattr(info, "flavor", None)
    return JobState(
        id=str(info.id),
        stage=str(getattr(stage, "value", stage) or "SCHEDULING"),
        message=getattr(status, "message", None),
        url=getattr(info, "url", None),
        running_seconds=_running_seconds(info),
        flavor=str(getattr(flavor, "value", flavor)) if flavor else None,
    )


def _running_seconds(info) -> float | None:
    """The Hub's ``durations.runningSecs`` (None there: the job has not run, so 0), else from its start and end."""
    durations = getattr(info, "durations", None)
    if durations is not None:
        running = getattr(durations, "running_secs", None)
        return float(running) if isinstance(running, (int, float)) else 0.0
    started, finished = getattr(info, "started_at", None), getattr(info, "finished_at", None)
    try:
        return max((finished - started).total_seconds(), 0.0) if started and finished else None
    except TypeError:  # not datetimes
        return None


def _flavor(info) -> Flavor:
    """A ``JobHardwareInfo``: its price is given per ``unit_label`` (a minute, an hour)."""
    cost, unit = getattr(info, "unit_cost_usd", None), str(getattr(info, "unit_label", "") or "")
    per_hour = {"minute": 60.0, "hour": 1.0, "second": 3600.0}.get(unit.lower().rstrip("s"))
    return Flavor(str(info.name), float(cost) * per_hour if isinstance(cost, (int, float)) and per_hour else None)
