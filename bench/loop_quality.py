"""Does the loop learn? The whole feedback loop on a labelled CSV, through the real CLI, round by round.

    python bench/loop_quality.py ../shared/data/grievance_tweets.csv               # columns id, text, label
    python bench/loop_quality.py data.csv --label-name urgency --text-column message
    python bench/loop_quality.py --synthetic department                             # the synthetic stream

The protocol (fixed, so that runs compare; ``--protocol-seed K`` draws another split and review sample of the same
rows, adding ``10 × K`` to each random state below and seeding the review draw with ``K``, so that a bias can be
told from the luck of one fixed sample):
- test: 15% of the rows, stratified, ``random_state=1``: held out by the benchmark, never shown to the
  orchestrator, and used only to score the deployed model;
- base: 10% of the rest, stratified, ``random_state=2``: the labelled set the first model is trained on;
- stream: the remainder, shuffled with ``random_state=3`` and cut into 10 batches with ``s.iloc[i::10]``;
- per round: the deployed model labels the batch through ``orchestrator predict``, the batch goes into the
  app's ``complaints`` table with those labels, ``numpy.random.default_rng(0)`` draws half of it as
  reviewed, a correction is recorded for each reviewed wrong prediction (``--confirm``: a confirmation
  for each reviewed right one too), and one ``orchestrator run`` cycle follows, with local commands
  running ``orchestrator prepare`` and ``orchestrator retrain``.

It prints one line per round (corrections so far, deployed or not, the deployed model's held-out macro-F1,
the "shadow" score the rejected challenger would have had, the gate's estimated gain (*est.*) beside the true gain
on the very rows the gate decided on (*rows*: its ``evaluation.parquet`` with every row's true label) and on the
benchmark's test rows (*true*), the negative flips, the champion's error rate as the gate estimated it (*e est*, which
stands in for the unknown review share, blank when the share is carried from an earlier model) and as it was on the
batch it had just served (*e true*), the share of mistakes reviewed that the gate worked with (*r est*: one over one
plus the hidden mistakes per correction) and as it was on all the traffic served so far (*r true*), and the gate's
reason), then start, worst, final, the oracle
(the default model trained on all non-test rows), the share of the start→oracle gap closed with the pass
criteria, and the gate's bias (estimated minus true gain: mean and largest), split into the reconstruction's
part (est. − rows) and the two samples' (rows − true), and the mean biases of the error rate and of the share reviewed. ``--json FILE`` writes every
figure.

It runs with the settings a new user has: nothing in ``[jobs]`` but what a benchmark must set (a fixed
seed and ``min_f1 = 0`` so
that a weak base set still starts the loop). ``--review-rate 0.5`` tells the gate the protocol's true review
share, which a user does not know; the docs give both figures. ``--set KEY=VALUE`` sets any other ``[jobs]`` key,
and says so in the configuration it writes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from sqlalchemy import Boolean, Column, Integer, MetaData, String, Table, Text, create_engine, insert

REPO = Path(__file__).resolve().parents[1]
ROUNDS = 10


def load(args: argparse.Namespace) -> pd.DataFrame:
    """The rows, as columns id, text, label."""
    if args.synthetic:
        from orchestrator.jobs import synthetic

        # Half from the base distribution, half from the later, drifted one (new topics, another class mix).
        rows = synthetic.generate(args.rows // 2, seed=11) + synthetic.drift(args.rows - args.rows // 2, seed=12, start_id=10**6)
        return pd.DataFrame({"id": [r.id for r in rows], "text": [r.text for r in rows], "label": [getattr(r, args.synthetic) for r in rows]})
    frame = pd.read_csv(args.csv, dtype={"id": str})
    missing = [c for c in ("id", args.text_column, args.label_name) if c not in frame.columns]
    if missing:
        sys.exit(f"{args.csv}: no column {', '.join(missing)} (columns: {', '.join(frame.columns)})")
    frame = frame.rename(columns={args.text_column: "text", args.label_name: "label"})[["id", "text", "label"]]
    return frame.dropna().astype({"id": str, "text": str, "label": str})


def protocol(frame: pd.DataFrame, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, list[pd.DataFrame]]:
    rest, test = train_test_split(frame, test_size=0.15, stratify=frame.label, random_state=1 + 10 * seed)
    stream, base = train_test_split(rest, test_size=0.10, stratify=rest.label, random_state=2 + 10 * seed)
    shuffled = stream.sample(frac=1, random_state=3 + 10 * seed)
    return test, base, [shuffled.iloc[i::ROUNDS] for i in range(ROUNDS)]


def schema(label: str) -> tuple[MetaData, Table, Table]:
    """The app's two tables (the Sambodhan shape, with one label column named after the label)."""
    metadata = MetaData()
    complaints = Table("complaints", metadata, Column("id", Integer, primary_key=True), Column("message", Text),
                       Column(label, String(200)))
    feedback = Table(
        "misclassified_complaints", metadata, Column("id", Integer, primary_key=True),
        Column("complaint_id", Integer, nullable=False), Column(f"model_predicted_{label}", String(200)),
        Column(f"correct_{label}", String(200)), Column("reviewed", Boolean),
    )
    return metadata, complaints, feedback


