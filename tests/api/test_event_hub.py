"""The event hub: however many streams follow however many searches, the store is polled once per
interval, in one statement; its snapshot carries each search's state and newest row ids, on
PostgreSQL and on the embedded SQLite store."""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest
from sqlalchemy import event, text

from api.event_hub import EventHub
from nas_core.reporter import FlatnessRecord
from store.db import Database
from store.repositories import leases, results
from tests.api.test_results import _epoch
from tests.fixtures.database import make_search


def _follow_concurrently(hub: EventHub, search_ids: list[str], streams: int, seconds: float) -> None:
    """`streams` followers spread over `search_ids`, each reading its snapshot every poll_s / 5."""

    async def stream(search_id: str) -> None:
        with hub.follow(search_id):
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                assert await hub.snapshot(search_id) is not None
                await anyio.sleep(hub.poll_s / 5)

    async def main() -> None:
        async with anyio.create_task_group() as tasks:
            for i in range(streams):
                tasks.start_soon(stream, search_ids[i % len(search_ids)])

    anyio.run(main)


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_one_poll_per_interval_for_every_stream(backend: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("pg_url" if backend == "postgresql" else "sqlite_url")
    if backend == "postgresql":
        request.getfixturevalue("pg_clean")
    database = Database(url)
    with database.session() as s:
        ids = [make_search(s).id for _ in range(3)]
    statements: list[str] = []

    def on_statement(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(database.engine, "before_cursor_execute", on_statement)
    hub = EventHub(database, poll_s=0.1)
    started = time.monotonic()
    _follow_concurrently(hub, ids, streams=60, seconds=1.0)
    elapsed = time.monotonic() - started
    event.remove(database.engine, "before_cursor_execute", on_statement)
    database.dispose()
    # 60 streams over 3 searches, each asking 50 times a second: at most one poll per interval
    assert 1 <= hub.polls <= elapsed / hub.poll_s + 2, (hub.polls, elapsed)
    assert len(statements) == hub.polls  # one statement per poll, for all three searches


def test_snapshot_carries_state_and_newest_rows(pg_url: str, pg_clean: Any) -> None:
    database = Database(pg_url)
    with database.session() as s:
        search_id = make_search(s).id
    hub = EventHub(database, poll_s=0.0)

    async def snapshot() -> Any:
        with hub.follow(search_id):
            return await hub.snapshot(search_id)

    first = anyio.run(snapshot)
    assert first.state["status"] == "queued" and (first.epoch, first.genotype_id, first.flatness_id) == (
        -1,
        0,
        0,
    )
    with database.session() as s:
        leases.claim(s, search_id, worker="w1", stale_after_s=60)
        results.upsert_epoch(s, search_id, _epoch(0))
        results.upsert_epoch(s, search_id, _epoch(1))
        genotype_id = results.upsert_genotype(s, search_id, {"genotype": {}}, epoch=1, is_best=True)
        flatness = results.add_flatness(s, search_id, FlatnessRecord("skip_count", 1, {}, 2, 0.01))
    later = anyio.run(snapshot)
    assert later.state["status"] == "running" and later.state["worker"] == "w1"
    assert (later.epoch, later.genotype_id, later.flatness_id) == (1, genotype_id, flatness.id)
    with database.session() as s:
        s.execute(text("DELETE FROM search WHERE id = :id"), {"id": search_id})
    assert anyio.run(snapshot) is None  # deleted
    database.dispose()
