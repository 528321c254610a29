"""How fast ``orchestrator serve`` turns a published dataset into a retrain, and whether it holds under load.

A Hub stand-in (tests/support/hubstub: real HTTP, the real huggingface_hub client on the service's side),
a real database, ``orchestrator run --no-wait`` to put every label in "prepare requested", then
``orchestrator serve`` as a real uvicorn process:

- **latency**: one label at a time, the stand-in publishes the label's new dataset version, one signed
  delivery is sent, and the time until the stand-in performed the retrain Space's restart is measured;
- **load**: ``--rate`` deliveries per second for ``--seconds`` from a local load generator (a pool of
  threads, one HTTP client each): duplicates of each published update, unwatched repos and wrong secrets
  mixed in, while the labels' datasets are published one after another. Every label must be retrained
  exactly once (none lost, none duplicated); the response times' p50 and p99 are reported.

Run it from the repository root: ``python -m bench.serve_webhooks [--database URL] [--labels 8]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx2
from sqlalchemy import text

from orchestrator.remote.database import make_engine

try:
    from tests.support.hubstub import HubStub
except ModuleNotFoundError as exc:
    if exc.name not in ("tests", "tests.support"):
        raise
    raise SystemExit("run the benchmark from the repository root: python -m bench.serve_webhooks [options]") from exc

TOKEN = "hf_bench-token-FFFFFFFFFFFF"
SECRET = "bench-webhook-secret-0123"


def fresh_database(server_url: str) -> str:
    """A new, empty database on the PostgreSQL server of ``server_url`` (each phase starts clean)."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    name = f"bench_serve_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    CREATED.append((server_url, name))
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


CREATED: list[tuple[str, str]] = []


def drop_databases() -> None:
    from sqlalchemy import create_engine

    for server_url, name in CREATED:
        admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def setup(workdir: Path, labels: int, database_url: str | None) -> tuple[HubStub, dict[str, str], Path]:
    hub = HubStub(tokens={TOKEN: "owner"}).start()
    hub.add_space("owner/prepare")
    url = fresh_database(database_url) if database_url else f"sqlite:///{workdir / 'app.db'}"
    engine = make_engine(url)
    names = [f"l{i}" for i in range(labels)]
    with engine.begin() as conn:
        for name in names:
            hub.add_space(f"owner/retrain_{name}")
            hub.put_metadata(f"owner/ds_{name}", version_tag=f"{name}-v1", num_samples=10)
            conn.execute(text(f"DROP TABLE IF EXISTS fb_{name}"))
            conn.execute(text(f"CREATE TABLE fb_{name} (id INTEGER PRIMARY KEY, reviewed BOOLEAN, predicted VARCHAR(20), correct VARCHAR(20))"))
            for i in range(40):
                conn.execute(text(f"INSERT INTO fb_{name} VALUES ({i}, TRUE, 'a', 'b')"))
    engine.dispose()
    lines = ["[orchestrator]", f"database_url = {json.dumps(url)}", "", "[prepare]", 'target = "space:owner/prepare"']
    for name in names:
        lines += [
            "", f"[labels.{name}]", "threshold = 30", f'metadata = {{ repo = "owner/ds_{name}" }}',
            f'retrain = "space:owner/retrain_{name}"', f'table = "fb_{name}"', 'reviewed_column = "reviewed"',
            'predicted_column = "predicted"', 'correct_column = "correct"',
        ]
    config = workdir / "orchestrator.toml"
    config.write_text("\n".join(lines) + "\n")
    env = {"PATH": os.environ["PATH"], "HF_ENDPOINT": hub.url, "HF_TOKEN": TOKEN, "WEBHOOK_SECRET": SECRET,
           "ORCHESTRATOR_CONFIG": str(config), "HTTP_BACKOFF": "0.05"}
    done = subprocess.run([sys.executable, "-m", "orchestrator", "run", "--no-wait"], env=env, capture_output=True, text=True)
    if done.returncode != 0 or hub.restarts("owner/prepare") != 1:
        raise SystemExit(f"the cron run did not request the prepare:\n{done.stderr}")
    return hub, env, config


