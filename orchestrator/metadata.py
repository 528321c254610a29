"""The ``dataset_metadata.json`` contract, shared by the orchestrator and the prepare job.

Required (the seed's fields): ``dataset_name``, ``version_tag``, ``num_samples``, ``splits``,
``created_at``. Further fields are allowed and kept.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError, field_validator

from .errors import MetadataError


class DatasetMetadata(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    dataset_name: StrictStr
    version_tag: StrictStr = Field(min_length=1)
    num_samples: StrictInt = Field(ge=0)
    splits: dict[str, StrictInt]
    created_at: StrictStr

    @field_validator("created_at")
    @classmethod
    def _iso(cls, value: str) -> str:
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO-8601 timestamp") from None
        return value


def parse_metadata(raw: bytes | str, *, source: str) -> DatasetMetadata:
    """Validate a metadata document; :class:`MetadataError` names the source and each bad field."""
    try:
        document: Any = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MetadataError(
            f"{source} is not valid JSON ({exc.__class__.__name__}: {exc})",
            hint="check what the prepare job writes to dataset_metadata.json",
        ) from None
    if not isinstance(document, dict):
        raise MetadataError(
            f"{source} must hold a JSON object, got {type(document).__name__}",
            hint="check what the prepare job writes to dataset_metadata.json",
        )
    try:
        return DatasetMetadata.model_validate(document)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            field = ".".join(str(p) for p in error["loc"]) or "document"
            message = "is missing" if error["type"] == "missing" else error["msg"].removeprefix("Value error, ")
            problems.append(f"{field} {message}")
        raise MetadataError(
            f"{source} is malformed: " + "; ".join(problems),
            hint="required fields: dataset_name, version_tag, num_samples (integer), splits, created_at",
        ) from None
