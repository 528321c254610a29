"""The deploy gate as a pure function: a paired comparison in, a decision and its reason out.

A challenger replaces the champion only if all of these hold, on rows neither was trained on
(:mod:`orchestrator.jobs.evaluate`):

1. **A gain.** Its macro-F1 on the pooled evaluation rows (the golden slice plus the traffic as the
   corrections reconstruct it) beats the champion's by at least ``min_delta``;
2. **no real risk of a regression.** In at most ``1 − confidence`` of the paired bootstrap resamples
   does it lose more than ``margin``: a non-inferiority test whose power grows with the evaluation rows,
   so that a small gain on much evidence is deployed and the same gain on little evidence is not;
3. **no regression where the data is representative.** On the golden slice it is not significantly
   worse (an exact sign test on the rows where the two models differ, at ``1 − confidence``), and its
   macro-F1 there drops by at most ``golden_tolerance``;
4. **few negative flips.** Of the gold rows the champion gets right (golden slice, corrections and
   confirmations), the share the challenger gets wrong is not significantly above ``max_negative_flips``
   (a one-sided exact binomial test at ``1 − confidence``). Aggregate metrics can rise while a model breaks
   answers its users relied on (Yan et al., *Positive-Congruent Training*, CVPR 2021); this bounds that.

The first model (no champion yet) must reach ``min_f1`` on the golden slice, or on the pooled rows
when there is no golden slice. Every reason carries the numbers it was decided on.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import exp, lgamma, log
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the gate itself needs no numpy: it reads a comparison's numbers
    from .evaluate import Comparison

NO_GOLDEN_WARNING = "warning: no golden slice, the gate cannot see regressions on the base distribution"
MAX_NEGATIVE_FLIPS = 0.10  # the default bound on negative flips (docs/learning-loop.md says why)


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), exact (summed in log space)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p <= 0:
        return 0.0
    if p >= 1:
        return 1.0
    terms = (lgamma(n + 1) - lgamma(i + 1) - lgamma(n - i + 1) + i * log(p) + (n - i) * log(1 - p) for i in range(k, n + 1))
    return min(1.0, sum(exp(t) for t in terms))


@dataclass(frozen=True)
class GateDecision:
    accept: bool
    reason: str


def decide(
    comparison: Comparison | None,
    *,
    first_score: float | None = None,
    first_on: str = "golden",
    min_delta: float = 0.002,
    confidence: float = 0.9,
    golden_tolerance: float = 0.05,
    min_f1: float = 0.5,
    max_negative_flips: float = MAX_NEGATIVE_FLIPS,
) -> GateDecision:
    """Deploy the challenger? ``comparison`` is challenger vs champion (``None``: nothing is deployed
    yet, and ``first_score`` is the challenger's macro-F1 on the ``first_on`` rows)."""
    if comparison is None:
        if first_score is None:
            raise ValueError("without a champion, the gate needs the challenger's first_score")
        return _first_model(first_score, first_on, min_f1)
    c = comparison
    gain = (
        f"pooled macro-F1 {c.delta:+.4f} on {c.rows} rows, wins {c.wins:.0%} of resamples, "
        f"loses more than {c.margin:g} in {c.risk:.0%}"
    )
    if c.representative_delta is None:
        golden = NO_GOLDEN_WARNING
    else:
        golden = (
            f"golden {c.representative_delta:+.4f} on {c.representative_rows} rows, "
            f"{c.representative_lost} lost and {c.representative_won} won (sign test p={c.representative_p:.2f})"
        )
    flip_p = binomial_tail(c.flips, c.flip_rows, max_negative_flips)
    flips = (
        f"negative flips {c.flips} of {c.flip_rows} gold rows the champion got right "
        f"({c.flips / c.flip_rows if c.flip_rows else 0:.1%}, p={flip_p:.2f} against {max_negative_flips:g})"
    )
    numbers = f"{gain}; {golden}; {flips}"
    if c.delta < min_delta - 1e-12:
        return GateDecision(False, f"rejected: gain below the required {min_delta:g} ({numbers})")
    if c.risk > 1 - confidence + 1e-12:
        return GateDecision(
            False, f"rejected: the evidence is too thin, a loss beyond {c.margin:g} in more than {1 - confidence:.0%} of resamples ({numbers})"
        )
    if c.representative_delta is not None:
        assert c.representative_p is not None
        if c.representative_delta < 0 and c.representative_p <= 1 - confidence + 1e-12:
            return GateDecision(
                False, f"rejected: significantly worse on the representative rows (p <= {1 - confidence:.2g}) ({numbers})"
            )
        if c.representative_delta < -golden_tolerance - 1e-12:
            return GateDecision(
                False, f"rejected: the representative rows drop by more than {golden_tolerance:g} ({numbers})"
            )
    if flip_p <= 1 - confidence + 1e-12:
        return GateDecision(
            False, f"rejected: it breaks significantly more than {max_negative_flips:.0%} of the answers the champion got right ({numbers})"
        )
    return GateDecision(True, f"accepted: {numbers}")


def _first_model(score: float, on: str, min_f1: float) -> GateDecision:
    warning = f"; {NO_GOLDEN_WARNING}" if on != "golden" else ""
    if score >= min_f1 - 1e-9:
        return GateDecision(True, f"accepted: no champion, {on} macro-F1 {score:.4f} >= minimum {min_f1:g}{warning}")
    return GateDecision(False, f"rejected: no champion, {on} macro-F1 {score:.4f} < minimum {min_f1:g}{warning}")
