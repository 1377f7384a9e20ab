"""Engine and session factory. SQLite gets WAL (readers never block the worker's writes) and
foreign keys (off by default there); PostgreSQL gets a pre-pinged pool."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from nas_core.reporter import json_ready


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url`; SQLite files get their directory created and WAL/foreign keys switched on."""
    parsed = make_url(url)
    # Every JSON column is written as strict JSON: a NaN metric becomes null instead of failing the write.
    kwargs.setdefault("json_serializer", _strict_json)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, **kwargs)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    # The API serves from a thread pool and the SSE poller from worker threads: share connections.
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _strict_json(value: Any) -> str:
    return json.dumps(json_ready(value), allow_nan=False)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class Database:
    """An engine and its session factory, created on first use so importing costs nothing."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: Engine | None = None
        self._sessionmaker: sessionmaker[Session] | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.url)
        return self._engine

    @property
    def sessionmaker(self) -> sessionmaker[Session]:
        if self._sessionmaker is None:
            self._sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        return self._sessionmaker

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
