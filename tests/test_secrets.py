"""No secret in any output, whatever form it was given in and however the run fails.

A distinct secret is planted in each form a credential can take: the Hub token, a database password in
the query string (``?password=``), a database password holding an unencoded ``@``, and user info in a
metadata URL. Each failure path then runs ``orchestrator run`` as a real subprocess under GitHub
Actions, and every channel is swept: stdout, stderr, the summary file, ``$GITHUB_STEP_SUMMARY``,
``$GITHUB_OUTPUT`` and the run's history rows in the state database.
"""

from __future__ import annotations

import json
import secrets
import socket
from pathlib import Path
from urllib.parse import quote

import pytest
from conftest import OWNER, run_cli, seed_env, seed_feedback
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

# Built at run time, so that no secret-shaped literal sits in the sources.
TOKEN_SECRET = "hf_" + secrets.token_hex(16)
QUERY_SECRET = "q" + secrets.token_hex(8)
AT_SECRET = "p" + secrets.token_hex(4) + "@" + secrets.token_hex(4)  # a password holding an unencoded @
USERINFO_SECRET = "u" + secrets.token_hex(8)
PLANTED = (TOKEN_SECRET, QUERY_SECRET, AT_SECRET, USERINFO_SECRET)


def forms(secret: str) -> set[str]:
    """The secret and the pieces of it a careless message could show."""
    found = {secret, quote(secret, safe="")}
    if "@" in secret:
        found |= set(secret.split("@"))  # e.g. the part after the first @, taken for a host
    return found


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def with_at_password(url: str, password: str) -> str:
    parts = make_url(url)
    return f"postgresql+psycopg2://{parts.username}:{password}@{parts.host}:{parts.port}/{parts.database}"


def sweep(tmp: Path, done, state_url: str | None) -> list[str]:
    texts = {"stdout": done.stdout, "stderr": done.stderr}
    for name in ("summary.json", "step_summary.md", "outputs.txt"):
        path = tmp / name
        texts[name] = path.read_text() if path.exists() else ""
    if state_url:
        engine = create_engine(make_url(state_url).set(drivername="postgresql+psycopg", query={}))
        with engine.connect() as conn:
            has_table = conn.execute(text("SELECT to_regclass('orchestrator_runs')")).scalar()
            rows = conn.execute(text("SELECT * FROM orchestrator_runs")).all() if has_table else []
            texts["history"] = json.dumps([[str(v) for v in row] for row in rows])
        engine.dispose()
    leaks = []
    for channel, content in texts.items():
        for secret in PLANTED:
            for piece in forms(secret):
                if len(piece) >= 6 and piece in content:
                    leaks.append(f"{channel} shows {piece!r}")
    return leaks


def github_env(tmp: Path) -> dict[str, str]:
    return {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(tmp / "step_summary.md"), "GITHUB_OUTPUT": str(tmp / "outputs.txt")}


def run(env: dict[str, str], tmp: Path):
    return run_cli({**env, **github_env(tmp)}, "run", "--summary-file", str(tmp / "summary.json"), timeout=120)


@pytest.fixture
def databases(pg_url: str) -> tuple[str, str]:
    """The app database with an @-password, the state tables with a query-string password (trust auth
    accepts any password, so both work)."""
    return with_at_password(pg_url, AT_SECRET), f"{pg_url}?password={QUERY_SECRET}"


@pytest.mark.parametrize("where", ["refused port", "unresolvable host"])
def test_no_secret_when_the_database_cannot_be_reached(stub, tmp_path, where):
    host = "127.0.0.1:1" if where == "refused port" else "db.example.invalid:5432"
    env = seed_env(
        stub, f"postgresql+psycopg2://app:{AT_SECRET}@{host}/app",
        STATE_DATABASE_URL=f"postgresql://app@{host}/state?password={QUERY_SECRET}", HF_TOKEN=TOKEN_SECRET,
    )
    done = run(env, tmp_path)
    assert done.returncode == 3, done.stderr
    assert "cannot connect to the database" in done.stderr
    assert sweep(tmp_path, done, None) == []


