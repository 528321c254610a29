"""A GitHub workflow target: dispatch it (``workflow_dispatch``) and follow its run to its conclusion
(:mod:`orchestrator.remote.github`)."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from datetime import datetime, timedelta

from ..config.targets import WorkflowTarget
from ..contracts.actions import correlation, fill
from ..errors import GitHubAuthError, LaunchError, OrchestratorError
from ..remote.github import GitHub
from ..remote.hub import Hub
from ..state.records import Action, Spent
from .protocol import RECONCILE_GRACE_SECONDS, Found, Launched, Launcher, Status, now


class WorkflowLauncher(Launcher):
    """Dispatch a GitHub workflow and follow its run to its conclusion (:mod:`orchestrator.remote.github`).

    The token (``GITHUB_TOKEN``, else ``GH_TOKEN``) goes only to ``GITHUB_API_URL``'s host. The run's ref
    is its id; a GitHub that does not return it (an older Enterprise Server) is asked for the run whose
    title carries the dispatch's correlation id.
    """

    FIND_SECONDS = 30.0  # how long a dispatched run may take to show in the runs list

    def __init__(self, target: WorkflowTarget, hub: Hub, environ: Mapping[str, str] | None = None, sleep=None) -> None:
        super().__init__(target)
        config = hub.config
        self.sleep = sleep or time.sleep
        self.github = GitHub.from_environ(
            os.environ if environ is None else environ, timeout=config.timeout, retries=config.retries, backoff=config.backoff
        )

    def check(self) -> None:
        """A token is set (else exit 2: without one GitHub hides a private repository behind a 404, and
        refuses any dispatch), and the workflow exists and is active."""
        target = self.target
        if not self.github.token:
            raise GitHubAuthError(
                f"GITHUB_TOKEN (or GH_TOKEN) is not set, and dispatching workflow {target.workflow} of {target.github} "
                "needs a token with actions:write",
                hint=f"set GITHUB_TOKEN (or GH_TOKEN) to a token with actions:write on {target.github} (a fine-grained "
                "token or app: Actions write; a classic token: the repo and workflow scopes; a workflow's GITHUB_TOKEN: "
                "permissions: actions: write)",
            )
        self.github.check(target.github, target.workflow)

    def launch(self, action: Action) -> Launched:
        target = self.target
        inputs = {key: fill(value, action.labels, action.version) for key, value in target.inputs}
        inputs[target.correlation_input] = correlation(action.key)
        started = now()
        dispatched = self.github.dispatch(target.github, target.workflow, target.ref, inputs)
        if dispatched is not None:
            return Launched(self.describe(), str(dispatched.id), f"run {dispatched.id} {dispatched.html_url}".strip())
        # Dispatched, without its run's id (an older GitHub Enterprise Server): whatever happens while
        # looking for the run, the dispatch happened, and the run is found again by its title later.
        unlisted = Launched(self.describe(), f"correlation:{correlation(action.key)}", "dispatched; its run is not listed yet")
        waited = 0.0
        while True:
            try:
                run = self.github.find_run(target.github, target.workflow, correlation(action.key), started)
            except OrchestratorError:
                return unlisted
            if run is not None:
                return Launched(self.describe(), str(run.id), f"run {run.id} {run.html_url}".strip())
            if waited >= self.FIND_SECONDS:
                return unlisted
            self.sleep(2.0)
            waited += 2.0

    def evidence(self, action: Action, age: float) -> Found:
        """A run titled with this action's correlation id exists: it was dispatched."""
        since = now() - timedelta(seconds=age + RECONCILE_GRACE_SECONDS)
        run = self.github.find_run(self.target.github, self.target.workflow, correlation(action.key), since)
        if run is not None:
            return Found(True, str(run.id))
        if age >= RECONCILE_GRACE_SECONDS:
            return Found(False)
        return Found(None, later=True)  # a run dispatched moments ago may not be listed yet: look again later

    def spent(self, ref: str, started_at: datetime, ended_at: datetime) -> Spent | None:
        """The run's billable minutes (GitHub's timing), in dollars at the target's ``usd_per_minute`` if set. A
        run with nothing billable (a public repository, a self-hosted runner) records its duration, with no
        price; a run not found by its id, the wall time (None)."""
        if not ref.isdigit():
            return None
        timing = self.github.timing(self.target.github, int(ref))
        if not timing.billable_minutes:
            if timing.run_ms is None:
                return None
            seconds = timing.run_ms / 1000
            return Spent(seconds, None, f"GitHub run {seconds:.0f} s, nothing billable")
        minutes, price = timing.billable_minutes, self.target.usd_per_minute
        basis = f"GitHub billable {minutes} min"
        if price is None:
            return Spent(minutes * 60.0, None, basis)
        return Spent(minutes * 60.0, minutes * price, f"{basis} at ${price:g}/min")

    def status(self, ref: str) -> Status:
        target = self.target
        if ref.startswith("correlation:"):
            run = self.github.find_run(target.github, target.workflow, ref.partition(":")[2], now() - timedelta(days=3))
            if run is None:
                return Status("running", "its run is not listed yet")
        elif ref.isdigit():
            run = self.github.run(target.github, int(ref))
        else:
            raise LaunchError(
                f"{ref!r} is not a GitHub run of {self.describe()}",
                hint="was the label's retrain target changed while it retrained? its outcome is then unknown",
            )
        if not run.completed:
            return Status("running", f"run {run.id} {run.status}")
        if run.succeeded:
            return Status("succeeded", f"run {run.id} succeeded")
        try:
            failed = tuple(self.github.failed_jobs_summary(target.github, run.id))
        except OrchestratorError:
            failed = ()
        return Status("failed", f"run {run.id} ended {run.conclusion} ({run.html_url})", failed)


def make(target: WorkflowTarget, hub: Hub, environ: Mapping[str, str] | None) -> WorkflowLauncher:
    return WorkflowLauncher(target, hub, environ)
