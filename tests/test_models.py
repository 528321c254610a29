"""Model versions as a user handles them in local mode, through real subprocesses: every retrain's model kept,
``models`` listing them, ``rollback`` and ``promote`` moving what ``predict`` answers with, manual approval, and
lineage from a correction's id to the model that first trained on it. Each repeated command changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import TOKEN, run_cli
from test_jobs_local import add_stream, cli, config

from orchestrator.jobs import synthetic
from orchestrator.run.journal import CRASH_EXIT_CODE

PROBES = [g.text for g in synthetic.generate(60, seed=9, start_id=900_000)]
EASY_GATE = "min_delta = 0\nmargin = 1\nconfidence = 0.5\ngolden_tolerance = 1\nmax_negative_flips = 1"


def predict(tmp: Path, cfg: str) -> list[str]:
    done = cli(tmp, "predict", "--config", cfg, "--label", "department", stdin="\n".join(PROBES) + "\n")
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def models(tmp: Path, cfg: str, *args: str):
    done = cli(tmp, "models", "--config", cfg, "--label", "department", "--json", *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def round_(tmp: Path, cfg: str, url: str, rows: int, seed: int) -> dict:
    add_stream(url, synthetic.generate(rows, seed=seed, start_id=seed * 10_000), correct_every=1)
    assert cli(tmp, "prepare", "--config", cfg).returncode == 0
    trained = cli(tmp, "retrain", "--config", cfg, "--label", "department", "--json")
    assert trained.returncode == 0, trained.stderr
    return json.loads(trained.stdout)


def registry_bytes(tmp: Path) -> bytes:
    return (tmp / "models/department/models.json").read_bytes()


def test_two_deploys_then_rollback_and_promote_move_what_predict_answers(db_url, tmp_path):
    synthetic.write_parquet(tmp_path / "base.parquet", synthetic.generate(60, seed=1))
    cfg = str(config(tmp_path, db_url, min_f1=0, jobs=EASY_GATE))
    first = round_(tmp_path, cfg, db_url, 40, seed=2)
    before = predict(tmp_path, cfg)
    second = round_(tmp_path, cfg, db_url, 600, seed=3)
    assert first["accepted"] and second["accepted"], second["reason"]
    after = predict(tmp_path, cfg)
    assert before != after  # a model trained on 15 times the rows answers differently somewhere

    listed = models(tmp_path, cfg)
    old, new = first["dataset_version"], second["dataset_version"]
    assert [(r["version"], r["status"]) for r in listed] == [(new, "deployed"), (old, "retired")]
    assert all(r["macro_f1"] is not None and r["created_at"] for r in listed) and "cost" in listed[0]

    back = cli(tmp_path, "rollback", "--config", cfg, "--label", "department", "--reason", "complaints from staff")
    assert back.returncode == 0 and f"model version {old} is deployed (was {new})" in back.stderr, back.stderr
    assert predict(tmp_path, cfg) == before
    assert [r["status"] for r in models(tmp_path, cfg)] == ["retired", "deployed"]
    state = registry_bytes(tmp_path)
    again = cli(tmp_path, "rollback", "--config", cfg, "--label", "department")
    assert again.returncode == 0 and "already the deployed model: nothing changed" in again.stderr
    assert registry_bytes(tmp_path) == state and predict(tmp_path, cfg) == before

    dry = cli(tmp_path, "promote", "--config", cfg, "--label", "department", "--version", new, "--dry-run")
    assert dry.returncode == 0 and f"would promote to model version {new}" in dry.stderr
    assert registry_bytes(tmp_path) == state
    forward = cli(tmp_path, "promote", "--config", cfg, "--label", "department", "--version", new, "--reason", "fixed")
    assert forward.returncode == 0, forward.stderr
    assert predict(tmp_path, cfg) == after
    state = registry_bytes(tmp_path)
    repeated = cli(tmp_path, "promote", "--config", cfg, "--label", "department", "--version", new)
    assert repeated.returncode == 0 and "nothing changed" in repeated.stderr and registry_bytes(tmp_path) == state

    history = json.loads(cli(tmp_path, "history", "--config", cfg, "--label", "department", "--json").stdout)
    moves = [(h["mode"], h["labels"]["department"]["retrain_reason"]) for h in history if h["mode"] != "wait"]
    assert [mode for mode, _ in moves] == ["promote", "rollback"]  # newest first; the repeats left no row
    assert moves[1][1].startswith("rollback by ") and moves[1][1].endswith(": complaints from staff")

    detail = models(tmp_path, cfg, "--version", new)
    assert detail["parent"] == old and detail["lineage"]["dataset_version"] == new
    assert [p["kind"] for p in detail["promotions"]] == ["deploy", "rollback", "promote"]


def test_rollback_with_nothing_before_and_an_unknown_version_exit_2(sqlite_url, tmp_path):
    synthetic.write_parquet(tmp_path / "base.parquet", synthetic.generate(200, seed=1))
    cfg = str(config(tmp_path, sqlite_url, min_f1=0))
    round_(tmp_path, cfg, sqlite_url, 40, seed=2)
    none_before = cli(tmp_path, "rollback", "--config", cfg, "--label", "department")
    assert none_before.returncode == 2 and "nothing to roll back to" in none_before.stderr
    unknown = cli(tmp_path, "promote", "--config", cfg, "--label", "department", "--version", "v-nope")
    assert unknown.returncode == 2 and "no model version 'v-nope'" in unknown.stderr
    assert "Traceback" not in none_before.stderr + unknown.stderr


def test_manual_approval_keeps_the_deployed_model_until_promote(db_url, tmp_path):
    synthetic.write_parquet(tmp_path / "base.parquet", synthetic.generate(60, seed=1))
    cfg = str(config(tmp_path, db_url, min_f1=0, jobs=EASY_GATE))
    first = round_(tmp_path, cfg, db_url, 40, seed=2)
    before = predict(tmp_path, cfg)
    manual = str(config(tmp_path, db_url, min_f1=0, jobs=EASY_GATE + '\napproval = "manual"'))
    waiting = round_(tmp_path, manual, db_url, 600, seed=3)
    assert waiting["accepted"] is True  # the gate passed it...
    assert predict(tmp_path, manual) == before  # ...and the deployed model did not change
    version = waiting["dataset_version"]
    assert [(r["version"], r["status"]) for r in models(tmp_path, manual)] == [
        (version, "awaiting_approval"), (first["dataset_version"], "deployed")]
    result = json.loads((tmp_path / "models/department/retrain_result.json").read_text())
    assert (result["decision"], result["model_version"]) == ("awaiting_approval", version)

    approved = cli(tmp_path, "promote", "--config", manual, "--label", "department", "--version", version,
                   "--reason", "looked at its mistakes")
    assert approved.returncode == 0, approved.stderr
    deployed = predict(tmp_path, manual)
    assert deployed != before
    assert [r["status"] for r in models(tmp_path, manual)] == ["deployed", "retired"]
    assert cli(tmp_path, "promote", "--config", manual, "--label", "department", "--version", version).returncode == 0
    assert predict(tmp_path, manual) == deployed


def test_a_newer_deploy_supersedes_a_version_still_awaiting_approval(sqlite_url, tmp_path):
    synthetic.write_parquet(tmp_path / "base.parquet", synthetic.generate(60, seed=1))
    cfg = str(config(tmp_path, sqlite_url, min_f1=0, jobs=EASY_GATE))
    round_(tmp_path, cfg, sqlite_url, 40, seed=2)
    manual = str(config(tmp_path, sqlite_url, min_f1=0, jobs=EASY_GATE + '\napproval = "manual"'))
    waiting = round_(tmp_path, manual, sqlite_url, 300, seed=3)["dataset_version"]
    newest = round_(tmp_path, str(config(tmp_path, sqlite_url, min_f1=0, jobs=EASY_GATE)), sqlite_url, 300, seed=4)
    assert newest["accepted"]
    listed = {r["version"]: r for r in models(tmp_path, cfg)}
    assert listed[newest["dataset_version"]]["status"] == "deployed"
    assert listed[waiting]["status"] == "rejected"
    assert listed[waiting]["reason"] == f"superseded by {newest['dataset_version']} while awaiting approval"


def test_a_correction_is_followed_from_the_database_to_the_model_that_first_trained_on_it(db_url, tmp_path):
    synthetic.write_parquet(tmp_path / "base.parquet", synthetic.generate(200, seed=1))
    cfg = str(config(tmp_path, db_url, min_f1=0, jobs=EASY_GATE))
    first = round_(tmp_path, cfg, db_url, 80, seed=2)
    ids = json.loads((tmp_path / "hub/department/feedback_ids.json").read_text())
    trained_id = next(row_id for row_id, split in ids["corrections"] if split == "train")
    held_id = next(row_id for row_id, split in ids["corrections"] if split != "train")
    second = round_(tmp_path, cfg, db_url, 80, seed=3)  # holds the same corrections again
    assert second["dataset_version"] != first["dataset_version"]

    from sqlalchemy import text

    from orchestrator.remote.database import make_engine
    engine = make_engine(db_url)
    with engine.connect() as conn:  # the id as the app database has it: the complaint a reviewed row points at
        assert conn.execute(text("select count(*) from misclassified_complaints where complaint_id = :i"),
                            {"i": int(trained_id.removeprefix("c"))}).scalar_one() == 1
    engine.dispose()
    found = models(tmp_path, cfg, "--feedback-id", trained_id.removeprefix("c"))  # as the app database has it
    assert (found["version"], found["kind"]) == (first["dataset_version"], "correction")  # the first, not the second
    held = models(tmp_path, cfg, "--feedback-id", str(held_id))
    assert held["version"] is None and "held-out rows" in held["answer"]
    detail = models(tmp_path, cfg, "--version", first["dataset_version"])
    assert detail["lineage"]["feedback_rows"] == len(ids["corrections"]) + len(ids["confirmations"])
    assert detail["lineage"]["feedback_ids"].endswith(f"@ {first['dataset_version']}: feedback_ids.json")
    assert detail["lineage"]["dataset"]["snapshot_at"]


def test_an_interrupted_promote_is_undone_or_completed_by_the_next_command_never_done_twice(db_url, tmp_path):
    synthetic.write_parquet(tmp_path / "base.parquet", synthetic.generate(60, seed=1))
    cfg = str(config(tmp_path, db_url, min_f1=0, jobs=EASY_GATE))
    first = round_(tmp_path, cfg, db_url, 40, seed=2)["dataset_version"]
    second = round_(tmp_path, cfg, db_url, 300, seed=3)["dataset_version"]
    fast = {"LOCK_LEASE": "1", "LOCK_WAIT": "10"}  # a crashed command's lock expires quickly

    def promote(version: str, **env: str):
        return run_cli({**fast, **env}, "promote", "--config", cfg, "--label", "department", "--version", version,
                       cwd=tmp_path, timeout=120)

    state = registry_bytes(tmp_path)
    crashed = promote(first, ORCHESTRATOR_CRASH_AT="after_promote_intent")
    assert crashed.returncode == CRASH_EXIT_CODE and registry_bytes(tmp_path) == state  # it died before moving
    undone = run_cli(fast, "models", "--config", cfg, "--label", "department", cwd=tmp_path, timeout=120)
    assert undone.returncode == 0 and "undone: nothing had changed" in undone.stderr, undone.stderr
    assert [r["status"] for r in models(tmp_path, cfg)] == ["deployed", "retired"]

    crashed = promote(first, ORCHESTRATOR_CRASH_AT="after_promote_moved")
    assert crashed.returncode == CRASH_EXIT_CODE
    moved = registry_bytes(tmp_path)
    assert json.loads(moved)["deployed"] == first  # it moved, then died before settling
    completed = promote(first)  # the next command completes it first, then finds nothing left to do
    assert completed.returncode == 0, completed.stderr
    assert "was completed" in completed.stderr and "nothing changed" in completed.stderr
    assert registry_bytes(tmp_path) == moved
    registry = json.loads(moved)
    assert [p["kind"] for p in registry["promotions"]] == ["deploy", "deploy", "promote"]  # once, not twice
    assert registry["deployed"] == first and second in {v["version"] for v in registry["versions"]}
    history = json.loads(run_cli({}, "history", "--config", cfg, "--json", cwd=tmp_path).stdout)
    assert [h["status"] for h in history if h["mode"] == "promote"] == ["done", "failed"]  # completed, undone


def test_a_run_under_manual_approval_shows_awaiting_approval_with_the_promote_command_everywhere(tmp_path):
    work = tmp_path / "demo"
    made = run_cli({}, "demo", "--workdir", str(work), "--size", "small", "--rounds", "1", timeout=300)
    assert made.returncode == 0, made.stderr
    cfg = work / "orchestrator.toml"
    cfg.write_text(cfg.read_text().replace("[jobs]\n", "[jobs]\napproval = \"manual\"\n" + EASY_GATE + "\n", 1))
    deployed = {label: json.loads((work / f"hub/models/{label}/models.json").read_text())["deployed"]
                for label in ("department", "urgency")}
    add_stream(f"sqlite:///{work / 'app.db'}", synthetic.generate(400, seed=7, start_id=700_000), correct_every=1)
    outputs, summary = tmp_path / "outputs", tmp_path / "summary.md"
    done = run_cli({"GITHUB_OUTPUT": str(outputs), "GITHUB_STEP_SUMMARY": str(summary)}, "run", "--config", str(cfg),
                   "--json", cwd=work, timeout=300)
    assert done.returncode == 0, done.stderr
    label = json.loads(done.stdout)["labels"][0]
    assert (label["label"], label["outcome"]) == ("department", "awaiting approval"), label
    registry = json.loads((work / "hub/models/department/models.json").read_text())
    waiting = registry["versions"][-1]["version"]
    command = f"orchestrator promote --label department --version {waiting}"
    assert registry["deployed"] == deployed["department"]  # nothing was deployed
    assert command in label["retrain_reason"]
    assert "awaiting_approval=department" in outputs.read_text()
    assert command in summary.read_text() and "awaiting approval" in summary.read_text()
    status = {r["label"]: r for r in json.loads(run_cli({}, "status", "--config", str(cfg), "--json", cwd=work).stdout)}
    assert status["department"]["last_outcome"] == "awaiting_approval"
    assert command in status["department"]["last_outcome_reason"]
    history = json.loads(run_cli({}, "history", "--config", str(cfg), "--json", cwd=work).stdout)
    assert history[0]["labels"]["department"]["outcome"] == "awaiting approval"

    promoted = run_cli({}, *command.split()[1:], "--config", str(cfg), cwd=work)
    assert promoted.returncode == 0, promoted.stderr
    assert json.loads((work / "hub/models/department/models.json").read_text())["deployed"] == waiting


def test_a_model_deployed_before_versions_were_kept_becomes_the_first_version(sqlite_url, tmp_path):
    import shutil

    synthetic.write_parquet(tmp_path / "base.parquet", synthetic.generate(60, seed=1))
    cfg = str(config(tmp_path, sqlite_url, min_f1=0, jobs=EASY_GATE))
    first = round_(tmp_path, cfg, sqlite_url, 40, seed=2)["dataset_version"]
    store = tmp_path / "models/department"
    (store / "models.json").unlink()  # the layout an earlier version left: the deployed model at the root only
    shutil.rmtree(store / "versions")
    root = json.loads((store / "metadata.json").read_text())
    del root["version"]  # which its metadata did not name
    (store / "metadata.json").write_text(json.dumps(root))
    before = predict(tmp_path, cfg)
    second = round_(tmp_path, cfg, sqlite_url, 600, seed=3)["dataset_version"]
    assert [(r["version"], r["status"]) for r in models(tmp_path, cfg)] == [(second, "deployed"), (first, "retired")]
    assert models(tmp_path, cfg, "--version", second)["parent"] == first
    # the share of mistakes reviewed learned on its traffic names it by the version it was adopted as
    kept = json.loads((store / "versions" / second / "metadata.json").read_text())
    assert kept["details"]["review_share"]["learned_on"] == first
    assert cli(tmp_path, "rollback", "--config", cfg, "--label", "department").returncode == 0
    assert predict(tmp_path, cfg) == before


def test_each_version_shows_the_cost_of_the_retrain_that_made_it():
    from orchestrator.contracts.model_registry import Registry, Version
    from orchestrator.report.models import model_rows, version_costs
    from orchestrator.state.records import Action

    registry = Registry().add(Version("d1", "d1", "t1", "deployed", "r")).add(Version("d1.2", "d1", "t2", "rejected", "r"))
    registry = registry.add(Version("d2", "d2", "t3", "rejected", "r", details={"seconds": 41.6}))
    retrains = [Action("retrain", ("department",), "k1", "d1", cost_seconds=412, cost_usd=0.1144, cost_basis="HF Job 412 s"),
                Action("retrain", ("department",), "k2", "d1", cost_seconds=95, cost_basis="wall time 95 s")]
    costs = version_costs(registry, retrains)
    assert costs == {"d1": "$0.11 (HF Job 412 s)", "d1.2": "wall time 95 s", "d2": "42 s (the retrain's own time)"}
    assert [r["cost"] for r in model_rows(registry, costs)] == [costs["d2"], costs["d1.2"], costs["d1"]]


def test_a_local_move_cut_short_after_the_root_files_is_restored_to_the_pointers_version(sqlite_url, tmp_path):
    import shutil

    synthetic.write_parquet(tmp_path / "base.parquet", synthetic.generate(60, seed=1))
    cfg = str(config(tmp_path, sqlite_url, min_f1=0, jobs=EASY_GATE))
    first = round_(tmp_path, cfg, sqlite_url, 40, seed=2)["dataset_version"]
    second = round_(tmp_path, cfg, sqlite_url, 300, seed=3)["dataset_version"]
    store = tmp_path / "models/department"
    crashed = run_cli({"LOCK_LEASE": "1", "ORCHESTRATOR_CRASH_AT": "after_promote_intent"}, "rollback", "--config",
                      cfg, "--label", "department", cwd=tmp_path)
    assert crashed.returncode == CRASH_EXIT_CODE
    for name in ("model.skops", "metadata.json"):  # what a local copy cut short leaves: root files, old registry
        shutil.copyfile(store / "versions" / first / name, store / name)
    settled = run_cli({"LOCK_WAIT": "10"}, "models", "--config", cfg, "--label", "department", cwd=tmp_path)
    assert settled.returncode == 0 and "restored" in settled.stderr, settled.stderr
    assert json.loads((store / "models.json").read_text())["deployed"] == second
    assert (store / "model.skops").read_bytes() == (store / "versions" / second / "model.skops").read_bytes()


def test_on_the_hub_a_model_awaiting_approval_changes_nothing_deployed_until_promote(tmp_path, stub):
    """The store is a Hub model repo on the stand-in: the kept version is committed and tagged, the root and the
    pointer stay, and `orchestrator promote` deploys it in one commit."""
    from orchestrator.config.settings import HubConfig
    from orchestrator.jobs.model import train
    from orchestrator.jobs.retrain import Outcome
    from orchestrator.jobs.versions import keep
    from orchestrator.remote.hub import Hub
    from orchestrator.remote.stores import HubStore

    rows = synthetic.generate(200, seed=1)
    texts, labels = [g.text for g in rows], [g.department for g in rows]
    store = HubStore(Hub(HubConfig(endpoint=stub.url, token=TOKEN)), "owner/department_model", repo_type="model")

    def kept(version: str, n: int, approval: str):
        outcome = Outcome("department", version, True, "accepted: test", {"pooled": 0.5 + n / 1000}, None, None,
                          f"2026-12-07T0{n}:00:00+00:00")
        return keep(store, outcome, train(texts[:n], labels[:n]), approval=approval, seconds=1.0, lineage={},
                    scratch=tmp_path / version)

    assert kept("v1", 60, "auto").verdict == "deployed"
    root = stub.file("owner/department_model", "model.skops", repo_type="model")
    assert kept("v2", 200, "manual").verdict == "awaiting_approval"
    assert stub.file("owner/department_model", "model.skops", repo_type="model") == root  # nothing deployed
    assert "awaiting-v2" in stub.tags("owner/department_model", repo_type="model")
    result = json.loads(stub.file("owner/department_model", "retrain_result.json", repo_type="model"))
    assert (result["decision"], result["model_version"]) == ("awaiting_approval", "v2")

    cfg = tmp_path / "hub.toml"
    cfg.write_text(f'[orchestrator]\ndatabase_url = "sqlite:///{tmp_path / "app.db"}"\n[prepare]\ntarget = "owner/prepare"\n'
                   f'[labels.department]\nthreshold = 5\nmetadata = {{ repo = "owner/dept_dataset" }}\nretrain = "owner/retrain_dept"\n'
                   '[jobs.labels.department]\nmodel = "hub:owner/department_model"\n')
    hub_env = {"HF_ENDPOINT": stub.url, "HF_TOKEN": TOKEN}
    listed = json.loads(run_cli(hub_env, "models", "--config", str(cfg), "--label", "department", "--json").stdout)
    assert [(r["version"], r["status"]) for r in listed] == [("v2", "awaiting_approval"), ("v1", "deployed")]
    commits = stub.commits("owner/department_model", repo_type="model")
    promoted = run_cli(hub_env, "promote", "--config", str(cfg), "--label", "department", "--version", "v2")
    assert promoted.returncode == 0, promoted.stderr
    assert stub.commits("owner/department_model", repo_type="model") == commits + 1
    deployed = stub.file("owner/department_model", "model.skops", repo_type="model")
    assert deployed == stub.file("owner/department_model", "versions/v2/model.skops", repo_type="model") != root
    again = run_cli(hub_env, "promote", "--config", str(cfg), "--label", "department", "--version", "v2")
    assert again.returncode == 0 and stub.commits("owner/department_model", repo_type="model") == commits + 1
