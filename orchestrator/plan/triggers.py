"""The triggers beyond a count, as pure functions: an error rate significantly above a label's ``error_rate``
(an exact one-sided binomial test), and a last prepare older than its ``max_age``. No I/O here.

:func:`orchestrator.plan.rules.decide` asks each trigger a label has, and fires when any of them does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from math import exp, lgamma, log
from typing import Literal

from ..config.fields import duration_text
from ..config.settings import LabelConfig

Trigger = Literal["count", "error_rate", "max_age"]
SIGNIFICANCE = 0.05  # error_rate fires when P[X >= corrections] under the configured rate is below this (95%)


@dataclass(frozen=True)
class TriggerCheck:
    """One trigger's verdict on a label's feedback: does it fire, and why, in a few words."""

    trigger: Trigger
    fire: bool
    reason: str


def binomial_tail(k: int, n: int, p: float) -> float:
    """``P[X >= k]`` for ``X ~ Binomial(n, p)``, exactly (to float precision): the one-sided p-value of ``k``
    successes in ``n`` trials against a success rate of ``p``.

    The terms are summed from ``k`` away from the distribution's mode, where they shrink geometrically, each
    from the one before (``t(i+1) = t(i) · (n-i)/(i+1) · p/(1-p)``), until they no longer change the sum; the
    first term comes from ``lgamma``, so nothing overflows for any ``n``. Below the mean it is one minus the
    other tail, summed the same way (the answer is then near or above a half: no precision is lost)."""
    if not 0 < p < 1:
        raise ValueError(f"p must be strictly between 0 and 1, got {p}")
    if n < 0:
        raise ValueError("n must not be negative")
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    odds = p / (1 - p)

    def log_term(i: int) -> float:
        return lgamma(n + 1) - lgamma(i + 1) - lgamma(n - i + 1) + i * log(p) + (n - i) * log(1 - p)

    if k > n * p:  # the upper tail, from k up
        total, term = 0.0, 1.0  # relative to the term at k
        for i in range(k, n + 1):
            total += term
            term *= (n - i) / (i + 1) * odds
            if term < total * 1e-17:
                break
        return min(1.0, exp(log_term(k) + log(total)))
    total, term = 0.0, 1.0  # the lower tail P[X <= k-1], from k-1 down, relative to the term at k-1
    for i in range(k - 1, -1, -1):
        total += term
        term *= i / (n - i + 1) / odds
        if term < total * 1e-17:
            break
    return max(0.0, 1.0 - exp(log_term(k - 1) + log(total)))


def p_text(p: float) -> str:
    return "p<0.001" if p < 0.001 else f"p={p:.3f}"


def error_rate_check(label: LabelConfig, corrections: int, reviewed: int, *, since_prepare: bool) -> TriggerCheck:
    """``error_rate``: among the ``reviewed`` rows (since the last prepare, or all of them), are the label's
    ``corrections`` significantly more than its configured share? A one-sided exact binomial test at 95%, once at
    least ``min_reviewed`` rows were reviewed."""
    assert label.error_rate is not None and label.min_reviewed is not None
    reviewed = max(reviewed, 0)
    corrections = min(max(corrections, 0), reviewed)  # (rows deleted since the last prepare can skew the two)
    scope = " since the last prepare" if since_prepare else ""
    if reviewed < label.min_reviewed:
        return TriggerCheck("error_rate", False, f"{reviewed} rows reviewed{scope} < min_reviewed {label.min_reviewed} "
                                                 f"for error_rate {label.error_rate:g}")
    p = binomial_tail(corrections, reviewed, label.error_rate)
    rate = f"error rate {corrections / reviewed:.3f} ({corrections} corrections in {reviewed} reviewed{scope})"
    if p < SIGNIFICANCE:
        return TriggerCheck("error_rate", True, f"{rate} > {label.error_rate:g}, {p_text(p)}")
    return TriggerCheck("error_rate", False, f"{rate} not significantly > {label.error_rate:g}, {p_text(p)}")


def max_age_check(label: LabelConfig, new: int, since: datetime | None, now: datetime | None, *, prepared: bool) -> TriggerCheck:
    """``max_age``: is the last prepare (before the first one: the time a run first saw the label) older than
    ``max_age``, with at least one correction ``new`` since? Unknown until a real run has seen the label."""
    assert label.max_age is not None
    limit = duration_text(label.max_age)
    if since is None or now is None:
        return TriggerCheck("max_age", False, f"max_age {limit} counts from the first run that sees the label")
    age = max((now - since).total_seconds(), 0.0)
    what = "last prepare" if prepared else "no prepare yet, first seen"
    if age <= label.max_age:
        return TriggerCheck("max_age", False, f"{what} {duration_text(age)} ago <= max_age {limit}")
    if new <= 0:
        return TriggerCheck("max_age", False, f"{what} {duration_text(age)} ago > max_age {limit}, but no new corrections")
    return TriggerCheck("max_age", True, f"{what} {duration_text(age)} ago > max_age {limit}, "
                                         f"{new} new correction{'' if new == 1 else 's'}")
