"""Scoring two models on rows neither was trained on, and how sure we are that one is better.

**The rows.** Every held-out row of a dataset version (its ``eval`` and ``test`` splits, assigned by a
hash of the row id, and never trained on by the champion), plus, when the retrain job can tell, the
rows the champion never saw (scored for the challenger out of fold). Each row has a *source*:

- ``base``: the base labelled set, gold labels, representative of the distribution the base was drawn
  from. Its held-out rows are the *golden* slice.
- ``feedback``: a correction, gold label; the model that served it (``served``) got it wrong.
- ``confirmed``: a reviewed prediction that staff confirmed, gold label equal to the served one.
- ``sampled``: a complaint nobody flagged, labelled by the model that served it.

**The traffic, reconstructed.** Corrections alone are the served model's mistakes, not a sample of the
traffic, and an unflagged row's label is only the model's. But together they describe the traffic:
every unflagged row is right, except for the mistakes nobody reviewed, and those look like the
corrections. So each correction stands for ``1 / review_rate`` mistakes: itself, and hidden twins that
the unflagged rows counted as right (they move from the served label's row of the confusion matrix to
the gold label's). Macro-F1 is computed on that weighted confusion matrix. The review rate is a setting
(``jobs.review_rate``); without it, it follows from the champion's error rate ``e`` on rows of the base
distribution it never trained on (the golden slice, corrected by the base training rows scored out of fold by
base-only models when that makes it more precise: :func:`orchestrator.jobs.error_rate.base_error`),
as ``e × traffic`` mistakes of which the
corrections are the ones seen. That rate is uncertain, and the estimated gain moves with it (too few
hidden mistakes reward agreement with the champion), so each bootstrap resample draws its own rate from
the rate's posterior (Jeffreys' prior): the uncertainty is in the gate's risk, not hidden from it. A champion
the gate chose is flattered by the golden rows it was chosen on, so the share of mistakes reviewed (the staff's,
not the model's) is learned while a champion no comparison chose serves, carried in the metadata of the models
kept after it (:meth:`Hidden.share`), and used as it is while they serve (:func:`carried_share`).

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
from math import comb, isfinite
from typing import Any

import numpy as np

SOURCES = ("base", "feedback", "confirmed", "sampled")
GOLD_SOURCES = ("base", "feedback", "confirmed")


@dataclass(frozen=True)
class Rows:
    """Evaluation rows: the label to score against, the served label, the source and a traffic weight."""

    texts: tuple[str, ...]
    labels: tuple[str, ...]  # gold, or the served label for sampled rows
    served: tuple[str | None, ...]  # the label the deployed model gave (None for base rows)
    sources: tuple[str, ...]
    weights: tuple[float, ...]  # how many traffic rows a row stands for (1 for base rows)

    def __post_init__(self) -> None:
        sizes = {len(self.texts), len(self.labels), len(self.served), len(self.sources), len(self.weights)}
        if len(sizes) != 1:
            raise ValueError(f"evaluation columns differ in length: {sorted(sizes)}")
        unknown = set(self.sources) - set(SOURCES)
        if unknown:
            raise ValueError(f"unknown sources {sorted(unknown)}; expected {', '.join(SOURCES)}")

    def __len__(self) -> int:
        return len(self.texts)

    def count(self, source: str) -> int:
        return sum(1 for s in self.sources if s == source)

    def __add__(self, other: Rows) -> Rows:
        return Rows(*(a + b for a, b in zip(self._columns(), other._columns())))

    def _columns(self) -> tuple[tuple, ...]:
        return (self.texts, self.labels, self.served, self.sources, self.weights)

    @classmethod
    def empty(cls) -> Rows:
        return cls((), (), (), (), ())


@dataclass(frozen=True)
class ErrorRate:
    """The champion's mistakes among gold rows of the base distribution it never trained on."""

    errors: float
    rows: int
    where: str  # which rows, and how, for the reason

    @property
    def rate(self) -> float:
        return self.errors / self.rows


