"""Scoring two models on rows neither was trained on, and how sure we are that one is better.

The rows are :class:`orchestrator.jobs.evaluation_rows.Rows`; the unreviewed mistakes each correction stands for,
:mod:`orchestrator.jobs.hidden`. Macro-F1 is computed on the confusion matrix of the traffic reconstructed from them.

**The comparison.** A paired bootstrap resamples the rows (the same resample for both models, golden
and traffic rows resampled separately) and gives the share of resamples the challenger wins, and the
share in which it loses more than a margin, on the pooled rows. On the golden slice, which is small,
an exact sign test on the rows where the two models differ says whether the challenger is worse there.
**Negative flips.** The gold rows the champion gets right and the challenger gets wrong (Yan et al.,
*Positive-Congruent Training*, CVPR 2021) are counted on the golden slice, the corrections and the
confirmations: a challenger can gain macro-F1 while breaking answers users relied on, and the gate bounds
that rate (:mod:`orchestrator.jobs.gate`). Everything here is numpy on integer-coded labels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from math import comb

import numpy as np

from .evaluation_rows import GOLD_SOURCES, Rows
from .hidden import Hidden


@dataclass(frozen=True)
class Encoded:
    """Rows as integer arrays, with the correction twins as extra entries."""

    classes: tuple[str, ...]
    row: np.ndarray  # entry -> evaluation row
    truth: np.ndarray  # entry -> class index
    weight: np.ndarray  # entry -> weight (a twin's is per hidden mistake: it is scaled by ``hidden``)
    twin: np.ndarray  # entry -> is a hidden twin of a correction (negative on the served label)
    golden: np.ndarray  # row -> is a base row: the representative part
    gold: np.ndarray  # row -> has a gold label (base, correction, confirmation): where flips are counted
    hidden: Hidden


def encode(rows: Rows, hidden: Hidden, classes: Sequence[str]) -> Encoded:
    """Entries of the weighted confusion matrix: one per row, two more per correction."""
    index = {name: i for i, name in enumerate(classes)}
    sources = np.array(rows.sources)
    weights = np.asarray(rows.weights, dtype=float)
    traffic = sources != "base"
    if traffic.any():  # traffic rows count as many rows as there are, in the proportions of the traffic
        weights = weights.copy()
        weights[traffic] *= traffic.sum() / weights[traffic].sum()
    truth = np.array([index[label] for label in rows.labels], dtype=np.int64)
    entries_row = [np.arange(len(rows))]
    entries_truth = [truth]
    entries_weight = [weights]
    corrections = np.flatnonzero(sources == "feedback")
    if len(corrections) and (hidden.per_correction > 0 or hidden.error_rate is not None):
        served = np.array([index[rows.served[i]] if rows.served[i] in index else -1 for i in corrections])
        known = served >= 0
        twin = weights[corrections[known]]
        entries_row += [corrections[known], corrections[known]]
        entries_truth += [truth[corrections[known]], served[known]]
        entries_weight += [twin, -twin]
    rows_entries = np.concatenate(entries_row)
    return Encoded(
        classes=tuple(classes),
        row=rows_entries,
        truth=np.concatenate(entries_truth),
        weight=np.concatenate(entries_weight),
        twin=np.arange(len(rows_entries)) >= len(rows),
        golden=sources == "base",
        gold=np.isin(sources, GOLD_SOURCES),
        hidden=hidden,
    )


def _macro_f1(confusion: np.ndarray) -> np.ndarray:
    """Macro-F1 of (..., k, k) confusion matrices (truth × prediction), over the classes present."""
    confusion = np.clip(confusion, 0.0, None)
    true_pos = np.diagonal(confusion, axis1=-2, axis2=-1)
    denominator = confusion.sum(axis=-1) + confusion.sum(axis=-2)
    present = denominator > 1e-9
    f1 = np.where(present, 2 * true_pos / np.maximum(denominator, 1e-9), 0.0)
    return f1.sum(axis=-1) / np.maximum(present.sum(axis=-1), 1)


def _confusions(encoded: Encoded, predicted: np.ndarray, counts: np.ndarray, rows: np.ndarray, hidden: np.ndarray) -> np.ndarray:
    """Confusion matrices for each row of ``counts`` (resample × row multiplicities), restricted to ``rows``,
    with ``hidden[i]`` hidden mistakes per correction in resample ``i``.

    Each row's entries form a (k·k)-vector of weights by cell; a resample's matrix is its multiplicities
    times those vectors (its twins' times their own), one matrix product for all resamples."""
    k = len(encoded.classes)

    def by_row(entries: np.ndarray) -> np.ndarray:
        per_row = np.zeros((len(encoded.golden), k * k))
        cells = encoded.truth[entries] * k + predicted[encoded.row[entries]]
        np.add.at(per_row, (encoded.row[entries], cells), encoded.weight[entries])
        return per_row

    mask = rows[encoded.row]
    matrices = counts @ by_row(mask & ~encoded.twin)
    twins = mask & encoded.twin
    if twins.any():
        matrices += hidden[:, None] * (counts @ by_row(twins))
    return matrices.reshape(-1, k, k)


def weighted_macro_f1(encoded: Encoded, predicted: np.ndarray, rows: np.ndarray | None = None) -> float | None:
    """Macro-F1 of ``predicted`` (class indices per row) on the weighted rows (``rows``: a boolean mask)."""
    rows = np.ones(len(encoded.golden), dtype=bool) if rows is None else rows
    if not rows.any():
        return None
    counts = np.ones((1, len(encoded.golden)))
    return float(_macro_f1(_confusions(encoded, predicted, counts, rows, np.array([encoded.hidden.per_correction])))[0])


@dataclass(frozen=True)
class Comparison:
    """Challenger minus champion on the same rows: point estimates and paired-bootstrap win shares."""

    delta: float  # pooled macro-F1 gain
    wins: float  # share of resamples in which the challenger's pooled macro-F1 is higher
    risk: float  # share of resamples in which it loses more than ``margin``
    representative_delta: float | None  # gain on the representative part: the golden slice
    representative_p: float | None  # sign test there: chance of this many rows lost, if it were no worse
    representative_lost: int  # golden rows only the champion gets right
    representative_won: int  # golden rows only the challenger gets right
    representative_rows: int
    rows: int
    margin: float = 0.005
    flips: int = 0  # negative flips: gold rows the champion gets right and the challenger wrong
    flip_rows: int = 0  # gold rows the champion gets right


def _resample_counts(golden: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """(resamples, rows) multiplicities of a bootstrap that resamples golden and other rows separately."""
    n = len(golden)
    rng = np.random.default_rng(seed)
    counts = np.zeros((resamples, n))
    for stratum in (golden, ~golden):
        members = np.flatnonzero(stratum)
        if len(members):
            draws = rng.integers(0, len(members), size=(resamples, len(members)))
            offsets = np.arange(resamples)[:, None] * len(members)
            tally = np.bincount((draws + offsets).ravel(), minlength=resamples * len(members))
            counts[:, members] = tally.reshape(resamples, len(members))
    return counts


def _discordant(encoded: Encoded, champion: np.ndarray, challenger: np.ndarray, rows: np.ndarray) -> tuple[int, int]:
    """(rows only the champion gets right, rows only the challenger gets right) among ``rows``."""
    truth = encoded.truth[: len(encoded.golden)]  # each row's own entry comes first, in row order
    right_a, right_b = champion == truth, challenger == truth
    return int(np.sum(rows & right_a & ~right_b)), int(np.sum(rows & right_b & ~right_a))


def sign_test(lost: int, won: int) -> float:
    """One-sided sign test: the chance of losing at least ``lost`` of the ``lost + won`` rows where the two
    models differ, if each were equally likely to win them. Exact, so that two lost rows out of two are
    not mistaken for evidence (a bootstrap would call that "worse in 86% of resamples")."""
    n = lost + won
    if n == 0:
        return 1.0
    return sum(comb(n, k) for k in range(lost, n + 1)) / 2**n


def compare(
    encoded: Encoded,
    champion: np.ndarray,
    challenger: np.ndarray,
    *,
    resamples: int = 1000,
    seed: int = 0,
    margin: float = 0.005,
) -> Comparison:
    """Paired bootstrap over rows (golden and traffic rows resampled separately). ``risk`` is the share of
    resamples in which the challenger loses more than ``margin`` of pooled macro-F1."""
    n = len(encoded.golden)
    if n == 0:
        raise ValueError("compare needs at least one evaluation row")
    counts = _resample_counts(encoded.golden, resamples, seed)
    everything = np.ones(n, dtype=bool)
    point, point_hidden = np.ones((1, n)), np.array([encoded.hidden.per_correction])

    def gain(rows: np.ndarray, multiplicity: np.ndarray, hidden: np.ndarray) -> np.ndarray:
        ours = _macro_f1(_confusions(encoded, challenger, multiplicity, rows, hidden))
        theirs = _macro_f1(_confusions(encoded, champion, multiplicity, rows, hidden))
        return ours - theirs

    delta = float(gain(everything, point, point_hidden)[0])
    sampled = gain(everything, counts, encoded.hidden.draws(resamples, np.random.default_rng([seed, 1])))
    wins = float((sampled > 1e-12).mean() + 0.5 * (np.abs(sampled) <= 1e-12).mean())
    risk = float((sampled < -margin - 1e-12).mean())
    representative = encoded.golden
    lost = won = 0
    if representative.any():
        rep_delta = float(gain(representative, point, point_hidden)[0])
        lost, won = _discordant(encoded, champion, challenger, representative)
        rep_p = sign_test(lost, won)
    else:
        rep_delta = rep_p = None
    truth = encoded.truth[:n]
    kept = encoded.gold & (champion == truth)
    flips, flip_rows = int(np.sum(kept & (challenger != truth))), int(kept.sum())
    return Comparison(
        delta=delta,
        wins=wins,
        risk=risk,
        representative_delta=rep_delta,
        representative_p=rep_p,
        representative_lost=lost,
        representative_won=won,
        representative_rows=int(representative.sum()),
        rows=n,
        margin=margin,
        flips=flips,
        flip_rows=flip_rows,
    )


def per_source(rows: Rows, predicted: Sequence[str]) -> dict[str, float]:
    """Plain macro-F1 on each gold source's rows that has any: ``golden`` (the base rows), ``feedback``
    (corrections) and ``confirmed``."""
    from .model import macro_f1_of

    scores = {}
    for source in GOLD_SOURCES:
        pairs = [(y, p) for y, p, s in zip(rows.labels, predicted, rows.sources) if s == source]
        if pairs:
            labels, preds = zip(*pairs)
            scores["golden" if source == "base" else source] = round(macro_f1_of(labels, preds), 4)
    return scores


def class_indices(classes: Sequence[str], predicted: Sequence[str]) -> np.ndarray:
    index: Mapping[str, int] = {name: i for i, name in enumerate(classes)}
    return np.fromiter((index[p] for p in predicted), dtype=np.int64, count=len(predicted))
