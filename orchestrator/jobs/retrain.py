"""The reference retrain job: train a challenger on one dataset version, compare it with the deployed
champion on the same test rows, and deploy it only if it is really better.

"Better" is :func:`orchestrator.jobs.gate.decide`: a gain of at least ``min_delta`` in macro-F1 on the
whole test split, and no loss beyond ``golden_tolerance`` on the golden slice (the base rows of the test
split, representative and never trained on). Every decision, accepted or rejected, is written to the
model location's ``decisions/`` and printed; a deploy publishes ``model.skops`` and ``metadata.json``
and restarts the inference Space, if one is configured.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from orchestrator.config import METADATA_FILENAME, LabelConfig, Settings
from orchestrator.errors import ConfigError
from orchestrator.hub import Hub
from orchestrator.metadata import parse_metadata

from . import gate
from .dataset import read_split
from .evaluate import win_rate
from .model import Model, load, macro_f1_of, save, train
from .prepare import DATASET_FILES, dataset_store
from .storage import Store, label_store

MODEL_FILE = "model.skops"
MODEL_METADATA = "metadata.json"


@dataclass(frozen=True)
class Outcome:
    label: str
    dataset_version: str
    accepted: bool
    reason: str
    challenger: dict[str, float | None]
    champion: dict[str, float | None] | None
    win_rate: float | None  # share of paired bootstrap resamples the challenger won
    decided_at: str


def model_store(settings: Settings, label: LabelConfig) -> Store:
    return label_store(settings, label, "model")


def deployed_model(store: Store, scratch: Path) -> Model | None:
    """The champion, if one is deployed (loaded with skops, type allowlist enforced)."""
    if store.read(MODEL_METADATA) is None:
        return None
    folder = store.fetch([MODEL_FILE], version=None, into=scratch)
    return load(folder / MODEL_FILE)


def scores(predicted: list[str], labels: list[str], golden: list[bool]) -> gate.Scores:
    """Macro-F1 of ``predicted`` on all test rows and on their golden slice."""
    golden_predicted = [p for p, g in zip(predicted, golden) if g]
    golden_labels = [y for y, g in zip(labels, golden) if g]
    return gate.Scores(
        overall=macro_f1_of(labels, predicted),
        golden=macro_f1_of(golden_labels, golden_predicted) if golden_labels else None,
    )


def retrain(
    settings: Settings, label: LabelConfig, *, dataset_version: str | None = None, log: Callable[[str], None] = print
) -> Outcome:
    """Train, evaluate against the champion, and deploy if the gate accepts. Returns the decision."""
    jobs = settings.jobs
    datasets, models = dataset_store(settings, label), model_store(settings, label)
    with tempfile.TemporaryDirectory(prefix=f"retrain-{label.name}-") as tmp:
        scratch = Path(tmp)
        folder = datasets.fetch(DATASET_FILES, version=dataset_version, into=scratch / "dataset")
        metadata = parse_metadata((folder / METADATA_FILENAME).read_bytes(), source=f"{datasets.describe()} metadata")
        version = metadata.version_tag
        train_texts, train_labels, _ = read_split(folder, "train")
        test_texts, test_labels, golden = read_split(folder, "test")
        if not test_texts:
            raise ConfigError(f"dataset {version} has an empty test split", hint="the dataset is too small to evaluate on")
        log(f"[{label.name}] training on dataset {version}: {len(train_texts)} train rows, {len(test_texts)} test rows "
            f"({sum(golden)} golden)")
        challenger = train(train_texts, train_labels, seed=jobs.seed)
        champion = deployed_model(models, scratch / "champion")
        challenger_predicted = challenger.predict(test_texts)
        challenger_scores = scores(challenger_predicted, test_labels, golden)
        champion_scores, wins, resampled = None, None, "the test rows"
        if champion is not None:  # both models on the very same test rows
            champion_predicted = champion.predict(test_texts)
            champion_scores = scores(champion_predicted, test_labels, golden)
            # "Really better" is judged where the judgement is unbiased: on the golden slice (representative,
            # never trained on) when there is one. The rest of the test split is mostly the champion's own
            # mistakes, where almost any challenger wins.
            rows = [i for i, g in enumerate(golden) if g] or list(range(len(test_labels)))
            resampled = "the golden slice" if any(golden) else "the test rows"
            wins = win_rate(
                [test_labels[i] for i in rows],
                [champion_predicted[i] for i in rows],
                [challenger_predicted[i] for i in rows],
                resamples=jobs.resamples,
                seed=jobs.seed,
            )
        decision = gate.decide(
            challenger_scores,
            champion_scores,
            min_delta=jobs.min_delta,
            golden_tolerance=jobs.golden_tolerance,
            min_f1=jobs.min_f1,
            win_rate=wins,
            confidence=jobs.confidence,
            resampled=resampled,
        )
        outcome = Outcome(
            label=label.name,
            dataset_version=version,
            accepted=decision.accept,
            reason=decision.reason,
            challenger=asdict(challenger_scores),
            champion=asdict(champion_scores) if champion_scores else None,
            win_rate=wins,
            decided_at=datetime.now(timezone.utc).isoformat(timespec="microseconds"),
        )
        record = scratch / "record"
        stamp = outcome.decided_at.replace(":", "").replace("-", "")
        _write_json(record / "decisions" / f"{stamp}_{version}.json", asdict(outcome))
        if decision.accept:
            save(challenger, record / MODEL_FILE)
            _write_json(record / MODEL_METADATA, {**asdict(outcome), "decision": "deployed", "metric": "macro_f1"})
            models.publish(record, tag=f"model-{version}", message=f"deploy {label.name} model on {version}", last=MODEL_METADATA)
        else:
            models.publish(record, tag=f"rejected-{version}", message=f"reject {label.name} model on {version}", last="")
    log(f"[{label.name}] {'DEPLOYED' if decision.accept else 'NOT deployed'} ({version}): {decision.reason}")
    if decision.accept and label.inference_space:
        stage = Hub(settings.hub).restart_space(label.inference_space)
        log(f"[{label.name}] inference Space {label.inference_space} restarted (stage {stage})")
    return outcome


def _write_json(path: Path, document: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
