"""The commands of the loop itself: ``run``, ``retry``, ``status``, ``history``, ``serve`` and ``schema``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from ..errors import ConfigError, OrchestratorError
from .common import CONFIG_OPTION, ENV_FILE_OPTION, closing_line, emit, fail, settings_and_engines, settings_of
from .model_commands import settle_promotions

DRY_RUN_OPTION = click.option("--dry-run", is_flag=True, default=None, help="Print the plan; trigger nothing, wait for nothing.")
WAIT_OPTION = click.option(
    "--wait/--no-wait",
    default=None,
    help="Blocking (default): wait for the datasets up to POLL_TIMEOUT. Non-blocking: trigger, record, "
    "check pending datasets once, and exit (ORCHESTRATOR_WAIT=false).",
)
JSON_OPTION = click.option("--json", "json_stdout", is_flag=True, help="Print the JSON summary on stdout (logs stay on stderr).")
SUMMARY_OPTION = click.option(
    "--summary-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the JSON summary to this file.",
)


@click.command()
@CONFIG_OPTION
@ENV_FILE_OPTION
@DRY_RUN_OPTION
@WAIT_OPTION
@JSON_OPTION
@SUMMARY_OPTION
@click.option("--webhook-payload-env", "payload_env", default=None, metavar="NAME",
              help="Handle the Hub webhook payload in this variable (WEBHOOK_PAYLOAD in a job a Hub webhook starts): "
              "check its secret, and run the cycle for the labels whose dataset it updated.")
def run(
    config_file: Path | None,
    env_file: Path | None,
    dry_run: bool | None,
    wait: bool | None,
    json_stdout: bool,
    summary_file: Path | None,
    payload_env: str | None,
) -> None:
    """Run one orchestration cycle."""
    try:
        settings = settings_of(config_file, env_file, dry_run=dry_run or None, wait=wait)
    except OrchestratorError as exc:
        fail(exc)
        return
    if payload_env is None:
        _cycle(settings, json_stdout, summary_file)
        return
    body = settings.environ.get(payload_env)
    if not body:
        click.echo(f"no webhook payload in {payload_env}: nothing to do", err=True)
        sys.exit(0)
    from ..hosted.hooks import delivered
    from ..wiring import Wiring

    try:
        wiring = Wiring(settings)
        event, labels = delivered(settings, wiring.hub, body)
    except OrchestratorError as exc:
        fail(exc)
        return
    if not labels:
        click.echo(f"the delivery ({event.scope} {event.action} of {event.repo_type} {event.repo_name}) concerns no "
                   "label: nothing to do", err=True)
        sys.exit(0)
    head = f" at {event.key.rpartition('@')[2][:12]}" if event.key else ""
    click.echo(f"webhook delivery: {event.repo_type} {event.repo_name} updated{head}; labels "
               f"{', '.join(label.name for label in labels)}", err=True)
    # deliveries come in bursts (one prepare publishes several datasets): wait for another run's lock a while
    waiting = max(settings.lock_wait, DELIVERY_LOCK_WAIT)
    _cycle(settings.model_copy(update={"labels": tuple(labels), "lock_wait": waiting}), json_stdout, summary_file,
           wiring=wiring)


@click.command()
@CONFIG_OPTION
@ENV_FILE_OPTION
@click.option("--label", required=True, help="The label whose failed step to launch again.")
@click.option("--step", type=click.Choice(["prepare", "retrain"]), default=None,
              help="Which step; default: the one that failed (a prepare that failed or expired, else the retrain).")
@DRY_RUN_OPTION
@WAIT_OPTION
@JSON_OPTION
@SUMMARY_OPTION
def retry(
    config_file: Path | None, env_file: Path | None, label: str, step: str | None, dry_run: bool | None,
    wait: bool | None, json_stdout: bool, summary_file: Path | None,
) -> None:
    """Launch a label's failed step again: a prepare that failed or expired, for the same feedback, or a retrain
    that failed, on the same dataset version. Once, through the ledger, as a run would."""
    try:
        settings = settings_of(config_file, env_file, dry_run=dry_run or None, wait=wait)
        only = settings.model_copy(update={"labels": (settings.label(label),)})
    except OrchestratorError as exc:
        fail(exc)
        return
    _cycle(only, json_stdout, summary_file, retry={label: step})


def _cycle(settings, json_stdout: bool, summary_file: Path | None, wiring=None, **cycle) -> None:
    """One cycle with ``settings`` (through ``wiring``, or a new one), reported, notified; exits with its code.
    Promotions an interrupted command left open are settled first (not in a dry run, which writes nothing)."""
    from ..wiring import Wiring

    try:
        wiring = wiring or Wiring(settings)
    except OrchestratorError as exc:
        fail(exc)
        return
    if not settings.dry_run:
        settle_promotions(settings, wiring)
    result = wiring.cycle(settings, **cycle).run()
    wiring.close()
    wiring.reporter.finish(result, json_stdout=json_stdout, summary_file=summary_file)
    wiring.notify(result)  # never fails the run: a problem sending is a warning
    wiring.reporter.info(closing_line(result))
    sys.exit(result.exit_code)


@click.command()
@CONFIG_OPTION
@ENV_FILE_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def status(config_file: Path | None, env_file: Path | None, as_json: bool) -> None:
    """Per label: corrections, dataset_len against the threshold, what is new, state, versions, last run."""
    from ..report.tables import render_status
    from ..report.views import status_rows
    from ..state.store import StateStore

    try:
        settings, engine, state_engine = settings_and_engines(config_file, env_file)
        rows = status_rows(settings, engine, StateStore(state_engine))
    except OrchestratorError as exc:
        fail(exc)
    emit(rows, as_json, render_status)


@click.command()
@CONFIG_OPTION
@ENV_FILE_OPTION
@click.option("--label", default=None, help="Only this label's decisions and outcomes.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=20, show_default=True, help="How many runs.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def history(config_file: Path | None, env_file: Path | None, label: str | None, limit: int, as_json: bool) -> None:
    """Past runs, newest first, with each label's decision and outcome."""
    from ..report.tables import render_history
    from ..report.views import history_rows
    from ..state.store import StateStore

    try:
        settings, _, state_engine = settings_and_engines(config_file, env_file)
        if label is not None:
            settings.label(label)  # an unknown label is a usage error, not an empty list
        rows = history_rows(StateStore(state_engine), label=label, limit=limit)
    except OrchestratorError as exc:
        fail(exc)
    emit(rows, as_json, render_history)