def serve(env: dict[str, str], workdir: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(workdir / "serve.log", "w")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen([sys.executable, "-m", "orchestrator", "serve", "--port", str(port)], env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx2.get(url + "/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx2.TransportError:
            time.sleep(0.05)
    raise SystemExit("orchestrator serve did not start: see " + str(workdir / "serve.log"))


def delivery(repo: str, sha: str) -> bytes:
    return json.dumps({"event": {"action": "update", "scope": "repo.content"},
                       "repo": {"type": "dataset", "name": repo, "headSha": sha},
                       "updatedRefs": [{"ref": "refs/heads/main", "newSha": sha}], "webhook": {"id": "b", "version": 3}}).encode()


def publish(hub: HubStub, name: str) -> bytes:
    hub.put_metadata(f"owner/ds_{name}", version_tag=f"{name}-v2", num_samples=500)
    return delivery(f"owner/ds_{name}", hub.head(f"owner/ds_{name}") or "?")


def wait_restart(hub: HubStub, name: str, since: float, timeout: float = 10.0) -> float | None:
    while time.perf_counter() - since < timeout:
        if hub.restarts(f"owner/retrain_{name}") >= 1:
            return time.perf_counter() - since
        time.sleep(0.002)
    return None


def latency(args) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        hub, env, _ = setup(Path(tmp), args.labels, args.database)
        process, url = serve(env, Path(tmp))
        figures = []
        try:
            with httpx2.Client(timeout=10) as client:
                for i in range(args.labels):
                    started = time.perf_counter()
                    body = publish(hub, f"l{i}")
                    client.post(url + "/webhooks/hub", content=body, headers={"x-webhook-secret": SECRET})
                    figures.append(wait_restart(hub, f"l{i}", started))
        finally:
            process.terminate()
            process.wait(30)
            hub.stop()
        return figures


def load(args) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        hub, env, _ = setup(Path(tmp), args.labels, args.database)
        process, url = serve(env, Path(tmp))
        published: list[bytes] = []
        times: list[float] = []
        statuses: dict[int, int] = {}
        lock = threading.Lock()
        total = int(args.rate * args.seconds)
        start = time.perf_counter() + 0.2
        trigger_latency: dict[str, float | None] = {}
        rng = random.Random(0)

        def publisher() -> None:  # one label's dataset published every seconds/labels
            for i in range(args.labels):
                at = start + (i + 0.5) * args.seconds / args.labels
                time.sleep(max(0.0, at - time.perf_counter()))
                body = publish(hub, f"l{i}")
                with lock:
                    published.append(body)
                trigger_latency[f"l{i}"] = None
                threading.Thread(target=watch, args=(f"l{i}", time.perf_counter()), daemon=True).start()

        def watch(name: str, since: float) -> None:
            trigger_latency[name] = wait_restart(hub, name, since, timeout=args.seconds + 20)

        def worker(offset: int) -> None:
            with httpx2.Client(timeout=10) as client:
                for k in range(offset, total, args.workers):
                    at = start + k / args.rate
                    time.sleep(max(0.0, at - time.perf_counter()))
                    roll = rng.random()
                    with lock:
                        body = rng.choice(published) if published and roll < 0.75 else delivery("someone/else", "f" * 40)
                    secret = "wrong-secret" if roll > 0.95 else SECRET
                    sent = time.perf_counter()
                    answer = client.post(url + "/webhooks/hub", content=body, headers={"x-webhook-secret": secret})
                    with lock:
                        times.append(time.perf_counter() - sent)
                        statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1

        threads = [threading.Thread(target=publisher)] + [threading.Thread(target=worker, args=(w,)) for w in range(args.workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - start
        deadline = time.perf_counter() + 20
        while time.perf_counter() < deadline and any(v is None for v in trigger_latency.values()):
            time.sleep(0.05)
        time.sleep(1.0)  # anything still queued would show as a second restart now
        restarts = {f"l{i}": hub.restarts(f"owner/retrain_l{i}") for i in range(args.labels)}
        process.terminate()
        process.wait(30)
        hub.stop()
        ordered = sorted(times)
        return {
            "deliveries": len(times), "seconds": round(elapsed, 2), "rate": round(len(times) / elapsed, 1),
            "statuses": statuses,
            "p50_ms": round(1000 * ordered[len(ordered) // 2], 1), "p99_ms": round(1000 * ordered[int(len(ordered) * 0.99)], 1),
            "max_ms": round(1000 * ordered[-1], 1), "restarts": restarts,
            "trigger_latency_s": {k: (round(v, 3) if v is not None else None) for k, v in trigger_latency.items()},
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", help="a PostgreSQL server URL: each phase gets a new database on it (default: SQLite files)")
    parser.add_argument("--labels", type=int, default=8)
    parser.add_argument("--rate", type=float, default=200.0, help="deliveries per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=16)
    args = parser.parse_args()
    try:
        report(args)
    finally:
        drop_databases()


def report(args) -> None:
    figures = latency(args)
    ok = [f for f in figures if f is not None]
    print(f"latency, publish to retrain restart through the webhook ({len(figures)} labels, one at a time): "
          f"median {statistics.median(ok) * 1000:.0f} ms, max {max(ok) * 1000:.0f} ms, {len(figures) - len(ok)} missed")
    result = load(args)
    lost = [k for k, v in result["restarts"].items() if v == 0]
    doubled = [k for k, v in result["restarts"].items() if v > 1]
    print(f"load: {result['deliveries']} deliveries in {result['seconds']} s ({result['rate']}/s), answers {result['statuses']}")
    print(f"  response time p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, max {result['max_ms']} ms")
    waits = [v for v in result["trigger_latency_s"].values() if v is not None]
    print(f"  {args.labels} datasets published under load: retrains lost {lost or 'none'}, duplicated {doubled or 'none'}; "
          f"publish to restart median {statistics.median(waits) * 1000:.0f} ms, max {max(waits) * 1000:.0f} ms" if waits else "  no retrain seen")


if __name__ == "__main__":
    main()
