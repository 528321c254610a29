"""A local stand-in for the few GitHub REST endpoints ``orchestrator.remote.github`` calls: ``GitHubStub``.

A real HTTP/1.1 server on ``127.0.0.1`` (random port; standard library only, one lock), optionally
under a path ``prefix`` (GitHub Enterprise Server serves its API under ``/api/v3``):

* ``GET /repos/{owner}/{repo}/actions/workflows/{id or file name}`` -> the workflow (``id``, ``name``,
  ``path``, ``state``).
* ``POST .../actions/workflows/{wf}/dispatches`` with ``{"ref", "inputs", "return_run_details"}``: as
  GitHub, 422 for an undeclared input (``Unexpected inputs provided: [...]``), a missing required one,
  an unknown ref, a workflow without ``workflow_dispatch`` or a disabled one. It creates a run
  (``queued``) whose ``display_title`` is the workflow's ``run_name`` template resolved
  (``${{ inputs.X }}``, ``${{ github.event.inputs.X }}``, ``${{ github.ref_name }}``), else its name,
  then answers ``200 {"workflow_run_id", "run_url", "html_url"}`` when asked for run details, else 204.
  ``run_details``: ``"returned"`` (github.com), ``"ignored"`` (an older GHES: always 204) or
  ``"rejected"`` (GHES 3.19: 422 ``"return_run_details" is not a permitted key.``).
* ``POST /repos/{owner}/{repo}/dispatches`` (``repository_dispatch``: ``{"event_type", "client_payload"}``) -> 204;
  a read token gets 403, a missing ``event_type`` 422.
* ``GET .../actions/workflows/{wf}/runs`` (``event``, ``created=>=ISO``, ``status``, ``per_page``;
  newest first), ``GET .../actions/runs/{id}``, ``GET .../actions/runs/{id}/jobs``,
  ``GET .../actions/runs/{id}/timing`` (``billable`` per runner OS with ``total_ms``, ``jobs`` and ``job_runs``,
  and ``run_duration_ms``: as ``set_timing`` says, else nothing billable and the run's age).

Auth: ``Authorization: Bearer|token <t>``; ``tokens`` maps a token to ``"write"`` or ``"read"``. An
unknown token is 401 ``Bad credentials``; no token is 404 (every repository is private); a read token
dispatching is 403 ``Resource not accessible by personal access token``.

Test hooks: ``finish_run`` / ``start_run`` (queued -> in_progress -> completed with a conclusion), ``set_timing``,
``on_dispatch(callback)``, ``fail`` (queue a reply for the next N matching requests), ``slow`` (handle
the request, then wait before answering: a client read timeout after the run exists), ``redirect``;
``requests`` records every request with its headers (``host`` among them) and status; ``runs()``.
"""

from __future__ import annotations

import http.server
import json
import re
import socketserver
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, unquote

DOCS = "https://docs.github.com/rest"
_TEMPLATE = re.compile(r"\$\{\{\s*(?:github\.event\.)?(inputs\.[A-Za-z_][\w-]*|github\.ref_name)\s*\}\}")
_REPO_DISPATCH = re.compile(r"^/repos/([^/]+)/([^/]+)/dispatches$")  # repository_dispatch
_ROUTE = re.compile(r"^/repos/([^/]+)/([^/]+)/actions/(?:workflows/([^/]+)(/dispatches|/runs)?|runs/(\d+)(/jobs|/timing)?)$")


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str  # without the query string, with the prefix
    query: dict[str, list[str]]
    headers: dict[str, str]  # names lower-cased
    body: Any  # parsed JSON, or the raw bytes
    status: int


@dataclass
class _Rule:
    method: str  # "*" for any
    pattern: re.Pattern[str]
    times: int
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    seconds: float = 0.0


@dataclass
class StubWorkflow:
    id: int
    repo: str
    file: str
    name: str
    inputs: dict[str, dict[str, Any]]  # name -> {"required": bool, "default": str}
    run_name: str | None
    state: str = "active"
    dispatchable: bool = True
    refs: tuple[str, ...] = ("main",)