def test_no_secret_when_the_hub_is_down(stub, tmp_path, databases):
    app, state = databases
    seed_feedback(app, {"department": 40, "urgency": 40})
    down = f"http://127.0.0.1:{closed_port()}"
    env = seed_env(
        stub, app, STATE_DATABASE_URL=state, HF_TOKEN=TOKEN_SECRET, HF_ENDPOINT=down, HTTP_RETRIES="1",
        HF_HUB_METADATA_DEPT=f"{down}/datasets/owner/dept_dataset/resolve/main/dataset_metadata.json",
        HF_HUB_METADATA_URGENCY=f"{down}/datasets/owner/urgency_dataset/resolve/main/dataset_metadata.json",
    )
    done = run(env, tmp_path)
    assert done.returncode == 3, done.stderr
    assert sweep(tmp_path, done, state) == []


def test_no_secret_when_the_hub_refuses_the_token(stub, tmp_path, databases):
    app, state = databases
    seed_feedback(app, {"department": 40, "urgency": 40})
    done = run(seed_env(stub, app, STATE_DATABASE_URL=state, HF_TOKEN=TOKEN_SECRET), tmp_path)
    assert done.returncode == 2, done.stderr
    assert "the Hub rejected HF_TOKEN (401" in done.stderr
    assert sweep(tmp_path, done, state) == []


def test_no_secret_when_a_metadata_url_carries_user_info(stub, tmp_path, databases):
    app, state = databases
    url = stub.metadata_url("owner/dept_dataset").replace("://", f"://{OWNER}:{USERINFO_SECRET}@")
    done = run(seed_env(stub, app, STATE_DATABASE_URL=state, HF_TOKEN=TOKEN_SECRET, HF_HUB_METADATA_DEPT=url), tmp_path)
    assert done.returncode == 2, done.stderr
    assert "HF_HUB_METADATA_DEPT: the URL carries credentials" in done.stderr
    assert sweep(tmp_path, done, state) == []


def test_no_secret_when_a_metadata_url_is_on_a_foreign_host(stub, tmp_path, databases):
    app, state = databases
    url = f"https://{USERINFO_SECRET}@elsewhere.example/datasets/o/d/resolve/main/dataset_metadata.json"
    done = run(seed_env(stub, app, STATE_DATABASE_URL=state, HF_TOKEN=TOKEN_SECRET, HF_HUB_METADATA_URGENCY=url), tmp_path)
    assert done.returncode == 2, done.stderr
    assert sweep(tmp_path, done, state) == []
    foreign = f"https://elsewhere.example/datasets/o/d/resolve/main/dataset_metadata.json?token={QUERY_SECRET}"
    again = run(seed_env(stub, app, STATE_DATABASE_URL=state, HF_TOKEN=TOKEN_SECRET, HF_HUB_METADATA_URGENCY=foreign), tmp_path)
    assert again.returncode == 2 and "is not the Hub's" in again.stderr
    assert sweep(tmp_path, again, state) == []


def test_no_secret_when_the_metadata_is_malformed(stub, tmp_path, databases):
    app, state = databases
    seed_feedback(app, {"department": 40, "urgency": 40})
    stub.tokens[TOKEN_SECRET] = OWNER

    def publish(hub) -> None:
        hub.put_file("owner/dept_dataset", "dataset_metadata.json", b"{not json")
        hub.put_metadata("owner/urgency_dataset", version_tag="u2", num_samples=500)

    stub.on_restart("owner/prepare", publish, delay=0.2)
    done = run(seed_env(stub, app, STATE_DATABASE_URL=state, HF_TOKEN=TOKEN_SECRET), tmp_path)
    assert done.returncode == 1, done.stderr
    assert "is not valid JSON" in done.stderr
    assert stub.restarts("owner/retrain_urgency") == 1
    assert sweep(tmp_path, done, state) == []
