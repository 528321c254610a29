"""The command line: ``orchestrator run | status | history | serve | schema | prepare | retrain | predict |
demo`` (also ``python -m orchestrator``, and the seed's ``python orchestrator/orchestrator.py``).

It reads the settings, hands them to :mod:`orchestrator.wiring` (or to a reference job, whose module it loads only
when that command runs), prints, and exits with the README's codes: 0 done (also: nothing to do), 1 at least one
label failed, 2 configuration, usage or credentials, 3 the database, the Hub or GitHub unreachable, 130
interrupted.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from . import __version__
from .errors import EXIT_CONFIG, ConfigError, OrchestratorError

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


def _settings(config_file: Path | None, env_file: Path | None, **overrides):
    """The settings, read once: the environment over the env file over the TOML file, with the reference
    jobs' own section (``orchestrator.jobs.settings``, which needs no ML library), so that every command
    checks the whole file."""
    from .jobs.settings import load_job_settings

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


def _fail(exc: OrchestratorError) -> None:
    from .report.reporter import Reporter

    reporter = Reporter(os.environ)
    reporter.error(str(exc), title=type(exc).__name__)
    sys.exit(exc.exit_code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="orchestrator")
def cli() -> None:
    """Continuous-learning CI/CD: count reviewed misclassifications per label, prepare a new dataset
    when a label has enough, wait for it on the Hub, and retrain exactly the labels whose data changed."""


@cli.command()
@CONFIG_OPTION
@ENV_FILE_OPTION
@click.option("--dry-run", is_flag=True, default=None, help="Print the plan; trigger nothing, wait for nothing.")
@click.option(
    "--wait/--no-wait",
    default=None,
    help="Blocking (default): wait for the datasets up to POLL_TIMEOUT. Non-blocking: trigger, record, "
    "check pending datasets once, and exit (ORCHESTRATOR_WAIT=false).",
)
@click.option("--json", "json_stdout", is_flag=True, help="Print the JSON summary on stdout (logs stay on stderr).")
@click.option(
    "--summary-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the JSON summary to this file.",
)
def run(
    config_file: Path | None,
    env_file: Path | None,
    dry_run: bool | None,
    wait: bool | None,
    json_stdout: bool,
    summary_file: Path | None,
) -> None:
    """Run one orchestration cycle."""
    from .wiring import Wiring

    try:
        wiring = Wiring(_settings(config_file, env_file, dry_run=dry_run or None, wait=wait))
    except OrchestratorError as exc:
        _fail(exc)
        return
    result = wiring.cycle().run()
    wiring.close()
    wiring.reporter.finish(result, json_stdout=json_stdout, summary_file=summary_file)
    wiring.notify(result)  # never fails the run: a problem sending is a warning
    wiring.reporter.info(_closing_line(result))
    sys.exit(result.exit_code)


def _settings_and_engines(config_file: Path | None, env_file: Path | None):
    from .remote.database import engines

    settings = _settings(config_file, env_file)
    return (settings, *engines(settings))


def _emit(rows, as_json: bool, render) -> None:
    import json

    from . import redact

    text = json.dumps(rows, indent=2, ensure_ascii=False) if as_json else render(rows)
    click.echo(redact.redact(text))


@cli.command()
@CONFIG_OPTION
@ENV_FILE_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def status(config_file: Path | None, env_file: Path | None, as_json: bool) -> None:
    """Per label: corrections, dataset_len against the threshold, what is new, state, versions, last run."""
    from .report.tables import render_status
    from .report.views import status_rows
    from .state.store import StateStore

    try:
        settings, engine, state_engine = _settings_and_engines(config_file, env_file)
        rows = status_rows(settings, engine, StateStore(state_engine))
    except OrchestratorError as exc:
        _fail(exc)
    _emit(rows, as_json, render_status)


@cli.command()
@CONFIG_OPTION
@ENV_FILE_OPTION
@click.option("--label", default=None, help="Only this label's decisions and outcomes.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=20, show_default=True, help="How many runs.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def history(config_file: Path | None, env_file: Path | None, label: str | None, limit: int, as_json: bool) -> None:
    """Past runs, newest first, with each label's decision and outcome."""
    from .report.tables import render_history
    from .report.views import history_rows
    from .state.store import StateStore

    try:
        settings, _, state_engine = _settings_and_engines(config_file, env_file)
        if label is not None:
            settings.label(label)  # an unknown label is a usage error, not an empty list
        rows = history_rows(StateStore(state_engine), label=label, limit=limit)
    except OrchestratorError as exc:
        _fail(exc)
    _emit(rows, as_json, render_history)


