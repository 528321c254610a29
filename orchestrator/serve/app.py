"""``orchestrator serve``: a small ASGI service (Starlette, run by uvicorn) that reacts to Hub webhooks at
once, takes threshold checks from the app, and shows where each label stands.

    GET  /healthz            liveness (and how many cycles ran)
    POST /webhooks/hub       a Hub webhook delivery (X-Webhook-Secret): a watched dataset changed
    POST /webhooks/feedback  the app asks for a threshold check (X-Webhook-Secret), after a review burst
    GET  /                   the status page (HTML, readable without JavaScript)
    GET  /api/status         each label, as ``orchestrator status --json``
    GET  /api/history        recent runs, as ``orchestrator history --json``

Deliveries are answered at once (202) and handled by :class:`~orchestrator.serve.runner.CycleRunner`, or, with
``WEBHOOK_FORWARD_REPO``, forwarded to GitHub as a ``repository_dispatch`` for a workflow to run the cycle.
A delivery seen before (same repo and head commit) is acknowledged and not acted on again; the ledger
would make a second cycle harmless anyway. Access logs are JSON lines without query strings or secrets.
"""

from __future__ import annotations

import json
import sys
import time
from collections import OrderedDict
from typing import Any

from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from .. import redact
from ..config.settings import Settings
from ..contracts.webhook import BadDelivery, parse, secret_matches
from ..errors import ConfigError, OrchestratorError
from ..plan.events import watched_labels
from ..report.views import history_rows, status_rows
from ..state.store import StateStore
from . import statuspage
from .runner import CycleRunner

MAX_BODY = 1024 * 1024  # a Hub delivery is a few KiB
SEEN = 1000  # deliveries remembered, to acknowledge duplicates without acting
CHART_RUNS = 1000  # runs the metric chart is drawn from (the tables show the last TABLE_RUNS)
TABLE_RUNS = 50


class Service:
    """The routes of ``orchestrator serve``: webhooks (answered at once, handled by the runner or forwarded
    to GitHub), and the read-only status page and its JSON."""

    def __init__(
        self, settings: Settings, runner: CycleRunner, *, engine: Engine, store: StateStore, forwarder: Any = None
    ) -> None:
        if settings.serve.webhook_secret is None:
            raise ConfigError(
                "orchestrator serve needs WEBHOOK_SECRET: webhook deliveries must be authenticated",
                hint="set WEBHOOK_SECRET (and the same secret on the Hub webhook and in the app)",
            )
        if forwarder is not None and not forwarder.token:
            raise ConfigError(
                f"orchestrator serve forwards to GitHub (WEBHOOK_FORWARD_REPO={settings.serve.forward_to}), but neither "
                "GITHUB_TOKEN nor GH_TOKEN is set: every forward would fail",
                hint=f"set GITHUB_TOKEN (or GH_TOKEN) to a token with contents:write on {settings.serve.forward_to}, "
                "or unset WEBHOOK_FORWARD_REPO to run the cycles here",
            )
        self.settings = settings
        self.runner = runner
        self.forwarder = forwarder  # a github.GitHub client, when forwarding to repository_dispatch
        self.engine = engine  # the app database, for the corrections on the status page
        self.store = store
        self.seen: OrderedDict[str, None] = OrderedDict()

    # ------------------------------------------------------------------------------------- webhooks
    def _authentic(self, request: Request) -> bool:
        secret = self.settings.serve.webhook_secret
        return secret is not None and secret_matches(_raw_header(request, b"x-webhook-secret"), secret.get_secret_value())

    async def hub_webhook(self, request: Request) -> Response:
        if not self._authentic(request):
            return _error(401, "missing or wrong X-Webhook-Secret")
        body = await _body(request)
        if body is None:
            return _error(413, "the delivery is larger than 1 MiB")
        try:
            event = parse(body)
        except BadDelivery as exc:
            return _error(400, f"not a Hub webhook delivery: {exc}")
        labels = [label.name for label in watched_labels(self.settings, event)]
        if not labels:
            return Response(status_code=204)  # a repo or an event we do not watch
        key = event.key
        if key is not None and key in self.seen:
            return JSONResponse({"duplicate": True, "labels": labels}, status_code=202)
        if key is not None:
            self._remember(key)  # before anything is awaited: a concurrent duplicate sees it
        if self.forwarder is not None:
            payload = {"repo": event.repo_name, "head_sha": event.head_sha, "labels": labels}
            try:
                await run_in_threadpool(self._forward, payload)
            except OrchestratorError as exc:
                self.seen.pop(key, None)  # not forwarded: the Hub's next delivery tries again
                return self._not_forwarded(exc)
            return JSONResponse({"forwarded": self.settings.serve.forward_to, "labels": labels}, status_code=202)
        self.runner.request(labels)
        return JSONResponse({"accepted": labels}, status_code=202)

    async def feedback_webhook(self, request: Request) -> Response:
        if not self._authentic(request):
            return _error(401, "missing or wrong X-Webhook-Secret")
        body = await _body(request)
        if body is None:
            return _error(413, "the body is larger than 1 MiB")
        names = None
        if body.strip():
            try:
                document = json.loads(body)
            except (ValueError, RecursionError):
                return _error(400, "the body must be JSON, e.g. {\"labels\": [\"urgency\"]}, or empty")
            names = document.get("labels") if isinstance(document, dict) else None
            if not isinstance(names, (list, type(None))) or not all(isinstance(n, str) for n in names or ()) or names == []:
                return _error(400, "labels must list label names, e.g. {\"labels\": [\"urgency\"]}; omit it for all")
            unknown = [n for n in names or () if n not in self.settings.label_names]
            if unknown:
                return _error(400, f"unknown labels {unknown}; configured: {', '.join(self.settings.label_names)}")
        if self.forwarder is not None:
            try:
                await run_in_threadpool(self._forward, {"reason": "feedback", "labels": names})
            except OrchestratorError as exc:
                return self._not_forwarded(exc)
            return JSONResponse({"forwarded": self.settings.serve.forward_to}, status_code=202)
        self.runner.request(names)
        return JSONResponse({"accepted": names or list(self.settings.label_names)}, status_code=202)

    def _forward(self, payload: dict[str, Any]) -> None:
        serve = self.settings.serve
        self.forwarder.repository_dispatch(serve.forward_to, serve.event_type, payload)

    def _not_forwarded(self, exc: OrchestratorError) -> Response:
        """502 (the Hub delivers again), and one log line saying why: GitHub's message and what to check."""
        self.runner.reporter().error(f"forwarding to GitHub failed: {exc}", title="serve")
        return _error(502, f"forwarding to GitHub failed: {exc.message}")

    def _remember(self, key: str) -> None:
        self.seen[key] = None
        while len(self.seen) > SEEN:
            self.seen.popitem(last=False)

    # ------------------------------------------------------------------------------------- status
    def _may_read(self, request: Request) -> bool:
        token = self.settings.serve.status_token
        if token is None:
            return True
        header = _raw_header(request, b"authorization") or b""
        given = header[7:] if header[:7].lower() == b"bearer " else request.query_params.get("token")
        return secret_matches(given, token.get_secret_value())

    def _data(self, runs: int = TABLE_RUNS) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        status = status_rows(self.settings, self.engine, self.store)
        return status, history_rows(self.store, limit=runs)

    async def page(self, request: Request) -> Response:
        if not self._may_read(request):
            return _unauthorized()
        try:
            status, history = await run_in_threadpool(self._data, CHART_RUNS)
        except OrchestratorError as exc:
            return HTMLResponse(f"<p>cannot read the state: {statuspage._t(str(exc))}</p>", status_code=503)
        html = await run_in_threadpool(statuspage.render, status, history, runs=TABLE_RUNS)
        return HTMLResponse(html, headers={"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"})

    async def api_status(self, request: Request) -> Response:
        if not self._may_read(request):
            return _unauthorized()
        try:
            status, _ = await run_in_threadpool(self._data)
        except OrchestratorError as exc:
            return _error(503, str(exc))
        return _json(status)

    async def api_history(self, request: Request) -> Response:
        if not self._may_read(request):
            return _unauthorized()
        try:
            limit = int(request.query_params.get("limit", TABLE_RUNS))
        except ValueError:
            return _error(400, "limit must be a whole number")
        if not 1 <= limit <= CHART_RUNS:
            return _error(400, f"limit must be between 1 and {CHART_RUNS}")
        try:
            history = await run_in_threadpool(history_rows, self.store, limit=limit)
        except OrchestratorError as exc:
            return _error(503, str(exc))
        return _json(history)

    async def healthz(self, request: Request) -> Response:
        alive = self.runner.alive
        return JSONResponse(
            {"status": "ok" if alive else "the cycle worker stopped", "cycles": self.runner.cycles, "idle": self.runner.idle()},
            status_code=200 if alive else 503,
        )


