"""Dataset versions: rows from the app database (SQLite and PostgreSQL) and a base file, written to parquet."""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timezone
from math import floor
from pathlib import Path

import pyarrow as pa
import pyarrow.csv
import pyarrow.parquet as pq
import pytest
import yaml
from sqlalchemy import Boolean, Column, Integer, MetaData, String, Table, Text, insert

from orchestrator.config.settings import LabelConfig
from orchestrator.contracts.metadata import parse_metadata
from orchestrator.jobs import dataset
from orchestrator.jobs import schema as sambodhan
from orchestrator.jobs.dataset import read_split, write_dataset
from orchestrator.jobs.rows import Row, feedback_population, iter_base_rows, iter_feedback_rows
from orchestrator.jobs.splits import split_of
from orchestrator.jobs.synthetic import generate
from orchestrator.jobs.text import clean_text
from orchestrator.remote.database import make_engine

DEPARTMENT = LabelConfig(name="department", threshold=1, metadata="m.json", retrain="o/r")
NOW = datetime(2025, 10, 30, 11, 52, 50, tzinfo=timezone.utc)
# Feedback rows in build_app, by complaint id:
CORRECTED = range(1, 21)  # reviewed department corrections
URGENCY_ONLY = range(21, 26)  # reviewed, corrects the urgency and confirms the department
UNREVIEWED = range(26, 29)  # would correct the department, not reviewed yet
UNANSWERED = range(29, 31)  # reviewed, correct_department NULL
FLAGGED = set(range(1, 31))


def other(department: str) -> str:
    return sambodhan.DEPARTMENTS[(sambodhan.DEPARTMENTS.index(department) + 1) % 4]


def gold(predicted: dict[int, str | None], cid: int) -> str:
    """The reviewer's department for a corrected complaint."""
    return other(predicted[cid] or sambodhan.DEPARTMENTS[0])


def build_app(url: str, complaints: int = 120) -> dict[int, str | None]:
    """Complaints labelled by the model (every tenth without a label) and feedback of every kind.

    Returns the model's department per complaint id.
    """
    engine = make_engine(url)
    sambodhan.create_schema(engine)
    grievances = generate(complaints, seed=0)
    predicted = {g.id: (None if g.id % 10 == 0 else g.department) for g in grievances}
    feedback = []
    for cid in sorted(FLAGGED):
        department = predicted[cid] or sambodhan.DEPARTMENTS[0]
        correct: str | None = gold(predicted, cid)
        if cid in URGENCY_ONLY:
            correct = department
        elif cid in UNANSWERED:
            correct = None
        feedback.append(
            {
                "complaint_id": cid,
                "reviewed": cid not in UNREVIEWED,
                "model_predicted_department": department,
                "correct_department": correct,
                "model_predicted_urgency": "NORMAL",
                "correct_urgency": "URGENT" if cid in URGENCY_ONLY else "NORMAL",
            }
        )
    with engine.begin() as conn:
        conn.execute(
            insert(sambodhan.complaints),
            [{"id": g.id, "message": g.text, "department": predicted[g.id], "urgency": "NORMAL"} for g in grievances],
        )
        conn.execute(insert(sambodhan.misclassified_complaints), feedback)
    engine.dispose()
    return predicted


def expected_sample(eligible: list[int], seed: int, n: int) -> list[int]:
    """The documented order, computed in Python: (id × 2654435761 + offset) mod 4294967291, then id."""
    offset = (seed * 2654435761) % 4294967291
    return sorted(eligible, key=lambda i: ((i * 2654435761 + offset) % 4294967291, i))[:n]


