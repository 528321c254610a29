"""The reference jobs against the Hub stand-in: ``prepare``, ``retrain`` and ``predict`` as real subprocesses
(the real ``huggingface_hub`` client over real HTTP), a SQLite app database and a base dataset.

One scenario runs once per module (every step is a subprocess, so it is shared) and records what each step
printed and what the stand-in held right after it; the tests below each check one part of it:

1. ``prepare`` publishes version 1 (the base set has no "Education, Health & Social Welfare" rows and no
   correction names that class yet);
2. ``retrain`` trains the first model, deploys it and restarts the inference Space;
3. more corrections arrive, among them the first ones for the welfare class, and ``prepare`` publishes
   version 2: its class list keeps version 1's order and appends the new class (sorting would put it first);
4. ``retrain --dataset-version <version 1>`` trains on version 1, downloaded at its tag;
5. ``predict`` uses the deployed model.

All subprocesses run behind an HTTP(S) proxy that answers nothing and records everything: the stand-in on
127.0.0.1 is reached directly (NO_PROXY), so anything the proxy sees went to some other host. The only
thing it sees is huggingface_hub's own unauthenticated lookup of its agent registry on huggingface.co.
"""

from __future__ import annotations

import http.server
import io
import json
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import OWNER, TOKEN, run_cli
from sqlalchemy import insert
from support.hubstub import HubStub, Recorded

from orchestrator.contracts.metadata import parse_metadata
from orchestrator.jobs import schema as sambodhan
from orchestrator.jobs import synthetic
from orchestrator.jobs.dataset import split_path
from orchestrator.remote.database import make_engine

DATA = "owner/dept_data"
MODEL = "owner/dept_model"
INFERENCE = "owner/inference"
WELFARE = synthetic.WELFARE
WITHOUT_WELFARE = tuple(d for d in sambodhan.DEPARTMENTS if d != WELFARE)
DATASET_FILES = {  # what a retrain downloads; a prepare also publishes feedback_ids.json, the version's lineage
    "dataset_metadata.json",
    "README.md",
    split_path("train"),
    split_path("eval"),
    split_path("test"),
}
WRONG_TOKEN = "hf_wrong-token-CCCCCCCCCCCC"  # known to no one


# ---------------------------------------------------------------------------------------------- helpers
class _Trap(http.server.BaseHTTPRequestHandler):
    """A proxy that forwards nothing: it records every request (CONNECT included) and answers 403."""

    def _refuse(self) -> None:
        self.server.seen.append(f"{self.command} {self.path}")  # type: ignore[attr-defined]
        self.send_response(403)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_CONNECT = do_OPTIONS = _refuse

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Trap:
    seen: list[str]
    env: dict[str, str]  # proxy variables that send everything but 127.0.0.1 to the trap

    def foreign(self, since: int = 0) -> list[str]:
        """What reached the trap since ``since``."""
        return self.seen[since:]


