"""Engine and session factory. SQLite gets WAL (readers never block the worker's writes) and
foreign keys (off by default there). PostgreSQL gets a pool whose checkouts cost no round trip:
instead of a pre-ping (`SELECT 1` before every use), a checkout polls the idle connection's socket,
which is readable only when the server has sent a termination notice or closed it (restart,
`pg_terminate_backend`, idle timeout); such a connection is replaced before anyone uses it.

Reads can use `Database.reader()`, sessions in autocommit mode: no BEGIN and no ROLLBACK
around their statements, which on a read-only request are two of its four round trips. The API's
two hottest routes (a search's detail, a submit) go further and run on a plain connection from
`Database.autocommit_engine`, with no session at all (api/deps.Store.autocommit).

Repository functions take one executor type, never either: a function that runs only Core
statements takes a `sqlalchemy.Connection`, and one that loads or changes mapped objects takes a
`Session`. A caller that holds a Session passes `session.connection()` to the former (the same
connection, in the session's transaction; it costs nothing measurable), so the hot routes can call
the Core functions on a plain connection without paying for a session they do not use."""

from __future__ import annotations

import json
import select
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy import exc as db_errors
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from nas_core.reporter import json_ready

CONNECT_TIMEOUT_S = 10

# What the driver and the pool raise when the database cannot be reached now (down, restarting,
# dropped, connections terminated, pool exhausted): worth retrying later, not a bug.
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    db_errors.OperationalError,
    db_errors.InterfaceError,
    db_errors.TimeoutError,
)


def make_engine(url: str, *, pool_size: int | None = None, **kwargs: Any) -> Engine:
    """An engine for `url`; SQLite files get their directory created and WAL/foreign keys switched on.

    `pool_size` fixes a server database's pool at that many connections (no overflow): the API
    sizes it to its thread pool, so no request waits for a connection and none is opened and
    closed under load. Without it the pool keeps 5 and opens up to 10 more when busy.
    """
    parsed = make_url(url)
    # Every JSON column is written as strict JSON: a NaN metric becomes null instead of failing the write.
    kwargs.setdefault("json_serializer", _strict_json)
    if parsed.get_backend_name() != "sqlite":
        if pool_size is not None:
            kwargs.update(pool_size=pool_size, max_overflow=0)
        if parsed.get_backend_name() == "postgresql":
            # An unreachable host fails a request within this time (503) instead of hanging it.
            kwargs.setdefault("connect_args", {"connect_timeout": CONNECT_TIMEOUT_S})
        engine = create_engine(url, **kwargs)
        event.listen(engine, "checkout", _refuse_if_closed_by_server)
        return engine
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    # The API serves from a thread pool and the SSE poller from worker threads: share connections.
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _strict_json(value: Any) -> str:
    return json.dumps(json_ready(value), allow_nan=False)


def _refuse_if_closed_by_server(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Raise DisconnectionError (the pool then reconnects and checks again) for a connection the
    server has dropped. An idle connection has nothing to read, so a readable socket means the
    server sent a FATAL notice or closed it; polling costs microseconds, a pre-ping a round trip."""
    if getattr(dbapi_connection, "closed", False) or getattr(dbapi_connection, "broken", False):
        raise DisconnectionError("the pooled connection is closed")
    fileno = getattr(dbapi_connection, "fileno", None)
    if fileno is None:
        return
    poller = select.poll()
    poller.register(fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
    if poller.poll(0):
        raise DisconnectionError("the server closed the pooled connection (restart or termination)")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


SessionFactory = sessionmaker[Session]


class Database:
    """An engine and its session factory, created on first use so importing costs nothing."""

    def __init__(self, url: str, *, pool_size: int | None = None) -> None:
        self.url = url
        self.pool_size = pool_size
        self._engine: Engine | None = None
        self._sessionmaker: SessionFactory | None = None
        self._autocommit_engine: Engine | None = None
        self._reader: SessionFactory | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.url, pool_size=self.pool_size)
        return self._engine

    @property
    def sessionmaker(self) -> sessionmaker[Session]:
        if self._sessionmaker is None:
            self._sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        return self._sessionmaker

    @property
    def autocommit_engine(self) -> Engine:
        """The engine in autocommit mode (same pool): `connect()` gives a Core connection on which
        each statement runs without BEGIN/ROLLBACK and each write is committed as it runs."""
        if self._autocommit_engine is None:
            self._autocommit_engine = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        return self._autocommit_engine

    @property
    def reader(self) -> SessionFactory:
        """Sessions for reads only: autocommit, so each statement runs without BEGIN/ROLLBACK
        (each sees what was committed when it started, as in READ COMMITTED). Same pool."""
        if self._reader is None:
            self._reader = sessionmaker(self.autocommit_engine, expire_on_commit=False)
        return self._reader

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed on success and rolled back on error: the edge for scripts and tasks."""
        with self.sessionmaker() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


_default: Database | None = None


def default_database() -> Database:
    """The process-wide database for settings.DATABASE_URL (worker tasks, CLI)."""
    global _default
    if _default is None:
        from store.settings import settings

        _default = Database(settings.DATABASE_URL)
    return _default
