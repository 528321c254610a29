"""Where ``orchestrator serve`` listens: the address is bound first, so that a port in use (or an address
this machine does not have, or a privileged port) is a usage error (exit 2) named before anything is
announced; uvicorn then serves the app on that very socket.
"""

from __future__ import annotations

import errno
import socket
from typing import Any

from .. import interrupts
from ..errors import ConfigError

BACKLOG = 2048  # uvicorn's default
GRACEFUL_SECONDS = 30  # open requests get this long on SIGTERM


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host``:``port`` and listening; :class:`ConfigError` saying why it cannot be."""
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        # As uvicorn does: a restart may reuse a port whose old connections linger in TIME_WAIT (on Linux this
        # never lets two processes listen on one port).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise _refused(exc, where) from None
    return sock


def _refused(exc: OSError, where: str) -> ConfigError:
    if exc.errno == errno.EADDRINUSE:
        return ConfigError(f"orchestrator serve cannot listen on {where}: the port is already in use (another "
                           "process listens on it)", hint="stop that process (an earlier `orchestrator serve`?), "
                           "or choose another --port")
    if exc.errno == errno.EACCES:
        return ConfigError(f"orchestrator serve cannot listen on {where}: permission denied (ports below 1024 need "
                           "privileges)", hint="choose a --port above 1023, e.g. 8000")
    if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
        return ConfigError(f"orchestrator serve cannot listen on {where}: this machine has no such address "
                           f"({exc.strerror or exc})", hint="check --host: 127.0.0.1 for this machine only, "
                           "0.0.0.0 for every interface (in a container)")
    return ConfigError(f"orchestrator serve cannot listen on {where}: {exc.strerror or exc}",
                       hint="check --host and --port")


def run(app: Any, sock: socket.socket) -> None:
    """Serve ``app`` on ``sock`` until SIGTERM or Ctrl-C, then shut down gracefully (needs uvicorn)."""
    import uvicorn

    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=GRACEFUL_SECONDS)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:  # as uvicorn.run: the signal that stopped it was handled by the shutdown
        interrupts.handling()
