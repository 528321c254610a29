"""The reference prepare job: one new dataset version per label, built from the database and published.

Each version holds every correction and confirmation (gold labels), unflagged complaints with the
deployed model's label (all of them up to ``max_sampled`` with the ``traffic`` recipe, the default; the
label's ``sample_ratio`` per correction with the seed's recipe), and, when configured, the base labelled
dataset replayed in full so that a model trained on it does not forget the rest of the distribution.
With a base dataset and no feedback yet it still produces a dataset, so that a first model can be
trained. The metadata records how many unflagged complaints there were (``population``), so that the
retrain job can weigh the sampled rows as the traffic they stand for.
"""

from __future__ import annotations

import itertools
import os
import json
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy import Engine

from orchestrator.contracts.metadata import METADATA_FILENAME, DatasetMetadata
from orchestrator.errors import ConfigError
from orchestrator.remote.feedback import count_corrections
from orchestrator.remote.hub import Hub

from .dataset import split_path, write_dataset
from .rows import feedback_population, iter_base_rows, iter_feedback_rows
from .settings import JobLabel, JobSettings
from .splits import SPLITS
from .storage import Store, label_store
from .tracking import Tracker

DATASET_FILES = [METADATA_FILENAME, "README.md", *(split_path(split) for split in SPLITS)]


def dataset_store(label: JobLabel, hub: Hub) -> Store:
    return label_store(label, "dataset", hub)


def previous_label_map(store: Store) -> list[str] | None:
    """The class list of the newest published version, so class ids stay stable across versions."""
    raw = store.read(METADATA_FILENAME)
    if raw is None:
        return None
    try:
        label_map = json.loads(raw).get("label_map")
    except (ValueError, AttributeError):
        return None
    return [str(name) for name in label_map] if isinstance(label_map, list) else None


def prepare(
    settings: JobSettings,
    labels: Sequence[JobLabel],
    engine: Engine,
    *,
    log: Callable[[str], None] = print,
    hub: Hub | None = None,
) -> list[DatasetMetadata]:
    """Build and publish one dataset version for each of ``labels``; returns their metadata. ``hub`` is the
    job's Hub client (default: one built from the settings)."""
    jobs = settings.jobs
    hub = hub or Hub(settings.hub)
    stores = {label.name: dataset_store(label, hub) for label in labels}  # every location checked first
    counts = count_corrections(engine, labels)
    tracker = Tracker(settings, log=log)  # off unless [jobs.tracking] names a backend; never fails the job
    published = []
    for label in labels:
        store = stores[label.name]
        tables = {
            "complaints_table": jobs.complaints_table,
            "id_column": jobs.id_column,
            "text_column": jobs.text_column,
            "feedback_key": jobs.feedback_key,
            "predicted_in_complaints": label.predicted_in_complaints,
        }
        population = feedback_population(engine, label, **tables)
        rows = iter_feedback_rows(engine, label, **tables, recipe=jobs.recipe, max_sampled=jobs.max_sampled, seed=jobs.seed)
        if label.base_dataset:
            rows = itertools.chain(rows, iter_base_rows(Path(label.base_dataset), label=label.name))
        with tempfile.TemporaryDirectory(prefix=f"prepare-{label.name}-") as tmp:
            try:
                metadata = write_dataset(
                    Path(tmp),
                    rows,
                    dataset_name=f"{label.name} ({store.describe()})",
                    label=label.name,
                    label_map=previous_label_map(store),
                    high_water={"corrections": counts[label.name]},
                    extra={"recipe": jobs.recipe, "population": population,
                           "lineage": {"prepare_key": os.environ.get("ORCHESTRATOR_KEY")}},
                    max_golden_rows=jobs.max_golden_rows,
                )
            except (FileNotFoundError, ValueError) as exc:
                raise ConfigError(f"label {label.name}: {exc}", hint=f"check jobs.labels.{label.name}.base_dataset") from None
            store.publish(
                Path(tmp), tag=metadata.version_tag, message=f"{label.name} dataset {metadata.version_tag}", last=METADATA_FILENAME
            )
        extra = metadata.model_extra or {}
        log(
            f"[{label.name}] published dataset {metadata.version_tag} to {store.describe()}: "
            f"{metadata.num_samples} rows {dict(metadata.splits)}, sources {extra.get('sources')}, "
            f"golden {extra.get('golden_rows')}"
        )
        tracker.log_prepare(label, metadata)
        published.append(metadata)
    return published
