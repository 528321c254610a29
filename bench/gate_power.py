"""What gain the deploy gate can see, at what error rate: acceptance rates by true macro-F1 gain.

Simulated evaluation sets (see ``orchestrator/jobs/power.py``): a champion right on 85% of the traffic,
four balanced classes, golden rows with gold labels, and traffic rows of which staff review half and
correct the mistakes they see. The real gate decides on each; the table gives the share it accepts.
A negative gain is a regression: its acceptance rate is the gate's error rate.

    python bench/gate_power.py                       # the table in docs/learning-loop.md
    python bench/gate_power.py --trials 400 --golden 50 --traffic 300 2000
    python bench/gate_power.py --accuracy 0.95 --base-rows 300   # review_rate unset: the error rate estimated
"""

from __future__ import annotations

import argparse
import time

from orchestrator.jobs.power import World, acceptance_rate

GAINS = (-0.02, -0.01, -0.005, 0.0, 0.005, 0.01, 0.02, 0.03, 0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--golden", type=int, default=100)
    parser.add_argument("--traffic", type=int, nargs="+", default=[500, 1000, 4000])
    parser.add_argument("--accuracy", type=float, default=0.85)
    parser.add_argument("--base-rows", type=int, help="review_rate unset: the champion's error rate is estimated on this many "
                        "base rows (default: the review rate is known)")
    args = parser.parse_args()
    started = time.perf_counter()
    header = " | ".join(f"{g:+.3f}" for g in GAINS)
    print(f"| evaluation rows (golden + traffic) | {header} |")
    print("|---|" + "---:|" * len(GAINS))
    for traffic in args.traffic:
        world = World(golden=args.golden, traffic=traffic, accuracy=args.accuracy, base_rows=args.base_rows)
        rates = [acceptance_rate(gain, world, trials=args.trials, seed=index)[0] for index, gain in enumerate(GAINS)]
        print(f"| {args.golden} + {traffic} | " + " | ".join(f"{r:.0%}" for r in rates) + " |", flush=True)
    print(f"\n{args.trials} trials per cell, {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
