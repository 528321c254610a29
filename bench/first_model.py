"""How good is the first model? Trained through the real CLI on every labelled row but a test set.

    python bench/first_model.py ../shared/data/grievance_tweets.csv               # columns id, text, label
    python bench/first_model.py data.csv --label-name department --text-column message
    python bench/first_model.py --synthetic department                             # the synthetic stream

The protocol: 10% of the rows held out as test (stratified, ``random_state=42``), every other row the base set.
``orchestrator prepare`` and ``orchestrator retrain`` run once, as round 0 of the loop (``bench/loop_quality.py``)
does, and ``orchestrator predict`` labels the test rows. Beside it: the same default pipeline fitted directly on
every base row (what the model would score if nothing were held out), and the CLI's split of the base set
(training rows, golden rows). It runs with the settings a new user has; ``--set KEY=VALUE`` sets a ``[jobs]`` key
(``--set max_golden_rows=100000`` holds out 20% of the base set, as versions before the cap did). One test split of a
few thousand rows is noisy (±0.01): ``--splits K`` repeats the protocol on K test splits (``random_state`` 42 to
41 + K) and gives the mean with its standard error.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np
from loop_quality import first_model, load, macro_f1, oracle_score, parse, predict, source_arguments, workspace
from sklearn.model_selection import train_test_split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source_arguments(parser)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a [jobs] setting in TOML (default: none, as a user has it)")
    parser.add_argument("--splits", type=int, default=1, help="test splits to average over (random_state 42, 43, ...; default 1)")
    parser.add_argument("--workdir", type=Path, help="keep the working folder here (default: a temporary one)")
    args = parse(parser)
    args.review_rate, args.threshold = None, 10  # what write_config reads: the defaults
    label = args.synthetic or args.label_name
    frame = load(args)
    source = args.csv.name if args.csv else f"synthetic {args.synthetic} ({len(frame)} rows)"
    print(f"{source}, {label}, {', '.join(args.set) or 'the defaults'}")
    print(f"{'split':>5} {'test':>5} {'base':>6} {'train':>6} {'golden':>6} {'CLI':>7} {'direct':>7} {'seconds':>7}")
    figures = []
    for k in range(args.splits):
        base, test = train_test_split(frame, test_size=0.10, stratify=frame.label, random_state=42 + k)
        cli_score, metadata, seconds = through_the_cli(args, label, base, test)
        direct = oracle_score(base, test)
        figures.append((cli_score, direct))
        print(f"{k:>5} {len(test):>5} {len(base):>6} {metadata['splits']['train']:>6} {metadata['golden_rows']:>6} "
              f"{cli_score:>7.4f} {direct:>7.4f} {seconds:>7.0f}", flush=True)
    if len(figures) > 1:
        cli_scores, directs = np.array(figures).T
        se = lambda values: values.std(ddof=1) / len(values) ** 0.5  # noqa: E731
        print(f" mean {'':>5} {'':>6} {'':>6} {'':>6} {cli_scores.mean():>7.4f} {directs.mean():>7.4f}   "
              f"(standard error {se(cli_scores):.4f}; CLI − direct {(cli_scores - directs).mean():+.4f} "
              f"± {se(cli_scores - directs):.4f})")


def through_the_cli(args: argparse.Namespace, label: str, base, test) -> tuple[float, dict, float]:
    """The first model trained by ``orchestrator prepare`` and ``retrain`` on ``base``, scored on ``test``."""
    work = workspace(args, label, base, "first-model-")
    started = time.perf_counter()
    first_model(work, label)
    seconds = time.perf_counter() - started
    score = macro_f1(list(test.label), predict(work, label, list(test.text)))
    metadata = json.loads((work / "hub" / "datasets" / label / "dataset_metadata.json").read_text())
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return score, metadata, seconds


if __name__ == "__main__":
    main()
