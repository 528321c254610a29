"""What every command shares: the ``--config`` and ``--env-file`` options, reading the settings once, failing
with the README's exit code and no traceback, and printing without secrets."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from ..errors import OrchestratorError

CONFIG_OPTION = click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="TOML file with labels and targets (also ORCHESTRATOR_CONFIG).",
)
ENV_FILE_OPTION = click.option(
    "--env-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Read settings from this .env file too (the environment wins). Default: .env, if there is one.",
)
INSTALL_ML = "pip install 'continuous-learning-orchestrator[ml]' (from a clone: pip install -e '.[ml]')"


def settings_of(config_file: Path | None, env_file: Path | None, **overrides):
    """The settings, read once: the environment over the env file over the TOML file, with the reference
    jobs' own section (``orchestrator.jobs.settings``, which needs no ML library), so that every command
    checks the whole file."""
    from ..jobs.settings import load_job_settings

    settings = load_job_settings(
        os.environ,
        config_file=config_file,
        env_file=env_file or Path(".env"),
        require_env_file=env_file is not None,
        overrides=overrides or None,
    )
    for line in settings.deprecations:
        click.echo(f"warning: {line}", err=True)
    return settings


def fail(exc: OrchestratorError) -> None:
    from ..report.reporter import Reporter

    reporter = Reporter(os.environ)
    reporter.error(str(exc), title=type(exc).__name__)
    sys.exit(exc.exit_code)


def settings_and_engines(config_file: Path | None, env_file: Path | None):
    from ..remote.database import engines

    settings = settings_of(config_file, env_file)
    return (settings, *engines(settings))


def emit(rows, as_json: bool, render) -> None:
    import json

    from .. import redact

    text = json.dumps(rows, indent=2, ensure_ascii=False) if as_json else render(rows)
    click.echo(redact.redact(text))



def closing_line(result) -> str:
    parts = [f"{r.label}: {r.outcome}" for r in result.labels]
    return f"done: {result.status} (exit {result.exit_code})" + (f" — {'; '.join(parts)}" if parts else "")


def log(line: str) -> None:
    """A job's progress line, on stderr, without secrets."""
    from .. import redact

    click.echo(redact.redact(line), err=True)
