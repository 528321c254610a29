"""``orchestrator serve`` as a real uvicorn server on the loopback, against the Hub stand-in and a real
database: signed, wrongly signed, duplicated and concurrent webhook deliveries, counting the restarts the
stand-in really performed; the feedback endpoint; forwarding to GitHub; the status API and its token."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator

import httpx2
import pytest
from conftest import CHECKOUT, run_cli, seed_env, seed_feedback, wait_for
from support.hubstub import HubStub

SECRET = "whsec-test-0123456789"
STATUS = "status-token-abcdef0123"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        base = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ} | CHECKOUT
        self.log = tempfile.TemporaryFile(mode="w+")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "orchestrator", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env={**base, **env}, cwd=tempfile.mkdtemp(), stdout=self.log, stderr=subprocess.STDOUT, text=True,
        )
        if not wait_for(self._healthy, timeout=30):
            self.stop()
            raise AssertionError(f"orchestrator serve did not start:\n{self.output()}")

    def _healthy(self) -> bool:
        if self.process.poll() is not None:
            return True
        try:
            return httpx2.get(self.url + "/healthz", timeout=1).status_code == 200
        except httpx2.TransportError:
            return False

    def health(self) -> dict:
        return httpx2.get(self.url + "/healthz", timeout=5).json()

    def settle(self, timeout: float = 20) -> None:
        """Until the service has no cycle running or queued."""
        assert wait_for(lambda: self.health()["idle"], timeout=timeout), self.output()

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.output()


@pytest.fixture
def serve(stub: HubStub, pg_url: str) -> Iterator:
    started: list[Served] = []

    def start(**overrides: str) -> Served:
        served = Served(seed_env(stub, pg_url, **{"WEBHOOK_SECRET": SECRET, **overrides}))
        started.append(served)
        return served

    yield start
    for served in started:
        served.stop()


def delivery(repo: str = "owner/dept_dataset", sha: str = "a" * 40, *, scope: str = "repo.content", kind: str = "dataset") -> bytes:
    return json.dumps({
        "event": {"action": "update", "scope": scope},
        "repo": {"type": kind, "name": repo, "id": "abc", "private": False, "headSha": sha},
        "updatedRefs": [{"ref": "refs/heads/main", "oldSha": "0" * 40, "newSha": sha}],
        "webhook": {"id": "wh1", "version": 3},
    }).encode()


def post(served: Served, body: bytes, secret: str | None = SECRET, path: str = "/webhooks/hub") -> httpx2.Response:
    headers = {"content-type": "application/json"}
    if secret is not None:
        headers["x-webhook-secret"] = secret
    return httpx2.post(served.url + path, content=body, headers=headers, timeout=10)


def pending_department(stub: HubStub, pg_url: str) -> None:
    """A label whose prepare was triggered by a cron run, and whose dataset has not arrived yet."""
    seed_feedback(pg_url, {"department": 40, "urgency": 1})
    done = run_cli(seed_env(stub, pg_url), "run", "--no-wait")
    assert done.returncode == 0, done.stderr
    assert stub.restarts("owner/prepare") == 1


def test_a_signed_dataset_update_retrains_the_label_at_once(stub, pg_url, serve):
    # How fast is measured by bench/serve_webhooks.py (a median of about 200 ms), not asserted here.
    pending_department(stub, pg_url)
    served = serve()
    stub.put_metadata("owner/dept_dataset", version_tag="v2", num_samples=500)
    answer = post(served, delivery())
    assert answer.status_code == 202 and answer.json() == {"accepted": ["department"]}
    assert wait_for(lambda: stub.restarts("owner/retrain_dept") == 1, timeout=10), served.output()
    assert stub.space_variables("owner/retrain_dept") == {"DATASET_VERSION": "v2"}
    served.settle()
    assert stub.restarts("owner/retrain_urgency") == 0 and stub.restarts("owner/prepare") == 1


def test_a_wrong_or_missing_secret_gets_401_and_nothing_happens(stub, pg_url, serve):
    pending_department(stub, pg_url)
    served = serve()
    stub.put_metadata("owner/dept_dataset", version_tag="v2", num_samples=500)
    assert post(served, delivery(), secret="wrong").status_code == 401
    assert post(served, delivery(), secret=None).status_code == 401
    assert post(served, b"{}", secret="wrong", path="/webhooks/feedback").status_code == 401
    time.sleep(0.5)
    assert served.health()["cycles"] == 0
    assert stub.restarts("owner/retrain_dept") == 0
    log = served.stop()
    assert SECRET not in log  # nor in the access log
    assert served.process.returncode == 0, log  # SIGTERM: a graceful shutdown
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert {(line["method"], line["path"], line["status"]) for line in lines} >= {("POST", "/webhooks/hub", 401)}


def test_malformed_and_unwatched_deliveries(stub, pg_url, serve):
    served = serve()
    assert post(served, b"{not json").status_code == 400
    assert "not a Hub webhook delivery" in post(served, b'{"event": 1}').json()["error"]
    assert post(served, delivery(repo="owner/someone_elses")).status_code == 204
    assert post(served, delivery(kind="model")).status_code == 204
    assert post(served, delivery(scope="repo.config")).status_code == 204
    assert served.health()["cycles"] == 0


def test_twenty_duplicate_deliveries_give_one_retrain(stub, pg_url, serve):
    pending_department(stub, pg_url)
    served = serve()
    stub.put_metadata("owner/dept_dataset", version_tag="v2", num_samples=500)
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(post(served, delivery()).status_code)) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(set(answers)) == [202] and len(answers) == 20
    served.settle()
    assert stub.restarts("owner/retrain_dept") == 1
    for sha in ("b" * 40, "c" * 40):  # retried deliveries of later commits, out of order: still one
        assert post(served, delivery(sha=sha)).status_code == 202
    served.settle()
    assert stub.restarts("owner/retrain_dept") == 1


def test_a_delivery_concurrent_with_a_cron_run_gives_one_retrain(stub, pg_url, serve):
    pending_department(stub, pg_url)
    served = serve()
    stub.put_metadata("owner/dept_dataset", version_tag="v2", num_samples=500)
    cron = threading.Thread(target=lambda: run_cli(seed_env(stub, pg_url), "run", "--no-wait"))
    cron.start()
    assert post(served, delivery()).status_code == 202
    cron.join()
    served.settle()
    assert stub.restarts("owner/retrain_dept") == 1
    assert run_cli(seed_env(stub, pg_url), "run", "--no-wait").returncode == 0
    assert stub.restarts("owner/retrain_dept") == 1


def test_the_feedback_endpoint_runs_a_threshold_check(stub, pg_url, serve):
    seed_feedback(pg_url, {"department": 40, "urgency": 1})
    served = serve()
    assert post(served, b'{"labels": ["nope"]}', path="/webhooks/feedback").status_code == 400
    answer = post(served, b"", path="/webhooks/feedback")
    assert answer.status_code == 202
    served.settle()
    assert stub.restarts("owner/prepare") == 1  # department reached its threshold: prepared
    status = {r["label"]: r for r in httpx2.get(served.url + "/api/status", timeout=5).json()}
    assert status["department"]["state"] == "prepare_requested"


def test_the_status_api_needs_the_token_when_one_is_set(stub, pg_url, serve):
    seed_feedback(pg_url, {"department": 3, "urgency": 1})
    served = serve(STATUS_TOKEN=STATUS)
    assert httpx2.get(served.url + "/api/status", timeout=5).status_code == 401
    assert httpx2.get(served.url + "/", timeout=5).status_code == 401
    ok = httpx2.get(served.url + "/api/status", headers={"authorization": f"Bearer {STATUS}"}, timeout=5)
    assert ok.status_code == 200 and {r["label"] for r in ok.json()} == {"department", "urgency"}
    assert httpx2.get(served.url + f"/api/history?token={STATUS}", timeout=5).status_code == 200
    log = served.stop()
    assert STATUS not in log and '"path": "/api/history"' in log  # access logs carry no query string


def test_serve_without_a_webhook_secret_refuses_to_start(stub, pg_url):
    done = run_cli(seed_env(stub, pg_url), "serve", "--port", str(free_port()), timeout=30)
    assert done.returncode == 2
    assert "needs WEBHOOK_SECRET" in done.stderr and "Traceback" not in done.stderr


def test_forwarding_sends_one_repository_dispatch(stub, pg_url, serve):
    from support.githubstub import GitHubStub

    github = GitHubStub(tokens={"ghp_forward0123456789abcdef": "write"}).start()
    try:
        served = serve(WEBHOOK_FORWARD_REPO="owner/app", GITHUB_API_URL=github.url, GH_TOKEN="ghp_forward0123456789abcdef")
        for _ in range(3):
            assert post(served, delivery()).status_code == 202
        sent = [r for r in github.requests if r.method == "POST" and r.path == "/repos/owner/app/dispatches"]
        assert len(sent) == 1
        assert sent[0].body["event_type"] == "hub-dataset-updated"
        assert sent[0].body["client_payload"]["labels"] == ["department"]
        assert served.health()["cycles"] == 0  # forwarded, not run here
    finally:
        github.stop()


def test_a_delivery_while_another_run_holds_the_lease_is_done_once_it_is_free(stub, pg_url, serve):
    from orchestrator.remote.database import make_engine
    from orchestrator.state.store import StateStore

    pending_department(stub, pg_url)
    served = serve()
    stub.put_metadata("owner/dept_dataset", version_tag="v2", num_samples=500)
    store = StateStore(make_engine(pg_url))
    lease = store.acquire("someone-else", 120)  # a cron run in progress
    assert lease is not None
    assert post(served, delivery()).status_code == 202
    time.sleep(1.5)
    assert stub.restarts("owner/retrain_dept") == 0  # it waits for the lease: nothing is done twice
    store.release(lease)
    assert wait_for(lambda: stub.restarts("owner/retrain_dept") == 1, timeout=20), served.output()
    served.settle()
    assert stub.restarts("owner/retrain_dept") == 1


def test_bad_bodies_get_400_not_500(stub, pg_url, serve):
    served = serve()
    refs = json.loads(delivery())
    refs["updatedRefs"] = 5
    assert post(served, json.dumps(refs).encode()).status_code == 400
    assert post(served, b"[" * 100_000).status_code == 400
    assert post(served, b"[" * 100_000, path="/webhooks/feedback").status_code == 400
    assert post(served, b'{"labels": []}', path="/webhooks/feedback").status_code == 400
    assert post(served, b'{"labels": "urgency"}', path="/webhooks/feedback").status_code == 400
    assert post(served, b"x" * (1024 * 1024 + 1)).status_code == 413
    assert httpx2.get(served.url + "/api/history?limit=-1", timeout=5).status_code == 400
    assert httpx2.get(served.url + "/api/history?limit=lots", timeout=5).status_code == 400
    log = served.stop()
    assert "Traceback" not in log


def test_concurrent_duplicates_are_forwarded_once(stub, pg_url, serve):
    from support.githubstub import GitHubStub

    github = GitHubStub(tokens={"ghp_forward0123456789abcdef": "write"}).start()
    try:
        served = serve(WEBHOOK_FORWARD_REPO="owner/app", GITHUB_API_URL=github.url, GH_TOKEN="ghp_forward0123456789abcdef")
        threads = [threading.Thread(target=post, args=(served, delivery())) for _ in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        sent = [r for r in github.requests if r.method == "POST" and r.path == "/repos/owner/app/dispatches"]
        assert len(sent) == 1
        github.fail("POST", r"/repos/owner/app/dispatches$", 500, times=5)
        failed = post(served, delivery(sha="d" * 40))
        assert failed.status_code == 502 and "forwarding to GitHub failed" in failed.json()["error"]
        assert post(served, delivery(sha="d" * 40)).status_code == 502  # not remembered: the redelivery retries
    finally:
        github.stop()


def test_a_dataset_the_orchestrator_did_not_ask_for_is_not_retrained(stub, pg_url, serve):
    """As on a cron run: a label that is not waiting (below its threshold, nothing prepared) is not
    retrained on a dataset published outside the orchestrator; the delivery still runs its cycle."""
    seed_feedback(pg_url, {"department": 3, "urgency": 1})
    served = serve()
    stub.put_metadata("owner/dept_dataset", version_tag="v7", num_samples=500)
    assert post(served, delivery(sha="e" * 40)).status_code == 202
    served.settle()
    assert served.health()["cycles"] == 1
    assert stub.restarts("owner/retrain_dept") == 0 and stub.restarts("owner/prepare") == 0


def test_a_port_in_use_is_a_usage_error_named_before_anything_is_announced(stub, pg_url):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_cli(seed_env(stub, pg_url, WEBHOOK_SECRET=SECRET), "serve", "--port", str(port), timeout=30)
    assert done.returncode == 2, done.stderr
    assert f"127.0.0.1:{port}" in done.stderr and "already in use" in done.stderr
    assert "--port" in done.stderr  # what to do about it
    assert "listening" not in done.stderr and "Traceback" not in done.stderr


def test_forwarding_without_a_github_token_refuses_to_start(stub, pg_url):
    env = seed_env(stub, pg_url, WEBHOOK_SECRET=SECRET, WEBHOOK_FORWARD_REPO="owner/app")
    done = run_cli(env, "serve", "--port", str(free_port()), timeout=30)
    assert done.returncode == 2, done.stderr
    assert "WEBHOOK_FORWARD_REPO" in done.stderr and "GITHUB_TOKEN" in done.stderr and "GH_TOKEN" in done.stderr
    assert "listening" not in done.stderr and "Traceback" not in done.stderr


def test_a_failed_forward_says_why_in_one_log_line(stub, pg_url, serve):
    from support.githubstub import GitHubStub

    wrong = "ghp_revoked0123456789abcdefXYZ"
    github = GitHubStub(tokens={"ghp_forward0123456789abcdef": "write"}).start()
    try:
        served = serve(WEBHOOK_FORWARD_REPO="owner/app", GITHUB_API_URL=github.url, GH_TOKEN=wrong)
        answer = post(served, delivery())
        assert answer.status_code == 502 and "Bad credentials" in answer.json()["error"]
        assert post(served, b"", path="/webhooks/feedback").status_code == 502
    finally:
        github.stop()
    log = served.stop()
    why = [line for line in log.splitlines() if "forwarding to GitHub failed" in line]
    assert len(why) == 2, log  # one line per failed forward, beside its access line
    assert all("401: Bad credentials" in line and "wrong, expired or revoked" in line for line in why)
    assert wrong not in log


def test_a_non_ascii_secret_and_status_token_match_their_utf8_bytes(stub, pg_url, serve):
    secret, token = "whsec-ñandú-秘密-0123456789", "státus-tökén-ключ-0123"
    seed_feedback(pg_url, {"department": 3, "urgency": 1})
    served = serve(WEBHOOK_SECRET=secret, STATUS_TOKEN=token)
    headers = {"content-type": "application/json", "x-webhook-secret": secret.encode("utf-8")}
    unwatched = delivery(repo="owner/someone_elses")
    answer = httpx2.post(served.url + "/webhooks/hub", content=unwatched, headers=headers, timeout=10)
    assert answer.status_code == 204, answer.text  # authentic: then not a repo any label watches
    latin = {**headers, "x-webhook-secret": secret.encode("utf-8").decode("latin-1").encode("utf-8")}
    assert httpx2.post(served.url + "/webhooks/hub", content=unwatched, headers=latin, timeout=10).status_code == 401
    assert post(served, unwatched, secret="whsec-nandu-0123456789").status_code == 401
    bearer = {"authorization": b"Bearer " + token.encode("utf-8")}
    assert httpx2.get(served.url + "/api/status", headers=bearer, timeout=5).status_code == 200
    assert httpx2.get(served.url + "/api/status", params={"token": token}, timeout=5).status_code == 200
    assert httpx2.get(served.url + "/api/status", params={"token": "státus"}, timeout=5).status_code == 401
    log = served.stop()
    assert secret not in log and token not in log


class Relay:
    """A TCP relay to PostgreSQL that can be cut and restored: a real database outage for what connects
    through it."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target, self.port = target, free_port()
        self.open: list[socket.socket] = []
        self.up()

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        for sock in [self.listener, *self.open]:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self.open = []

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            self.open += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def test_a_failure_that_repeats_while_it_is_retried_is_notified_once(stub, pg_url):
    """The real service in this process (so that its retry delay can be short), its app database behind a
    relay that is cut: the cycles retried during the outage send one notification, not one each; after a
    cycle that succeeds, the same failure is news again."""
    import uvicorn
    from sqlalchemy.engine import make_url
    from test_notify import Receiver

    from orchestrator.config.loader import load_settings
    from orchestrator.serve import listen
    from orchestrator.serve.app import create_app
    from orchestrator.wiring import Wiring

    seed_feedback(pg_url, {"department": 3, "urgency": 1})  # below the thresholds: a cycle that works does nothing
    url = make_url(pg_url)
    relay = Relay((url.host or "127.0.0.1", url.port or 5432))
    receiver = Receiver()
    relayed = url.set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False)
    env = seed_env(stub, relayed, STATE_DATABASE_URL=pg_url, WEBHOOK_SECRET=SECRET, NOTIFY_URLS=receiver.url())
    wiring = Wiring(load_settings(env, env_file=None), environ={})
    service = wiring.service()
    runner = service.runner
    runner.retry_seconds = 0.2
    sock = listen.bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(create_app(service), log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"

    def feedback() -> None:
        answer = httpx2.post(base + "/webhooks/feedback", headers={"x-webhook-secret": SECRET}, timeout=10)
        assert answer.status_code == 202

    def failed_cycles(at_least: int) -> bool:
        return runner.last is not None and runner.last.exit_code == 3 and runner.cycles >= at_least

    try:
        assert wait_for(lambda: server.started, timeout=10)
        relay.down()
        feedback()
        assert wait_for(lambda: failed_cycles(3), timeout=20)  # the cycle and two retries, all stopped alike
        assert len(receiver.received) == 1, [m["json"]["title"] for m in receiver.received]
        assert "run failed" in receiver.received[0]["json"]["title"]
        assert "cannot connect to the database" in receiver.received[0]["json"]["message"]
        relay.up()
        assert wait_for(lambda: runner.last.exit_code == 0 and runner.idle(), timeout=20)  # the retry works
        assert len(receiver.received) == 1  # nothing to do: nothing to notify
        relay.down()
        done = runner.cycles
        feedback()
        assert wait_for(lambda: failed_cycles(done + 2), timeout=20)
        assert len(receiver.received) == 2  # the same failure after a success: notified again, once
    finally:
        relay.up()
        server.should_exit = True
        thread.join(30)
        wiring.close()
        relay.down()
        receiver.close()


def test_an_outage_whose_driver_words_change_is_one_episode(stub):
    """The same outage tried again fails with other words from the driver each time (the flake this test
    pins: refused, then a timeout, then a closed connection): still one notification. A different outage,
    or the same one after a success, is news."""
    from orchestrator.config.loader import load_settings
    from orchestrator.report.reporter import Reporter
    from orchestrator.report.results import LabelResult, RunResult
    from orchestrator.serve.runner import CycleRunner

    heard: list[RunResult] = []
    runner = CycleRunner(load_settings(seed_env(stub, "sqlite://"), env_file=None), cycle=None,
                         reporter=lambda: Reporter({}, quiet=True), on_result=heard.append)
    db_hint = "check DATABASE_URL's host, port, user and password, and that the server is running"

    def outage(detail: str, hint: str = db_hint) -> RunResult:
        return RunResult(started_at="t", finished_at="t", dry_run=False, exit_code=3, hint=hint,
                         error=f"cannot connect to the database at postgresql://h/db while counting corrections: {detail}")

    for detail in ("connection refused", "connection timeout expired", "server closed the connection unexpectedly"):
        runner._hand_on(outage(detail))
    assert len(heard) == 1
    runner._hand_on(outage("connection refused", hint="check HF_ENDPOINT and the Hub's status page"))
    assert len(heard) == 2  # another outage
    runner._hand_on(RunResult(started_at="t", finished_at="t", dry_run=False))
    runner._hand_on(outage("connection refused"))
    assert len(heard) == 4  # the success, then the same outage again: news
    deployed = RunResult(started_at="t", finished_at="t", dry_run=False, exit_code=3, hint=db_hint, error=outage("x").error,
                         labels=(LabelResult("urgency", 0, 0, 30, False, "", outcome="deployed", new_version="v2"),))
    runner._hand_on(deployed)
    assert len(heard) == 5  # the same outage, but a label deployed in that cycle: news
