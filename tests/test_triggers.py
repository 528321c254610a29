"""The triggers beyond a count, end to end through the real CLI on real databases (SQLite and PostgreSQL) with
real reviewed rows: ``error_rate`` fires when the share of corrections among the rows reviewed since the last
prepare is significantly above it, ``max_age`` when the last prepare is old and new corrections came, and
neither fires twice for the same feedback."""

from __future__ import annotations

import json
import re
import sys
from datetime import timedelta
from pathlib import Path

from conftest import run_cli, seed_feedback
from sqlalchemy import update

from orchestrator.remote.database import make_engine
from orchestrator.state.records import utc_now
from orchestrator.state.store import StateStore, label_state

# prepare: publish the next dataset version of every firing label (a local folder stands in for the Hub)
PREPARE = """
import json, pathlib, sys
for label in sys.argv[1].split(","):
    folder = pathlib.Path("datasets") / label
    folder.mkdir(parents=True, exist_ok=True)
    meta = folder / "dataset_metadata.json"
    n = json.loads(meta.read_text())["n"] + 1 if meta.exists() else 1
    meta.write_text(json.dumps({"version_tag": f"{label}-v{n}", "num_samples": 100000, "n": n}))
"""


def write_config(tmp: Path, url: str, triggers: dict[str, str]) -> Path:
    """Both seed labels, thresholds out of reach (the count never fires), and each label's extra TOML lines."""
    (tmp / "prepare.py").write_text(PREPARE)
    python = json.dumps(sys.executable)
    lines = ["[orchestrator]", f"database_url = {json.dumps(url)}", "poll_interval = 0.1", "poll_timeout = 5", "",
             "[prepare]", f'target = {{ command = [{python}, "prepare.py", "{{labels}}"], cwd = {json.dumps(str(tmp))} }}']
    for label, extra in triggers.items():
        lines += ["", f"[labels.{label}]", "threshold = 1000", f'dataset = "datasets/{label}"',
                  f'retrain = {{ command = [{python}, "-c", "pass"] }}', extra]
    config = tmp / "orchestrator.toml"
    config.write_text("\n".join(lines) + "\n")
    return config


def cli(config: Path, *args: str):
    return run_cli({}, *args, "--config", str(config))


def status(config: Path) -> dict[str, dict]:
    done = cli(config, "status", "--json")
    assert done.returncode == 0, done.stderr
    return {row["label"]: row for row in json.loads(done.stdout)}


def run(config: Path) -> dict[str, dict]:
    done = cli(config, "run", "--json")
    assert done.returncode == 0, done.stderr
    return {entry["label"]: entry for entry in json.loads(done.stdout)["labels"]}


def set_state(url: str, label: str, **values) -> None:
    """Write a label's remembered state directly (to age its last prepare, or its first sight)."""
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(update(label_state).where(label_state.c.label == label).values(**values))
    engine.dispose()