class GitHubStub:
    def __init__(self, tokens: dict[str, str] | None = None, *, prefix: str = "", run_details: str = "returned") -> None:
        self.tokens = dict(tokens or {})
        self.prefix = prefix.rstrip("/")
        self.run_details = run_details
        self.requests: list[Recorded] = []
        self.callback_errors: list[BaseException] = []
        self._lock = threading.RLock()
        self._workflows: list[StubWorkflow] = []
        self._runs: dict[int, dict[str, Any]] = {}
        self._jobs: dict[int, list[dict[str, Any]]] = {}
        self._timing: dict[int, dict[str, Any]] = {}
        self._rules: dict[str, list[_Rule]] = {"fail": [], "slow": [], "redirect": []}
        self._on_dispatch: list[Callable[[GitHubStub, dict[str, Any]], None]] = []
        self._next_id = 1000
        self._server: http.server.ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> GitHubStub:
        if self._server is None:
            server = _Server(("127.0.0.1", 0), _Handler)
            server.stub = self
            self._server = server
            threading.Thread(target=server.serve_forever, args=(0.05,), name="GitHubStub", daemon=True).start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def __enter__(self) -> GitHubStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "GitHubStub is not started"
        return self._server.server_address[1]

    def url_for(self, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{self.prefix}"

    @property
    def url(self) -> str:
        """The API URL (``GITHUB_API_URL``), prefix included."""
        return self.url_for()

    # ------------------------------------------------------------------ setup
    def add_workflow(
        self,
        repo: str,
        file: str,
        *,
        inputs: dict[str, dict[str, Any]] | list[str] | tuple[str, ...] = (),
        run_name: str | None = None,
        name: str | None = None,
        state: str = "active",
        dispatchable: bool = True,
        refs: tuple[str, ...] = ("main",),
    ) -> int:
        """Declare ``.github/workflows/{file}`` of ``repo``; ``inputs`` as names or name -> {required, default}."""
        declared = {n: {} for n in inputs} if isinstance(inputs, (list, tuple)) else {n: dict(v) for n, v in inputs.items()}
        with self._lock:
            self._next_id += 1
            self._workflows.append(StubWorkflow(self._next_id, repo, file, name or file, declared, run_name, state, dispatchable, refs))
            return self._next_id

    def on_dispatch(self, callback: Callable[[GitHubStub, dict[str, Any]], None]) -> None:
        """Call ``callback(stub, run)`` after each dispatch creates its run, before the answer is sent."""
        with self._lock:
            self._on_dispatch.append(callback)

    def start_run(self, run_id: int) -> None:
        with self._lock:
            self._runs[run_id].update(status="in_progress", run_started_at=_now())

    def finish_run(self, run_id: int, conclusion: str = "success", *, failed_steps: dict[str, str] | None = None) -> None:
        """Complete a run; ``failed_steps`` (job -> step) become failed jobs, beside one successful ``setup`` job."""
        with self._lock:
            self._runs[run_id].update(status="completed", conclusion=conclusion, updated_at=_now())
            jobs = [_job(run_id, "setup", "success", [("Set up job", "success")])]
            for job, step in (failed_steps or {}).items():
                jobs.append(_job(run_id, job, "failure", [("Set up job", "success"), (step, "failure")]))
            self._jobs[run_id] = jobs

    def set_timing(self, run_id: int, billable: dict[str, int | list[int]], *, run_duration_ms: int | None = None) -> None:
        """What ``GET .../runs/{id}/timing`` answers: per runner OS (``UBUNTU``...) its jobs' billable ms (one
        number: one job), and the run's duration (default: the sum)."""
        with self._lock:
            systems = {}
            for system, spent in billable.items():
                jobs = [spent] if isinstance(spent, int) else list(spent)
                systems[system] = {"total_ms": sum(jobs), "jobs": len(jobs),
                                   "job_runs": [{"job_id": i, "duration_ms": ms} for i, ms in enumerate(jobs, 1)]}
            total = sum(s["total_ms"] for s in systems.values())
            self._timing[run_id] = {"billable": systems, "run_duration_ms": total if run_duration_ms is None else run_duration_ms}

    def fail(self, method: str, path_pattern: str, status: int, *, times: int = 1, headers: dict[str, str] | None = None,
             body: Any = None) -> None:
        """Answer the next ``times`` matching requests (``re.search`` on the path) with this reply instead;
        ``body`` None means GitHub's ``{"message": <phrase>}``."""
        with self._lock:
            self._rules["fail"].append(_Rule(method.upper(), re.compile(path_pattern), times, status, dict(headers or {}), body))

    def slow(self, method: str, path_pattern: str, seconds: float, *, times: int = 1) -> None:
        """Handle the next ``times`` matching requests normally, then wait ``seconds`` before answering."""
        with self._lock:
            self._rules["slow"].append(_Rule(method.upper(), re.compile(path_pattern), times, seconds=seconds))

    def redirect(self, method: str, path_pattern: str, location: str, *, status: int = 301, times: int = 1) -> None:
        with self._lock:
            self._rules["redirect"].append(_Rule(method.upper(), re.compile(path_pattern), times, status, {"Location": location}))

    # ------------------------------------------------------------------ inspection
    def runs(self, repo: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._runs.values() if repo is None or r["repository"] == repo]

    def dispatches(self) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.method == "POST" and r.path.endswith("/dispatches")]

    # ------------------------------------------------------------------ handling
    def _take(self, kind: str, method: str, path: str) -> _Rule | None:
        rules = self._rules[kind]
        for rule in rules:
            if rule.method in ("*", method) and rule.pattern.search(path):
                rule.times -= 1
                if rule.times <= 0:
                    rules.remove(rule)
                return rule
        return None

    def _handle(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: Any):
        with self._lock:
            fault, slow, moved = (self._take(k, method, path) for k in ("fail", "slow", "redirect"))
        if fault is not None:
            payload = fault.body if fault.body is not None else {"message": HTTPStatus(fault.status).phrase}
            return fault.status, fault.headers, payload, 0.0
        if moved is not None:
            return moved.status, moved.headers, None, 0.0
        scheme, _, token = (headers.get("authorization") or "").partition(" ")
        access = self.tokens.get(token.strip()) if scheme.lower() in ("bearer", "token") else None
        if "authorization" in headers and access is None:
            return 401, {}, _msg("Bad credentials"), 0.0
        if path.startswith(self.prefix) and _REPO_DISPATCH.match(path[len(self.prefix):]) and method == "POST":
            if access is None:
                return 404, {}, _msg("Not Found"), 0.0
            if access != "write":
                return 403, {}, _msg("Resource not accessible by personal access token"), 0.0
            event_type = body.get("event_type") if isinstance(body, dict) else None
            if not isinstance(event_type, str) or not event_type or len(event_type) > 100:
                return 422, {}, _msg("Invalid request.\n\nFor 'properties/event_type', nil is not a string."), 0.0
            return 204, {}, None, 0.0
        if not path.startswith(self.prefix) or not (m := _ROUTE.match(path[len(self.prefix):])):
            return 404, {}, _msg("Not Found"), 0.0
        if access is None:
            return 404, {}, _msg("Not Found"), 0.0  # GitHub hides private repositories
        repo, wf_ref, action, run_id, jobs = f"{unquote(m[1])}/{unquote(m[2])}", m[3] and unquote(m[3]), m[4], m[5], m[6]
        callbacks: list[Callable[[GitHubStub, dict[str, Any]], None]] = []
        with self._lock:
            status, payload, created = self._route(method, repo, wf_ref, action, run_id, jobs, query, access, body)
            if created is not None:
                callbacks = list(self._on_dispatch)
        for callback in callbacks:
            try:
                callback(self, created)
            except BaseException as exc:  # noqa: BLE001 - reported to the test
                self.callback_errors.append(exc)
        return status, {}, payload, slow.seconds if slow else 0.0

    def _route(self, method, repo, wf_ref, action, run_id, jobs, query, access, body):
        if run_id is not None:
            run = self._runs.get(int(run_id))
            if method != "GET" or run is None or run["repository"] != repo:
                return 404, _msg("Not Found"), None
            if jobs == "/timing":
                return 200, self._timing.get(run["id"]) or {"billable": {}, "run_duration_ms": _age_ms(run)}, None
            return 200, ({"total_count": len(self._jobs.get(run["id"], [])), "jobs": self._jobs.get(run["id"], [])} if jobs else run), None
        wf = next((w for w in self._workflows if w.repo == repo and wf_ref in (str(w.id), w.file)), None)
        if wf is None:
            return 404, _msg("Not Found"), None
        if action is None and method == "GET":
            return 200, {"id": wf.id, "name": wf.name, "path": f".github/workflows/{wf.file}", "state": wf.state}, None
        if action == "/runs" and method == "GET":
            return 200, self._list(wf, query), None
        if action != "/dispatches" or method != "POST":
            return 404, _msg("Not Found"), None
        if access != "write":
            return 403, _msg("Resource not accessible by personal access token"), None
        return self._dispatch(wf, body if isinstance(body, dict) else {})

    def _list(self, wf: StubWorkflow, query: dict[str, list[str]]) -> dict[str, Any]:
        runs = [r for r in self._runs.values() if r["workflow_id"] == wf.id]
        if "event" in query:
            runs = [r for r in runs if r["event"] == query["event"][0]]
        if "status" in query:
            runs = [r for r in runs if query["status"][0] in (r["status"], r["conclusion"])]
        if "created" in query:
            since = query["created"][0]
            assert since.startswith(">="), f"the stub understands created=>=ISO only, not {since!r}"
            runs = [r for r in runs if r["created_at"] >= since[2:]]
        runs.sort(key=lambda r: r["id"], reverse=True)
        return {"total_count": len(runs), "workflow_runs": runs[: int(query.get("per_page", ["30"])[0])]}

    def _dispatch(self, wf: StubWorkflow, body: dict[str, Any]):
        extra = sorted(set(body) - {"ref", "inputs", "return_run_details"})
        if self.run_details == "rejected" and "return_run_details" in body:
            extra.insert(0, "return_run_details")
        if extra:
            return 422, _msg("Invalid request.\n\n" + " ".join(f'"{k}" is not a permitted key.' for k in extra)), None
        ref, inputs = str(body.get("ref") or ""), dict(body.get("inputs") or {})
        if not wf.dispatchable:
            return 422, _msg("Workflow does not have 'workflow_dispatch' trigger"), None
        if wf.state != "active":
            return 422, _msg("Cannot trigger a 'workflow_dispatch' on a disabled workflow"), None
        if ref.removeprefix("refs/heads/").removeprefix("refs/tags/") not in wf.refs:
            return 422, _msg(f"No ref found for: {ref}"), None
        unexpected = sorted(set(inputs) - set(wf.inputs))
        if unexpected:
            return 422, _msg(f"Unexpected inputs provided: {json.dumps(unexpected)}"), None
        missing = [n for n, spec in wf.inputs.items() if spec.get("required") and n not in inputs and "default" not in spec]
        if missing:
            return 422, _msg(f"Required input '{missing[0]}' not provided"), None
        values = {n: str(inputs.get(n, spec.get("default", ""))) for n, spec in wf.inputs.items()}
        self._next_id += 1
        run_id = self._next_id
        title = _TEMPLATE.sub(lambda m: values.get(m[1][7:], "") if m[1].startswith("inputs.") else ref, wf.run_name) if wf.run_name else wf.name
        api = f"{self.url}/repos/{wf.repo}/actions/runs/{run_id}"
        run = {
            "id": run_id, "name": wf.name, "display_title": title, "event": "workflow_dispatch", "status": "queued",
            "conclusion": None, "workflow_id": wf.id, "path": f".github/workflows/{wf.file}", "head_branch": ref,
            "repository": wf.repo, "inputs": values, "url": api, "created_at": _now(), "updated_at": _now(),
            "html_url": f"http://github.example/{wf.repo}/actions/runs/{run_id}",
        }
        self._runs[run_id] = run
        if body.get("return_run_details") and self.run_details == "returned":
            return 200, {"workflow_run_id": run_id, "run_url": api, "html_url": run["html_url"]}, dict(run)
        return 204, None, dict(run)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _age_ms(run: dict[str, Any]) -> int:
    """From the run's creation to its last update, in ms (the timestamps have whole seconds)."""
    created, updated = (datetime.strptime(run[k], "%Y-%m-%dT%H:%M:%SZ") for k in ("created_at", "updated_at"))
    return int((updated - created).total_seconds() * 1000)


def _msg(message: str) -> dict[str, str]:
    return {"message": message, "documentation_url": DOCS}


def _job(run_id: int, name: str, conclusion: str, steps: list[tuple[str, str]]) -> dict[str, Any]:
    return {"run_id": run_id, "name": name, "status": "completed", "conclusion": conclusion,
            "steps": [{"name": s, "number": i, "status": "completed", "conclusion": c} for i, (s, c) in enumerate(steps, 1)]}


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    stub: GitHubStub

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # skip getfqdn(): reverse DNS can stall
        self.server_name, self.server_port = "127.0.0.1", self.server_address[1]

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hanging up (timeout tests) are expected


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        path, _, query = self.path.partition("?")
        headers = {k.lower(): v for k, v in self.headers.items()}
        stub = self.server.stub
        status, extra, payload, wait = stub._handle(self.command, path, parse_qs(query), headers, body)
        with stub._lock:
            stub.requests.append(Recorded(self.command, path, parse_qs(query), headers, body, status))
        data = b"" if payload is None else json.dumps(payload).encode()
        time.sleep(wait)
        try:
            self.send_response(status)
            for name, value in {"Content-Type": "application/json; charset=utf-8", **extra}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve
