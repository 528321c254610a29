"""The stub's HTTP side: a threading HTTP/1.1 server on 127.0.0.1, its request handler, the
kept-alive connections it tracks, and the records of the requests it answered."""

from __future__ import annotations

import http.server
import itertools
import json
import socket
import socketserver
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .stub import HubStub


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
class _Reply:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    stream: Iterator[bytes] | None = None  # sent chunked after ``body`` (e.g. a running job's logs)


def _json_reply(status: int, payload: Any, headers: dict[str, str] | None = None) -> _Reply:
    return _Reply(status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(payload).encode())


def _json_object(body: bytes, *, empty: Any = None) -> dict[str, Any] | None:
    """A request body as a JSON object (``empty`` for no body); None when it is not JSON or not an object, which the
    Hub answers with 400 "Invalid JSON body"."""
    try:
        value = json.loads(body) if body else empty
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _error(status: int, message: str, code: str | None = None) -> _Reply:
    headers = {"X-Error-Message": message}
    if code:
        headers["X-Error-Code"] = code
    return _json_reply(status, {"error": message}, headers)


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
            if reply.stream is not None:
                self.send_header("Transfer-Encoding", "chunked")
            elif reply.status != 304 and not any(k.lower() == "content-length" for k in reply.headers):
                self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if reply.stream is not None:
                self._write_chunked(reply.body, reply.stream)
            elif self.command != "HEAD" and reply.status != 304:
                self.wfile.write(reply.body)
            self.wfile.flush()
        except OSError:  # the client hung up (timeout tests) or stop() closed the socket
            self.close_connection = True

    def _write_chunked(self, first: bytes, rest: Iterator[bytes]) -> None:
        """``first`` then every chunk of ``rest`` as HTTP/1.1 chunks, flushed one by one."""
        try:
            for chunk in itertools.chain([first], rest):
                if chunk:  # an empty chunk would end the body
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        finally:
            getattr(rest, "close", lambda: None)()  # stop a generator the client hung up on

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _handle


class _Serving:
    """HubStub's lifecycle: start/stop the server, its address, connection tracking and request records."""

    _lock: Any  # threading.RLock
    _server: _Server | None
    _connections: set[socket.socket]
    _timers: list[threading.Timer]
    requests: list[Recorded]

    def start(self) -> HubStub:
        """Bind 127.0.0.1 on a free port and serve from a daemon thread."""
        if self._server is None:
            server = _Server(("127.0.0.1", 0), _Handler)
            server.stub = self  # type: ignore[assignment]  # _Serving is only ever a base of HubStub
            self._server = server
            threading.Thread(target=server.serve_forever, args=(0.05,), name="HubStub", daemon=True).start()
        return self  # type: ignore[return-value]

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

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            (self._connections.add if add else self._connections.discard)(conn)

    def _record(self, recorded: Recorded) -> None:
        with self._lock:
            self.requests.append(recorded)
