"""What the deploy gate can see: how often it accepts a challenger of a known true gain, by simulation.

A world of traffic with ``classes`` balanced classes. The champion (which also served the traffic) is
right on ``accuracy`` of it. The challenger fixes a share of the champion's mistakes and breaks a share
of its right answers, chosen so that its true macro-F1 gain is what is asked for. An evaluation set is
drawn as the retrain job sees one: ``golden`` base rows with gold labels, and ``traffic`` rows labelled
by the champion, of which staff review a random ``review_rate`` and correct the mistakes they see. The
real gate (:func:`orchestrator.jobs.gate.decide` on :func:`orchestrator.jobs.evaluate.compare`) then
decides; repeated ``trials`` times, the acceptance rate is the gate's power at that gain (or its error
rate, for a gain of zero or below).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import gate
from .evaluate import Comparison, class_indices, compare, encode
from .evaluation_rows import Rows
from .hidden import ErrorRate, hidden_mistakes


@dataclass(frozen=True)
class World:
    classes: int = 4
    accuracy: float = 0.85  # the champion's, on the traffic
    golden: int = 100  # held-out base rows
    traffic: int = 600  # held-out and fresh traffic rows
    review_rate: float = 0.5
    told: float | None = None  # the review rate the gate is told (default: the true one)
    base_rows: int | None = None  # None: the review rate is known; else the champion's error rate is estimated on
    # this many base rows it never trained on, as without it (an idealised estimate: unbiased, binomial on that many
    # rows; the retrain's own is the golden slice's, corrected by the rest of the base set when that is more precise)


def _challenger(truth: np.ndarray, champion: np.ndarray, gain: float, k: int, rng: np.random.Generator) -> np.ndarray:
    """Predictions that fix or break rows of ``champion`` until the accuracy moves by ``gain``
    (on balanced classes with errors spread evenly, macro-F1 moves with accuracy)."""
    challenger = champion.copy()
    wrong = np.flatnonzero(champion != truth)
    right = np.flatnonzero(champion == truth)
    churn = 0.04  # both models make some changes either way: a real challenger is never a pure fix
    n = len(truth)
    breaks = int(round(churn * n / 2 - min(gain, 0) * n))
    fixes = int(round(churn * n / 2 + max(gain, 0) * n))
    fix = rng.choice(wrong, size=min(fixes, len(wrong)), replace=False)
    challenger[fix] = truth[fix]
    brk = rng.choice(right, size=min(breaks, len(right)), replace=False)
    challenger[brk] = (truth[brk] + rng.integers(1, k, size=len(brk))) % k
    return challenger


def _macro_f1(truth: np.ndarray, predicted: np.ndarray, k: int) -> float:
    f1 = []
    for c in range(k):
        tp = np.sum((truth == c) & (predicted == c))
        denominator = np.sum(truth == c) + np.sum(predicted == c)
        if denominator:
            f1.append(2 * tp / denominator)
    return float(np.mean(f1))


def trial(gain: float, world: World, rng: np.random.Generator, *, resamples: int = 300, margin: float = 0.005) -> tuple[Comparison, float]:
    """One simulated evaluation set: the real comparison of a challenger with the champion, and the
    challenger's true macro-F1 gain on the whole traffic."""
    k = world.classes
    names = [f"class{i}" for i in range(k)]
    population = 20_000
    truth = rng.integers(0, k, size=population)
    champion = np.where(rng.random(population) < world.accuracy, truth, (truth + rng.integers(1, k, size=population)) % k)
    challenger = _challenger(truth, champion, gain, k, rng)
    true_gain = _macro_f1(truth, challenger, k) - _macro_f1(truth, champion, k)
    golden = rng.choice(population, size=world.golden, replace=False)
    traffic = rng.choice(population, size=world.traffic, replace=False)
    reviewed = rng.random(world.traffic) < world.review_rate
    corrected = reviewed & (champion[traffic] != truth[traffic])
    labels = [*truth[golden], *np.where(corrected, truth[traffic], champion[traffic])]
    rows = Rows(
        texts=tuple("" for _ in labels),
        labels=tuple(names[i] for i in labels),
        served=(*(None for _ in golden), *(names[i] for i in champion[traffic])),
        sources=(*("base" for _ in golden), *("feedback" if c else "sampled" for c in corrected)),
        weights=tuple(1.0 for _ in labels),
    )
    if world.base_rows is None:
        told = world.review_rate if world.told is None else world.told
        hidden = hidden_mistakes(rows, review_rate=told, champion_errors=None)
    else:  # the golden slice's own mistakes, and those on the other base rows (out of fold)
        others = rng.choice(population, size=max(world.base_rows - world.golden, 0), replace=False)
        errors = int(np.sum(champion[golden] != truth[golden]) + np.sum(champion[others] != truth[others]))
        counted = world.golden + len(others)
        hidden = hidden_mistakes(rows, review_rate=None, champion_errors=ErrorRate(errors, counted, "simulated"))
    encoded = encode(rows, hidden, names)
    picked = np.concatenate([golden, traffic])
    result = compare(
        encoded,
        class_indices(names, [names[i] for i in champion[picked]]),
        class_indices(names, [names[i] for i in challenger[picked]]),
        resamples=resamples,
        seed=int(rng.integers(1 << 30)),
        margin=margin,
    )
    return result, true_gain


def acceptance_rate(
    gain: float, world: World = World(), *, trials: int = 200, seed: int = 0, resamples: int = 300, **gate_settings: float
) -> tuple[float, float]:
    """(share of trials the gate accepts, mean true macro-F1 gain of the challengers) for a target ``gain``."""
    rng = np.random.default_rng(seed)
    margin = gate_settings.pop("margin", 0.005)
    accepted, true_gains = 0, []
    for _ in range(trials):
        result, true_gain = trial(gain, world, rng, resamples=resamples, margin=margin)
        true_gains.append(true_gain)
        accepted += gate.decide(result, **gate_settings).accept
    return accepted / trials, float(np.mean(true_gains))


def bias(gain: float, world: World = World(), *, trials: int = 200, seed: int = 0) -> tuple[float, float]:
    """(mean, standard error) of the gate's estimated gain minus the true gain, over ``trials`` evaluation sets."""
    rng = np.random.default_rng(seed)
    errors = []
    for _ in range(trials):
        result, true_gain = trial(gain, world, rng, resamples=100)
        errors.append(result.delta - true_gain)
    return float(np.mean(errors)), float(np.std(errors) / np.sqrt(trials))
