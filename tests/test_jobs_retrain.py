"""The retrain job's evaluation rows: never trained on, in any version, by any candidate; and what a
decision records. Run as a user runs it: ``prepare`` and ``retrain`` as subprocesses on SQLite."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import run_cli
from sqlalchemy import insert, select

from orchestrator.jobs import schema as sambodhan
from orchestrator.jobs import synthetic
from orchestrator.jobs.dataset import split_path
from orchestrator.jobs.model import load, macro_f1_of
from orchestrator.remote.database import make_engine

SPLITS = ("train", "eval", "test")


def marker(row_id: str) -> str:
    """A word that appears in one row only: if a model's vocabulary has it, the model trained on the row."""
    return "mk" + "".join(chr(ord("a") + int(d)) for d in row_id.lstrip("bc"))


def write_config(
    tmp: Path, url: str, *, review_rate: str = "review_rate = 0.5", weights: str = "[0.0, 1.0]", extra: str = ""
) -> str:
    path = tmp / "orchestrator.toml"
    path.write_text(
        f"""
[orchestrator]
database_url = "{url}"
[prepare]
target = {{ command = ["true"] }}
[jobs]
min_f1 = 0.0
keep_challengers = true
{review_rate}
sampled_weights = {weights}
crossfit_folds = 2
{extra}
[labels.department]
threshold = 10
dataset = "hub/department"
model = "models/department"
base_dataset = "base.parquet"
retrain = {{ command = ["true"] }}
""",
        encoding="utf-8",
    )
    return str(path)


def add_complaints(url: str, rows, *, correct: set[int]) -> None:
    """Complaints labelled by a weak "model" (the gold label, but the first class for every third row);
    the mistakes among ``correct`` (positions in ``rows``) are corrected."""
    engine = make_engine(url)
    with engine.begin() as conn:
        for index, g in enumerate(rows):
            served = sambodhan.DEPARTMENTS[0] if index % 3 == 0 else g.department
            conn.execute(insert(sambodhan.complaints).values(id=g.id, message=f"{g.text} {marker(str(g.id))}", department=served))
            if index in correct and served != g.department:
                conn.execute(insert(sambodhan.misclassified_complaints).values(
                    complaint_id=g.id, reviewed=True, model_predicted_department=served, correct_department=g.department))
    engine.dispose()


def correct_later(url: str, ids: list[int], gold: dict[int, str]) -> None:
    """Staff review older complaints: the reviews arrive after those complaints were in a dataset."""
    engine = make_engine(url)
    with engine.begin() as conn:
        served = dict(conn.execute(select(sambodhan.complaints.c.id, sambodhan.complaints.c.department)).all())
        for cid in ids:
            if served[cid] != gold[cid]:
                conn.execute(insert(sambodhan.misclassified_complaints).values(
                    complaint_id=cid, reviewed=True, model_predicted_department=served[cid], correct_department=gold[cid]))
    engine.dispose()


def splits(version: Path) -> dict[str, str]:
    return {
        row_id: split
        for split in SPLITS
        for row_id in pq.read_table(version / split_path(split), columns=["id"]).column("id").to_pylist()
    }


def vocabulary(model_file: Path) -> set[str]:
    words = dict(load(model_file).pipeline.steps[0][1].transformer_list)["words"]
    return set(words.vocabulary_)


