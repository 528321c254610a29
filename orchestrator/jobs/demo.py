"""``orchestrator demo``: the whole loop on a laptop, with no account and no network.

It makes a working folder with a SQLite app database, local folders standing in for the Hub's dataset
and model repos, a small synthetic base dataset, a held-out set and a TOML configuration. Then:

- **round 0** (first time only): prepare a dataset from the base set alone and train the first model;
- **every later round**: a stream of new grievances arrives, the deployed model labels them, staff
  review part of its mistakes, and one real orchestrator cycle runs — the same cycle, launchers and
  state as production — which prepares datasets and retrains where the feedback warrants it. The
  deployed model is then scored on the held-out set, and so is every challenger the gate rejected.

The traffic has drifted from the base set: half of it has another class mix and talks of topics the
base set never mentions (floods, dengue, online fraud). The first model gets those wrong, and the
corrections teach them. The held-out set is drawn from the traffic, since that is what the model must
get right.

It prints a table per round, writes ``macro_f1.png``, and continues where it stopped unless ``--fresh``.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from orchestrator.wiring import Wiring

from . import schema as sambodhan

CONFIG_NAME = "orchestrator.toml"
STATE_NAME = "demo_state.json"
CHART_NAME = "macro_f1.png"
LABELS = ("department", "urgency")
REVIEW_RATE = 0.6  # share of the model's mistakes that staff review and correct (jobs.review_rate)
FLAG_ONLY_RATE = 0.1  # share flagged but not reviewed yet (must not count)


@dataclass(frozen=True)
class Size:
    base: int
    holdout: int
    stream: int
    threshold: int


SIZES = {
    "full": Size(base=400, holdout=1500, stream=800, threshold=60),
    "small": Size(base=300, holdout=400, stream=300, threshold=30),
}


def write_config(workdir: Path, size: Size) -> Path:
    """The demo's configuration: SQLite, local folders for the Hub, local commands as targets."""
    python = json.dumps(sys.executable)
    config = workdir / CONFIG_NAME
    command = f'[{python}, "-m", "orchestrator"'
    labels = "\n".join(
        f"""[jobs.labels.{label}]
model = "hub/models/{label}"
base_dataset = "base/base.parquet"

[labels.{label}]
threshold = {size.threshold}
dataset = "hub/datasets/{label}"
result = "hub/models/{label}"
retrain = {{ command = {command}, "retrain", "--config", "{CONFIG_NAME}", "--label", "{{label}}", "--dataset-version", "{{version}}"], cwd = {json.dumps(str(workdir))} }}
"""
        for label in LABELS
    )
    config.write_text(
        f"""# Written by `orchestrator demo`: local mode, no network, no account.
[orchestrator]
database_url = "sqlite:///app.db"
poll_interval = 0.5
poll_timeout = 120

[prepare]
target = {{ command = {command}, "prepare", "--config", "{CONFIG_NAME}", "--label", "{{labels}}"], cwd = {json.dumps(str(workdir))} }}

[jobs]
seed = 0
review_rate = {REVIEW_RATE}  # staff correct this share of the model's mistakes

{labels}""",
        encoding="utf-8",
    )
    return config


