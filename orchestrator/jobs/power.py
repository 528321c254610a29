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
from .evaluate import Rows, class_indices, compare, encode, hidden_mistakes


@dataclass(frozen=True)
class World:
    classes: int = 4
    accuracy: float = 0.85  # the champion's, on the traffic
    golden: int = 100  # held-out base rows
    traffic: int = 600  # held-out and fresh traffic rows
    review_rate: float = 0.5


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


def acceptance_rate(
    gain: float, world: World = World(), *, trials: int = 200, seed: int = 0, resamples: int = 300, **gate_settings: float
) -> tuple[float, float]:
    """(share of trials the gate accepts, mean true macro-F1 gain of the challengers) for a target ``gain``."""
    rng = np.random.default_rng(seed)
    k = world.classes
    names = [f"class{i}" for i in range(k)]
    accepted, true_gains = 0, []
    population = 20_000
    for _ in range(trials):
        truth = rng.integers(0, k, size=population)
        champion = np.where(rng.random(population) < world.accuracy, truth, (truth + rng.integers(1, k, size=population)) % k)
        challenger = _challenger(truth, champion, gain, k, rng)
        true_gains.append(_macro_f1(truth, challenger, k) - _macro_f1(truth, champion, k))
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
        hidden = hidden_mistakes(rows, review_rate=world.review_rate, champion_golden_error=None)
        encoded = encode(rows, hidden, names)
        picked = np.concatenate([golden, traffic])
        result = compare(
            encoded,
            class_indices(names, [names[i] for i in champion[picked]]),
            class_indices(names, [names[i] for i in challenger[picked]]),
            resamples=resamples,
            seed=int(rng.integers(1 << 30)),
            margin=gate_settings.pop("margin", 0.005) if "margin" in gate_settings else 0.005,
        )
        accepted += gate.decide(result, **gate_settings).accept
    return accepted / trials, float(np.mean(true_gains))
