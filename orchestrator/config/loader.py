"""Settings: loaded once, at the edge, from the environment, ``.env`` and an optional TOML file.

Precedence, highest first: process environment, ``.env``, the TOML file, built-in defaults. The seed's
variables (``THRESHOLD_DEPARTMENT``, ``RETRAIN_DEPT_REPO``, ...) keep their meaning; the TOML file adds
any number of labels. The command line hands this module ``os.environ`` (tests hand it a mapping of their own);
what it read is kept as ``Settings.environ``, where the launchers and the GitHub client find the tokens and
secrets they pass on (``GITHUB_TOKEN``, an HF Job's ``secrets``).

What each setting is lives in :mod:`orchestrator.config.settings` (the schema); this module's own work is to
gather the values and remember where every one came from, so that an error names the variable
(``THRESHOLD_DEPARTMENT``) or TOML key (``labels.department.threshold``) the user has to fix.
:mod:`orchestrator.config.problems` builds those messages.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from .. import redact
from ..contracts.environment import CONFIG_TEXT_VARIABLE, GLOBAL_VARIABLES, SECRET_VARIABLES, SEED_LABELS, label_variables
from ..errors import ConfigError
from .problems import describe_error
from .settings import Settings, host_of
from .sources import URL_SCHEME, HubFileSource, missing_scheme

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

def read_env_file(path: Path) -> dict[str, str]:
    """Parse a ``.env`` file (python-dotenv), without touching ``os.environ``."""
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    try:
        values = dotenv_values(path, encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(
            f"the env file {path} is not UTF-8 text",
            hint="save it as UTF-8 (an editor's 'Save as' offers the encoding; Notepad's 'Unicode' is UTF-16)",
        ) from None
    return {k: v for k, v in values.items() if v is not None}


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
        tree = read_toml(config_file)
        for path in leaf_paths(tree):
            origin[path] = f"{config_file.name}: " + ".".join(str(p) for p in path)
    elif env.get(CONFIG_TEXT_VARIABLE):  # a job with no file: the TOML itself (orchestrator schedule, hooks)
        tree = read_toml_text(env[CONFIG_TEXT_VARIABLE], CONFIG_TEXT_VARIABLE)
        for path in leaf_paths(tree):
            origin[path] = f"{CONFIG_TEXT_VARIABLE}: " + ".".join(str(p) for p in path)
    handoff = JobsHandoff()
    tree = _normalise_tree(tree, origin, config_file, handoff)

    for var, path in GLOBAL_VARIABLES:
        if var in env:
            _set(tree, path, env[var])
            origin[path] = var

    labels: dict[str, dict[str, Any]] = tree.pop("labels", None) or {name: {} for name in SEED_LABELS}
    label_list = []
    for index, (name, fields) in enumerate(labels.items()):
        if not isinstance(fields, dict):
            raise ConfigError(f"labels.{name} must be a table", hint="see orchestrator/examples/*.toml")
        fields = {"name": name, **fields}
        for field, var in label_variables(name).items():
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

    for var, path in GLOBAL_VARIABLES:  # a setting left at its default is named as the user would set it
        origin.setdefault(path, var)
    serve = tree.get("serve") if isinstance(tree.get("serve"), dict) else {}
    _register_secrets({"DATABASE_URL": tree.get("database_url"), "STATE_DATABASE_URL": tree.get("state_database_url"),
                       "HF_TOKEN": (tree.get("hub") or {}).get("token") if isinstance(tree.get("hub"), dict) else None,
                       "WEBHOOK_SECRET": serve.get("webhook_secret"), "STATUS_TOKEN": serve.get("status_token")})
    try:
        settings = Settings.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(describe_error(exc, origin, tree, Settings), hint=SETTINGS_HINT) from None
    settings = _resolve_hub_urls(settings, origin)
    settings._origins = {path[0]: name for path, name in origin.items() if len(path) == 1 and isinstance(path[0], str)}
    settings._config_file = config_file
    settings._jobs_handoff = handoff
    settings._environ = dict(env)
    # the token and the database URLs were registered above, before anything could print them
    for label in settings.labels:
        if isinstance(label.metadata, HubFileSource):
            redact.register_url(label.metadata.url)
    return settings


SETTINGS_HINT = "see the settings in docs/configuration.md, or orchestrator/.env_examples"


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
        tree = _normalise_tree(read_toml(config_file), {}, config_file)
        if isinstance(tree.get("database_url"), str):
            redact.register_url(tree["database_url"])
            return tree["database_url"], f"{config_file.name}: orchestrator.database_url"
    raise ConfigError("DATABASE_URL is required but not set", hint=SETTINGS_HINT)


def _register_secrets(values: Mapping[str, Any]) -> None:
    """Register every secret a raw setting holds, before anything could print it (an error message
    included): tokens, and the credentials any URL carries."""
    for name, value in values.items():
        if not isinstance(value, str):
            continue
        if name in SECRET_VARIABLES:
            redact.register(value)
        elif "://" in value:
            redact.register_url(value)


def _resolve_hub_urls(settings: Settings, origin: Mapping[tuple[Any, ...], str]) -> Settings:
    """Fill in the endpoint in the metadata and result URLs, and refuse those on hosts that must never
    see the token."""
    hub = settings.hub
    labels = []
    for index, label in enumerate(settings.labels):
        update = {}
        for field in ("metadata", "result"):
            source = getattr(label, field)
            if not isinstance(source, HubFileSource):
                continue
            url = source.url.replace("{endpoint}", hub.endpoint)
            name = origin.get(("labels", index, field), f"labels.{label.name}.{field}")
            if "@" in urlsplit(url).netloc:
                raise ConfigError(
                    f"invalid configuration: {name}: the URL carries credentials (user info before '@' in "
                    f"{host_of(url)!r}); {field} URLs carry none",
                    hint="remove the user info: the Hub token (HF_TOKEN) is sent as a header, to the Hub's host only",
                )
            if not hub.may_receive_token(url):
                raise ConfigError(
                    f"invalid configuration: {name}: host {host_of(url)!r} is not the Hub's "
                    f"({hub.host}, from HF_ENDPOINT); the Hub token is only ever sent to the Hub's host",
                    hint=f"point the URL at {hub.endpoint}, or add the host to HF_TOKEN_ALLOWED_HOSTS if you trust it",
                )
            update[field] = HubFileSource(url=url)
        labels.append(label.model_copy(update=update) if update else label)
    return settings.model_copy(update={"labels": tuple(labels)})


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist", hint="check --config / ORCHESTRATOR_CONFIG") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}", hint="fix the line it names") from None


def read_toml_text(text: str, where: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where} is not valid TOML: {exc}", hint="it holds the config file's text; fix the line it names") from None


# Label keys of the reference jobs, which earlier versions read from [labels.NAME] (or [tables]): the core
# has no such fields, and hands them, untouched, to the jobs (orchestrator/jobs/settings.py), with a warning.
MOVED_TO_JOBS = ("model", "base_dataset", "inference_space", "predicted_in_complaints")


@dataclass
class JobsHandoff:
    """What the core loader read but does not interpret, for the reference jobs: the ``[jobs]`` section,
    and each label's moved keys as ``{label: {key: (value, where it was written)}}``."""

    jobs: Any = None
    moved: dict[str, dict[str, tuple[Any, str]]] = dataclass_field(default_factory=dict)
    deprecations: list[str] = dataclass_field(default_factory=list)