@dataclass
class Demo:
    """One demo working folder: its settings, database and local Hub folders, and the rounds played in it."""

    workdir: Path
    size: Size
    log: Callable[[str], None]

    def __post_init__(self) -> None:
        self.db_url = f"sqlite:///{self.workdir / 'app.db'}"
        self.config = self.workdir / CONFIG_NAME
        self.state_file = self.workdir / STATE_NAME

    # Built once per demo, after setup() wrote the configuration: the settings, and what the cycles run on
    # (the cycle's launchers run the jobs as subprocesses, as in production).
    @cached_property
    def settings(self):
        from .settings import load_job_settings

        return load_job_settings({}, config_file=self.config, env_file=None)

    @cached_property
    def wiring(self) -> Wiring:
        return Wiring(self.settings)

    @property
    def engine(self):
        return self.wiring.engine

    @property
    def hub(self):
        return self.wiring.hub

    def close(self) -> None:
        if "wiring" in self.__dict__:
            self.wiring.close()

    # ------------------------------------------------------------------------------------- set-up
    def setup(self) -> None:
        from . import synthetic

        self.workdir.mkdir(parents=True, exist_ok=True)
        write_config(self.workdir, self.size)
        sambodhan.create_schema(self.engine)
        base = self.workdir / "base" / "base.parquet"
        if not base.exists():
            synthetic.write_parquet(base, synthetic.generate(self.size.base, seed=1, start_id=1))
            synthetic.write_parquet(  # held out from the traffic, which has drifted from the base set
                self.workdir / "holdout.parquet", synthetic.mixed(self.size.holdout, seed=2, start_id=1_000_001)
            )

    def state(self) -> dict[str, Any]:
        if self.state_file.exists():
            return json.loads(self.state_file.read_text(encoding="utf-8"))
        return {"rounds": []}

    def save_state(self, state: dict[str, Any]) -> None:
        self.state_file.write_text(json.dumps(state, indent=2), encoding="utf-8")

    # ------------------------------------------------------------------------------------- rounds
    def bootstrap(self) -> dict[str, Any]:
        """Round 0: a dataset from the base set alone, and the first model per label."""
        from .prepare import prepare
        from .retrain import retrain

        settings = self.settings
        prepare(settings, list(settings.labels), self.engine, log=self.log, hub=self.hub)
        row = {"round": 0, "labels": {}}
        for label in settings.labels:
            outcome = retrain(settings, label, log=self.log, hub=self.hub)
            row["labels"][label.name] = {
                "new_corrections": 0,
                "decision": "bootstrap",
                "dataset": outcome.dataset_version,
                "gate": "deployed" if outcome.accepted else "rejected",
                "reason": outcome.reason,
                "why": "first model",
            }
        return row

    def feedback_round(self, number: int) -> dict[str, Any]:
        """New grievances, the model's labels, staff reviews, then one real orchestrator cycle."""
        from . import synthetic

        counts_before = self.corrections()
        stream = synthetic.mixed(self.size.stream, seed=100 + number, start_id=10_000_000 * number)
        self.record_stream(stream, random.Random(number))
        counts_after = self.corrections()
        result = self.run_cycle()
        row: dict[str, Any] = {"round": number, "labels": {}, "exit_code": result.exit_code}
        for entry in result.labels:
            decision = self.last_decision(entry.label, entry.new_version)
            row["labels"][entry.label] = {
                "new_corrections": counts_after[entry.label] - counts_before[entry.label],
                "decision": entry.decision,
                "dataset": entry.new_version,
                "gate": decision["gate"] if decision else ("failed" if entry.failed else "–"),
                "reason": decision["reason"] if decision else (entry.error or entry.reason),
                "why": decision["why"] if decision else ("failed" if entry.failed else "below threshold"),
                "challenger": decision["challenger"] if decision else None,
            }
        return row

    def record_stream(self, stream: list, rng: random.Random) -> None:
        """The deployed models label the stream; staff review part of the mistakes."""
        predictions = {label: self.deployed(label).predict([g.text for g in stream]) for label in LABELS}
        with self.engine.begin() as conn:
            for index, grievance in enumerate(stream):
                predicted = {label: predictions[label][index] for label in LABELS}
                complaint_id = conn.execute(
                    insert(sambodhan.complaints)
                    .values(message=grievance.text, **predicted)
                    .returning(sambodhan.complaints.c.id)
                ).scalar_one()
                truth = {"department": grievance.department, "urgency": grievance.urgency}
                if all(predicted[label] == truth[label] for label in LABELS):
                    continue
                draw = rng.random()
                if draw >= REVIEW_RATE + FLAG_ONLY_RATE:
                    continue  # nobody looked at this one
                reviewed = draw < REVIEW_RATE
                conn.execute(
                    insert(sambodhan.misclassified_complaints).values(
                        complaint_id=complaint_id,
                        reviewed=reviewed,
                        reported_by_admin_id=rng.randrange(1, 6),
                        **{f"model_predicted_{label}": predicted[label] for label in LABELS},
                        **{f"correct_{label}": truth[label] if reviewed else None for label in LABELS},
                    )
                )

    def corrections(self) -> dict[str, int]:
        from orchestrator.remote.feedback import count_corrections

        return count_corrections(self.engine, self.settings.labels)

    def run_cycle(self):
        return self.wiring.cycle().run()

    # ------------------------------------------------------------------------------------- models
    def deployed(self, label: str):
        from .model import load

        return load(self.workdir / "hub" / "models" / label / "model.skops")

    def last_decision(self, label: str, dataset_version: str | None) -> dict[str, Any] | None:
        if not dataset_version:
            return None
        folder = self.workdir / "hub" / "models" / label / "decisions"
        matches = sorted(folder.glob(f"*_{dataset_version}.json"))
        if not matches:
            return None
        decision = json.loads(matches[-1].read_text(encoding="utf-8"))
        challenger = folder.parent / "versions" / str(decision.get("model_version")) / "model.skops"
        return {
            "gate": "deployed" if decision["accepted"] else "rejected",
            "reason": decision["reason"],
            "why": short_reason(decision),
            "challenger": str(challenger) if challenger.exists() else None,
        }

    def score(self, row: dict[str, Any]) -> None:
        """Held-out macro-F1 of the deployed models, and of the challengers the gate rejected ("shadow")."""
        import pyarrow.parquet as pq

        from .model import load, macro_f1

        table = pq.read_table(self.workdir / "holdout.parquet")
        texts = table.column("text").to_pylist()
        row["macro_f1"], row["shadow"] = {}, {}
        for label in LABELS:
            truth = table.column(label).to_pylist()
            row["macro_f1"][label] = round(macro_f1(self.deployed(label), texts, truth), 4)
            challenger = row["labels"].get(label, {}).get("challenger")
            if challenger:
                row["shadow"][label] = round(macro_f1(load(Path(challenger)), texts, truth), 4)