@pytest.fixture(scope="module")
def trap() -> Iterator[Trap]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Trap)
    server.seen = []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    proxy = f"http://127.0.0.1:{server.server_address[1]}"
    names = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
    env = {**{name: proxy for name in names}, "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
    try:
        yield Trap(server.seen, env)  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


def write_base(path: Path) -> int:
    """The base set: ``synthetic.generate(600, seed=1)`` without its welfare rows. Returns its row count."""
    rows = [g for g in synthetic.generate(600, seed=1) if g.department != WELFARE]
    table = pa.table(
        {
            "id": [str(g.id) for g in rows],
            "text": [g.text for g in rows],
            "department": [g.department for g in rows],
            "urgency": [g.urgency for g in rows],
        }
    )
    pq.write_table(table, path)
    return len(rows)


def add_complaints(url: str, rows: list[synthetic.Grievance], *, correct_every: int) -> tuple[int, int]:
    """Each complaint carries a wrong model label (never the welfare class); every ``correct_every``-th one
    gets a reviewed correction to its gold label, the rest stay unflagged. Returns (corrections, unflagged)."""
    engine = make_engine(url)
    sambodhan.create_schema(engine)
    corrections = unflagged = 0
    with engine.begin() as conn:
        for index, g in enumerate(rows):
            wrong = [d for d in WITHOUT_WELFARE if d != g.department][index % 2]
            cid = conn.execute(
                insert(sambodhan.complaints)
                .values(message=g.text, department=wrong, urgency=g.urgency)
                .returning(sambodhan.complaints.c.id)
            ).scalar_one()
            if index % correct_every == 0:
                conn.execute(
                    insert(sambodhan.misclassified_complaints).values(
                        complaint_id=cid,
                        reviewed=True,
                        model_predicted_department=wrong,
                        correct_department=g.department,
                        model_predicted_urgency=g.urgency,
                        correct_urgency=g.urgency,
                    )
                )
                corrections += 1
            else:
                unflagged += 1
    engine.dispose()
    return corrections, unflagged


def write_config(folder: Path, endpoint: str, base: Path) -> Path:
    path = folder / "orchestrator.toml"
    path.write_text(
        f"""
[orchestrator]
database_url = "sqlite:///app.db"

[hub]
endpoint = "{endpoint}"
backoff = 0.05

[prepare]
target = "owner/prepare"

[labels.department]
threshold = 10
dataset = "hub:{DATA}"
model = "hub:{MODEL}"
base_dataset = "{base}"
inference_space = "{INFERENCE}"
retrain = "owner/retrain_dept"
""",
        encoding="utf-8",
    )
    return path


def parquet_labels(content: bytes) -> set[str]:
    return set(pq.read_table(io.BytesIO(content), columns=["label_name"]).column("label_name").to_pylist())


# ---------------------------------------------------------------------------------------------- the scenario
@dataclass
class Scenario:
    stub: HubStub
    base_rows: int
    first_corrections: int
    first_unflagged: int
    second_corrections: int
    runs: dict[str, subprocess.CompletedProcess] = field(default_factory=dict)
    snapshots: dict[str, Any] = field(default_factory=dict)  # what the stand-in held after each step
    requests: dict[str, list[Recorded]] = field(default_factory=dict)  # the requests each step made
    proxied: dict[str, list[str]] = field(default_factory=dict)  # what reached the trap proxy, per step
    texts: list[str] = field(default_factory=list)  # predict's input

    def meta(self, step: str) -> dict[str, Any]:
        return json.loads(self.snapshots[step]["metadata"])


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory, trap: Trap) -> Iterator[Scenario]:
    folder = tmp_path_factory.mktemp("jobs_hub")
    stub = HubStub(tokens={TOKEN: OWNER}).start()
    for space in ("owner/prepare", "owner/retrain_dept", INFERENCE):
        stub.add_space(space)
    # HF_HOME: no cached token or files from the user's home
    env = {"HF_TOKEN": TOKEN, "HF_HOME": str(folder / "hf_home"), **trap.env}
    base = folder / "base.parquet"
    url = f"sqlite:///{folder / 'app.db'}"
    first = [g for g in synthetic.generate(80, seed=3, start_id=10_000) if g.department != WELFARE]
    first_corrections, first_unflagged = add_complaints(url, first, correct_every=2)
    world = Scenario(stub, write_base(base), first_corrections, first_unflagged, 0)
    config = str(write_config(folder, stub.url, base))

    def step(name: str, *args: str, input: str | None = None) -> None:
        start, proxied = len(stub.requests), len(trap.seen)
        if input is None:
            world.runs[name] = run_cli(env, *args, cwd=folder, timeout=120)
        else:
            world.runs[name] = run_cli(env, *args, input=input, cwd=folder)
        world.requests[name] = list(stub.requests[start:])
        world.proxied[name] = list(trap.seen[proxied:])
        world.snapshots[name] = {
            "metadata": stub.file(DATA, "dataset_metadata.json"),
            "data_files": stub.files(DATA),
            "data_tags": stub.tags(DATA),
            "data_head": stub.head(DATA),
            "data_commits": stub.commits(DATA),
            "model_files": stub.files(MODEL, repo_type="model"),
            "model_tags": stub.tags(MODEL, repo_type="model"),
            "model_head": stub.head(MODEL, repo_type="model"),
            "model_commits": stub.commits(MODEL, repo_type="model"),
            "restarts": {space: stub.restarts(space) for space in ("owner/prepare", "owner/retrain_dept", INFERENCE)},
        }

    try:
        step("prepare1", "prepare", "--config", config, "--label", "department")
        step("retrain1", "retrain", "--config", config, "--label", "department", "--json")
        # The second round: every row is a reviewed correction, and all of them are of the welfare class.
        second = [g for g in synthetic.generate(120, seed=4, start_id=20_000) if g.department == WELFARE]
        world.second_corrections, _ = add_complaints(url, second, correct_every=1)
        step("prepare2", "prepare", "--config", config, "--label", "department")
        first_version = json.loads(world.snapshots["prepare1"]["metadata"] or b"{}").get("version_tag", "missing")
        step("retrain_v1", "retrain", "--config", config, "--label", "department", "--dataset-version", first_version, "--json")
        world.texts = [g.text for g in synthetic.generate(3, seed=9, start_id=900_000)]
        lines = "\n".join(world.texts) + "\n"
        step("predict", "predict", "--config", config, "--label", "department", input=lines)
        step("predict_json", "predict", "--config", config, "--label", "department", "--json", input=lines)
        # a person deploys the rejected (identical) model, then rolls back, twice
        step("promote", "promote", "--config", config, "--label", "department", "--version", f"{first_version}.2",
             "--reason", "audit")
        step("rollback", "rollback", "--config", config, "--label", "department")
        step("rollback_again", "rollback", "--config", config, "--label", "department")
        # a second model (it knows the welfare class), deployed (by its gate or by hand); rolled back; promoted again
        second_version = json.loads(world.snapshots["prepare2"]["metadata"] or b"{}").get("version_tag", "missing")
        probes = "\n".join(g.text for g in synthetic.generate(60, seed=11, start_id=950_000)) + "\n"
        step("predict1", "predict", "--config", config, "--label", "department", input=probes)
        step("retrain2", "retrain", "--config", config, "--label", "department", "--json")
        step("promote2", "promote", "--config", config, "--label", "department", "--version", second_version)
        step("predict2", "predict", "--config", config, "--label", "department", input=probes)
        step("models2", "models", "--config", config, "--label", "department", "--json")
        step("rollback2", "rollback", "--config", config, "--label", "department", "--reason", "regression")
        step("predict_back", "predict", "--config", config, "--label", "department", input=probes)
        step("promote2_again", "promote", "--config", config, "--label", "department", "--version", second_version)
        step("predict_again", "predict", "--config", config, "--label", "department", input=probes)
        step("promote2_once_more", "promote", "--config", config, "--label", "department", "--version", second_version)
        yield world
    finally:
        stub.stop()


