"""Comparing two models on the same rows: macro-F1 and how sure we are that one is better.

A difference of a few thousandths in macro-F1 on a few hundred test rows is noise. The paired bootstrap
resamples the test rows (the same resample for both models) and counts how often the challenger comes
out ahead; the deploy gate asks for a clear majority, so that a model is deployed because it is better,
not because it was lucky on this split.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _macro_f1_many(truth: np.ndarray, predicted: np.ndarray, samples: np.ndarray, classes: int) -> np.ndarray:
    """Macro-F1 of ``predicted`` for each row of ``samples`` (indices into the rows), vectorised.

    Classes absent from both the truth and the predictions of a resample are left out of its average,
    as scikit-learn does with ``labels`` set to the classes present.
    """
    t, p = truth[samples], predicted[samples]  # (resamples, rows)
    offsets = (np.arange(samples.shape[0]) * classes)[:, None]
    size = samples.shape[0] * classes
    true_pos = np.bincount((t + offsets)[t == p], minlength=size).reshape(-1, classes)
    true_count = np.bincount((t + offsets).ravel(), minlength=size).reshape(-1, classes)
    pred_count = np.bincount((p + offsets).ravel(), minlength=size).reshape(-1, classes)
    denominator = true_count + pred_count
    present = denominator > 0
    f1 = np.where(present, 2 * true_pos / np.maximum(denominator, 1), 0.0)
    return f1.sum(axis=1) / np.maximum(present.sum(axis=1), 1)


def win_rate(
    truth: Sequence[str],
    champion: Sequence[str],
    challenger: Sequence[str],
    *,
    resamples: int = 1000,
    seed: int = 0,
) -> float:
    """Share of paired bootstrap resamples in which the challenger's macro-F1 beats the champion's
    (ties count half). 0.5 means "no evidence either way"."""
    if not (len(truth) == len(champion) == len(challenger)) or not truth:
        raise ValueError("win_rate needs the same, non-empty rows for both models")
    names = sorted(set(truth) | set(champion) | set(challenger))
    index = {name: i for i, name in enumerate(names)}
    encode = lambda values: np.fromiter((index[v] for v in values), dtype=np.int64, count=len(values))  # noqa: E731
    y, a, b = encode(truth), encode(champion), encode(challenger)
    samples = np.random.default_rng(seed).integers(0, len(y), size=(resamples, len(y)))
    champion_f1 = _macro_f1_many(y, a, samples, len(names))
    challenger_f1 = _macro_f1_many(y, b, samples, len(names))
    wins = (challenger_f1 > champion_f1).sum() + 0.5 * np.isclose(challenger_f1, champion_f1).sum()
    return float(wins / resamples)
