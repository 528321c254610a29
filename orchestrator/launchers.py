"""Launchers start the prepare and retrain jobs. One small protocol, one class per kind of target.

    launcher.check()          read-only preflight: is the target there and usable? (raises if not)
    launcher.launch(job)      start the job once; returns a :class:`Launched` record (raises if it could not)
    launcher.evidence(job, age)  after a crash: did a launch recorded ``age`` seconds ago happen? (:class:`Found`)
    launcher.status(ref)      how a launched job stands: running, succeeded or failed (:class:`Status`)
    launcher.follows          whether ``status`` can tell when a job has ended (a Space's cannot, on its own)

Each kind of target is defined here too: its settings shape (a frozen model, and its key in the
:data:`Target` shorthand) beside its launcher. The cycle only ever sees the protocol, so a new kind of
target (an HF Job, a GitHub workflow dispatch) is one new model and one new class in this module,
registered in :data:`Target` and :data:`KINDS`, with no change anywhere else.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol, Union

from pydantic import BeforeValidator, Field, field_validator

from . import redact
from .errors import LaunchError, OrchestratorError
from .fields import Frozen, RepoId, Seconds, shorthand

if TYPE_CHECKING:  # pragma: no cover
    from .hub import Hub
    from .state import ActionKind

# The variable a retrain Space reads its dataset version from (the seed's checklist).
VERSION_VARIABLE = "DATASET_VERSION"

# ---------------------------------------------------------------------------------------------- targets
class SpaceTarget(Frozen):
    """Restart a Hugging Face Space (the seed's only kind of target)."""

    kind: Literal["space"] = "space"
    space: RepoId

    def describe(self) -> str:
        return f"Space {self.space}"


class CommandTarget(Frozen):
    """Run a local command. ``{label}``, ``{labels}`` and ``{version}`` in arguments are filled in."""

    kind: Literal["command"] = "command"
    command: tuple[str, ...] = Field(min_length=1)
    timeout: Seconds = 3600.0
    cwd: str | None = None

    def describe(self) -> str:
        return "command " + " ".join(self.command)


class JobTarget(Frozen):
    """Run an HF Job: ``job`` is a Docker image (or a Space, ``hf.co/spaces/owner/name``), ``command`` its
    command; ``{label}``, ``{labels}`` and ``{version}`` are filled in as for commands. ``secrets`` names
    variables of the orchestrator's environment whose values the job gets as secrets."""

    kind: Literal["job"] = "job"
    job: str = Field(min_length=1)
    command: tuple[str, ...] = Field(min_length=1)
    flavor: str = Field(default="cpu-basic", min_length=1)
    timeout: Seconds | None = None
    namespace: str | None = None  # default: the token's user (one whoami per run)
    secrets: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()  # written as a table: { KEY = "value" }

    _env = field_validator("env", mode="before")(classmethod(lambda cls, value: _pairs(value)))

    def describe(self) -> str:
        return f"HF Job {self.job} ({self.flavor})"


class WorkflowTarget(Frozen):
    """Dispatch a GitHub Actions workflow (``workflow_dispatch``) and follow its run. ``inputs`` are filled
    as commands are; the run is also given ``correlation_input``, which the workflow must declare and put
    in its ``run-name``, so that its run can be found again."""

    kind: Literal["github"] = "github"
    github: RepoId  # owner/repo
    workflow: str = Field(min_length=1)  # a file name (retrain.yml) or a workflow id
    ref: str = Field(default="main", min_length=1)
    inputs: tuple[tuple[str, str], ...] = ()  # written as a table: { label = "{label}", version = "{version}" }
    correlation_input: str = Field(default="orchestrator_key", min_length=1)

    _inputs = field_validator("inputs", mode="before")(classmethod(lambda cls, value: _pairs(value)))

    def describe(self) -> str:
        return f"GitHub workflow {self.github}/{self.workflow}@{self.ref}"


def _pairs(value: Any) -> Any:
    """A TOML table as a sorted tuple of pairs: the target stays hashable (labels are grouped by target)."""
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), str(v)) for k, v in value.items()))
    return value


