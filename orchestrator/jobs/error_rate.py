"""The champion's error rate on the base distribution, which tells the evaluation how many mistakes nobody reviewed
when ``review_rate`` is not set (:func:`orchestrator.jobs.hidden.hidden_mistakes`).

It is counted where the champion can be scored without bias: the golden slice, which no model ever trained on.
The golden slice is small, so the base rows the champion trained on add a correction for the slice's luck, scored
out of fold by models trained on base rows only (:func:`orchestrator.jobs.candidates.base_out_of_fold`), less
those fold models' handicap against the champion, measured on the golden slice. Fold models of the champion's own
recipe would be biased (:func:`champion_out_of_fold` says how), so they are never used.
"""

from __future__ import annotations

from .candidates import BaseOutOfFold, base_out_of_fold
from .dataset import Split
from .evaluation_rows import Rows
from .hidden import ErrorRate
from .model import Features
from .settings import JobsConfig

def champion_out_of_fold(
    features: Features, train: Split, unseen: list[int] | None, jobs: JobsConfig, held: Split,
) -> tuple[BaseOutOfFold, str | None]:
    """The base rows the champion trained on, each scored by a model trained on the other base rows only, that left
    its fold out, and why not when they cannot be: the champion's training rows are not known, or too few folds;
    nothing when review_rate makes the error rate moot. Whatever the champion's recipe, base-only models stand in
    for it.

    Fold models of the champion's own recipe would be biased both ways. Its model-labelled (sampled) rows were
    labelled by models that trained on every base row, so a fold model that learns from them still learns the
    left-out base rows' labels (on a synthetic stream a ``sampled×1`` recipe's fold models erred on 9% of the base
    rows they "left out" and on 14% of the golden slice, which no model ever trained on): the rate comes out too
    low. Its corrections gather around the golden rows, where no served model learned, so fold models that learn
    from them find the golden rows easier than the base rows they left out: the rate comes out too high (after ten
    rounds on two seeds of the tweets, they found the left-out rows harder than the golden ones by 0.07 and 0.18 more
    than base-only fold models did). Base-only fold models differ from the champion more, which the
    handicap measured on the golden slice takes off, at the price of precision (:func:`base_error` works out how
    much)."""
    if jobs.review_rate is not None:
        return BaseOutOfFold(), None
    if unseen is None:
        return BaseOutOfFold(), "the champion's training rows are not known"
    seen = sorted(set(range(len(train))) - set(unseen))
    golden = [i for i, flag in enumerate(held.golden) if flag]
    scored = base_out_of_fold(
        features, train, seen, folds=jobs.crossfit_folds, seed=jobs.seed,
        golden_texts=[held.texts[i] for i in golden], golden_labels=[held.labels[i] for i in golden],
    )
    if not scored.scored.correct:
        return scored, "its base rows could not be scored out of fold (crossfit_folds below 2, or too few classes among the base rows a fold model would train on)"
    return scored, None


def base_error(
    rows: Rows, champion_predicted: list[str], out_of_fold: BaseOutOfFold, why_not: str | None = None
) -> ErrorRate | None:
    """The champion's mistakes on base rows it never trained on: the golden slice (the base rows among ``rows``, all
    held out: base rows are never compared on out of fold) and the base rows it trained on, scored out of fold by base-only models
    (``why_not`` says why not, when they are not). Without review_rate this stands for the traffic's error rate; a
    hundred golden rows alone give it ±0.04.

    The fold models each miss a fold of the base rows, so they err more than the champion, by a lot while the base
    set is most of what the champion learned from. How much more is measured where both are scored, on the golden
    slice, and taken off: the rate is the champion's on the golden slice, corrected by how much harder the base rows
    are than the golden ones as the fold models see them, in the measure that the fold models' mistakes on the
    golden rows go with the champion's (the slope of the one on the other, within [0, 1]: a control variate, so
    the correction never adds noise it does not take away). Its precision is worked out from the golden rows'
    per-row differences, and given as the number of rows a plain rate that precise would rest on, so that the
    reason's ± and the gate's draws carry it. The golden slice alone is used when that is not more precise."""
    golden = [i for i, source in enumerate(rows.sources) if source == "base"]
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
    # a control variate: the fold models' luck on the golden slice (their rate there against the rest of the base
    # set) corrects the champion's, in the measure that their mistakes go with the champion's on the golden rows
    spread = sum((f - fold_g) ** 2 for f in folds)
    slope = min(max(sum((c - champ) * (f - fold_g) for c, f in zip(own, folds)) / spread, 0.0), 1.0) if spread else 0.0
    weight = share * slope
    rate = min(max(champ + weight * (oof - fold_g), 0.0), 1.0)
    paired = [c - weight * f for c, f in zip(own, folds)]
    mean = sum(paired) / n_g
    # n - 2: the slope is fitted on the same rows
    variance = sum((d - mean) ** 2 for d in paired) / max(n_g - 2, 1) / n_g + weight**2 * oof * (1 - oof) / n_x
    if variance <= 0 or variance >= champ * (1 - champ) / n_g:
        return ErrorRate(plain.errors, n_g, f"{n_g} golden; the {n_x} base rows scored out of fold would not make it "
                                            "more precise")
    effective = max(n_g, min(round(rate * (1 - rate) / variance), n_g + n_x)) if 0 < rate < 1 else n_g + n_x
    return ErrorRate(rate * effective, effective,
                     f"{n_g} golden, {n_x} scored out of fold by base-only models less their handicap {fold_g - champ:+.3f} on the "
                     f"golden slice (slope {slope:.2f}, correcting it by {rate - champ:+.3f}), as precise as {effective} rows")
