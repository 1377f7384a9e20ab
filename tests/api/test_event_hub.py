"""The event hub: however many streams follow however many searches (or evaluations), the store is
polled once per interval, in one statement; its snapshot carries each job's state and newest row
ids, on PostgreSQL and on the embedded SQLite store."""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event, text, update

from api.event_hub import EventHub, poll_evaluations, poll_searches
from nas_core.reporter import FlatnessRecord
from store.db import Database
from store.models import Evaluation
from store.repositories import evaluations, results, searches
from tests.api.conftest import Keys
from tests.api.test_results import _epoch, _parse_sse, after_the_next_poll, hub_polls, write_beside_the_stream
from tests.fixtures.database import make_evaluation, make_search
from tests.wait import wait_until


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
        searches.lease.claim(s, search_id, worker="w1", stale_after_s=60)
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


def _evaluation_epoch(epoch: int) -> dict[str, Any]:
    return {"epoch": epoch, "train_loss": 1.0 / (epoch + 1), "train_acc": 0.5, "test_loss": 1.0}


def test_evaluation_streams_share_one_poll_per_interval(pg_url: str, pg_clean: Any) -> None:
    database = Database(pg_url)
    with database.session() as s:
        ids = [make_evaluation(s) for _ in range(2)]
        evaluations.upsert_epoch(s, ids[0], {**_evaluation_epoch(0), "lr": 0.1, "seconds": 1.0})
    statements: list[str] = []

    def on_statement(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(database.engine, "before_cursor_execute", on_statement)
    hub = EventHub(database, poll_s=0.1, poll=poll_evaluations)
    started = time.monotonic()
    _follow_concurrently(hub, ids, streams=40, seconds=1.0)
    elapsed = time.monotonic() - started
    event.remove(database.engine, "before_cursor_execute", on_statement)
    assert 1 <= hub.polls <= elapsed / hub.poll_s + 2, (hub.polls, elapsed)
    assert len(statements) == hub.polls  # one statement per poll, for both evaluations

    async def snapshots() -> list[Any]:
        with hub.follow(ids[0]), hub.follow(ids[1]):
            await anyio.sleep(hub.poll_s)
            return [await hub.snapshot(i) for i in ids]

    first, second = anyio.run(snapshots)
    assert first.state["status"] == "queued" and (first.epoch, first.genotype_id, first.flatness_id) == (
        0,
        0,
        0,
    )
    assert second.epoch == -1
    database.dispose()


def test_an_evaluation_stream_is_served_from_the_apps_evaluation_hub(
    app: FastAPI, client: TestClient, keys: Keys, database: Database
) -> None:
    """The whole route: state, progress and epoch events as a worker-like thread writes them, the
    stream ending after the final status, with the store polled by the app's evaluation hub."""
    with database.session() as s:
        evaluation_id = make_evaluation(s)

    def worker() -> None:
        # The stream's first poll must see it queued: wait until that poll has happened.
        wait_until(lambda: hub_polls(app, poll_evaluations) >= 1, 60, "the stream's first poll")
        with database.session() as s:
            evaluations.lease.claim(s, evaluation_id, worker="w1", stale_after_s=60)
        for epoch in (0, 1):
            after_the_next_poll(app, poll_evaluations)  # each progress is a separate change
            with database.session() as s:
                progress = {
                    "epoch": epoch,
                    "step": 1,
                    "steps_per_epoch": 2,
                    "total_epochs": 2,
                    "phase": "train",
                }
                evaluations.lease.set_progress(s, evaluation_id, progress, worker="w1")
            after_the_next_poll(app, poll_evaluations)
            with database.session() as s:
                evaluations.upsert_epoch(
                    s, evaluation_id, {**_evaluation_epoch(epoch), "lr": 0.1, "seconds": 1.0}
                )
        with database.session() as s:
            evaluations.lease.mark_succeeded(s, evaluation_id, result={"test_acc": 0.9}, worker="w1")

    def end() -> None:
        with database.session() as s:
            s.execute(update(Evaluation).where(Evaluation.id == evaluation_id).values(status="failed"))

    join = write_beside_the_stream(worker, end)
    resp = client.get(f"/evaluations/{evaluation_id}/events", headers=keys.read)
    join()
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
    events = _parse_sse(resp.text)
    assert events[0]["event"] == "status" and events[0]["data"]["status"] == "queued"
    assert events[-1]["event"] == "status" and events[-1]["data"]["status"] == "succeeded"
    assert [e["data"]["epoch"] for e in events if e["event"] == "epoch"] == [0, 1]
    assert {e["data"]["epoch"] for e in events if e["event"] == "progress"} == {0, 1}
    assert app.state.event_hubs[poll_evaluations].polls >= 1
    assert poll_searches not in app.state.event_hubs  # search streams keep their own hub
    assert client.get("/evaluations/nope/events", headers=keys.read).status_code == 404
