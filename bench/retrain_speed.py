"""Training time and quality of the default model: on synthetic grievances, and on a labelled CSV.

Synthetic: trains the default classifier on N rows per label (half from the base distribution, half
drifted) and scores it on held-out rows from the same mix. CSV: 3-fold stratified cross-validation.
Also times saving and loading the model (the predict job's start-up).

    python bench/retrain_speed.py --rows 10000 --holdout 2500
    python bench/retrain_speed.py --csv ../shared/data/grievance_tweets.csv
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from orchestrator.jobs import synthetic
from orchestrator.jobs.model import load, macro_f1, save, train


def synthetic_rows(args: argparse.Namespace) -> None:
    rows = synthetic.mixed(args.rows, seed=0)
    held = synthetic.mixed(args.holdout, seed=1, start_id=10_000_000)
    print(f"{'label':<12}{'train rows':>11}{'train s':>9}{'macro-F1':>10}{'save s':>8}{'load s':>8}{'MB':>6}")
    for label in ("department", "urgency"):
        started = time.perf_counter()
        model = train([g.text for g in rows], [getattr(g, label) for g in rows])
        elapsed = time.perf_counter() - started
        score = macro_f1(model, [g.text for g in held], [getattr(g, label) for g in held])
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.skops"
            started = time.perf_counter()
            save(model, path)
            saved = time.perf_counter() - started
            started = time.perf_counter()
            load(path)
            loaded = time.perf_counter() - started
            size = path.stat().st_size / 1e6
        print(f"{label:<12}{args.rows:>11}{elapsed:>9.1f}{score:>10.3f}{saved:>8.2f}{loaded:>8.2f}{size:>6.1f}")


def csv_rows(path: Path, label: str, text: str) -> None:
    import pandas as pd
    from sklearn.model_selection import StratifiedKFold

    frame = pd.read_csv(path).dropna(subset=[text, label])
    scores, seconds = [], []
    for train_index, test_index in StratifiedKFold(3, shuffle=True, random_state=0).split(frame, frame[label]):
        fold, held = frame.iloc[train_index], frame.iloc[test_index]
        started = time.perf_counter()
        model = train(list(fold[text]), list(fold[label]))
        seconds.append(time.perf_counter() - started)
        scores.append(macro_f1(model, list(held[text]), list(held[label])))
    mean = sum(scores) / len(scores)
    print(f"{path.name}: 3-fold macro-F1 {mean:.3f} ({', '.join(f'{s:.3f}' for s in scores)}), "
          f"{sum(seconds) / len(seconds):.1f} s per fold of {len(frame) * 2 // 3} rows")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--holdout", type=int, default=2_500)
    parser.add_argument("--csv", type=Path, help="cross-validate on this labelled CSV instead")
    parser.add_argument("--label-column", default="label")
    parser.add_argument("--text-column", default="text")
    args = parser.parse_args()
    if args.csv:
        csv_rows(args.csv, args.label_column, args.text_column)
    else:
        synthetic_rows(args)


if __name__ == "__main__":
    main()
