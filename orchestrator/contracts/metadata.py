"""The ``dataset_metadata.json`` contract, shared by the orchestrator and the prepare job.

Required: what the cycle uses, as the seed's program did: ``version_tag`` (a non-empty string) and
``num_samples`` (an integer ≥ 0). The seed's other fields, ``dataset_name``, ``splits`` and
``created_at``, are optional: prepare Spaces in the wild write less (the seed's own prepare guide shows
an example without ``created_at``). A missing or mistyped optional field is a warning, never a failure.
Further fields are allowed and kept. A document larger than :data:`MAX_BYTES` is refused unread.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, StrictInt, StrictStr, ValidationError

from ..errors import MetadataError

METADATA_FILENAME = "dataset_metadata.json"  # the contract's file, at the dataset repo's root
MAX_BYTES = 1024 * 1024  # 1 MiB: a metadata file is a few hundred bytes
OPTIONAL_FIELDS = ("dataset_name", "splits", "created_at")
_HINT = "required fields: version_tag (a non-empty string) and num_samples (an integer >= 0)"


class DatasetMetadata(BaseModel):
    """A parsed ``dataset_metadata.json``: the two required fields, the seed's optional ones, and any further
    fields as they were written."""

    model_config = ConfigDict(extra="allow", frozen=True)

    version_tag: StrictStr = Field(min_length=1)
    num_samples: StrictInt = Field(ge=0)
    dataset_name: Any = None
    splits: Any = None
    created_at: Any = None
    _warnings: tuple[str, ...] = PrivateAttr(default=())

    @property
    def warnings(self) -> tuple[str, ...]:
        """What is missing or mistyped among the optional fields."""
        return self._warnings


def optional_field_problems(document: dict[str, Any]) -> list[str]:
    """What is missing or mistyped among the optional fields (for a warning)."""
    problems = []
    for name in OPTIONAL_FIELDS:
        if name not in document:
            problems.append(f"{name} is missing")
    name = document.get("dataset_name")
    if "dataset_name" in document and not isinstance(name, str):
        problems.append("dataset_name is not a string")
    splits = document.get("splits")
    if "splits" in document and not (
        isinstance(splits, dict) and all(isinstance(v, int) and not isinstance(v, bool) for v in splits.values())
    ):
        problems.append("splits is not an object of integers")
    created = document.get("created_at")
    if "created_at" in document:
        try:
            datetime.fromisoformat(str(created).replace("Z", "+00:00"))
            if not isinstance(created, str):
                raise ValueError
        except ValueError:
            problems.append(f"created_at {created!r} is not an ISO-8601 timestamp")
    return problems


def parse_metadata(raw: bytes | str, *, source: str) -> DatasetMetadata:
    """Validate a metadata document; :class:`MetadataError` names the source and each bad required field.
    The result's ``warnings`` say what is wrong with the optional fields."""
    document = json_object(raw, source=source, hint="check what the prepare job writes to dataset_metadata.json")
    try:
        metadata = DatasetMetadata.model_validate(document)
    except ValidationError as exc:
        raise MetadataError(f"{source} is malformed: " + problems_of(exc), hint=_HINT) from None
    metadata._warnings = tuple(optional_field_problems(document))
    return metadata


def json_object(raw: bytes | str, *, source: str, hint: str) -> dict[str, Any]:
    """A small JSON document that must hold an object; :class:`MetadataError` (with ``hint``) otherwise."""
    if len(raw) > MAX_BYTES:
        raise too_large(source, len(raw))
    try:
        document: Any = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MetadataError(f"{source} is not valid JSON ({exc.__class__.__name__}: {exc})", hint=hint) from None
    if not isinstance(document, dict):
        raise MetadataError(f"{source} must hold a JSON object, got {type(document).__name__}", hint=hint)
    return document


def problems_of(exc: ValidationError) -> str:
    """Each bad field of a validated document, as ``field is missing`` / ``field <why>``."""
    problems = []
    for error in exc.errors(include_url=False):
        field = ".".join(str(p) for p in error["loc"]) or "document"
        message = "is missing" if error["type"] == "missing" else error["msg"].removeprefix("Value error, ")
        problems.append(f"{field} {message}")
    return "; ".join(problems)


def too_large(source: str, size: int) -> MetadataError:
    return MetadataError(
        f"{source} is larger than {MAX_BYTES // 1024} KiB ({size} bytes or more): refusing to read it",
        hint="dataset_metadata.json holds a few fields; check what the prepare job writes there",
    )
