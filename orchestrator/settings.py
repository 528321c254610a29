"""The settings schema: what each setting is, its type, default and checks (pydantic models, frozen).

Loading them (the environment, ``.env``, the TOML file) and remembering where each value came from is
:mod:`orchestrator.config`'s job; this module knows nothing of variables or files.

"Hub or local" values share one shorthand parser (:func:`shorthand`): a string is read by the kind's own
rule (``owner/name`` is a Space, ``https://…`` a Hub file, ``hub:owner/name`` a Hub repo, anything else a
local path), and a table picks its kind by the key it holds (``space``, ``command``, ``repo``, ``path``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Union
from urllib.parse import quote, urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    field_validator,
    model_validator,
)

from .errors import ConfigError

DEFAULT_ENDPOINT = "https://huggingface.co"
METADATA_FILENAME = "dataset_metadata.json"
SEED_LABELS = ("department", "urgency")
# The seed abbreviates some labels in its variable names (RETRAIN_DEPT_REPO, HF_HUB_METADATA_DEPT).
SEED_ALIASES = {"department": "DEPT"}

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_LABEL = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _identifier(value: Any) -> Any:
    if isinstance(value, str) and not _IDENT.match(value):
        raise ValueError(f"{value!r} is not a safe SQL identifier (letters, digits and _, not starting with a digit)")
    return value


def _qualified_identifier(value: Any) -> Any:
    if isinstance(value, str):
        for part in value.split("."):
            _identifier(part)
        if value.count(".") > 1:
            raise ValueError(f"{value!r}: use 'table' or 'schema.table'")
    return value


def _boolean(value: Any) -> Any:
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _whole_number(value: Any) -> Any:
    """Thresholds are counts of dataset rows: '40' and 40 pass, '40%' and 4.5 do not."""
    if isinstance(value, bool):
        raise ValueError("expected a whole number of dataset rows")
    if isinstance(value, str):
        text = value.strip()
        if not re.fullmatch(r"[+-]?\d+", text):
            raise ValueError(f"expected a whole number of dataset rows, got {value!r}")
        return int(text)
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"expected a whole number of dataset rows, got {value!r}")
        return int(value)
    return value


def _repo_id(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    value = value.strip()
    parts = value.split("/")
    if len(parts) != 2 or not all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}", p) for p in parts):
        raise ValueError(f"{value!r} is not a Hub repo id of the form owner/name")
    if ".." in value or "--" in value or value.endswith(".git"):
        raise ValueError(f"{value!r} is not a valid Hub repo id ('..', '--' and '.git' are not allowed)")
    return value


Identifier = Annotated[str, BeforeValidator(_identifier)]
QualifiedIdentifier = Annotated[str, BeforeValidator(_qualified_identifier)]
Flag = Annotated[bool, BeforeValidator(_boolean)]
RepoId = Annotated[str, BeforeValidator(_repo_id)]
Threshold = Annotated[int, BeforeValidator(_whole_number), Field(ge=1)]
Seconds = Annotated[float, Field(gt=0)]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


Table = Callable[[Mapping[str, Any]], Any]


def shorthand(string: Callable[[str], Any], tables: Mapping[str, str | Table]) -> Callable[[Any], Any]:
    """The one parser of "Hub or local" values (targets, metadata sources, locations).

    A string goes to ``string``. A table without ``kind`` takes its kind from the first key of ``tables``
    it holds: the entry is that kind's name, or a function that rewrites the table. Anything else is left
    to pydantic, which names what is wrong."""

    def parse(value: Any) -> Any:
        if isinstance(value, str):
            return string(value.strip())
        if isinstance(value, Mapping) and "kind" not in value:
            for key, kind in tables.items():
                if key in value:
                    return {"kind": kind, **value} if isinstance(kind, str) else kind(value)
        return value

    return parse


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


# ---------------------------------------------------------------------------------------------- sources
class HubFileSource(Frozen):
    """A file in a Hub repo, fetched through the Hub's resolve endpoint."""

    kind: Literal["hub"] = "hub"
    url: str

    def describe(self) -> str:
        return self.url


class LocalFileSource(Frozen):
    """A file in a local folder that stands in for a Hub dataset repo."""

    kind: Literal["local"] = "local"
    path: str

    def describe(self) -> str:
        return self.path


# A URL scheme: two letters or more (C:\\ is a Windows drive), and not host:port.
URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):(?!\d)")
_HOST = re.compile(r"(?i)(localhost|[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}|\d{1,3}(\.\d{1,3}){3})(:\d+)?")


def missing_scheme(spec: str) -> str | None:
    """Why ``spec`` looks like a URL written without ``https://`` (None if it does not): its first part is a
    host name and no such local folder exists."""
    first = spec.split("/", 1)[0]
    if "/" in spec and _HOST.fullmatch(first) and not Path(first).exists():
        return f"{spec!r} looks like a URL without its scheme (there is no local folder {first!r})"
    return None


