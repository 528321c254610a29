"""HF scheduled jobs routes, as ``create_scheduled_job``, ``list_scheduled_jobs``, ``inspect_scheduled_job``,
``suspend_scheduled_job``, ``resume_scheduled_job``, ``delete_scheduled_job``, ``update_scheduled_job_schedule``,
``update_scheduled_job_labels`` and ``trigger_scheduled_job`` of the real client (huggingface_hub 2.4) call
them, and the test hooks ``scheduled_jobs`` (inspect) and ``fire_schedule`` (the Hub's clock: one run of a
schedule as a regular job). The schedules themselves are ``schedules._Schedule``.
"""

from __future__ import annotations

import json
import time
from typing import Any, Callable

from .access import _may_run_jobs, _visible
from .jobs import TERMINAL, _bad_spec, _Job, _new_job_id
from .repos import _RepoStore
from .schedules import _next_run, _Schedule
from .server import _error, _json_object, _json_reply, _Reply

_Callbacks = list[tuple[Callable[[Any], None], float]]


class _SchedulesApi:
    """HubStub's ``/api/scheduled-jobs/...`` routes and scheduled job hooks."""

    _lock: Any  # threading.RLock
    _store: _RepoStore
    _jobs: dict[str, _Job]
    _schedules: dict[str, _Schedule]
    _start_job: Callable[..., _Job]  # jobs_api._JobsApi
    _new_job_reply: Callable[[_Job], _Reply]  # jobs_api._JobsApi
    _run_callbacks: Callable[[_Callbacks], None]  # routes._Routes

    # ------------------------------------------------------------------ hooks
    def scheduled_jobs(self, namespace: str | None = None) -> list[dict[str, Any]]:
        """Every scheduled job not deleted (oldest first), optionally of one namespace; see
        ``_Schedule.record`` (secret values included)."""
        with self._lock:
            return [s.record() for s in self._schedules.values() if namespace is None or s.namespace == namespace]

    def fire_schedule(self, scheduled_job_id: str) -> str | None:
        """Run a scheduled job once, as the Hub does when its time comes: a regular job from its spec
        (initiator ``scheduled-job``), recorded as its last job; returns the job id. None when the Hub would
        skip this run: the schedule is suspended, or it has ``concurrency`` off and its last job is still
        SCHEDULING or RUNNING. ``on_job`` callbacks run as for a job created through the API."""
        callbacks: _Callbacks = []
        with self._lock:
            schedule = self._schedule(scheduled_job_id)
            job = None if schedule.suspend else self._run_schedule(schedule, callbacks)
        self._run_callbacks(callbacks)
        return None if job is None else job.id

    def _schedule(self, scheduled_job_id: str) -> _Schedule:
        if scheduled_job_id not in self._schedules:
            raise KeyError(f"no scheduled job {scheduled_job_id!r}")
        return self._schedules[scheduled_job_id]

    def _run_schedule(self, schedule: _Schedule, callbacks: _Callbacks) -> _Job | None:
        """Start one run of ``schedule`` (None if its last run is still going and it has no concurrency)."""
        now = time.time()
        if not schedule.concurrency and schedule.runs and (last := self._jobs.get(schedule.runs[-1][0])):
            last.refresh(now)
            if last.stage not in TERMINAL:
                return None
        spec = json.loads(json.dumps(schedule.spec))
        initiator = {"type": "scheduled-job", "id": schedule.id}
        owner = (schedule.namespace, schedule.namespace_type, schedule.created_by)
        job = self._start_job(*owner, spec, callbacks, initiator)
        schedule.runs.append((job.id, job.created))
        return job

    # ------------------------------------------------------------------ routes
    def _schedules_api(
        self,
        method: str,
        rest: list[str],
        user: str | None,
        access: dict,
        body: bytes,
        query: dict[str, list[str]],
        callbacks: _Callbacks,
    ) -> _Reply:
        """``/api/scheduled-jobs/{namespace}[/{id}[/suspend|/resume|/schedule|/labels|/run]]``; access as
        for jobs."""
        if not 1 <= len(rest) <= 3 or not rest[0]:
            return _error(404, "Not Found")
        if user is None:
            return _error(401, "You must be authenticated to access scheduled jobs")
        namespace = rest[0]
        if namespace != user and namespace not in access.get("orgs", []):
            return _error(403, f"You don't have access to scheduled jobs in namespace {namespace}")
        if method != "GET" and not _may_run_jobs(access, namespace):
            return _error(403, f"This token can't manage scheduled jobs in namespace {namespace}")
        now = time.time()
        if len(rest) == 1:
            if method == "POST":
                return self._create_schedule(namespace, namespace != user, user, body, now)
            if method == "GET":
                labels = [label.partition("=") for label in query.get("label", [])]
                found = [
                    s.info(now)
                    for s in self._schedules.values()
                    if s.namespace == namespace
                    and all((s.spec.get("labels") or {}).get(key) == value for key, _, value in labels)
                ]
                return _json_reply(200, found)
            return _error(405, "Method Not Allowed")
        schedule = self._schedules.get(rest[1])
        if schedule is None or schedule.namespace != namespace:
            return _error(404, f"Scheduled job {rest[1]} not found")
        action = rest[2] if len(rest) == 3 else None
        if (method, action) == ("GET", None):
            return _json_reply(200, schedule.info(now))
        if (method, action) == ("DELETE", None):
            del self._schedules[schedule.id]  # the jobs it started stay
            return _json_reply(200, {})
        if method == "POST" and action in ("suspend", "resume"):
            schedule.suspend = action == "suspend"
            return _json_reply(200, schedule.info(now))
        if (method, action) == ("POST", "run"):
            job = self._run_schedule(schedule, callbacks)
            if job is None:
                return _error(409, "An instance of this scheduled job is already running and concurrency is disabled")
            return self._new_job_reply(job)
        if (method, action) in (("POST", "schedule"), ("PUT", "labels")):
            return self._change_schedule(schedule, action, body, now)
        return _error(404, "Not Found")

    def _create_schedule(self, namespace: str, is_org: bool, user: str, body: bytes, now: float) -> _Reply:
        request = _json_object(body)
        if request is None:
            return _error(400, "Invalid JSON body")
        spec = request.get("jobSpec")
        if (problem := _bad_spec(spec) or _bad_schedule(request.get("schedule"), now)) is not None:
            return _error(400, problem)
        for key in ("suspend", "concurrency"):
            if not isinstance(request.get(key, False), bool):
                return _error(400, f"{key} must be a boolean")
        if "spaceId" in spec and (denied := _visible(self._store.get("space", spec["spaceId"]), user)) is not None:
            return denied
        schedule = _Schedule(
            _new_job_id(now), namespace, "org" if is_org else "user", user, spec, request["schedule"],
            request.get("suspend", False), request.get("concurrency", False), now,
        )  # fmt: skip
        self._schedules[schedule.id] = schedule
        return _json_reply(200, schedule.info(now))

    def _change_schedule(self, schedule: _Schedule, action: str, body: bytes, now: float) -> _Reply:
        """``update_scheduled_job_schedule`` (``{"schedule"}``) or ``update_scheduled_job_labels``
        (``{"labels"}``, replacing every label, ``name`` included)."""
        request = _json_object(body)
        if request is None:
            return _error(400, "Invalid JSON body")
        if action == "schedule":
            if (problem := _bad_schedule(request.get("schedule"), now)) is not None:
                return _error(400, problem)
            schedule.schedule = request["schedule"]
        else:
            labels = request.get("labels")
            if not isinstance(labels, dict) or not all(isinstance(v, str) for v in [*labels, *labels.values()]):
                return _error(400, "labels must be an object of strings")
            schedule.spec["labels"] = dict(labels)
        return _json_reply(200, schedule.info(now))


def _bad_schedule(schedule: Any, now: float) -> str | None:
    """Why the Hub would refuse this schedule (None if it is acceptable)."""
    if not isinstance(schedule, str):
        return "schedule must be a string"
    try:
        _next_run(schedule, now)
    except ValueError as exc:
        return str(exc)
    return None
