"""API test fixtures: the app on the session's PostgreSQL database (emptied after each test), keys
of every scope, and the enqueue call recorded instead of sent. Enqueue is replaced ONLY here: the
integration tests run a real broker and worker."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from store.db import Database
from store.settings import Settings
from tests.fixtures.database import make_key
from tests.fixtures.live_service import free_port


@dataclass
class Enqueued:
    calls: list[tuple[str, int]] = field(default_factory=list)
    fail_with: Exception | None = None
    # status of each search as a separate session saw it at enqueue time (proves commit-before-enqueue)
    seen_status: list[str | None] = field(default_factory=list)
    # landscape jobs (POST /landscape-jobs/..., and their retries), with their status then
    jobs: list[str] = field(default_factory=list)
    seen_job_status: list[str | None] = field(default_factory=list)
    # evaluations (POST /evaluations, retry), with their status then
    evaluations: list[tuple[str, int]] = field(default_factory=list)
    seen_evaluation_status: list[str | None] = field(default_factory=list)


@pytest.fixture
def api_settings(pg_url: str) -> Settings:
    return Settings(
        DATABASE_URL=pg_url,
        BROKER_URL="redis://127.0.0.1:6379/15",
        SSE_POLL_S=0.05,
        READY_TIMEOUT_S=1.0,
        HEARTBEAT_TIMEOUT_S=60,
    )


@pytest.fixture
def database(api_settings: Settings, pg_clean: Engine) -> Iterator[Database]:
    db = Database(api_settings.DATABASE_URL)
    yield db
    db.dispose()


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch, database: Database) -> Enqueued:
    import worker.enqueue
    from store.repositories.landscape import get_job
    from store.repositories.searches import get_search

    record = Enqueued()

    def seen_then_maybe_fail(
        get_row: Callable[[Session, str], Any], row_id: str, seen: list[str | None]
    ) -> None:
        # The status another session sees at enqueue time proves commit-before-enqueue.
        with database.sessionmaker() as other:
            row = get_row(other, row_id)
            seen.append(row.status if row else None)
        if record.fail_with is not None:
            raise record.fail_with

    def fake_enqueue(search_id: str, priority: int = 5) -> None:
        seen_then_maybe_fail(get_search, search_id, record.seen_status)
        record.calls.append((search_id, priority))

    def fake_enqueue_job(job_id: str, priority: int = 5) -> None:
        seen_then_maybe_fail(get_job, job_id, record.seen_job_status)
        record.jobs.append(job_id)

    monkeypatch.setattr(worker.enqueue, "enqueue_search", fake_enqueue)
    monkeypatch.setattr(worker.enqueue, "enqueue_landscape_job", fake_enqueue_job)

    def fake_enqueue_evaluation(evaluation_id: str, priority: int = 5) -> None:
        from store.repositories.evaluations import get_evaluation

        seen_then_maybe_fail(get_evaluation, evaluation_id, record.seen_evaluation_status)
        record.evaluations.append((evaluation_id, priority))

    monkeypatch.setattr(worker.enqueue, "enqueue_evaluation", fake_enqueue_evaluation)
    return record


@pytest.fixture
def app(api_settings: Settings, database: Database, enqueued: Enqueued) -> FastAPI:
    from api.app import create_app

    return create_app(api_settings, database=database)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def server(app: FastAPI) -> Iterator[str]:
    """The app under uvicorn in a thread of this process, for what needs real HTTP (timings, open
    event streams); yields its base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning", lifespan="on")
    served = uvicorn.Server(config)
    thread = threading.Thread(target=served.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not served.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{config.port}"
    served.should_exit = True
    thread.join(timeout=30)


@dataclass
class Keys:
    read: dict[str, str]
    submit: dict[str, str]
    other: dict[str, str]  # a second submit key
    admin: dict[str, str]
    ids: dict[str, str]


@pytest.fixture
def keys(database: Database) -> Keys:
    """Authorization headers for a key of each scope (committed)."""
    headers, ids = {}, {}
    with database.session() as session:
        for name, scope in (("read", "read"), ("submit", "submit"), ("other", "submit"), ("admin", "admin")):
            key, token = make_key(session, scope, name)
            headers[name] = {"Authorization": f"Bearer {token}"}
            ids[name] = key.id
    return Keys(**headers, ids=ids)