def write_config(work: Path, label: str, args: argparse.Namespace) -> Path:
    python = json.dumps(sys.executable)
    command = f'[{python}, "-m", "orchestrator"'
    review = "" if args.review_rate in (None, "auto") else f"review_rate = {float(args.review_rate)}  # the protocol reviews this share"
    review += "".join(f"\n{setting}  # --set: not the default" for setting in args.set)
    config = work / "loop.toml"
    config.write_text(
        f"""[orchestrator]
database_url = "sqlite:///app.db"
poll_interval = 0.5
poll_timeout = 900

[prepare]
target = {{ command = {command}, "prepare", "--config", "loop.toml", "--label", "{{labels}}"], cwd = {json.dumps(str(work))}, timeout = 3600 }}

[jobs]
seed = 0
min_f1 = 0.0  # the benchmark measures learning from whatever the base set gives
{review}

[jobs.labels.{label}]
model = "hub/models/{label}"
base_dataset = "base.csv"

[labels.{label}]
threshold = {args.threshold}
dataset = "hub/datasets/{label}"
retrain = {{ command = {command}, "retrain", "--config", "loop.toml", "--label", "{{label}}", "--dataset-version", "{{version}}"], cwd = {json.dumps(str(work))}, timeout = 3600 }}
""",
        encoding="utf-8",
    )
    return config


def cli(work: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "orchestrator", *args], cwd=work, env=env, input=stdin,
                          capture_output=True, text=True)
    return done


def predict(work: Path, label: str, texts: list[str], model: Path | None = None) -> list[str]:
    lines = "\n".join(t.replace("\n", " ").replace("\r", " ") or "." for t in texts) + "\n"
    extra = ["--model", str(model)] if model else []
    done = cli(work, "predict", "--config", "loop.toml", "--label", label, *extra, stdin=lines)
    if done.returncode:
        sys.exit(f"orchestrator predict failed:\n{done.stderr}")
    labels = done.stdout.splitlines()
    if len(labels) != len(texts):
        sys.exit(f"orchestrator predict gave {len(labels)} labels for {len(texts)} texts")
    return labels


def macro_f1(truth: list[str], predicted: list[str]) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(truth, predicted, labels=sorted(set(truth) | set(predicted)), average="macro", zero_division=0))


def decisions(work: Path, label: str) -> list[Path]:
    return sorted((work / "hub" / "models" / label / "decisions").glob("*.json"))


def gain_on_its_rows(work: Path, label: str, version: str | None, truth: dict[str, str]) -> dict[str, float | None] | None:
    """The chosen challenger's true gain over the champion on the very rows the gate decided on
    (``versions/<V>/evaluation.parquet``), every row with its true label: what the gate's estimate would be with
    no reconstruction to do. The estimate minus this is the reconstruction's error; this minus the gain on the
    benchmark's test rows is the luck of two finite samples. Also on the held-out rows and on the rows scored out of
    fold, apart."""
    import pyarrow.parquet as pq

    from orchestrator.jobs.evaluate import class_indices, encode, weighted_macro_f1
    from orchestrator.jobs.evaluation_rows import Rows
    from orchestrator.jobs.hidden import Hidden

    path = work / "hub" / "models" / label / "versions" / str(version) / "evaluation.parquet"
    if not version or not path.exists():
        return None
    table = pq.read_table(path).to_pydict()
    if any(c is None for c in table["champion"]):
        return None
    labels = tuple(truth.get(i, y) for i, y in zip(table["id"], table["label"]))
    rows = Rows(tuple(table["id"]), labels, tuple(table["served"]), tuple(table["source"]), tuple(table["weight"]))
    classes = sorted({*labels, *table["champion"], *table["challenger"], *(s for s in table["served"] if s)})
    encoded = encode(rows, Hidden(0.0, "true labels: nothing hidden"), classes)
    challenger, champion = class_indices(classes, table["challenger"]), class_indices(classes, table["champion"])
    out_of_fold = np.asarray(table["out_of_fold"])
    parts = {"all": None, "held_out": ~out_of_fold, "out_of_fold": out_of_fold}
    gains = {}
    for part, mask in parts.items():
        a, b = weighted_macro_f1(encoded, challenger, mask), weighted_macro_f1(encoded, champion, mask)
        gains[part] = None if a is None or b is None else a - b
    return gains


