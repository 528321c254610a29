"""Launchers start the prepare and retrain jobs. One small protocol, one class per kind of target.

    launcher.check()          read-only preflight: is the target there and usable? (raises if not)
    launcher.launch(job)      start the job once; returns a :class:`Launched` record (raises if it could not)

Each kind of target is defined here too: its settings shape (a frozen model, and its key in the
:data:`Target` shorthand) beside its launcher. The cycle only ever sees the protocol, so a new kind of
target (an HF Job, a GitHub workflow dispatch) is one new model and one new class in this module,
registered in :data:`Target` and :data:`KINDS`, with no change anywhere else.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Literal, Protocol, Union

from pydantic import BeforeValidator, Field

from . import redact
from .errors import LaunchError
from .fields import Frozen, RepoId, Seconds, shorthand

if TYPE_CHECKING:  # pragma: no cover
    from .hub import Hub
    from .state import ActionKind

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


def _space(spec: str) -> dict[str, str]:
    """'owner/name' and 'space:owner/name' mean a Space."""
    return {"kind": "space", "space": spec[len("space:") :] if spec.startswith("space:") else spec}


Target = Annotated[
    Annotated[Union[SpaceTarget, CommandTarget], Field(discriminator="kind")],
    BeforeValidator(shorthand(_space, {"space": "space", "command": "command"})),
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
    ref: str  # what identifies the launched run: a Space id, a process's exit, a run id
    detail: str  # e.g. "stage BUILDING" or "exit 0"
    output: tuple[str, ...] = field(default=())  # the tail of a local command's output


class Launcher(Protocol):
    def describe(self) -> str: ...

    def check(self) -> None: ...

    def launch(self, job: Job) -> Launched: ...

    def evidence(self, age: float) -> bool | None:
        """After a crash: did a launch recorded ``age`` seconds ago happen? True, False, or None (can't tell)."""
        ...


# A Space restart shows as BUILDING/APP_STARTING for longer than this; a younger launch that left the
# Space in another stage did not happen.
RECONCILE_GRACE_SECONDS = 60.0


class SpaceLauncher:
    """Restart a Hugging Face Space (the seed's way to run prepare and retrain)."""

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
        stage = self.hub.restart_space(self.repo_id)
        return Launched(self.describe(), self.repo_id, f"restarted, stage {stage}")

    def evidence(self, age: float) -> bool | None:
        from .hub import TRANSITIONAL_STAGES  # the hub module reads the settings, which read this module

        if self.hub.space_stage(self.repo_id) in TRANSITIONAL_STAGES:
            return True
        return False if age < RECONCILE_GRACE_SECONDS else None


class CommandLauncher:
    """Run a local command to completion; its exit status decides success, its output is kept.

    ``{label}``, ``{labels}`` (comma-separated) and ``{version}`` in the arguments are filled in, and
    the command also gets ``ORCHESTRATOR_JOB``, ``ORCHESTRATOR_LABELS`` and ``DATASET_VERSION``.
    """

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
        values = {"label": ",".join(job.labels), "labels": ",".join(job.labels), "version": job.version or ""}
        # Only our three placeholders are filled: any other braces (shell, JSON) pass through untouched.
        argv = [_PLACEHOLDER.sub(lambda m: values[m[1]], part) for part in self.target.command]
        env = {
            **self.environ,
            "ORCHESTRATOR_JOB": job.kind,
            "ORCHESTRATOR_LABELS": ",".join(job.labels),
            "ORCHESTRATOR_KEY": job.key,
        }
        if job.version:
            env["DATASET_VERSION"] = job.version
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

    def evidence(self, age: float) -> bool | None:
        """A command runs to completion inside the run: with no recorded result, it did not finish."""
        return False


def _die_with_parent() -> None:  # pragma: no cover - runs in the child, between fork and exec
    """Linux: have the kernel kill the command if the orchestrator dies (PR_SET_PDEATHSIG)."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


def _stop(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.communicate(timeout=5)


KINDS: dict[type, Callable[..., Launcher]] = {
    SpaceTarget: lambda target, hub: SpaceLauncher(target, hub),
    CommandTarget: lambda target, hub: CommandLauncher(target),
}


def launcher_for(target: SpaceTarget | CommandTarget, hub: Hub) -> Launcher:
    return KINDS[type(target)](target, hub)
