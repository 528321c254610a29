"""What a Hub-hosted run is handed: the job's command, its environment and its secrets, built from the project's
settings. Pure: no I/O (but reading the config file it names).

The job gets the variables the orchestrator reads (the seed's and its own, for the configured labels) from the
environment the command was started with, and the config file's text as ``ORCHESTRATOR_CONFIG_TOML`` (a job
has no file). A token, a password or a webhook secret goes in as a job secret, never in the environment; the
config text too, when it holds one. What a stock image cannot honour is said before anything is created (:func:`concerns`): a SQLite database (the
app's is a file here; the ledger would vanish with the job), and local files or commands.
"""

from __future__ import annotations

import shlex
from urllib.parse import urlsplit
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .. import __version__, redact
from ..config.loader import leaf_paths, read_toml_text
from ..config.settings import LocalLocation, Settings
from ..config.sources import LocalFileSource
from ..config.targets import CommandTarget, HfJobTarget, WorkflowTarget
from ..contracts.environment import (
    CONFIG_TEXT_VARIABLE,
    DATABASE_VARIABLES,
    GLOBAL_VARIABLES,
    SECRET_VARIABLES,
    label_variables,
)
from ..errors import ConfigError
from ..remote.hfschedules import JobRequest

PACKAGE = "continuous-learning-orchestrator"
DEFAULT_IMAGE = "python:3.12-slim"
DEFAULT_INSTALL = f"{PACKAGE}=={__version__}"
# Variables a hosted run must not inherit: the command says how it runs.
# ``serve``'s own settings neither: a webhook-started job gets WEBHOOK_SECRET from the Hub itself (a copy handed
# on as a secret would shadow it, and go stale when the webhook's secret changes).
NOT_HANDED_ON = {"DRY_RUN", "ORCHESTRATOR_WAIT", "ORCHESTRATOR_CRASH_AT", "ORCHESTRATOR_CONFIG", "WEBHOOK_SECRET",
                 "STATUS_TOKEN", "WEBHOOK_FORWARD_REPO"}
# Keys of the config file that hold secrets: a file with one of them goes in as a secret.
SECRET_KEYS = {("hub", "token"), ("notify", "urls"), ("serve", "webhook_secret"), ("serve", "status_token")}
DATABASE_KEYS = {("database_url",), ("state_database_url",)}


@dataclass(frozen=True)
class Hosting:
    """How a hosted run starts: its image, the package it installs first ("" for an image that has it), the
    hardware, the namespace, and the job's timeout."""

    image: str = DEFAULT_IMAGE
    install: str = DEFAULT_INSTALL
    flavor: str = "cpu-basic"
    namespace: str | None = None
    timeout: int | None = 3600


def command(hosting: Hosting, *arguments: str) -> tuple[str, ...]:
    """``orchestrator run --no-wait ...``, after installing the package when the image does not have it."""
    run = ("orchestrator", "run", "--no-wait", *arguments)
    if not hosting.install:
        return run
    return ("bash", "-c", f"pip install -q {shlex.quote(hosting.install)} && {shlex.join(run)}")


def concerns(settings: Settings) -> list[str]:
    """Why these settings may not work in a Hub job (empty: nothing seen). A stock image has none of these; an
    image of your own (``--image``) might, so they are said, not refused."""
    problems = []
    if settings.database_url.get_secret_value().startswith("sqlite"):
        problems.append("the app database (DATABASE_URL) is SQLite: a file on this machine, which a Hub job cannot read")
    if settings.state_database_url and settings.state_url.startswith("sqlite"):
        problems.append("the state database (STATE_DATABASE_URL) is SQLite: a job's disk is gone when it ends, and the "
                        "ledger with it; set it to a server database (PostgreSQL)")
    for label in settings.labels:
        local = [name for name, value in (("metadata", label.metadata), ("result", label.result), ("dataset", label.dataset))
                 if isinstance(value, (LocalFileSource, LocalLocation))]
        local += [f"{step} (a local command)" for step, target in (("prepare", settings.prepare_target(label)),
                                                                   ("retrain", label.retrain))
                  if isinstance(target, CommandTarget)]
        if local:
            problems.append(f"label {label.name!r}: {', '.join(local)} is on this machine, which a Hub job does not have")
    return problems


