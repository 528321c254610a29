"""Shared fixtures: real databases (PostgreSQL and SQLite), the Hub stand-in, and a CLI runner.

PostgreSQL tests use a fresh database per test on ``ORCHESTRATOR_TEST_PG`` (default: the local server
with trust auth). Without a server they skip with a reason, unless ``ORCHESTRATOR_REQUIRE_PG=1``
(``.ci/run`` sets it), in which case they fail.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from support.hubstub import HubStub  # noqa: E402

from orchestrator.jobs import schema as sambodhan  # noqa: E402
from orchestrator.remote.database import make_engine  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
PG_ADMIN = os.environ.get("ORCHESTRATOR_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REQUIRE_PG = os.environ.get("ORCHESTRATOR_REQUIRE_PG") == "1"
TOKEN = "hf_test-token-AAAAAAAAAAAA"  # test-only value, never a real token
OWNER = "owner"

# Every `python -m orchestrator` a test starts runs this checkout's code, even when the interpreter's editable
# install points at another checkout (a git worktree's): the tests' clean environments add it.
CHECKOUT = {"PYTHONPATH": str(REPO)}

_pg_checked: str | None = None


def _pg_available() -> str | None:
    """None if PostgreSQL answers, else the reason it does not."""
    global _pg_checked
    if _pg_checked is None:
        try:
            engine = create_engine(PG_ADMIN, connect_args={"connect_timeout": 3})
            with engine.connect() as conn:
                conn.execute(text("select 1"))
            engine.dispose()
            _pg_checked = ""
        except Exception as exc:  # noqa: BLE001
            _pg_checked = f"PostgreSQL not reachable at {make_url(PG_ADMIN).render_as_string()}: {exc}".splitlines()[0]
    return _pg_checked or None


@pytest.fixture
def pg_url() -> Iterator[str]:
    reason = _pg_available()
    if reason:
        if REQUIRE_PG:
            pytest.fail(f"{reason} (ORCHESTRATOR_REQUIRE_PG=1: PostgreSQL tests are mandatory here)")
        pytest.skip(reason)
    name = f"orch_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: pathlib.Path) -> str:
    return f"sqlite:///{tmp_path / 'app.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest) -> str:
    """Runs the test once on SQLite and once on PostgreSQL."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


def seed_feedback(url: str, corrections: dict[str, int], *, noise: int = 0, seed: int = 0) -> None:
    engine = make_engine(url)
    sambodhan.create_schema(engine)
    sambodhan.add_feedback(engine, corrections, noise=noise, seed=seed)
    engine.dispose()


@pytest.fixture
def stub() -> Iterator[HubStub]:
    """A Hub with the seed's repos: one prepare Space, a retrain Space and a dataset per label."""
    hub = HubStub(tokens={TOKEN: OWNER, "hf_other-user-BBBBBBBBBBBB": "someone-else"})
    hub.start()
    for space in ("owner/prepare", "owner/retrain_dept", "owner/retrain_urgency"):
        hub.add_space(space)
    hub.put_metadata("owner/dept_dataset", version_tag="v1", num_samples=10)
    hub.put_metadata("owner/urgency_dataset", version_tag="u1", num_samples=10)
    try:
        yield hub
    finally:
        hub.stop()


def seed_env(stub: HubStub, database_url: str, **overrides: str) -> dict[str, str]:
    """Exactly the seed's variables (plus test-speed knobs), pointed at the stand-ins."""
    env = {
        "HF_ENDPOINT": stub.url,
        "HF_TOKEN": TOKEN,
        "PREPARE_DATASET_REPO": "owner/prepare",
        "RETRAIN_DEPT_REPO": "owner/retrain_dept",
        "RETRAIN_URGENCY_REPO": "owner/retrain_urgency",
        "HF_HUB_METADATA_DEPT": stub.metadata_url("owner/dept_dataset"),
        "HF_HUB_METADATA_URGENCY": stub.metadata_url("owner/urgency_dataset"),
        "DATABASE_URL": database_url,
        "THRESHOLD_DEPARTMENT": "30",
        "THRESHOLD_URGENCY": "30",
        "POLL_INTERVAL": "0.1",
        "POLL_TIMEOUT": "5",
        "DRY_RUN": "false",
        "HTTP_BACKOFF": "0.05",
        "HTTP_TIMEOUT": "5",
    }
    env.update(overrides)
    return env


def run_cli(
    env: dict[str, str], *args: str, timeout: float = 60, cwd: pathlib.Path | None = None, input: str | None = None
) -> subprocess.CompletedProcess:
    """Run ``python -m orchestrator ARGS`` in a clean environment (only PATH/HOME plus ``env``), with
    ``input`` on standard input if given, running this checkout's code (:data:`CHECKOUT`)."""
    base = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "SYSTEMROOT") if k in os.environ}
    base.update(CHECKOUT)
    return subprocess.run(
        [sys.executable, "-m", "orchestrator", *args],
        env={**base, **env},
        cwd=cwd or tempfile.mkdtemp(prefix="orch-cwd-"),  # no stray .env is read
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def wait_for(predicate, timeout: float = 5.0) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` passes; its last answer."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()
