"""The settings schema: what each setting is, its type, default and checks (pydantic models, frozen).

Loading them (the environment, ``.env``, the TOML file) and remembering where each value came from is
:mod:`orchestrator.config.loader`'s job; this module knows nothing of variables or files.

"Hub or local" values share one shorthand parser (:func:`orchestrator.config.fields.shorthand`): a string is read
by the kind's own rule (``owner/name`` is a Space, ``https://…`` a Hub file, ``hub:owner/name`` a Hub repo,
anything else a local path), and a table picks its kind by the key it holds (``space``, ``command``,
``repo``, ``path``). The targets are in :mod:`orchestrator.config.targets`, the document sources in
:mod:`orchestrator.config.sources`; the locations here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Union
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, PrivateAttr, SecretStr, ValidationInfo, field_validator, model_validator

from ..contracts.metadata import METADATA_FILENAME
from ..errors import ConfigError
from .fields import (
    Duration,
    Flag,
    Frozen,
    GitHubRepo,
    Identifier,
    QualifiedIdentifier,
    RepoId,
    Seconds,
    Threshold,
    identifier,
    shorthand,
)
from .notify import NotifyConfig
from .sources import ResultSource, Source
from .targets import Target

DEFAULT_ENDPOINT = "https://huggingface.co"

_LABEL = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
DEFAULT_MIN_REVIEWED = 200  # reviewed rows the error_rate trigger needs before it tests anything


# ---------------------------------------------------------------------------------------------- locations
class HubLocation(Frozen):
    """A Hub repo that datasets or models are published to (upload, then a tag per version)."""

    kind: Literal["hub"] = "hub"
    repo: RepoId

    def describe(self) -> str:
        return f"hub:{self.repo}"


class LocalLocation(Frozen):
    """A local folder standing in for a Hub repo (local mode)."""

    kind: Literal["local"] = "local"
    path: str

    def describe(self) -> str:
        return self.path


def _repo_or_folder(spec: str) -> dict[str, str]:
    """``"hub:owner/name"`` is a Hub repo; any other string a local folder."""
    if spec.startswith("hub:"):
        return {"kind": "hub", "repo": spec[len("hub:") :]}
    return {"kind": "local", "path": spec}


_location = shorthand(_repo_or_folder, {"repo": "hub", "path": "local"})
Location = Annotated[
    Annotated[Union[HubLocation, LocalLocation], Field(discriminator="kind")], BeforeValidator(_location)
]


# ---------------------------------------------------------------------------------------------- labels
class LabelConfig(Frozen):
    """One label: its triggers (the threshold, and optionally an error rate and a maximum age), its sample
    ratio, where its dataset's metadata is read, its prepare and retrain targets, where its retrain publishes
    its result, and the feedback table's names for it."""

    name: str
    threshold: Threshold
    sample_ratio: float = Field(default=0.5, ge=0, le=100)
    # fire when the corrections among the rows reviewed since the last prepare are significantly above this share
    error_rate: float | None = None
    min_reviewed: int | None = None  # reviewed rows error_rate needs; DEFAULT_MIN_REVIEWED when error_rate is set
    max_age: Duration | None = None  # fire when the last prepare is older than this and a correction is new since
    metadata: Source  # defaults to dataset_metadata.json of ``dataset``
    retrain: Target
    dataset: Location | None = None  # where the prepare job publishes this label's dataset
    prepare: Target | None = None  # defaults to the global prepare target
    result: ResultSource | None = None  # where the retrain publishes retrain_result.json (its outcome)
    model_repo: RepoId | None = None  # the Hub model repo a seed retrain Space deploys to: its outcome, unchanged
    table: QualifiedIdentifier = "misclassified_complaints"
    reviewed_column: Identifier = "reviewed"
    predicted_column: Identifier | None = None  # default model_predicted_<label>
    correct_column: Identifier | None = None  # default correct_<label>

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _LABEL.match(value):
            raise ValueError(f"label {value!r} must be lower-case letters, digits and _, starting with a letter")
        return value

    @field_validator("error_rate", mode="before")
    @classmethod
    def _error_rate(cls, value: Any) -> Any:
        if value is None:  # (a label validated again, as the reference jobs do)
            return None
        share = _number(value)
        if share is None or not 0 < share < 1:
            raise ValueError(f"must be a share strictly between 0 and 1, e.g. 0.08 for 8%, got {value!r}")
        return share

    @field_validator("min_reviewed", mode="before")
    @classmethod
    def _min_reviewed(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return None
        rows = _number(value)
        if rows is None or not float(rows).is_integer() or rows < 1:
            raise ValueError(f"must be a whole number of reviewed rows, at least 1, got {value!r}")
        if "error_rate" in info.data and info.data["error_rate"] is None:  # (absent from data: error_rate was refused)
            raise ValueError("is the error_rate trigger's: set error_rate too, or remove min_reviewed")
        return int(rows)

    @model_validator(mode="before")
    @classmethod
    def _metadata_from_dataset(cls, values: Any) -> Any:
        """Without ``metadata``, watch the ``dataset_metadata.json`` of the label's ``dataset``."""
        if isinstance(values, Mapping) and values.get("metadata") is None and values.get("dataset") is not None:
            try:
                dataset = _location(values["dataset"])
            except ValueError:  # the dataset field says what is wrong with it
                return values
            if isinstance(dataset, Mapping) and dataset.get("kind") == "hub":
                metadata = {"repo": dataset.get("repo")}
            elif isinstance(dataset, Mapping) and dataset.get("kind") == "local":
                metadata = str(Path(str(dataset.get("path"))) / METADATA_FILENAME)
            else:
                return values
            return {**values, "metadata": metadata}
        return values

    @model_validator(mode="after")
    def _defaults(self) -> LabelConfig:
        if self.predicted_column is None:
            object.__setattr__(self, "predicted_column", identifier(f"model_predicted_{self.name}"))
        if self.correct_column is None:
            object.__setattr__(self, "correct_column", identifier(f"correct_{self.name}"))
        if self.error_rate is not None and self.min_reviewed is None:
            object.__setattr__(self, "min_reviewed", DEFAULT_MIN_REVIEWED)
        return self

    @property
    def triggers(self) -> tuple[str, ...]:
        """The label's triggers: ``count`` (the threshold, always), then ``error_rate`` and ``max_age`` if set."""
        return ("count", *(("error_rate",) if self.error_rate is not None else ()),
                *(("max_age",) if self.max_age is not None else ()))


def _number(value: Any) -> float | None:
    """A number as TOML or a variable writes it (``0.08``, ``"0.08"``, ``200``), or None: not a number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


class HubConfig(Frozen):
    """The Hub: its endpoint, the token and the hosts that may receive it, and each call's timeout and retries."""

    endpoint: str = DEFAULT_ENDPOINT
    token: SecretStr | None = None
    token_hosts: tuple[str, ...] = ()  # extra hosts that may receive the token, beyond the endpoint's
    timeout: Seconds = 30.0
    retries: int = Field(default=5, ge=0, le=20)
    backoff: Seconds = 1.0  # first retry waits up to this long (full jitter), doubling each time

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        parts = urlsplit(value)
        if "@" in parts.netloc:  # the value itself is not repeated: it holds a secret
            raise ValueError(
                "the URL carries credentials (user info before '@'); the Hub token is sent as a header "
                "(HF_TOKEN), so remove them"
            )
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/")

    @field_validator("token_hosts", mode="before")
    @classmethod
    def _hosts(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(h.strip().lower() for h in value.split(",") if h.strip())
        return value

    @property
    def host(self) -> str:
        return host_of(self.endpoint)

    def may_receive_token(self, url: str) -> bool:
        return host_of(url) in {self.host, *self.token_hosts}


def host_of(url: str) -> str:
    """``host[:port]`` of a URL, lower-cased, without any user info."""
    netloc = urlsplit(url).netloc.rpartition("@")[2]
    return netloc.lower()


class ServeConfig(Frozen):
    """``orchestrator serve``: the webhook secret, the status page's token, and where to forward events."""

    webhook_secret: SecretStr | None = None  # X-Webhook-Secret of Hub deliveries (and of the feedback endpoint)
    status_token: SecretStr | None = None  # a bearer token for the status page and its API, when set
    forward_to: GitHubRepo | None = None  # forward dataset updates there as repository_dispatch instead
    event_type: str = Field(default="hub-dataset-updated", min_length=1, max_length=100)
    shutdown_wait: Seconds = 50.0  # on SIGTERM, how long the cycle in progress may take to finish before it is abandoned


class Settings(Frozen):
    """Everything one run needs, validated once: the labels, the globals (polling, deadlines, lease, mode),
    the prepare target, the Hub, notifications and the service. Frozen; the loader also keeps where each
    value came from (:meth:`origin`), for messages."""

    database_url: SecretStr
    state_database_url: SecretStr | None = None
    poll_interval: Seconds = 60.0
    poll_timeout: Seconds = 1800.0
    dry_run: Flag = False
    wait: Flag = True  # blocking mode: wait for the datasets up to poll_timeout; False: check once, exit
    trigger_mode: Literal["new_feedback", "cumulative"] = "new_feedback"
    prepare_deadline: Seconds | None = None  # a pending prepare older than this fails; default 2 x poll_timeout
    retrain_deadline: Seconds = 21600.0  # a launched retrain with no outcome after this long has failed
    cancel_at_deadline: Flag = False  # cancel a retrain job still running at retrain_deadline (an HF Job, a Space)
    lock_lease: Seconds = 300.0  # a crashed run blocks others for at most this long
    lock_wait: float = Field(default=0.0, ge=0)  # seconds to wait for another run's lock; 0: exit at once
    crash_at: str | None = None  # test hook: exit abruptly at this named step (journal.CRASH_POINTS, PROMOTE_CRASH_POINTS)
    prepare: Target | None = None
    hub: HubConfig = HubConfig()
    notify: NotifyConfig = NotifyConfig()  # [notify] / NOTIFY_URLS: who hears of failures and deploys
    serve: ServeConfig = ServeConfig()  # [serve]: orchestrator serve (webhooks, status page)
    labels: tuple[LabelConfig, ...] = Field(min_length=1)
    # set by the loader: where each global setting came from (a variable, a TOML key, a flag), the TOML
    # file read (the reference jobs read their own section of it), and deprecation warnings
    _origins: dict[str, str] = PrivateAttr(default_factory=dict)
    _config_file: Path | None = PrivateAttr(default=None)
    _jobs_handoff: Any = PrivateAttr(default=None)  # config.JobsHandoff: what the core hands the jobs, unread
    _environ: dict[str, str] = PrivateAttr(default_factory=dict)  # the environment over .env, for the launchers

    @property
    def environ(self) -> dict[str, str]:
        """The variables the settings were read from (the process environment over ``.env``): where the
        launchers find what they hand on, a GitHub token or an HF Job's secrets."""
        return self._environ

    @property
    def config_file(self) -> Path | None:
        return self._config_file

    @property
    def deprecations(self) -> tuple[str, ...]:
        """One line per setting written where an earlier version read it, saying where it goes now."""
        return tuple(self._jobs_handoff.deprecations) if self._jobs_handoff is not None else ()

    def origin(self, field: str) -> str:
        """The name the user set ``field`` by (``STATE_DATABASE_URL``, ``orchestrator.toml: …``), for messages."""
        return self._origins.get(field, field.upper())

    @model_validator(mode="after")
    def _check(self) -> Settings:
        names = [label.name for label in self.labels]
        if len(set(names)) != len(names):
            raise ValueError(f"label names must be unique, got {names}")
        if self.poll_interval > self.poll_timeout:
            raise ValueError(f"poll_interval ({self.poll_interval:g}s) must not exceed poll_timeout ({self.poll_timeout:g}s)")
        for label in self.labels:
            if label.prepare is None and self.prepare is None:
                raise ValueError(f"label {label.name!r} has no prepare target: set prepare")
        return self

    @property
    def deadline(self) -> float:
        return self.prepare_deadline if self.prepare_deadline is not None else 2 * self.poll_timeout

    @property
    def state_url(self) -> str:
        return (self.state_database_url or self.database_url).get_secret_value()

    def prepare_target(self, label: LabelConfig) -> Target:
        target = label.prepare or self.prepare
        assert target is not None  # checked above
        return target

    def label(self, name: str) -> LabelConfig:
        for label in self.labels:
            if label.name == name:
                return label
        raise ConfigError(f"unknown label {name!r}", hint=f"configured labels: {', '.join(self.label_names)}")

    @property
    def label_names(self) -> tuple[str, ...]:
        return tuple(label.name for label in self.labels)