def test_evaluation_rows_never_enter_training_across_versions(sqlite_url, tmp_path):
    base = synthetic.generate(300, seed=1)
    synthetic.write_parquet(tmp_path / "base.parquet", [
        synthetic.Grievance(g.id, f"{g.text} {marker(f'b{g.id}')}", g.department, g.urgency) for g in base
    ])
    engine = make_engine(sqlite_url)
    sambodhan.create_schema(engine)
    engine.dispose()
    cfg = write_config(tmp_path, sqlite_url)
    first = synthetic.generate(240, seed=2, start_id=10_000)
    add_complaints(sqlite_url, first, correct=set(range(0, 240, 2)))

    def cycle() -> dict:
        assert (done := run_cli({}, "prepare", "--config", cfg, cwd=tmp_path, timeout=300)).returncode == 0, done.stderr
        trained = run_cli({}, "retrain", "--config", cfg, "--label", "department", "--json", cwd=tmp_path, timeout=300)
        assert trained.returncode == 0, trained.stderr
        return json.loads(trained.stdout)

    v1 = cycle()
    # more traffic, and reviews of complaints the first version held as unflagged or held out
    second = synthetic.generate(240, seed=3, start_id=20_000)
    add_complaints(sqlite_url, second, correct=set(range(0, 240, 2)))
    correct_later(sqlite_url, [g.id for g in first[1::2]], {g.id: g.department for g in first})
    v2 = cycle()
    assert v2["evidence"]["fresh_rows"] > 0  # the champion of v1 never saw these: scored out of fold
    assert {c["recipe"] for c in v2["candidates"]} == {"sampled×0", "sampled×1"}

    versions = tmp_path / "hub/department/versions"
    first_splits, second_splits = splits(versions / v1["dataset_version"]), splits(versions / v2["dataset_version"])
    assert {i: second_splits[i] for i in first_splits} == first_splits  # no row ever moves between splits
    later_corrections = {f"c{g.id}" for g in first[1::2]}
    assert any(second_splits[i] != "train" for i in later_corrections)  # some reviewed rows are held out

    models = sorted((tmp_path / "models/department").rglob("*.skops"))
    assert len(models) >= 3  # each version's deployed model, and every rejected challenger, kept
    for model_file in models:
        seen = vocabulary(model_file)
        for row_id, split in second_splits.items():
            if split != "train":
                assert marker(row_id) not in seen, f"{model_file.name} trained on held-out row {row_id}"
    deployed = vocabulary(tmp_path / "models/department/model.skops")
    trained_on = {i for i, split in second_splits.items() if split == "train"}
    assert sum(marker(i) in deployed for i in trained_on) > 0.9 * len(trained_on)  # it did learn from the train rows


def test_a_capped_golden_slice_only_ever_gives_rows_to_training(sqlite_url, tmp_path):
    """``max_golden_rows``: a base set that grows holds out a smaller share of itself, so rows leave the golden slice
    for training and never come back. Were more held out later (the cap raised), rows the champion trained on would
    be held out: they are left out of the comparison. No decision compares the models on a row either trained on."""
    base = [synthetic.Grievance(g.id, f"{g.text} {marker(f'b{g.id}')}", g.department, g.urgency)
            for g in synthetic.generate(600, seed=1)]
    engine = make_engine(sqlite_url)
    sambodhan.create_schema(engine)
    engine.dispose()
    models, versions = tmp_path / "models/department", tmp_path / "hub/department/versions"

    def cycle(base_rows: int, cap: str, start: int) -> tuple[dict, dict[str, str], str, set[str], set[str]]:
        """One prepare and retrain; the decision, the dataset's splits, the log, the ids compared on, and the ids the
        champion's dataset trained on."""
        synthetic.write_parquet(tmp_path / "base.parquet", base[:base_rows])
        cfg = write_config(tmp_path, sqlite_url, extra=cap)
        add_complaints(sqlite_url, synthetic.generate(120, seed=start, start_id=start * 1000), correct=set(range(0, 120, 2)))
        champion, champion_trained = set(), set()
        if (models / "model.skops").exists():
            champion = vocabulary(models / "model.skops")
            champion_dataset = json.loads((models / "metadata.json").read_text())["dataset_version"]
            champion_trained = {i for i, split in splits(versions / champion_dataset).items() if split == "train"}
        assert (done := run_cli({}, "prepare", "--config", cfg, cwd=tmp_path, timeout=300)).returncode == 0, done.stderr
        trained = run_cli({}, "retrain", "--config", cfg, "--label", "department", "--json", cwd=tmp_path, timeout=300)
        assert trained.returncode == 0, trained.stderr
        decision = json.loads(trained.stdout)
        version = json.loads(sorted((models / "decisions").glob("*.json"))[-1].read_text())["model_version"]
        kept = pq.read_table(models / "versions" / version / "evaluation.parquet").to_pydict()
        challenger = vocabulary(models / "versions" / version / "model.skops")
        compared = [i for i, oof in zip(kept["id"], kept["out_of_fold"]) if not oof]
        assert compared and not [i for i in compared if marker(i) in challenger or marker(i) in champion]
        return decision, splits(versions / decision["dataset_version"]), trained.stderr, set(kept["id"]), champion_trained

    first, first_splits, _, _, _ = cycle(300, "max_golden_rows = 50", 10)
    metadata = json.loads((versions / first["dataset_version"] / "dataset_metadata.json").read_text())
    assert metadata["held_out_share"] == {"base": round(50 / 300, 6), "other": 0.2}
    assert 30 <= metadata["golden_rows"] <= 70  # 50 expected, a binomial draw of the ids
    corrections = [i for i in first_splits if i.startswith("c")]
    assert 0.1 < sum(first_splits[i] != "train" for i in corrections) / len(corrections) < 0.3  # other sources: 20%

    second, second_splits, _, second_compared, _ = cycle(600, "max_golden_rows = 50", 20)
    held = lambda found: {i for i, split in found.items() if i.startswith("b") and split != "train"}  # noqa: E731
    assert held(second_splits) <= held(first_splits) | (set(second_splits) - set(first_splits))  # none comes back
    released = held(first_splits) - held(second_splits)
    assert released and all(second_splits[i] == "train" for i in released)
    assert all(second_splits[i] == split for i, split in first_splits.items() if i.startswith("c"))  # the rest stays
    learned = vocabulary(models / "versions" / json.loads(sorted((models / "decisions").glob("*.json"))[-1].read_text())[
        "model_version"] / "model.skops")
    assert all(marker(i) in learned for i in released)  # released rows train the challenger...
    assert not released & second_compared  # ...and are not compared on: the golden slice is what no model trained on

    third, third_splits, log, _, champion_trained = cycle(600, "", 30)  # the default cap: 20% of 600, more than before
    found = re.search(r"(\d+) held-out rows were training rows of the champion's dataset", log)
    assert found, log
    left_out = held(third_splits) & champion_trained
    assert left_out and int(found.group(1)) == third["evidence"]["held_out_left_out"] == len(left_out)
    assert third["evidence"]["golden_rows"] == len(held(third_splits)) - len(left_out)