@click.command()
@CONFIG_OPTION
@ENV_FILE_OPTION
@click.option("--apply", is_flag=True, help="Create the tables (those that are missing) instead of printing them.")
def schema(config_file: Path | None, env_file: Path | None, apply: bool) -> None:
    """Print, or create, the default app schema (complaints, misclassified_complaints) for DATABASE_URL.

    For local mode or a staging database; `orchestrator run` itself only ever reads these tables."""
    from ..config.loader import database_url_only
    from ..jobs import schema as sambodhan
    from ..remote.database import display_url, make_engine, translate_errors

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
        fail(exc)


@click.command()
@CONFIG_OPTION
@ENV_FILE_OPTION
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0 in a container).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
def serve(config_file: Path | None, env_file: Path | None, host: str, port: int) -> None:
    """Serve Hub webhooks, threshold checks and a status page (needs the serve extra)."""
    try:
        import uvicorn  # noqa: F401
    except ImportError as exc:
        fail(ConfigError(f"`orchestrator serve` needs the serve extra ({exc.name} is not installed)", hint=INSTALL_SERVE))
        return
    from ..serve import listen
    from ..serve.app import create_app
    from ..wiring import Wiring

    try:
        settings = settings_of(config_file, env_file)
        wiring = Wiring(settings)
        settle_promotions(settings, wiring)  # before the first cycle, as a run does
        service = wiring.service()
        sock = listen.bind(host, port)  # a port in use is named here, before anything is announced
    except OrchestratorError as exc:
        fail(exc)
        return
    click.echo(f"orchestrator serve: listening on http://{host}:{port} (webhooks: POST /webhooks/hub)", err=True)
    listen.run(create_app(service), sock)


DELIVERY_LOCK_WAIT = 120.0  # seconds a webhook-started run waits for another run's lock
INSTALL_SERVE = "pip install 'continuous-learning-orchestrator[serve]' (from a clone: pip install -e \".[serve]\")"