# ---------------------------------------------------------------------------------------------- database
def test_corrections_then_confirmations_then_exactly_floor_ratio_unflagged_rows_with_the_seed_recipe(db_url):
    predicted = build_app(db_url)
    engine = make_engine(db_url)
    rows = list(iter_feedback_rows(engine, DEPARTMENT, recipe="seed", ratio=0.75, seed=7, batch_size=4))
    feedback = [r for r in rows if r.source == "feedback"]
    confirmed = [r for r in rows if r.source == "confirmed"]
    sampled = [r for r in rows if r.source == "sampled"]
    assert rows == feedback + confirmed + sampled

    assert [(r.row_id, r.label, r.served) for r in feedback] == [
        (f"c{cid}", gold(predicted, cid), predicted[cid] or sambodhan.DEPARTMENTS[0]) for cid in CORRECTED
    ]
    # reviewed rows that confirm the department: gold labels equal to the served ones
    assert [(r.row_id, r.label) for r in confirmed] == [(f"c{cid}", predicted[cid] or sambodhan.DEPARTMENTS[0]) for cid in URGENCY_ONLY]
    assert all(r.served == r.label for r in confirmed)

    assert len(sampled) == floor(len(CORRECTED) * 0.75) == 15
    sampled_ids = [int(r.row_id[1:]) for r in sampled]
    assert not FLAGGED & set(sampled_ids)  # unreviewed, confirmed and unanswered rows flag a complaint too
    assert all(r.label == r.served == predicted[int(r.row_id[1:])] for r in sampled)  # the model's label
    eligible = [cid for cid, label in predicted.items() if cid not in FLAGGED and label is not None]
    assert sampled_ids == expected_sample(eligible, seed=7, n=15)  # the same rows on both databases
    assert all(re.search(r"[\u0900-\u097f]", r.text) for r in rows)


def test_the_traffic_recipe_takes_every_unflagged_complaint_up_to_the_cap(db_url):
    predicted = build_app(db_url)
    engine = make_engine(db_url)
    eligible = [cid for cid, label in predicted.items() if cid not in FLAGGED and label is not None]
    everything = [r for r in iter_feedback_rows(engine, DEPARTMENT, seed=7) if r.source == "sampled"]
    assert [int(r.row_id[1:]) for r in everything] == expected_sample(eligible, seed=7, n=len(eligible))
    capped = [r for r in iter_feedback_rows(engine, DEPARTMENT, max_sampled=12, seed=7) if r.source == "sampled"]
    assert [int(r.row_id[1:]) for r in capped] == expected_sample(eligible, seed=7, n=12)
    assert feedback_population(engine, DEPARTMENT) == {
        "feedback": len(CORRECTED), "confirmed": len(URGENCY_ONLY), "unflagged": len(eligible)
    }
    with pytest.raises(ValueError, match="unknown recipe 'all'"):
        list(iter_feedback_rows(engine, DEPARTMENT, recipe="all"))


def test_ratio_defaults_to_the_labels_sample_ratio_and_seed_changes_the_sample(db_url):
    build_app(db_url)
    engine = make_engine(db_url)
    label = DEPARTMENT.model_copy(update={"sample_ratio": 1.5})

    def sample(seed: int) -> list[str]:
        return [r.row_id for r in iter_feedback_rows(engine, label, recipe="seed", seed=seed) if r.source == "sampled"]

    first = sample(1)
    assert len(first) == 30
    assert sample(1) == first
    assert set(sample(2)) != set(first)


def test_no_corrections_means_no_rows_with_the_seed_recipe_and_the_traffic_with_the_default(db_url):
    engine = make_engine(db_url)
    sambodhan.create_schema(engine)
    with engine.begin() as conn:
        conn.execute(insert(sambodhan.complaints), [{"id": 1, "message": "सडक", "department": "X"}])
    assert list(iter_feedback_rows(engine, DEPARTMENT, recipe="seed")) == []
    assert list(iter_feedback_rows(engine, DEPARTMENT)) == [Row("c1", "सडक", "X", "sampled", "X")]


def test_configured_table_and_column_names_even_when_they_collide(db_url):
    """The feedback table's predicted column has the name of a column of the complaints table."""
    meta = MetaData()
    tickets = Table(
        "tickets",
        meta,
        Column("ticket_id", Integer, primary_key=True),
        Column("body", Text),
        Column("department", String(100)),
        Column("topic_guess", String(100)),
    )
    reviews = Table(
        "reviews",
        meta,
        Column("id", Integer, primary_key=True),
        Column("ticket", Integer),
        Column("department", String(100)),
        Column("gold", String(100)),
        Column("checked", Boolean),
    )
    engine = make_engine(db_url)
    meta.create_all(engine)
    with engine.begin() as conn:
        for i in range(1, 41):
            guess = f"t{i % 3}"
            conn.execute(insert(tickets).values(ticket_id=i, body=f"गुनासो {i}", department="x", topic_guess=guess))
        for i in range(1, 11):
            conn.execute(insert(reviews).values(ticket=i, department="a", gold="b", checked=True))
    label = LabelConfig(
        name="topic",
        threshold=1,
        metadata="m.json",
        retrain="o/r",
        table="reviews",
        reviewed_column="checked",
        predicted_column="department",
        correct_column="gold",
    )
    rows = list(
        iter_feedback_rows(
            engine,
            label,
            complaints_table="tickets",
            id_column="ticket_id",
            text_column="body",
            feedback_key="ticket",
            predicted_in_complaints="topic_guess",
            recipe="seed",
            ratio=0.5,
        )
    )
    assert [(r.row_id, r.label, r.source) for r in rows[:10]] == [(f"c{i}", "b", "feedback") for i in range(1, 11)]
    assert len(rows) == 15
    assert all(r.source == "sampled" and int(r.row_id[1:]) > 10 and r.label[0] == "t" for r in rows[10:])


