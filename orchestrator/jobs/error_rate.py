"""The champion's error rate on the base distribution, which tells the evaluation how many mistakes nobody reviewed
when ``review_rate`` is not set (:func:`orchestrator.jobs.evaluate.hidden_mistakes`).

It is counted where the champion can be scored without bias: the golden slice, which no model ever trained on.
The golden slice is small, so when the champion trained on gold rows only, the base rows it trained on add a
correction for the slice's luck, scored out of fold by its recipe (:func:`orchestrator.jobs.candidates.base_out_of_fold`)
less those fold models' handicap; for any other recipe they would leak (:func:`champion_out_of_fold` says how).
"""

from __future__ import annotations

from typing import Any

from .candidates import BaseOutOfFold, base_out_of_fold
from .dataset import Split
from .evaluate import ErrorRate, Rows
from .model import Features
from .settings import JobsConfig

LEAKY_BASE = "its recipe learned from model-labelled rows, whose labels carry the base rows': golden slice only"


def champion_out_of_fold(
    features: Features, train: Split, unseen: list[int] | None, champion_meta: dict[str, Any], jobs: JobsConfig,
    held: Split,
) -> tuple[BaseOutOfFold, str | None]:
    """The champion's recipe on the base rows it trained on, out of fold, and why not when it cannot be: its
    training rows or its recipe (``sampled×W`` in its metadata) are not known, or review_rate makes it moot.

    Only a recipe that trains on gold rows alone (``sampled×0``) can be scored this way. The model-labelled
    (sampled) rows were labelled by models that trained on every base row, so a fold model that learns from them
    still learns the left-out base rows' labels through them: on a synthetic stream a ``sampled×1`` recipe's fold
    models erred on 9% of the base rows they "left out" and on 14% of the golden slice, which no model ever trained
    on (``sampled×0``: 22% and 21%). An error rate counted that way is too low, the hidden mistakes too few, and the
    gate leans toward the champion; so such a champion's rate comes from the golden slice alone."""
    recipe = champion_meta.get("recipe")
    if unseen is None or jobs.review_rate is not None or not isinstance(recipe, str) or not recipe.startswith("sampled×"):
        return BaseOutOfFold(), None
    try:
        weight = float(recipe.removeprefix("sampled×"))
    except ValueError:
        return BaseOutOfFold(), None
    if weight > 0:
        return BaseOutOfFold(), LEAKY_BASE
    seen = sorted(set(range(len(train))) - set(unseen))
    golden = [i for i, flag in enumerate(held.golden) if flag]
    return base_out_of_fold(
        features, train, seen, weight=weight, folds=jobs.crossfit_folds, seed=jobs.seed,
        golden_texts=[held.texts[i] for i in golden], golden_labels=[held.labels[i] for i in golden],
    ), None


def base_error(
    rows: Rows, champion_predicted: list[str], out_of_fold: BaseOutOfFold, why_not: str | None = None, *,
    golden: list[int] | None = None,
) -> ErrorRate | None:
    """The champion's mistakes on base rows it never trained on: the golden slice (``golden``: indices into
    ``rows``; default every base row) and, when its recipe allows it, the base rows it trained on, scored out of
    fold by its recipe (``why_not`` says why not). Without review_rate this stands for the traffic's error rate; a
    hundred golden rows alone give it ±0.04.

    The fold models each miss a fold of the base rows, so they err more than the champion, by a lot while the base
    set is most of what the champion learned from. How much more is measured where both are scored, on the golden
    slice, and taken off: the rate is the champion's on the golden slice, corrected by how much harder the base rows
    are than the golden ones as the fold models see them. Its precision is worked out from the golden rows'
    per-row differences (when the fold models and the champion miss the same rows, the correction is precise; when
    the handicap is large, it is not), and given as the number of rows a plain rate that precise would rest on, so
    that the reason's ± and the gate's draws carry it. The golden slice alone is used when that is not more
    precise."""
    golden = [i for i, source in enumerate(rows.sources) if source == "base"] if golden is None else golden
    own = [float(champion_predicted[i] != rows.labels[i]) for i in golden]
    extra = out_of_fold.scored
    if not own:
        return None
    n_g, champ = len(own), sum(own) / len(own)
    plain = ErrorRate(sum(own), n_g, f"{n_g} golden, 0 scored out of fold" + (f": {why_not}" if why_not else ""))
    folds = out_of_fold.golden_errors
    if not extra.correct or len(folds) != n_g:
        return plain
    n_x = len(extra.correct)
    share = n_x / (n_g + n_x)
    oof = extra.errors / n_x
    fold_g = sum(folds) / n_g
    rate = min(max(champ + share * (oof - fold_g), 0.0), 1.0)
    paired = [c - share * f for c, f in zip(own, folds)]
    mean = sum(paired) / n_g
    variance = sum((d - mean) ** 2 for d in paired) / max(n_g - 1, 1) / n_g + share**2 * oof * (1 - oof) / n_x
    if variance <= 0 or variance >= champ * (1 - champ) / n_g:
        return ErrorRate(plain.errors, n_g, f"{n_g} golden; the {n_x} base rows scored out of fold would not make it "
                                            "more precise")
    effective = max(n_g, min(round(rate * (1 - rate) / variance), n_g + n_x)) if 0 < rate < 1 else n_g + n_x
    return ErrorRate(rate * effective, effective,
                     f"{n_g} golden, {n_x} scored out of fold less the fold models' handicap {fold_g - champ:+.3f} on the "
                     f"golden slice, as precise as {effective} rows")
