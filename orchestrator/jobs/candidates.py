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
rows (a hash of the row id) and predict it. Out-of-fold models saw slightly less data than the real
challenger, so this evidence errs on the champion's side.

The base rows the champion trained on are more evidence still, and the most representative: gold labels, drawn
from the base distribution. Neither model can be scored on them as it is, so both *recipes* are, out of fold
(:func:`champion_out_of_fold`, and ``base`` in :func:`train_candidates`): ``folds`` models of each recipe,
each trained without one fold of the base rows (the same folds on both sides), predict that fold. The golden
slice alone is small (a hundred rows give ±0.02 of macro-F1, and of the champion's error rate, which tells the
evaluation how many mistakes nobody reviewed: :mod:`orchestrator.jobs.evaluate`); with the base rows it is
several times larger.
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


def out_of_fold(
    features: Features, split: Split, per_row: Sequence[float], members: Sequence[int], *, folds: int, seed: int
) -> dict[int, str]:
    """A recipe's answers on ``members`` (indices into ``split``), each from a model of that recipe (``per_row``
    training weights; 0 leaves a row out) trained without the member's fold. Empty with fewer than 2 folds.
    Raises ValueError when a fold cannot be trained (too few classes left)."""
    if folds < 2:
        return {}
    fold = {i: fold_of(split.ids[i], folds) for i in members}
    answers: dict[int, str] = {}
    for k in range(folds):
        left_out = [i for i in members if fold[i] == k]
        if left_out:
            model = _fit(features, split.labels, per_row, set(left_out), seed)
            answers.update(zip(left_out, model.predict([split.texts[i] for i in left_out])))
    return answers


def recipe_weight(recipe: object) -> float | None:
    """The sampled rows' weight a recipe name (``sampled×W``) says, or None."""
    if not isinstance(recipe, str) or not recipe.startswith("sampled×"):
        return None
    try:
        return float(recipe.removeprefix("sampled×"))
    except ValueError:
        return None


def champion_out_of_fold(
    features: Features, split: Split, seen: Sequence[int], base: Sequence[int], *, weight: float, folds: int, seed: int
) -> dict[int, str]:
    """The champion's recipe (its ``weight`` of the sampled rows, on the rows it trained on: ``seen``) on the base
    rows it trained on (``base``), out of fold: its stand-in where the champion itself cannot be scored."""
    trained = set(seen)
    per_row = [w if i in trained else 0.0 for i, w in enumerate(row_weights(split, weight))]
    return out_of_fold(features, split, per_row, base, folds=folds, seed=seed)


def train_candidates(
    train_split: Split,
    held_out_texts: Sequence[str],
    fresh: Sequence[int],
    *,
    weights: Sequence[float],
    folds: int,
    seed: int,
    features: Features,
    base: Sequence[int] = (),
) -> list[Candidate]:
    """One candidate per distinct weight: the model on all training rows, its predictions on the held-out
    texts, out-of-fold predictions on the training rows listed in ``fresh``, then out-of-fold predictions on the
    base rows listed in ``base`` (each left out by fold of the base rows alone, as the champion's recipe leaves them
    out: both sides miss the same rows). The texts are vectorised once (``features``, fitted on ``train_split``'s
    texts); every candidate and fold model is a classifier on those features."""
    labels = train_split.labels
    fresh_set = list(fresh) if folds >= 2 else []
    base_set = list(base) if folds >= 2 else []
    candidates = []
    for weight in distinct_weights(train_split, weights):
        per_row = row_weights(train_split, weight)
        model = _fit(features, labels, per_row, set(), seed)
        predicted = model.predict(list(held_out_texts))
        for members in (fresh_set, base_set):
            answers = out_of_fold(features, train_split, per_row, members, folds=folds, seed=seed)
            predicted += [answers[i] for i in members]
        candidates.append(Candidate(weight, model, predicted))
    return candidates