def test_error_rate_fires_above_its_rate_not_below_and_not_twice_for_the_same_feedback(tmp_path, db_url):
    # 250 reviewed rows: 30 correct department (0.12), 20 urgency (0.08), 200 confirm both or answer neither;
    # and 100 rows not reviewed, which count for nothing
    seed_feedback(db_url, {"department": 30, "urgency": 20}, noise=300)
    config = write_config(tmp_path, db_url, {"department": "error_rate = 0.08\nmin_reviewed = 100",
                                             "urgency": "error_rate = 0.10"})
    before = status(config)
    assert (before["department"]["reviewed"], before["department"]["plan"], before["department"]["trigger"]) == (
        250, "fire", ["error_rate"])
    assert [check["trigger"] for check in before["department"]["triggers"]] == ["count", "error_rate"]
    assert before["department"]["plan_reason"] == "error rate 0.120 (30 corrections in 250 reviewed) > 0.08, p=0.017"
    assert (before["urgency"]["plan"], before["urgency"]["trigger"]) == ("skip", [])
    assert "error rate 0.080 (20 corrections in 250 reviewed) not significantly > 0.1, p=0." in before["urgency"]["plan_reason"]

    dry = cli(config, "run", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would launch prepare: command" in dry.stderr and "for department\n" in dry.stderr
    assert "[department] fires by error_rate: error rate 0.120 (30 corrections in 250 reviewed) > 0.08, p=0.017" in dry.stderr
    assert "[urgency] skip: dataset_len 30 < threshold 1000 (20 corrections); error rate 0.080" in dry.stderr

    labels = run(config)
    assert (labels["department"]["trigger"], labels["department"]["outcome"]) == (["error_rate"], "retrain triggered")
    assert labels["department"]["new_version"] == "department-v1" and labels["department"]["reviewed"] == 250
    assert (labels["urgency"]["trigger"], labels["urgency"]["outcome"]) == ([], "skipped")

    again = cli(config, "run")  # the same feedback: nothing fires again
    assert again.returncode == 0 and "nothing to do" in again.stderr, again.stderr
    after = status(config)["department"]
    assert after["plan"] == "skip"
    assert "0 rows reviewed since the last prepare < min_reviewed 100 for error_rate 0.08" in after["plan_reason"]

    # new feedback: 5 corrections in 15 newly reviewed rows (33%), but fewer than min_reviewed since the prepare
    seed_feedback(db_url, {"department": 5}, noise=15, seed=1)
    assert "nothing to do" in cli(config, "run").stderr
    table = cli(config, "status").stdout
    assert "department: error_rate: 15 rows reviewed since the last prepare < min_reviewed 100" in table
    # 100 more reviewed rows with 12 corrections: 17 in 115 since the prepare (0.148), significantly above 0.08
    seed_feedback(db_url, {"department": 12}, noise=132, seed=2)
    done = cli(config, "run", "--json")
    assert done.returncode == 0, done.stderr
    fired = json.loads(done.stdout)["labels"][0]
    assert fired["trigger"] == ["error_rate"] and fired["new_version"] == "department-v2"
    assert "(17 corrections in 115 reviewed since the last prepare) > 0.08, p=0.010" in fired["reason"]
    assert "[department] prepare (error_rate): error rate 0.148 (17 corrections in 115 reviewed" in done.stderr


def test_max_age_fires_once_the_last_prepare_is_old_and_only_with_new_feedback(tmp_path, db_url):
    seed_feedback(db_url, {"department": 5, "urgency": 5})
    config = write_config(tmp_path, db_url, {"department": 'max_age = "30d"', "urgency": ""})
    assert "counts from the first run that sees the label" in status(config)["department"]["plan_reason"]
    assert "nothing to do" in cli(config, "run").stderr  # the first run sees the labels: their clocks start
    seen = StateStore(make_engine(db_url)).labels()
    assert seen["department"].first_seen_at is not None and seen["urgency"].first_seen_at is not None
    assert seen["department"].last_run_id is None  # seeing a label is not acting on it
    assert re.search(r"no prepare yet, first seen \d+s ago <= max_age 30d", status(config)["department"]["plan_reason"])

    set_state(db_url, "department", first_seen_at=utc_now() - timedelta(days=31))
    labels = run(config)  # never prepared, seen 31 days ago, 5 corrections since
    assert (labels["department"]["trigger"], labels["department"]["new_version"]) == (["max_age"], "department-v1")
    assert labels["department"]["reason"] == "no prepare yet, first seen 31d ago > max_age 30d, 5 new corrections"
    assert labels["urgency"]["trigger"] == []
    prepared = StateStore(make_engine(db_url)).labels()["department"]
    assert (prepared.cursor, prepared.reviewed_cursor) == (5, 10)
    assert utc_now() - prepared.prepared_at < timedelta(minutes=5)

    assert "nothing to do" in cli(config, "run").stderr  # the same feedback: nothing fires again

    set_state(db_url, "department", prepared_at=utc_now() - timedelta(days=31))
    assert "nothing to do" in cli(config, "run").stderr  # the prepare is old, but nothing came since
    stale = status(config)["department"]
    assert stale["plan"] == "skip" and "last prepare 31d ago > max_age 30d, but no new corrections" in stale["plan_reason"]
    assert "department: max_age: last prepare 31d ago > max_age 30d, but no new corrections" in cli(config, "status").stdout

    seed_feedback(db_url, {"department": 1}, seed=1)
    labels = run(config)
    assert (labels["department"]["trigger"], labels["department"]["new_version"]) == (["max_age"], "department-v2")
    assert labels["department"]["reason"] == "last prepare 31d ago > max_age 30d, 1 new correction"

    seed_feedback(db_url, {"department": 1}, seed=2)
    assert "nothing to do" in cli(config, "run").stderr  # a new correction, but the last prepare is recent
    assert re.search(r"last prepare \d+s ago <= max_age 30d", status(config)["department"]["plan_reason"])
