"""The reference predict job: one label per input line, or JSON Lines with scores."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from orchestrator.config import LabelConfig, Settings
from orchestrator.errors import ConfigError

from .model import Model, load
from .retrain import MODEL_FILE, deployed_model, model_store

BATCH = 512


def load_model(settings: Settings, label: LabelConfig, path: Path | None, scratch: Path) -> Model:
    """``path`` if given, else the deployed model of ``label``."""
    if path is not None:
        return load(path)
    model = deployed_model(model_store(settings, label), scratch)
    if model is None:
        raise ConfigError(
            f"no model is deployed for label {label.name!r} yet",
            hint=f"run `orchestrator retrain --label {label.name}` first, or pass --model PATH ({MODEL_FILE})",
        )
    return model


def predict_lines(model: Model, lines: Iterable[str], *, scores: bool) -> Iterator[str]:
    """Predict in batches; blank input lines give blank output lines, so the lines stay aligned."""
    batch: list[str] = []

    def flush() -> Iterator[str]:
        texts = [text for text in batch if text.strip()]
        labels = iter(model.predict(texts) if texts else [])
        probabilities = iter(model.predict_scores(texts) if scores and texts else [])
        for text in batch:
            if not text.strip():
                yield ""
            elif scores:
                yield json.dumps({"text": text, "label": next(labels), "scores": next(probabilities)}, ensure_ascii=False)
            else:
                yield next(labels)
        batch.clear()

    for line in lines:
        batch.append(line.rstrip("\n"))
        if len(batch) >= BATCH:
            yield from flush()
    yield from flush()