def _local_metadata_path(spec: str) -> Path:
    """The metadata file a local value means: the file itself (``.json``), or that folder's metadata file."""
    path = Path(spec)
    if path.suffix != ".json":  # a folder standing in for a dataset repo
        for part in (path, *path.parents):
            if part.exists() and not part.is_dir():
                raise ValueError(f"{spec!r}: {part} is a file, not a folder that could hold {METADATA_FILENAME}")
        path = path / METADATA_FILENAME
    return path


def _file(spec: str) -> dict[str, str]:
    """An http(s) URL is a file on the Hub; a path (or file:// URL) a local file or folder."""
    if not spec:
        raise ValueError("is empty")
    scheme = URL_SCHEME.match(spec)
    if scheme and scheme[1].lower() in ("http", "https"):
        return {"kind": "hub", "url": spec}
    if scheme and scheme[1].lower() == "file":
        rest = spec[scheme.end() :]
        if not rest.startswith("//"):
            raise ValueError(f"{spec!r} is not a file URL: write a local path as file:///path, or the path itself")
        spec = rest[2:]
        if not spec.startswith("/"):  # file://host/path: a file on another machine
            raise ValueError(f"file://{spec} names a host ({spec.split('/', 1)[0]!r}): write a local path as file:///path")
    elif scheme:
        raise ValueError(
            f"{scheme[1]}: URLs cannot be read; use https:// for a file on the Hub (…/resolve/main/dataset_metadata.json) "
            "or a local path"
        )
    problem = missing_scheme(spec)
    if problem:
        raise ValueError(f"{problem}: write it as https://{spec}")
    return {"kind": "local", "path": str(_local_metadata_path(spec))}


def _repo_file(table: Mapping[str, Any]) -> dict[str, str]:
    """{repo = "owner/name", revision = "main", path = "dataset_metadata.json"}: the endpoint is filled in
    when the settings are loaded. (huggingface_hub's ``hf_hub_url`` builds the same URL, but importing it
    costs a run with nothing to do about 0.17 s; :meth:`orchestrator.hub.Hub.file_url` uses it.)"""
    repo = _repo_id(table["repo"])
    revision = quote(str(table.get("revision", "main")), safe="")  # quoted as hf_hub_url quotes them
    path = quote(str(table.get("path", METADATA_FILENAME)))
    return {"kind": "hub", "url": f"{{endpoint}}/datasets/{repo}/resolve/{revision}/{path}"}


Source = Annotated[
    Annotated[Union[HubFileSource, LocalFileSource], Field(discriminator="kind")],
    BeforeValidator(shorthand(_file, {"repo": _repo_file, "path": "local"})),
]


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
    name: str
    threshold: Threshold
    sample_ratio: float = Field(default=0.5, ge=0, le=100)
    metadata: Source  # defaults to dataset_metadata.json of ``dataset``
    retrain: Target
    dataset: Location | None = None  # where the prepare job publishes this label's dataset
    prepare: Target | None = None  # defaults to the global prepare target
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

    @model_validator(mode="before")
    @classmethod
    def _metadata_from_dataset(cls, values: Any) -> Any:
        """Without ``metadata``, watch the ``dataset_metadata.json`` of the label's ``dataset``."""
        if isinstance(values, Mapping) and values.get("metadata") is None and values.get("dataset") is not None:
            dataset = _location(values["dataset"])
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
            object.__setattr__(self, "predicted_column", _identifier(f"model_predicted_{self.name}"))
        if self.correct_column is None:
            object.__setattr__(self, "correct_column", _identifier(f"correct_{self.name}"))
        return self


class HubConfig(Frozen):
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


class Settings(Frozen):
    database_url: SecretStr
    state_database_url: SecretStr | None = None
    poll_interval: Seconds = 60.0
    poll_timeout: Seconds = 1800.0
    dry_run: Flag = False
    wait: Flag = True  # blocking mode: wait for the datasets up to poll_timeout; False: check once, exit
    trigger_mode: Literal["new_feedback", "cumulative"] = "new_feedback"
    prepare_deadline: Seconds | None = None  # a pending prepare older than this fails; default 2 x poll_timeout
    lock_lease: Seconds = 300.0  # a crashed run blocks others for at most this long
    lock_wait: float = Field(default=0.0, ge=0)  # seconds to wait for another run's lock; 0: exit at once
    crash_at: str | None = None  # test hook: exit abruptly at this named step (see journal.CRASH_POINTS)
    prepare: Target | None = None
    hub: HubConfig = HubConfig()
    labels: tuple[LabelConfig, ...] = Field(min_length=1)
    # set by the loader: where each global setting came from (a variable, a TOML key, a flag), the TOML
    # file read (the reference jobs read their own section of it), and deprecation warnings
    _origins: dict[str, str] = PrivateAttr(default_factory=dict)
    _config_file: Path | None = PrivateAttr(default=None)
    _deprecations: tuple[str, ...] = PrivateAttr(default=())

    @property
    def config_file(self) -> Path | None:
        return self._config_file

    @property
    def deprecations(self) -> tuple[str, ...]:
        """One line per setting written where an earlier version read it, saying where it goes now."""
        return self._deprecations

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

    def prepare_target(self, label: LabelConfig) -> SpaceTarget | CommandTarget:
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