# ---------------------------------------------------------------------------------------------- base file
def base_table(n: int = 200, start: int = 1) -> pa.Table:
    rows = generate(n, seed=9, start_id=start)
    return pa.table({
        "id": [g.id for g in rows],
        "text": [g.text for g in rows],
        "department": [g.department for g in rows],
        "urgency": [g.urgency for g in rows],
    })


def test_base_rows_from_parquet_and_csv(tmp_path):
    table = base_table(50)
    pq.write_table(table, tmp_path / "base.parquet")
    pa.csv.write_csv(table, tmp_path / "base.csv")
    from_parquet = list(iter_base_rows(tmp_path / "base.parquet", label="department", batch_size=7))
    from_csv = list(iter_base_rows(tmp_path / "base.csv", label="department"))
    assert from_parquet == from_csv
    assert from_parquet[0] == Row("b1", table["text"][0].as_py(), table["department"][0].as_py(), "base")
    assert [r.label for r in iter_base_rows(tmp_path / "base.csv", label="urgency")] == table["urgency"].to_pylist()


def test_csv_ids_stay_strings_and_incomplete_rows_are_skipped(tmp_path):
    path = tmp_path / "base.csv"
    path.write_text("id,text,department\n007,पानी छैन,A\n8,,B\n9,बिजुली,\n", encoding="utf-8")
    assert list(iter_base_rows(path, label="department")) == [Row("b007", "पानी छैन", "A", "base")]


