"""Database connections: one place that turns a DATABASE_URL into a SQLAlchemy engine.

It accepts the seed's ``postgresql+psycopg2://`` form as it stands (and runs it on psycopg 3 when
psycopg2 is not installed), sets a connect timeout so an unreachable server fails in seconds, and turns
driver errors into :class:`~orchestrator.errors.DatabaseUnavailable` without the password.
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Iterator
from urllib.parse import quote, unquote

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError

from .. import redact
from ..errors import ConfigError, DatabaseUnavailable

CONNECT_TIMEOUT_SECONDS = 5


def repair_userinfo(raw: str) -> str:
    """A password holding an unencoded ``@`` (``app:pa@ss@host``) is read up to the last ``@``, as URL
    parsing does, and percent-encoded, so that SQLAlchemy does not take its tail for the host."""
    scheme, found, rest = raw.partition("://")
    netloc, _, tail = rest.partition("/")
    if not found or netloc.count("@") < 2:
        return raw
    userinfo, _, host = netloc.rpartition("@")
    user, has_password, password = userinfo.partition(":")
    encoded = quote(unquote(user), safe="") + (":" + quote(unquote(password), safe="") if has_password else "")
    return f"{scheme}://{encoded}@{host}" + (f"/{tail}" if tail or rest.endswith("/") else "")


def normalise_url(raw: str, *, variable: str = "DATABASE_URL") -> URL:
    """Parse ``raw``; map postgres://, postgresql:// and +psycopg2 onto an installed driver."""
    redact.register_url(raw)
    try:
        url = make_url(repair_userinfo(raw))
        url.port  # noqa: B018 - parsed lazily: a port that is not a number fails here
    except (ArgumentError, ValueError) as exc:
        why = "its port is not a number" if "int()" in str(exc) else "it cannot be parsed"
        raise ConfigError(
            f"{variable} is not a valid SQLAlchemy URL ({why})",
            hint="expected e.g. postgresql+psycopg://user@host:5432/dbname or sqlite:///path/to.db",
        ) from None
    backend, _, driver = url.drivername.partition("+")
    if backend not in ("postgres", "postgresql", "sqlite"):
        raise ConfigError(
            f"{variable}: {backend} databases are not supported",
            hint="the orchestrator works with PostgreSQL (postgresql://...) and SQLite (sqlite:///path.db)",
        )
    if backend in ("postgres", "postgresql"):
        if driver in ("", "psycopg2") and importlib.util.find_spec("psycopg2") is None:
            driver = "psycopg"
        url = url.set(drivername=f"postgresql+{driver}" if driver else "postgresql")
    return url


def display_url(url: URL) -> str:
    """The URL with its password hidden, also one given in the query string, for messages."""
    query = {key: (redact.MASK if key.lower() in redact.SECRET_KEYS else value) for key, value in url.query.items()}
    return url.set(query=query).render_as_string(hide_password=True)


def make_engine(raw: str, *, variable: str = "DATABASE_URL", immediate: bool = False) -> Engine:
    """An engine for ``raw``. On SQLite, ``immediate`` makes every transaction take the write lock at
    its start (what the state store needs to serialise runs); readers of app data leave it off, so a
    long read never holds the write lock."""
    url = normalise_url(raw, variable=variable)
    connect_args: dict[str, object] = {}
    if url.get_backend_name() == "postgresql":
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
    elif url.get_backend_name() == "sqlite":
        connect_args["timeout"] = 30  # seconds to wait on another writer's lock
    try:
        engine = create_engine(url, connect_args=connect_args, pool_pre_ping=True)
    except (NoSuchModuleError, ModuleNotFoundError) as exc:
        raise ConfigError(
            f"{variable} names a database driver that is not installed ({url.drivername})",
            hint=f"use postgresql+psycopg:// (installed with the orchestrator) or sqlite:/// ({exc})",
        ) from None
    if url.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin_immediate if immediate else _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection, _record) -> None:
    """Let SQLAlchemy, not the sqlite3 module, decide where transactions begin (SQLAlchemy's recipe)."""
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(conn) -> None:
    conn.exec_driver_sql("BEGIN")


def _sqlite_begin_immediate(conn) -> None:
    """Take SQLite's write lock when a transaction begins, so transactions really serialise."""
    conn.exec_driver_sql("BEGIN IMMEDIATE")


@contextlib.contextmanager
def translate_errors(engine: Engine, what: str) -> Iterator[None]:
    """Re-raise driver errors as our own, naming the database (without password) and what to check."""
    try:
        yield
    except OperationalError as exc:
        if _is_connect_failure(exc):
            raise DatabaseUnavailable(
                f"cannot connect to the database at {display_url(engine.url)} while {what}: {_first_line(exc)}",
                hint="check DATABASE_URL's host, port, user and password, and that the server is running",
            ) from None
        raise ConfigError(
            f"the database rejected the query while {what}: {_first_line(exc)}",
            hint="check the table and column names in your configuration against the schema in docs/contracts.md",
        ) from None
    except DBAPIError as exc:
        raise ConfigError(
            f"the database rejected the query while {what}: {_first_line(exc)}",
            hint="check the table and column names in your configuration against the schema in docs/contracts.md",
        ) from None


def _is_connect_failure(exc: OperationalError) -> bool:
    if exc.connection_invalidated:
        return True
    text = str(exc.orig).lower()
    return any(
        marker in text
        for marker in (
            "connection",
            "could not connect",
            "timeout",
            "unable to open",
            "password authentication",
            "resolve host",  # an unknown host name (psycopg 3)
            "translate host name",  # the same, from libpq
            "name or service not known",
            "temporary failure in name resolution",
            "nodename nor servname",
            "no route to host",
            "network is unreachable",
        )
    )


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    return text[0] if text else type(orig).__name__


def engines(settings) -> tuple[Engine, Engine]:
    """The app database's engine and the state store's (same database unless STATE_DATABASE_URL is set;
    a separate engine either way, since the state store's SQLite transactions take the write lock)."""
    app = make_engine(settings.database_url.get_secret_value(), variable=settings.origin("database_url"))
    state_field = "state_database_url" if settings.state_database_url else "database_url"
    return app, make_engine(settings.state_url, variable=settings.origin(state_field), immediate=True)
