"""Routing a request: queued faults, delays and redirects first, then authentication, then the
Hub route it names (whoami, Space runtime/restart/pause, resolve, the repo API of ``repo_api``, the
jobs of ``jobs_api``, the scheduled jobs of ``schedules_api``, the webhooks of ``webhooks_api`` and the
Space variables of ``space_variables``)."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import parse_qs, unquote

from .access import _may_write, _visible
from .jobs_api import _JobsApi
from .repo_api import _RepoApi
from .repos import _etag, _Repo, _RepoStore, _rev_sha, _runtime
from .schedules_api import _SchedulesApi
from .server import _error, _json_reply, _Reply
from .space_variables import SPACE_VARIABLES, _SpaceVariablesApi
from .webhooks_api import _WebhooksApi

if TYPE_CHECKING:
    from .stub import HubStub

INVALID_CREDENTIALS = "Invalid credentials in Authorization header"
_PREFIX_TO_TYPE = {"datasets": "dataset", "spaces": "space"}
_API_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_SPACE_ACTION = re.compile(r"^/api/spaces/([^/]+)/([^/]+)/(restart|pause|runtime)$")
_Callback = Callable[["HubStub"], None]


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


class _Faults:
    """HubStub's behaviour hooks: restart callbacks and queued faults, delays and redirects."""

    _lock: Any  # threading.RLock
    _faults: list[_Rule]
    _delays: list[_Rule]
    _redirects: list[_Rule]
    _on_restart: dict[str, list[tuple[_Callback, float]]]

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

    @staticmethod
    def _methods(method: str) -> frozenset[str]:
        return frozenset() if method == "*" else frozenset({method.upper()})

    @staticmethod
    def _take(rules: list[_Rule], method: str, path: str) -> _Rule | None:
        for rule in rules:  # oldest first
            if rule.matches(method, path):
                rule.times -= 1
                if rule.times <= 0:
                    rules.remove(rule)
                return rule
        return None


class _Routes(_Faults, _RepoApi, _JobsApi, _SchedulesApi, _WebhooksApi, _SpaceVariablesApi):
    """HubStub's request handling: hooks, authentication, then the route (see the package docstring)."""

    build_seconds: float
    tokens: dict[str, str]
    token_access: dict[str, dict]
    callback_errors: list[BaseException]
    _store: _RepoStore
    _timers: list[threading.Timer]

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
        self._run_callbacks(callbacks)
        return reply

    def _run_callbacks(self, callbacks: list[tuple[_Callback, float]]) -> None:
        """Run queued callbacks (outside the lock): now, or from a timer thread after their delay."""
        for callback, delay in callbacks:
            if delay > 0:
                timer = threading.Timer(delay, self._run_callback, (callback,))
                timer.daemon = True
                with self._lock:
                    self._timers.append(timer)
                timer.start()
            else:
                self._run_callback(callback)

    def _run_callback(self, callback: _Callback) -> None:
        try:
            callback(self)  # type: ignore[arg-type]  # _Routes is only ever a base of HubStub
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
        if match := SPACE_VARIABLES.match(path):
            repo_id = "/".join(unquote(g) for g in match.groups())
            return self._space_variables(method, repo_id, user, access, body, callbacks)

        if path == "/api/repos/create":
            return self._create_repo(body, user) if method == "POST" else _error(405, "Method Not Allowed")
        if path == "/api/validate-yaml" and method == "POST":
            return _json_reply(200, {"errors": [], "warnings": []})

        segments = [unquote(s) for s in path.strip("/").split("/")]
        if segments[:2] == ["api", "jobs"]:
            return self._jobs_api(method, segments[2:], user, access, body, query or {}, callbacks)
        if segments[:2] == ["api", "scheduled-jobs"]:
            return self._schedules_api(method, segments[2:], user, access, body, query or {}, callbacks)
        if segments[:3] == ["api", "settings", "webhooks"]:
            return self._webhooks_api(method, segments[3:], user, access, body)
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

    def _space_action(
        self, repo_id: str, action: str, user: str | None, callbacks: list[tuple[_Callback, float]], access: dict | None = None
    ) -> _Reply:
        repo = self._store.get("space", repo_id)
        if action == "runtime":
            return _visible(repo, user) or _json_reply(200, _runtime(repo))  # type: ignore[arg-type]
        if repo is None:
            return _error(404, "Repository not found", "RepoNotFound")
        if user is None:
            return _error(401, "You must be authenticated to perform this action")
        if not _may_write(access or {}, user, repo.owner, "space", repo_id):
            return _error(403, f"You don't have the rights to {action} this Space")
        if action == "pause":
            repo.stage, repo.building_until = "PAUSED", None
            return _json_reply(200, _runtime(repo))
        return _json_reply(200, self._restart(repo, callbacks))

    def _restart(self, repo: _Repo, callbacks: list[tuple[_Callback, float]]) -> dict[str, Any]:
        """Start a build of ``repo`` (count it, queue its ``on_restart`` callbacks); its runtime JSON."""
        repo.stage, repo.building_until = "BUILDING", time.time() + self.build_seconds
        repo.restarts += 1
        payload = _runtime(repo)
        payload["stage"] = "BUILDING"  # the restart answer always reports the build it just started
        callbacks.extend(self._on_restart.get(repo.repo_id, []))
        return payload

    def _resolve(
        self, repo_type: str, repo_id: str, revision: str, file_path: str, user: str | None, headers: dict[str, str]
    ) -> _Reply:
        repo = self._store.get(repo_type, repo_id)
        if (denied := _visible(repo, user)) is not None:
            return denied
        assert repo is not None
        sha = _rev_sha(repo, revision)
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