def short_reason(decision: dict[str, Any]) -> str:
    """The gate's reason in a few words, with its main numbers."""
    reason = decision["reason"]
    chosen = next((c for c in decision.get("candidates", ()) if c.get("recipe") == decision.get("recipe")), {})
    numbers = f"{chosen['delta']:+.3f}, wins {chosen['wins']:.0%}" if "delta" in chosen else ""
    if "no champion" in reason:
        return "first model"
    for fragment, words in (
        ("accepted", "better"),
        ("within the noise", "noise"),
        ("below the required", "too small"),
        ("representative", "golden worse"),
    ):
        if fragment in reason:
            return f"{words}: {numbers}" if numbers else words
    return reason[:40]


def run_demo(workdir: Path, *, rounds: int, size: str = "full", log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run ``rounds`` more rounds in ``workdir`` (after round 0 the first time); returns the demo state."""
    demo = Demo(workdir, SIZES[size], log)
    try:
        return _run_rounds(demo, workdir, rounds=rounds, log=log)
    finally:
        demo.close()


def _run_rounds(demo: Demo, workdir: Path, *, rounds: int, log: Callable[[str], None]) -> dict[str, Any]:
    from orchestrator.report.tables import text_table

    demo.setup()
    state = demo.state()
    if not state["rounds"]:
        log("── round 0: bootstrap from the base dataset")
        row = demo.bootstrap()
        demo.score(row)
        state["rounds"].append(row)
        demo.save_state(state)
        log(render_round(row, text_table))
    start = state["rounds"][-1]["round"] + 1
    for number in range(start, start + rounds):
        log(f"── round {number}: new feedback arrives, then one orchestrator cycle")
        row = demo.feedback_round(number)
        demo.score(row)
        state["rounds"].append(row)
        demo.save_state(state)
        log(render_round(row, text_table))
    chart = write_chart(state, workdir / CHART_NAME)
    log(render_summary(state, text_table))
    log(f"columns: {ROUND_COLUMNS}")
    log(f"chart: {chart}")
    return state


ROUND_COLUMNS = (
    "new corr.: corrections recorded this round; cycle: what the orchestrator decided (skip, prepare, pending); "
    "gate: the retrain's verdict; deployed: held-out macro-F1 of the model in service after the round; "
    "shadow: what the rejected challenger would have scored; why: the gate's reason (pooled gain, share of "
    "resamples won)"
)


def render_round(row: dict[str, Any], text_table) -> str:
    shadow = row.get("shadow", {})
    return text_table(
        ["round", "label", "new corr.", "cycle", "gate", "deployed", "shadow", "why"],
        [
            [row["round"], label, entry["new_corrections"], entry["decision"], entry["gate"], row["macro_f1"][label],
             shadow.get(label, ""), entry.get("why", "")]
            for label, entry in row["labels"].items()
        ],
    )


def render_summary(state: dict[str, Any], text_table) -> str:
    rows = [[row["round"], *(row["macro_f1"][label] for label in LABELS)] for row in state["rounds"]]
    return "deployed macro-F1 on the held-out set, per round:\n" + text_table(["round", *LABELS], rows)


def write_chart(state: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rounds = [row["round"] for row in state["rounds"]]
    figure, axes = plt.subplots(figsize=(8, 4.5), dpi=110)
    values_seen = []
    for label, marker in zip(LABELS, ("o", "s")):
        values = [row["macro_f1"][label] for row in state["rounds"]]
        values_seen += values
        (line,) = axes.plot(rounds, values, marker=marker, label=f"{label}: deployed model")
        colour = line.get_color()
        deployed = [(r, v) for r, v, row in zip(rounds, values, state["rounds"])
                    if row["labels"].get(label, {}).get("gate") == "deployed"]
        if deployed:
            axes.scatter(*zip(*deployed), s=170, marker="*", color=colour, edgecolors="black", zorder=3,
                         label=f"{label}: new model deployed")
        shadows = [(row["round"], row["shadow"][label]) for row in state["rounds"] if label in row.get("shadow", {})]
        if shadows:
            values_seen += [v for _, v in shadows]
            axes.scatter(*zip(*shadows), s=60, marker="x", color=colour, zorder=3,
                         label=f"{label}: rejected challenger (its score)")
    axes.set_xlabel("round")
    axes.set_ylabel("macro-F1 on the held-out set")
    axes.set_title("Deployed model quality, round by round, and the challengers the gate refused")
    axes.set_xticks(rounds)
    axes.set_ylim(max(0.0, min(values_seen) - 0.05), min(1.0, max(values_seen) + 0.05))
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right", fontsize="small")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path
