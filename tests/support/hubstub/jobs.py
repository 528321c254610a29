"""The stub's jobs: one ``_Job`` per ``run_job``, its life (stage, timestamps, logs), the JSON the
Hub answers for it (``JobInfo``), what tests see of it (``HubStub.jobs()``) and its SSE log events.

A job is ``SCHEDULING`` for ``job_scheduling_seconds`` after its creation, then ``RUNNING``; with
``job_runs_for`` set (seconds) it is ``COMPLETED`` that long after it started. Both are read when the
job is created and applied lazily from timestamps, like a Space build. A stage set by a hook is final:
the clock no longer moves that job.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from .repos import _iso

STAGES = ("SCHEDULING", "RUNNING", "COMPLETED", "CANCELED", "ERROR", "DELETED")
TERMINAL = frozenset({"COMPLETED", "CANCELED", "ERROR", "DELETED"})
HARDWARE = [
    {"name": "cpu-basic", "prettyName": "CPU Basic", "cpu": "2 vCPU", "ram": "16 GB", "ephemeralStorage": "50 GB",
     "accelerator": None, "unitCostMicroUSD": 167, "unitCostUSD": 0.000167, "unitLabel": "minute"},
    {"name": "t4-small", "prettyName": "Nvidia T4 - small", "cpu": "4 vCPU", "ram": "15 GB", "ephemeralStorage": "50 GB",
     "accelerator": {"type": "gpu", "model": "T4", "quantity": "1", "vram": "16 GB", "manufacturer": "Nvidia"},
     "unitCostMicroUSD": 6667, "unitCostUSD": 0.006667, "unitLabel": "minute"},
    *({"name": name, "prettyName": pretty, "cpu": cpu, "ram": ram, "ephemeralStorage": "200 GB",
       "accelerator": {"type": "gpu", "model": model, "quantity": "1", "vram": vram, "manufacturer": "Nvidia"},
       "unitCostMicroUSD": round(per_hour / 60 * 1e6), "unitCostUSD": round(per_hour / 60, 6), "unitLabel": "minute"}
      for name, pretty, cpu, ram, model, vram, per_hour in (
          ("l4x1", "Nvidia 1xL4", "8 vCPU", "30 GB", "L4", "24 GB", 0.80),
          ("a10g-small", "Nvidia A10G - small", "4 vCPU", "15 GB", "A10G", "24 GB", 1.00),
          ("a10g-large", "Nvidia A10G - large", "12 vCPU", "46 GB", "A10G", "24 GB", 1.50),
          ("a100-large", "Nvidia A100 - large", "12 vCPU", "142 GB", "A100", "80 GB", 2.50),
      )),
]  # fmt: skip
_ids = itertools.count(1)  # job ids: creation second + a process-wide counter
JobCallback = Callable[[Any, dict], None]  # (stub, job as HubStub.jobs() reports it)


def _object_id(seed: str) -> str:
    return hashlib.sha1(seed.encode()).hexdigest()[:24]


def spec_fields(spec: dict[str, Any]) -> dict[str, Any]:
    """A job spec as ``HubStub.jobs()`` and ``scheduled_jobs()`` show it: secret values included."""
    return {
        "docker_image": spec.get("dockerImage"),
        "space_id": spec.get("spaceId"),
        "command": list(spec.get("command") or []),
        "arguments": list(spec.get("arguments") or []),
        "environment": dict(spec.get("environment") or {}),
        "secrets": dict(spec.get("secrets") or {}),
        "labels": dict(spec.get("labels") or {}),
        "flavor": spec.get("flavor"),
        "timeout": spec.get("timeoutSeconds"),
        "attempts": spec.get("attempts"),
    }


@dataclass
class _Job:
    id: str
    namespace: str
    namespace_type: str  # "user" | "org"
    created_by: str
    spec: dict[str, Any]  # the request body as received (secret values included)
    created: float
    scheduling_seconds: float
    runs_for: float | None
    stage: str = "SCHEDULING"
    message: str | None = None
    pinned: bool = False  # a hook set the stage: the clock no longer moves it
    started: float | None = None
    finished: float | None = None
    logs: list[tuple[float, str]] = field(default_factory=list)
    initiator: dict[str, Any] | None = None  # what started it, when not its creator: a schedule, a webhook
    ran_for: float | None = None  # set by finish_job(ran_for=): its running seconds, exactly

    def refresh(self, now: float) -> None:
        """Apply the scheduling / auto-finish clock."""
        if self.pinned:
            return
        if self.stage == "SCHEDULING" and now >= self.created + self.scheduling_seconds:
            self.stage, self.started = "RUNNING", self.created + self.scheduling_seconds
        if self.stage == "RUNNING" and self.runs_for is not None and self.started is not None:
            if now >= self.started + self.runs_for:
                self.stage, self.finished = "COMPLETED", self.started + self.runs_for

    def set_stage(self, stage: str, message: str | None) -> None:
        if stage not in STAGES:
            raise ValueError(f"unknown job stage {stage!r}; one of {STAGES}")
        now = time.time()
        self.stage, self.message, self.pinned = stage, message, True
        if stage != "SCHEDULING" and self.started is None and stage not in ("CANCELED", "DELETED"):
            self.started = now
        if stage in TERMINAL and self.finished is None:
            self.finished = now

    def info(self) -> dict[str, Any]:
        """The Hub's job JSON (as ``huggingface_hub.JobInfo`` parses it); secret values are not returned."""
        spec, now = self.spec, time.time()
        payload: dict[str, Any] = {
            "id": self.id,
            "createdAt": _iso(self.created),
            "command": list(spec.get("command") or []),
            "arguments": list(spec.get("arguments") or []),
            "environment": dict(spec.get("environment") or {}),
            "secrets": dict.fromkeys(spec.get("secrets") or {}),  # names only, never the values
            "flavor": spec.get("flavor") or "cpu-basic",
            "labels": dict(spec["labels"]) if spec.get("labels") else None,
            "status": {"stage": self.stage, "message": self.message},
            "owner": {"id": _object_id(self.namespace), "name": self.namespace, "type": self.namespace_type},
            "initiator": self.initiator or {"type": "user", "id": _object_id(self.created_by), "name": self.created_by},
            "durations": {
                "schedulingSecs": max(int((self.started or self.finished or now) - self.created), 0),
                "runningSecs": None if self.started is None else int(
                    self.ran_for if self.ran_for is not None else (self.finished or now) - self.started),
                "totalSecs": int((self.finished or now) - self.created),
            },
        }
        payload["dockerImage" if "dockerImage" in spec else "spaceId"] = spec.get("dockerImage", spec.get("spaceId"))
        if self.started is not None:
            payload["startedAt"] = _iso(self.started)
        if self.finished is not None:
            payload["finishedAt"] = _iso(self.finished)
        for key in ("volumes", "expose", "network"):
            if key in spec:
                payload[key] = spec[key]
        if isinstance(spec.get("attempts"), int):
            payload["retry"] = spec["attempts"] - 1
        return payload

    def record(self) -> dict[str, Any]:
        """What a test sees through ``HubStub.jobs()``: the job as created, secret values included."""
        return {
            "id": self.id,
            "namespace": self.namespace,
            "created_by": self.created_by,
            **spec_fields(self.spec),
            "stage": self.stage,
            "message": self.message,
            "logs": [line for _, line in self.logs],
            "spec": json.loads(json.dumps(self.spec)),
        }

    def events(self) -> list[tuple[float, str]]:
        """The log events: the Hub's "Job started" line once the job runs, then its log lines."""
        started = [] if self.started is None else [(self.started, f"===== Job started at {_iso(self.started)} =====")]
        return started + self.logs


