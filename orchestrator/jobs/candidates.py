"""The training recipes the retrain job tries, and their predictions on rows they never trained on.

A recipe is the training weight of the model-labelled (``sampled``) rows; gold rows (base,
corrections, confirmations) always weigh 1. Corrections are the model's hard cases, not a sample of
the traffic: trained on alone, they shift the class balance and can make a model worse. The sampled
rows are the traffic as it is, but their labels are only the old model's. Which mix is best depends
on the data, so the retrain job trains one candidate per weight in ``jobs.sampled_weights`` and lets
the gate pick, on rows none of them trained on. Weights that give the same training set (no sampled
rows at all) are trained once.

Rows the champion never saw (*fresh* rows) are more evidence for the comparison. The challenger did
train on them, so they are scored out of fold: ``folds`` models each leave out one fold of the fresh
rows (a hash of the row id) and predict it, as a model whose features never saw that fold would
(:meth:`~orchestrator.jobs.model.Features.predict_left_out`). The features are fitted once, on every training
text: left as they are, a left-out row keeps the n-grams only it has, which shrink the ones the fold model knows,
and on the tweets the challenger's gain on these rows came out 0.02 below its gain on rows it never saw
(``bench/out_of_fold.py``).

The champion's error rate on the base distribution tells the evaluation how many mistakes nobody reviewed
(:func:`orchestrator.jobs.hidden.hidden_mistakes`). The golden slice alone is small (a hundred rows give ±0.04), so
:func:`base_out_of_fold` also scores the base rows the champion trained on, out of fold: ``folds`` models,
each trained on the champion's base rows without one fold of them, and the same models on the golden slice, to
measure how far from the champion they are (:func:`orchestrator.jobs.error_rate.base_error` combines the two).
The left-out base rows are scored the same way, so that to a fold model they are as unseen as the golden rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .dataset import Split
from .model import Features, Model
from .splits import unit_interval

GOLD = ("base", "feedback", "confirmed")


@dataclass(frozen=True)
class Candidate:
    """One trained challenger: its recipe (the weight of the model-labelled rows), its model, and its
    out-of-fold predictions on the rows the champion never saw."""

    weight: float  # training weight of the sampled rows
    model: Model
    predicted: list[str]  # on the evaluation rows: held-out rows, then fresh rows out of fold

    @property
    def name(self) -> str:
        return f"sampled×{self.weight:g}"


def distinct_weights(split: Split, weights: Sequence[float]) -> list[float]:
    """The weights worth a model each: all of them, or one when there are no sampled rows to weigh."""
    unique = list(dict.fromkeys(float(w) for w in weights))
    if not any(source == "sampled" for source in split.sources):
        return unique[:1]
    return unique


def row_weights(split: Split, sampled_weight: float) -> list[float]:
    return [1.0 if source in GOLD else sampled_weight for source in split.sources]


def _fit(features: Features, labels: Sequence[str], per_row: Sequence[float], left_out: set[int], seed: int) -> Model:
    """A classifier on the rows of positive weight that are not ``left_out``."""
    rows = [i for i, w in enumerate(per_row) if w > 0 and i not in left_out]
    return features.classifier(labels, rows=rows, weights=[per_row[i] for i in rows], seed=seed)


def fold_of(row_id: str, folds: int) -> int:
    return min(int(unit_interval(f"fold:{row_id}") * folds), folds - 1)


@dataclass(frozen=True)
class Scored:
    """Rows a model never trained on: whether it got each right."""

    correct: tuple[bool, ...] = ()

    def __add__(self, other: Scored) -> Scored:
        return Scored(self.correct + other.correct)

    @property
    def errors(self) -> int:
        return len(self.correct) - sum(self.correct)


def scored(predicted: Sequence[str], labels: Sequence[str]) -> Scored:
    """Each answer in ``predicted``: right or wrong against ``labels``."""
    return Scored(tuple(p == y for p, y in zip(predicted, labels)))


@dataclass(frozen=True)
class BaseOutOfFold:
    """Base-only models on the base rows the champion trained on, out of fold, and the same fold models on the
    golden slice, which none of them (nor the champion) trained on."""

    scored: Scored = Scored()  # each base row by the fold model that left it out
    golden_errors: tuple[float, ...] = ()  # per golden row, the share of the fold models that get it wrong


def base_out_of_fold(
    features: Features, train_split: Split, seen: Sequence[int], *, folds: int, seed: int,
    golden_texts: Sequence[str] = (), golden_labels: Sequence[str] = (),
) -> BaseOutOfFold:
    """The base rows among ``seen`` (the training rows the champion trained on), each scored by a model trained on
    the other base rows among ``seen`` without its fold; and those fold models' error on the golden slice
    (``golden_texts``), which tells how far from the champion they are (each misses a fold of the base rows, and
    every other source). Nothing when there are too few folds or a fold cannot be trained.

    Base rows only, so that a left-out base row and a golden row are alike to every fold model. Model-labelled rows
    would teach a fold model the left-out rows' labels (the models that labelled them trained on every base row).
    Corrections would make the left-out rows look harder than the golden ones: they are the mistakes of models that
    trained on every base row, so they gather where the golden rows are (no model learned there) and not around the
    base rows (the served models got those neighbourhoods right), and a fold model that learned from them knows the
    golden rows' neighbourhoods better. On one seed of the tweets, after ten rounds, fold models found the left-out
    base rows harder than the golden ones by −0.09 when trained on base rows alone (that golden slice's luck, which
    the correction is for) and by +0.09 when trained on the corrections too."""
    if folds < 2:
        return BaseOutOfFold()
    base = [i for i in seen if train_split.sources[i] == "base"]
    trained = set(base)
    chosen = [1.0 if i in trained else 0.0 for i in range(len(train_split))]
    result, on_golden = Scored(), [0.0] * len(golden_texts)
    trained_folds = 0
    for k in range(folds):
        members = [i for i in base if fold_of(train_split.ids[i], folds) == k]
        if not members:
            continue
        try:
            model = _fit(features, train_split.labels, chosen, set(members), seed)
        except ValueError:  # too few classes left
            return BaseOutOfFold()
        result += scored(features.predict_left_out(model, members), [train_split.labels[i] for i in members])
        if golden_texts:
            trained_folds += 1
            on_golden = [e + (not right) for e, right in zip(on_golden, scored(model.predict(list(golden_texts)), golden_labels).correct)]
    return BaseOutOfFold(result, tuple(e / trained_folds for e in on_golden) if trained_folds else ())


def train_candidates(
    train_split: Split,
    held_out_texts: Sequence[str],
    fresh: Sequence[int],
    *,
    weights: Sequence[float],
    folds: int,
    seed: int,
    features: Features,
) -> list[Candidate]:
    """One candidate per distinct weight: the model on all training rows, its predictions on the held-out
    texts, and out-of-fold predictions on the training rows listed in ``fresh``. The texts are vectorised
    once (``features``, fitted on ``train_split``'s texts); every candidate and fold model is a classifier on
    those features."""
    labels = train_split.labels
    fresh_set = list(fresh) if folds >= 2 else []
    fold = {i: fold_of(train_split.ids[i], folds) for i in fresh_set}
    candidates = []
    for weight in distinct_weights(train_split, weights):
        per_row = row_weights(train_split, weight)
        model = _fit(features, labels, per_row, set(), seed)
        predicted = model.predict(list(held_out_texts))
        if fresh_set:
            out_of_fold = dict.fromkeys(fresh_set, "")
            for k in range(folds):
                members = [i for i in fresh_set if fold[i] == k]
                if members:
                    fold_model = _fit(features, labels, per_row, set(members), seed)
                    out_of_fold.update(zip(members, features.predict_left_out(fold_model, members)))
            predicted += [out_of_fold[i] for i in fresh_set]
        candidates.append(Candidate(weight, model, predicted))
    return candidates