def test_missing_columns_and_unknown_formats_are_named(tmp_path):
    path = tmp_path / "base.csv"
    path.write_text("id,message,department\n1,x,A\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"base\.csv has no column 'text'"):
        list(iter_base_rows(path, label="department"))
    pq.write_table(base_table(3).drop_columns(["urgency"]), tmp_path / "base.parquet")
    with pytest.raises(ValueError, match=r"base\.parquet has no column 'urgency'"):
        list(iter_base_rows(tmp_path / "base.parquet", label="urgency"))
    with pytest.raises(ValueError, match="expected a .csv or .parquet"):
        list(iter_base_rows(tmp_path / "base.json", label="department"))


# ---------------------------------------------------------------------------------------------- writing
def base_rows(n: int = 200, start: int = 1) -> list[Row]:
    return [Row(f"b{g.id}", g.text, g.department, "base") for g in generate(n, seed=9, start_id=start)]


def split_ids(folder: Path) -> dict[str, str]:
    """``{row id: split}`` as written."""
    ids = {}
    for split in ("train", "eval", "test"):
        ids.update(dict.fromkeys(pq.read_table(folder / dataset.split_path(split))["id"].to_pylist(), split))
    return ids


def test_written_folder_files_schema_metadata_and_card(tmp_path):
    rows = [
        Row("c1", "सडक <b>भत्कियो</b> https://x.y", "B", "sampled"),
        Row("c1", "सडक भत्कियो", "A", "feedback"),  # the correction wins over the sampled row
        Row("c2", " <i></i> ", "A", "feedback"),  # empty once cleaned
        *base_rows(200),
        Row("b1", "a duplicate of a base row", "C", "base"),  # the first row with an id wins
    ]
    folder = tmp_path / "ds"
    meta = write_dataset(
        folder,
        iter(rows),
        dataset_name="owner/dept",
        label="department",
        label_map=["Z", "A"],
        high_water={"department": 42},
        now=NOW,
    )

    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "data", "dataset_metadata.json", "feedback_ids.json"]
    assert sorted(p.name for p in (folder / "data").iterdir()) == [
        "eval-00000-of-00001.parquet",
        "test-00000-of-00001.parquet",
        "train-00000-of-00001.parquet",
    ]
    parsed = parse_metadata((folder / "dataset_metadata.json").read_bytes(), source="test")
    assert parsed == meta
    assert re.fullmatch(r"v20251030_115250_[0-9a-f]{6}", meta.version_tag)
    assert meta.created_at == "2025-10-30T11:52:50+00:00"
    assert meta.num_samples == 201 == sum(meta.splits.values())
    assert set(meta.splits) == {"train", "eval", "test"}
    assert meta.label == "department"
    assert meta.label_map == ["Z", "A", "B", "C", *sorted(sambodhan.DEPARTMENTS)]  # previous ids kept, new appended
    assert meta.sources == {"base": 200, "feedback": 1}
    assert meta.feedback_high_water == {"department": 42}
    assert meta.dropped == {"empty_text": 1, "duplicate_id": 2}

    tables = {split: pq.read_table(folder / dataset.split_path(split)) for split in ("train", "eval", "test")}
    assert all(t.schema == dataset.SCHEMA for t in tables.values())
    everything = pa.concat_tables(tables.values()).to_pylist()
    by_id = {row["id"]: row for row in everything}
    assert by_id["c1"] == {
        "id": "c1", "text": "सडक भत्कियो", "label": 1, "label_name": "A", "source": "feedback", "golden": False,
        "served": None,
    }
    assert by_id["b1"]["text"] == clean_text(rows[3].text)
    assert all(meta.label_map[row["label"]] == row["label_name"] for row in everything)
    for split, table in tables.items():
        assert all(split_of(i) == split for i in table["id"].to_pylist())
    golden = [row["id"] for row in everything if row["golden"]]
    held_out = [row["id"] for split in ("eval", "test") for row in tables[split].to_pylist() if row["source"] == "base"]
    assert sorted(golden) == sorted(held_out)  # every held-out base row, and only those
    assert meta.golden_rows == len(golden) > 5

    front, body = (folder / "README.md").read_text(encoding="utf-8").split("---\n")[1:3]
    (config,) = yaml.safe_load(front)["configs"]
    assert config["config_name"] == "default"
    assert config["data_files"] == [{"split": s, "path": f"data/{s}-*"} for s in ("train", "eval", "test")]
    assert "owner/dept" in body and meta.version_tag in body


def test_read_split(tmp_path):
    rows = [*base_rows(100), *(Row(f"c{i}", f"गुनासो {i}", "A", "sampled", "A") for i in range(100))]
    write_dataset(tmp_path, rows, dataset_name="o/n", label="department", now=NOW)
    test = read_split(tmp_path, "test")
    expected = [r for r in rows if split_of(r.row_id) == "test"]
    assert test.ids == [r.row_id for r in expected]
    assert test.texts == [clean_text(r.text) for r in expected]
    assert test.labels == [r.label for r in expected]
    assert test.served == [r.served for r in expected]
    assert test.golden == [r.source == "base" for r in expected]
    with pytest.raises(ValueError, match="unknown split"):
        read_split(tmp_path, "validation")


def test_splits_are_stable_across_versions_and_tags_differ(tmp_path):
    v1 = write_dataset(tmp_path / "v1", base_rows(300), dataset_name="o/n", label="department", now=NOW)
    grown = [Row(f"c{i}", f"नयाँ गुनासो {i}", "A", "feedback") for i in range(1, 200)] + base_rows(600)
    v2 = write_dataset(tmp_path / "v2", grown, dataset_name="o/n", label="department", label_map=v1.label_map, now=NOW)
    before, after = split_ids(tmp_path / "v1"), split_ids(tmp_path / "v2")
    assert len(after) == 799
    assert {i: after[i] for i in before} == before
    assert list(before.values()).count("test") > 10
    assert v2.version_tag != v1.version_tag  # the same second, other content
    assert v2.label_map == [*v1.label_map, "A"]  # "A" sorts first, but existing class ids never move
    again = write_dataset(tmp_path / "v1b", base_rows(300), dataset_name="o/n", label="department", now=NOW)
    assert again.version_tag == v1.version_tag


