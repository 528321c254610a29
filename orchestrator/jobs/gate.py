"""The deploy gate as a pure function: two sets of scores in, a decision and its reason out.

Scores must come from the same rows for champion and challenger: a fixed, representative test set
that neither was trained on. ``golden`` is the score on the slice of that set drawn from the base
labelled data (the ``golden`` rows of a dataset version). A test split of feedback alone is mostly the
champion's own mistakes, so almost any challenger "wins" on it; the golden slice is what catches a
challenger that forgot the rest of the distribution. Without it the decision carries a warning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

NO_GOLDEN_WARNING = "warning: no golden slice, the gate cannot see regressions on the base distribution"


@dataclass(frozen=True)
class Scores:
    """Macro-F1 on the whole test split, and on its golden slice (``None`` if there is none)."""

    overall: float
    golden: float | None = None

    def __post_init__(self) -> None:
        for name, value in (("overall", self.overall), ("golden", self.golden)):
            if value is not None and not 0.0 <= value <= 1.0:  # also refuses NaN
                raise ValueError(f"{name} score must be within [0, 1], got {value}")


@dataclass(frozen=True)
class GateDecision:
    accept: bool
    reason: str


def decide(
    challenger: Scores,
    champion: Scores | None,
    *,
    min_delta: float = 0.001,
    golden_tolerance: float = 0.01,
    min_f1: float = 0.5,
    win_rate: float | None = None,
    confidence: float = 0.9,
    resampled: str = "the test rows",
) -> GateDecision:
    """Deploy ``challenger`` instead of ``champion`` (``None``: nothing is deployed yet)?

    With a champion: the challenger must beat it overall by at least ``min_delta``, must not lose more
    than ``golden_tolerance`` on the golden slice, and, when ``win_rate`` is given (the share of paired
    bootstrap resamples of the test rows in which the challenger wins, see ``evaluate.win_rate``), must
    win in at least ``confidence`` of them: a gain within the noise is no gain. Without a champion: its
    golden score (or overall score, when there is no golden slice) must reach ``min_f1``. Boundaries
    are inclusive, up to float rounding.
    """
    if champion is None:
        return _first_model(challenger, min_f1)
    decision = _against(challenger, champion, min_delta=min_delta, golden_tolerance=golden_tolerance)
    if decision.accept and win_rate is not None and not _at_least(win_rate, confidence):
        reason = decision.reason.replace("accepted: ", "rejected: ", 1)
        return GateDecision(
            False, f"{reason}; but the gain is within the noise: the challenger wins in {win_rate:.0%} of paired "
            f"resamples of {resampled}, below the required {confidence:.0%}"
        )
    if decision.accept and win_rate is not None:
        return GateDecision(True, f"{decision.reason}; wins in {win_rate:.0%} of paired resamples of {resampled}")
    return decision


def _against(challenger: Scores, champion: Scores, *, min_delta: float, golden_tolerance: float) -> GateDecision:
    no_golden = challenger.golden is None or champion.golden is None
    overall = f"overall {challenger.overall:.4f} vs champion {champion.overall:.4f}"
    wins = _at_least(challenger.overall, champion.overall + min_delta)
    if not wins:
        reason = f"rejected: {overall}, below the required gain of {min_delta:g}"
    elif no_golden:
        reason = f"accepted: {overall}, a gain of at least {min_delta:g}"
    else:
        golden = f"golden {challenger.golden:.4f} vs champion {champion.golden:.4f}"
        if _at_least(challenger.golden, champion.golden - golden_tolerance):
            reason = f"accepted: {overall}, {golden} (within the tolerance of {golden_tolerance:g})"
        else:
            wins = False
            reason = f"rejected: {overall} wins, but {golden} regresses by more than {golden_tolerance:g}"
    return GateDecision(wins, f"{reason}; {NO_GOLDEN_WARNING}" if no_golden else reason)


def _first_model(challenger: Scores, min_f1: float) -> GateDecision:
    if challenger.golden is None:
        score, what, warning = challenger.overall, "overall", f"; {NO_GOLDEN_WARNING}"
    else:
        score, what, warning = challenger.golden, "golden", ""
    accept = _at_least(score, min_f1)
    verdict = "accepted" if accept else "rejected"
    comparison = ">=" if accept else "<"
    return GateDecision(accept, f"{verdict}: no champion, {what} {score:.4f} {comparison} minimum {min_f1:g}{warning}")


def _at_least(value: float, bound: float) -> bool:
    """``value >= bound``, counting a difference of float rounding (1e-9) as equal."""
    return value >= bound or math.isclose(value, bound, rel_tol=0.0, abs_tol=1e-9)
