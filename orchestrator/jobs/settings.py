"""The reference jobs' own settings, read by the jobs from the TOML file; the core settings know nothing of them.

    [jobs]                        what every job shares: the complaints table, the prepare recipe, the gate
    [jobs.labels.department]      per label: model, base_dataset, inference_space, predicted_in_complaints, approval
    [jobs.tracking]               experiment tracking (MLflow or Weights & Biases), off unless a backend is set

:class:`JobSettings` is the core :class:`~orchestrator.config.settings.Settings` plus these, and its labels are
the core labels plus their job fields, so a job reads ``settings.jobs.min_delta`` or ``label.model``.
Earlier versions read the per-label keys from ``[labels.NAME]`` (or ``[tables]``): the core loader hands
them over untouched, with one warning line each saying where they go now; a key in ``[jobs.labels.NAME]``
wins. Every command validates this section as it did (the command line loads it), but the core never does.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, model_validator

from orchestrator.config.fields import Flag, Frozen, Identifier, QualifiedIdentifier, RepoId
from orchestrator.config.loader import MOVED_TO_JOBS, SETTINGS_HINT, JobsHandoff, leaf_paths, load_settings
from orchestrator.config.problems import describe_problems, error_lines
from orchestrator.config.settings import LabelConfig, Location, Settings
from orchestrator.errors import ConfigError

from .gate import MAX_NEGATIVE_FLIPS


Approval = Literal["auto", "manual"]


TrackingBackend = Literal["mlflow", "wandb"]
_BACKEND_KEYS = {"mlflow": ("uri", "experiment"), "wandb": ("project", "entity", "mode")}


class TrackingConfig(Frozen):
    """Experiment tracking of prepare and retrain (TOML ``[jobs.tracking]``; see :mod:`orchestrator.jobs.tracking`).
    No backend: off. A name may hold ``{label}``; a relative ``uri`` path is relative to the TOML file."""

    backend: TrackingBackend | None = None  # "mlflow" or "wandb" (each its extra); unset: no tracking
    # MLflow: a tracking URI (http(s)://, sqlite:///, databricks...) as is, or a folder holding a SQLite store and the
    # artifacts; default: $MLFLOW_TRACKING_URI, else the folder mlruns next to the TOML file
    uri: str | None = Field(default=None, min_length=1)
    experiment: str = Field(default="orchestrator-{label}", min_length=1)  # the MLflow experiment
    # Weights & Biases: project, entity (default: the API key's), mode (default: W&B's own, $WANDB_MODE or online)
    project: str = Field(default="orchestrator-{label}", min_length=1)
    entity: str | None = Field(default=None, min_length=1)
    mode: Literal["online", "offline"] | None = None

    @model_validator(mode="after")
    def _keys_of_the_backend(self) -> TrackingConfig:
        for backend, keys in _BACKEND_KEYS.items():
            foreign = sorted(set(keys) & self.model_fields_set)
            if foreign and self.backend != backend:
                chosen = f'"{self.backend}"' if self.backend else "not set"
                raise ValueError(f'{foreign[0]} is a setting of backend = "{backend}", and backend is {chosen}')
        return self


class JobsConfig(Frozen):
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
    # base rows held out as the golden slice: 20% of the base set, up to this many (the rest trains the models)
    max_golden_rows: int = Field(default=500, ge=50)
    # retrain: the training weights tried for model-labelled rows (one candidate model each; gold rows weigh 1)
    sampled_weights: tuple[Annotated[float, Field(ge=0, le=1)], ...] = Field(default=(0.0, 0.3, 1.0), min_length=1)
    review_rate: float | None = Field(default=None, gt=0, le=1)  # share of the model's mistakes staff correct
    crossfit_folds: int = Field(default=5, ge=0, le=10)  # folds for scoring fresh rows out of fold; <2: off
    keep_challengers: Flag = False  # kept for old files: every model is now kept as a version (jobs/versions.py)
    approval: Approval = "auto"  # "manual": a model that passes the gate waits for `orchestrator promote`
    # the deploy gate (see orchestrator/jobs/gate.py)
    min_delta: float = Field(default=0.002, ge=0, le=1)  # the pooled macro-F1 gain a challenger needs
    margin: float = Field(default=0.005, ge=0, le=1)  # the loss it may risk in at most 1 - confidence of resamples
    confidence: float = Field(default=0.9, ge=0.5, le=1)
    golden_tolerance: float = Field(default=0.05, ge=0, le=1)  # largest drop allowed on the representative rows
    min_f1: float = Field(default=0.5, ge=0, le=1)  # the first model must reach this
    max_negative_flips: float = Field(default=MAX_NEGATIVE_FLIPS, ge=0, le=1)  # share of the champion's right gold answers it may break
    resamples: int = Field(default=1000, ge=100, le=100_000)  # paired bootstrap resamples
    tracking: TrackingConfig = TrackingConfig()  # [jobs.tracking]: MLflow or W&B, off by default


class JobFields(Frozen):
    """What the reference jobs need of a label (TOML ``[jobs.labels.NAME]``)."""

    model: Location | None = None  # where the retrain job deploys this label's model
    base_dataset: str | None = None  # a labelled CSV/parquet file replayed into every dataset
    inference_space: RepoId | None = None  # restarted after a deploy
    predicted_in_complaints: Identifier | None = None  # the complaints column with the model's label
    approval: Approval | None = None  # this label's; default: [jobs] approval


class JobLabel(LabelConfig, JobFields):
    """A core label plus its job fields."""


class JobSettings(Settings):
    """The core settings plus the jobs' own."""

    jobs: JobsConfig = JobsConfig()
    labels: tuple[JobLabel, ...] = Field(min_length=1)

    def label(self, name: str) -> JobLabel:
        label = super().label(name)
        assert isinstance(label, JobLabel)
        return label


