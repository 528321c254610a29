"""A clean interrupt is recorded as one, not as a crash: ``orchestrator run`` stopped by SIGTERM, and
``orchestrator serve`` stopped while a long cycle runs, leave a run row that says ``interrupted`` (with the labels
and what was being sent), and give their lease back so that the next run is not held up. Real subprocesses, real
PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2
from conftest import CHECKOUT, run_cli, seed_feedback, wait_for
from sqlalchemy import text
from test_serve import SECRET, Served

from orchestrator.remote.database import make_engine

SLOW = "import time; time.sleep(60)"
PUBLISH = """
import json, pathlib
folder = pathlib.Path("datasets/department")
folder.mkdir(parents=True, exist_ok=True)
(folder / "dataset_metadata.json").write_text(json.dumps({"version_tag": "v2", "num_samples": 500}))
"""


def write_config(tmp: Path, url: str, prepare: str, **serve) -> Path:
    (tmp / "prepare.py").write_text(prepare)
    python = json.dumps(sys.executable)
    lines = ["[orchestrator]", f"database_url = {json.dumps(url)}", "poll_interval = 0.1", "poll_timeout = 10",
             "", "[prepare]", f'target = {{ command = [{python}, "prepare.py"], cwd = {json.dumps(str(tmp))} }}',
             "", "[labels.department]", "threshold = 30", f'dataset = "{tmp / "datasets" / "department"}"',
             f'retrain = {{ command = [{python}, "-c", "pass"] }}']
    if serve:
        lines += ["", "[serve]", *(f"{key} = {json.dumps(value)}" for key, value in serve.items())]
    config = tmp / "orchestrator.toml"
    config.write_text("\n".join(lines) + "\n")
    return config


def rows(url: str, query: str) -> list:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(query)))
    finally:
        engine.dispose()


def sending(url: str) -> bool:
    """A prepare intent is recorded, without its result: the slow prepare command runs."""
    try:
        return bool(rows(url, "SELECT key FROM orchestrator_actions WHERE result IS NULL"))
    except Exception:  # noqa: BLE001 - the tables do not exist yet
        return False


def test_a_run_stopped_by_sigterm_is_recorded_as_interrupted_not_crashed(pg_url, tmp_path):
    seed_feedback(pg_url, {"department": 40})
    config = write_config(tmp_path, pg_url, SLOW)
    base = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ} | CHECKOUT
    process = subprocess.Popen([sys.executable, "-m", "orchestrator", "run", "--config", str(config)], env=base,
                               cwd=tempfile.mkdtemp(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: sending(pg_url), timeout=30)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    ((status, exit_code, summary),) = rows(pg_url, "SELECT status, exit_code, summary FROM orchestrator_runs")
    summary = json.loads(summary)
    assert (status, exit_code) == ("interrupted", 130)
    assert [label["label"] for label in summary["labels"]] == ["department"]
    assert any("while sending prepare:" in note for note in summary["notes"])
    assert rows(pg_url, "SELECT owner FROM orchestrator_lock") == [(None,)]  # the lease was given back

    config = write_config(tmp_path, pg_url, PUBLISH)
    done = run_cli({}, "run", "--config", str(config))
    assert done.returncode == 0, done.stderr
    assert "sending it now" in done.stderr  # the interrupted prepare was checked, then sent again
    statuses = [row[0] for row in rows(pg_url, "SELECT status FROM orchestrator_runs ORDER BY started_at")]
    assert statuses == ["interrupted", "ok"]  # not "crashed"
    history = json.loads(run_cli({}, "history", "--config", str(config), "--json").stdout)
    assert history[-1]["status"] == "interrupted" and "department" in history[-1]["labels"]


def test_serve_stopped_during_a_long_cycle_records_it_interrupted_and_gives_the_lease_back(pg_url, tmp_path):
    seed_feedback(pg_url, {"department": 40})
    config = write_config(tmp_path, pg_url, SLOW, shutdown_wait=1)
    served = Served({"ORCHESTRATOR_CONFIG": str(config), "WEBHOOK_SECRET": SECRET})
    try:
        answer = httpx2.post(served.url + "/webhooks/feedback", content=b"", headers={"x-webhook-secret": SECRET}, timeout=10)
        assert answer.status_code == 202
        assert wait_for(lambda: sending(pg_url), timeout=30), served.output()
        started = time.monotonic()
        served.process.send_signal(signal.SIGTERM)
        served.process.wait(timeout=30)
        assert time.monotonic() - started < 20  # not the prepare's 60 s
    finally:
        output = served.stop()
    assert "shutting down before the cycle of department" in output and "recorded as interrupted" in output
    assert rows(pg_url, "SELECT owner FROM orchestrator_lock") == [(None,)]
    assert [row[0] for row in rows(pg_url, "SELECT status FROM orchestrator_runs")] == ["interrupted"]

    done = run_cli({}, "run", "--config", str(write_config(tmp_path, pg_url, PUBLISH)))
    assert done.returncode == 0 and "another run holds the lock" not in done.stderr, done.stderr


def test_an_interrupt_swallowed_by_a_finalizer_is_raised_again(tmp_path):
    """SIGTERM that lands in a ``__del__`` (the database driver and the HTTP client have them) is printed as
    "Exception ignored" and dropped by Python; the run must still stop, within about a second."""
    script = tmp_path / "swallow.py"
    script.write_text(
        "import os, signal, time\n"
        "from orchestrator import interrupts\n"
        "interrupts.install()\n"
        "class Finalized:\n"
        "    def __del__(self):\n"
        "        os.kill(os.getpid(), signal.SIGTERM)\n"
        "        time.sleep(0.2)  # the interrupt is raised here, inside the finalizer, and dropped\n"
        "try:\n"
        "    Finalized()\n"
        "    started = time.monotonic()\n"
        "    time.sleep(20)\n"
        "    print('went on')\n"
        "except KeyboardInterrupt:\n"
        "    interrupts.handling()\n"
        "    print(f'stopped after {time.monotonic() - started:.1f}s')\n"
        "    time.sleep(2.5)  # handled: not raised again\n"
        "    print('handled once')\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=30)
    assert "Exception ignored" in done.stderr  # the first one really was swallowed
    lines = done.stdout.splitlines()
    assert lines[0].startswith("stopped after ") and float(lines[0].split()[-1][:-1]) < 5, done.stdout
    assert lines[1:] == ["handled once"]
    assert done.returncode == 0


def test_a_signal_during_a_deferred_step_is_raised_after_it():
    """Recording an interrupted run and giving the lease back must not be cut short by a second signal (GitHub
    Actions sends SIGINT, then SIGTERM): inside ``deferred`` the signal waits, and is raised after the step."""
    script = Path(tempfile.mkdtemp()) / "deferred.py"
    script.write_text(
        "import os, signal, time\n"
        "from orchestrator import interrupts\n"
        "interrupts.install()\n"
        "try:\n"
        "    with interrupts.deferred():\n"
        "        os.kill(os.getpid(), signal.SIGTERM)\n"
        "        time.sleep(1.5)  # the repeat comes during this too, and waits\n"
        "        print('step finished')\n"
        "    time.sleep(20)\n"
        "    print('went on')\n"
        "except KeyboardInterrupt:\n"
        "    interrupts.handling()\n"
        "    print('stopped')\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=30)
    assert done.stdout.splitlines() == ["step finished", "stopped"], (done.stdout, done.stderr)
