"""Training time and quality of the default model on the demo's synthetic grievances.

Trains the default classifier (character n-gram TF-IDF + logistic regression) on N synthetic rows per
label and scores it on a held-out set from the same distribution.

    python bench/retrain_speed.py --rows 10000 --holdout 2500
"""

from __future__ import annotations

import argparse
import time

from orchestrator.jobs import synthetic
from orchestrator.jobs.model import macro_f1, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--holdout", type=int, default=2_500)
    args = parser.parse_args()
    rows = synthetic.generate(args.rows, seed=0)
    held = synthetic.generate(args.holdout, seed=1, start_id=10_000_000)
    print(f"{'label':<12}{'train rows':>11}{'train s':>9}{'macro-F1':>10}")
    for label in ("department", "urgency"):
        started = time.perf_counter()
        model = train([g.text for g in rows], [getattr(g, label) for g in rows])
        elapsed = time.perf_counter() - started
        score = macro_f1(model, [g.text for g in held], [getattr(g, label) for g in held])
        print(f"{label:<12}{args.rows:>11}{elapsed:>9.1f}{score:>10.3f}")


if __name__ == "__main__":
    main()