@cli.command()
@CONFIG_OPTION
@ENV_FILE_OPTION
@click.option("--apply", is_flag=True, help="Create the tables (those that are missing) instead of printing them.")
def schema(config_file: Path | None, env_file: Path | None, apply: bool) -> None:
    """Print, or create, the default app schema (complaints, misclassified_complaints) for DATABASE_URL.

    For local mode or a staging database; `orchestrator run` itself only ever reads these tables."""
    from .config.loader import database_url_only
    from .jobs import schema as sambodhan
    from .remote.database import display_url, make_engine, translate_errors

    try:
        url, origin = database_url_only(
            os.environ, config_file=config_file, env_file=env_file or Path(".env"), require_env_file=env_file is not None
        )
        engine = make_engine(url, variable=origin)
        if not apply:
            click.echo(f"-- the default app schema for {engine.dialect.name} ({display_url(engine.url)})\n")
            click.echo(sambodhan.ddl(engine))
            return
        with translate_errors(engine, "creating the app tables"):
            existing = set(sambodhan.existing_tables(engine))
            sambodhan.create_schema(engine)
        created = [t.name for t in sambodhan.metadata.sorted_tables if t.name not in existing]
        click.echo(f"created {', '.join(created) or 'nothing (the tables exist)'} in {display_url(engine.url)}", err=True)
    except OrchestratorError as exc:
        _fail(exc)


@cli.command()
@CONFIG_OPTION
@ENV_FILE_OPTION
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0 in a container).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
def serve(config_file: Path | None, env_file: Path | None, host: str, port: int) -> None:
    """Serve Hub webhooks, threshold checks and a status page (needs the serve extra)."""
    try:
        import uvicorn  # noqa: F401
    except ImportError as exc:
        _fail(ConfigError(f"`orchestrator serve` needs the serve extra ({exc.name} is not installed)", hint=INSTALL_SERVE))
        return
    from .serve import listen
    from .serve.app import create_app
    from .wiring import Wiring

    try:
        service = Wiring(_settings(config_file, env_file)).service()
        sock = listen.bind(host, port)  # a port in use is named here, before anything is announced
    except OrchestratorError as exc:
        _fail(exc)
        return
    click.echo(f"orchestrator serve: listening on http://{host}:{port} (webhooks: POST /webhooks/hub)", err=True)
    listen.run(create_app(service), sock)


INSTALL_SERVE = "pip install 'continuous-learning-orchestrator[serve]' (from a clone: pip install -e \".[serve]\")"


def _ml(what: str):
    """Import the jobs library, or explain how to install it."""
    import importlib

    try:
        return importlib.import_module(f"orchestrator.jobs.{what}")
    except ImportError as exc:
        _fail(
            ConfigError(f"`orchestrator {what}` needs the ML extra ({exc.name} is not installed)", hint=INSTALL_ML)
        )


ML_MODULES = ("sklearn", "skops", "pyarrow", "matplotlib")


def _require_ml(what: str) -> None:
    """Fail with the install hint if a library of the ML extra cannot be imported."""
    import importlib

    missing = []
    for name in ML_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        _fail(ConfigError(f"`orchestrator {what}` needs the ML extra ({', '.join(missing)} not installed)", hint=INSTALL_ML))


def _split_labels(values: tuple[str, ...]) -> list[str]:
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


@cli.command()
@CONFIG_OPTION
@ENV_FILE_OPTION
@click.option("--label", "labels", multiple=True, help="Label(s) to prepare (repeat, or comma-separate). Default: all.")
def prepare(config_file: Path | None, env_file: Path | None, labels: tuple[str, ...]) -> None:
    """Build and publish one versioned dataset per label from the database (the reference prepare job)."""
    jobs = _ml("prepare")
    try:
        settings, engine, _ = _settings_and_engines(config_file, env_file)
        chosen = [settings.label(name) for name in _split_labels(labels)] or list(settings.labels)
        jobs.prepare(settings, chosen, engine, log=_log)
    except OrchestratorError as exc:
        _fail(exc)


@cli.command()
@CONFIG_OPTION
@ENV_FILE_OPTION
@click.option("--label", required=True, help="The label whose model to retrain.")
@click.option(
    "--dataset-version",
    default=None,
    envvar="DATASET_VERSION",
    help="The dataset version (tag) to train on; default: $DATASET_VERSION (which a retrain Space or job is "
    "given), else the newest.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the decision as JSON on stdout.")
