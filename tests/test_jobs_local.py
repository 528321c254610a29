"""The reference jobs in local mode, as a user runs them: ``prepare``, ``retrain`` and ``predict`` as real
subprocesses on SQLite and PostgreSQL, a base dataset, and local folders standing in for the Hub."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from conftest import run_cli
from sqlalchemy import insert

from orchestrator.jobs import schema as sambodhan
from orchestrator.jobs import synthetic
from orchestrator.jobs.dataset import split_path
from orchestrator.remote.database import make_engine


def add_stream(url: str, rows, *, correct_every: int = 3) -> int:
    """Complaints labelled by a poor "model" (always the first class); every n-th mistake is corrected."""
    engine = make_engine(url)
    sambodhan.create_schema(engine)
    corrected = 0
    with engine.begin() as conn:
        for index, g in enumerate(rows):
            predicted = {"department": sambodhan.DEPARTMENTS[0], "urgency": sambodhan.URGENCIES[0]}
            cid = conn.execute(
                insert(sambodhan.complaints).values(message=g.text, **predicted).returning(sambodhan.complaints.c.id)
            ).scalar_one()
            if g.department != predicted["department"] and index % correct_every == 0:
                conn.execute(
                    insert(sambodhan.misclassified_complaints).values(
                        complaint_id=cid, reviewed=True,
                        model_predicted_department=predicted["department"], correct_department=g.department,
                        model_predicted_urgency=predicted["urgency"], correct_urgency=predicted["urgency"],
                    )
                )
                corrected += 1
    engine.dispose()
    return corrected


def config(tmp: Path, url: str, *, base: str | None = "base.parquet", min_f1: float = 0.5, jobs: str = "") -> Path:
    path = tmp / "orchestrator.toml"
    base_line = f'base_dataset = "{base}"' if base else ""
    path.write_text(
        f"""
