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
* Publishing with the real client (``create_repo``, ``upload_folder``/``upload_file``/
  ``create_commit``, ``create_tag``): ``POST /api/repos/create``; ``POST
  /api/{type}s/{repo_id}/preupload/{revision}``, which answers ``"uploadMode": "regular"``
  for every file so the client inlines the bytes (base64) in the commit instead of
  uploading them through LFS or Xet; ``POST /api/{type}s/{repo_id}/commit/{revision}``
  (NDJSON: ``header``, ``file``, ``deletedFile``, ``deletedFolder``; ``lfsFile`` is refused);
  ``POST``/``DELETE /api/{type}s/{repo_id}/tag/{revision|tag}``; ``POST /api/validate-yaml``.
  ``{type}s`` is ``models``, ``datasets`` or ``spaces``; preupload reports the git blob
  ``oid`` of files already on the revision, so the client skips unchanged files.
* Reading (``repo_info``, ``list_repo_refs``, ``list_repo_tree``, ``snapshot_download``):
  ``GET /api/{type}s/{repo_id}[/revision/{revision}]``, ``.../refs``,
  ``.../tree/{revision}[/{path}]``. Every ``revision`` (API and resolve) may be a branch, a
  tag, ``refs/heads/..``/``refs/tags/..`` or a (7+ char prefix of a) commit sha. Resolve never
  sends Xet headers (``X-Xet-Hash``), so downloads are plain HTTP; ``Range`` is honoured.

Errors carry a JSON body ``{"error": message}`` plus ``X-Error-Message``, and
``X-Error-Code`` (``RepoNotFound`` / ``RevisionNotFound`` / ``EntryNotFound``) where
the Hub sets one, so ``huggingface_hub.utils.hf_raise_for_status`` raises the same
typed errors as against huggingface.co. Every response has an ``X-Request-Id``.

Auth: ``Authorization: Bearer <token>``. A token not in ``tokens`` gets ``401
Invalid credentials in Authorization header`` on every route. ``token_access`` gives a token a role
(``read``, ``write``, or ``fineGrained`` with scoped permissions) and organisations, which
``whoami-v2`` reports and Space restart/pause enforce. Without a token,
public reads work, private repos answer ``401`` + ``RepoNotFound`` and Space
restart/pause answer ``401``. A valid token of another user sees private repos as
``404 RepoNotFound`` and gets ``403`` on restart/pause.

Writes (preupload, commit, tag) need a token of the repo's namespace owner: no token
is ``401``, another user's token ``403`` (``404 RepoNotFound`` if the repo is private).
``create_repo`` is allowed only in the token user's own namespace (else ``403``) and answers
``409`` when the repo exists.

Test hooks: ``fail`` (queued faults that replace the real handling), ``delay``,
``redirect``, ``on_restart`` callbacks, ``set_stage``; every request is recorded
in ``requests``. Inspection: ``file``, ``files``, ``tags``, ``commits``, ``head``.
Standard library only; all state is guarded by one lock.
"""

from __future__ import annotations

import base64
import binascii
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
from urllib.parse import parse_qs, unquote

INVALID_CREDENTIALS = "Invalid credentials in Authorization header"
_PREFIX_TO_TYPE = {"datasets": "dataset", "spaces": "space"}
_API_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
_TYPE_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
_REPO_ACTIONS = frozenset({"preupload", "commit", "tag", "revision", "refs", "tree"})
_REPO_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
_HEX = re.compile(r"^[0-9a-f]{7,40}$")
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
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
    tags: dict[str, str] = field(default_factory=dict)  # tag -> commit sha
    log: dict[str, tuple[str | None, str, float]] = field(default_factory=dict)  # sha -> (parent, title, time)
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


def _git_blob_sha(content: bytes) -> str:
    """The git object id of a blob, as the Hub reports it for regular (non-LFS) files."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def _iso(timestamp: float) -> str:
    """The Hub's date format (``parse_datetime`` accepts only this one)."""
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _repo_path(path: Any) -> str | None:
    """A normalised path inside a repo, or None if it is not one the Hub would accept."""
    if not isinstance(path, str):
        return None
    path = path.strip("/")
    parts = path.split("/")
    if not path or any(p in ("", ".", "..") for p in parts) or parts[0] == ".git":
        return None
    return path


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
        reply = stub._dispatch(self.command, path, headers, body, query)
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


