"""Does the gate's golden slice flatter the champion it chose? Read from kept runs of ``bench/loop_quality.py``.

    python bench/loop_quality.py ../shared/data/grievance_tweets.csv --protocol-seed 1 --workdir runs/1 --json runs/1.json
    python bench/champion_error.py --csv ../shared/data/grievance_tweets.csv runs/1 [runs/2 ...]

For every retrain of each run (its ``evaluation.parquet``, and the round's figures in the run's ``--json`` file beside
its folder, named ``<folder>.json``, matched by the decision's reason), the champion's error rate:
- on the golden slice (base rows no model trained on), with their labels;
- on the held-out traffic rows (never trained on), with their true labels from the CSV;
- as the gate estimated it (the golden slice corrected by the base rows scored out of fold), where the gate used it:
  not where it used a share of mistakes reviewed carried from an earlier model;
- on the batch it had just served (the benchmark's truth): what the estimate is for.
And the share of mistakes reviewed the gate worked with, minus the share on all the traffic served so far.

Each row is split by whether the champion is still the first model or a challenger the gate deployed. The gate
chose a deployed challenger on its golden and held-out rows (and the first model, with ``min_f1 = 0``, on nothing),
so if those rows flatter the models it chose, it shows as a lower error there than on the next batch.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from loop_quality import load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    run_arguments(parser)
    args = parser.parse_args()
    by_id, by_text = true_labels(parser, args)
    rows = [row for run in args.runs for row in one_run(run, by_id, by_text)]
    table = pd.DataFrame(rows)
    print("the champion's error rate minus its error on the batch it had just served, and the share of mistakes reviewed "
          "the gate worked with minus the truth (mean ± standard error):")
    for after, group in table.groupby("after_deploy"):
        who = "a deployed challenger" if after else "the first model"
        parts = [f"{name} {values.mean():+.4f} ± {values.std(ddof=1) / len(values) ** 0.5:.4f}"
                 + (f" (the {len(values)} retrains that used it)" if len(values) < len(group) else "")
                 for name, values in (("golden slice", group.golden - group.batch), ("held-out traffic", group.held_out - group.batch),
                                      ("the gate's estimate", (group.estimated - group.batch).dropna()),
                                      ("the share reviewed", group.share.dropna()))
                 if len(values) > 1]
        print(f"  {who} ({len(group)} retrains): " + "; ".join(parts))


def run_arguments(parser: argparse.ArgumentParser) -> None:
    """The kept runs to read, and the rows they were made from, whose true labels they need."""
    parser.add_argument("--csv", type=Path, help="the CSV the runs were made from (columns id, text, label)")
    parser.add_argument("--synthetic", choices=("department", "urgency"), help="the runs were made on the synthetic stream")
    parser.add_argument("--rows", type=int, default=6000, help="synthetic rows (default 6000, as the runs had them)")
    parser.add_argument("runs", type=Path, nargs="+", help="folders kept with --workdir, each with <folder>.json beside it")


def true_labels(parser: argparse.ArgumentParser, args: argparse.Namespace) -> tuple[dict[str, str], dict[str, str]]:
    """The true label of every row the runs were made from: by id (base rows) and by text (traffic rows, which the
    app's database holds by text)."""
    if bool(args.csv) == bool(args.synthetic):
        parser.error("give the rows the runs were made from: --csv FILE or --synthetic department|urgency")
    source = argparse.Namespace(csv=args.csv, synthetic=args.synthetic, rows=args.rows, text_column="text", label_name="label")
    frame = load(source)
    return dict(zip(frame.id, frame.label)), dict(zip(frame.text, frame.label))


def kept_retrains(run: Path, by_id: dict[str, str], by_text: dict[str, str]) -> Iterator[dict]:
    """Each retrain of a kept run: its round number, the round's figures from ``<folder>.json``, its decision (matched by
    the reason, which the benchmark's rounds repeat word for word) and its evaluation rows with a ``truth`` column (the
    true label of every row, from the rows the run was made from). Rounds whose rows cannot be read, or were not compared with a champion, are
    left out."""
    figures = json.loads(run.with_suffix(".json").read_text(encoding="utf-8"))
    with sqlite3.connect(run / "app.db") as db:
        messages = dict(db.execute("select id, message from complaints").fetchall())
    store = run / "hub" / "models" / figures["label"]
    decisions = {}
    for path in (store / "decisions").glob("*.json"):
        decision = json.loads(path.read_text(encoding="utf-8"))
        decisions[decision["reason"]] = decision
    for index, round_ in enumerate(figures["rounds"]):
        decision = decisions.get(round_.get("reason"))
        version = decision and (decision.get("model_version") or decision["dataset_version"])
        path = store / "versions" / str(version) / "evaluation.parquet"
        if not decision or not path.exists():
            continue
        table = pq.read_table(path).to_pandas()
        if table.champion.isna().any():
            continue
        table["truth"] = [by_id.get(i[1:]) if i.startswith("b") else by_text.get(messages.get(int(i[1:]))) for i in table.id]
        yield {"index": index, "round": round_, "rounds": figures["rounds"], "decision": decision, "table": table}


def one_run(run: Path, by_id: dict[str, str], by_text: dict[str, str]) -> list[dict]:
    rows = []
    for kept in kept_retrains(run, by_id, by_text):
        round_, table = kept["round"], kept["table"]
        if round_.get("error_rate_true") is None:
            continue
        held = table[~table.out_of_fold & table.truth.notna()]
        wrong = held.champion != held.truth
        rows.append({
            "after_deploy": any(earlier["deployed"] for earlier in kept["rounds"][1:kept["index"]]),  # round 0: the first model
            "golden": float(wrong[held.source == "base"].mean()),
            "held_out": float(wrong[held.source != "base"].mean()),
            # None when the gate used a share of mistakes reviewed carried from an earlier model, not this one's rate
            "estimated": np.nan if round_["error_rate_estimated"] is None else round_["error_rate_estimated"],
            "batch": round_["error_rate_true"],
            "share": np.nan if round_.get("share_estimated") is None or round_.get("share_true") is None
            else round_["share_estimated"] - round_["share_true"],
        })
    return [row for row in rows if not np.isnan(row["held_out"])]


if __name__ == "__main__":
    main()