def test_a_decision_records_its_numbers_per_source_and_per_candidate(sqlite_url, tmp_path):
    synthetic.write_parquet(tmp_path / "base.parquet", synthetic.generate(300, seed=4))
    engine = make_engine(sqlite_url)
    sambodhan.create_schema(engine)
    engine.dispose()
    cfg = write_config(tmp_path, sqlite_url)
    add_complaints(sqlite_url, synthetic.generate(300, seed=5, start_id=10_000), correct=set(range(300)))
    assert run_cli({}, "prepare", "--config", cfg, cwd=tmp_path, timeout=300).returncode == 0
    first = json.loads(run_cli({}, "retrain", "--config", cfg, "--label", "department", "--json", cwd=tmp_path, timeout=300).stdout)
    assert first["accepted"] and first["champion"] is None
    add_complaints(sqlite_url, synthetic.generate(300, seed=6, start_id=20_000), correct=set(range(300)))
    assert run_cli({}, "prepare", "--config", cfg, cwd=tmp_path, timeout=300).returncode == 0
    done = run_cli({}, "retrain", "--config", cfg, "--label", "department", "--json", cwd=tmp_path, timeout=300)
    decision = json.loads(done.stdout)
    assert set(decision["challenger"]) >= {"pooled", "golden", "feedback"}
    assert set(decision["champion"]) >= {"pooled", "golden", "feedback"}
    assert "pooled macro-F1" in decision["reason"] and "golden" in decision["reason"]
    assert "review rate 0.5 (jobs.review_rate)" in decision["reason"]
    assert decision["recipe"] in {c["recipe"] for c in decision["candidates"]}
    for candidate in decision["candidates"]:
        assert {"delta", "wins", "risk", "golden_delta", "golden_lost", "golden_won", "golden_p", "scores"} <= set(candidate)
    chosen = next(c for c in decision["candidates"] if c["recipe"] == decision["recipe"])
    assert chosen["delta"] == max(c["delta"] for c in decision["candidates"])  # the best candidate is gated
    assert decision["evidence"]["sources"]["feedback"] > 0 and decision["evidence"]["golden_rows"] > 0
    stamp = sorted((tmp_path / "models/department/decisions").glob("*.json"))[-1]
    assert json.loads(stamp.read_text())["reason"] == decision["reason"]
    assert "candidate sampled×0: pooled" in done.stderr
    # the rows it decided on, kept beside the version: held-out rows of the dataset, then rows scored out of fold
    version = json.loads(stamp.read_text())["model_version"]
    kept_table = pq.read_table(tmp_path / "models/department/versions" / version / "evaluation.parquet")
    kept, kept_schema = kept_table.to_pydict(), kept_table.schema
    assert len(kept["id"]) == decision["evidence"]["held_out_rows"] + decision["evidence"]["fresh_rows"]
    assert {s: kept["source"].count(s) for s in set(kept["source"])} == {
        s: n for s, n in decision["evidence"]["sources"].items() if n}
    dataset_splits = splits(tmp_path / "hub/department/versions" / decision["dataset_version"])
    assert all(dataset_splits[i] != "train" for i, oof in zip(kept["id"], kept["out_of_fold"]) if not oof)
    first_kept = pq.read_table(tmp_path / "models/department/versions" / first["dataset_version"] / "evaluation.parquet")
    assert first_kept.column("champion").null_count == first_kept.num_rows > 0  # no champion yet: no answers of its
    assert first_kept.schema.field("champion").type == kept_schema.field("champion").type  # one schema for every version
    golden = [i for i, s in enumerate(kept["source"]) if s == "base"]
    for model, column in (("challenger", "challenger"), ("champion", "champion")):  # both models' answers, as scored
        truth, answers = [kept["label"][i] for i in golden], [kept[column][i] for i in golden]
        assert round(macro_f1_of(truth, answers), 4) == decision[model]["golden"]


