"""HF Jobs routes, as ``run_job``, ``inspect_job``, ``list_jobs``, ``fetch_job_logs``, ``cancel_job`` and
``list_jobs_hardware`` of the real client (huggingface_hub 2.4) call them, and the test hooks that
drive a job's life (``on_job``, ``finish_job``, ``set_job_stage``, ``log_job``) or inspect it (``jobs``,
``job``). The jobs themselves are ``jobs._Job``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any, Callable

from .access import _may_run_jobs, _visible
from .jobs import HARDWARE, TERMINAL, JobCallback, _bad_spec, _Job, _new_job_id, _sse
from .repos import _RepoStore
from .server import _error, _json_reply, _Reply


class _JobsApi:
    """HubStub's ``/api/jobs/...`` routes and job hooks."""

    _lock: Any  # threading.RLock
    _store: _RepoStore
    _jobs: dict[str, _Job]
    _on_job: list[tuple[JobCallback, float]]
    job_scheduling_seconds: float
    job_runs_for: float | None
    job_logs_linger: float | None
    _server: Any  # server._Server while serving, None once stopped

    # ------------------------------------------------------------------ hooks
    def on_job(self, callback: JobCallback, *, delay: float = 0.0) -> None:
        """After each job created (through the API, a fired schedule or a delivered webhook) call
        ``callback(stub, job)`` (``job`` as ``jobs()`` reports it). With ``delay == 0`` it runs before the
        create response (or the hook) returns, else from a timer thread ``delay`` seconds later; exceptions
        go to ``callback_errors``."""
        with self._lock:
            self._on_job.append((callback, delay))

    def jobs(self, namespace: str | None = None) -> list[dict[str, Any]]:
        """Every job created (oldest first), optionally of one namespace; see ``_Job.record``."""
        with self._lock:
            now = time.time()
            found = [j for j in self._jobs.values() if namespace is None or j.namespace == namespace]
            for job in found:
                job.refresh(now)
            return [job.record() for job in found]

    def job(self, job_id: str) -> dict[str, Any]:
        with self._lock:
            job = self._job(job_id)
            job.refresh(time.time())
            return job.record()

    def finish_job(
        self, job_id: str, stage: str = "COMPLETED", *, logs: list[str] | None = None, message: str | None = None,
        ran_for: float | None = None,
    ) -> None:
        """End a job: append ``logs`` lines, then set a terminal ``stage`` (and status ``message``). ``ran_for``:
        the seconds it ran (its start is moved that far before its end: ``durations.runningSecs``)."""
        if stage not in TERMINAL:
            raise ValueError(f"{stage!r} is not a terminal stage: {sorted(TERMINAL)}")
        with self._lock:
            job = self._job(job_id)
            job.refresh(time.time())
            if logs:
                self._append_logs(job, logs)
            job.set_stage(stage, message)
            if ran_for is not None and job.finished is not None:
                job.started, job.ran_for = job.finished - ran_for, ran_for

    def set_job_stage(self, job_id: str, stage: str, *, message: str | None = None) -> None:
        """Put a job in any stage (SCHEDULING, RUNNING, COMPLETED, CANCELED, ERROR, DELETED)."""
        with self._lock:
            self._job(job_id).set_stage(stage, message)

    def log_job(self, job_id: str, *lines: str) -> None:
        """Append log lines to a job (a job that logs has started: SCHEDULING becomes RUNNING)."""
        with self._lock:
            job = self._job(job_id)
            job.refresh(time.time())
            self._append_logs(job, lines)

    def _append_logs(self, job: _Job, lines: Any) -> None:
        if job.started is None:
            job.set_stage("RUNNING", job.message)
        at = time.time()
        job.logs.extend((at, str(line)) for line in lines)

    def _job(self, job_id: str) -> _Job:
        if job_id not in self._jobs:
            raise KeyError(f"no job {job_id!r}")
        return self._jobs[job_id]

    # ------------------------------------------------------------------ routes
    def _jobs_api(
        self,
        method: str,
        rest: list[str],
        user: str | None,
        access: dict,
        body: bytes,
        query: dict[str, list[str]],
        callbacks: list[tuple[Callable[[Any], None], float]],
    ) -> _Reply:
        """``/api/jobs/{namespace}[/{job_id}[/logs|/cancel]]`` and ``/api/jobs/hardware``."""
        if rest == ["hardware"] and method == "GET":
            return _json_reply(200, HARDWARE)
        if not 1 <= len(rest) <= 3 or not rest[0]:
            return _error(404, "Not Found")
        if user is None:
            return _error(401, "You must be authenticated to access jobs")
        namespace, write = rest[0], method == "POST"
        if namespace != user and namespace not in access.get("orgs", []):
            return _error(403, f"You don't have access to jobs in namespace {namespace}")
        if write and not _may_run_jobs(access, namespace):
            return _error(403, f"This token can't run or cancel jobs in namespace {namespace}")
        now = time.time()
        if len(rest) == 1:
            if method == "POST":
                return self._create_job(namespace, namespace != user, user, body, callbacks)
            if method == "GET":
                return self._list_jobs(namespace, query, now)
            return _error(405, "Method Not Allowed")
        job = self._jobs.get(rest[1])
        if job is None or job.namespace != namespace:
            return _error(404, f"Job {rest[1]} not found")
        job.refresh(now)
        action = rest[2] if len(rest) == 3 else None
        if (method, action) == ("GET", None):
            return _json_reply(200, job.info())
        if (method, action) == ("GET", "logs"):
            tail = (query.get("tail") or [None])[0]
            if tail is not None and not tail.isdigit():
                return _error(400, "tail must be a non-negative integer")
            return self._logs_reply(job, int(tail) if tail is not None else None)
        if (method, action) == ("POST", "cancel"):
            if job.stage not in TERMINAL:
                job.set_stage("CANCELED", job.message)
            return _json_reply(200, job.info())
        return _error(404, "Not Found")

    def _create_job(
        self, namespace: str, is_org: bool, user: str, body: bytes, callbacks: list[tuple[Callable[[Any], None], float]]
    ) -> _Reply:
        try:
            spec = json.loads(body or b"null")
        except ValueError:
            return _error(400, "Invalid JSON body")
        if (problem := _bad_spec(spec)) is not None:
            return _error(400, problem)
        if "spaceId" in spec and (denied := _visible(self._store.get("space", spec["spaceId"]), user)) is not None:
            return denied
        return self._new_job_reply(self._start_job(namespace, "org" if is_org else "user", user, spec, callbacks))

    def _start_job(
        self,
        namespace: str,
        namespace_type: str,
        user: str,
        spec: dict[str, Any],
        callbacks: list[tuple[Callable[[Any], None], float]],
        initiator: dict[str, Any] | None = None,
    ) -> _Job:
        """Create a job from ``spec`` (through the API, a schedule or a webhook) and queue its ``on_job``
        callbacks."""
        created = time.time()
        job = _Job(_new_job_id(created), namespace, namespace_type, user, spec, created,
                   self.job_scheduling_seconds, self.job_runs_for, initiator=initiator)  # fmt: skip
        self._jobs[job.id] = job
        record = job.record()
        for callback, delay in self._on_job:
            callbacks.append((lambda stub, cb=callback: cb(stub, record), delay))
        return job

    @staticmethod
    def _new_job_reply(job: _Job) -> _Reply:
        payload = job.info()
        payload["status"] = {"stage": "SCHEDULING", "message": None}  # the create answer reports the new job
        return _json_reply(200, payload)

    def _logs_reply(self, job: _Job, tail: int | None) -> _Reply:
        """The replay of the logs (the last ``tail`` events); a job not yet finished keeps streaming
        new lines until it ends (or for ``job_logs_linger`` seconds), as the Hub does."""
        events = job.events()
        replay = _sse(events[-tail:] if tail else [] if tail == 0 else events)
        headers = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        if job.stage in TERMINAL or self.job_logs_linger == 0:
            return _Reply(200, headers, replay)
        return _Reply(200, headers, replay, self._follow_logs(job, job.started is not None, len(job.logs)))

    def _follow_logs(self, job: _Job, started_sent: bool, sent: int) -> Iterator[bytes]:
        linger = self.job_logs_linger
        deadline = None if linger is None else time.monotonic() + linger
        beat = time.monotonic()
        while True:
            with self._lock:
                job.refresh(time.time())
                new = job.logs[sent:]
                if not started_sent and job.started is not None:
                    new, started_sent = job.events()[:1] + new, True
                sent, done, stopped = len(job.logs), job.stage in TERMINAL, self._server is None
            now = time.monotonic()
            if new:
                yield _sse(new)
                beat = now
            elif now - beat >= 30:
                yield b": keep-alive\n\n"  # the Hub's heartbeat on a silent stream
                beat = now
            if done or stopped or (deadline is not None and now >= deadline):
                return
            time.sleep(0.05)

    def _list_jobs(self, namespace: str, query: dict[str, list[str]], now: float) -> _Reply:
        stages = {s.upper() for s in query.get("stage", [])}
        labels = [label.partition("=") for label in query.get("label", [])]
        found = []
        for job in self._jobs.values():
            if job.namespace != namespace:
                continue
            job.refresh(now)
            have = job.spec.get("labels") or {}
            if stages and job.stage not in stages:
                continue
            if any(have.get(key) != value for key, _, value in labels):
                continue
            found.append(job.info())
        return _json_reply(200, found)