@dataclass(frozen=True)
class Hidden:
    """How many unreviewed mistakes each correction stands for, how that was worked out, and how sure it is."""

    per_correction: float  # extra (hidden) mistakes per correction
    how: str
    error_rate: ErrorRate | None = None  # when it rests on an estimated error rate: drawn anew per resample
    traffic: float = 0.0  # the traffic rows' total weight, and the corrections' (for the draws)
    corrections: float = 0.0
    learned: bool = False  # the share reviewed was learned on the champion's own traffic: it can be carried
    carried: bool = False  # the share reviewed was learned on other traffic than these rows' (a model's metadata)

    def share(self, learned_on: str | None) -> dict[str, Any] | None:
        """What this learned of the share of mistakes staff review, to carry in a model's metadata
        (:func:`carried_share` reads it back); None when it learned nothing that can be carried."""
        if not self.learned or self.error_rate is None:
            return None
        e = self.error_rate
        return {"errors": round(e.errors, 4), "rows": e.rows, "where": e.where, "traffic": round(self.traffic, 4),
                "corrections": round(self.corrections, 4), "learned_on": learned_on}

    def draws(self, count: int, rng: np.random.Generator) -> np.ndarray:
        """``per_correction`` in each of ``count`` resamples: the error rate drawn from its posterior (a Beta,
        Jeffreys' prior, shifted to centre on the observed rate that the point estimate uses) when it was
        estimated, else the same value every time. A carried share is drawn too: its corrections were one draw of
        the mistakes of other traffic than these rows', a noise that a share learned on these rows does not have (its
        corrections are the ones seen here, whatever the share)."""
        if self.error_rate is None or not self.corrections:
            return np.full(count, self.per_correction)
        e = self.error_rate
        rates = _centred_beta(rng, e.errors, e.rows, count)
        mistakes = np.maximum(rates * self.traffic, self.corrections)
        if not self.carried:
            return (mistakes - self.corrections) / self.corrections
        # the share's posterior given those mistakes (Jeffreys' prior), never below every traffic row being a mistake
        shares = np.maximum(rng.beta(self.corrections + 0.5, mistakes - self.corrections + 0.5), self.corrections / self.traffic)
        return 1 / shares - 1


def _centred_beta(rng: np.random.Generator, hits: float, trials: float, count: int) -> np.ndarray:
    """Rates drawn from the posterior of ``hits`` in ``trials`` (a Beta with Jeffreys' prior), shifted to centre on
    the observed rate, which the point estimate uses."""
    drawn = rng.beta(hits + 0.5, trials - hits + 0.5, size=count)
    return np.clip(drawn + hits / trials - (hits + 0.5) / (trials + 1), 0.0, 1.0)


def carried_share(document: Any) -> Hidden | None:
    """The share of mistakes reviewed that a model's metadata carries (:meth:`Hidden.share`), as the hidden mistakes
    per correction it implies, with the uncertainty of the error rate it was learned from; None when there is none or
    it does not read as one."""
    if not isinstance(document, Mapping):
        return None
    numbers = [document.get(key) for key in ("errors", "rows", "traffic", "corrections")]
    if not all(isinstance(n, (int, float)) and not isinstance(n, bool) for n in numbers):
        return None
    try:
        errors, rows, traffic, corrections = (float(n) for n in numbers)
    except OverflowError:  # an integer too large for a float
        return None
    if not all(isfinite(n) for n in (errors, rows, traffic, corrections)):
        return None
    if not (rows.is_integer() and 1 <= rows <= 1e9 and 0 <= errors <= rows and 0 < corrections <= traffic <= 1e12):
        return None
    where, learned_on = document.get("where"), document.get("learned_on")
    e = ErrorRate(errors, int(rows), where[:300] if isinstance(where, str) and where else "unknown rows")
    learned_on = learned_on[:100] if isinstance(learned_on, str) else None
    share = corrections / max(e.rate * traffic, corrections)
    return Hidden(
        max(e.rate * traffic - corrections, 0.0) / corrections,
        f"a share {share:.2f} of mistakes reviewed, learned on the traffic of model version {learned_on or '?'} "
        f"(error rate {e.rate:.3f} ± {(e.rate * (1 - e.rate) / e.rows) ** 0.5:.3f} on base rows it never trained on, "
        f"{e.where}; {corrections:.0f} corrections on {traffic:.0f} traffic rows; set jobs.review_rate if known)",
        error_rate=e,
        traffic=traffic,
        corrections=corrections,
        carried=True,
    )