def _may_write(access: dict, user: str, owner: str, repo_type: str, repo_id: str) -> bool:
    """Whether a token (its user and access, as in ``HubStub.token_access``) may write to a repo."""
    in_namespace = owner == user or owner in access.get("orgs", [])
    role = access.get("role", "write")
    if role == "read" or not in_namespace:
        return False
    if role != "fineGrained":
        return True
    for scope in access.get("scoped", []):
        entity = scope.get("entity", {})
        matches = (entity.get("type") == repo_type and entity.get("name") == repo_id) or (
            entity.get("type") in ("user", "org") and entity.get("name") == owner
        )
        if matches and "repo.write" in scope.get("permissions", []):
            return True
    return False


class HubStub:
    """A fake Hugging Face Hub on 127.0.0.1; see the module docstring."""

    build_seconds: float = 0.0

    def __init__(self, tokens: dict[str, str] | None = None) -> None:
        self.tokens: dict[str, str] = dict(tokens or {})
        # What each token may do, as whoami-v2 reports it: {"role": "read" | "write" | "fineGrained",
        # "orgs": [...], "scoped": [{"entity": {"type": ..., "name": ...}, "permissions": [...]}]}.
        # A token not listed here is a "write" token of its user.
        self.token_access: dict[str, dict] = {}
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

    def file(self, repo_id: str, path: str, *, repo_type: str = "dataset", revision: str = "main") -> bytes | None:
        """The bytes of ``path`` at ``revision`` (branch, tag or sha); None if repo/revision/file is missing."""
        files = self.files(repo_id, repo_type=repo_type, revision=revision)
        return None if files is None else files.get(path.strip("/"))

    def files(self, repo_id: str, *, repo_type: str = "dataset", revision: str = "main") -> dict[str, bytes] | None:
        """All files at ``revision`` (path -> bytes); None if the repo or revision does not exist."""
        with self._lock:
            repo = self._repos.get((repo_type, repo_id))
            sha = self._rev_sha(repo, revision) if repo else None
            return dict(repo.snapshots[sha]) if repo and sha else None

    def tags(self, repo_id: str, repo_type: str = "dataset") -> dict[str, str]:
        """Tag -> commit sha ({} if the repo does not exist)."""
        with self._lock:
            repo = self._repos.get((repo_type, repo_id))
            return dict(repo.tags) if repo else {}

    def commits(self, repo_id: str, repo_type: str = "dataset") -> int:
        """Number of commits in the repo, counting the initial empty one of its creation (0: no repo)."""
        with self._lock:
            repo = self._repos.get((repo_type, repo_id))
            return len(repo.snapshots) if repo else 0

    def head(self, repo_id: str, *, repo_type: str = "dataset", revision: str = "main") -> str | None:
        """The commit sha ``revision`` points at (None if the repo or revision does not exist)."""
        with self._lock:
            repo = self._repos.get((repo_type, repo_id))
            return self._rev_sha(repo, revision) if repo else None

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
        repo.branches["main"] = self._commit(repo, {}, title="initial commit")
        self._repos[(repo_type, repo_id)] = repo
        return repo

    def _commit(self, repo: _Repo, files: dict[str, bytes], *, title: str = "", parent: str | None = None) -> str:
        self._commit_counter += 1
        seed = f"{repo.repo_type}/{repo.repo_id}/{self._commit_counter}/{time.time_ns()}".encode()
        sha = hashlib.sha1(seed).hexdigest()
        repo.snapshots[sha] = files
        repo.log[sha] = (parent, title, time.time())
        return sha

    @staticmethod
    def _rev_sha(repo: _Repo, revision: str) -> str | None:
        """Resolve a branch, tag, ``refs/heads|tags/..`` or (prefix of a) commit sha."""
        if revision in repo.branches:
            return repo.branches[revision]
        if revision in repo.tags:
            return repo.tags[revision]
        if revision.startswith("refs/heads/"):
            return repo.branches.get(revision.removeprefix("refs/heads/"))
        if revision.startswith("refs/tags/"):
            return repo.tags.get(revision.removeprefix("refs/tags/"))
        if revision in repo.snapshots:
            return revision
        if _HEX.match(revision):
            found = [sha for sha in repo.snapshots if sha.startswith(revision)]
            return found[0] if len(found) == 1 else None
        return None

    def _url_of(self, repo: _Repo) -> str:
        return f"{self.url}/{_TYPE_PREFIX[repo.repo_type]}{repo.repo_id}"

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

    def _dispatch(self, method: str, path: str, headers: dict[str, str], body: bytes = b"", query: str = "") -> _Reply:
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
        access: dict = {}
        if auth is not None:
            scheme, _, token = auth.partition(" ")
            user = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
            if user is None:
                return _error(401, INVALID_CREDENTIALS)
            access = self.token_access.get(token.strip(), {"role": "write"})

        callbacks: list[tuple[_Callback, float]] = []
        with self._lock:
            reply = self._route(method, path, headers, user, callbacks, body, parse_qs(query), access)
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
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        user: str | None,
        callbacks: list[tuple[_Callback, float]],
        body: bytes = b"",
        query: dict[str, list[str]] | None = None,
        access: dict | None = None,
    ) -> _Reply:
        access = access or {}
        if path == "/api/whoami-v2" and method in ("GET", "HEAD"):
            if user is None:
                return _error(401, "Invalid username or password.")
            token = {"role": access.get("role", "write")}
            if token["role"] == "fineGrained":
                token["fineGrained"] = {"global": [], "scoped": access.get("scoped", [])}
            orgs = [{"name": org, "type": "org"} for org in access.get("orgs", [])]
            return _json_reply(200, {"name": user, "type": "user", "orgs": orgs, "auth": {"type": "access_token", "accessToken": token}})

        if match := _SPACE_ACTION.match(path):
            owner, name, action = (unquote(g) for g in match.groups())
            if (method, action) not in (("POST", "restart"), ("POST", "pause"), ("GET", "runtime"), ("HEAD", "runtime")):
                return _error(404, "Not Found")
            return self._space_action(f"{owner}/{name}", action, user, callbacks, access)

        if path == "/api/repos/create":
            return self._create_repo(body, user) if method == "POST" else _error(405, "Method Not Allowed")
        if path == "/api/validate-yaml" and method == "POST":
            return _json_reply(200, {"errors": [], "warnings": []})

        segments = [unquote(s) for s in path.strip("/").split("/")]
        if len(segments) >= 3 and segments[0] == "api" and segments[1] in _API_TYPES:
            reply = self._repo_api(method, _API_TYPES[segments[1]], segments[2:], user, body, query or {})
            if reply is not None:
                return reply
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
        self, repo_id: str, action: str, user: str | None, callbacks: list[tuple[_Callback, float]], access: dict | None = None
    ) -> _Reply:
        repo = self._repos.get(("space", repo_id))
        if action == "runtime":
            return self._visible(repo, user) or _json_reply(200, self._runtime(repo))  # type: ignore[arg-type]
        if repo is None:
            return _error(404, "Repository not found", "RepoNotFound")
        if user is None:
            return _error(401, "You must be authenticated to perform this action")
        if not _may_write(access or {}, user, repo.owner, "space", repo_id):
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
        sha = self._rev_sha(repo, revision)
        if sha is None:
            return _error(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        content = repo.snapshots[sha].get(file_path)
        if content is None:
            missing = _error(404, f"Entry not found: {file_path}", "EntryNotFound")
            missing.headers["X-Repo-Commit"] = sha  # lets the client cache the file's absence
            return missing
        etag = _etag(content)
        # No X-Xet-Hash / Link xet-auth headers: the client then downloads over plain HTTP.
        meta = {"ETag": etag, "X-Repo-Commit": sha, "Accept-Ranges": "bytes"}
        candidates = {t.strip().removeprefix("W/").strip('"') for t in headers.get("if-none-match", "").split(",")}
        if etag.strip('"') in candidates or "*" in candidates:
            return _Reply(304, meta)
        content_type = "application/json" if file_path.endswith(".json") else "application/octet-stream"
        if (wanted := _RANGE.match(headers.get("range", "").strip())) and any(wanted.groups()):
            first, last = wanted.groups()
            size = len(content)
            if first:
                start, end = int(first), min(int(last or size - 1), size - 1)
            else:  # "bytes=-N": the last N bytes
                start, end = max(size - int(last), 0), size - 1
            if start >= size or start > end:
                return _Reply(416, {**meta, "Content-Range": f"bytes */{size}"})
            ranged = {**meta, "Content-Type": content_type, "Content-Range": f"bytes {start}-{end}/{size}"}
            return _Reply(206, ranged, content[start : end + 1])
        return _Reply(200, {**meta, "Content-Type": content_type}, content)

    # ------------------------------------------------------------------ repo API (publish / read)
    def _writable(self, repo: _Repo | None, user: str | None, action: str) -> _Reply | None:
        """The Hub's answer when ``user`` may not write to ``repo`` (None if they may)."""
        if (denied := self._visible(repo, user)) is not None:
            return denied
        assert repo is not None
        if user is None:
            return _error(401, "You must be authenticated to perform this action")
        if user != repo.owner:
            return _error(403, f"You don't have the rights to {action} {repo.repo_type} repo {repo.repo_id}")
        return None

    def _create_repo(self, body: bytes, user: str | None) -> _Reply:
        if user is None:
            return _error(401, "You must be authenticated to create a repo")
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            return _error(400, "Invalid JSON body")
        if not isinstance(payload, dict):
            return _error(400, "Invalid JSON body")
        name, namespace = payload.get("name"), payload.get("organization") or user
        repo_type = payload.get("type") or "model"
        if not isinstance(name, str) or not _REPO_NAME.match(name) or not isinstance(namespace, str):
            return _error(400, f"Invalid repo name: {name!r}")
        if repo_type not in _TYPE_PREFIX:
            return _error(400, f"Invalid repo type: {repo_type!r}")
        if namespace != user:
            return _error(403, f'You don\'t have the rights to create a {repo_type} under the namespace "{namespace}"')
        repo_id = f"{namespace}/{name}"
        existing = self._repos.get((repo_type, repo_id))
        if existing is not None:
            message = f"You already created this {repo_type} repo"
            conflict = _error(409, message)
            conflict.body = json.dumps({"error": message, "url": self._url_of(existing)}).encode()
            return conflict
        private = payload.get("private") is True or payload.get("visibility") == "private"
        repo = self._new_repo(repo_type, repo_id, private)
        return _json_reply(200, {"url": self._url_of(repo), "name": repo_id, "id": repo_id})

    def _repo_api(
        self, method: str, repo_type: str, rest: list[str], user: str | None, body: bytes, query: dict[str, list[str]]
    ) -> _Reply | None:
        """``/api/{type}s/{repo_id}[/{action}/...]``; None when the path is no such route."""
        for n in (2, 1):  # "owner/name" or a legacy namespace-less id
            if len(rest) == n or (len(rest) > n and rest[n] in _REPO_ACTIONS):
                repo_id, action, args = "/".join(rest[:n]), rest[n] if len(rest) > n else None, rest[n + 1 :]
                break
        else:
            return None
        repo = self._repos.get((repo_type, repo_id))
        key = (method, action, len(args))
        if key in (("GET", None, 0), ("HEAD", None, 0), ("GET", "revision", 1)):
            return self._repo_info(repo, args[0] if args else "main", user)
        if key == ("GET", "refs", 0):
            return self._refs(repo, user)
        if method == "GET" and action == "tree" and args:
            recursive = (query.get("recursive") or ["false"])[0].lower() in ("1", "true")
            return self._tree(repo, args[0], "/".join(args[1:]), recursive, user)
        if key == ("POST", "preupload", 1):
            return self._preupload(repo, args[0], body, user)
        if key == ("POST", "commit", 1):
            return self._apply_commit(repo, args[0], body, user, query)
        if key == ("POST", "tag", 1):
            return self._create_tag(repo, args[0], body, user)
        if key == ("DELETE", "tag", 1):
            return self._delete_tag(repo, args[0], user)
        return None

    def _head_or_error(self, repo: _Repo, revision: str) -> str | _Reply:
        sha = self._rev_sha(repo, revision)
        return sha if sha is not None else _error(404, f"Invalid rev id: {revision}", "RevisionNotFound")

    def _readable_head(self, repo: _Repo | None, revision: str, user: str | None) -> str | _Reply:
        """The commit ``revision`` names, if ``user`` may read ``repo``; else the error reply."""
        if (denied := self._visible(repo, user)) is not None:
            return denied
        assert repo is not None
        return self._head_or_error(repo, revision)

    def _repo_info(self, repo: _Repo | None, revision: str, user: str | None) -> _Reply:
        sha = self._readable_head(repo, revision, user)
        if isinstance(sha, _Reply):
            return sha
        assert repo is not None
        files = repo.snapshots[sha]
        first_commit = min(t for _, _, t in repo.log.values())
        info: dict[str, Any] = {
            "_id": hashlib.sha1(f"{repo.repo_type}/{repo.repo_id}".encode()).hexdigest()[:24],
            "id": repo.repo_id,
            "author": repo.owner,
            "sha": sha,
            "private": repo.private,
            "disabled": False,
            "gated": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "createdAt": _iso(first_commit),
            "lastModified": _iso(repo.log[sha][2]),
            "siblings": [
                {"rfilename": path, "size": len(data), "blobId": _git_blob_sha(data)}
                for path, data in sorted(files.items())
            ],
        }
        if repo.repo_type == "model":
            info["modelId"] = repo.repo_id
        if repo.repo_type == "space":
            info.update(sdk="docker", runtime=self._runtime(repo))
        return _json_reply(200, info)

    def _refs(self, repo: _Repo | None, user: str | None) -> _Reply:
        if (denied := self._visible(repo, user)) is not None:
            return denied
        assert repo is not None

        def refs(names: dict[str, str], kind: str) -> list[dict[str, str]]:
            return [{"name": n, "ref": f"refs/{kind}/{n}", "targetCommit": sha} for n, sha in sorted(names.items())]

        payload = {"branches": refs(repo.branches, "heads"), "tags": refs(repo.tags, "tags")}
        return _json_reply(200, {**payload, "converts": [], "pullRequests": []})

    def _tree(self, repo: _Repo | None, revision: str, folder: str, recursive: bool, user: str | None) -> _Reply:
        sha = self._readable_head(repo, revision, user)
        if isinstance(sha, _Reply):
            return sha
        assert repo is not None
        files = repo.snapshots[sha]
        prefix = f"{folder.strip('/')}/" if folder.strip("/") else ""
        if prefix and not any(p.startswith(prefix) for p in files):
            return _error(404, f"Entry not found: {folder}", "EntryNotFound")
        entries: dict[str, dict[str, Any]] = {}
        for path, data in sorted(files.items()):
            if not path.startswith(prefix):
                continue
            parts = path[len(prefix) :].split("/")
            for depth in range(1, len(parts)):  # the folders on the way
                if not recursive and depth > 1:
                    break
                folder_path = prefix + "/".join(parts[:depth])
                oid = hashlib.sha1(f"tree:{sha}:{folder_path}".encode()).hexdigest()
                entries.setdefault(folder_path, {"type": "directory", "oid": oid, "size": 0, "path": folder_path})
            if recursive or len(parts) == 1:
                entries[path] = {"type": "file", "oid": _git_blob_sha(data), "size": len(data), "path": path}
        return _json_reply(200, [entries[p] for p in sorted(entries)])

    def _preupload(self, repo: _Repo | None, revision: str, body: bytes, user: str | None) -> _Reply:
        if (denied := self._writable(repo, user, "upload to")) is not None:
            return denied
        assert repo is not None
        sha = self._head_or_error(repo, revision)
        if isinstance(sha, _Reply):
            return sha
        try:
            wanted = json.loads(body)["files"]
            paths = [f["path"] for f in wanted]
        except (ValueError, KeyError, TypeError):
            return _error(400, "Invalid preupload payload: expected {\"files\": [{\"path\", \"sample\", \"size\"}]}")
        current = repo.snapshots[sha]
        answers = []
        for path in paths:
            # "regular" for every file, whatever its size or type: the client then sends the bytes
            # base64-encoded inside the commit and never talks to LFS or Xet storage.
            answer: dict[str, Any] = {"path": path, "uploadMode": "regular", "shouldIgnore": False}
            if isinstance(path, str) and path in current:
                answer["oid"] = _git_blob_sha(current[path])  # the client skips unchanged files
            answers.append(answer)
        return _json_reply(200, {"files": answers, "commitOid": sha})

    def _apply_commit(
        self, repo: _Repo | None, revision: str, body: bytes, user: str | None, query: dict[str, list[str]]
    ) -> _Reply:
        if (denied := self._writable(repo, user, "commit to")) is not None:
            return denied
        assert repo is not None
        if (query.get("create_pr") or ["0"])[0] not in ("0", "false", ""):
            return _error(501, "HubStub does not implement pull requests (create_pr)")
        if revision not in repo.branches:
            if self._rev_sha(repo, revision) is not None:
                return _error(400, f"Invalid rev id: {revision} is not a branch; commits go to branches only")
            return _error(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        head = repo.branches[revision]
        header: dict[str, Any] | None = None
        files = dict(repo.snapshots[head])
        for number, line in enumerate(body.splitlines(), 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                key, value = item["key"], item["value"]
            except (ValueError, KeyError, TypeError):
                return _error(400, f"Invalid NDJSON commit payload at line {number}")
            if key == "header":
                if header is not None or not isinstance(value, dict) or not str(value.get("summary") or "").strip():
                    return _error(400, "The commit needs exactly one header with a non-empty summary")
                header = value
                continue
            path = _repo_path(value.get("path") if isinstance(value, dict) else None)
            if path is None:
                return _error(400, f"Invalid path at line {number}")
            if key == "file":
                content, encoding = value.get("content"), str(value.get("encoding") or "utf-8").lower()
                if not isinstance(content, str):
                    return _error(400, f"Missing content for {path}")
                try:
                    files[path] = base64.b64decode(content, validate=True) if encoding == "base64" else content.encode()
                except (binascii.Error, ValueError):
                    return _error(400, f"Invalid base64 content for {path}")
            elif key == "deletedFile":
                if files.pop(path, None) is None:
                    return _error(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
            elif key == "deletedFolder":
                inside = [p for p in files if p.startswith(path + "/")]
                if not inside:
                    return _error(404, f"A file with this name doesn't exist: {path}/", "EntryNotFound")
                for p in inside:
                    del files[p]
            elif key == "lfsFile":
                return _error(400, f"HubStub stores no LFS objects ({path}); preupload answers 'regular' for all")
            else:
                return _error(400, f"Unknown commit operation {key!r} at line {number}")
        if header is None:
            return _error(400, "The commit needs exactly one header with a non-empty summary")
        parent = header.get("parentCommit")
        if parent and not (isinstance(parent, str) and len(parent) >= 7 and head.startswith(parent)):
            return _error(412, "A commit has happened since. Please refresh and try again.")
        sha = self._commit(repo, files, title=str(header["summary"]), parent=head)
        repo.branches[revision] = sha
        commit_url = f"{self._url_of(repo)}/commit/{sha}"
        return _json_reply(
            200, {"success": True, "commitOid": sha, "commitUrl": commit_url, "hookOutput": "", "pullRequestUrl": None}
        )

    def _create_tag(self, repo: _Repo | None, revision: str, body: bytes, user: str | None) -> _Reply:
        if (denied := self._writable(repo, user, "tag")) is not None:
            return denied
        assert repo is not None
        try:
            tag = json.loads(body)["tag"]
        except (ValueError, KeyError, TypeError):
            return _error(400, 'Invalid payload: expected {"tag": ...}')
        if not isinstance(tag, str) or _repo_path(tag) is None or tag.startswith("refs/") or " " in tag:
            return _error(400, f"Invalid tag name: {tag!r}")
        sha = self._head_or_error(repo, revision)
        if isinstance(sha, _Reply):
            return sha
        if tag in repo.tags:
            return _error(409, f"Tag reference refs/tags/{tag} already exists")
        repo.tags[tag] = sha
        return _json_reply(200, {"name": tag, "ref": f"refs/tags/{tag}", "targetCommit": sha})

    def _delete_tag(self, repo: _Repo | None, tag: str, user: str | None) -> _Reply:
        if (denied := self._writable(repo, user, "delete a tag of")) is not None:
            return denied
        assert repo is not None
        if repo.tags.pop(tag, None) is None:
            return _error(404, f"Invalid rev id: {tag}", "RevisionNotFound")
        return _json_reply(200, {})