def ok(world: Scenario, step: str) -> subprocess.CompletedProcess:
    done = world.runs[step]
    assert done.returncode == 0, f"{step} exited {done.returncode}:\n{done.stderr}"
    return done


# ---------------------------------------------------------------------------------------------- prepare
def test_prepare_publishes_one_commit_and_a_tag_named_after_the_version(scenario: Scenario) -> None:
    ok(scenario, "prepare1")
    snap = scenario.snapshots["prepare1"]
    assert set(snap["data_files"]) == DATASET_FILES | {"feedback_ids.json"}
    metadata = parse_metadata(snap["metadata"], source="dept_data")
    assert snap["data_tags"] == {metadata.version_tag: snap["data_head"]}
    assert snap["data_commits"] == 2  # created by the job (its initial commit), then one commit for the version
    assert metadata.version_tag.startswith("v")
    extra = metadata.model_extra or {}
    sampled = scenario.first_unflagged  # the traffic recipe: every unflagged complaint
    assert extra["label_map"] == sorted(WITHOUT_WELFARE)
    assert extra["sources"] == {"base": scenario.base_rows, "feedback": scenario.first_corrections, "sampled": sampled}
    assert extra["feedback_high_water"] == {"corrections": scenario.first_corrections}
    assert metadata.num_samples == scenario.base_rows + scenario.first_corrections + sampled
    assert sum(metadata.splits.values()) == metadata.num_samples
    assert set(metadata.splits) == {"train", "eval", "test"}
    assert parquet_labels(snap["data_files"][split_path("train")]) == set(WITHOUT_WELFARE)
    assert f"published dataset {metadata.version_tag} to dataset repo {DATA}" in scenario.runs["prepare1"].stderr


def test_prepare_restarts_no_space(scenario: Scenario) -> None:
    ok(scenario, "prepare1")
    assert scenario.snapshots["prepare1"]["restarts"] == {"owner/prepare": 0, "owner/retrain_dept": 0, INFERENCE: 0}


