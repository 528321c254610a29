"""The commands that put the orchestrator on the Hub itself: ``schedule`` (an HF scheduled job) and ``hooks``
(a Hub webhook that starts an HF Job). See docs/hosted.md."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import OrchestratorError
from .common import CONFIG_OPTION, ENV_FILE_OPTION, fail, log, settings_of

NAME_OPTION = click.option("--name", default="orchestrator", show_default=True,
                           help="Which of your projects: the label that finds its job or webhook again.")
FLAVOR_OPTION = click.option("--flavor", default="cpu-basic", show_default=True, help="The job's hardware.")
IMAGE_OPTION = click.option("--image", default=None, help="The job's Docker image (default python:3.12-slim).")
INSTALL_OPTION = click.option(
    "--install", default=None, metavar="SPEC",
    help="What the job pip-installs before it runs (default: this version of the package); '' for an image that has it.")
NAMESPACE_OPTION = click.option("--namespace", default=None, help="The user or organisation the job runs under "
                                "(default: the token's user).")
DRY_RUN_OPTION = click.option("--dry-run", is_flag=True, help="Print exactly what would be created, secrets hidden.")


def _hosting(image: str | None, install: str | None, flavor: str, namespace: str | None):
    from ..hosted.spec import DEFAULT_IMAGE, DEFAULT_INSTALL, Hosting

    return Hosting(image=image or DEFAULT_IMAGE, install=DEFAULT_INSTALL if install is None else install,
                   flavor=flavor, namespace=namespace)


def _hub(settings):
    from ..remote.hub import Hub

    return Hub(settings.hub, on_retry=lambda message: log(f"retrying: {message}"))


@click.command()
@CONFIG_OPTION
@ENV_FILE_OPTION
@click.option("--cron", default=None, help='When to run, e.g. "*/15 * * * *" or @hourly (required to create).')
@FLAVOR_OPTION
@IMAGE_OPTION
@INSTALL_OPTION
@NAMESPACE_OPTION
@NAME_OPTION
@click.option("--show", is_flag=True, help="Print the scheduled job, its next run and its last runs.")
@click.option("--delete", is_flag=True, help="Delete the scheduled job.")
@click.option("--recreate", is_flag=True, help="Replace it even if unchanged (after rotating a secret).")
@DRY_RUN_OPTION
def schedule(config_file: Path | None, env_file: Path | None, cron: str | None, flavor: str, image: str | None,
             install: str | None, namespace: str | None, name: str, show: bool, delete: bool, recreate: bool,
             dry_run: bool) -> None:
    """Run `orchestrator run --no-wait` on a cron as an HF scheduled job: no GitHub, no server."""
    from ..hosted.schedule import Scheduler

    if show and delete:
        raise click.UsageError("--show and --delete do not go together")
    if not (show or delete) and not cron:
        raise click.UsageError('--cron is required to create the scheduled job, e.g. --cron "*/15 * * * *"')
    try:
        settings = settings_of(config_file, env_file)
        scheduler = Scheduler(_hub(settings), _hosting(image, install, flavor, namespace), name, log)
        if show:
            scheduler.show()
        elif delete:
            scheduler.delete(dry_run=dry_run)
        else:
            scheduler.install(settings, cron, dry_run=dry_run, recreate=recreate)
    except OrchestratorError as exc:
        fail(exc)


@click.group(invoke_without_command=True)
@click.option("--show", is_flag=True, help="Print the webhook: what it watches and the job it starts.")
@click.option("--delete", is_flag=True, help="Delete the webhook.")
@CONFIG_OPTION
@ENV_FILE_OPTION
@NAME_OPTION
@DRY_RUN_OPTION
@click.pass_context
def hooks(ctx: click.Context, show: bool, delete: bool, config_file: Path | None, env_file: Path | None, name: str,
          dry_run: bool) -> None:
    """A Hub webhook that starts an HF Job on each update of the labels' dataset repos: no server."""
    from ..hosted.hooks import Hooks

    if ctx.invoked_subcommand is not None:
        return
    if show == delete:
        raise click.UsageError("say what to do: `hooks install`, `hooks --show` or `hooks --delete`")
    try:
        settings = settings_of(config_file, env_file)
        hooks_ = Hooks(_hub(settings), _hosting(None, None, "cpu-basic", None), name, log)
        hooks_.show() if show else hooks_.delete(dry_run=dry_run)
    except OrchestratorError as exc:
        fail(exc)


@hooks.command()
@CONFIG_OPTION
@ENV_FILE_OPTION
@FLAVOR_OPTION
@IMAGE_OPTION
@INSTALL_OPTION
@NAMESPACE_OPTION
@NAME_OPTION
@click.option("--recreate", is_flag=True, help="Start a new source job even if unchanged (after rotating a secret).")
@DRY_RUN_OPTION
def install(config_file: Path | None, env_file: Path | None, flavor: str, image: str | None, install: str | None,
            namespace: str | None, name: str, recreate: bool, dry_run: bool) -> None:
    """Create the webhook, or bring the one made before up to date. Its secret: WEBHOOK_SECRET, else the existing
    webhook's, else a new random one."""
    from ..hosted.hooks import Hooks

    try:
        settings = settings_of(config_file, env_file)
        Hooks(_hub(settings), _hosting(image, install, flavor, namespace), name, log).install(settings, dry_run=dry_run,
                                                                                        recreate=recreate)
    except OrchestratorError as exc:
        fail(exc)