def two_retrains_without_review_rate(sqlite_url: str, tmp_path: Path, *, extra: str = "") -> dict:
    """A first model, then a challenger, with review_rate unset as a user has it: the second decision."""
    synthetic.write_parquet(tmp_path / "base.parquet", synthetic.generate(300, seed=4))
    engine = make_engine(sqlite_url)
    sambodhan.create_schema(engine)
    engine.dispose()
    cfg = write_config(tmp_path, sqlite_url, review_rate="", extra=extra)
    for seed, start in ((5, 10_000), (6, 20_000)):
        add_complaints(sqlite_url, synthetic.generate(300, seed=seed, start_id=start), correct=set(range(0, 300, 2)))
        assert run_cli({}, "prepare", "--config", cfg, cwd=tmp_path, timeout=300).returncode == 0
        done = run_cli({}, "retrain", "--config", cfg, "--label", "department", "--json", cwd=tmp_path, timeout=300)
        assert done.returncode == 0, done.stderr
    decision = json.loads(done.stdout)
    return decision


def test_without_review_rate_the_hidden_mistakes_come_from_every_base_row_the_champion_never_trained_on(sqlite_url, tmp_path):
    """The defaults a user has: the champion's error rate comes from the golden slice and the rest of the base set,
    scored out of fold by models trained on base rows only."""
    decision = two_retrains_without_review_rate(sqlite_url, tmp_path)
    hidden = decision["evidence"]["hidden_mistakes"]
    found = re.search(r"error rate [0-9.]+ ± [0-9.]+ of the champion on base rows it never trained on \((\d+) golden, (\d+) "
                      r"scored out of fold by base-only models less their handicap [+-]0\.\d{3} on the golden slice \(slope [01]\.\d\d, correcting it by [+-][01]\.\d{3}\), as precise as "
                      r"(\d+) rows; ", hidden)
    assert found, hidden
    golden, out_of_fold, precise = map(int, found.groups())
    assert golden == decision["evidence"]["golden_rows"] and out_of_fold > 0 and golden < precise <= golden + out_of_fold
    assert "negative flips" in decision["reason"]
    # the share reviewed is learned on every row the champion served, held out or not: those its dataset lacks
    stamp = sorted((tmp_path / "models/department/decisions").glob("*.json"))[-1]
    version = json.loads(stamp.read_text())["model_version"]
    kept = pq.read_table(tmp_path / "models/department/versions" / version / "evaluation.parquet").to_pydict()
    served_since = [oof for i, s, oof in zip(kept["id"], kept["source"], kept["out_of_fold"]) if s == "feedback" and int(i.lstrip("c")) >= 20_000]
    assert False in served_since and True in served_since  # corrections it served, both held out and out of fold
    assert f", {len(served_since)} corrections on the traffic it served" in hidden, hidden
    chosen = next(c for c in decision["candidates"] if c["recipe"] == decision["recipe"])
    assert 0 <= chosen["negative_flips"] <= chosen["flip_rows"]


