"""Experiment tracking (``[jobs.tracking]``, orchestrator/jobs/tracking.py): prepare and retrain as real subprocesses
in local mode, logged to an MLflow store in a folder and to W&B in offline mode, read back as their users would;
and a tracking failure, which is one warning line and changes nothing else."""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from pathlib import Path

import pytest
from conftest import CHECKOUT, run_cli
from test_jobs_local import add_stream

from orchestrator.jobs import synthetic, tracking
from orchestrator.jobs.settings import load_job_settings

LABELS = """
[labels.department]
threshold = 10
dataset = "hub/department"
retrain = {{ command = ["true"] }}
[jobs.labels.department]
model = "{model}"
base_dataset = "base.parquet"
"""


def config(tmp: Path, url: str, tracking: str = "", *, name: str = "orchestrator.toml", model: str = "models/department",
           urgency: bool = False) -> Path:
    path = tmp / name
    more = '[labels.urgency]\nthreshold = 10\ndataset = "hub/urgency"\nretrain = { command = ["true"] }\n' if urgency else ""
    path.write_text(
        f'[orchestrator]\ndatabase_url = "{url}"\n[prepare]\ntarget = {{ command = ["true"] }}\n'
        f"{LABELS.format(model=model)}{more}[jobs]\nmin_f1 = 0.2\n[jobs.tracking]\n{tracking}\n"
    )
    return path


def data(tmp: Path, url: str) -> None:
    synthetic.write_parquet(tmp / "base.parquet", synthetic.generate(400, seed=1))
    add_stream(url, synthetic.generate(150, seed=5, start_id=100_000))


def cli(tmp: Path, *args: str, env: dict[str, str] | None = None):
    done = run_cli(env or {}, *args, cwd=tmp, timeout=240)
    assert done.returncode == 0, done.stderr
    return done


def warnings_in(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "warning" in line.lower()]


