"""What a newcomer's trial found: each bad input gets its clear message and exit code, never a traceback,
and the dry run says what the real run would meet. Real subprocesses against the Hub stand-in and real
databases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import REPO, TOKEN, run_cli, seed_env, seed_feedback

from orchestrator.jobs import schema as sambodhan
from orchestrator.jobs import synthetic
from orchestrator.remote.database import make_engine


def no_traceback(done: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr, done.stderr


# ---------------------------------------------------------------------------------------------- the dry run
def test_the_dry_run_without_a_token_fails_as_the_real_run_would(stub, sqlite_url):
    seed_feedback(sqlite_url, {"department": 40, "urgency": 40})
    env = seed_env(stub, sqlite_url, HF_TOKEN="")
    dry = run_cli(env, "run", "--dry-run")
    real = run_cli(env, "run")
    for done in (dry, real):
        assert done.returncode == 2, done.stderr
        assert "HF_TOKEN is not set, and restarting a Space or starting an HF Job needs a token" in done.stderr
        no_traceback(done)
    assert stub.restarts("owner/prepare") == 0  # the real run stopped before triggering too


def test_the_dry_run_with_a_read_token_fails_as_the_real_run_would(stub, sqlite_url):
    stub.token_access[TOKEN] = {"role": "read"}
    seed_feedback(sqlite_url, {"department": 40, "urgency": 40})
    dry = run_cli(seed_env(stub, sqlite_url), "run", "--dry-run")
    assert dry.returncode == 1, dry.stderr
    assert "cannot be restarted with this token: HF_TOKEN is a read token of owner" in dry.stderr
    no_traceback(dry)
    assert [r.path for r in stub.requests if r.method == "POST"] == []


def test_the_dry_run_passes_with_a_token_that_may_restart_the_spaces(stub, sqlite_url):
    seed_feedback(sqlite_url, {"department": 40, "urgency": 40})
    dry = run_cli(seed_env(stub, sqlite_url), "run", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would launch prepare: Space owner/prepare" in dry.stderr


def test_a_missing_local_metadata_folder_is_reported_in_the_plan(stub, sqlite_url, tmp_path):
    seed_feedback(sqlite_url, {"department": 40, "urgency": 40})
    folder = tmp_path / "datasets" / "department"
    dry = run_cli(seed_env(stub, sqlite_url, HF_HUB_METADATA_DEPT=str(folder)), "run", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"the metadata folder {folder} does not exist" in dry.stderr


def test_a_metadata_url_without_its_scheme_is_refused_with_the_fix(stub, sqlite_url):
    url = stub.metadata_url("owner/dept_dataset").split("://", 1)[1]
    done = run_cli(seed_env(stub, sqlite_url, HF_HUB_METADATA_DEPT=url), "run", "--dry-run")
    assert done.returncode == 2
    assert "HF_HUB_METADATA_DEPT" in done.stderr and "looks like a URL without its scheme" in done.stderr
    assert f"write it as https://{url}" in done.stderr
    no_traceback(done)


# ---------------------------------------------------------------------------------------------- bad input
def test_an_unresolvable_database_host_is_a_connection_problem_exit_3(stub):
    url = "postgresql+psycopg2://demo_user@db.example.invalid:5432/project_db"
    done = run_cli(seed_env(stub, url), "run")
    assert done.returncode == 3, done.stderr
    assert "cannot connect to the database at postgresql+psycopg://demo_user@db.example.invalid:5432/project_db" in done.stderr
    assert "check the table and column names" not in done.stderr
    no_traceback(done)


def test_a_metadata_value_naming_a_file_that_is_not_a_folder_is_exit_2(stub, sqlite_url):
    done = run_cli(seed_env(stub, sqlite_url, HF_HUB_METADATA_DEPT="file:///etc/passwd"), "run")
    assert done.returncode == 2
    assert "HF_HUB_METADATA_DEPT" in done.stderr and "/etc/passwd is a file, not a folder" in done.stderr
    no_traceback(done)


def test_an_unsupported_database_says_which_ones_are(stub):
    done = run_cli(seed_env(stub, "mysql+pymysql://app@localhost/db"), "run")
    assert done.returncode == 2
    assert "mysql databases are not supported" in done.stderr and "PostgreSQL" in done.stderr and "SQLite" in done.stderr
    no_traceback(done)


def test_settings_across_variables_are_named_as_they_were_set(stub, sqlite_url):
    done = run_cli(seed_env(stub, sqlite_url, POLL_INTERVAL="100", POLL_TIMEOUT="50"), "run")
    assert done.returncode == 2
    assert "POLL_INTERVAL (100s) must not exceed POLL_TIMEOUT (50s)" in done.stderr
    no_traceback(done)


def test_an_env_file_that_was_named_must_exist_and_the_default_may_be_absent(stub, sqlite_url, tmp_path):
    named = run_cli(seed_env(stub, sqlite_url), "run", "--dry-run", "--env-file", str(tmp_path / "prod.env"))
    assert named.returncode == 2
    assert f"the env file {tmp_path / 'prod.env'} does not exist" in named.stderr
    seed_feedback(sqlite_url, {"department": 1, "urgency": 1})
    default = run_cli(seed_env(stub, sqlite_url), "run", "--dry-run", cwd=tmp_path)  # no .env here
    assert default.returncode == 0, default.stderr


def test_oversized_metadata_is_refused_unread(stub, sqlite_url):
    seed_feedback(sqlite_url, {"department": 40, "urgency": 1})
    stub.put_file("owner/dept_dataset", "dataset_metadata.json", json.dumps({"version_tag": "v1", "num_samples": 1,
                                                                           "padding": "x" * (2 * 1024 * 1024)}))
    done = run_cli(seed_env(stub, sqlite_url), "run")
    assert done.returncode == 1
    assert "is larger than 1024 KiB" in done.stderr
    assert stub.restarts("owner/prepare") == 0  # the label failed before anything was triggered
    no_traceback(done)


# ---------------------------------------------------------------------------------------------- predict, demo, schema
@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    from orchestrator.jobs.model import save, train

    rows = synthetic.generate(300, seed=1)
    path = tmp_path_factory.mktemp("model") / "model.skops"
    save(train([g.text for g in rows], [g.department for g in rows]), path)
    return path


def predict(args: list[str], stdin: bytes, cwd: Path) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO), "DATABASE_URL": "sqlite:///x.db", "PREPARE_DATASET_REPO": "o/p",
           "RETRAIN_DEPT_REPO": "o/d", "RETRAIN_URGENCY_REPO": "o/u", "HF_HUB_METADATA_DEPT": "d", "HF_HUB_METADATA_URGENCY": "u",
           "THRESHOLD_DEPARTMENT": "1", "THRESHOLD_URGENCY": "1"}
    done = subprocess.run([sys.executable, "-m", "orchestrator", "predict", "--label", "department", *args],
                          input=stdin, capture_output=True, env=env, cwd=cwd, timeout=120)
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode(), done.stderr.decode())


def test_predict_refuses_a_file_that_is_not_a_model(tmp_path):
    done = predict(["--model", "/etc/passwd"], b"x\n", tmp_path)
    assert done.returncode == 2
    assert "/etc/passwd is not a skops model file" in done.stderr
    no_traceback(done)
    missing = predict(["--model", str(tmp_path / "nope.skops")], b"x\n", tmp_path)
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_predict_names_the_input_encoding_problem_not_the_model(model_file, tmp_path):
    done = predict(["--model", str(model_file)], "सडक\n".encode() + "caf\xe9\n".encode("latin-1"), tmp_path)
    assert done.returncode == 2
    assert "input line 2 is not UTF-8 text" in done.stderr and "the model is not the problem" in done.stderr
    no_traceback(done)


def test_predict_reads_json_lines_so_texts_may_hold_newlines(model_file, tmp_path):
    texts = [g.text for g in synthetic.generate(3, seed=5, start_id=9000)]
    lines = [json.dumps({"id": 7, "text": texts[0] + "\n" + texts[1]}), "", json.dumps({"id": "b", "text": texts[2]})]
    done = predict(["--model", str(model_file), "--input-format", "jsonl", "--json"], ("\n".join(lines) + "\n").encode(), tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    assert out[1] == ""
    first, last = json.loads(out[0]), json.loads(out[2])
    assert first["id"] == 7 and last["id"] == "b"
    assert first["label"] in sambodhan.DEPARTMENTS and abs(sum(first["scores"].values()) - 1) < 1e-6
    bad = predict(["--model", str(model_file), "--input-format", "jsonl"], b'{"id": 1}\n', tmp_path)
    assert bad.returncode == 2 and 'input line 1 has no "text" string' in bad.stderr


def test_the_demo_without_the_ml_extra_says_how_to_install_it_and_writes_nothing(tmp_path):
    blocked = tmp_path / "blocked"
    (blocked / "sklearn").mkdir(parents=True)
    (blocked / "sklearn" / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'sklearn'\", name='sklearn')\n")
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": os.pathsep.join([str(blocked), str(REPO)])}
    done = subprocess.run([sys.executable, "-m", "orchestrator", "demo", "--workdir", str(tmp_path / "demo")],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 2
    assert "needs the ML extra (sklearn not installed)" in done.stderr
    assert "pip install 'continuous-learning-orchestrator[ml]'" in done.stderr
    assert not (tmp_path / "demo").exists()
    no_traceback(done)


def test_schema_prints_and_creates_the_default_app_tables(db_url, tmp_path):
    env = {"DATABASE_URL": db_url}
    printed = run_cli(env, "schema")
    assert printed.returncode == 0, printed.stderr
    assert "CREATE TABLE complaints" in printed.stdout and "CREATE TABLE misclassified_complaints" in printed.stdout
    engine = make_engine(db_url)
    assert sambodhan.existing_tables(engine) == []  # printing creates nothing
    created = run_cli(env, "schema", "--apply")
    assert created.returncode == 0, created.stderr
    assert "created complaints, misclassified_complaints" in created.stderr
    assert sambodhan.existing_tables(engine) == ["complaints", "misclassified_complaints"]
    again = run_cli(env, "schema", "--apply")
    assert "created nothing (the tables exist)" in again.stderr
    # the tables it creates are the ones the orchestrator counts corrections in
    from orchestrator.config.settings import LabelConfig
    from orchestrator.remote.feedback import count_corrections

    sambodhan.add_feedback(engine, {"department": 3})
    label = LabelConfig(name="department", threshold=1, metadata="m.json", retrain="o/r")
    assert count_corrections(engine, [label]) == {"department": 3}
    engine.dispose()


def test_schema_without_a_database_url_says_so(tmp_path):
    done = run_cli({}, "schema", cwd=Path(tempfile.mkdtemp()))
    assert done.returncode == 2 and "DATABASE_URL is required but not set" in done.stderr


# ---------------------------------------------------------------------------------------------- a second trial
def _department_pending_with_a_new_version(stub, sqlite_url) -> None:
    seed_feedback(sqlite_url, {"department": 40, "urgency": 1})
    first = run_cli(seed_env(stub, sqlite_url, ORCHESTRATOR_WAIT="false"), "run")
    assert first.returncode == 0, first.stderr
    stub.put_metadata("owner/dept_dataset", version_tag="v2", num_samples=100)


@pytest.mark.parametrize("token", ["hf_refused-CCCCCCCCCCCC", ""])
def test_the_dry_run_checks_the_token_for_a_pending_label_too(stub, sqlite_url, token):
    _department_pending_with_a_new_version(stub, sqlite_url)
    env = seed_env(stub, sqlite_url, HF_TOKEN=token)
    dry = run_cli(env, "run", "--dry-run")
    assert dry.returncode == 2, dry.stderr
    assert ("the Hub rejected HF_TOKEN" if token else "HF_TOKEN is not set") in dry.stderr
    real = run_cli(env, "run")
    assert real.returncode != 0, real.stderr  # the dry run's red light was right
    assert stub.restarts("owner/retrain_dept") == 0
    for done in (dry, real):
        no_traceback(done)


def test_a_refused_token_stops_the_wait_as_it_stops_everything_else(stub, sqlite_url):
    _department_pending_with_a_new_version(stub, sqlite_url)
    done = run_cli(seed_env(stub, sqlite_url, HF_TOKEN="hf_refused-CCCCCCCCCCCC"), "run")
    assert done.returncode == 2, done.stderr  # as the README's exit codes say for a 401
    assert "fetching the metadata: the Hub rejected HF_TOKEN (401" in done.stderr
    no_traceback(done)


def test_the_dry_run_with_a_read_token_fails_for_a_pending_label_as_the_real_run_would(stub, sqlite_url):
    _department_pending_with_a_new_version(stub, sqlite_url)
    stub.token_access[TOKEN] = {"role": "read"}
    dry = run_cli(seed_env(stub, sqlite_url), "run", "--dry-run")
    assert dry.returncode == 1, dry.stderr
    assert "owner/retrain_dept cannot be restarted with this token" in dry.stderr
    real = run_cli(seed_env(stub, sqlite_url), "run")
    assert real.returncode == 1 and stub.restarts("owner/retrain_dept") == 0
    no_traceback(dry)


@pytest.mark.parametrize("url, words", [
    ("postgresql+psycopg2://app:pw-secret-1@db.example.com:543O/db", "its port is not a number"),
    ("postgresql+psycopg2://app:pw-secret-1@[::1/db", "its port is not a number"),
    ("postgresql+psycopg2:/app:pw-secret-1@host/db", "it cannot be parsed"),
])
def test_a_database_url_that_does_not_parse_is_a_clear_error(stub, url, words):
    for command in (("run", "--dry-run"), ("status",), ("schema",)):
        done = run_cli(seed_env(stub, url), *command)
        assert done.returncode == 2, done.stderr
        assert f"DATABASE_URL is not a valid SQLAlchemy URL ({words})" in done.stderr
        assert "pw-secret-1" not in done.stderr + done.stdout
        no_traceback(done)


def test_an_env_file_that_is_not_utf8_is_a_clear_error(stub, sqlite_url, tmp_path):
    (tmp_path / "windows.env").write_bytes("THRESHOLD_DEPARTMENT=40\n".encode("utf-16"))
    named = run_cli(seed_env(stub, sqlite_url), "run", "--dry-run", "--env-file", str(tmp_path / "windows.env"))
    (tmp_path / ".env").write_bytes((tmp_path / "windows.env").read_bytes())
    default = run_cli(seed_env(stub, sqlite_url), "run", "--dry-run", cwd=tmp_path)
    for done, name in ((named, str(tmp_path / "windows.env")), (default, ".env")):
        assert done.returncode == 2, done.stderr
        assert f"the env file {name} is not UTF-8 text" in done.stderr
        no_traceback(done)


@pytest.mark.parametrize("value, fix", [
    ("hf://datasets/owner/d/dataset_metadata.json", "use https://"), ("s3://bucket/dataset_metadata.json", "use https://"),
    ("ftp://example.com/x.json", "use https://"), ("file:/etc/passwd", "file:///path"), ("file://etc/passwd", "file:///path"),
])
def test_a_metadata_value_with_a_scheme_we_cannot_read_is_refused(stub, sqlite_url, value, fix):
    done = run_cli(seed_env(stub, sqlite_url, HF_HUB_METADATA_DEPT=value), "run", "--dry-run")
    assert done.returncode == 2, done.stderr
    assert "HF_HUB_METADATA_DEPT" in done.stderr and fix in done.stderr
    no_traceback(done)


def test_a_local_file_url_in_any_case_still_works(stub, sqlite_url, tmp_path):
    folder = tmp_path / "department"
    folder.mkdir()
    for value in (f"file://{folder}", f"FILE://{folder}"):
        seed_feedback(sqlite_url, {"department": 1, "urgency": 1})
        done = run_cli(seed_env(stub, sqlite_url, HF_HUB_METADATA_DEPT=value), "run", "--dry-run")
        assert done.returncode == 0, done.stderr


def test_credentials_in_the_hub_endpoint_are_refused(stub, sqlite_url):
    endpoint = stub.url.replace("://", "://user:pw-secret-2@")
    done = run_cli(seed_env(stub, sqlite_url, HF_ENDPOINT=endpoint), "run", "--dry-run")
    assert done.returncode == 2, done.stderr
    assert "HF_ENDPOINT" in done.stderr and "credentials" in done.stderr
    assert "pw-secret-2" not in done.stderr + done.stdout
    no_traceback(done)


def test_metadata_warnings_and_size_errors_read_as_one_sentence(stub, sqlite_url):
    seed_feedback(sqlite_url, {"department": 40, "urgency": 1})
    stub.put_file("owner/dept_dataset", "dataset_metadata.json", json.dumps({"version_tag": "v1", "num_samples": 1}))
    done = run_cli(seed_env(stub, sqlite_url), "run", "--dry-run")
    assert "metadata: metadata" not in done.stderr
    stub.put_file("owner/dept_dataset", "dataset_metadata.json", json.dumps({"version_tag": "v1", "num_samples": 1,
                                                                           "padding": "x" * (2 * 1024 * 1024)}))
    big = run_cli(seed_env(stub, sqlite_url), "run", "--dry-run")
    assert f"failed: {stub.metadata_url('owner/dept_dataset')} is larger than 1024 KiB" in big.stderr
    missing = run_cli({k: v for k, v in seed_env(stub, sqlite_url).items() if k != "PREPARE_DATASET_REPO"}, "run")
    assert missing.returncode == 2
    assert "(PREPARE_DATASET_REPO)" not in missing.stderr and "PREPARE_DATASET_REPO" in missing.stderr


def test_a_bad_state_database_url_is_named_where_it_was_set(stub, sqlite_url, tmp_path):
    toml = tmp_path / "orchestrator.toml"
    toml.write_text('[orchestrator]\nstate_database_url = "postgresql://app@db.example.com:54x2/state"\n')
    env = {k: v for k, v in seed_env(stub, sqlite_url).items()}
    done = run_cli(env, "run", "--dry-run", "--config", str(toml))
    assert done.returncode == 2, done.stderr
    assert "orchestrator.toml: orchestrator.state_database_url is not a valid SQLAlchemy URL" in done.stderr
    from_env = run_cli({**env, "STATE_DATABASE_URL": "postgresql://app@db.example.com:54x2/state"}, "run", "--dry-run")
    assert "STATE_DATABASE_URL is not a valid SQLAlchemy URL" in from_env.stderr
