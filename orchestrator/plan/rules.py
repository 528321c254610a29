"""Decisions as pure functions: (counts, thresholds, remembered state) in, a plan out. No I/O here."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import floor

from ..config.settings import LabelConfig


def dataset_len(corrections: int, ratio: float) -> int:
    """Rows a dataset built from ``corrections`` will have: the corrections plus sampled correct rows.

    ``corrections + floor(corrections × ratio)``, computed exactly (no float rounding surprises).
    """
    if corrections < 0:
        raise ValueError("corrections must not be negative")
    return corrections + floor(corrections * Fraction(str(ratio)))


@dataclass(frozen=True)
class Decision:
    label: str
    corrections: int  # all corrections in the database now
    counted: int  # the corrections this decision counts (all of them, or those since the last prepare)
    dataset_len: int  # dataset_len(counted): compared with the threshold
    required: int  # num_samples the new dataset must reach: dataset_len of all corrections
    threshold: int
    fire: bool
    reason: str


def decide(label: LabelConfig, corrections: int, *, since: int = 0) -> Decision:
    """Should ``label`` trigger dataset preparation?

    ``since`` is the correction count when the label was last prepared; only corrections beyond it
    count towards the threshold (0 counts everything, the seed's cumulative rule).
    """
    counted = max(corrections - since, 0)
    size = dataset_len(counted, label.sample_ratio)
    fire = size >= label.threshold
    scope = "new " if since else ""
    reason = (
        f"dataset_len {size} >= threshold {label.threshold} ({counted} {scope}corrections)"
        if fire
        else f"dataset_len {size} < threshold {label.threshold} ({counted} {scope}corrections)"
    )
    return Decision(
        label=label.name,
        corrections=corrections,
        counted=counted,
        dataset_len=size,
        required=dataset_len(corrections, label.sample_ratio),
        threshold=label.threshold,
        fire=fire,
        reason=reason,
    )


def has_arrived(*, baseline: str | None, version_tag: str, num_samples: int, required: int) -> bool:
    """A new dataset is ready when its version changed since the baseline and it is big enough."""
    return version_tag != baseline and num_samples >= required
