"""A local command target: run it to completion inside the run; its exit status decides success."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping

from .. import redact
from ..config.targets import CommandTarget
from ..contracts.actions import environment, fill
from ..errors import LaunchError
from ..state.records import Action
from .protocol import Found, Launched, Launcher, Status

OUTPUT_TAIL_LINES = 20


class CommandLauncher(Launcher):
    """Run a local command to completion; its exit status decides success, its output is kept.

    ``{label}``, ``{labels}`` (comma-separated) and ``{version}`` in the arguments are filled in, and
    the command also gets ``ORCHESTRATOR_JOB``, ``ORCHESTRATOR_LABELS`` and ``DATASET_VERSION``.
    """

    remote = False  # it runs here, to completion: one at a time

    def __init__(self, target: CommandTarget, environ: Mapping[str, str] | None = None) -> None:
        super().__init__(target)
        self.environ = dict(os.environ if environ is None else environ)

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

    def launch(self, action: Action) -> Launched:
        argv = [fill(part, action.labels, action.version) for part in self.target.command]
        env = {**self.environ, **environment(action.kind, action.labels, action.key, action.version)}
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

    def evidence(self, action: Action, age: float) -> Found:
        """A command runs to completion inside the run: with no recorded result, it did not finish."""
        return Found(False)

    def status(self, ref: str) -> Status:
        """A launched command has ended: ``launch`` returns only once it exited 0."""
        return Status("succeeded", f"{self.describe()} exited 0")


def _die_with_parent() -> None:  # pragma: no cover - runs in the child, between fork and exec
    """Linux: have the kernel kill the command if the orchestrator dies (PR_SET_PDEATHSIG)."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


def _stop(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.communicate(timeout=5)


def make(target: CommandTarget, hub: object, environ: Mapping[str, str] | None) -> CommandLauncher:
    """The command's environment: the process environment, over it the one the settings were read from."""
    return CommandLauncher(target, {**os.environ, **(environ or {})})