def _space(spec: str) -> dict[str, str]:
    """'owner/name' and 'space:owner/name' mean a Space."""
    return {"kind": "space", "space": spec[len("space:") :] if spec.startswith("space:") else spec}


Target = Annotated[
    Annotated[Union[SpaceTarget, CommandTarget, JobTarget, WorkflowTarget], Field(discriminator="kind")],
    BeforeValidator(shorthand(_space, {"space": "space", "job": "job", "github": "github", "command": "command"})),
]

OUTPUT_TAIL_LINES = 20
_PLACEHOLDER = re.compile(r"\{(label|labels|version)\}")


@dataclass(frozen=True)
class Job:
    """What to launch: ``kind`` is ``prepare`` or ``retrain``; ``key`` is its idempotency key."""

    kind: ActionKind
    labels: tuple[str, ...]
    key: str
    version: str | None = None


@dataclass(frozen=True)
class Launched:
    target: str
    ref: str  # what identifies the launched run: a Space id, a process's exit, "namespace/job id", a run id
    detail: str  # e.g. "stage BUILDING" or "exit 0"
    output: tuple[str, ...] = field(default=())  # the tail of a local command's output


@dataclass(frozen=True)
class Found:
    """A crashed run's launch: ``sent`` True (it happened: ``ref`` is what it started, if known), False (it
    did not), or None (nobody can tell). ``later``: nobody can tell *yet* (a young launch may not show
    yet): the next run looks again before anything is sent."""

    sent: bool | None
    ref: str | None = None
    later: bool = False


@dataclass(frozen=True)
class Status:
    """How a launched job stands. ``failed`` carries what went wrong and the tail of its logs."""

    phase: Literal["running", "succeeded", "failed"]
    detail: str
    logs: tuple[str, ...] = ()


class Launcher(Protocol):
    follows: bool

    def describe(self) -> str: ...

    def check(self) -> None: ...

    def launch(self, job: Job) -> Launched: ...

    def evidence(self, job: Job, age: float) -> Found: ...

    def status(self, ref: str) -> Status: ...


def fill(part: str, job: Job) -> str:
    """``{label}``, ``{labels}`` (comma-separated) and ``{version}`` filled in; any other braces (shell,
    JSON) pass through untouched."""
    values = {"label": ",".join(job.labels), "labels": ",".join(job.labels), "version": job.version or ""}
    return _PLACEHOLDER.sub(lambda m: values[m[1]], part)


def job_environment(job: Job) -> dict[str, str]:
    """What every launched job finds in its environment."""
    env = {"ORCHESTRATOR_JOB": job.kind, "ORCHESTRATOR_LABELS": ",".join(job.labels), "ORCHESTRATOR_KEY": job.key}
    if job.version:
        env[VERSION_VARIABLE] = job.version
    return env


# A Space restart shows as BUILDING/APP_STARTING for longer than this; a younger launch that left the
# Space in another stage did not happen.
RECONCILE_GRACE_SECONDS = 60.0
# A Space in these stages is restarted by a change of its variables. Any other (paused, stopped, in an
# error) is restarted explicitly after the change: a lost retrain is worse than a broken Space built twice.
AWAKE = ("RUNNING", "RUNNING_BUILDING", "RUNNING_APP_STARTING", "BUILDING", "APP_STARTING")
# How far the Hub's clock (a variable's updatedAt) may be ahead of ours.
CLOCK_SKEW_SECONDS = 2.0


