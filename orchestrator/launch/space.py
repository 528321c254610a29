"""A Space target: restart a Hugging Face Space (the seed's way to run prepare and retrain)."""

from __future__ import annotations

from collections.abc import Mapping

from ..config.targets import SpaceTarget
from ..contracts.actions import VERSION_VARIABLE
from ..errors import LaunchError
from ..remote.hub import TRANSITIONAL_STAGES, Hub
from ..state.records import Action
from .protocol import RECONCILE_GRACE_SECONDS, Found, Launched, Launcher, Status, now

# A Space in these stages is restarted by a change of its variables. Any other (paused, stopped, in an
# error) is restarted explicitly after the change: a lost retrain is worse than a broken Space built twice.
AWAKE = ("RUNNING", "RUNNING_BUILDING", "RUNNING_APP_STARTING", "BUILDING", "APP_STARTING")
# How far the Hub's clock (a variable's updatedAt) may be ahead of ours.
CLOCK_SKEW_SECONDS = 2.0


class SpaceLauncher(Launcher):
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
        super().__init__(target)
        self.repo_id = target.space
        self.hub = hub

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

    def launch(self, action: Action) -> Launched:
        told = ""
        if action.version is not None:
            current, _ = self.hub.space_variable(self.repo_id, VERSION_VARIABLE)
            if current != action.version:
                awake = self.hub.space_stage(self.repo_id) in AWAKE
                self.hub.set_space_variable(self.repo_id, VERSION_VARIABLE, action.version)
                if awake:
                    return Launched(self.describe(), self.repo_id, f"{VERSION_VARIABLE}={action.version} set, which restarts it")
                told = f"{VERSION_VARIABLE}={action.version} set, then "
        stage = self.hub.restart_space(self.repo_id)
        return Launched(self.describe(), self.repo_id, f"{told}restarted, stage {stage}")

    def evidence(self, action: Action, age: float) -> Found:
        if self.hub.space_stage(self.repo_id) in TRANSITIONAL_STAGES:
            return Found(True, self.repo_id)
        if action.version is not None:  # the variable set to this version after the intent: the launch happened
            value, changed_at = self.hub.space_variable(self.repo_id, VERSION_VARIABLE)
            since = (now() - changed_at).total_seconds() if changed_at is not None else None
            if value == action.version and (since is None or since <= age + CLOCK_SKEW_SECONDS):
                return Found(True, self.repo_id)
        return Found(False if age < RECONCILE_GRACE_SECONDS else None)

    def cancel(self, ref: str) -> str:
        """Pause the Space: it stops running (and costing) at once."""
        return f"{self.describe()} was paused (stage {self.hub.pause_space(self.repo_id)})"

    def status(self, ref: str) -> Status:
        """``*_ERROR``: failed. ``PAUSED``/``STOPPED`` after our restart: finished (the seed's retrain Space
        pauses itself when done). Anything else: still running."""
        stage = self.hub.space_stage(self.repo_id)
        if stage.endswith("_ERROR"):
            return Status("failed", f"{self.describe()} is in stage {stage}")
        if stage in ("PAUSED", "STOPPED"):
            return Status("succeeded", f"{self.describe()} finished (stage {stage})")
        return Status("running", f"stage {stage}")


def make(target: SpaceTarget, hub: Hub, environ: Mapping[str, str] | None) -> SpaceLauncher:
    return SpaceLauncher(target, hub)
