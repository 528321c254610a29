"""The commands on a label's kept model versions: ``models`` (list them, or one with its lineage), ``promote`` and
``rollback`` (move the deployed pointer, through the ledger). See docs/models.md."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from ..errors import ConfigError, MetadataError, OrchestratorError
from .common import CONFIG_OPTION, ENV_FILE_OPTION, emit, fail, log, settings_and_engines

LABEL_OPTION = click.option("--label", required=True, help="The label whose models these are.")
REASON_OPTION = click.option("--reason", default="", help="Why: kept in the history and the model registry.")
DRY_RUN_OPTION = click.option("--dry-run", is_flag=True, help="Say what would change; change nothing.")


def _setup(config_file: Path | None, env_file: Path | None, name: str):
    """The settings, the state store, the Hub client and the label's model place."""
    from ..remote.hub import Hub
    from ..remote.stores import store_for
    from ..run.promote import Place
    from ..state.store import StateStore

    settings, _, state_engine = settings_and_engines(config_file, env_file)
    label = settings.label(name)
    if label.model is None:
        raise ConfigError(f"label {name!r} has no model store", hint=f"set jobs.labels.{name}.model (a folder, or hub:owner/name)")
    hub = Hub(settings.hub, on_retry=lambda message: log(f"retrying: {message}"))
    place = Place(name, store_for(label.model, hub, repo_type="model"), _written(label.model), label.inference_space)
    return settings, StateStore(state_engine), hub, place, label


def _promoter(settings, state, hub):
    from ..report.reporter import Reporter
    from ..run.promote import Promoter

    return Promoter(state, hub, Reporter(os.environ), lease=settings.lock_lease, wait=settings.lock_wait, say=log,
                    crash_at=settings.crash_at)


def settle_promotions(settings, wiring) -> None:
    """Before a cycle (a run's, a retry's, the service's first): complete or undo the promotions an interrupted
    command left open, for every label with a model store, through the cycle's own state engine and Hub client. A
    problem here is a warning: the run goes on, and the next command tries again."""
    from ..remote.stores import store_for
    from ..run.promote import Place
    from ..state.store import HEAD, StateStore

    labels = [label for label in settings.labels if getattr(label, "model", None) is not None]
    if not labels:
        return
    try:
        state = StateStore(wiring.state_engine)
        if state.schema_version() != HEAD or not state.unfinished(kinds=("promote",)):
            return  # the usual case: one read, and nothing more
        places = {label.name: Place(label.name, store_for(label.model, wiring.hub, repo_type="model"), "",
                                    label.inference_space) for label in labels}
        _promoter(settings, state, wiring.hub).settle(places)
    except OrchestratorError as exc:
        log(f"warning: an interrupted promotion could not be settled yet: {exc}")


@click.command()
@CONFIG_OPTION
@ENV_FILE_OPTION
@LABEL_OPTION
@click.option("--version", "version", default=None, help="Only this version, with its lineage (best with --json).")
@click.option("--feedback-id", default=None,
              help="Which model first trained on this reviewed row: the id of the complaint it points at.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def models(config_file: Path | None, env_file: Path | None, label: str, version: str | None, feedback_id: str | None,
           as_json: bool) -> None:
    """A label's model versions, newest first: deployed, retired, rejected or awaiting approval."""
    from ..report.models import model_detail, model_rows, render_models, version_costs
    from ..remote.stores import read_registry
    from ..state.store import HEAD

    if feedback_id is not None and version is not None:
        raise click.UsageError("--feedback-id and --version do not go together: one question at a time")
    try:
        settings, state, hub, place, job_label = _setup(config_file, env_file, label)
        _promoter(settings, state, hub).settle({label: place})
        registry = read_registry(place.store)
        costs = version_costs(registry, state.actions(label=label, kinds=("retrain",))
                              if state.schema_version() == HEAD else ())
        if feedback_id is not None:
            found = _first_trained(registry, job_label, hub, feedback_id)
            click.echo(json.dumps(found, indent=2) if as_json else found["answer"])
            return
        if version is not None:
            try:
                detail = model_detail(registry, version, dataset_place=_dataset_place(job_label), costs=costs)
            except KeyError as exc:
                raise ConfigError(f"label {label!r}: {exc.args[0]}", hint=f"`orchestrator models --label {label}`") from None
            click.echo(json.dumps(detail, indent=2, default=str) if as_json else _detail_text(detail))
            return
        emit(model_rows(registry, costs), as_json, render_models)
    except OrchestratorError as exc:
        fail(exc)