class SpaceLauncher:
    """Restart a Hugging Face Space (the seed's way to run prepare and retrain). A retrain Space is first
    told its dataset version: the Space variable ``DATASET_VERSION``.

    Setting a variable to a new value restarts a running Space by itself on the Hub, so then no restart
    is sent: one version, one restart. A paused or stopped Space (the seed's retrain Spaces pause
    themselves when done) is not woken by it, nor, we assume, one in an error stage, and a variable that
    already holds the version (a retry of the same version) changes nothing: those are restarted
    explicitly.
    """

    follows = False  # a Space's stage cannot tell a finished retrain from a running one (see status)

    def __init__(self, target: SpaceTarget, hub: Hub) -> None:
        self.repo_id = target.space
        self.hub = hub

    def describe(self) -> str:
        return f"Space {self.repo_id}"

    def check(self) -> None:
        """The Space exists and the token may restart it (as far as the Hub can tell without acting)."""
        self.hub.space_stage(self.repo_id)
        problem = self.hub.write_problem(self.repo_id, repo_type="space")
        if problem:
            raise LaunchError(
                f"{self.describe()} cannot be restarted with this token: {problem}",
                hint="give HF_TOKEN write access to the Space (a write token of its owner, or a fine-grained "
                "token with repo.write on it)",
            )

    def launch(self, job: Job) -> Launched:
        told = ""
        if job.version is not None:
            current, _ = self.hub.space_variable(self.repo_id, VERSION_VARIABLE)
            if current != job.version:
                awake = self.hub.space_stage(self.repo_id) in AWAKE
                self.hub.set_space_variable(self.repo_id, VERSION_VARIABLE, job.version)
                if awake:
                    return Launched(self.describe(), self.repo_id, f"{VERSION_VARIABLE}={job.version} set, which restarts it")
                told = f"{VERSION_VARIABLE}={job.version} set, then "
        stage = self.hub.restart_space(self.repo_id)
        return Launched(self.describe(), self.repo_id, f"{told}restarted, stage {stage}")

    def evidence(self, job: Job, age: float) -> Found:
        from .hub import TRANSITIONAL_STAGES  # the hub module reads the settings, which read this module

        if self.hub.space_stage(self.repo_id) in TRANSITIONAL_STAGES:
            return Found(True, self.repo_id)
        if job.version is not None:  # the variable set to this version after the intent: the launch happened
            value, changed_at = self.hub.space_variable(self.repo_id, VERSION_VARIABLE)
            since = (_now() - changed_at).total_seconds() if changed_at is not None else None
            if value == job.version and (since is None or since <= age + CLOCK_SKEW_SECONDS):
                return Found(True, self.repo_id)
        return Found(False if age < RECONCILE_GRACE_SECONDS else None)

    def status(self, ref: str) -> Status:
        """``*_ERROR``: failed. ``PAUSED``/``STOPPED`` after our restart: finished (the seed's retrain Space
        pauses itself when done). Anything else: still running."""
        stage = self.hub.space_stage(self.repo_id)
        if stage.endswith("_ERROR"):
            return Status("failed", f"{self.describe()} is in stage {stage}")
        if stage in ("PAUSED", "STOPPED"):
            return Status("succeeded", f"{self.describe()} finished (stage {stage})")
        return Status("running", f"stage {stage}")


def _now() -> datetime:
    return datetime.now(timezone.utc)


