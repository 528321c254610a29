"""The stub's scheduled jobs: one ``_Schedule`` per ``create_scheduled_job``, the JSON the Hub answers for
it (``ScheduledJobInfo``), what tests see of it (``HubStub.scheduled_jobs()``), and the cron arithmetic
behind its ``nextJobRunAt``.

A schedule is one of ``@annually``, ``@yearly``, ``@monthly``, ``@weekly``, ``@daily``, ``@hourly`` or
a five-field CRON expression (minute hour day-of-month month day-of-week, in UTC; ``*``, ``a-b``,
``*/n``, ``a-b/n`` and lists; day of week ``0``-``7`` with ``0`` and ``7`` for Sunday; when both day
fields are restricted a day matching either runs, as in cron). The stub never runs a schedule by itself:
``HubStub.fire_schedule`` stands for the Hub's clock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from .jobs import _job_spec, _object_id, spec_fields
from .repos import _iso

_ALIASES = {
    "@annually": "0 0 1 1 *",
    "@yearly": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


def _cron_field(text: str, low: int, high: int) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        base, slash, step_text = part.partition("/")
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start, end = int(first), int(last)
        else:
            start = int(base)
            end = high if slash else start
        step = int(step_text) if slash else 1
        if not low <= start <= end <= high or step < 1:
            raise ValueError(f"{part!r} is out of range {low}-{high}")
        values.update(range(start, end + 1, step))
    return values


def _next_run(schedule: str, after: float) -> float:
    """The first time strictly after ``after`` (a whole minute, UTC) that ``schedule`` runs; ``ValueError``
    if it is not a schedule the Hub accepts or it never runs."""
    fields = _ALIASES.get(schedule.strip(), schedule).split()
    if len(fields) != 5:
        raise ValueError(f"Invalid schedule {schedule!r}")
    minutes, hours, days, months, weekdays = (_cron_field(f, *r) for f, r in zip(fields, _RANGES))
    weekdays = {d % 7 for d in weekdays}
    any_day, any_weekday = fields[2] == "*", fields[4] == "*"
    start = datetime.fromtimestamp(after, timezone.utc).replace(second=0, microsecond=0) + timedelta(minutes=1)
    day = start.date()
    for _ in range(366 * 8):  # long enough for 29 February
        on_day, on_weekday = day.day in days, day.isoweekday() % 7 in weekdays
        runs = (on_day or on_weekday) if not (any_day or any_weekday) else (on_day and on_weekday)
        if day.month in months and runs:
            for hour in sorted(hours):
                for minute in sorted(minutes):
                    at = datetime(day.year, day.month, day.day, hour, minute, tzinfo=timezone.utc)
                    if at >= start:
                        return at.timestamp()
        day += timedelta(days=1)
    raise ValueError(f"Schedule {schedule!r} never runs")


@dataclass
class _Schedule:
    id: str
    namespace: str
    namespace_type: str  # "user" | "org"
    created_by: str
    spec: dict[str, Any]  # the request's jobSpec as received (secret values included)
    schedule: str
    suspend: bool
    concurrency: bool
    created: float
    runs: list[tuple[str, float]] = field(default_factory=list)  # (job id, when), oldest first

    def info(self, now: float) -> dict[str, Any]:
        """The Hub's scheduled job JSON (as ``huggingface_hub.ScheduledJobInfo`` parses it): secret names
        only; ``nextJobRunAt`` is null while suspended."""
        last = {"id": self.runs[-1][0], "at": _iso(self.runs[-1][1])} if self.runs else None
        return {
            "id": self.id,
            "createdAt": _iso(self.created),
            "jobSpec": _job_spec(self.spec),
            "schedule": self.schedule,
            "suspend": self.suspend,
            "concurrency": self.concurrency,
            "status": {"lastJob": last, "nextJobRunAt": None if self.suspend else _iso(_next_run(self.schedule, now))},
            "owner": {"id": _object_id(self.namespace), "name": self.namespace, "type": self.namespace_type},
        }

    def record(self) -> dict[str, Any]:
        """What a test sees through ``HubStub.scheduled_jobs()``: the schedule as created, secret values
        included, with the jobs it started."""
        return {
            "id": self.id,
            "namespace": self.namespace,
            "created_by": self.created_by,
            "schedule": self.schedule,
            "suspend": self.suspend,
            "concurrency": self.concurrency,
            **spec_fields(self.spec),
            "runs": [job_id for job_id, _ in self.runs],
            "last_job": self.runs[-1][0] if self.runs else None,
            "spec": json.loads(json.dumps(self.spec)),
        }