def oracle_score(rest: pd.DataFrame, test: pd.DataFrame) -> float:
    from orchestrator.jobs.model import train

    model = train(list(rest.text), list(rest.label))
    return macro_f1(list(test.label), model.predict(list(test.text)))


def source_arguments(parser: argparse.ArgumentParser) -> None:
    """The rows a benchmark runs on: a labelled CSV, or the synthetic stream (see :func:`load`)."""
    parser.add_argument("csv", nargs="?", type=Path, help="a CSV with columns id, text and the label")
    parser.add_argument("--label-name", default="label", help="the label's column, and its name in the orchestrator")
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--synthetic", choices=("department", "urgency"), help="use the synthetic stream instead of a CSV")
    parser.add_argument("--rows", type=int, default=6000, help="synthetic rows (default 6000)")


def workspace(args: argparse.Namespace, label: str, base: pd.DataFrame, prefix: str) -> Path:
    """A fresh working folder (``--workdir``, or a temporary one) with the base set, the configuration and the app's
    tables, empty."""
    work = args.workdir or Path(tempfile.mkdtemp(prefix=prefix))
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    base.rename(columns={"label": label})[["id", "text", label]].to_csv(work / "base.csv", index=False)
    write_config(work, label, args)
    engine = create_engine(f"sqlite:///{work / 'app.db'}")
    schema(label)[0].create_all(engine)
    engine.dispose()
    return work


def first_model(work: Path, label: str) -> None:
    """Round 0: ``orchestrator prepare`` and ``retrain`` on the base set alone."""
    for step in ("prepare", "retrain"):
        done = cli(work, step, "--config", "loop.toml", "--label", label)
        if done.returncode:
            sys.exit(f"round 0: orchestrator {step} failed:\n{done.stderr}")