def retrain(config_file: Path | None, env_file: Path | None, label: str, dataset_version: str | None, as_json: bool) -> None:
    """Train a challenger, gate it against the deployed champion, deploy only if it is better."""
    import json
    from dataclasses import asdict

    jobs = _ml("retrain")
    try:
        settings = _settings(config_file, env_file)
        outcome = jobs.retrain(
            settings, settings.label(label), dataset_version=dataset_version, log=_log
        )
    except OrchestratorError as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps(asdict(outcome), indent=2))


@cli.command()
@CONFIG_OPTION
@ENV_FILE_OPTION
@click.option("--label", required=True, help="The label to predict.")
@click.option("--model", "model_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="A model file (model.skops). Default: the label's deployed model.")
@click.option("--input", "input_file", type=click.File("rb"), default="-",
              help="Texts, one per line (UTF-8), or JSON Lines with --input-format jsonl. Default: standard input.")
@click.option("--input-format", type=click.Choice(["lines", "jsonl"]), default=None,
              help='"lines": one text per line; "jsonl": one {"id": ..., "text": ...} object per line, for texts '
              "with newlines. Default: jsonl for a .jsonl file, else lines.")
@click.option("--json", "as_json", is_flag=True, help="JSON Lines with the scores of every class.")
def predict(
    config_file: Path | None, env_file: Path | None, label: str, model_path: Path | None, input_file, input_format, as_json: bool
) -> None:
    """Predict one label per input line with the deployed (or given) model."""
    import tempfile

    jobs = _ml("predict")
    if input_format is None:
        input_format = "jsonl" if str(getattr(input_file, "name", "")).endswith(".jsonl") else "lines"
    try:
        settings = _settings(config_file, env_file)
        with tempfile.TemporaryDirectory(prefix="predict-") as scratch:
            model = jobs.load_model(settings, settings.label(label), model_path, Path(scratch))
            for line in jobs.predict_input(model, input_file, input_format=input_format, scores=as_json):
                click.echo(line)
    except OrchestratorError as exc:
        _fail(exc)


@cli.command()
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("orchestrator-demo"),
    show_default=True,
    help="Folder for the demo's database, local Hub folders, configuration and chart.",
)
@click.option("--fresh", is_flag=True, help="Delete the working folder first and start over.")
@click.option("--rounds", type=click.IntRange(1, 50), default=4, show_default=True, help="Feedback rounds to run.")
@click.option("--size", type=click.Choice(["full", "small"]), default="full", show_default=True,
              help="Data sizes: small is for quick checks (CI).")
def demo(workdir: Path, fresh: bool, rounds: int, size: str) -> None:
    """Run the whole loop locally on synthetic data: SQLite, local folders for the Hub, no account."""
    import shutil

    module = _ml("demo")
    _require_ml("demo")  # before anything is written: no half-built folder
    if fresh and workdir.exists():
        shutil.rmtree(workdir)
    click.echo(f"demo folder: {workdir.resolve()}", err=True)
    try:
        module.run_demo(workdir.resolve(), rounds=rounds, size=size, log=_log)
    except OrchestratorError as exc:
        _fail(exc)


def _closing_line(result) -> str:
    parts = [f"{r.label}: {r.outcome}" for r in result.labels]
    return f"done: {result.status} (exit {result.exit_code})" + (f" — {'; '.join(parts)}" if parts else "")


def _log(line: str) -> None:
    """A job's progress line, on stderr, without secrets."""
    from . import redact

    click.echo(redact.redact(line), err=True)


def _interrupted(signum, _frame) -> None:
    raise KeyboardInterrupt  # SIGTERM (a cancelled CI job) unwinds like Ctrl-C: the lease is given back


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: exit codes as documented, and never a raw traceback with a secret."""
    import signal
    import traceback

    from . import redact

    signal.signal(signal.SIGTERM, _interrupted)
    try:
        cli.main(args=argv, prog_name="orchestrator", standalone_mode=False)
    except click.ClickException as exc:  # usage errors: exit 2
        exc.show()
        sys.exit(exc.exit_code)
    except (click.Abort, KeyboardInterrupt):
        click.echo("interrupted", err=True)
        sys.exit(130)
    except OrchestratorError as exc:  # commands handle their own; this is a last resort
        _fail(exc)
    except Exception:  # a bug: say so, without secrets
        click.echo(redact.redact("internal error (a bug: please report it)\n" + traceback.format_exc()), err=True)
        sys.exit(1)


__all__ = ["cli", "main", "EXIT_CONFIG"]
