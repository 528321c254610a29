"""Settings: parsed once, at the edge, from the environment, ``.env`` and an optional TOML file.

Precedence, highest first: process environment, ``.env``, the TOML file, built-in defaults. The seed's
variables (``THRESHOLD_DEPARTMENT``, ``RETRAIN_DEPT_REPO``, ...) keep their meaning; the TOML file adds
any number of labels. Nothing below this module reads ``os.environ``.

Validation is pydantic's; this module's own work is to remember where every value came from, so that
an error names the variable (``THRESHOLD_DEPARTMENT``) or TOML key (``labels.department.threshold``)
the user has to fix.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Union
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from . import redact
from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

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


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# ---------------------------------------------------------------------------------------------- targets
class SpaceTarget(_Frozen):
    """Restart a Hugging Face Space (the seed's only kind of target)."""

    kind: Literal["space"] = "space"
    space: RepoId

    def describe(self) -> str:
        return f"Space {self.space}"


class CommandTarget(_Frozen):
    """Run a local command. ``{label}``, ``{labels}`` and ``{version}`` in arguments are filled in."""

    kind: Literal["command"] = "command"
    command: tuple[str, ...] = Field(min_length=1)
    timeout: Seconds = 3600.0
    cwd: str | None = None

    def describe(self) -> str:
        return "command " + " ".join(self.command)


def _target(value: Any) -> Any:
    """'owner/name' and 'space:owner/name' mean a Space; a table picks its kind by its key."""
    if isinstance(value, str):
        spec = value.strip()
        if spec.startswith("space:"):
            spec = spec[len("space:") :]
        return {"kind": "space", "space": spec}
    if isinstance(value, Mapping) and "kind" not in value:
        if "space" in value:
            return {"kind": "space", **value}
        if "command" in value:
            return {"kind": "command", **value}
    return value


Target = Annotated[
    Annotated[Union[SpaceTarget, CommandTarget], Field(discriminator="kind")], BeforeValidator(_target)
]


# ---------------------------------------------------------------------------------------------- sources
class HubFileSource(_Frozen):
    """A file in a Hub repo, fetched through the Hub's resolve endpoint."""

    kind: Literal["hub"] = "hub"
    url: str

    def describe(self) -> str:
        return self.url


class LocalFileSource(_Frozen):
    """A file in a local folder that stands in for a Hub dataset repo."""

    kind: Literal["local"] = "local"
    path: str

    def describe(self) -> str:
        return self.path


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


def _source(value: Any) -> Any:
    if isinstance(value, str):
        spec = value.strip()
        if not spec:
            raise ValueError("is empty")
        if spec.startswith(("http://", "https://")):
            return {"kind": "hub", "url": spec}
        if spec.startswith("file://"):
            spec = spec[len("file://") :]
        problem = missing_scheme(spec)
        if problem:
            raise ValueError(f"{problem}: write it as https://{spec}")
        return {"kind": "local", "path": str(_local_metadata_path(spec))}
    if isinstance(value, Mapping) and "kind" not in value:
        if "repo" in value:  # {repo = "owner/name", revision = "main", path = "dataset_metadata.json"}
            repo = _repo_id(value["repo"])
            revision = value.get("revision", "main")
            path = value.get("path", METADATA_FILENAME)
            return {"kind": "hub", "url": f"{{endpoint}}/datasets/{repo}/resolve/{revision}/{path}"}
        if "path" in value:
            return {"kind": "local", **value}
    return value


Source = Annotated[
    Annotated[Union[HubFileSource, LocalFileSource], Field(discriminator="kind")], BeforeValidator(_source)
]


# ---------------------------------------------------------------------------------------------- locations
class HubLocation(_Frozen):
    """A Hub repo that datasets or models are published to (upload, then a tag per version)."""

    kind: Literal["hub"] = "hub"
    repo: RepoId

    def describe(self) -> str:
        return f"hub:{self.repo}"


class LocalLocation(_Frozen):
    """A local folder standing in for a Hub repo (local mode)."""

    kind: Literal["local"] = "local"
    path: str

    def describe(self) -> str:
        return self.path


def _location(value: Any) -> Any:
    """``"hub:owner/name"`` or ``{repo = "owner/name"}`` is a Hub repo; any other string a local folder."""
    if isinstance(value, str):
        spec = value.strip()
        if spec.startswith("hub:"):
            return {"kind": "hub", "repo": spec[len("hub:") :]}
        return {"kind": "local", "path": spec}
    if isinstance(value, Mapping) and "kind" not in value:
        if "repo" in value:
            return {"kind": "hub", **value}
        if "path" in value:
            return {"kind": "local", **value}
    return value


Location = Annotated[
    Annotated[Union[HubLocation, LocalLocation], Field(discriminator="kind")], BeforeValidator(_location)
]


class JobsConfig(_Frozen):
    """Settings of the reference prepare / retrain jobs (TOML ``[jobs]``)."""

    complaints_table: QualifiedIdentifier = "complaints"
    id_column: Identifier = "id"
    text_column: Identifier = "message"
    feedback_key: Identifier = "complaint_id"  # the feedback table's column pointing at the complaint
    seed: int = 0
    # prepare: which unflagged complaints a dataset holds ("traffic": all, up to max_sampled; "seed": the
    # seed's floor(corrections x sample_ratio))
    recipe: Literal["traffic", "seed"] = "traffic"
    max_sampled: int = Field(default=50_000, ge=0)
    # retrain: the training weights tried for model-labelled rows (one candidate model each; gold rows weigh 1)
    sampled_weights: tuple[Annotated[float, Field(ge=0, le=1)], ...] = Field(default=(0.0, 0.3, 1.0), min_length=1)
    review_rate: float | None = Field(default=None, gt=0, le=1)  # share of the model's mistakes staff correct
    crossfit_folds: int = Field(default=5, ge=0, le=10)  # folds for scoring fresh rows out of fold; <2: off
    keep_challengers: Flag = False  # also publish each rejected challenger's model, for audits and benchmarks
    # the deploy gate (see orchestrator/jobs/gate.py)
    min_delta: float = Field(default=0.002, ge=0, le=1)  # the pooled macro-F1 gain a challenger needs
    margin: float = Field(default=0.005, ge=0, le=1)  # the loss it may risk in at most 1 - confidence of resamples
    confidence: float = Field(default=0.9, ge=0.5, le=1)
    golden_tolerance: float = Field(default=0.05, ge=0, le=1)  # largest drop allowed on the representative rows
    min_f1: float = Field(default=0.5, ge=0, le=1)  # the first model must reach this
    resamples: int = Field(default=1000, ge=100, le=100_000)  # paired bootstrap resamples


# ---------------------------------------------------------------------------------------------- labels
class LabelConfig(_Frozen):
    name: str
    threshold: Threshold
    sample_ratio: float = Field(default=0.5, ge=0, le=100)
    metadata: Source  # defaults to dataset_metadata.json of ``dataset``
    retrain: Target
    dataset: Location | None = None  # where the prepare job publishes this label's dataset
    model: Location | None = None  # where the retrain job deploys this label's model
    base_dataset: str | None = None  # a labelled CSV/parquet file replayed into every dataset
    inference_space: RepoId | None = None  # restarted after a deploy
    predicted_in_complaints: Identifier | None = None  # the complaints column with the model's label
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


class HubConfig(_Frozen):
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


class Settings(_Frozen):
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
    crash_at: str | None = None  # test hook: exit abruptly at this named step (see cycle.CRASH_POINTS)
    prepare: Target | None = None
    hub: HubConfig = HubConfig()
    jobs: JobsConfig = JobsConfig()
    labels: tuple[LabelConfig, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> Settings:
        names = [label.name for label in self.labels]
        if len(set(names)) != len(names):
            raise ValueError(f"label names must be unique, got {names}")
        if self.poll_interval > self.poll_timeout:
            raise ValueError(f"poll_interval ({self.poll_interval:g}s) must not exceed poll_timeout ({self.poll_timeout:g}s)")
        for label in self.labels:
            if label.prepare is None and self.prepare is None:
                raise ValueError(f"label {label.name!r} has no prepare target: set prepare (PREPARE_DATASET_REPO)")
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


# ---------------------------------------------------------------------------------------------- loading
# Global variables: (env var, path in the settings tree).
_GLOBAL_ENV: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("DATABASE_URL", ("database_url",)),
    ("STATE_DATABASE_URL", ("state_database_url",)),
    ("POLL_INTERVAL", ("poll_interval",)),
    ("POLL_TIMEOUT", ("poll_timeout",)),
    ("DRY_RUN", ("dry_run",)),
    ("ORCHESTRATOR_WAIT", ("wait",)),
    ("TRIGGER_MODE", ("trigger_mode",)),
    ("PREPARE_DEADLINE", ("prepare_deadline",)),
    ("LOCK_LEASE", ("lock_lease",)),
    ("LOCK_WAIT", ("lock_wait",)),
    ("ORCHESTRATOR_CRASH_AT", ("crash_at",)),
    ("PREPARE_DATASET_REPO", ("prepare",)),
    ("HF_ENDPOINT", ("hub", "endpoint")),
    ("HUGGING_FACE_HUB_TOKEN", ("hub", "token")),  # legacy name; HF_TOKEN below wins
    ("HF_TOKEN", ("hub", "token")),
    ("HF_TOKEN_ALLOWED_HOSTS", ("hub", "token_hosts")),
    ("HTTP_TIMEOUT", ("hub", "timeout")),
    ("HTTP_RETRIES", ("hub", "retries")),
    ("HTTP_BACKOFF", ("hub", "backoff")),
)


def label_env(name: str) -> dict[str, str]:
    """The variables that configure label ``name``: field -> variable name (seed names for seed labels)."""
    upper = name.upper()
    alias = SEED_ALIASES.get(name, upper)
    return {
        "threshold": f"THRESHOLD_{upper}",
        "retrain": f"RETRAIN_{alias}_REPO",
        "metadata": f"HF_HUB_METADATA_{alias}",
        "sample_ratio": f"SAMPLE_RATIO_{upper}",
    }


def read_env_file(path: Path) -> dict[str, str]:
    """Parse a ``.env`` file (python-dotenv), without touching ``os.environ``."""
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def load_settings(
    environ: Mapping[str, str],
    *,
    config_file: Path | None = None,
    env_file: Path | None = Path(".env"),
    require_env_file: bool = False,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build :class:`Settings` from ``environ`` (over ``env_file``) over ``config_file``.

    ``overrides`` (CLI flags such as ``--dry-run``) win over everything. An ``env_file`` that does not
    exist is skipped, unless ``require_env_file`` (the user named it). Raises :class:`ConfigError`
    naming the variable or key at fault.
    """
    if env_file is not None and require_env_file and not env_file.is_file():
        raise ConfigError(f"the env file {env_file} does not exist", hint="check --env-file (without it, .env is read if present)")
    env = {**(read_env_file(env_file) if env_file else {}), **environ}
    env = {k: v for k, v in env.items() if v != ""} | {k: v for k, v in env.items() if k == "DRY_RUN"}
    _register_secrets(env)
    config_file = config_file or (Path(env["ORCHESTRATOR_CONFIG"]) if env.get("ORCHESTRATOR_CONFIG") else None)

    tree: dict[str, Any] = {}
    origin: dict[tuple[Any, ...], str] = {}
    if config_file is not None:
        tree = _read_toml(config_file)
        for path in _leaf_paths(tree):
            origin[path] = f"{config_file.name}: " + ".".join(str(p) for p in path)
    tree = _normalise_tree(tree, origin, config_file)

    for var, path in _GLOBAL_ENV:
        if var in env:
            _set(tree, path, env[var])
            origin[path] = var

    labels: dict[str, dict[str, Any]] = tree.pop("labels", None) or {name: {} for name in SEED_LABELS}
    label_list = []
    for index, (name, fields) in enumerate(labels.items()):
        if not isinstance(fields, dict):
            raise ConfigError(f"labels.{name} must be a table", hint="see orchestrator/examples/*.toml")
        fields = {"name": name, **fields}
        for field, var in label_env(name).items():
            if var in env:
                fields[field] = env[var]
                origin[("labels", index, field)] = var
            elif field not in fields and field != "sample_ratio":
                # a missing value is reported under the name the user would set it by
                origin[("labels", index, field)] = f"labels.{name}.{field} (or {var})" if config_file else var
        for key in list(fields):
            origin.setdefault(("labels", index, key), origin.pop(("labels", name, key), f"labels.{name}.{key}"))
        label_list.append(fields)
    tree["labels"] = label_list
    if overrides:
        for key, value in overrides.items():
            if value is not None:
                tree[key] = value
                origin[(key,)] = f"--{key.replace('_', '-')}"

    for var, path in _GLOBAL_ENV:  # a setting left at its default is named as the user would set it
        origin.setdefault(path, var)
    _register_secrets({"DATABASE_URL": tree.get("database_url"), "STATE_DATABASE_URL": tree.get("state_database_url"),
                       "HF_TOKEN": (tree.get("hub") or {}).get("token") if isinstance(tree.get("hub"), dict) else None})
    try:
        settings = Settings.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, origin, tree), hint=_HINT) from None
    settings = _resolve_metadata_urls(settings, origin)
    redact.register(settings.hub.token.get_secret_value() if settings.hub.token else None)
    for url in (settings.database_url, settings.state_database_url):
        if url is not None:
            redact.register_url(url.get_secret_value())
    for label in settings.labels:
        if isinstance(label.metadata, HubFileSource):
            redact.register_url(label.metadata.url)
    return settings


_HINT = "see the settings table in README.md, or orchestrator/.env_examples"


def database_url_only(
    environ: Mapping[str, str], *, config_file: Path | None = None, env_file: Path | None = Path(".env"),
    require_env_file: bool = False,
) -> tuple[str, str]:
    """Just ``DATABASE_URL`` (and where it came from), with the same precedence as :func:`load_settings`,
    for commands that need nothing else (``orchestrator schema``)."""
    if env_file is not None and require_env_file and not env_file.is_file():
        raise ConfigError(f"the env file {env_file} does not exist", hint="check --env-file (without it, .env is read if present)")
    env = {**(read_env_file(env_file) if env_file else {}), **environ}
    config_file = config_file or (Path(env["ORCHESTRATOR_CONFIG"]) if env.get("ORCHESTRATOR_CONFIG") else None)
    if env.get("DATABASE_URL"):
        redact.register_url(env["DATABASE_URL"])
        return env["DATABASE_URL"], "DATABASE_URL"
    if config_file is not None:
        tree = _normalise_tree(_read_toml(config_file), {}, config_file)
        if isinstance(tree.get("database_url"), str):
            redact.register_url(tree["database_url"])
            return tree["database_url"], f"{config_file.name}: orchestrator.database_url"
    raise ConfigError("DATABASE_URL is required but not set", hint=_HINT)
_SECRET_VARIABLES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")


def _register_secrets(values: Mapping[str, Any]) -> None:
    """Register every secret a raw setting holds, before anything could print it (an error message
    included): tokens, and the credentials any URL carries."""
    for name, value in values.items():
        if not isinstance(value, str):
            continue
        if name in _SECRET_VARIABLES:
            redact.register(value)
        elif "://" in value:
            redact.register_url(value)


def _resolve_metadata_urls(settings: Settings, origin: Mapping[tuple[Any, ...], str]) -> Settings:
    """Fill in the endpoint, and refuse metadata URLs on hosts that must never see the token."""
    hub = settings.hub
    labels = []
    for index, label in enumerate(settings.labels):
        if isinstance(label.metadata, HubFileSource):
            url = label.metadata.url.replace("{endpoint}", hub.endpoint)
            name = origin.get(("labels", index, "metadata"), f"labels.{label.name}.metadata")
            if "@" in urlsplit(url).netloc:
                raise ConfigError(
                    f"invalid configuration: {name}: the URL carries credentials (user info before '@' in "
                    f"{host_of(url)!r}); metadata URLs carry none",
                    hint="remove the user info: the Hub token (HF_TOKEN) is sent as a header, to the Hub's host only",
                )
            if not hub.may_receive_token(url):
                raise ConfigError(
                    f"invalid configuration: {name}: host {host_of(url)!r} is not the Hub's "
                    f"({hub.host}, from HF_ENDPOINT); the Hub token is only ever sent to the Hub's host",
                    hint=f"point the URL at {hub.endpoint}, or add the host to HF_TOKEN_ALLOWED_HOSTS if you trust it",
                )
            label = label.model_copy(update={"metadata": HubFileSource(url=url)})
        labels.append(label)
    return settings.model_copy(update={"labels": tuple(labels)})


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist", hint="check --config / ORCHESTRATOR_CONFIG") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}", hint="fix the line it names") from None


def _normalise_tree(tree: dict[str, Any], origin: dict[tuple[Any, ...], str], config_file: Path | None) -> dict:
    """Flatten the TOML's friendly sections into the settings tree.

    ``[orchestrator]`` holds globals, ``[prepare] target = ...`` the prepare target and ``[tables]``
    defaults for every label's table and column names. Relative paths are relative to the TOML file.
    """
    tree = dict(tree)
    for key, value in dict(tree.pop("orchestrator", {})).items():
        tree[key] = value
        origin[(key,)] = origin.pop(("orchestrator", key), key)
    prepare = tree.get("prepare")
    if isinstance(prepare, dict) and "target" in prepare:
        tree["prepare"] = prepare["target"]
        origin[("prepare",)] = origin.get(("prepare", "target"), "prepare.target")
    defaults = tree.pop("tables", {})
    labels = tree.get("labels")
    if isinstance(labels, dict):
        base = config_file.parent if config_file else Path.cwd()
        for name, fields in labels.items():
            if isinstance(fields, dict):
                merged = {**defaults, **fields}
                meta = merged.get("metadata")
                if isinstance(meta, str) and not meta.startswith(("http://", "https://")):
                    meta = meta[len("file://") :] if meta.startswith("file://") else meta
                    problem = missing_scheme(meta)
                    if problem:
                        raise ConfigError(
                            f"invalid configuration: {config_file.name if config_file else 'TOML'}: labels.{name}.metadata: {problem}",
                            hint=f"write it as https://{meta}",
                        )
                    merged["metadata"] = str(base / meta)
                for key in ("dataset", "model", "base_dataset"):
                    value = merged.get(key)
                    if isinstance(value, str) and not value.startswith("hub:"):
                        merged[key] = str(base / value)  # an absolute path stays as it is
                labels[name] = merged
    if "database_url" in tree and config_file is not None:
        tree["database_url"] = _relative_sqlite(tree["database_url"], config_file.parent)
    return tree


def _relative_sqlite(url: Any, base: Path) -> Any:
    """``sqlite:///demo.db`` in a TOML file means a file beside that TOML file."""
    prefix = "sqlite:///"
    if isinstance(url, str) and url.startswith(prefix) and not url.startswith(prefix + "/"):
        rest = url[len(prefix) :]
        if rest and rest != ":memory:":
            return prefix + str((base / rest).resolve())
    return url


def _leaf_paths(tree: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(tree, dict):
        paths = [prefix] if prefix else []
        for key, value in tree.items():
            paths.extend(_leaf_paths(value, (*prefix, key)))
        return paths
    return [prefix]


def _set(tree: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        tree = tree.setdefault(key, {})
    tree[path[-1]] = value


def _describe(exc: ValidationError, origin: Mapping[tuple[Any, ...], str], tree: Mapping[str, Any]) -> str:
    """One line per problem, each naming the variable or TOML key the user must fix."""
    lines = []
    errors = exc.errors(include_url=False)
    if any(len(e["loc"]) > 1 and e["loc"][0] == "labels" for e in errors):
        errors = [e for e in errors if tuple(e["loc"]) != ("labels",)]  # the empty tuple follows from those
    for error in errors:
        loc = tuple(error["loc"])
        name = None
        for cut in range(len(loc), 0, -1):
            if loc[:cut] in origin:
                name = origin[loc[:cut]]
                break
        if name is None:
            name = _dotted(loc, tree) or "settings"
        message = error["msg"]
        if error["type"] == "missing":
            message = "is required but not set"
        elif message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        if not loc:  # a check across settings: name each one as the user set it
            message = re.sub(
                r"\b(poll_interval|poll_timeout|prepare)\b(?! target)",
                lambda m: origin.get((m[1],), m[1]),
                message,
            )
            lines.append(message)
            continue
        lines.append(f"{name}: {message}")
    unique = list(dict.fromkeys(lines))
    text = unique[0] if len(unique) == 1 else "".join(f"\n  - {line}" for line in unique)
    return "invalid configuration: " + text


def _dotted(loc: tuple[Any, ...], tree: Mapping[str, Any]) -> str:
    parts = []
    labels = tree.get("labels") or []
    for i, part in enumerate(loc):
        if i == 1 and loc[0] == "labels" and isinstance(part, int) and part < len(labels):
            parts.append(str(labels[part].get("name", part)))
        else:
            parts.append(str(part))
    return ".".join(parts)