def _job_spec(spec: dict[str, Any], secret_names: Any = None) -> dict[str, Any]:
    """A job spec as the Hub answers it inside a scheduled job or a webhook (``huggingface_hub.JobSpec``):
    ``timeout`` in seconds, ``retry`` for ``attempts - 1``, and the secrets by name only (``{name: null}``;
    ``secret_names`` overrides the spec's own)."""
    names = (spec.get("secrets") or {}) if secret_names is None else secret_names
    payload: dict[str, Any] = {
        "command": list(spec.get("command") or []),
        "arguments": list(spec.get("arguments") or []),
        "environment": dict(spec.get("environment") or {}),
        "secrets": dict.fromkeys(names),
        "flavor": spec.get("flavor") or "cpu-basic",
        "timeout": spec.get("timeoutSeconds"),
        "labels": dict(spec["labels"]) if spec.get("labels") else None,
    }
    payload["dockerImage" if "dockerImage" in spec else "spaceId"] = spec.get("dockerImage", spec.get("spaceId"))
    for key in ("volumes", "expose"):
        if key in spec:
            payload[key] = spec[key]
    if isinstance(spec.get("attempts"), int):
        payload["retry"] = spec["attempts"] - 1
    return payload


def _sse(events: list[tuple[float, str]]) -> bytes:
    """Log events as the Hub streams them: one ``data: {"data", "timestamp"}`` SSE event per line."""
    return b"".join(f"data: {json.dumps({'data': line, 'timestamp': _iso(at)})}\n\n".encode() for at, line in events)


def _bad_spec(spec: Any) -> str | None:
    """Why the Hub would refuse this job spec (None if it is acceptable)."""
    if not isinstance(spec, dict):
        return "Invalid JSON body"
    if ("dockerImage" in spec) == ("spaceId" in spec):
        return "Exactly one of dockerImage or spaceId is required"
    if not isinstance(spec.get("dockerImage", spec.get("spaceId")), str):
        return "dockerImage/spaceId must be a string"
    command = spec.get("command")
    if not isinstance(command, list) or not command or not all(isinstance(c, str) for c in command):
        return "command must be a non-empty list of strings"
    for key in ("environment", "secrets", "labels"):
        value = spec.get(key, {})
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            return f"{key} must be an object"
    if not all(isinstance(v, str) for v in (spec.get("labels") or {}).values()):
        return "label values must be strings"
    timeout = spec.get("timeoutSeconds")
    if timeout is not None and (not isinstance(timeout, int) or timeout <= 0):
        return "timeoutSeconds must be a positive integer"
    return None


def _new_job_id(created: float) -> str:
    return f"{int(created):08x}{next(_ids):016x}"  # 24 hex digits, like the Hub's (Mongo ObjectId) ids