# ------------------------------------------------------------------------------------------------------ MLflow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # MLflow's own use of SQLAlchemy, in this test's client
def test_prepare_and_retrain_are_read_back_from_an_mlflow_store(sqlite_url, tmp_path):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    data(tmp_path, sqlite_url)
    cfg = str(config(tmp_path, sqlite_url, 'backend = "mlflow"'))  # default: the folder mlruns next to the file
    prepared = cli(tmp_path, "prepare", "--config", cfg)
    trained = cli(tmp_path, "retrain", "--config", cfg, "--label", "department", "--json")
    decision = json.loads(trained.stdout)
    assert warnings_in(prepared.stderr + trained.stderr) == []
    assert "Traceback" not in trained.stderr and "tracked in MLflow: run" in trained.stderr

    store = tmp_path / "mlruns"
    client = MlflowClient(tracking_uri=f"sqlite:///{store / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("orchestrator-department")
    assert experiment is not None and experiment.artifact_location == (store / "artifacts").resolve().as_uri()
    runs = {run.data.tags["job"]: run for run in client.search_runs([experiment.experiment_id])}
    assert set(runs) == {"prepare", "retrain"}
    assert all(run.info.status == "FINISHED" for run in runs.values())

    dataset = json.loads((tmp_path / "hub/department/dataset_metadata.json").read_text())
    prepare = runs["prepare"].data
    assert prepare.params["dataset_version"] == dataset["version_tag"] and prepare.params["recipe"] == "traffic"
    assert prepare.metrics["dataset/rows"] == dataset["num_samples"]
    assert {k: prepare.metrics[f"dataset/split/{k}"] for k in dataset["splits"]} == dataset["splits"]
    assert {k: prepare.metrics[f"dataset/source/{k}"] for k in dataset["sources"]} == dataset["sources"]
    assert prepare.metrics["population/unflagged"] == dataset["population"]["unflagged"]

    run = runs["retrain"]
    params, metrics, tags = run.data.params, run.data.metrics, run.data.tags
    assert params["dataset_version"] == decision["dataset_version"] == dataset["version_tag"]
    assert params["recipe"] == decision["recipe"] and params["approval"] == "auto" and params["seed"] == "0"
    assert params["gate.min_delta"] == "0.002" and params["gate.min_f1"] == "0.2" and params["sampled_weights"] == "0, 0.3, 1"
    assert float(params["sampled_row_weight"]) >= 1
    for source, score in decision["challenger"].items():
        if score is not None:
            assert metrics[f"challenger/{source}"] == pytest.approx(score)
    assert not any(key.startswith("champion/") for key in metrics)  # the first model: no champion
    assert {k: metrics[f"dataset/source/{k}"] for k in dataset["sources"]} == dataset["sources"]
    assert metrics["evaluation/held_out_rows"] == decision["evidence"]["held_out_rows"]
    registry = json.loads((tmp_path / "models/department/models.json").read_text())
    version = registry["deployed"]
    assert tags["decision"] == "deployed" and tags["accepted"] == "true" and tags["reason"] == decision["reason"]
    assert tags["model_version"] == version and run.info.run_name == f"retrain department {version}"

    assert [a.path for a in client.list_artifacts(run.info.run_id, "model")] == ["model/model.skops"]
    downloaded = Path(client.download_artifacts(run.info.run_id, "model/model.skops", str(tmp_path / "back")))
    assert downloaded.read_bytes() == (tmp_path / f"models/department/versions/{version}/model.skops").read_bytes()
    record = json.loads(Path(client.download_artifacts(run.info.run_id, "decision.json", str(tmp_path / "back"))).read_text())
    assert record["model_version"] == version and record["reason"] == decision["reason"]


def test_a_tracking_failure_is_one_warning_and_changes_no_decision(sqlite_url, tmp_path):
    pytest.importorskip("mlflow")
    data(tmp_path, sqlite_url)
    (tmp_path / "a-file").write_text("not a folder")
    broken = config(tmp_path, sqlite_url, 'backend = "mlflow"\nuri = "a-file/mlruns"', name="broken.toml", model="models/a")
    plain = config(tmp_path, sqlite_url, name="plain.toml", model="models/b")  # the same dataset, no tracking
    cli(tmp_path, "prepare", "--config", str(plain))

    failed = run_cli({}, "retrain", "--config", str(broken), "--label", "department", "--json", cwd=tmp_path, timeout=240)
    assert failed.returncode == 0, failed.stderr
    (warning,) = warnings_in(failed.stderr)
    assert warning.startswith("warning: [department] experiment tracking failed, the retrain goes on (MLflow:")
    assert "a-file" in warning and "Traceback" not in failed.stderr
    assert "DEPLOYED" in failed.stderr
    untracked = cli(tmp_path, "retrain", "--config", str(plain), "--label", "department", "--json")
    with_failure, without = json.loads(failed.stdout), json.loads(untracked.stdout)
    assert with_failure.pop("decided_at") and without.pop("decided_at")
    assert with_failure == without  # the same decision, the same numbers
    assert (tmp_path / "models/a/model.skops").is_file()


@pytest.mark.parametrize("backend", ["mlflow", "wandb"])
def test_a_backend_that_is_not_installed_is_one_warning_naming_its_extra(sqlite_url, tmp_path, backend):
    shadow = tmp_path / "shadow" / backend
    shadow.mkdir(parents=True)  # an import of the library fails as if it were not installed
    (shadow / "__init__.py").write_text(f"raise ModuleNotFoundError(\"No module named '{backend}'\", name={backend!r})\n")
    data(tmp_path, sqlite_url)
    cfg = str(config(tmp_path, sqlite_url, f'backend = "{backend}"', urgency=True))
    env = {"PYTHONPATH": f"{tmp_path / 'shadow'}:{CHECKOUT['PYTHONPATH']}", "WANDB_MODE": "offline",
           "WANDB_DIR": str(tmp_path)}
    done = cli(tmp_path, "prepare", "--config", cfg, env=env)
    (warning,) = warnings_in(done.stderr)  # once, for both labels
    assert f"pip install 'continuous-learning-orchestrator[{backend}]'" in warning
    assert "experiment tracking is off" in warning and "Traceback" not in done.stderr
    for label in ("department", "urgency"):
        assert (tmp_path / f"hub/{label}/dataset_metadata.json").is_file()


# ------------------------------------------------------------------------------------------------------- W&B
def wandb_records(run_dir: Path) -> list:
    """The records of an offline W&B run, from its transaction log (``run-<id>.wandb``: W&B's header, then LevelDB's
    log format of 32 KiB blocks). W&B 0.31 writes the config and the summary only there, not as files, offline."""
    from wandb.proto import wandb_internal_pb2

    (log,) = run_dir.glob("run-*.wandb")
    raw = log.read_bytes()
    assert raw[:4] == b":W&B"
    block, position, pending, chunks = 32768, 7, b"", []
    while position + 7 <= len(raw):
        left = block - position % block
        if left < 7:  # the rest of a block too small for a header is padding
            position += left
            continue
        _, length, kind = struct.unpack("<IHB", raw[position : position + 7])
        if length == 0 and kind == 0:
            position += left
            continue
        chunk, position = raw[position + 7 : position + 7 + length], position + 7 + length
        pending = chunk if kind in (1, 2) else pending + chunk  # full, first / middle, last
        if kind in (1, 4):
            chunks.append(pending)
    records = []
    for chunk in chunks:
        record = wandb_internal_pb2.Record()
        record.ParseFromString(chunk)
        records.append(record)
    return records


def wandb_run(run_dir: Path) -> dict:
    """An offline run as a user sees it: its name, config, summary, tags and artifacts."""
    run: dict = {"config": {}, "summary": {}, "artifacts": []}
    for record in wandb_records(run_dir):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run.update(name=record.run.display_name, project=record.run.project, tags=list(record.run.tags),
                       job_type=record.run.job_type, group=record.run.run_group)
            run["config"].update({item.key: json.loads(item.value_json) for item in record.run.config.update})
        elif kind == "summary":
            for item in record.summary.update:
                key = item.key or "/".join(item.nested_key)
                run["summary"][key] = json.loads(item.value_json)
        elif kind == "artifact":
            files = {entry.path: entry.digest for entry in record.artifact.manifest.contents}
            run["artifacts"].append({"type": record.artifact.type, "name": record.artifact.name,
                                     "aliases": list(record.artifact.aliases), "files": files})
    return run


def test_prepare_and_retrain_are_logged_to_wandb_offline(sqlite_url, tmp_path):
    pytest.importorskip("wandb")
    data(tmp_path, sqlite_url)
    cfg = str(config(tmp_path, sqlite_url, 'backend = "wandb"\nproject = "sambodhan-{label}"'))
    home = tmp_path / "wandb-home"
    env = {"WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path / "tracking"), "WANDB_CACHE_DIR": str(home / "cache"),
           "WANDB_DATA_DIR": str(home / "data"), "WANDB_CONFIG_DIR": str(home / "config"),
           "WANDB_ARTIFACT_DIR": str(home / "artifacts")}
    prepared = cli(tmp_path, "prepare", "--config", cfg, env=env)
    trained = cli(tmp_path, "retrain", "--config", cfg, "--label", "department", "--json", env=env)
    decision = json.loads(trained.stdout)
    assert warnings_in(prepared.stderr + trained.stderr) == []
    assert "tracked in W&B: run" in trained.stderr and "offline" in trained.stderr

    folders = sorted((tmp_path / "tracking/wandb").glob("offline-run-*"))
    runs = {run["job_type"]: run for run in map(wandb_run, folders)}
    assert set(runs) == {"prepare", "retrain"} and len(folders) == 2
    dataset = json.loads((tmp_path / "hub/department/dataset_metadata.json").read_text())
    prepare = runs["prepare"]
    assert prepare["project"] == "sambodhan-department" and prepare["config"]["dataset_version"] == dataset["version_tag"]
    assert prepare["summary"]["dataset/rows"] == dataset["num_samples"]
    assert {k: prepare["summary"][f"dataset/source/{k}"] for k in dataset["sources"]} == dataset["sources"]

    run = runs["retrain"]
    version = json.loads((tmp_path / "models/department/models.json").read_text())["deployed"]
    assert run["name"] == f"retrain department {version}" and run["group"] == "department"
    assert set(run["tags"]) == {"department", "retrain", "deployed"}
    config_ = run["config"]
    assert config_["gate.min_delta"] == 0.002 and config_["approval"] == "auto" and config_["sampled_weights"] == [0.0, 0.3, 1.0]
    assert config_["recipe"] == decision["recipe"] and config_["dataset_version"] == decision["dataset_version"]
    summary = run["summary"]
    for source, score in decision["challenger"].items():
        if score is not None:
            assert summary[f"challenger/{source}"] == pytest.approx(score)
    assert summary["decision"] == "deployed" and summary["reason"] == decision["reason"]
    assert summary["model_version"] == version
    (model,) = [a for a in run["artifacts"] if a["type"] == "model"]
    assert model["name"] == "department-model" and "deployed" in model["aliases"]
    deployed = (tmp_path / f"models/department/versions/{version}/model.skops").read_bytes()
    assert model["files"] == {"model.skops": base64.b64encode(hashlib.md5(deployed).digest()).decode()}


# -------------------------------------------------------------------------------------------- settings and guard
def settings_of(tmp_path: Path, tracking: str, environ: dict[str, str] | None = None):
    return load_job_settings(environ or {}, config_file=config(tmp_path, "sqlite://", tracking), env_file=None)


def test_tracking_is_off_by_default_and_its_keys_belong_to_their_backend(tmp_path):
    assert settings_of(tmp_path, "").jobs.tracking.backend is None
    with pytest.raises(Exception, match='jobs.tracking: project is a setting of backend = "wandb", and backend is "mlflow"'):
        settings_of(tmp_path, 'backend = "mlflow"\nproject = "x"')
    with pytest.raises(Exception, match="jobs.tracking.backend: Input should be 'mlflow' or 'wandb'"):
        settings_of(tmp_path, 'backend = "neptune"')
    with pytest.raises(Exception, match="jobs.tracking.mode"):
        settings_of(tmp_path, 'backend = "wandb"\nmode = "sometimes"')


def test_the_mlflow_uri_a_folder_next_to_the_file_or_as_written(tmp_path):
    assert tracking.mlflow_uri(settings_of(tmp_path, 'backend = "mlflow"')) == str((tmp_path / "mlruns").resolve())
    assert tracking.mlflow_uri(settings_of(tmp_path, 'backend = "mlflow"\nuri = "runs/here"')) == str(tmp_path / "runs/here")
    for uri in ("http://127.0.0.1:5000", "sqlite:////srv/mlflow.db", "databricks", "file:///srv/mlruns"):
        assert tracking.mlflow_uri(settings_of(tmp_path, f'backend = "mlflow"\nuri = "{uri}"')) == uri
    from_env = settings_of(tmp_path, 'backend = "mlflow"', {"MLFLOW_TRACKING_URI": "https://mlflow.example"})
    assert tracking.mlflow_uri(from_env) == "https://mlflow.example"


def test_any_failure_of_a_backend_is_one_line_without_its_secret(tmp_path, monkeypatch):
    class Failing:
        def log(self, record):
            raise RuntimeError("cannot reach https://user:s3cretpass@mlflow.example\n  second line")

    monkeypatch.setattr(tracking, "_load", lambda settings, config: Failing())
    settings = settings_of(tmp_path, 'backend = "mlflow"')
    lines: list[str] = []
    metadata = type("Metadata", (), {"model_dump": lambda self: {"splits": {"train": 8}}, "version_tag": "v1", "num_samples": 8})()
    tracking.Tracker(settings, log=lines.append).log_prepare(settings.label("department"), metadata)
    (line,) = lines
    assert line.startswith("warning: [department] experiment tracking failed, the prepare goes on (MLflow: RuntimeError:")
    assert "s3cretpass" not in line and "second line" in line and "\n" not in line