def _raw_header(request: Request, name: bytes) -> bytes | None:
    """A header's value as sent, in bytes (``request.headers`` decodes it as latin-1); ``name`` in lower case."""
    return next((value for key, value in request.scope["headers"] if key == name), None)


async def _body(request: Request) -> bytes | None:
    """The request's body, None beyond :data:`MAX_BODY` (refused on its Content-Length before reading)."""
    try:
        if int(request.headers.get("content-length") or 0) > MAX_BODY:
            return None
    except ValueError:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            return None
    return bytes(body)


def _json(rows: Any) -> Response:
    return Response(redact.redact(json.dumps(rows, default=str, ensure_ascii=False)), media_type="application/json")


def _error(status: int, message: str) -> Response:
    return JSONResponse({"error": redact.redact(message)}, status_code=status)


def _unauthorized() -> Response:
    response = _error(401, "this status page needs STATUS_TOKEN: send it as 'Authorization: Bearer …' or ?token=")
    response.headers["WWW-Authenticate"] = "Bearer"
    return response


class AccessLog:
    """ASGI middleware: one JSON line per request on stderr: method, path (no query string), status, time."""

    def __init__(self, app: Any, stream: Any = None) -> None:
        self.app, self.stream = app, stream or sys.stderr

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), 500

        async def sending(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            line = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "method": scope.get("method"),
                    "path": scope.get("path"), "status": status, "ms": round((time.perf_counter() - started) * 1000, 1)}
            self.stream.write(redact.redact(json.dumps(line)) + "\n")
            self.stream.flush()


def create_app(service: Service) -> Any:
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app: Any):
        service.runner.start()
        try:
            yield
        finally:  # graceful shutdown: the cycle in progress finishes and gives its lease back
            await run_in_threadpool(service.runner.stop)

    app = Starlette(
        routes=[
            Route("/healthz", service.healthz),
            Route("/webhooks/hub", service.hub_webhook, methods=["POST"]),
            Route("/webhooks/feedback", service.feedback_webhook, methods=["POST"]),
            Route("/", service.page),
            Route("/api/status", service.api_status),
            Route("/api/history", service.api_history),
        ],
        lifespan=lifespan,
    )
    return AccessLog(app)