def hidden_mistakes(
    rows: Rows, *, review_rate: float | None, champion_errors: ErrorRate | None, served_by_champion: Sequence[bool] | None = None,
    carried: Hidden | None = None,
) -> Hidden:
    """The hidden-twin weight of a correction, from the best source available.

    1. ``review_rate`` given (the share of the model's mistakes that staff correct): ``1/rate − 1``.
    2. Otherwise the share reviewed that the champion's metadata carries (``carried``, :func:`carried_share`):
       learned on the traffic of a model that no comparison chose. A champion the gate chose is flattered by
       the golden rows it was chosen on, so its own error rate there is too low, and with it the hidden
       mistakes; the share reviewed belongs to the staff, not to the model, and is kept instead.
    3. Otherwise the champion's error rate ``e`` on base rows it never trained on: the traffic rows the
       champion served (``served_by_champion``: those that arrived since its dataset; all of them when none
       is marked) hold ``e × rows`` mistakes, of which their corrections are the ones seen. Older rows were
       served by earlier models, with other error rates, which is why the share reviewed is learned where
       the champion served, and applied to every correction. ``e`` is uncertain: :meth:`Hidden.draws`
       carries that into the bootstrap.
    4. Otherwise, when staff also confirm right predictions, the error rate among the reviewed rows.
       (Reviews that a mistake in *another* label prompted are not a random sample, which is why the
       base rows come first.)
    """
    corrections = sum(w for s, w in zip(rows.sources, rows.weights) if s == "feedback")
    confirmed = sum(w for s, w in zip(rows.sources, rows.weights) if s == "confirmed")
    traffic = sum(w for s, w in zip(rows.sources, rows.weights) if s != "base")
    if not corrections:
        return Hidden(0.0, "no corrections among the evaluation rows")
    if review_rate is not None:
        return Hidden(1 / review_rate - 1, f"review rate {review_rate:g} (jobs.review_rate)")
    if carried is not None:
        return carried
    if champion_errors is not None and champion_errors.rows:
        e = champion_errors
        spread = (e.rate * (1 - e.rate) / e.rows) ** 0.5
        mine = [bool(m) for m in served_by_champion] if served_by_champion is not None else [True] * len(rows)
        if len(mine) != len(rows):
            raise ValueError(f"served_by_champion has {len(mine)} entries for {len(rows)} rows")
        own = sum(w for s, w, m in zip(rows.sources, rows.weights, mine) if s == "feedback" and m)
        if served_by_champion is None:
            where = "all the evaluation traffic (which rows it served is not known)"
        elif not own:
            where = "all the evaluation traffic (none on the traffic it served)"
        else:
            where = "all the evaluation traffic" if all(mine) else "the traffic it served"
        if own:  # the reviewed share, learned on the rows the champion served
            traffic = sum(w for s, w, m in zip(rows.sources, rows.weights, mine) if s != "base" and m)
            corrections = own
        hidden = max(e.rate * traffic - corrections, 0.0)
        return Hidden(
            hidden / corrections,
            f"error rate {e.rate:.3f} ± {spread:.3f} of the champion on base rows it never trained on "
            f"({e.where}; set jobs.review_rate if known), {corrections:.0f} corrections on {where}",
            error_rate=e,
            traffic=traffic,
            corrections=corrections,
            learned=bool(own) and served_by_champion is not None,
        )
    if confirmed:
        error = corrections / (corrections + confirmed)
        unflagged = traffic - corrections - confirmed
        return Hidden(error * unflagged / corrections, f"error rate {error:.3f} from {corrections + confirmed:.0f} reviewed rows")
    return Hidden(0.0, "no review rate and no golden slice: every unflagged row counted as right")


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
