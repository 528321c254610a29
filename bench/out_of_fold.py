"""Do the rows scored out of fold tell a challenger's true gain? Measured where the truth is known.

    python bench/out_of_fold.py ../shared/data/grievance_tweets.csv               # columns id, text, label
    python bench/out_of_fold.py --synthetic department                             # the synthetic stream

The gate scores the challenger on the rows the champion never saw (the traffic since its dataset) out of fold:
``crossfit_folds`` models each leave a fold of those rows out and predict it (``orchestrator.jobs.candidates``). If
that evidence is fair, the challenger's gain over the champion on those rows, counted with the true labels, averages
its gain on rows neither model ever saw. This benchmark checks it without the rest of the loop, on the protocol of
``bench/loop_quality.py`` (15% test, a base set of 10% of the rest, the stream cut into 10 batches, half of each
batch reviewed and every reviewed mistake corrected, no confirmations):

- round 0's champion trains on the base set;
- each round k (1 to ``--rounds``) the champion labels batch k; the challenger is ``train_candidates`` (the retrain
  job's own code, with the default ``sampled_weights`` and 5 folds) on everything so far, with batch k as the fresh
  rows; the challenger is then deployed, whatever it scores, so that every round has the same shape;
- per candidate and round: its true gain on the benchmark's test rows, and on batch k out of fold, as the retrain job
  scores it and as the previous release did (each fold model's pipeline on the raw texts, whose features had been
  fitted with the left-out rows in them);
- per round, the champion's error rate as the retrain job estimates it without ``review_rate`` (its golden slice, a
  fifth of the base set that no model trains on, corrected by the other base rows scored out of fold:
  ``orchestrator.jobs.error_rate.base_error``), both ways, against its error on the test rows.

The figures are averaged over ``--seeds`` protocol seeds and the rounds, with their standard errors.
"""

from __future__ import annotations

import argparse
from contextlib import contextmanager

import numpy as np
from loop_quality import load, parse, protocol, source_arguments

from orchestrator.jobs.candidates import base_out_of_fold, train_candidates
from orchestrator.jobs.dataset import Split
from orchestrator.jobs.error_rate import base_error
from orchestrator.jobs.evaluation_rows import Rows
from orchestrator.jobs.model import Features, macro_f1_of
from orchestrator.jobs.settings import JobsConfig
from orchestrator.jobs.splits import unit_interval

FOLDS = 5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source_arguments(parser)
    parser.add_argument("--seeds", type=int, default=6, help="protocol seeds to average over (0 to K-1; default 6)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per seed (default 5)")
    args = parse(parser)
    frame = load(args)
    frame["id"] = frame["id"].astype(str)
    weights = JobsConfig().sampled_weights
    gains: dict[tuple[float, str], list[float]] = {}
    rates = []
    print(f"{'seed':>4} {'round':>5} {'recipe':>12} {'test':>8} {'out of fold':>11} {'previous':>9}")
    for seed in range(args.seeds):
        for row in one_protocol(frame, seed, args.rounds, weights):
            if row["weight"] == weights[0]:
                rates.append(row)
            for part, value in row.items():
                if part not in ("seed", "round", "weight", "errors"):
                    gains.setdefault((row["weight"], part), []).append(value)
            print(f"{row['seed']:>4} {row['round']:>5} {'sampled×' + format(row['weight'], 'g'):>12} {row['test']:>+8.4f} "
                  f"{row['out_of_fold']:>+11.4f} {row['previous']:>+9.4f}", flush=True)
    print("\nmean gain (± standard error), and the rows scored out of fold minus the test rows:")
    for weight in weights:
        test = np.array(gains[(weight, "test")])
        line = [f"sampled×{weight:g}: test {test.mean():+.4f}"]
        for part, name in (("out_of_fold", "out of fold"), ("previous", "previous release")):
            values = np.array(gains[(weight, part)])
            diff = values - test
            line.append(f"{name} {values.mean():+.4f} (minus test {diff.mean():+.4f} ± {standard_error(diff):.4f})")
        print("  " + "; ".join(line))
    errors = np.array([row["errors"] for row in rates])
    print("the champion's error rate minus its error on the test rows (± standard error):")
    for column, name in enumerate(("golden slice alone", "corrected, this release", "corrected, previous release")):
        diff = errors[:, column + 1] - errors[:, 0]
        print(f"  {name}: {diff.mean():+.4f} ± {standard_error(diff):.4f} (spread {diff.std(ddof=1) if len(diff) > 1 else 0:.4f})")


