"""The kinds of prepare and retrain target, as users write them: a Space, a local command, an HF Job, a
GitHub workflow. Each is a frozen settings shape; :data:`Target` reads the shorthand (``"owner/name"`` is
a Space) and picks a table's kind by the key it holds (``space``, ``command``, ``job``, ``github``).

How each kind is started and followed is :mod:`orchestrator.launch`'s job: one module per kind there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, Union

from pydantic import BeforeValidator, Field, field_validator

from .fields import Frozen, GitHubRepo, RepoId, Seconds, shorthand


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


class HfJobTarget(Frozen):
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
    in its ``run-name``, so that its run can be found again. ``usd_per_minute``: what a billable minute of its
    runners costs you (GitHub gives no price), to put dollars on the billable minutes its runs record."""

    kind: Literal["github"] = "github"
    github: GitHubRepo  # owner/repo
    workflow: str = Field(min_length=1)  # a file name (retrain.yml) or a workflow id
    ref: str = Field(default="main", min_length=1)
    inputs: tuple[tuple[str, str], ...] = ()  # written as a table: { label = "{label}", version = "{version}" }
    correlation_input: str = Field(default="orchestrator_key", min_length=1)
    usd_per_minute: float | None = Field(default=None, ge=0)

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
    Annotated[Union[SpaceTarget, CommandTarget, HfJobTarget, WorkflowTarget], Field(discriminator="kind")],
    BeforeValidator(shorthand(_space, {"space": "space", "job": "job", "github": "github", "command": "command"})),
]

