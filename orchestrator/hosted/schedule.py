"""``orchestrator schedule``: one HF scheduled job per project that runs ``orchestrator run --no-wait`` on a cron,
with no GitHub.

It is found by its label (``orchestrator-schedule=NAME``), so running the command again changes that job instead
of making a second one: the same job is left as it is, a new cron is set in place, and a changed job (image,
command, environment, secrets' names) replaces it. Runs never overlap (``concurrency`` off), and every run takes
the orchestrator's lease anyway. Secret values cannot be read back from the Hub: after rotating one, use
``--recreate``.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import ConfigError
from ..remote.hfjobs import HfJobs
from ..remote.hfschedules import HfSchedules, JobRequest, Scheduled
from ..remote.hub import Hub
from .spec import Hosting, concerns, describe, job_request, same_job

LABEL = "orchestrator-schedule"
_CRON_FIELD = re.compile(r"^[\d*/,\-A-Za-z?LW#]+$")
_KEYWORDS = ("@annually", "@yearly", "@monthly", "@weekly", "@daily", "@hourly")


def check_cron(cron: str) -> str:
    """A cron expression of five fields, or one of the Hub's keywords; a :class:`ConfigError` otherwise (before
    anything is sent: the Hub would refuse it with a less plain message)."""
    fields = cron.split()
    if cron.strip() in _KEYWORDS or (len(fields) == 5 and all(_CRON_FIELD.match(f) for f in fields)):
        return cron
    raise ConfigError(f"--cron {cron!r} is not a schedule: write five fields (minute hour day month weekday), "
                      f"e.g. \"*/15 * * * *\", or one of {', '.join(_KEYWORDS)}", hint="see `man 5 crontab`")


@dataclass(frozen=True)
class Done:
    """What a schedule command did (``created``, ``unchanged``, ``rescheduled``, ``replaced``, ``deleted``,
    ``nothing``; ``would ...`` in a dry run), and the scheduled job it left, if any."""

    action: str
    scheduled: Scheduled | None = None


def _same_job(found: Scheduled, request: JobRequest) -> bool:
    return same_job(request, image=found.image, command=found.command, env=found.env, secret_names=found.secret_names,
                    flavor=found.flavor or "cpu-basic")


class Scheduler:
    """Create, show and delete this project's scheduled job on the Hub."""

    def __init__(self, hub: Hub, hosting: Hosting, name: str, say: Callable[[str], None]) -> None:
        self.hub, self.hosting, self.name, self.say = hub, hosting, name, say
        self.schedules = HfSchedules(hub)
        self.labels = {LABEL: name}

    @property
    def namespace(self) -> str:
        return HfJobs(self.hub).namespace(self.hosting.namespace)

    def install(self, settings, cron: str, *, dry_run: bool = False, recreate: bool = False) -> Done:
        check_cron(cron)
        request = job_request(settings, self.hosting, self.labels)
        for concern in concerns(settings):
            self.say(f"warning: the job may not work on the Hub: {concern} (see docs/hosted.md)")
        namespace = self.namespace
        found = self.schedules.find(self.labels, namespace)
        keep = next((s for s in found if _same_job(s, request)), None) if not recreate else None
        stale = [s for s in found if s is not keep]
        if dry_run:
            verb = "would leave" if keep and keep.schedule == cron and not keep.suspended else (
                "would update" if keep else "would create")
            self.say(f"{verb} the scheduled job {self.name!r} in {namespace} ({cron}, runs never overlap):")
            for line in describe(request):
                self.say(f"  {line}")
            for old in stale:
                self.say(f"would delete scheduled job {old.id} (its job differs)")
            return Done(verb)
        action = "unchanged"
        if keep is None:
            keep = self.schedules.create(request, schedule=cron, namespace=namespace)
            action = "replaced" if stale else "created"
        elif keep.schedule != cron:
            keep = self.schedules.reschedule(keep.id, cron, namespace)
            action = "rescheduled"
        if keep.suspended:
            self.schedules.resume(keep.id, namespace)
            action = "resumed" if action == "unchanged" else action
        for old in stale:  # after the new one exists: never a gap, and a crash here is tidied by the next try
            self.schedules.delete(old.id, namespace)
        self.say(f"scheduled job {keep.id} in {namespace}: {action} ({cron}; command: {shlex.join(request.command)})")
        return Done(action, keep)

    def show(self) -> Done:
        namespace = self.namespace
        found = self.schedules.find(self.labels, namespace)
        if not found:
            self.say(f"no scheduled job {self.name!r} in {namespace} (create one with `orchestrator schedule --cron ...`)")
            return Done("nothing")
        for scheduled in found:
            state = "suspended" if scheduled.suspended else f"next run {scheduled.next_run_at or 'not known'}"
            self.say(f"scheduled job {scheduled.id} in {namespace}: {scheduled.schedule} ({state})")
            self.say(f"  image: {scheduled.image} ({scheduled.flavor}); command: {shlex.join(scheduled.command)}")
            self.say(f"  secrets: {', '.join(scheduled.secret_names) or 'none'}")
        runs = self.schedules.runs(self.labels, namespace)
        self.say("last runs: " + ("none yet" if not runs else ""))
        for job in runs:
            self.say(f"  job {job.id}: {job.stage}" + (f" ({job.message})" if job.message else ""))
        return Done("shown", found[0])

    def delete(self, *, dry_run: bool = False) -> Done:
        namespace = self.namespace
        found = self.schedules.find(self.labels, namespace)
        if not found:
            self.say(f"no scheduled job {self.name!r} in {namespace}: nothing to delete")
            return Done("nothing")
        for scheduled in found:
            if not dry_run:
                self.schedules.delete(scheduled.id, namespace)
            self.say(f"{'would delete' if dry_run else 'deleted'} scheduled job {scheduled.id} in {namespace}")
        return Done("would delete" if dry_run else "deleted")
