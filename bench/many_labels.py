"""What a cycle costs as labels grow: wall time and Hub requests of one ``orchestrator run``, idle and with half of
the labels firing, for several label counts, with a network-like latency on every Hub request.

A Hub stand-in (tests/support/hubstub: real HTTP, the real huggingface_hub client) answers each request after
``--latency`` seconds, as a Hub across the internet would; the feedback is in SQLite (or ``--database``). Each
label has its own dataset repo and retrain Space; one prepare Space serves them all, and publishes the firing
labels' new datasets as soon as it is restarted. ``orchestrator run`` is a real process with the defaults a user
has (8 outside calls at once, see docs/performance.md).

Run it from the repository root: ``python -m bench.many_labels [--labels 2 25 100] [--latency 0.05]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


from orchestrator.remote.database import make_engine
from orchestrator.state.store import StateStore

try:
    from tests.support.feedback import many_labels_feedback
    from tests.support.hubstub import HubStub
except ModuleNotFoundError as exc:  # run as a script: the repository root is not on sys.path
    if exc.name not in ("tests", "tests.support"):
        raise
    raise SystemExit("run the benchmark from the repository root: python -m bench.many_labels [options]") from exc

TOKEN = "hf_bench-token-GGGGGGGGGGGG"


def cycle(count: int, latency: float, database: str | None, fire: bool) -> tuple[float, int]:
    labels = [f"topic_{i:03d}" for i in range(count)]
    firing = set(labels[::2]) if fire else set()
    with tempfile.TemporaryDirectory() as tmp:
        hub = HubStub(tokens={TOKEN: "owner"}).start()
        try:
            hub.add_space("owner/prepare")
            for label in labels:
                hub.add_space(f"owner/retrain_{label}")
                hub.put_metadata(f"owner/{label}_dataset", version_tag="v1", num_samples=10)
            hub.on_restart("owner/prepare", lambda stub: [
                stub.put_metadata(f"owner/{label}_dataset", version_tag="v2", num_samples=500) for label in firing])
            url = database or f"sqlite:///{Path(tmp) / 'app.db'}"
            many_labels_feedback(url, labels, firing)
            lines = ["[orchestrator]", f"database_url = {json.dumps(url)}", "poll_interval = 0.2", "",
                     "[prepare]", 'target = "owner/prepare"']
            for label in labels:
                lines += [f"[labels.{label}]", "threshold = 30", f'metadata = {{ repo = "owner/{label}_dataset" }}',
                          f'retrain = "owner/retrain_{label}"']
            config = Path(tmp) / "orchestrator.toml"
            config.write_text("\n".join(lines) + "\n")
            env = {"PATH": os.environ["PATH"], "HF_ENDPOINT": hub.url, "HF_TOKEN": TOKEN,
                   # PYTHONPATH=<another checkout> measures that checkout's code with the same interpreter
                   **({"PYTHONPATH": os.environ["PYTHONPATH"]} if os.environ.get("PYTHONPATH") else {})}
            engine = make_engine(url, immediate=True)
            StateStore(engine).migrate()  # as a first run would have (not counted)
            engine.dispose()
            hub.delay("*", ".*", latency, times=10**6)
            before = len(hub.requests)
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "orchestrator", "run", "--config", str(config)],
                                  env=env, capture_output=True, text=True)
            elapsed = time.perf_counter() - started
            if done.returncode != 0:
                raise SystemExit(f"orchestrator run failed ({done.returncode}):\n{done.stderr[-2000:]}")
            return elapsed, len(hub.requests) - before
        finally:
            hub.stop()
            if database:  # the next round starts from empty tables
                engine = make_engine(database)
                with engine.begin() as conn:
                    for name in ("misclassified_complaints", "orchestrator_actions", "orchestrator_label_state",
                                 "orchestrator_runs", "orchestrator_lock", "orchestrator_schema_version"):
                        conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{name}"')
                engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, nargs="+", default=[2, 25, 100])
    parser.add_argument("--latency", type=float, default=0.05, help="seconds the stand-in waits before each answer")
    parser.add_argument("--database", default=None, help="a SQLAlchemy URL (default: a SQLite file)")
    args = parser.parse_args()
    print(f"Hub latency {args.latency * 1000:.0f} ms per request")
    print("| labels | idle run | its Hub requests | half firing: cycle | its Hub requests | per fired label |")
    print("|---:|---:|---:|---:|---:|---:|")
    for count in args.labels:
        idle, idle_requests = cycle(count, args.latency, args.database, fire=False)
        busy, busy_requests = cycle(count, args.latency, args.database, fire=True)
        fired = max(count // 2 + count % 2, 1)
        print(f"| {count} | {idle:.2f} s | {idle_requests} | {busy:.2f} s | {busy_requests} | "
              f"{busy_requests / fired:.1f} requests |", flush=True)


if __name__ == "__main__":
    main()