def one_protocol(frame, seed: int, rounds: int, weights) -> list[dict]:
    test, base, batches = protocol(frame, seed)
    rng = np.random.default_rng(seed)
    golden = base[[unit_interval(f"golden:{row_id}") < 0.2 for row_id in base.id]]
    trained = base[~base.id.isin(golden.id)]
    golden_texts, golden_labels = list(golden.text), list(golden.label)
    golden_rows = Rows(tuple(golden_texts), tuple(golden_labels), (None,) * len(golden), ("base",) * len(golden), (1.0,) * len(golden))
    ids, texts, labels = list(trained.id), list(trained.text), list(trained.label)
    sources, served, truth = ["base"] * len(trained), [None] * len(trained), list(trained.label)
    champion = Features.fit(texts).classifier(labels)
    test_texts, test_labels = list(test.text), list(test.label)
    rows = []
    for k in range(1, rounds + 1):
        batch = batches[k]
        answers = champion.predict(list(batch.text))
        reviewed = rng.random(len(batch)) < 0.5
        first = len(ids)
        for (row_id, text, gold), answer, looked in zip(batch[["id", "text", "label"]].itertuples(index=False), answers, reviewed):
            corrected = looked and answer != gold
            ids.append(row_id), texts.append(text), truth.append(gold), served.append(answer)
            labels.append(gold if corrected else answer)
            sources.append("feedback" if corrected else "sampled")
        fresh = list(range(first, len(ids)))
        split = Split(list(ids), list(texts), list(labels), list(sources), list(served), [False] * len(ids))
        features = Features.fit(split.texts)
        on_golden = champion.predict(golden_texts)
        on_test = champion.predict(test_texts)

        candidates, rate = evidence(split, features, fresh, first, test_texts, golden_rows, on_golden, weights)
        with previous_release(split.texts):
            previous, previous_rate = evidence(split, features, fresh, first, test_texts, golden_rows, on_golden, weights)
        errors = (error_rate(test_labels, on_test), error_rate(golden_labels, on_golden), rate, previous_rate)
        fresh_truth = [truth[i] for i in fresh]
        on_fresh, on_test_f1 = macro_f1_of(fresh_truth, answers), macro_f1_of(test_labels, on_test)
        for candidate, before in zip(candidates, previous):
            rows.append({
                "seed": seed, "round": k, "weight": candidate.weight, "errors": errors,
                "test": macro_f1_of(test_labels, candidate.predicted[:len(test_texts)]) - on_test_f1,
                "out_of_fold": macro_f1_of(fresh_truth, candidate.predicted[len(test_texts):]) - on_fresh,
                "previous": macro_f1_of(fresh_truth, before.predicted[len(test_texts):]) - on_fresh,
            })
        champion = candidates[-1].model  # the traffic recipe (sampled×1) is deployed: every round has the same shape
    return rows


def evidence(split: Split, features: Features, fresh: list[int], first: int, test_texts: list[str], golden: Rows,
             on_golden: list[str], weights) -> tuple[list, float]:
    """The candidates, with their answers on the test rows and on ``fresh`` out of fold, and the champion's error rate
    as the retrain job corrects it (the champion trained on the rows before ``first``)."""
    candidates = train_candidates(split, test_texts, fresh, weights=weights, folds=FOLDS, seed=0, features=features)
    scored = base_out_of_fold(features, split, range(first), folds=FOLDS, seed=0, golden_texts=list(golden.texts),
                              golden_labels=list(golden.labels))
    return candidates, base_error(golden, on_golden, scored).rate


def standard_error(values: np.ndarray) -> float:
    return float(values.std(ddof=1) / len(values) ** 0.5) if len(values) > 1 else float("nan")


def error_rate(labels: list[str], predicted: list[str]) -> float:
    return float(np.mean([p != y for p, y in zip(predicted, labels)]))


@contextmanager
def previous_release(texts: list[str]):
    """Left-out rows (of the features fitted on ``texts``) scored as the previous release scored them: the fold
    model's pipeline on their raw texts, whose n-grams the features had been fitted on."""
    current = Features.predict_left_out
    Features.predict_left_out = lambda self, model, rows: model.predict([texts[i] for i in rows])  # noqa: E731
    try:
        yield
    finally:
        Features.predict_left_out = current


if __name__ == "__main__":
    main()
