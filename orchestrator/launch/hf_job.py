"""An HF Job target: start it with ``HfApi.run_job`` (:mod:`orchestrator.remote.hfjobs`) and follow its stage."""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from datetime import datetime

from .. import redact
from ..config.targets import HfJobTarget
from ..contracts.actions import environment, fill, hf_job_labels
from ..errors import HubError, LaunchError, OrchestratorError
from ..remote.hfjobs import HfJobs, JobState
from ..remote.hub import Hub
from ..state.records import Action, Spent
from .protocol import Found, Launched, Launcher, Status


class HfJobLauncher(Launcher):
    """Start an HF Job with ``HfApi.run_job`` and follow its stage.

    The job carries labels derived from the action's idempotency key, so that after a crash the next run
    finds it (:meth:`evidence`) instead of starting a second one. Its ref is ``namespace/job id``.
    """

    def __init__(self, target: HfJobTarget, hub: Hub, environ: Mapping[str, str] | None = None) -> None:
        super().__init__(target)
        self.jobs = HfJobs(hub)
        self.seen: dict[str, JobState] = {}  # each job's state as status() last read it: spent() reads a final one again
        self.environ = os.environ if environ is None else environ
        for name in target.secrets:  # their values may come back in the job's logs, or an error
            redact.register(self.environ.get(name))

    def _secrets(self) -> dict[str, str]:
        missing = [name for name in self.target.secrets if not self.environ.get(name)]
        if missing:
            raise LaunchError(
                f"{self.describe()}: the secret{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                "to hand to the job is not set in the orchestrator's environment",
                hint="set it (in the workflow: from the repository's secrets), or drop it from the target's secrets",
            )
        return {name: self.environ[name] for name in self.target.secrets}

    def check(self) -> None:
        self._secrets()
        me = self.jobs.hub.whoami()  # the token is valid (a refused one stops the run before anything starts)
        names = {me.get("name"), *(org.get("name") for org in me.get("orgs") or () if isinstance(org, dict))}
        namespace = self.target.namespace or me.get("name")
        if namespace not in names:
            raise LaunchError(
                f"{self.describe()}: HF_TOKEN belongs to {me.get('name')!r}, which cannot run jobs in {namespace!r}",
                hint="set the target's namespace to the token's user or one of its organisations, or use their token",
            )
        self._check_flavor()

    def _check_flavor(self) -> None:
        """The flavor is one the Hub runs jobs on (a typo found by the dry run, not by the launch after a
        prepare). A Hub that does not list its hardware is not held against the target."""
        try:
            flavors = self.jobs.flavors()
        except HubError as exc:
            if exc.status in (404, 405):
                return
            raise
        flavor = self.target.flavor
        if flavor not in flavors:
            close = difflib.get_close_matches(flavor, list(flavors), n=1)
            raise LaunchError(
                f"{self.describe()}: flavor {flavor!r} is not one the Hub runs jobs on"
                + (f" (did you mean {close[0]!r}?)" if close else ""),
                hint=f"the flavors: {', '.join(sorted(flavors))} (`hf jobs hardware` lists them with their prices)",
            )

    def cost(self) -> str | None:
        flavor = self.jobs.flavors().get(self.target.flavor)
        if flavor is None or flavor.usd_per_hour is None:
            return None
        return f"${flavor.usd_per_hour:.2f}/hour on {flavor.name}"

    def spent(self, ref: str, started_at: datetime, ended_at: datetime) -> Spent | None:
        """The Hub's running seconds of the job (read again unless status() saw it end) times its flavor's
        price, where the Hub lists one (``list_jobs_hardware``); None where the Hub gives no running time."""
        namespace, _, job_id = ref.rpartition("/")
        state = self.seen.get(ref)
        if state is None or not state.final:
            state = self.jobs.inspect(job_id, namespace)
        if state.running_seconds is None:
            return None
        seconds, name = state.running_seconds, state.flavor or self.target.flavor
        basis = f"HF Job {seconds:.0f} s on {name}"
        try:
            flavor = self.jobs.flavors().get(name)
        except OrchestratorError as exc:  # a price not read is no reason to lose the time: the seconds are kept
            return Spent(seconds, None, f"{basis}, its price not read ({exc.message})")
        if flavor is None or flavor.usd_per_hour is None:
            return Spent(seconds, None, f"{basis}, no price from the Hub")
        return Spent(seconds, seconds / 3600.0 * flavor.usd_per_hour, f"{basis} at ${flavor.usd_per_hour:.2f}/h")

    def cancel(self, ref: str) -> str:
        namespace, _, job_id = ref.rpartition("/")
        self.jobs.cancel(job_id, namespace)
        return f"HF Job {job_id} was cancelled"

    def launch(self, action: Action) -> Launched:
        namespace = self.jobs.namespace(self.target.namespace)
        started = self.jobs.run(
            image=self.target.job,
            command=[fill(part, action.labels, action.version) for part in self.target.command],
            env={**{key: fill(value, action.labels, action.version) for key, value in self.target.env},
                 **environment(action.kind, action.labels, action.key, action.version)},
            secrets=self._secrets(),
            flavor=self.target.flavor,
            timeout=self.target.timeout,
            labels=hf_job_labels(action.kind, action.key),
            namespace=namespace,
        )
        where = f" {started.url}" if started.url else ""
        return Launched(self.describe(), f"{namespace}/{started.id}", f"job {started.id}, stage {started.stage}{where}")

    def evidence(self, action: Action, age: float) -> Found:
        """A job carrying this action's labels exists: it was started. None does: it was not."""
        namespace = self.jobs.namespace(self.target.namespace)
        found = self.jobs.find(hf_job_labels(action.kind, action.key), namespace)
        return Found(True, f"{namespace}/{found.id}") if found else Found(False)

    def status(self, ref: str) -> Status:
        namespace, _, job_id = ref.rpartition("/")
        state = self.seen[ref] = self.jobs.inspect(job_id, namespace)
        if state.stage == "COMPLETED":
            return Status("succeeded", f"HF Job {job_id} completed")
        if not state.final:
            where = f" ({state.url})" if state.url else f" in {namespace}"
            return Status("running", f"HF Job {job_id}: {state.stage}{where}")
        try:
            logs = tuple(redact.redact(line) for line in self.jobs.logs(job_id, namespace))
        except OrchestratorError:
            logs = ()
        why = f": {state.message}" if state.message else ""
        return Status("failed", f"HF Job {job_id} ended {state.stage}{why}", logs)


def make(target: HfJobTarget, hub: Hub, environ: Mapping[str, str] | None) -> HfJobLauncher:
    return HfJobLauncher(target, hub, environ)