@click.command()
@CONFIG_OPTION
@ENV_FILE_OPTION
@LABEL_OPTION
@click.option("--version", "version", required=True, help="The version to deploy (see `orchestrator models`).")
@REASON_OPTION
@DRY_RUN_OPTION
def promote(config_file: Path | None, env_file: Path | None, label: str, version: str, reason: str, dry_run: bool) -> None:
    """Deploy a kept version: one awaiting approval, a rejected one, or one deployed before."""
    _move(config_file, env_file, label, version, reason, dry_run)


@click.command()
@CONFIG_OPTION
@ENV_FILE_OPTION
@LABEL_OPTION
@REASON_OPTION
@DRY_RUN_OPTION
def rollback(config_file: Path | None, env_file: Path | None, label: str, reason: str, dry_run: bool) -> None:
    """Deploy again the version that was deployed before the current one."""
    _move(config_file, env_file, label, None, reason, dry_run)


def _move(config_file: Path | None, env_file: Path | None, label: str, version: str | None, reason: str,
          dry_run: bool) -> None:
    from ..run.promote import actor

    try:
        settings, state, hub, place, _ = _setup(config_file, env_file, label)
        promoter = _promoter(settings, state, hub)
        promoter.promote(place, version, reason=reason or "no reason given", by=actor(os.environ), dry_run=dry_run)
    except OrchestratorError as exc:
        fail(exc)


def _dataset_place(label) -> str:
    return "(the label's dataset)" if label.dataset is None else _written(label.dataset)


def _written(location) -> str:
    """A store's location as the settings write it: ``hub:owner/name``, or the folder."""
    return f"hub:{location.repo}" if hasattr(location, "repo") else str(location.path)


def _first_trained(registry, label, hub, feedback_id: str) -> dict:
    """The oldest version whose dataset holds ``feedback_id`` in its train split (held-out rows are never trained on)."""
    from ..remote.stores import store_for

    if label.dataset is None:
        raise ConfigError(f"label {label.name!r} has no dataset store", hint=f"set labels.{label.name}.dataset")
    datasets = store_for(label.dataset, hub, repo_type="dataset")
    wanted = {feedback_id, f"c{feedback_id}"}  # a dataset names a complaint's row c<id>
    seen: dict[str, tuple[str, str] | None] = {}
    for entry in registry.versions:
        if entry.dataset_version not in seen:
            raw = datasets.read("feedback_ids.json", version=entry.dataset_version)
            try:
                listed = json.loads(raw) if raw else {}
                seen[entry.dataset_version] = next(
                    ((kind, split) for kind, rows in listed.items() for row_id, split in rows if str(row_id) in wanted),
                    None,
                )
            except (ValueError, TypeError, AttributeError):
                raise MetadataError(f"{datasets.describe()} feedback_ids.json of {entry.dataset_version} is malformed",
                                    hint="it is written by `orchestrator prepare`: {\"corrections\": [[id, split], ...], "
                                    "\"confirmations\": [...]}") from None
        hit = seen[entry.dataset_version]
        if hit is not None and hit[1] == "train":
            kind = "correction" if hit[0] == "corrections" else "confirmation"
            return {"feedback_id": feedback_id, "kind": kind, "version": entry.version, "dataset_version": entry.dataset_version,
                    "status": registry.status(entry.version),
                    "answer": f"feedback row {feedback_id} ({kind}) was first trained on by model version {entry.version} "
                              f"(dataset {entry.dataset_version}, now {registry.status(entry.version)})"}
    held = [version for version, hit in seen.items() if hit is not None]
    why = (f"it is in the held-out rows of dataset {held[0]}, which no model trains on" if held
           else "no kept model's dataset holds it yet")
    return {"feedback_id": feedback_id, "version": None, "answer": f"feedback row {feedback_id}: {why}"}


def _detail_text(detail: dict) -> str:
    lines = [f"{detail['version']}: {detail['status']} (macro_f1 {detail['macro_f1']}, dataset {detail['dataset_version']})",
             f"  why: {detail['reason']}", f"  parent: {detail['parent'] or 'none'}"]
    lineage = detail["lineage"]
    lines.append(f"  feedback rows: {lineage['feedback_rows']} ({lineage['feedback_ids']})")
    lines += [f"  {p['kind']} {p['from'] or 'none'} -> {p['to']} by {p['by']} at {p['at']}: {p['reason']}"
              for p in detail["promotions"]]
    return "\n".join(lines)