_JOB_LABEL_FIELDS = tuple(JobFields.model_fields)
assert set(MOVED_TO_JOBS) <= set(_JOB_LABEL_FIELDS), "the core loader hands over keys that only the jobs know"


def load_job_settings(
    environ: Mapping[str, str],
    *,
    config_file: Path | None = None,
    env_file: Path | None = Path(".env"),
    require_env_file: bool = False,
    overrides: Mapping[str, Any] | None = None,
) -> JobSettings:
    """The core settings (:func:`orchestrator.config.loader.load_settings`, same precedence and errors), plus the
    jobs' own: the ``[jobs]`` section and the moved label keys the core loader handed over."""
    core = load_settings(
        environ, config_file=config_file, env_file=env_file, require_env_file=require_env_file, overrides=overrides
    )
    handoff: JobsHandoff = core._jobs_handoff or JobsHandoff()
    source = core.config_file
    base = source.parent if source is not None else Path.cwd()
    where = f"{source.name}: " if source is not None else ""
    section = handoff.jobs if handoff.jobs is not None else {}
    if not isinstance(section, dict):
        raise ConfigError(f"invalid configuration: {where}jobs must be a table, e.g. [jobs]", hint=SETTINGS_HINT)
    section = dict(section)
    per_label = section.pop("labels", None) or {}
    if not isinstance(per_label, dict) or not all(isinstance(v, dict) for v in per_label.values()):
        raise ConfigError(f"invalid configuration: {where}jobs.labels must hold one table per label", hint=SETTINGS_HINT)
    unknown = sorted(set(per_label) - set(core.label_names))
    if unknown:
        raise ConfigError(
            f"invalid configuration: {where}jobs.labels.{unknown[0]}: there is no label {unknown[0]!r}",
            hint=f"configured labels: {', '.join(core.label_names)}",
        )
    problems: list[str] = []
    jobs = _validate(JobsConfig, section, {path: where + ".".join(("jobs", *map(str, path))) for path in leaf_paths(section)}, problems)
    labels = []
    for label in core.labels:
        fields: dict[str, Any] = {}
        origin: dict[tuple[Any, ...], str] = {}
        for key, (value, written) in handoff.moved.get(label.name, {}).items():
            fields[key], origin[(key,)] = value, written
        for key, value in per_label.get(label.name, {}).items():  # the new place wins
            fields[key], origin[(key,)] = value, f"{where}jobs.labels.{label.name}.{key}"
        for key in ("model", "base_dataset"):  # a relative path is relative to the TOML file
            value = fields.get(key)
            if isinstance(value, str) and not value.startswith("hub:"):
                fields[key] = str(base / value)
        job_fields = _validate(JobFields, fields, origin, problems)
        if job_fields is not None:
            labels.append(JobLabel.model_validate({**dict(label), **dict(job_fields)}))
    if problems:
        raise ConfigError(describe_problems(problems), hint=SETTINGS_HINT)
    settings = JobSettings.model_validate({**dict(core), "jobs": jobs, "labels": tuple(labels)})
    settings.__pydantic_private__ = dict(core.__pydantic_private__ or {})  # origins, file, the handoff (and its deprecations)
    return settings


def _validate(model: type[Frozen], values: dict[str, Any], origin: dict[tuple[Any, ...], str], problems: list[str]):
    """``model`` from ``values``, or None with its problems added to ``problems`` (each named by ``origin``)."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        problems.extend(error_lines(exc, origin, values))
        return None
