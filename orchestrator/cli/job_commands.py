"""The reference jobs' commands: ``prepare``, ``retrain``, ``predict`` and ``demo`` (the ``ml`` extra). Each
loads its job's module only when it runs."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import ConfigError, OrchestratorError
from .common import CONFIG_OPTION, ENV_FILE_OPTION, INSTALL_ML, fail, log, settings_and_engines, settings_of


def _without_ml(what: str, exc: ImportError) -> None:
    """A job's module could not be imported: say which library is missing and how to install it."""
    fail(ConfigError(f"`orchestrator {what}` needs the ML extra ({exc.name} is not installed)", hint=INSTALL_ML))


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
        fail(ConfigError(f"`orchestrator {what}` needs the ML extra ({', '.join(missing)} not installed)", hint=INSTALL_ML))


def _split_labels(values: tuple[str, ...]) -> list[str]:
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


@click.command()
@CONFIG_OPTION
@ENV_FILE_OPTION
@click.option("--label", "labels", multiple=True, help="Label(s) to prepare (repeat, or comma-separate). Default: all.")
def prepare(config_file: Path | None, env_file: Path | None, labels: tuple[str, ...]) -> None:
    """Build and publish one versioned dataset per label from the database (the reference prepare job)."""
    try:
        from ..jobs import prepare as jobs
    except ImportError as exc:
        _without_ml("prepare", exc)
        return
    try:
        settings, engine, _ = settings_and_engines(config_file, env_file)
        chosen = [settings.label(name) for name in _split_labels(labels)] or list(settings.labels)
        jobs.prepare(settings, chosen, engine, log=log)
    except OrchestratorError as exc:
        fail(exc)


@click.command()
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

    try:
        from ..jobs import retrain as jobs
    except ImportError as exc:
        _without_ml("retrain", exc)
        return
    try:
        settings = settings_of(config_file, env_file)
        outcome = jobs.retrain(
            settings, settings.label(label), dataset_version=dataset_version, log=log
        )
    except OrchestratorError as exc:
        fail(exc)
    if as_json:
        click.echo(json.dumps(asdict(outcome), indent=2))


@click.command()
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

    try:
        from ..jobs import predict as jobs
    except ImportError as exc:
        _without_ml("predict", exc)
        return
    if input_format is None:
        input_format = "jsonl" if str(getattr(input_file, "name", "")).endswith(".jsonl") else "lines"
    try:
        settings = settings_of(config_file, env_file)
        with tempfile.TemporaryDirectory(prefix="predict-") as scratch:
            model = jobs.load_model(settings, settings.label(label), model_path, Path(scratch))
            for line in jobs.predict_input(model, input_file, input_format=input_format, scores=as_json):
                click.echo(line)
    except OrchestratorError as exc:
        fail(exc)


@click.command()
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

    try:
        from ..jobs import demo as module
    except ImportError as exc:
        _without_ml("demo", exc)
        return
    _require_ml("demo")  # before anything is written: no half-built folder
    if fresh and workdir.exists():
        shutil.rmtree(workdir)
    click.echo(f"demo folder: {workdir.resolve()}", err=True)
    try:
        module.run_demo(workdir.resolve(), rounds=rounds, size=size, log=log)
    except OrchestratorError as exc:
        fail(exc)
