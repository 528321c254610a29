"""The retrain result contract: what a retrain job publishes so that the orchestrator learns how it ended.

A retrain job (the reference one, or any third-party retrain Space or job) writes ``retrain_result.json``
where the label's ``result`` setting points (by default beside its model: ``hub:owner/model`` means that
model repo's ``retrain_result.json`` on ``main``), after every decision::

    {
      "dataset_version": "v12",              required: the dataset version this retrain trained on
      "decision": "deployed",                required: "deployed", "rejected", "failed" or "awaiting_approval"
      "reason": "gain +0.021, won 97% ...",  optional: why, in one line
      "metrics": {"macro_f1": 0.8123},       optional: numbers describing the model deployed after the decision
      "metric": "macro_f1",                  optional: the headline one among them (default: the first)
      "decided_at": "2026-12-01T10:00:00Z",  optional
      "model_version": "v12"                 optional: the kept model version it made (orchestrator promote's --version)
    }

``awaiting_approval``: the model passed the gate but waits for a person (``approval = "manual"``) to promote it.

Only a document for the awaited ``dataset_version`` settles a retrain; an older one is a previous
decision. A metric is a finite JSON number: ``true`` or ``"0.81"`` makes the document malformed, like any
other malformed document, rather than a score. Further fields are allowed and kept out of the way.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from ..errors import MetadataError
from .metadata import json_object, problems_of

RESULT_FILENAME = "retrain_result.json"
Decision = Literal["deployed", "rejected", "failed", "awaiting_approval"]
_HINT = "check what the retrain job writes to retrain_result.json (see docs/contracts.md)"


def _number(value: object) -> object:
    """Refuse what pydantic would turn into a float but is no number: true (1.0), a string ("0.8")."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        shown = {list: "an array", dict: "an object"}.get(type(value)) or json.dumps(value)[:40]
        raise ValueError(f"must be a number, not {shown}")
    return value


Metric = Annotated[float, BeforeValidator(_number)]


class _Document(BaseModel):
    """``retrain_result.json`` as written; :class:`RetrainResult` is what the orchestrator keeps of it."""

    model_config = ConfigDict(extra="ignore")

    dataset_version: str = Field(min_length=1)
    decision: Decision
    reason: str | None = None
    metrics: dict[str, Metric] = Field(default_factory=dict)
    metric: str | None = None
    model_version: str | None = None

    @field_validator("metrics")
    @classmethod
    def _finite(cls, value: dict[str, float]) -> dict[str, float]:
        bad = [name for name, number in value.items() if not math.isfinite(number)]
        if bad:
            raise ValueError(f"must be finite numbers ({', '.join(bad)} is not)")
        return value


@dataclass(frozen=True)
class RetrainResult:
    dataset_version: str
    decision: Decision
    reason: str | None
    metric_name: str | None
    metric: float | None
    model_version: str | None = None


def parse_result(raw: bytes | str, *, source: str) -> RetrainResult:
    """Validate a result document; :class:`MetadataError` names the source and each bad field."""
    document: Any = json_object(raw, source=source, hint=_HINT)
    try:
        parsed = _Document.model_validate(document)
    except ValidationError as exc:
        raise MetadataError(f"{source} is malformed: " + problems_of(exc), hint=_HINT) from None
    name = parsed.metric or next(iter(parsed.metrics), None)
    if name is not None and name not in parsed.metrics:
        raise MetadataError(f"{source} is malformed: metric {name!r} is not one of its metrics", hint=_HINT)
    return RetrainResult(
        dataset_version=parsed.dataset_version,
        decision=parsed.decision,
        reason=parsed.reason,
        metric_name=name,
        metric=parsed.metrics.get(name) if name else None,
        model_version=parsed.model_version,
    )