def handed_on(settings: Settings) -> tuple[dict[str, str], dict[str, str]]:
    """The job's environment and its secrets: ``(env, secrets)``, from the variables the settings were read from."""
    environ = settings.environ
    names = [var for var, _ in GLOBAL_VARIABLES]
    for label in settings.labels:
        names += label_variables(label.name).values()
    secret_names = set(SECRET_VARIABLES) | set(DATABASE_VARIABLES)
    for target in [settings.prepare_target(label) for label in settings.labels] + [label.retrain for label in settings.labels]:
        if isinstance(target, HfJobTarget):
            names += target.secrets
            secret_names |= set(target.secrets)
        if isinstance(target, WorkflowTarget):
            names += ["GITHUB_TOKEN", "GH_TOKEN"]
    env: dict[str, str] = {}
    secrets: dict[str, str] = {}
    for name in dict.fromkeys(names):
        if name in NOT_HANDED_ON or not environ.get(name):
            continue
        (secrets if name in secret_names else env)[name] = environ[name]
    text = config_text(settings)
    if text is not None:
        tree = read_toml_text(text, CONFIG_TEXT_VARIABLE)
        (secrets if _holds_secret(tree, text) else env)[CONFIG_TEXT_VARIABLE] = text
    return env, secrets


def _holds_secret(tree: Mapping, text: str) -> bool:
    """Whether a config file sets a secret: a secret key (globals may sit under ``[orchestrator]``), or any value
    the loader knows to be secret (a password in a URL's query string, say)."""
    if redact.redact(text) != text:
        return True
    for path in leaf_paths(tree):
        bare = tuple(path[1:]) if path[:1] == ("orchestrator",) else tuple(path)
        if bare[:1] in DATABASE_KEYS:  # a database URL is a secret when it carries a password
            value = tree.get("orchestrator", {}).get(bare[0]) if path[:1] == ("orchestrator",) else tree.get(bare[0])
            if isinstance(value, str) and urlsplit(value).password:
                return True
        elif bare[:1] in SECRET_KEYS or bare[:2] in SECRET_KEYS:
            return True
    return False


def config_text(settings: Settings) -> str | None:
    """The config file's text (or the one this run was itself handed), None without one."""
    if settings.config_file is not None:
        return settings.config_file.read_text(encoding="utf-8")
    return settings.environ.get(CONFIG_TEXT_VARIABLE)


def job_request(settings: Settings, hosting: Hosting, labels: Mapping[str, str], *arguments: str) -> JobRequest:
    """The job a hosted run is (without ``HF_TOKEN`` there is none: a :class:`ConfigError`)."""
    if not settings.hub.token:
        raise ConfigError("HF_TOKEN is not set: a job on the Hub is created with it, and the hosted run reads the Hub "
                          "with it", hint="set HF_TOKEN (a write token of the namespace the job runs in)")
    env, secrets = handed_on(settings)
    return JobRequest(image=hosting.image, command=command(hosting, *arguments), env=env, secrets=secrets,
                      flavor=hosting.flavor, timeout=hosting.timeout, labels=dict(labels))


def same_job(request: JobRequest, *, image: str | None, command: Sequence[str], env: Mapping[str, str],
             secret_names: Iterable[str], flavor: str | None, timeout: int | None = None) -> bool:
    """Whether a job as the Hub shows it runs what ``request`` asks. Secret values are never given back, so their
    names are compared; a flavor or timeout the Hub does not show (None) is not held against it."""
    return (image == request.image and tuple(command) == tuple(request.command) and dict(env) == dict(request.env)
            and set(secret_names) == set(request.secrets) and (flavor or request.flavor) == request.flavor
            and (timeout or request.timeout) == request.timeout)


def describe(request: JobRequest) -> list[str]:
    """The job, as the dry run and ``--show`` print it: secrets by name only."""
    return [
        f"image: {request.image} ({request.flavor}, timeout {request.timeout or 'none'} s)",
        f"command: {shlex.join(request.command)}",
        "env: " + (", ".join(f"{k}={v}" for k, v in sorted(request.env.items()) if "\n" not in v) or "none"),
        *(f"env {k}:\n" + "\n".join(f"    | {line}" for line in v.splitlines())
          for k, v in sorted(request.env.items()) if "\n" in v),
        "secrets: " + (", ".join(f"{k}=***" for k in sorted(request.secrets)) or "none"),
        "labels: " + ", ".join(f"{k}={v}" for k, v in sorted(request.labels.items())),
    ]