def test_the_share_reviewed_is_learned_while_the_first_model_serves_and_carried_by_every_model_after_it(sqlite_url, tmp_path):
    """A champion the gate chose is flattered by the golden rows it was chosen on, so its own error rate would
    understate the hidden mistakes. The share reviewed (the staff's, not the model's) is learned while the first model
    serves, kept in the metadata of each model compared with it, and used, as it is, by the decisions made while a
    later model serves."""
    decision = two_retrains_without_review_rate(sqlite_url, tmp_path)
    store = tmp_path / "models/department"

    def last_kept() -> tuple[str, dict]:
        version = json.loads(sorted((store / "decisions").glob("*.json"))[-1].read_text())["model_version"]
        return version, json.loads((store / "versions" / version / "metadata.json").read_text())

    version, kept = last_kept()
    share = kept["details"]["review_share"]
    learned_on = share["learned_on"]
    assert learned_on and learned_on == kept["parent"] and "of the champion" in decision["evidence"]["hidden_mistakes"]
    assert share["corrections"] > 0 and share["traffic"] > share["corrections"] and share["rows"] >= decision["evidence"]["golden_rows"]
    cfg = str(tmp_path / "orchestrator.toml")
    if not decision["accepted"]:  # deployed by hand, as a person may
        done = run_cli({}, "promote", "--config", cfg, "--label", "department", "--version", version,
                       "--reason", "test", cwd=tmp_path, timeout=120)
        assert done.returncode == 0, done.stderr
    add_complaints(sqlite_url, synthetic.generate(300, seed=7, start_id=30_000), correct=set(range(0, 300, 2)))
    assert run_cli({}, "prepare", "--config", cfg, cwd=tmp_path, timeout=300).returncode == 0
    done = run_cli({}, "retrain", "--config", cfg, "--label", "department", "--json", cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    third = json.loads(done.stdout)
    hidden = third["evidence"]["hidden_mistakes"]
    assert f"learned on the traffic of model version {learned_on} " in hidden and "of the champion" not in hidden, hidden
    implied = max(share["errors"] / share["rows"] * share["traffic"] - share["corrections"], 0) / share["corrections"]
    assert third["evidence"]["hidden_per_correction"] == pytest.approx(implied, abs=1e-3)
    again = last_kept()[1]
    assert again["version"] != version and again["details"]["review_share"] == share  # passed on as it is
    # a champion the gate chose that carries no share (kept by an earlier release): its own rate, and nothing learned
    root = store / "metadata.json"
    deployed = json.loads(root.read_text())
    assert deployed["champion"] is not None and deployed["details"].pop("review_share") == share
    root.write_text(json.dumps(deployed))
    done = run_cli({}, "retrain", "--config", cfg, "--label", "department", "--json", cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "of the champion on base rows" in json.loads(done.stdout)["evidence"]["hidden_mistakes"]
    assert "review_share" not in last_kept()[1]["details"]
    # back to the first model by hand: the rows its dataset lacks were partly served by the models after it, so it
    # learns nothing from them, and the share it gave before it was replaced is used and carried again
    done = run_cli({}, "promote", "--config", cfg, "--label", "department", "--version", learned_on, "--reason", "test",
                   cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    done = run_cli({}, "retrain", "--config", cfg, "--label", "department", "--json", cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"learned on the traffic of model version {learned_on} " in json.loads(done.stdout)["evidence"]["hidden_mistakes"]
    assert last_kept()[1]["details"]["review_share"] == share


def test_while_the_first_model_serves_the_share_reviewed_is_learned_anew_on_its_growing_traffic(sqlite_url, tmp_path):
    """A refused challenger carries the share its round learned; the next round, with the first model still serving,
    learns it again on more of that model's traffic instead of freezing the first, thinner estimate."""
    decision = two_retrains_without_review_rate(sqlite_url, tmp_path, extra="min_delta = 1.0")  # nothing replaces it
    assert not decision["accepted"] and "of the champion" in decision["evidence"]["hidden_mistakes"]
    store = tmp_path / "models/department"

    def kept_share() -> dict:
        version = json.loads(sorted((store / "decisions").glob("*.json"))[-1].read_text())["model_version"]
        return json.loads((store / "versions" / version / "metadata.json").read_text())["details"]["review_share"]

    before = kept_share()
    add_complaints(sqlite_url, synthetic.generate(300, seed=7, start_id=30_000), correct=set(range(0, 300, 2)))
    cfg = str(tmp_path / "orchestrator.toml")
    assert run_cli({}, "prepare", "--config", cfg, cwd=tmp_path, timeout=300).returncode == 0
    done = run_cli({}, "retrain", "--config", cfg, "--label", "department", "--json", cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    hidden = json.loads(done.stdout)["evidence"]["hidden_mistakes"]
    assert "of the champion" in hidden and "learned on the traffic of model version" not in hidden, hidden
    after = kept_share()
    assert after["learned_on"] == before["learned_on"]
    assert after["corrections"] > before["corrections"] and after["traffic"] > before["traffic"]


def test_the_rows_the_champion_served_are_those_its_dataset_lacks_held_out_or_not(tmp_path):
    """The share of its mistakes reviewed is learned on the rows that arrived after the champion's dataset was cut,
    held out or scored out of fold; its held-out rows are told apart when they can be read, and when they cannot,
    the held-out rows count as not served while the rest of what it saw is still known."""
    import pyarrow as pa

    from orchestrator.jobs.dataset import SCHEMA, Split
    from orchestrator.jobs.retrain import fresh_rows
    from orchestrator.remote.stores import LocalStore

    def split(*rows: tuple[str, str, str]) -> Split:
        return Split([r[0] for r in rows], [f"text {r[0]}" for r in rows], [r[1] for r in rows], [r[2] for r in rows],
                     [None] * len(rows), [False] * len(rows))

    def write(version: Path, name: str, rows: Split) -> None:
        (version / "data").mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pydict({"id": rows.ids, "text": rows.texts, "label": [0] * len(rows), "label_name": rows.labels,
                                      "source": rows.sources, "golden": rows.golden, "served": rows.served}, schema=SCHEMA)
        pq.write_table(table, version / split_path(name))

    v1 = tmp_path / "datasets" / "versions" / "v1"
    write(v1, "train", split(("b1", "A", "base"), ("b4", "B", "base"), ("c1", "A", "sampled"), ("c9", "A", "sampled")))
    write(v1, "eval", split(("c2", "B", "feedback")))
    write(v1, "test", split(("b3", "A", "base")))
    train = split(("b1", "A", "base"), ("c1", "A", "sampled"), ("c9", "B", "feedback"), ("c5", "B", "feedback"), ("b2", "A", "base"))
    held = split(("c2", "B", "feedback"), ("c6", "B", "feedback"), ("b3", "A", "base"), ("b4", "B", "base"))
    lines: list[str] = []
    store = LocalStore(tmp_path / "datasets")
    seen = fresh_rows(store, {"dataset_version": "v1"}, train, held, tmp_path / "scratch", lines.append, "department")
    assert seen.unseen == [2, 3, 4]  # c9 is corrected since, c5 is new, b2 left the golden slice
    assert seen.fresh == [2, 3]  # base rows are never compared on out of fold
    assert seen.trained_held == [3]  # b4 trained the champion: left out of the comparison
    fresh_ids = [train.ids[i] for i in seen.fresh]
    # c2 was held out of its dataset and c9 trained it (with the label it was served): older traffic; c6 and c5 are new
    assert seen.served(held.ids, fresh_ids) == [False, True, False, False, False, True]
    assert not lines
    (v1 / split_path("eval")).unlink()
    seen = fresh_rows(store, {"dataset_version": "v1"}, train, held, tmp_path / "scratch2", lines.append, "department")
    assert seen.fresh == [2, 3] and seen.trained_held == [3]  # what it trained on is still known
    assert seen.served(held.ids, fresh_ids) == [False, False, False, False, False, True]
    assert seen.served(held.ids, []) is None  # nothing it served can be told apart
    assert len(lines) == 1 and "the champion's held-out rows in v1 cannot be read" in lines[0]


def _rows_with_words_no_other_row_has() -> tuple[list[str], list[str], list[int]]:
    """90 short rows, mostly class A, and one row per class whose class word is drowned in 300 words that only it
    has: a model whose features never saw those words reads the class word; one whose features hold them too
    (with no weight learned for them) finds the class word shrunk by them and falls back on the commonest class."""
    import random

    rng = random.Random(0)
    words = {"A": "alpha", "B": "beta", "C": "gamma"}
    labels = ["A" if i < 70 else "BC"[i % 2] for i in range(90)]
    texts = [f"{words[label]} report number{i % 5} today" for i, label in enumerate(labels)]
    for label, word in words.items():
        junk = " ".join("".join(rng.choice("qxzjvkw") for _ in range(9)) for _ in range(300))
        texts.append(f"{word} {junk}")
        labels.append(label)
    return texts, labels, [90, 91, 92]


def test_a_left_out_row_is_scored_as_by_features_that_never_saw_it():
    """Features are fitted once on every training text, and fold models are trained on them; a row a fold model
    left out must still be scored as a deployed model scores a text it never saw, not pulled towards the common
    class by n-grams only it has (which, left in, take most of its norm)."""
    from orchestrator.jobs.model import Features, train

    texts, labels, left_out = _rows_with_words_no_other_row_has()
    kept = [i for i in range(len(texts)) if i not in left_out]
    features = Features.fit(texts)
    model = features.classifier(labels, rows=kept)
    own = train([texts[i] for i in kept], [labels[i] for i in kept])  # features fitted without the left-out rows
    assert own.predict([texts[i] for i in left_out]) == ["A", "B", "C"]
    assert features.predict_left_out(model, left_out) == ["A", "B", "C"]
    assert model.predict([texts[i] for i in left_out]) != ["A", "B", "C"]  # the shared vocabulary's pull, undone above
    assert features.predict_left_out(model, [92, 90, 91, 90]) == ["C", "A", "B", "A"]  # in the order asked, repeats too
    assert features.predict_left_out(model, []) == []
    with pytest.raises(ValueError, match="a model trained on these features"):
        Features.fit(texts).predict_left_out(model, left_out)  # another fit's columns mean other n-grams


def test_fresh_rows_scored_out_of_fold_are_scored_as_unseen_texts():
    """The challenger's out-of-fold predictions on the rows the champion never saw go through the same correction:
    otherwise every fresh row with words of its own would lean to the common class, and the gate would understate
    the challenger on the rows the champion served."""
    from orchestrator.jobs.candidates import train_candidates
    from orchestrator.jobs.dataset import Split
    from orchestrator.jobs.model import Features

    texts, labels, left_out = _rows_with_words_no_other_row_has()
    sources = ["base"] * 90 + ["feedback"] * 3
    train = Split([f"r{i}" for i in range(len(texts))], texts, labels, sources, [None] * 90 + ["A"] * 3, [False] * len(texts))
    (candidate,) = train_candidates(train, [], left_out, weights=[1.0], folds=2, seed=0, features=Features.fit(texts))
    assert candidate.predicted == ["B" if i == 91 else "C" if i == 92 else "A" for i in left_out]


def test_base_rows_scored_out_of_fold_are_scored_as_unseen_texts():
    """The base rows behind the error rate go through the same correction, so that to a fold model a left-out base
    row is as unseen as a golden row; else rows with words of their own would count as the fold models' mistakes."""
    from orchestrator.jobs.candidates import base_out_of_fold
    from orchestrator.jobs.dataset import Split
    from orchestrator.jobs.model import Features

    texts, labels, _ = _rows_with_words_no_other_row_has()
    train = Split([f"r{i}" for i in range(len(texts))], texts, labels, ["base"] * len(texts), [None] * len(texts),
                  [False] * len(texts))
    scored = base_out_of_fold(Features.fit(texts), train, range(len(texts)), folds=5, seed=0)
    assert len(scored.scored.correct) == len(texts) and scored.scored.errors == 0


def test_the_fold_models_that_score_the_base_rows_learn_from_base_rows_alone():
    """Corrections gather where no served model learned (around the golden rows, not the base rows every model
    trained on), so fold models that learned from them would find the left-out base rows harder than the golden
    ones, and the error rate would come out too high. Here every base row has a correction of the same text with
    the other label, and so has a model-labelled row: a fold model that learned from either gets every left-out base
    row wrong."""
    from orchestrator.jobs.candidates import base_out_of_fold
    from orchestrator.jobs.dataset import Split
    from orchestrator.jobs.model import Features

    base = [(f"b{i}", f"{word} {word}{i % 7} report {i}", label) for i in range(60)
            for word, label in [(("alpha", "A"), ("beta", "B"))[i % 2]]]
    corrections = [(f"c{i}", text, "B" if label == "A" else "A") for i, (_, text, label) in enumerate(base)]
    sampled = [(f"s{i}", text, "B" if label == "A" else "A") for i, (_, text, label) in enumerate(base)]
    rows = base + corrections + sampled
    sources = ["base"] * len(base) + ["feedback"] * len(corrections) + ["sampled"] * len(sampled)
    train = Split([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], sources,
                  [None] * len(base) + [r[2] for r in base] + [r[2] for r in base], [False] * len(rows))
    scored = base_out_of_fold(Features.fit(train.texts), train, range(len(rows)), folds=5, seed=0,
                              golden_texts=["alpha alpha3 report 99", "beta beta4 report 98"], golden_labels=["A", "B"])
    assert len(scored.scored.correct) == len(base)  # every base row, once, by the model that left it out
    assert scored.scored.errors == 0 and scored.golden_errors == (0.0, 0.0)


def test_the_out_of_fold_error_rate_is_taken_down_by_the_fold_models_handicap_on_the_golden_slice():
    """Fold models that each miss a fifth of the base rows err more than the champion: how much more is measured
    on the golden slice, where both are scored, and taken off; the rate is as precise as the golden rows' paired
    differences allow, and never claims more rows than it has, nor less precision than the golden slice alone."""
    from orchestrator.jobs.candidates import BaseOutOfFold, Scored
    from orchestrator.jobs.evaluation_rows import Rows
    from orchestrator.jobs.error_rate import base_error

    golden = Rows(texts=("t",) * 100, labels=("a",) * 100, served=(None,) * 100, sources=("base",) * 100, weights=(1.0,) * 100)
    champion = ["b"] * 10 + ["a"] * 90  # 10% wrong on the golden slice
    out_of_fold = Scored((False,) * 60 + (True,) * 140)  # 30% wrong on 200 base rows, by models that miss a fold
    # the fold models miss what the champion misses, and 2 rows more: a handicap of 0.02, known precisely
    close = (1.0,) * 10 + (1.0,) * 2 + (0.0,) * 88
    corrected = base_error(golden, champion, BaseOutOfFold(out_of_fold, golden_errors=close))
    share = 200 / 300
    slope = (0.10 - 0.10 * 0.12) / (0.12 * 0.88)  # the fold models' errors against the champion's, on the golden rows
    assert corrected.rate == pytest.approx(0.10 + share * slope * (0.30 - 0.12), abs=0.5 / corrected.rows)
    assert 100 < corrected.rows <= 300
    assert f"by base-only models less their handicap +0.020 on the golden slice (slope {slope:.2f}, correcting it by " in corrected.where
    # a large handicap, or fold models that miss other rows than the champion: the correction is noise, and the
    # golden slice alone is kept
    apart = (0.0,) * 10 + (1.0,) * 20 + (0.0,) * 70
    plain = base_error(golden, champion, BaseOutOfFold(out_of_fold, golden_errors=apart))
    assert (plain.errors, plain.rows) == (10, 100) and "the 200 base rows scored out of fold would not make it" in plain.where
    # without the fold models' answers on the golden slice, nothing to correct with: the golden slice alone
    assert base_error(golden, champion, BaseOutOfFold(out_of_fold)).rows == 100


def test_the_error_rate_with_its_out_of_fold_correction_is_unbiased_and_surer_where_the_truth_is_known():
    """Simulated base sets whose true error rate is known: a champion wrong on 12% of the base distribution, fold
    models wrong on the same hard rows and more. Over many draws of a 66-row golden slice and 246 rows scored out of
    fold (the grievance tweets' sizes), the corrected rate averages the truth, and spreads less than the golden
    slice's own count."""
    import numpy as np

    from orchestrator.jobs.candidates import BaseOutOfFold, Scored
    from orchestrator.jobs.evaluation_rows import Rows
    from orchestrator.jobs.error_rate import base_error

    rng = np.random.default_rng(0)
    n_g, n_x, truth = 66, 246, 0.12
    golden = Rows(texts=("t",) * n_g, labels=("a",) * n_g, served=(None,) * n_g, sources=("base",) * n_g, weights=(1.0,) * n_g)
    corrected, plain = [], []
    for _ in range(2000):
        hardness = rng.random(n_g + n_x)  # a row is hard for every model in the measure of its hardness
        champion_wrong = hardness[:n_g] < truth
        fold_wrong = (hardness < 0.16) | (rng.random(n_g + n_x) < 0.03)  # a handicap: they miss more
        found = base_error(golden, ["b" if w else "a" for w in champion_wrong],
                           BaseOutOfFold(Scored(tuple(~fold_wrong[n_g:])), golden_errors=tuple(map(float, fold_wrong[:n_g]))))
        corrected.append(found.rate)
        plain.append(champion_wrong.mean())
    assert abs(np.mean(corrected) - truth) < 3 * np.std(corrected) / np.sqrt(2000)
    assert np.std(corrected) < 0.8 * np.std(plain)
