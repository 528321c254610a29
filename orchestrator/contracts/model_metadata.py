"""What a seed retrain Space leaves in its model repo when it deploys, read so that its outcome is known without
any change to the Space.

The seed's retrain Spaces push the model and a metadata file to the model repo only when their gate accepts the
model, then pause themselves. Their public code writes ``model_metadata.json`` (``model_name``,
``timestamp_utc``, ``eval_metrics``, and the version under the mistyped key ``"self.version_tag"``); their docs
call it ``metadata.json`` (with ``version_tag``, ``commit_message``, ``author``, ``training_args``). Either file,
new or changed since the retrain was launched, means "deployed"; ``eval_metrics`` gives the deployed model's
metric where it is there. ``retrain_result.json`` (:mod:`.retrain_result`) wins when a retrain writes both.
"""

from __future__ import annotations

import json
import math
from typing import Any

# The files a seed retrain Space writes to its model repo on deploy, in the order they are looked for.
MODEL_FILES = ("model_metadata.json", "metadata.json")


def headline_metric(content: bytes) -> tuple[str, float] | None:
    """The metric a model metadata file gives for the deployed model: from ``eval_metrics``, the first whose
    name says F1, else accuracy, else the first number; None when the file holds none (or is not JSON)."""
    try:
        document: Any = json.loads(content)
    except (UnicodeDecodeError, ValueError):
        return None
    metrics = document.get("eval_metrics") if isinstance(document, dict) else None
    if not isinstance(metrics, dict):
        return None
    numbers = {
        str(name): float(value) for name, value in metrics.items()
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    }
    for wanted in ("f1", "accuracy", ""):
        for name, value in numbers.items():
            if wanted in name.lower():
                return name, value
    return None
