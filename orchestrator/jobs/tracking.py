"""Experiment tracking: each prepare and retrain logged as a run to MLflow or Weights & Biases (``[jobs.tracking]``).

A :class:`Tracker` turns what a job did into one :class:`Record` (params, metrics, tags, files), whatever the
backend, and hands it to the configured one. Each backend is behind its extra (``mlflow``: mlflow-skinny;
``wandb``) and imported only when configured, the first time something is logged.

Tracking only watches: a backend that is not installed, a store that cannot be written, a server that is down,
anything it raises, is one warning line (no traceback; secrets masked), and the job goes on with the same
decision and exit code.

    prepare  per label: the dataset version, its rows per split and per source, the population, the recipe
    retrain  the gate's settings, the recipes tried and chosen, the weight of a sampled row, seed and approval as
             params; the dataset's rows; the challenger's and the champion's scores per source and the gate's
             numbers as metrics; the decision and its reason as tags; the model file and the decision record
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from orchestrator import redact
from orchestrator.contracts.metadata import DatasetMetadata
from orchestrator.contracts.model_registry import Version

from .settings import JobLabel, JobSettings, TrackingConfig

EXTRAS = {"mlflow": "mlflow", "wandb": "wandb"}  # backend: the extra that installs it
NAMES = {"mlflow": "MLflow", "wandb": "W&B"}
MAX_WARNING = 300  # characters of a failure's message in the warning line
SOURCES = ("base", "feedback", "confirmed", "sampled")


@dataclass(frozen=True)
class Record:
    """One run, whatever the backend: what a job did for one label."""

    job: str  # "prepare" or "retrain"
    label: str
    name: str  # the run's name
    params: dict[str, Any]
    metrics: dict[str, float]
    tags: dict[str, str]
    files: dict[str, Path] = field(default_factory=dict)  # path in the run -> a local file (the model)
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)  # path in the run -> a JSON document


class Backend(Protocol):
    """Where records go: one class per tracking library."""

    def log(self, record: Record) -> str:
        """Log ``record`` as one run; returns where it went, for the log line."""
        ...


class Tracker:
    """Logs the jobs' runs to the configured backend, if any. Its methods never raise."""

    def __init__(self, settings: JobSettings, *, log: Callable[[str], None] = print) -> None:
        self.settings, self.config, self._log = settings, settings.jobs.tracking, log
        self._backend: Backend | None = None
        self._unavailable = self.config.backend is None

    def log_prepare(self, label: JobLabel, metadata: DatasetMetadata) -> None:
        """A published dataset version: its size per split and per source."""
        if not self._unavailable:
            self._send(label.name, "prepare", lambda: prepare_record(self.settings, label, metadata))

    def log_retrain(
        self, outcome: Any, kept: Version, *, dataset: DatasetMetadata, model_file: Path, approval: str, sampled_row_weight: float
    ) -> None:
        """A retrain's decision (``outcome``, a :class:`~orchestrator.jobs.retrain.Outcome`) and the version kept."""
        if not self._unavailable:
            self._send(outcome.label, "retrain", lambda: retrain_record(
                self.settings, outcome, kept, dataset=dataset, model_file=model_file, approval=approval,
                sampled_row_weight=sampled_row_weight,
            ))

    def _send(self, label: str, job: str, build: Callable[[], Record]) -> None:
        backend = self.config.backend
        try:
            with _quiet():
                if self._backend is None:
                    self._backend = _load(self.settings, self.config)
                where = self._backend.log(build())
        except ImportError as exc:
            self._unavailable = True  # one warning, however many labels
            extra = EXTRAS[backend]
            self._warn(f"experiment tracking is off: {NAMES[backend]} cannot be imported ({_one_line(exc)}); install "
                       f"it with pip install 'continuous-learning-orchestrator[{extra}]'")
        except Exception as exc:  # noqa: BLE001 - tracking only watches: it never fails a job
            self._warn(f"[{label}] experiment tracking failed, the {job} goes on ({NAMES[backend]}: "
                       f"{type(exc).__name__}: {_one_line(exc)})")
        else:
            self._log(redact.redact(f"[{label}] tracked in {where}"))

    def _warn(self, line: str) -> None:
        self._log(redact.redact(f"warning: {line}"))


def _load(settings: JobSettings, config: TrackingConfig) -> Backend:
    """The configured backend, its library imported now (an ImportError when it is not installed)."""
    if config.backend == "mlflow":
        return MlflowBackend(config, mlflow_uri(settings))
    return WandbBackend(config)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or repr(exc)
    return text if len(text) <= MAX_WARNING else text[: MAX_WARNING - 1] + "…"


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The libraries' own chatter kept off the job's output while they log: Python warnings, MLflow's and
    Alembic's info lines (a failure is still our one warning line)."""
    loggers = [logging.getLogger(name) for name in ("mlflow", "alembic")]
    levels = [logger.level for logger in loggers]
    try:
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