[orchestrator]
database_url = "{url}"
[prepare]
target = {{ command = ["true"] }}
[jobs]
min_f1 = {min_f1}
{jobs}
[labels.department]
threshold = 10
dataset = "hub/department"
model = "models/department"
{base_line}
retrain = {{ command = ["true"] }}
"""
    )
    return path


def cli(tmp: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return run_cli({}, *args, cwd=tmp, timeout=180, input=stdin)


def metadata(tmp: Path) -> dict:
    return json.loads((tmp / "hub/department/dataset_metadata.json").read_text())


def test_prepare_retrain_predict_on_a_real_database(db_url, tmp_path):
    synthetic.write_parquet(tmp_path / "base.parquet", synthetic.generate(700, seed=1))
    corrected = add_stream(db_url, synthetic.generate(300, seed=5, start_id=100_000))
    cfg = str(config(tmp_path, db_url))

    done = cli(tmp_path, "prepare", "--config", cfg)
    assert done.returncode == 0, done.stderr
    first = metadata(tmp_path)
    assert first["sources"]["feedback"] == corrected
    assert first["sources"]["sampled"] == 300 - corrected  # the traffic recipe: every unflagged complaint
    assert first["sources"]["base"] == 700
    assert first["recipe"] == "traffic"
    assert first["population"] == {"feedback": corrected, "confirmed": 0, "unflagged": 300 - corrected}
    assert first["feedback_high_water"] == {"corrections": corrected}
    assert first["golden_rows"] > 0
    version = first["version_tag"]
    assert (tmp_path / "hub/department/versions" / version / split_path("train")).is_file()

    trained = cli(tmp_path, "retrain", "--config", cfg, "--label", "department", "--json")
    assert trained.returncode == 0, trained.stderr
    decision = json.loads(trained.stdout)
    assert decision["accepted"] is True and decision["dataset_version"] == version
    assert "no champion" in decision["reason"]
    deployed = json.loads((tmp_path / "models/department/metadata.json").read_text())
    assert deployed["dataset_version"] == version and deployed["decision"] == "deployed"
    assert "DEPLOYED" in trained.stderr

    texts = [g.text for g in synthetic.generate(5, seed=9, start_id=900_000)]
    predicted = cli(tmp_path, "predict", "--config", cfg, "--label", "department", stdin="\n".join(texts) + "\n")
    assert predicted.returncode == 0, predicted.stderr
    labels = predicted.stdout.splitlines()
    assert len(labels) == 5 and set(labels) <= set(sambodhan.DEPARTMENTS)
    scored = cli(tmp_path, "predict", "--config", cfg, "--label", "department", "--json", stdin=texts[0] + "\n\n" + texts[1])
    lines = scored.stdout.splitlines()
    assert lines[1] == ""  # a blank input line stays a blank output line
    first_line = json.loads(lines[0])
    assert first_line["label"] in sambodhan.DEPARTMENTS
    assert abs(sum(first_line["scores"].values()) - 1) < 1e-6


def test_the_seed_recipe_samples_half_as_many_unflagged_rows_as_corrections(sqlite_url, tmp_path):
    corrected = add_stream(sqlite_url, synthetic.generate(200, seed=6, start_id=100_000))
    cfg = str(config(tmp_path, sqlite_url, base=None, jobs='recipe = "seed"'))
    done = cli(tmp_path, "prepare", "--config", cfg)
    assert done.returncode == 0, done.stderr
    written = metadata(tmp_path)
    assert written["recipe"] == "seed"
    assert written["sources"] == {"feedback": corrected, "sampled": corrected // 2}  # floor(corrections x 0.5)
    assert written["num_samples"] >= corrected + corrected // 2  # the seed's dataset_len: what the cycle waits for


def test_bootstrap_without_feedback_and_stable_class_ids(sqlite_url, tmp_path):
    synthetic.write_parquet(tmp_path / "base.parquet", synthetic.generate(400, seed=2))
    engine = make_engine(sqlite_url)
    sambodhan.create_schema(engine)
    engine.dispose()
    cfg = str(config(tmp_path, sqlite_url))
    assert cli(tmp_path, "prepare", "--config", cfg).returncode == 0
    first = metadata(tmp_path)
    assert first["sources"] == {"base": 400}
    add_stream(sqlite_url, synthetic.generate(60, seed=3, start_id=50_000))
    assert cli(tmp_path, "prepare", "--config", cfg).returncode == 0
    second = metadata(tmp_path)
    assert second["version_tag"] != first["version_tag"]
    assert second["label_map"][: len(first["label_map"])] == first["label_map"]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_gate_accepts_a_better_model_and_rejects_a_worse_one(sqlite_url, tmp_path):
    engine = make_engine(sqlite_url)
    sambodhan.create_schema(engine)
    engine.dispose()
    base = synthetic.generate(1600, seed=4)
    # A small base set first: a weak first model.
    synthetic.write_parquet(tmp_path / "base.parquet", base[:250])
    cfg = str(config(tmp_path, sqlite_url, min_f1=0.2))
    assert cli(tmp_path, "prepare", "--config", cfg).returncode == 0
    weak = json.loads(cli(tmp_path, "retrain", "--config", cfg, "--label", "department", "--json").stdout)
    assert weak["accepted"]
    # The full base set: a clearly better challenger, judged on the same test rows.
    synthetic.write_parquet(tmp_path / "base.parquet", base)
    assert cli(tmp_path, "prepare", "--config", cfg).returncode == 0
    good_version = metadata(tmp_path)["version_tag"]
    better = json.loads(cli(tmp_path, "retrain", "--config", cfg, "--label", "department", "--json").stdout)
    assert better["accepted"], better["reason"]
    assert better["challenger"]["golden"] > better["champion"]["golden"]
    assert better["win_rate"] >= 0.9
    model = tmp_path / "models/department/model.skops"
    deployed = _digest(model)

    # A deliberately worse challenger: the same dataset with its training labels shuffled.
    poisoned = tmp_path / "hub/department/versions/poisoned"
    original = tmp_path / "hub/department/versions" / good_version
    for file in original.rglob("*"):
        if file.is_file():
            target = poisoned / file.relative_to(original)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(file.read_bytes())
    train = pq.read_table(poisoned / split_path("train"))
    names = train.column("label_name").to_pylist()
    shuffled = names[1:] + names[:1]
    pq.write_table(train.set_column(train.schema.get_field_index("label_name"), "label_name", pa.array(shuffled)), poisoned / split_path("train"))
    meta = json.loads((poisoned / "dataset_metadata.json").read_text())
    (poisoned / "dataset_metadata.json").write_text(json.dumps({**meta, "version_tag": "poisoned"}))

    worse = cli(tmp_path, "retrain", "--config", cfg, "--label", "department", "--dataset-version", "poisoned", "--json")
    assert worse.returncode == 0, worse.stderr
    verdict = json.loads(worse.stdout)
    assert verdict["accepted"] is False and verdict["reason"].startswith("rejected")
    assert _digest(model) == deployed  # the champion stays
    assert "NOT deployed" in worse.stderr
    decisions = sorted((tmp_path / "models/department/decisions").glob("*.json"))
    assert len(decisions) == 3 and json.loads(decisions[-1].read_text())["dataset_version"] == "poisoned"


def test_predict_without_a_model_says_what_to_do(sqlite_url, tmp_path):
    cfg = str(config(tmp_path, sqlite_url))
    done = cli(tmp_path, "predict", "--config", cfg, "--label", "department", stdin="x\n")
    assert done.returncode == 2
    assert "no model is deployed" in done.stderr and "orchestrator retrain --label department" in done.stderr


def test_an_untrusted_model_file_is_refused(sqlite_url, tmp_path):
    import collections

    import skops.io as sio

    bad = tmp_path / "bad.skops"
    sio.dump({"payload": collections.Counter("abc")}, bad)
    cfg = str(config(tmp_path, sqlite_url))
    done = cli(tmp_path, "predict", "--config", cfg, "--label", "department", "--model", str(bad), stdin="x\n")
    assert done.returncode == 2
    assert "not allowed" in done.stderr


def test_demo_runs_continues_and_starts_over(tmp_path):
    workdir = tmp_path / "demo"
    done = run_cli({}, "demo", "--workdir", str(workdir), "--size", "small", "--rounds", "1", timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    state = json.loads((workdir / "demo_state.json").read_text())
    assert [row["round"] for row in state["rounds"]] == [0, 1]
    assert (workdir / "macro_f1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"chart: {workdir / 'macro_f1.png'}" in done.stderr
    assert "deployed macro-F1 on the held-out set" in done.stderr
    round_one = state["rounds"][1]
    assert set(round_one["labels"]) == {"department", "urgency"}
    assert all(0.0 < f1 <= 1.0 for f1 in round_one["macro_f1"].values())

    again = run_cli({}, "demo", "--workdir", str(workdir), "--size", "small", "--rounds", "1", timeout=300, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert [row["round"] for row in json.loads((workdir / "demo_state.json").read_text())["rounds"]] == [0, 1, 2]

    fresh = run_cli({}, "demo", "--workdir", str(workdir), "--size", "small", "--rounds", "1", "--fresh", timeout=300, cwd=tmp_path)
    assert fresh.returncode == 0, fresh.stderr
    assert [row["round"] for row in json.loads((workdir / "demo_state.json").read_text())["rounds"]] == [0, 1]
