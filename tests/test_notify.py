"""Notifications through apprise, against a real local HTTP receiver (apprise's json:// plugin)."""

from __future__ import annotations

import io
import json
import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pydantic import ValidationError

from orchestrator import redact
from orchestrator.config.notify import EVENTS, NotifyConfig
from orchestrator.report import notify as notify_module
from orchestrator.report.notify import INSTALL, events_of, notify
from orchestrator.report.reporter import Reporter
from orchestrator.report.results import LabelResult, RunResult

GITHUB = {"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "owner/repo", "GITHUB_RUN_ID": "4242"}
RUN_LINK = "https://github.com/owner/repo/actions/runs/4242"


class Receiver:
    """A ThreadingHTTPServer on 127.0.0.1 that records every POST; ``status`` sets its answer, ``trickle`` makes
    it answer one header byte at a time, forever (a receiver that hangs without ever timing out a read)."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.status = 200
        self.trickle = False
        self.stop = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.received.append({"path": self.path, "headers": dict(self.headers), "raw": body.decode(),
                                          "json": json.loads(body)})
                if receiver.trickle:
                    self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                    while not receiver.stop.wait(0.2):
                        self.wfile.write(b"a")
                        self.wfile.flush()
                    return
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook", auth: str = "") -> str:
        return f"json://{auth}127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def reporter() -> tuple[Reporter, io.StringIO]:
    out = io.StringIO()
    return Reporter({}, stream=out), out


def warnings(out: io.StringIO) -> list[str]:
    return [line for line in out.getvalue().splitlines() if "WARNING:" in line]


def label(name: str = "urgency", **changes) -> LabelResult:
    return LabelResult(name, 40, 60, 30, True, "r", decision="prepare", **changes)


def run(*labels: LabelResult, dry_run: bool = False, **changes) -> RunResult:
    return RunResult(started_at="2025-05-01T10:00:00Z", finished_at="2025-05-01T10:05:00Z", dry_run=dry_run,
                     labels=labels, **changes)


DEPLOYED = label("urgency", outcome="deployed", old_version="v12", new_version="v13", metric=0.81234,
                 metric_name="macro_f1", retrain_ref="job-77", retrain_reason="macro_f1 0.8123 beats deployed 0.7900")
DEPLOYED_TITLE = "orchestrator: urgency deployed (macro_f1 0.8123)"
FAILED = label("department", outcome="failed", old_version="d3", new_version="d4", retrain_ref="job-78",
               error="the retrain job exited with code 1", hint="read the retrain job's logs, fix, and run again")


# ------------------------------------------------------------------------------------------- messages (pure)
def test_events_of_turns_each_outcome_into_its_message():
    result = run(
        DEPLOYED, FAILED,
        label("topic", outcome="timed out", error="no new dataset after 600s", hint="raise POLL_TIMEOUT"),
        label("region", outcome="expired", error="no new dataset 1200s after prepare was requested"),
        label("lang", outcome="rejected", retrain_reason="challenger 0.70 < deployed 0.75"),
        label("a", outcome="skipped"), label("b", outcome="pending"), label("c", outcome="retraining"),
        error="database unreachable", hint="check DATABASE_URL",
    )
    notes = {n.label: n for n in events_of(result, GITHUB)}
    assert set(notes) == {None, "urgency", "department", "topic", "region", "lang"}
    assert [(n.event, n.level) for n in notes.values()] == [
        ("run_failed", "failure"), ("deployed", "success"), ("label_failed", "failure"), ("timed_out", "warning"),
        ("prepare_expired", "warning"), ("rejected", "info")]
    deployed, failed = notes["urgency"], notes["department"]
    assert deployed.title == DEPLOYED_TITLE
    assert "macro_f1 0.8123" in deployed.body and "Dataset version: v13 (was v12)" in deployed.body
    assert failed.title == "orchestrator: department retrain failed"
    assert "Error: the retrain job exited with code 1" in failed.body
    assert "What to do: read the retrain job's logs, fix, and run again" in failed.body
    assert "What to do: raise POLL_TIMEOUT" in notes["topic"].body
    assert "Why: challenger 0.70 < deployed 0.75" in notes["lang"].body
    assert "The run stopped: database unreachable" in notes[None].body and "check DATABASE_URL" in notes[None].body
    assert all(n.body.endswith(f"Run: {RUN_LINK}") for n in notes.values())
    assert all("Run:" not in n.body for n in events_of(result, {}))  # not under GitHub Actions: no link


def test_a_model_awaiting_approval_is_a_warning_that_gives_the_promote_command():
    waiting = label("urgency", outcome="awaiting approval", new_version="v13", retrain_reason=(
        "accepted: pooled +0.01; to deploy it: orchestrator promote --label urgency --version v13"))
    (note,) = events_of(run(waiting), {})
    assert (note.event, note.level, note.title) == ("awaiting_approval", "warning", "orchestrator: urgency awaiting approval")
    assert "awaits your approval" in note.body
    assert "Why: accepted: pooled +0.01; to deploy it: orchestrator promote --label urgency --version v13" in note.body


def test_a_dry_run_sends_nothing(receiver):
    result = run(FAILED, dry_run=True, error="would fail")
    assert events_of(result, GITHUB) == []
    rep, out = reporter()
    assert notify(result, NotifyConfig(urls=[receiver.url()]), rep, GITHUB) == 0
    assert receiver.received == [] and out.getvalue() == ""


# ------------------------------------------------------------------------------------------- configuration
def test_config_parses_strings_and_names_valid_events():
    config = NotifyConfig(urls="json://h:1/a, mailto://u:pw@example.org?to=a@x.org,b@y.org\nslack://T1/B2/C3",
                          events="deployed, label_failed")
    assert config.urls == ("json://h:1/a", "mailto://u:pw@example.org?to=a@x.org,b@y.org", "slack://T1/B2/C3")
    assert config.events == ("deployed", "label_failed")
    assert NotifyConfig().events == EVENTS and NotifyConfig().urls == ()
    with pytest.raises(ValidationError, match="unknown notification event 'deploy'; valid events: run_failed, "
                                              "label_failed, timed_out, prepare_expired, deployed, rejected"):
        NotifyConfig(events=["deploy"])
    with pytest.raises(ValidationError) as info:
        NotifyConfig(urls=["json://h:1/a", "hooks.example.org/Tok3nNotAUrl99"])
    assert "URL #2 is not an apprise URL" in str(info.value) and "Tok3nNotAUrl99" not in str(info.value)


def test_url_secrets_are_registered_as_soon_as_the_config_is_validated():
    NotifyConfig(urls="discord://112233445566/WebhookTok3nZZZZ json://user:pw-Z9secret@127.0.0.1:1/x")
    text = redact.redact("discord://112233445566/WebhookTok3nZZZZ said WebhookTok3nZZZZ; pw-Z9secret")
    assert "WebhookTok3nZZZZ" not in text and "pw-Z9secret" not in text
    assert "WebhookTok3nZZZZ" not in repr(NotifyConfig(urls="discord://112233445566/WebhookTok3nZZZZ"))


# ------------------------------------------------------------------------------------------- delivery
def test_deployed_and_failed_labels_reach_the_receiver_in_one_message(receiver):
    result = run(DEPLOYED, FAILED, exit_code=1)
    rep, out = reporter()
    assert notify(result, NotifyConfig(urls=[receiver.url()]), rep, GITHUB) == 1
    assert warnings(out) == []
    [message] = receiver.received
    payload = message["json"]
    assert message["path"] == "/hook" and payload["type"] == "failure"  # the most severe notification wins
    assert payload["title"] == "orchestrator: urgency deployed (macro_f1 0.8123); department retrain failed"
    body = payload["message"]
    assert "Label urgency: the retrain deployed a new model (macro_f1 0.8123)." in body
    assert "Dataset version: v13 (was v12)" in body and "Retrain: job-77" in body
    assert "Label department: the retrain run failed." in body
    assert "What to do: read the retrain job's logs, fix, and run again" in body
    assert body.count(RUN_LINK) == 1 and body.endswith(f"Run: {RUN_LINK}")


def test_events_filter_what_is_sent(receiver):
    rep, out = reporter()
    only_deployed = NotifyConfig(urls=[receiver.url()], events="deployed")
    assert notify(run(FAILED), only_deployed, rep, GITHUB) == 0
    assert receiver.received == []
    assert notify(run(DEPLOYED, FAILED), only_deployed, rep, GITHUB) == 1
    [message] = receiver.received
    assert message["json"]["type"] == "success" and "department" not in message["raw"]
    assert message["json"]["title"] == DEPLOYED_TITLE and message["json"]["message"].endswith(f"Run: {RUN_LINK}")
    assert NotifyConfig(urls=[receiver.url()], events=()).events == ()
    assert notify(run(DEPLOYED), NotifyConfig(urls=[receiver.url()], events=()), rep, GITHUB) == 0
    assert len(receiver.received) == 1 and warnings(out) == []


def test_a_receiver_answering_500_is_a_warning_and_the_run_stands(receiver):
    receiver.status = 500
    result = run(FAILED, exit_code=1)
    before = result.to_dict()
    rep, out = reporter()
    assert notify(result, NotifyConfig(urls=[receiver.url(), receiver.url("/second")]), rep, GITHUB) == 0
    assert len(receiver.received) == 2
    found = warnings(out)
    assert len(found) == 2 and all("json:// receiver did not take the notification" in w for w in found)
    assert all("500" in w for w in found)
    assert result.to_dict() == before and result.exit_code == 1


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_receiver_is_a_warning_within_the_timeout(receiver):
    silent = socket.socket()  # accepts connections (the kernel's backlog) but never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        urls = [f"json://127.0.0.1:{_closed_port()}/x", f"json://127.0.0.1:{silent.getsockname()[1]}/x", receiver.url()]
        rep, out = reporter()
        started = time.monotonic()
        assert notify(run(FAILED), NotifyConfig(urls=urls, timeout=1), rep, GITHUB) == 1  # the good one still gets it
        assert time.monotonic() - started < 1 + notify_module.GRACE + 0.5
    finally:
        silent.close()
    found = warnings(out)
    # both refused by apprise itself, within its socket timeout (not abandoned at the deadline)
    assert len(found) == 2 and all("json:// receiver did not take the notification" in w for w in found)
    assert len(receiver.received) == 1


def test_a_receiver_that_never_finishes_answering_is_given_up_on(receiver):
    receiver.trickle = True  # every read gets a byte, so no socket timeout ever fires: only the deadline helps
    rep, out = reporter()
    started = time.monotonic()
    assert notify(run(FAILED), NotifyConfig(urls=[receiver.url()], timeout=1), rep, GITHUB) == 0
    assert time.monotonic() - started < 1 + notify_module.GRACE + 0.5
    [warning] = warnings(out)
    assert "json:// receiver did not answer within 2s; gave up on it" in warning


# ------------------------------------------------------------------------------------------- secrets, logging
def test_secrets_never_reach_the_receiver_the_warnings_or_the_logs(receiver, capfd):
    token = "tok-notify-SECRET-4711"
    redact.register(token)
    password = "pw-notify-S3CRET"
    broken = "discord://only-one-part-Tok3nABCDEF"  # apprise cannot use it: a webhook id and token are required
    records: list[logging.LogRecord] = []
    root = logging.getLogger()
    handler = logging.Handler(logging.DEBUG)
    handler.emit = records.append  # type: ignore[method-assign]
    root.addHandler(handler)
    old_level, root.level = root.level, logging.DEBUG
    try:
        config = NotifyConfig(urls=[receiver.url(auth=f"user:{password}@"), broken])
        failed = label("department", outcome="failed", error=f"the Hub refused token {token}",
                       hint=f"the token {token} may lack write access")
        rep, out = reporter()
        assert notify(run(failed), config, rep, GITHUB) == 1
        receiver.status = 500
        assert notify(run(failed), config, rep, GITHUB) == 0
    finally:
        root.removeHandler(handler)
        root.level = old_level
    assert len(receiver.received) == 2
    for message in receiver.received:
        assert token not in message["raw"] and password not in message["raw"] and "***" in message["raw"]
        assert message["headers"]["Authorization"].startswith("Basic ")  # the password went where it belongs
    found = warnings(out)
    assert sum("apprise cannot use the discord:// notification URL" in w for w in found) == 2
    assert any("json:// receiver did not take the notification" in w for w in found)
    captured = capfd.readouterr()
    everything = out.getvalue() + captured.out + captured.err + "".join(r.getMessage() for r in records)
    for secret in (token, password, "only-one-part", "Tok3nABCDEF"):
        assert secret not in everything
    assert not [r for r in records if r.name.startswith("apprise")]  # apprise's lines never reach the host's logs


def test_without_apprise_one_clear_warning(monkeypatch, receiver):
    monkeypatch.setitem(sys.modules, "apprise", None)  # "import apprise" now raises ImportError
    rep, out = reporter()
    assert notify(run(FAILED, DEPLOYED), NotifyConfig(urls=[receiver.url(), receiver.url("/b")]), rep, GITHUB) == 0
    [warning] = warnings(out)
    assert "apprise is not installed" in warning and INSTALL in warning
    assert receiver.received == []
    rep, out = reporter()
    assert notify(run(FAILED), NotifyConfig(), rep, GITHUB) == 0 and out.getvalue() == ""  # nothing configured


def test_apprise_is_imported_only_to_send():
    code = ("import sys; from orchestrator.report import notify as n; from orchestrator.config.notify import NotifyConfig; "
            "from orchestrator.report.results import RunResult, LabelResult;"
            "r = RunResult('a', 'b', False, (LabelResult('x', 1, 1, 1, True, 'r', outcome='failed', error='e'),));"
            "n.events_of(r, {}); n.notify(r, NotifyConfig(), None, {}); print('apprise' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_apprise_log_lines_quoted_in_warnings_lose_their_urls():
    notify_module._quiet_apprise()
    logging.getLogger("apprise").warning("Could not reach discord://1234/SomeWebhookTok: %s", "refused")
    assert notify_module._KEPT.take() == "Could not reach discord://…: refused"
    assert notify_module._KEPT.take() is None  # taken once, per thread


def test_orchestrator_run_notifies_a_deploy_and_a_failure_end_to_end(receiver, tmp_path, sqlite_url):
    """The wiring: NOTIFY_URLS reaches ``orchestrator run``, which sends one message when the run ends;
    a receiver that fails later changes nothing about the run's exit code."""
    from conftest import run_cli, seed_feedback
    from test_outcomes import write_config

    seed_feedback(sqlite_url, {"department": 40, "urgency": 40})
    config = write_config(tmp_path, sqlite_url, {"department": "deployed", "urgency": "crash"})
    done = run_cli({"NOTIFY_URLS": receiver.url("/ops", auth="user:s3cretpass@"), **GITHUB}, "run", "--config", str(config))
    assert done.returncode == 1, done.stderr
    (message,) = receiver.received
    body = message["json"]["message"]
    assert "urgency" in message["json"]["title"] and "department" in message["json"]["title"]
    assert "Label department: the retrain deployed a new model (macro_f1 0.8123)" in body
    assert "Label urgency" in body and "exited with status 3" in body and "What to do:" in body
    assert RUN_LINK in body
    assert "s3cretpass" not in done.stderr + done.stdout + json.dumps(message["json"])

    receiver.status = 500  # the next run's notification fails: a warning, and the run's result stands
    seed_feedback(sqlite_url, {"department": 40})
    again = run_cli({"NOTIFY_URLS": receiver.url("/ops"), "NOTIFY_EVENTS": "label_failed"}, "run", "--config", str(config))
    assert again.returncode == 1  # urgency's retrain fails again (a command is retried), as before
    assert "notify" in again.stderr and "did not take the notification" in again.stderr



def test_a_failed_retrain_says_its_log_tail_once(receiver, tmp_path, sqlite_url, stub):
    """An HF Job that ends in error: the tail of its logs is the label's error, and the notification, the job
    summary and ``history`` say it once."""
    from conftest import run_cli, seed_feedback
    from test_launch_hfjobs import Jobs, env, write_config

    seed_feedback(sqlite_url, {"department": 40})
    stub.on_job(Jobs({"department": "error"}), delay=0.2)
    config = write_config(tmp_path, sqlite_url, labels=("department",))
    summary = tmp_path / "summary.md"
    done = run_cli(env(stub, NOTIFY_URLS=receiver.url(), GITHUB_STEP_SUMMARY=str(summary)), "run", "--config", str(config))
    assert done.returncode == 1, done.stderr
    (message,) = receiver.received
    body = message["json"]["message"]
    assert "Error: the retrain on department-v2 failed: HF Job" in body and "ended ERROR: exit code 1" in body
    assert body.count("CUDA out of memory") == 1, body
    assert summary.read_text().count("CUDA out of memory") == 1
    history = run_cli(env(stub), "history", "--config", str(config))
    assert history.returncode == 0 and history.stdout.count("CUDA out of memory") <= 1