def test_metadata_is_removed_first_and_written_last_atomically(tmp_path, monkeypatch):
    write_dataset(tmp_path, base_rows(10), dataset_name="o/n", label="department", now=NOW)  # an older version
    seen = []
    real_replace, real_write_splits = os.replace, dataset._write_splits

    def write_splits(*args):
        seen.append(("writing splits", (tmp_path / "dataset_metadata.json").exists()))
        return real_write_splits(*args)

    def replace(src, dst):
        seen.append((Path(dst).name, sorted(p.name for p in tmp_path.iterdir())))
        real_replace(src, dst)

    monkeypatch.setattr(dataset, "_write_splits", write_splits)
    monkeypatch.setattr(os, "replace", replace)
    meta = write_dataset(tmp_path, base_rows(20), dataset_name="o/n", label="department", now=NOW)
    assert seen == [
        ("writing splits", False),
        ("dataset_metadata.json", [".dataset_metadata.json.tmp", "README.md", "data", "feedback_ids.json"]),
    ]
    assert json.loads((tmp_path / "dataset_metadata.json").read_text())["version_tag"] == meta.version_tag


def test_datasets_load_dataset_reads_the_folder(tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    meta = write_dataset(tmp_path / "ds", base_rows(150), dataset_name="o/n", label="department", now=NOW)
    loaded = datasets.load_dataset(str(tmp_path / "ds"), cache_dir=str(tmp_path / "cache"))
    assert sorted(loaded) == ["eval", "test", "train"]
    assert {split: loaded[split].num_rows for split in loaded} == meta.splits
    assert loaded["test"].column_names == ["id", "text", "label", "label_name", "source", "golden", "served"]
    assert all(loaded["test"]["golden"])


def test_end_to_end_from_the_database_and_a_base_file(db_url, tmp_path):
    predicted = build_app(db_url)
    pq.write_table(base_table(200, start=1), tmp_path / "base.parquet")
    engine = make_engine(db_url)
    rows = [
        *iter_feedback_rows(engine, DEPARTMENT, recipe="seed", ratio=0.5),
        *iter_base_rows(tmp_path / "base.parquet", label="department"),
    ]
    meta = write_dataset(tmp_path / "ds", rows, dataset_name="o/n", label="department", now=NOW)
    assert meta.sources == {"base": 200, "confirmed": 5, "feedback": 20, "sampled": 10}
    assert meta.num_samples == 235  # c<id> and b<id> never collide
    written = {}
    for split in ("train", "eval", "test"):
        for row in pq.read_table(tmp_path / "ds" / dataset.split_path(split)).to_pylist():
            written[row["id"]] = row
    for cid in CORRECTED:
        assert written[f"c{cid}"]["label_name"] == gold(predicted, cid)
        assert written[f"c{cid}"]["source"] == "feedback"
    assert not any(row["golden"] for row in written.values() if row["source"] != "base")
    assert json.loads((tmp_path / "ds" / "dataset_metadata.json").read_text())["golden_rows"] == meta.golden_rows


def test_the_golden_slice_stops_at_max_golden_rows_and_the_rest_of_the_base_set_trains(tmp_path):
    corrections = [Row(f"c{i}", f"गुनासो नम्बर {i}", "A", "feedback") for i in range(1, 1001)]
    capped = write_dataset(tmp_path / "capped", base_rows(3000) + corrections, dataset_name="o/n", label="department",
                           now=NOW, max_golden_rows=100)
    extra = capped.model_extra or {}
    assert extra["held_out_share"] == {"base": round(100 / 3000, 6), "other": 0.2}
    assert 70 <= extra["golden_rows"] <= 130  # 100 expected: a binomial draw of the ids
    splits = split_ids(tmp_path / "capped")
    held_corrections = sum(splits[f"c{i}"] != "train" for i in range(1, 1001))
    assert 150 <= held_corrections <= 250  # corrections keep 20%
    write_dataset(tmp_path / "plain", base_rows(3000), dataset_name="o/n", label="department", now=NOW)  # 20%
    plain = split_ids(tmp_path / "plain")
    assert {i for i, s in splits.items() if i.startswith("b") and s != "train"} < {i for i, s in plain.items() if s != "train"}
    small = write_dataset(tmp_path / "small", base_rows(300), dataset_name="o/n", label="department", now=NOW,
                          max_golden_rows=100)
    assert (small.model_extra or {})["held_out_share"]["base"] == 0.2  # 60 rows: under the cap, nothing changes