def test_second_prepare_keeps_the_class_order_and_appends_the_new_class(scenario: Scenario) -> None:
    ok(scenario, "prepare1")
    ok(scenario, "prepare2")
    first, second = scenario.meta("prepare1"), scenario.meta("prepare2")
    assert scenario.second_corrections > 0
    assert second["version_tag"] != first["version_tag"]
    assert second["label_map"] == [*first["label_map"], WELFARE]
    assert second["label_map"] != sorted(second["label_map"])  # a re-sorted class list would differ
    assert second["feedback_high_water"] == {"corrections": scenario.first_corrections + scenario.second_corrections}
    assert second["sources"]["feedback"] == scenario.first_corrections + scenario.second_corrections
    snap = scenario.snapshots["prepare2"]
    assert set(snap["data_files"]) == DATASET_FILES | {"feedback_ids.json"}
    assert snap["data_commits"] == 3
    assert snap["data_tags"] == {
        first["version_tag"]: scenario.snapshots["prepare1"]["data_head"],
        second["version_tag"]: snap["data_head"],
    }
    # the first version is still readable, unchanged, at its tag
    at_first_tag = scenario.stub.files(DATA, revision=first["version_tag"])
    assert at_first_tag == scenario.snapshots["prepare1"]["data_files"]
    assert WELFARE in parquet_labels(snap["data_files"][split_path("train")]) | parquet_labels(
        snap["data_files"][split_path("test")]
    ) | parquet_labels(snap["data_files"][split_path("eval")])


# ---------------------------------------------------------------------------------------------- retrain
def test_first_retrain_deploys_the_model_and_restarts_the_inference_space(scenario: Scenario) -> None:
    ok(scenario, "prepare1")
    done = ok(scenario, "retrain1")
    version = scenario.meta("prepare1")["version_tag"]
    decision = json.loads(done.stdout)
    assert decision["label"] == "department"
    assert decision["dataset_version"] == version
    assert decision["accepted"] is True
    assert decision["reason"].startswith("accepted: no champion, golden ")
    assert decision["champion"] is None and decision["win_rate"] is None
    assert set(decision["challenger"]) == {"pooled", "golden", "feedback"}  # scores per source
    assert 0.5 <= decision["challenger"]["golden"] <= 1.0

    snap = scenario.snapshots["retrain1"]
    files = snap["model_files"]
    stamp = decision["decided_at"].replace(":", "").replace("-", "")
    kept = f"versions/{version}/"  # the model version is named after its dataset version
    assert set(files) == {"model.skops", "metadata.json", "retrain_result.json", f"decisions/{stamp}_{version}.json",
                          "models.json", kept + "model.skops", kept + "metadata.json", kept + "evaluation.parquet"}
    assert files["model.skops"][:2] == b"PK"  # skops files are zip archives
    assert files[kept + "model.skops"] == files["model.skops"]  # the root holds the deployed version
    result = json.loads(files["retrain_result.json"])  # the contract the orchestrator follows outcomes by
    assert result == {
        "dataset_version": version,
        "decision": "deployed",
        "reason": decision["reason"],
        "metrics": {f"macro_f1_{k}" if k != "pooled" else "macro_f1": v for k, v in decision["challenger"].items()},
        "metric": "macro_f1",
        "decided_at": decision["decided_at"],
        "model_version": version,
    }
    deployed = json.loads(files["metadata.json"])
    assert deployed == json.loads(files[kept + "metadata.json"])
    assert {k: deployed[k] for k in decision} == decision and deployed["decision"] == "deployed"
    assert (deployed["version"], deployed["parent"], deployed["metric"]) == (version, None, "macro_f1")
    assert deployed["details"]["lineage"]["dataset_version"] == version
    assert json.loads(files[f"decisions/{stamp}_{version}.json"]) == {**decision, "model_version": version}
    registry = json.loads(files["models.json"])
    assert registry["deployed"] == version and [v["version"] for v in registry["versions"]] == [version]
    assert snap["model_tags"] == {f"model-{version}": snap["model_head"]}
    assert snap["model_commits"] == 2
    assert snap["restarts"] == {"owner/prepare": 0, "owner/retrain_dept": 0, INFERENCE: 1}
    assert f"[department] DEPLOYED as model version {version} ({version}, sampled×" in done.stderr
    assert f"inference Space {INFERENCE} restarted (stage BUILDING)" in done.stderr


