"""What one retrain cycle costs in CI time: non-blocking runs every I seconds vs one blocking run.

A prepare job that takes T seconds is simulated by the Hub stand-in (tests/support/hubstub/) publishing the
new datasets T seconds after the prepare Space is restarted. The orchestrator runs as real processes
against it and a SQLite database. Reported: how many runs the cycle took, the summed wall time of the
orchestrator processes (what a runner is busy for), and an estimate that adds a per-job overhead for
runner start, checkout and install (--job-overhead, 0 by default).

Run it from the repository root, as a module (so that ``tests.support.hubstub`` is importable):

    python -m bench.ci_cost --prepare-seconds 20 --interval 5 [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from orchestrator.jobs import schema as sambodhan
from orchestrator.remote.database import make_engine

try:
    from tests.support.hubstub import HubStub
except ModuleNotFoundError as exc:  # run as a script: the repository root is not on sys.path
    if exc.name not in ("tests", "tests.support"):
        raise
    raise SystemExit("run the benchmark from the repository root: python -m bench.ci_cost [options]") from exc

TOKEN = "hf_bench-token-FFFFFFFFFFFF"


def setup(prepare_seconds: float, workdir: Path, database_url: str | None = None) -> tuple[HubStub, dict[str, str]]:
    hub = HubStub(tokens={TOKEN: "owner"}).start()
    for space in ("owner/prepare", "owner/retrain_dept", "owner/retrain_urgency"):
        hub.add_space(space)
    hub.put_metadata("owner/dept", version_tag="v1", num_samples=10)
    hub.put_metadata("owner/urg", version_tag="u1", num_samples=10)

    def publish(stub: HubStub) -> None:
        stub.put_metadata("owner/dept", version_tag="v2", num_samples=1000)
        stub.put_metadata("owner/urg", version_tag="u2", num_samples=1000)

    hub.on_restart("owner/prepare", publish, delay=prepare_seconds)
    url = database_url or f"sqlite:///{workdir / 'app.db'}"
    engine = make_engine(url)
    sambodhan.create_schema(engine)
    sambodhan.add_feedback(engine, {"department": 50, "urgency": 50})
    engine.dispose()
    env = {
        "PATH": os.environ["PATH"],
        "HF_ENDPOINT": hub.url,
        "HF_TOKEN": TOKEN,
        "PREPARE_DATASET_REPO": "owner/prepare",
        "RETRAIN_DEPT_REPO": "owner/retrain_dept",
        "RETRAIN_URGENCY_REPO": "owner/retrain_urgency",
        "HF_HUB_METADATA_DEPT": hub.metadata_url("owner/dept"),
        "HF_HUB_METADATA_URGENCY": hub.metadata_url("owner/urg"),
        "DATABASE_URL": url,
        "THRESHOLD_DEPARTMENT": "40",
        "THRESHOLD_URGENCY": "40",
        "POLL_TIMEOUT": str(max(prepare_seconds * 3, 60)),
    }
    return hub, env


def run_once(env: dict[str, str], *args: str) -> float:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "orchestrator", "run", *args], env=env, capture_output=True, text=True, cwd="/")
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"orchestrator run failed ({done.returncode}):\n{done.stderr}")
    return elapsed


def retrained(hub: HubStub) -> bool:
    return hub.restarts("owner/retrain_dept") == 1 and hub.restarts("owner/retrain_urgency") == 1


def non_blocking(prepare_seconds: float, interval: float, database_url: str | None) -> tuple[int, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        hub, env = setup(prepare_seconds, Path(tmp), database_url)
        env["ORCHESTRATOR_WAIT"] = "false"
        started, busy, runs = time.perf_counter(), 0.0, 0
        try:
            while not retrained(hub):
                tick = time.perf_counter()
                busy += run_once(env)
                runs += 1
                time.sleep(max(0.0, interval - (time.perf_counter() - tick)))
        finally:
            hub.stop()
        return runs, busy, time.perf_counter() - started


def blocking(prepare_seconds: float, interval: float, database_url: str | None) -> tuple[int, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        hub, env = setup(prepare_seconds, Path(tmp), database_url)
        env["POLL_INTERVAL"] = str(interval)
        try:
            busy = run_once(env)
            assert retrained(hub)
        finally:
            hub.stop()
        return 1, busy, busy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prepare-seconds", type=float, default=20.0, help="T: how long preparation takes")
    parser.add_argument("--interval", type=float, default=5.0, help="I: seconds between scheduled runs / polls")
    parser.add_argument("--job-overhead", type=float, default=0.0, help="per-job runner overhead to add, seconds")
    parser.add_argument(
        "--postgres",
        metavar="ADMIN_URL",
        help="run on a scratch PostgreSQL database made through this URL (default: SQLite)",
    )
    args = parser.parse_args()
    print(f"prepare takes T={args.prepare_seconds:.0f}s, runs every I={args.interval:.0f}s, job overhead {args.job_overhead:.0f}s")
    print(f"{'mode':<13}{'runs':>5}{'process s':>11}{'cycle wall s':>14}{'billed estimate s':>19}")
    for name, measure in (("non-blocking", non_blocking), ("blocking", blocking)):
        with scratch_database(args.postgres) as database_url:
            runs, busy, wall = measure(args.prepare_seconds, args.interval, database_url)
        print(f"{name:<13}{runs:>5}{busy:>11.1f}{wall:>14.1f}{busy + runs * args.job_overhead:>19.1f}")


@contextlib.contextmanager
def scratch_database(admin_url: str | None):
    """None (SQLite in a temporary folder), or a fresh PostgreSQL database dropped afterwards."""
    if admin_url is None:
        yield None
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"orch_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
