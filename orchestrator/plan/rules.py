"""Decisions as pure functions: (counts, thresholds, remembered state) in, a plan out. No I/O here.

The count rule lives here; the triggers beyond a count (``error_rate``, ``max_age``) in
:mod:`orchestrator.plan.triggers`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from math import floor

from ..config.settings import LabelConfig
from .triggers import Trigger, TriggerCheck, error_rate_check, max_age_check


def dataset_len(corrections: int, ratio: float) -> int:
    """Rows a dataset built from ``corrections`` will have: the corrections plus sampled correct rows.

    ``corrections + floor(corrections × ratio)``, computed exactly (no float rounding surprises).
    """
    if corrections < 0:
        raise ValueError("corrections must not be negative")
    return corrections + floor(corrections * Fraction(str(ratio)))


@dataclass(frozen=True)
class Baseline:
    """Where a label's new feedback starts: its counts and time at its last prepare, as the planner reads them
    from the label's state."""

    corrections: int = 0  # the threshold counts corrections beyond this (0: every one, the seed's rule)
    rate: tuple[int, int] | None = None  # error_rate's: (corrections, reviewed rows) at the last prepare; None: all
    cursor: int = 0  # corrections at the last prepare, in every mode: max_age needs one beyond it
    at: datetime | None = None  # the last prepare; before the first, when a run first saw the label
    prepared: bool = False  # ``at`` is a prepare's time (else the label's first sight)
    rate_unknown: bool = False  # prepared before the reviewed rows were remembered: error_rate waits for the next


@dataclass(frozen=True)
class Decision:
    label: str
    corrections: int  # all corrections in the database now
    counted: int  # the corrections this decision counts (all of them, or those since the last prepare)
    dataset_len: int  # dataset_len(counted): compared with the threshold
    required: int  # num_samples the new dataset must reach: dataset_len of all corrections
    threshold: int
    fire: bool
    reason: str  # the firing triggers' reasons; when none fires, every trigger's
    reviewed: int = 0  # all rows reviewed in the label's table now
    trigger: tuple[Trigger, ...] = ()  # the triggers that fire: count, error_rate, max_age
    checks: tuple[TriggerCheck, ...] = ()  # every trigger of the label, in that order, with its verdict


def decide(
    label: LabelConfig, corrections: int, *, since: int = 0, reviewed: int = 0, baseline: Baseline | None = None,
    now: datetime | None = None,
) -> Decision:
    """Should ``label`` trigger dataset preparation? Yes when any of its triggers fires.

    ``count`` (every label's): ``dataset_len`` of the corrections beyond ``since`` (the correction count when the
    label was last prepared; 0 counts everything, the seed's rule) reaches the threshold. ``error_rate`` and
    ``max_age``, when configured, are asked too (:mod:`orchestrator.plan.triggers`), with ``reviewed`` (the rows
    reviewed in the label's table now), the ``baseline`` of the last prepare (``since`` alone, without one) and
    ``now``.
    """
    baseline = baseline if baseline is not None else Baseline(corrections=since, cursor=since)
    counted = max(corrections - baseline.corrections, 0)
    size = dataset_len(counted, label.sample_ratio)
    scope = "new " if baseline.corrections else ""
    relation = ">=" if size >= label.threshold else "<"
    checks = [TriggerCheck("count", size >= label.threshold,
                           f"dataset_len {size} {relation} threshold {label.threshold} ({counted} {scope}corrections)")]
    if label.error_rate is not None and baseline.rate_unknown:
        checks.append(TriggerCheck("error_rate", False, "error_rate waits for the next prepare: the rows reviewed at "
                                   "the last one were not recorded (it ran before this version)"))
    elif label.error_rate is not None:
        was_corrections, was_reviewed = baseline.rate or (0, 0)
        checks.append(error_rate_check(label, corrections - was_corrections, reviewed - was_reviewed,
                                       since_prepare=baseline.rate is not None))
    if label.max_age is not None:
        checks.append(max_age_check(label, corrections - baseline.cursor, baseline.at, now, prepared=baseline.prepared))
    firing = [check for check in checks if check.fire]
    return Decision(
        label=label.name,
        corrections=corrections,
        counted=counted,
        dataset_len=size,
        required=dataset_len(corrections, label.sample_ratio),
        threshold=label.threshold,
        fire=bool(firing),
        reason="; ".join(check.reason for check in firing or checks),
        reviewed=reviewed,
        trigger=tuple(check.trigger for check in firing),
        checks=tuple(checks),
    )


def has_arrived(*, baseline: str | None, version_tag: str, num_samples: int, required: int) -> bool:
    """A new dataset is ready when its version changed since the baseline and it is big enough."""
    return version_tag != baseline and num_samples >= required