def parse(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """The arguments, with a source of rows, and ``--set`` keys (where the benchmark has them) that it may set."""
    args = parser.parse_args()
    if not args.synthetic and not args.csv:
        parser.error("give a CSV, or --synthetic department|urgency")
    for setting in getattr(args, "set", []):
        key = setting.partition("=")[0].strip()
        if "=" not in setting or not key:
            parser.error(f"--set {setting!r}: expected KEY=VALUE, e.g. --set crossfit_folds=10")
        if key in ("seed", "min_f1", "review_rate"):
            parser.error(f"--set {key}: the benchmark sets it itself" + (" (use --review-rate)" if key == "review_rate" else ""))
    return args


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source_arguments(parser)
    parser.add_argument("--threshold", type=int, default=10, help="dataset rows that fire a prepare (default 10)")
    parser.add_argument("--review-rate", default=None, help="jobs.review_rate to configure (default: unset, as a user has it)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a [jobs] setting in TOML, e.g. --set crossfit_folds=10 (default: none, as a user has it)")
    parser.add_argument("--protocol-seed", type=int, default=0, help="another split and review sample of the same rows (default 0)")
    parser.add_argument("--confirm", action="store_true", help="also record a confirmation for each reviewed right prediction")
    parser.add_argument("--workdir", type=Path, help="keep the working folder here (default: a temporary one)")
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    args = parse(parser)
    label = args.synthetic or args.label_name
    frame = load(args)
    test, base, batches = protocol(frame, args.protocol_seed)
    work = workspace(args, label, base, "loop-quality-")
    engine = create_engine(f"sqlite:///{work / 'app.db'}")
    _, complaints, feedback = schema(label)
    source = args.csv.name if args.csv else f"synthetic {args.synthetic} ({len(frame)} rows)"
    if args.protocol_seed:
        source += f", protocol seed {args.protocol_seed}"
    print(f"{source}: {len(frame)} rows, test {len(test)}, base {len(base)}, stream {sum(map(len, batches))} in {ROUNDS} batches")

    started = time.perf_counter()
    first_model(work, label)
    truth = list(test.label)
    score = macro_f1(truth, predict(work, label, list(test.text)))
    rows = [{"round": 0, "corrections": 0, "deployed": True, "macro_f1": score, "shadow": None, "reason": "first model"}]
    print(f"{'round':>5} {'corr.':>6} {'deployed':>8} {'macro-F1':>8} {'shadow':>7} {'est.':>7} {'rows':>7} {'true':>7} "
          f"{'flips':>9} {'e est':>6} {'e true':>6} {'r est':>6} {'r true':>6}  reason")
    print(f"{0:>5} {0:>6} {'yes':>8} {score:>8.4f} {'':>7} {'':>7} {'':>7} {'':>7} {'':>9} {'':>6} {'':>6} {'':>6} {'':>6}  first model")
    rng = np.random.default_rng(args.protocol_seed)
    gold_of: dict[str, str] = {}  # the orchestrator's row id of each complaint -> its true label
    corrections = 0
    mistakes = 0  # every wrong served label so far, reviewed or not
    next_id = 1
    for number, batch in enumerate(batches, start=1):
        served = predict(work, label, list(batch.text))
        reviewed = rng.random(len(batch)) < 0.5
        with engine.begin() as conn:
            for (text, gold), model_label, seen in zip(zip(batch.text, batch.label), served, reviewed):
                conn.execute(insert(complaints).values(id=next_id, message=text, **{label: model_label}))
                gold_of[f"c{next_id}"] = gold
                if seen and (model_label != gold or args.confirm):
                    conn.execute(insert(feedback).values(
                        complaint_id=next_id, reviewed=True,
                        **{f"model_predicted_{label}": model_label, f"correct_{label}": gold}))
                    corrections += model_label != gold
                mistakes += model_label != gold
                next_id += 1
        before = decisions(work, label)
        done = cli(work, "run", "--config", "loop.toml")
        if done.returncode not in (0,):
            print(done.stderr[-3000:])
            sys.exit(f"round {number}: orchestrator run exited {done.returncode}")
        new = [p for p in decisions(work, label) if p not in before]
        decision = json.loads(new[-1].read_text()) if new else None
        score = macro_f1(truth, predict(work, label, list(test.text)))
        shadow = None
        if decision and not decision["accepted"]:
            challenger = work / "hub" / "models" / label / "versions" / str(decision.get("model_version")) / "model.skops"
            if challenger.exists():
                shadow = macro_f1(truth, predict(work, label, list(test.text), model=challenger))
        deployed = bool(decision and decision["accepted"])
        reason = decision["reason"] if decision else "no retrain this round"
        chosen = next((c for c in decision["candidates"] if c.get("recipe") == decision.get("recipe")), {}) if decision else {}
        estimated = chosen.get("delta")
        challenger = score if deployed else shadow
        true_gain = None if estimated is None or challenger is None else challenger - rows[-1]["macro_f1"]
        parts = gain_on_its_rows(work, label, decision.get("model_version"), gold_of) if estimated is not None else None
        on_rows = parts["all"] if parts else None
        flips = f"{chosen['negative_flips']}/{chosen['flip_rows']}" if "negative_flips" in chosen else ""
        # the champion's error rate as the gate estimated it, and as it was on the batch it just served
        evidence = (decision or {}).get("evidence", {})
        found = re.search(r"error rate ([0-9.]+) ± [0-9.]+ of the champion", str(evidence.get("hidden_mistakes", "")))
        error_estimated = float(found.group(1)) if found else None
        error_true = float(np.mean([m != g for m, g in zip(served, batch.label)]))
        per_correction = evidence.get("hidden_per_correction")
        nothing_hidden = "no corrections among the evaluation rows" in str(evidence.get("hidden_mistakes", ""))
        share_estimated = None if per_correction is None or nothing_hidden else 1 / (1 + per_correction)
        share_true = corrections / mistakes if mistakes else None
        rows.append({"round": number, "corrections": corrections, "deployed": deployed, "macro_f1": score,
                     "shadow": shadow, "reason": reason, "recipe": decision.get("recipe") if decision else None,
                     "estimated_gain": estimated, "true_gain": true_gain, "true_gain_on_its_rows": on_rows, "true_gain_parts": parts,
                     "flips": flips, "error_rate_estimated": error_estimated, "error_rate_true": error_true,
                     "share_estimated": share_estimated, "share_true": share_true})
        print(f"{number:>5} {corrections:>6} {'yes' if deployed else 'no':>8} {score:>8.4f} "
              f"{'' if shadow is None else f'{shadow:.4f}':>7} {'' if estimated is None else f'{estimated:+.4f}':>7} "
              f"{'' if on_rows is None else f'{on_rows:+.4f}':>7} "
              f"{'' if true_gain is None else f'{true_gain:+.4f}':>7} {flips:>9} "
              f"{'' if error_estimated is None else f'{error_estimated:.3f}':>6} {error_true:>6.3f} "
              f"{'' if share_estimated is None else f'{share_estimated:.3f}':>6} {'' if share_true is None else f'{share_true:.3f}':>6}"
              f"  {reason[:150]}", flush=True)

    rest = pd.concat([base, *batches])
    oracle = oracle_score(rest, test)
    scores = [r["macro_f1"] for r in rows]
    start, worst, final = scores[0], min(scores), scores[-1]
    drops = [b - a for a, b, r in zip(scores, scores[1:], rows[1:]) if r["deployed"]]
    closed = (final - start) / (oracle - start) if oracle > start else float("nan")
    criteria = {
        "worst >= start - 0.005": worst >= start - 0.005,
        "final >= start": final >= start,
        "closes >= 50% of the gap": closed >= 0.5,
        "no deploy lowers macro-F1 by > 0.005": all(d >= -0.005 for d in drops),
    }
    elapsed = time.perf_counter() - started
    biases = [r["estimated_gain"] - r["true_gain"] for r in rows[1:] if r.get("true_gain") is not None]
    own = [r["estimated_gain"] - r["true_gain_on_its_rows"] for r in rows[1:] if r.get("true_gain_on_its_rows") is not None]
    luck = [r["true_gain_on_its_rows"] - r["true_gain"] for r in rows[1:]
            if r.get("true_gain_on_its_rows") is not None and r.get("true_gain") is not None]
    bias = {"mean": float(np.mean(biases)) if biases else None, "largest": max(biases, key=abs) if biases else None,
            "rounds": len(biases), "reconstruction_mean": float(np.mean(own)) if own else None,
            "reconstruction_largest": max(own, key=abs) if own else None,
            "samples_mean": float(np.mean(luck)) if luck else None}
    errors = [(r["error_rate_estimated"], r["error_rate_true"]) for r in rows[1:] if r.get("error_rate_estimated") is not None]
    bias["error_rate_mean"] = float(np.mean([a - b for a, b in errors])) if errors else None
    shares = [(r["share_estimated"], r["share_true"]) for r in rows[1:]
              if r.get("share_estimated") is not None and r.get("share_true") is not None]
    bias["share_mean"] = float(np.mean([a - b for a, b in shares])) if shares else None
    print(f"\nstart {start:.4f}  worst {worst:.4f}  final {final:.4f}  oracle {oracle:.4f}  "
          f"gap closed {closed:.0%}  deploys {len(drops)}/{ROUNDS}  largest drop {min(drops, default=0.0):+.4f}  ({elapsed:.0f} s)")
    if biases:
        print(f"gate bias (estimated - true gain) over {len(biases)} rounds: mean {bias['mean']:+.4f}, largest {bias['largest']:+.4f}")
    if own:
        print(f"  of which the reconstruction (estimated - true gain on the gate's own rows): mean "
              f"{bias['reconstruction_mean']:+.4f}, largest {bias['reconstruction_largest']:+.4f}; and the two samples "
              f"(gate's rows - test rows): mean {bias['samples_mean']:+.4f}")
    if errors:
        print(f"  the champion's error rate as estimated minus as it was on the batch it served: mean "
              f"{bias['error_rate_mean']:+.4f} over {len(errors)} rounds")
    if shares:
        print(f"  the share of mistakes reviewed as the gate worked with it minus as it was: mean "
              f"{bias['share_mean']:+.4f} over {len(shares)} rounds")
    for name, ok in criteria.items():
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    if args.json:
        args.json.write_text(json.dumps({"source": source, "label": label, "rounds": rows, "start": start, "worst": worst,
                                         "final": final, "oracle": oracle, "closed": closed, "criteria": criteria, "bias": bias,
                                         "seconds": elapsed}, indent=2))
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
