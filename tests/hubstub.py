"""A local, in-process stand-in for the Hugging Face Hub HTTP API.

``HubStub`` runs a real HTTP/1.1 server on ``127.0.0.1`` (random port) so that the
*real* ``huggingface_hub`` client can be pointed at it with
``HfApi(endpoint=stub.url)`` or ``HF_ENDPOINT``. It emulates the small part of the
Hub the project talks to, with the status codes and headers the client parses:

* ``POST /api/spaces/{owner}/{name}/restart[?factory=true]`` and ``.../pause`` and
  ``GET /api/spaces/{owner}/{name}/runtime`` -> Space runtime JSON
  (as parsed by ``huggingface_hub.SpaceRuntime``). After a restart the Space is
  ``BUILDING`` for ``build_seconds`` and then ``RUNNING`` (derived lazily from
  timestamps, no background thread).
* ``GET``/``HEAD /{datasets/|spaces/|}{repo_id}/resolve/{revision}/{path}`` -> file
  bytes with ``ETag`` (quoted sha256 of the content), ``X-Repo-Commit`` and
  ``Content-Length``; ``If-None-Match`` on the current ETag -> ``304``.
* ``GET /api/whoami-v2``.

Errors carry a JSON body ``{"error": message}`` plus ``X-Error-Message``, and
``X-Error-Code`` (``RepoNotFound`` / ``RevisionNotFound`` / ``EntryNotFound``) where
the Hub sets one, so ``huggingface_hub.utils.hf_raise_for_status`` raises the same
typed errors as against huggingface.co. Every response has an ``X-Request-Id``.

Auth: ``Authorization: Bearer <token>``. A token not in ``tokens`` gets ``401
Invalid credentials in Authorization header`` on every route. Without a token,
public reads work, private repos answer ``401`` + ``RepoNotFound`` and Space
restart/pause answer ``401``. A valid token of another user sees private repos as
``404 RepoNotFound`` and gets ``403`` on restart/pause.

Test hooks: ``fail`` (queued faults that replace the real handling), ``delay``,
``redirect``, ``on_restart`` callbacks, ``set_stage``; every request is recorded
in ``requests``. Standard library only; all state is guarded by one lock.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import re
import socket
import socketserver
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http import HTTPStatus
from typing import Any, Callable
from urllib.parse import unquote

INVALID_CREDENTIALS = "Invalid credentials in Authorization header"
_PREFIX_TO_TYPE = {"datasets": "dataset", "spaces": "space"}
_SPACE_ACTION = re.compile(r"^/api/spaces/([^/]+)/([^/]+)/(restart|pause|runtime)$")
_Callback = Callable[["HubStub"], None]


@dataclass(frozen=True)
class Recorded:
    """One request as received by the stub, with the status it was answered with."""

    method: str
    path: str  # raw path, without the query string
    query: str
    headers: dict[str, str]  # header names lower-cased
    body: bytes
    status: int
    time: float  # time.time() when the request line was read


@dataclass
class _Rule:
    """A queued fault / delay / redirect, consumed once per matching request."""

    methods: frozenset[str]  # empty = any method
    pattern: re.Pattern[str]
    times: int
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    seconds: float = 0.0
    location: str = ""

    def matches(self, method: str, path: str) -> bool:
        return (not self.methods or method in self.methods) and self.pattern.search(path) is not None


@dataclass
class _Repo:
    repo_type: str  # "model" | "dataset" | "space"
    repo_id: str
    owner: str
    private: bool
    branches: dict[str, str] = field(default_factory=dict)  # revision -> commit sha
    snapshots: dict[str, dict[str, bytes]] = field(default_factory=dict)  # commit sha -> files
    stage: str = "RUNNING"
    building_until: float | None = None
    restarts: int = 0


@dataclass
class _Reply:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def _json_reply(status: int, payload: Any, headers: dict[str, str] | None = None) -> _Reply:
    return _Reply(status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(payload).encode())


def _error(status: int, message: str, code: str | None = None) -> _Reply:
    headers = {"X-Error-Message": message}
    if code:
        headers["X-Error-Code"] = code
    return _json_reply(status, {"error": message}, headers)


def _etag(content: bytes) -> str:
    return '"' + hashlib.sha256(content).hexdigest() + '"'


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    stub: HubStub

    def server_bind(self) -> None:
        # Skip HTTPServer.server_bind: its socket.getfqdn() can stall on reverse DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "127.0.0.1", self.server_address[1]

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hanging up (e.g. timeout tests) are expected; keep test output clean


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.stub._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.stub._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while (size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)) > 0:
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _handle(self) -> None:
        received = time.time()
        body = self._read_body()
        path, _, query = self.path.partition("?")
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        stub = self.server.stub
        reply = stub._dispatch(self.command, path, headers)
        reply.headers.setdefault("X-Request-Id", uuid.uuid4().hex)
        stub._record(Recorded(self.command, path, query, headers, body, reply.status, received))
        try:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if reply.status != 304 and not any(k.lower() == "content-length" for k in reply.headers):
                self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if self.command != "HEAD" and reply.status != 304:
                self.wfile.write(reply.body)
            self.wfile.flush()
        except OSError:  # the client hung up (timeout tests) or stop() closed the socket
            self.close_connection = True

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _handle


class HubStub:
    """A fake Hugging Face Hub on 127.0.0.1; see the module docstring."""

    build_seconds: float = 0.0

    def __init__(self, tokens: dict[str, str] | None = None) -> None:
        self.tokens: dict[str, str] = dict(tokens or {})
        self.requests: list[Recorded] = []
        self.callback_errors: list[BaseException] = []  # exceptions raised by on_restart callbacks
        self._lock = threading.RLock()
        self._repos: dict[tuple[str, str], _Repo] = {}
        self._faults: list[_Rule] = []
        self._delays: list[_Rule] = []
        self._redirects: list[_Rule] = []
        self._on_restart: dict[str, list[tuple[_Callback, float]]] = {}
        self._timers: list[threading.Timer] = []
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._commit_counter = 0

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> HubStub:
        """Bind 127.0.0.1 on a free port and serve from a daemon thread."""
        if self._server is None:
            server = _Server(("127.0.0.1", 0), _Handler)
            server.stub = self
            self._server = server
            threading.Thread(target=server.serve_forever, args=(0.05,), name="HubStub", daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving, cancel pending callbacks and close kept-alive connections."""
        server, self._server = self._server, None
        with self._lock:
            timers, self._timers = self._timers, []
            connections = list(self._connections)
        for timer in timers:
            timer.cancel()
        if server is not None:
            server.shutdown()
            server.server_close()
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self) -> HubStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def host(self) -> str:
        if self._server is None:
            raise RuntimeError("HubStub is not started")
        return f"127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    # ------------------------------------------------------------------ repos
    def add_space(self, repo_id: str, *, owner: str | None = None, stage: str = "RUNNING", private: bool = False) -> None:
        """Create (or replace) a Space; only a token of ``owner`` may restart/pause it."""
        with self._lock:
            repo = self._new_repo("space", repo_id, private)
            repo.owner = owner if owner is not None else repo.owner
            repo.stage = stage

    def add_dataset(self, repo_id: str, *, private: bool = False) -> None:
        """Create (or replace) an empty dataset repo (one initial commit on ``main``)."""
        with self._lock:
            self._new_repo("dataset", repo_id, private)

    def put_file(
        self, repo_id: str, path: str, content: bytes | str, *, repo_type: str = "dataset", revision: str = "main"
    ) -> None:
        """Commit one file to ``revision`` (creating repo/revision if needed); each call is a new commit."""
        data = content.encode() if isinstance(content, str) else bytes(content)
        with self._lock:
            repo = self._repos.get((repo_type, repo_id)) or self._new_repo(repo_type, repo_id, False)
            parent = repo.branches.get(revision) or repo.branches["main"]
            files = {**repo.snapshots[parent], path.lstrip("/"): data}
            repo.branches[revision] = self._commit(repo, files)

    def put_metadata(self, repo_id: str, *, version_tag: str, num_samples: int, **extra: Any) -> dict[str, Any]:
        """Write ``dataset_metadata.json`` at the dataset root; ``extra`` keys override/add. Returns it."""
        train, eval_ = int(num_samples * 0.8), int(num_samples * 0.1)
        metadata: dict[str, Any] = {
            "dataset_name": repo_id,
            "version_tag": version_tag,
            "num_samples": num_samples,
            "splits": {"train": train, "eval": eval_, "test": num_samples - train - eval_},
            "created_at": datetime.now(timezone.utc).isoformat(),
            **extra,
        }
        self.put_file(repo_id, "dataset_metadata.json", json.dumps(metadata, indent=2))
        return metadata

    def metadata_url(self, repo_id: str, path: str = "dataset_metadata.json", revision: str = "main") -> str:
        return f"{self.url}/datasets/{repo_id}/resolve/{revision}/{path}"

    def set_stage(self, repo_id: str, stage: str) -> None:
        with self._lock:
            repo = self._space(repo_id)
            repo.stage, repo.building_until = stage, None

    # ------------------------------------------------------------------ behaviour hooks
    def on_restart(self, repo_id: str, callback: _Callback, *, delay: float = 0.0) -> None:
        """After each successful restart of ``repo_id`` call ``callback(stub)``.

        With ``delay == 0`` it runs synchronously before the restart response is sent,
        otherwise from a timer thread ``delay`` seconds later. Exceptions are collected
        in ``callback_errors``.
        """
        with self._lock:
            self._on_restart.setdefault(repo_id, []).append((callback, delay))

    def fail(
        self,
        method: str,
        path_pattern: str,
        status: int,
        *,
        times: int = 1,
        headers: dict[str, str] | None = None,
        body: bytes | str | None = None,
        delay: float = 0.0,
    ) -> None:
        """Answer the next ``times`` matching requests with this reply instead of handling them.

        ``method`` is an HTTP method or ``"*"``; ``path_pattern`` is ``re.search``-ed on the
        path without query. ``body=None`` means a Hub-style JSON error for 4xx/5xx and an
        empty body otherwise. Content-Type defaults to ``application/json``.
        """
        data = body.encode() if isinstance(body, str) else body
        rule = _Rule(self._methods(method), re.compile(path_pattern), times, status, dict(headers or {}), data, delay)
        with self._lock:
            self._faults.append(rule)

    def delay(self, method: str, path_pattern: str, seconds: float, *, times: int = 1) -> None:
        """Sleep ``seconds`` before handling the next ``times`` matching requests normally."""
        with self._lock:
            self._delays.append(_Rule(self._methods(method), re.compile(path_pattern), times, seconds=seconds))

    def redirect(self, path_pattern: str, location: str, *, status: int = 302, times: int = 1) -> None:
        """Answer the next ``times`` matching GET/HEAD requests with a redirect to ``location``."""
        rule = _Rule(frozenset({"GET", "HEAD"}), re.compile(path_pattern), times, status, location=location)
        with self._lock:
            self._redirects.append(rule)

    # ------------------------------------------------------------------ inspection
    def restarts(self, repo_id: str) -> int:
        with self._lock:
            repo = self._repos.get(("space", repo_id))
            return repo.restarts if repo else 0

    def posts(self) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.method == "POST"]

    def auth_headers_seen(self) -> list[str]:
        with self._lock:
            return [r.headers["authorization"] for r in self.requests if "authorization" in r.headers]

    # ------------------------------------------------------------------ internals
    @staticmethod
    def _methods(method: str) -> frozenset[str]:
        return frozenset() if method == "*" else frozenset({method.upper()})

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            (self._connections.add if add else self._connections.discard)(conn)

    def _record(self, recorded: Recorded) -> None:
        with self._lock:
            self.requests.append(recorded)

    def _new_repo(self, repo_type: str, repo_id: str, private: bool) -> _Repo:
        repo = _Repo(repo_type, repo_id, repo_id.split("/")[0] if "/" in repo_id else "", private)
        repo.branches["main"] = self._commit(repo, {})
        self._repos[(repo_type, repo_id)] = repo
        return repo

    def _commit(self, repo: _Repo, files: dict[str, bytes]) -> str:
        self._commit_counter += 1
        seed = f"{repo.repo_type}/{repo.repo_id}/{self._commit_counter}/{time.time_ns()}".encode()
        sha = hashlib.sha1(seed).hexdigest()
        repo.snapshots[sha] = files
        return sha

    def _space(self, repo_id: str) -> _Repo:
        repo = self._repos.get(("space", repo_id))
        if repo is None:
            raise KeyError(f"no Space {repo_id!r}; call add_space first")
        return repo

    @staticmethod
    def _take(rules: list[_Rule], method: str, path: str) -> _Rule | None:
        for rule in rules:  # oldest first
            if rule.matches(method, path):
                rule.times -= 1
                if rule.times <= 0:
                    rules.remove(rule)
                return rule
        return None

    def _runtime(self, repo: _Repo) -> dict[str, Any]:
        if repo.stage == "BUILDING" and repo.building_until is not None and time.time() >= repo.building_until:
            repo.stage, repo.building_until = "RUNNING", None
        current = None if repo.stage in ("PAUSED", "STOPPED") else "cpu-basic"
        return {
            "stage": repo.stage,
            "hardware": {"current": current, "requested": "cpu-basic"},
            "storage": None,
            "gcTimeout": 172800,
            "replicas": {"current": 1, "requested": 1},
            "devMode": False,
            "domains": [],
        }

    def _dispatch(self, method: str, path: str, headers: dict[str, str]) -> _Reply:
        with self._lock:
            pause = self._take(self._delays, method, path)
        if pause is not None:
            time.sleep(pause.seconds)
        with self._lock:
            fault = self._take(self._faults, method, path)
            redirect = None if fault else self._take(self._redirects, method, path)
        if fault is not None:
            time.sleep(fault.seconds)
            if fault.body is None and fault.status >= 400:
                reply = _error(fault.status, HTTPStatus(fault.status).phrase)
            else:
                reply = _Reply(fault.status, {"Content-Type": "application/json"}, fault.body or b"")
            overridden = {k.lower() for k in fault.headers}
            reply.headers = {k: v for k, v in reply.headers.items() if k.lower() not in overridden} | fault.headers
            return reply
        if redirect is not None:
            return _Reply(redirect.status, {"Location": redirect.location})

        auth = headers.get("authorization")
        user: str | None = None
        if auth is not None:
            scheme, _, token = auth.partition(" ")
            user = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
            if user is None:
                return _error(401, INVALID_CREDENTIALS)

        callbacks: list[tuple[_Callback, float]] = []
        with self._lock:
            reply = self._route(method, path, headers, user, callbacks)
        for callback, delay in callbacks:
            if delay > 0:
                timer = threading.Timer(delay, self._run_callback, (callback,))
                timer.daemon = True
                with self._lock:
                    self._timers.append(timer)
                timer.start()
            else:
                self._run_callback(callback)
        return reply

    def _run_callback(self, callback: _Callback) -> None:
        try:
            callback(self)
        except BaseException as exc:  # surfaced to tests through callback_errors
            with self._lock:
                self.callback_errors.append(exc)

    def _route(
        self, method: str, path: str, headers: dict[str, str], user: str | None, callbacks: list[tuple[_Callback, float]]
    ) -> _Reply:
        if path == "/api/whoami-v2" and method in ("GET", "HEAD"):
            if user is None:
                return _error(401, "Invalid username or password.")
            return _json_reply(200, {"name": user, "type": "user", "auth": {"accessToken": {"role": "write"}}})

        if match := _SPACE_ACTION.match(path):
            owner, name, action = (unquote(g) for g in match.groups())
            if (method, action) not in (("POST", "restart"), ("POST", "pause"), ("GET", "runtime"), ("HEAD", "runtime")):
                return _error(404, "Not Found")
            return self._space_action(f"{owner}/{name}", action, user, callbacks)

        segments = [unquote(s) for s in path.strip("/").split("/")]
        if method in ("GET", "HEAD") and segments[0] != "api":
            repo_type = _PREFIX_TO_TYPE.get(segments[0], "model")
            if repo_type != "model":
                segments = segments[1:]
            for n in (2, 1):  # "owner/name" or a legacy namespace-less id
                if len(segments) > n + 2 and segments[n] == "resolve":
                    repo_id = "/".join(segments[:n])
                    file_path = "/".join(segments[n + 2 :])
                    return self._resolve(repo_type, repo_id, segments[n + 1], file_path, user, headers)
        return _error(404, "Sorry, we can't find the page you are looking for.")

    def _visible(self, repo: _Repo | None, user: str | None) -> _Reply | None:
        """The Hub's answer when ``user`` may not see ``repo`` (None if they may)."""
        if repo is None or (repo.private and user is not None and user != repo.owner):
            return _error(404, "Repository not found", "RepoNotFound")
        if repo.private and user is None:
            return _error(401, "Repository not found", "RepoNotFound")
        return None

    def _space_action(
        self, repo_id: str, action: str, user: str | None, callbacks: list[tuple[_Callback, float]]
    ) -> _Reply:
        repo = self._repos.get(("space", repo_id))
        if action == "runtime":
            return self._visible(repo, user) or _json_reply(200, self._runtime(repo))  # type: ignore[arg-type]
        if repo is None:
            return _error(404, "Repository not found", "RepoNotFound")
        if user is None:
            return _error(401, "You must be authenticated to perform this action")
        if user != repo.owner:
            return _error(403, f"You don't have the rights to {action} this Space")
        if action == "pause":
            repo.stage, repo.building_until = "PAUSED", None
            return _json_reply(200, self._runtime(repo))
        repo.stage, repo.building_until = "BUILDING", time.time() + self.build_seconds
        repo.restarts += 1
        payload = self._runtime(repo)
        payload["stage"] = "BUILDING"  # the restart answer always reports the build it just started
        callbacks.extend(self._on_restart.get(repo_id, []))
        return _json_reply(200, payload)

    def _resolve(
        self, repo_type: str, repo_id: str, revision: str, file_path: str, user: str | None, headers: dict[str, str]
    ) -> _Reply:
        repo = self._repos.get((repo_type, repo_id))
        if (denied := self._visible(repo, user)) is not None:
            return denied
        assert repo is not None
        sha = repo.branches.get(revision) or (revision if revision in repo.snapshots else None)
        if sha is None:
            return _error(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        content = repo.snapshots[sha].get(file_path)
        if content is None:
            return _error(404, f"Entry not found: {file_path}", "EntryNotFound")
        etag = _etag(content)
        meta = {"ETag": etag, "X-Repo-Commit": sha}
        candidates = {t.strip().removeprefix("W/").strip('"') for t in headers.get("if-none-match", "").split(",")}
        if etag.strip('"') in candidates or "*" in candidates:
            return _Reply(304, meta)
        content_type = "application/json" if file_path.endswith(".json") else "application/octet-stream"
        return _Reply(200, {**meta, "Content-Type": content_type}, content)