class CommandLauncher:
    """Run a local command to completion; its exit status decides success, its output is kept.

    ``{label}``, ``{labels}`` (comma-separated) and ``{version}`` in the arguments are filled in, and
    the command also gets ``ORCHESTRATOR_JOB``, ``ORCHESTRATOR_LABELS`` and ``DATASET_VERSION``.
    """

    follows = True

    def __init__(self, target: CommandTarget, environ: Mapping[str, str] | None = None) -> None:
        self.target = target
        self.environ = dict(os.environ if environ is None else environ)

    def describe(self) -> str:
        return "command " + " ".join(self.target.command)

    def check(self) -> None:
        program = self.target.command[0]
        if os.sep in program or (os.altsep and os.altsep in program):  # a path: relative to the target's cwd
            path = os.path.join(self.target.cwd or os.getcwd(), program)
            found = os.path.isfile(path) and os.access(path, os.X_OK)
        else:
            found = shutil.which(program, path=self.environ.get("PATH")) is not None
        if not found:
            raise LaunchError(
                f"{self.describe()}: program {program!r} not found or not executable",
                hint="check the command (and its cwd) in the TOML file",
            )

    def launch(self, job: Job) -> Launched:
        argv = [fill(part, job) for part in self.target.command]
        env = {**self.environ, **job_environment(job)}
        try:
            # A session of its own, so that stopping it stops the command's children too; and on Linux
            # the command dies with the orchestrator, so a killed run leaves no job behind to race the
            # next run's retry.
            process = subprocess.Popen(
                argv,
                cwd=self.target.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        except FileNotFoundError:
            raise LaunchError(f"{self.describe()}: program {argv[0]!r} not found", hint="check the command") from None
        try:
            stdout, stderr = process.communicate(timeout=self.target.timeout)
        except subprocess.TimeoutExpired:
            _stop(process)
            raise LaunchError(
                f"{self.describe()}: still running after {self.target.timeout:g}s and was stopped",
                hint="raise the target's timeout in the TOML file",
            ) from None
        except BaseException:  # interrupted (SIGTERM, Ctrl-C): the job must not outlive the run
            _stop(process)
            raise
        lines = stdout.splitlines() + stderr.splitlines()
        output = tuple(redact.redact(line) for line in lines[-OUTPUT_TAIL_LINES:])
        if process.returncode != 0:
            tail = "\n".join(output[-5:])
            raise LaunchError(
                f"{self.describe()} exited with status {process.returncode}" + (f":\n{tail}" if tail else ""),
                hint="read the command's output above",
            )
        return Launched("command " + " ".join(argv), "exit 0", "exit 0", output)

    def evidence(self, job: Job, age: float) -> Found:
        """A command runs to completion inside the run: with no recorded result, it did not finish."""
        return Found(False)

    def status(self, ref: str) -> Status:
        """A launched command has ended: ``launch`` returns only once it exited 0."""
        return Status("succeeded", f"{self.describe()} exited 0")


class JobLauncher:
    """Start an HF Job with ``HfApi.run_job`` and follow its stage.

    The job carries labels derived from the action's idempotency key, so that after a crash the next run
    finds it (:meth:`evidence`) instead of starting a second one. Its ref is ``namespace/job id``.
    """

    follows = True

    def __init__(self, target: JobTarget, hub: Hub, environ: Mapping[str, str] | None = None) -> None:
        from .hfjobs import HfJobs

        self.target = target
        self.jobs = HfJobs(hub)
        self.environ = os.environ if environ is None else environ
        for name in target.secrets:  # their values may come back in the job's logs, or an error
            redact.register(self.environ.get(name))

    def describe(self) -> str:
        return self.target.describe()

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

    def launch(self, job: Job) -> Launched:
        namespace = self.jobs.namespace(self.target.namespace)
        started = self.jobs.run(
            image=self.target.job,
            command=[fill(part, job) for part in self.target.command],
            env={**{key: fill(value, job) for key, value in self.target.env}, **job_environment(job)},
            secrets=self._secrets(),
            flavor=self.target.flavor,
            timeout=self.target.timeout,
            labels=job_labels(job),
            namespace=namespace,
        )
        where = f" {started.url}" if started.url else ""
        return Launched(self.describe(), f"{namespace}/{started.id}", f"job {started.id}, stage {started.stage}{where}")

    def evidence(self, job: Job, age: float) -> Found:
        """A job carrying this action's labels exists: it was started. None does: it was not."""
        namespace = self.jobs.namespace(self.target.namespace)
        found = self.jobs.find(job_labels(job), namespace)
        return Found(True, f"{namespace}/{found.id}") if found else Found(False)

    def status(self, ref: str) -> Status:
        namespace, _, job_id = ref.rpartition("/")
        state = self.jobs.inspect(job_id, namespace)
        if state.stage == "COMPLETED":
            return Status("succeeded", f"HF Job {job_id} completed")
        if not state.final:
            return Status("running", f"HF Job {job_id}: {state.stage}")
        try:
            logs = tuple(redact.redact(line) for line in self.jobs.logs(job_id, namespace))
        except OrchestratorError:
            logs = ()
        why = f": {state.message}" if state.message else ""
        return Status("failed", f"HF Job {job_id} ended {state.stage}{why}", logs)


class WorkflowLauncher:
    """Dispatch a GitHub workflow and follow its run to its conclusion (:mod:`orchestrator.github`).

    The token (``GITHUB_TOKEN``, else ``GH_TOKEN``) goes only to ``GITHUB_API_URL``'s host. The run's ref
    is its id; a GitHub that does not return it (an older Enterprise Server) is asked for the run whose
    title carries the dispatch's correlation id.
    """

    follows = True
    FIND_SECONDS = 30.0  # how long a dispatched run may take to show in the runs list

    def __init__(self, target: WorkflowTarget, hub: Hub, environ: Mapping[str, str] | None = None, sleep=None) -> None:
        import time

        from .github import GitHub

        config = hub.config
        self.target = target
        self.sleep = sleep or time.sleep
        self.github = GitHub.from_environ(
            os.environ if environ is None else environ, timeout=config.timeout, retries=config.retries, backoff=config.backoff
        )

    def describe(self) -> str:
        return self.target.describe()

    def check(self) -> None:
        self.github.check(self.target.github, self.target.workflow)

    def launch(self, job: Job) -> Launched:
        target = self.target
        inputs = {key: fill(value, job) for key, value in target.inputs}
        inputs[target.correlation_input] = correlation(job)
        started = _now()
        dispatched = self.github.dispatch(target.github, target.workflow, target.ref, inputs)
        if dispatched is not None:
            return Launched(self.describe(), str(dispatched.id), f"run {dispatched.id} {dispatched.html_url}".strip())
        # Dispatched, without its run's id (an older GitHub Enterprise Server): whatever happens while
        # looking for the run, the dispatch happened, and the run is found again by its title later.
        unlisted = Launched(self.describe(), f"correlation:{correlation(job)}", "dispatched; its run is not listed yet")
        waited = 0.0
        while True:
            try:
                run = self.github.find_run(target.github, target.workflow, correlation(job), started)
            except OrchestratorError:
                return unlisted
            if run is not None:
                return Launched(self.describe(), str(run.id), f"run {run.id} {run.html_url}".strip())
            if waited >= self.FIND_SECONDS:
                return unlisted
            self.sleep(2.0)
            waited += 2.0

    def evidence(self, job: Job, age: float) -> Found:
        """A run titled with this action's correlation id exists: it was dispatched."""
        since = _now() - timedelta(seconds=age + RECONCILE_GRACE_SECONDS)
        run = self.github.find_run(self.target.github, self.target.workflow, correlation(job), since)
        if run is not None:
            return Found(True, str(run.id))
        if age >= RECONCILE_GRACE_SECONDS:
            return Found(False)
        return Found(None, later=True)  # a run dispatched moments ago may not be listed yet: look again later

    def status(self, ref: str) -> Status:
        target = self.target
        if ref.startswith("correlation:"):
            run = self.github.find_run(target.github, target.workflow, ref.partition(":")[2], _now() - timedelta(days=3))
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


def correlation(job: Job) -> str:
    """The id a dispatched run carries in its title: a digest of the action's idempotency key."""
    return hashlib.sha256(job.key.encode()).hexdigest()[:16]


def job_labels(job: Job) -> dict[str, str]:
    """The labels a launched HF Job carries: which action it is, as a digest of its idempotency key."""
    return {"orchestrator-kind": job.kind, "orchestrator-key": hashlib.sha256(job.key.encode()).hexdigest()[:32]}


def _die_with_parent() -> None:  # pragma: no cover - runs in the child, between fork and exec
    """Linux: have the kernel kill the command if the orchestrator dies (PR_SET_PDEATHSIG)."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


def _stop(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.communicate(timeout=5)


# Each kind's launcher, from its target, the run's Hub client and the environment the settings were read
# from (the process environment over .env; None: the process environment).
KINDS: dict[type, Callable[..., Launcher]] = {
    SpaceTarget: lambda target, hub, environ: SpaceLauncher(target, hub),
    CommandTarget: lambda target, hub, environ: CommandLauncher(target, {**os.environ, **(environ or {})}),
    JobTarget: lambda target, hub, environ: JobLauncher(target, hub, environ),
    WorkflowTarget: lambda target, hub, environ: WorkflowLauncher(target, hub, environ),
}


def launcher_for(
    target: SpaceTarget | CommandTarget | JobTarget | WorkflowTarget, hub: Hub, environ: Mapping[str, str] | None = None
) -> Launcher:
    return KINDS[type(target)](target, hub, environ or None)
