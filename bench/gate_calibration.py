"""Is the gate's risk what it says? Read from kept runs of ``bench/loop_quality.py``.

    python bench/loop_quality.py ../shared/data/grievance_tweets.csv --protocol-seed 1 --workdir runs/1 --json runs/1.json
    python bench/gate_calibration.py --csv ../shared/data/grievance_tweets.csv runs/1 [runs/2 ...]

For every retrain the gate compared with a champion, the chosen challenger's *risk* (the share of bootstrap resamples in
which it loses more than the margin, 0.005) and *wins* (the share in which it gains), against what happened: its true
gain on the benchmark's test rows and on the very rows the gate decided on, with their true labels.
- **Calibration.** The estimated gain's error against the truth, beside the bootstrap's own spread: if the spread
  is right, the error in units of it has a standard deviation of about 1 (more on the test rows, whose own sample adds
  noise). Over the deploys (risk at most 10% by the gate's rule), the sum of the risks is the number of deploys that
  lose more than the margin one would expect if each risk were that deploy's chance.
- **What the reconstruction assumes.** The traffic's mistakes nobody reviewed are counted as the corrections'
  hidden twins: the challenger is assumed to fix them as often as it fixes the corrections. On the held-out rows
  (neither model trained on them), the share of the corrections it fixes against the share of the mistakes nobody
  reviewed (unflagged rows whose served label is wrong, known here from the CSV). Which mistakes were reviewed is one
  random draw per run, the same in every round, so a run's rounds share its luck: the spread between runs says how
  large that luck is.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd
from champion_error import kept_retrains, run_arguments, true_labels

MARGIN = 0.005  # jobs.margin's default: a loss beyond it is what the gate's risk counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    run_arguments(parser)
    args = parser.parse_args()
    by_id, by_text = true_labels(parser, args)
    table = pd.DataFrame([row for run in args.runs for row in one_run(run, by_id, by_text)])
    if table.empty:
        raise SystemExit("no retrain compared with a champion in these runs")
    print(f"{len(table)} retrains compared with a champion, in {table.run.nunique()} runs\n")
    test_error, own_error = table.estimated - table.true_gain, table.estimated - table.gain_on_its_rows
    spread = table.spread.dropna()
    print("the estimated gain minus the true gain (mean, standard deviation):")
    print(f"  on the benchmark's test rows {test_error.mean():+.4f}, {test_error.std(ddof=1):.4f}; on the gate's own rows "
          f"{own_error.mean():+.4f}, {own_error.std(ddof=1):.4f} (the reconstruction's part)")
    print(f"  the gate's own spread (its bootstrap's standard deviation, read off wins and risk as a normal's): root mean "
          f"square {np.sqrt((spread ** 2).mean()):.4f} over {len(spread)} retrains; the test rows add their own sampling "
          f"noise to the first figure")
    print(f"  the estimate's error in units of that spread: standard deviation {(test_error / table.spread).std(ddof=1):.2f} "
          f"on test, {(own_error / table.spread).std(ddof=1):.2f} on its rows (1 if the spread were the error's)")
    print(f"wins (the share of resamples the challenger gains in): mean {table.wins.mean():.1%}; a true gain on test in "
          f"{(table.true_gain > 0).mean():.1%}, on its rows in {(table.gain_on_its_rows > 0).mean():.1%}")
    deployed = table[table.deployed]
    if len(deployed):
        print(f"deploys: {len(deployed)}; expected to lose more than {MARGIN:g}, if the risk were each one's chance: "
              f"{deployed.risk.sum():.1f}; did on test: {int((deployed.true_gain < -MARGIN).sum())}, "
              f"on its rows: {int((deployed.gain_on_its_rows < -MARGIN).sum())}")
    print("\nthe challenger's share of mistakes fixed, on held-out rows: the corrections against the mistakes nobody reviewed")
    per_run = table.groupby("run")[["fixed_corrections", "corrections", "fixed_hidden", "hidden"]].sum()
    per_run["corrections fixed"] = per_run.fixed_corrections / per_run.corrections
    per_run["hidden fixed"] = per_run.fixed_hidden / per_run.hidden
    per_run["difference"] = per_run["corrections fixed"] - per_run["hidden fixed"]
    for run, row in per_run.iterrows():
        print(f"  {run}: {row['corrections fixed']:.1%} of {row.corrections:.0f} corrections, {row['hidden fixed']:.1%} of "
              f"{row.hidden:.0f} hidden mistakes (over its rounds, rows repeated): difference {row.difference:+.1%}")
    spread = per_run.difference.std(ddof=1) / len(per_run) ** 0.5 if len(per_run) > 1 else float("nan")
    print(f"  mean difference over the runs {per_run.difference.mean():+.1%} ± {spread:.1%}")


def bootstrap_spread(wins: float, risk: float) -> float:
    """The standard deviation of a normal whose mass below 0 is ``1 - wins`` and below ``-MARGIN`` is ``risk``: the
    bootstrap's spread, which the decision does not store; NaN where either share is too close to 0 or 1 to tell."""
    if not (0.01 < wins < 0.99 and 0.01 < risk < 0.99):
        return float("nan")
    apart = NormalDist().inv_cdf(1 - wins) - NormalDist().inv_cdf(risk)
    return MARGIN / apart if apart > 0 else float("nan")  # no resample between -MARGIN and 0: no spread to read


def one_run(run: Path, by_id: dict[str, str], by_text: dict[str, str]) -> list[dict]:
    rows = []
    for kept in kept_retrains(run, by_id, by_text):
        round_, decision, table = kept["round"], kept["decision"], kept["table"]
        chosen = next((c for c in decision.get("candidates", []) if c.get("recipe") == decision.get("recipe")), None)
        if chosen is None or round_.get("true_gain") is None or round_.get("true_gain_on_its_rows") is None:
            continue
        held = table[~table.out_of_fold & table.truth.notna()]
        corrections = held[held.source == "feedback"]
        hidden = held[(held.source == "sampled") & (held.label != held.truth)]
        rows.append({
            "run": str(run), "round": kept["index"], "deployed": bool(decision["accepted"]),
            "risk": chosen["risk"], "wins": chosen["wins"], "estimated": chosen["delta"],
            "spread": bootstrap_spread(chosen["wins"], chosen["risk"]),
            "true_gain": round_["true_gain"], "gain_on_its_rows": round_["true_gain_on_its_rows"],
            "corrections": len(corrections), "fixed_corrections": int((corrections.challenger == corrections.truth).sum()),
            "hidden": len(hidden), "fixed_hidden": int((hidden.challenger == hidden.truth).sum()),
        })
    return rows


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