def test_retrain_on_an_older_version_downloads_it_at_its_tag(scenario: Scenario) -> None:
    ok(scenario, "prepare2")
    done = ok(scenario, "retrain_v1")
    first, second = scenario.meta("prepare1")["version_tag"], scenario.meta("prepare2")["version_tag"]
    decision = json.loads(done.stdout)
    assert decision["dataset_version"] == first
    # the same data and seed as the champion: an identical challenger, which the gate must reject
    assert decision["accepted"] is False
    assert decision["challenger"] == decision["champion"]
    assert decision["reason"].startswith("rejected: ")
    dataset_paths = {r.path for r in scenario.requests["retrain_v1"] if r.path.startswith(f"/datasets/{DATA}/resolve/")}
    assert dataset_paths == {f"/datasets/{DATA}/resolve/{first}/{name}" for name in DATASET_FILES}
    assert not any(second in r.path for r in scenario.requests["retrain_v1"])

    snap, before = scenario.snapshots["retrain_v1"], scenario.snapshots["retrain1"]
    assert snap["model_files"]["model.skops"] == before["model_files"]["model.skops"]  # the champion stays
    assert snap["model_files"]["metadata.json"] == before["model_files"]["metadata.json"]
    assert snap["model_tags"] == {**before["model_tags"], f"rejected-{first}.2": snap["model_head"]}  # a 2nd model on it
    assert snap["model_commits"] == 3
    decisions = sorted(name for name in snap["model_files"] if name.startswith("decisions/"))
    assert len(decisions) == 2 and decisions[1].endswith(f"_{first}.json")
    assert json.loads(snap["model_files"][decisions[1]]) == {**decision, "model_version": f"{first}.2"}
    assert snap["model_files"][f"versions/{first}.2/model.skops"][:2] == b"PK"  # the rejected model is kept too
    result = json.loads(snap["model_files"]["retrain_result.json"])
    assert (result["dataset_version"], result["decision"]) == (first, "rejected")
    assert result["metrics"]["macro_f1"] == decision["champion"]["pooled"]  # the model still in service
    assert snap["restarts"][INFERENCE] == 1  # not restarted again: nothing was deployed
    assert f"[department] NOT deployed as model version {first}.2 ({first}, sampled×" in done.stderr


# ---------------------------------------------------------------------------------------------- predict
def test_predict_labels_each_line_with_the_deployed_model(scenario: Scenario) -> None:
    done = ok(scenario, "predict")
    labels = done.stdout.splitlines()
    assert len(labels) == 3
    # the deployed model was trained on version 1, which has no welfare rows
    assert all(label in WITHOUT_WELFARE for label in labels), labels
    assert set(labels) <= set(sambodhan.DEPARTMENTS)


def test_predict_json_gives_label_and_scores_summing_to_one(scenario: Scenario) -> None:
    done = ok(scenario, "predict_json")
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(lines) == 3
    plain = scenario.runs["predict"].stdout.splitlines()
    for text, line, label in zip(scenario.texts, lines, plain):
        assert line["text"] == text
        assert set(line["scores"]) == set(WITHOUT_WELFARE)
        assert abs(sum(line["scores"].values()) - 1.0) < 1e-6
        assert line["label"] == max(line["scores"], key=line["scores"].get) == label


# ---------------------------------------------------------------------------------------------- the token
def test_the_token_goes_only_to_the_hub_and_is_never_printed(scenario: Scenario) -> None:
    for step in scenario.runs:
        ok(scenario, step)
    requests = [r for step in scenario.requests.values() for r in step]
    assert len(requests) > 20
    assert {r.headers.get("authorization") for r in requests} == {f"Bearer {TOKEN}"}
    # Nothing went to any other host: not even huggingface_hub's own lookup of its agent registry on
    # huggingface.co, which the orchestrator switches off (see the next test).
    assert scenario.proxied == {step: [] for step in scenario.runs}
    for step, done in scenario.runs.items():
        assert TOKEN not in done.stdout, step
        assert TOKEN not in done.stderr, step