def _normalise_tree(
    tree: dict[str, Any], origin: dict[tuple[Any, ...], str], config_file: Path | None, handoff: JobsHandoff | None = None
) -> dict:
    """Flatten the TOML's friendly sections into the settings tree.

    ``[orchestrator]`` holds globals, ``[prepare] target = ...`` the prepare target and ``[tables]``
    defaults for every label's table and column names. Relative paths are relative to the TOML file.
    """
    tree = dict(tree)
    for key, value in dict(tree.pop("orchestrator", {})).items():
        tree[key] = value
        origin[(key,)] = origin.pop(("orchestrator", key), key)
    handoff = handoff if handoff is not None else JobsHandoff()
    handoff.jobs = tree.pop("jobs", None)  # the reference jobs' own section: they read it themselves
    where = f"{config_file.name}: " if config_file else ""
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
                for key in MOVED_TO_JOBS:
                    if key in merged:
                        written = f"labels.{name}.{key}" if key in fields else f"tables.{key}"
                        handoff.moved.setdefault(name, {})[key] = (merged.pop(key), where + written)
                        line = (f"{where}{written} is a setting of the reference jobs: move it to "
                                f"[jobs.labels.{name if key in fields else 'NAME'}] (it is read from there until then)")
                        if line not in handoff.deprecations:
                            handoff.deprecations.append(line)
                for key in ("metadata", "result"):
                    meta = merged.get(key)
                    if isinstance(meta, str) and not URL_SCHEME.match(meta) and not meta.startswith("hub:"):
                        problem = missing_scheme(meta)  # a path: relative to this file
                        if problem:
                            raise ConfigError(
                                f"invalid configuration: {config_file.name if config_file else 'TOML'}: labels.{name}.{key}: {problem}",
                                hint=f"write it as https://{meta}",
                            )
                        merged[key] = str(base / meta)
                for key in ("dataset",):
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


def leaf_paths(tree: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(tree, dict):
        paths = [prefix] if prefix else []
        for key, value in tree.items():
            paths.extend(leaf_paths(value, (*prefix, key)))
        return paths
    return [prefix]


def _set(tree: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        tree = tree.setdefault(key, {})
    tree[path[-1]] = value