# ------------------------------------------------------------------------------------------------- records
def _number(value: Any) -> float | None:
    """A metric's value: a finite number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _metrics(prefix: str, values: Mapping[str, Any] | None) -> dict[str, float]:
    """``{prefix}/{key}`` for each number of ``values`` (a name kept to letters, digits and ``_.-``)."""
    found = {f"{prefix}/{_name(key)}": _number(value) for key, value in (values or {}).items()}
    return {key: value for key, value in found.items() if value is not None}


def _name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text))


def prepare_record(settings: JobSettings, job_label: JobLabel, metadata: DatasetMetadata) -> Record:
    document = metadata.model_dump()
    label, version, jobs = job_label.name, metadata.version_tag, settings.jobs
    metrics = {"dataset/rows": float(metadata.num_samples), **_metrics("dataset/split", document.get("splits")),
               **_metrics("dataset/source", document.get("sources")), **_metrics("population", document.get("population")),
               **_metrics("high_water", document.get("feedback_high_water"))}
    if _number(document.get("golden_rows")) is not None:
        metrics["dataset/golden_rows"] = float(document["golden_rows"])
    return Record(
        job="prepare", label=label, name=f"prepare {label} {version}",
        params={"dataset_version": version, "recipe": document.get("recipe", jobs.recipe),
                "max_sampled": jobs.max_sampled, "max_golden_rows": jobs.max_golden_rows, "seed": jobs.seed,
                "base_dataset": job_label.base_dataset is not None},
        metrics=metrics,
        tags={"job": "prepare", "label": label, "dataset_version": version},
        documents={"dataset_metadata.json": document},
    )


def retrain_record(
    settings: JobSettings, outcome: Any, kept: Version, *, dataset: DatasetMetadata, model_file: Path, approval: str,
    sampled_row_weight: float,
) -> Record:
    jobs = settings.jobs
    document = dataset.model_dump()
    chosen = next((c for c in outcome.candidates if c.get("recipe") == outcome.recipe), {})
    evidence = dict(outcome.evidence or {})
    params = {
        "dataset_version": outcome.dataset_version, "dataset_recipe": document.get("recipe"),
        "recipe": outcome.recipe, "recipes_tried": ", ".join(str(c.get("recipe")) for c in outcome.candidates),
        "sampled_weights": list(jobs.sampled_weights), "sampled_row_weight": round(sampled_row_weight, 4),
        "seed": jobs.seed, "approval": approval, "review_rate": jobs.review_rate, "crossfit_folds": jobs.crossfit_folds,
        **{f"gate.{key}": getattr(jobs, key) for key in (
            "min_delta", "margin", "confidence", "golden_tolerance", "min_f1", "max_negative_flips", "resamples")},
    }
    metrics = {
        **_metrics("challenger", outcome.challenger), **_metrics("champion", outcome.champion),
        **_metrics("gate", {key: value for key, value in chosen.items() if key not in ("recipe", "scores", "wins")}),
        **{f"candidate/{_name(c.get('recipe'))}/pooled": v for c in outcome.candidates
           if (v := _number((c.get("scores") or {}).get("pooled"))) is not None},
        "dataset/rows": float(dataset.num_samples), **_metrics("dataset/split", document.get("splits")),
        **_metrics("dataset/source", document.get("sources")),
        **_metrics("evaluation", {k: v for k, v in evidence.items() if k != "sources"}),
        **_metrics("evaluation/source", evidence.get("sources")),
        **_metrics("retrain", {"seconds": (kept.details or {}).get("seconds")}),
    }
    if _number(outcome.win_rate) is not None:
        metrics["gate/win_rate"] = float(outcome.win_rate)
    tags = {"job": "retrain", "label": outcome.label, "dataset_version": outcome.dataset_version,
            "model_version": kept.version, "decision": kept.verdict, "reason": outcome.reason,
            "accepted": str(bool(outcome.accepted)).lower(), "parent": kept.parent or ""}
    return Record(
        job="retrain", label=outcome.label, name=f"retrain {outcome.label} {kept.version}",
        params=params, metrics=metrics, tags=tags,
        files={f"model/{model_file.name}": model_file},
        documents={"decision.json": {**asdict(outcome), "model_version": kept.version, "decision": kept.verdict}},
    )


# ------------------------------------------------------------------------------------------------ backends
def mlflow_uri(settings: JobSettings) -> str:
    """The configured MLflow URI: ``uri``, else ``$MLFLOW_TRACKING_URI``, else the folder ``mlruns`` next to the TOML
    file. A URI is kept as is; a path is a folder, relative to the TOML file."""
    uri = settings.jobs.tracking.uri or settings.environ.get("MLFLOW_TRACKING_URI")
    if uri and _is_uri(uri):
        return uri
    base = settings.config_file.parent if settings.config_file is not None else Path.cwd()
    return str((base / (uri or "mlruns")).resolve())


def _is_uri(text: str) -> bool:
    """A URI with a scheme (``http:``, ``sqlite:``, ``file:``, ``databricks://``) or ``databricks``, not a path."""
    return text == "databricks" or re.match(r"^[A-Za-z][A-Za-z0-9+.-]+:", text) is not None


class MlflowBackend:
    """MLflow through its client (mlflow-skinny is enough). A folder holds a SQLite store (``mlflow.db``) and the
    artifacts (``artifacts/``): MLflow 3 refuses new plain-file stores unless ``MLFLOW_ALLOW_FILE_STORE`` is set."""

    def __init__(self, config: TrackingConfig, uri: str) -> None:
        for name, value in (("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2"), ("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")):
            os.environ.setdefault(name, value)  # a server that is down costs seconds, not minutes (yours win)
        from mlflow.tracking import MlflowClient  # the extra; ImportError when it is not installed

        logging.getLogger("mlflow").setLevel(logging.ERROR)  # its import set INFO: no lines about creating its tables

        redact.register_url(uri)
        for name in ("MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"):
            redact.register(os.environ.get(name))
        self.config, self.uri, self.folder = config, uri, None
        if not _is_uri(uri):
            self.folder = Path(uri)
            self.folder.mkdir(parents=True, exist_ok=True)
            self.uri = f"sqlite:///{self.folder.as_posix()}/mlflow.db"
        self.client = MlflowClient(tracking_uri=self.uri)

    def _experiment(self, label: str) -> tuple[str, str]:
        name = self.config.experiment.replace("{label}", label)
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id, name
        artifacts = (self.folder / "artifacts").resolve().as_uri() if self.folder is not None else None
        try:
            return self.client.create_experiment(name, artifact_location=artifacts), name
        except Exception:  # another job created it meanwhile
            found = self.client.get_experiment_by_name(name)
            if found is None:
                raise
            return found.experiment_id, name

    def log(self, record: Record) -> str:
        from mlflow.entities import Metric, Param

        experiment, name = self._experiment(record.label)
        run = self.client.create_run(experiment, run_name=record.name, tags=record.tags)
        run_id, status = run.info.run_id, "FAILED"
        try:
            now = int(time.time() * 1000)
            self.client.log_batch(
                run_id,
                metrics=[Metric(key, value, now, 0) for key, value in record.metrics.items()],
                params=[Param(key, _param(value)) for key, value in record.params.items()],
            )
            for path, local in record.files.items():
                folder, _, filename = path.rpartition("/")
                if local.name != filename:
                    raise ValueError(f"{path}: an artifact keeps its file's name ({local.name})")
                self.client.log_artifact(run_id, str(local), artifact_path=folder or None)
            for path, document in record.documents.items():
                self.client.log_dict(run_id, document, path)
            status = "FINISHED"
        finally:
            self.client.set_terminated(run_id, status)
        return f"MLflow: run {run_id} of experiment {name} ({self.folder or self.uri})"


def _param(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    return "" if value is None else str(value)


class WandbBackend:
    """Weights & Biases: one run per record (its params as the config, its metrics logged once, so also in the
    summary, with the decision and reason), the model as an artifact of type ``model``. ``mode``, ``project`` and
    ``entity`` as configured; W&B's own variables (``WANDB_MODE``, ``WANDB_DIR``, ``WANDB_API_KEY``) do the rest."""

    def __init__(self, config: TrackingConfig) -> None:
        import wandb  # the extra; ImportError when it is not installed

        redact.register(os.environ.get("WANDB_API_KEY"))
        self.config, self.wandb = config, wandb

    def log(self, record: Record) -> str:
        wandb = self.wandb
        # bounded: an upload that hangs must not hold the retrain (its finish would wait for ever by default)
        settings = wandb.Settings(silent=True, console="off", disable_git=True, disable_code=True, init_timeout=60,
                                  finish_timeout=120)
        with tempfile.TemporaryDirectory(prefix="tracking-") as tmp:
            run = wandb.init(
                project=self.config.project.replace("{label}", record.label), entity=self.config.entity,
                mode=self.config.mode, name=record.name, job_type=record.job, group=record.label,
                tags=[record.label, record.job, *([record.tags["decision"]] if "decision" in record.tags else [])],
                config=record.params, settings=settings,
            )
            offline = run.settings.mode == "offline"
            where = f"offline, {Path(run.dir).parent}" if offline else (run.url or "online")
            code = 1
            try:
                run.log(record.metrics)
                run.summary.update({key: value for key, value in record.tags.items() if key not in ("job", "label")})
                for path, local in record.files.items():
                    metadata = {key: record.tags.get(key) for key in ("model_version", "dataset_version", "decision")}
                    artifact = wandb.Artifact(f"{_name(record.label)}-model", type="model", metadata=metadata)
                    artifact.add_file(str(local), name=path.rpartition("/")[2])
                    run.log_artifact(artifact, aliases=[_name(record.tags.get("decision", "kept"))])
                if record.documents:
                    documents = wandb.Artifact(f"{_name(record.label)}-{record.job}", type=record.job)
                    for path, document in record.documents.items():
                        local = Path(tmp) / path
                        local.write_text(json.dumps(document, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
                        documents.add_file(str(local), name=path)
                    run.log_artifact(documents)
                code = 0
            finally:
                run.finish(exit_code=code)
        return f"W&B: run {run.id} of project {run.project} ({where})"