def test_the_clients_own_lookup_off_the_hub_is_switched_off(
    stub: HubStub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """huggingface_hub looks up an "agent harness" registry at its default endpoint, whatever endpoint it
    is given; made observable by pointing that default at a second stand-in, which must see nothing."""
    from huggingface_hub import constants

    _detect_agent = pytest.importorskip("huggingface_hub.utils._detect_agent", reason="no agent registry lookup")

    from orchestrator.config.settings import HubConfig
    from orchestrator.remote.hub import Hub

    elsewhere = HubStub().start()
    try:
        monkeypatch.setattr(constants, "ENDPOINT", elsewhere.url)
        monkeypatch.setattr(constants, "AGENT_HARNESSES_PATH", str(tmp_path / "agent_harnesses.json"))
        monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", False)
        monkeypatch.setattr(_detect_agent, "_registry", None)  # not looked up yet in this process
        hub = Hub(HubConfig(endpoint=stub.url, token=TOKEN, backoff=0.01))
        assert hub.fetch(stub.metadata_url("owner/dept_dataset")).status == "changed"
        seen = [(r.method, r.path, r.headers.get("authorization")) for r in elsewhere.requests]
        assert seen == []
        assert stub.auth_headers_seen() == [f"Bearer {TOKEN}"]
    finally:
        elsewhere.stop()


def test_a_wrong_token_stops_prepare_before_anything_is_committed(stub: HubStub, tmp_path: Path, trap: Trap) -> None:
    base = tmp_path / "base.parquet"
    write_base(base)
    add_complaints(f"sqlite:///{tmp_path / 'app.db'}", synthetic.generate(20, seed=3, start_id=10_000), correct_every=2)
    config = write_config(tmp_path, stub.url, base)
    since = len(trap.seen)
    done = run_cli(
        {"HF_TOKEN": WRONG_TOKEN, "HF_HOME": str(tmp_path / "hf_home"), **trap.env},
        "prepare", "--config", str(config), "--label", "department",
        cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr
    assert "the Hub rejected HF_TOKEN" in done.stderr
    assert WRONG_TOKEN not in done.stdout + done.stderr
    assert stub.commits(DATA) == 0  # the repo was not even created
    assert stub.tags(DATA) == {}
    assert [r.path for r in stub.requests if r.method != "GET"] == []
    assert {r.status for r in stub.requests} == {401}
    assert {r.headers.get("authorization") for r in stub.requests} == {f"Bearer {WRONG_TOKEN}"}
    assert trap.foreign(since) == []


# ---------------------------------------------------------------------------------------------- promote
def test_promote_and_rollback_move_the_hub_repo_in_one_commit_each_and_restart_the_inference_space(scenario: Scenario) -> None:
    first = scenario.meta("prepare1")["version_tag"]
    before = scenario.snapshots["predict_json"]
    promoted, back, again = (scenario.snapshots[s] for s in ("promote", "rollback", "rollback_again"))
    for name in ("promote", "rollback", "rollback_again"):
        assert scenario.runs[name].returncode == 0, scenario.runs[name].stderr
    assert promoted["model_commits"] == before["model_commits"] + 1  # one commit per move
    files = promoted["model_files"]
    assert files["model.skops"] == files[f"versions/{first}.2/model.skops"]  # the root is the promoted version
    registry = json.loads(files["models.json"])
    assert registry["deployed"] == f"{first}.2" and registry["promotions"][-1]["reason"] == "audit"
    assert promoted["restarts"][INFERENCE] == before["restarts"][INFERENCE] + 1
    assert back["model_files"]["model.skops"] == back["model_files"][f"versions/{first}/model.skops"]
    assert json.loads(back["model_files"]["models.json"])["deployed"] == first
    assert (back["model_commits"], back["restarts"][INFERENCE]) == (promoted["model_commits"] + 1,
                                                                     promoted["restarts"][INFERENCE] + 1)
    assert (again["model_commits"], again["restarts"][INFERENCE]) == (back["model_commits"], back["restarts"][INFERENCE])
    assert "nothing changed" in scenario.runs["rollback_again"].stderr
    assert TOKEN not in "".join(scenario.runs[s].stderr for s in ("promote", "rollback", "rollback_again"))


def test_on_the_hub_a_second_deploy_is_listed_rolled_back_and_promoted_back_with_predict_following(scenario: Scenario) -> None:
    first, second = scenario.meta("prepare1")["version_tag"], scenario.meta("prepare2")["version_tag"]
    for name in ("retrain2", "promote2", "models2", "rollback2", "promote2_again", "promote2_once_more"):
        assert scenario.runs[name].returncode == 0, scenario.runs[name].stderr
    listed = [(r["version"], r["status"]) for r in json.loads(scenario.runs["models2"].stdout)]
    assert listed == [(second, "deployed"), (f"{first}.2", "retired"), (first, "retired")]
    first_answers, second_answers = scenario.runs["predict1"].stdout, scenario.runs["predict2"].stdout
    assert first_answers != second_answers  # the second model knows the welfare class
    assert scenario.runs["predict_back"].stdout == first_answers  # rolled back to the first model
    assert scenario.runs["predict_again"].stdout == second_answers  # and forward again
    assert "nothing changed" in scenario.runs["promote2_once_more"].stderr
    promoted, again = scenario.snapshots["promote2_again"], scenario.snapshots["promote2_once_more"]
    assert again["model_commits"] == promoted["model_commits"] and again["restarts"] == promoted["restarts"]
