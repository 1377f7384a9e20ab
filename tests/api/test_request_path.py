"""What a hot request costs, counted rather than timed: one thread-pool hop and one connection
checkout per read (two hops for a submit: its body is parsed off the event loop, after the key), the key and the search in two statements (best_val_acc folded into the search's
statement, not read at all on creation), and a pooled connection that the server dropped is
replaced before a request uses it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, text

from store.db import Database
from store.repositories import landscape, results
from tests.api.conftest import Keys
from tests.api.test_results import _epoch, _submit
from tests.api.test_searches import TINY
from tests.fixtures.database import make_evaluation


@dataclass
class Cost:
    hops: int = 0
    checkouts: int = 0
    autocommit: list[bool] = field(default_factory=list)  # per statement: run outside a transaction
    statements: list[str] = field(default_factory=list)


@pytest.fixture
def cost(monkeypatch: pytest.MonkeyPatch, database: Database) -> Iterator[Cost]:
    """Counts thread-pool hops (every blocking call FastAPI or a route makes goes through
    anyio.to_thread.run_sync), pool checkouts and SQL statements, from the moment it is reset."""
    counted = Cost()
    real_run_sync = anyio.to_thread.run_sync

    async def run_sync(func: Any, *args: Any, **kwargs: Any) -> Any:
        counted.hops += 1
        return await real_run_sync(func, *args, **kwargs)

    def on_checkout(*_: Any) -> None:
        counted.checkouts += 1

    def on_statement(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        counted.statements.append(statement)
        counted.autocommit.append(conn.connection.dbapi_connection.autocommit)

    monkeypatch.setattr(anyio.to_thread, "run_sync", run_sync)
    engine = database.engine
    event.listen(engine, "checkout", on_checkout)
    event.listen(engine, "before_cursor_execute", on_statement)
    yield counted
    event.remove(engine, "checkout", on_checkout)
    event.remove(engine, "before_cursor_execute", on_statement)


def _reset(cost: Cost) -> None:
    cost.hops, cost.checkouts, cost.statements, cost.autocommit = 0, 0, [], []


def test_hot_reads_cost_one_hop_one_checkout(
    client: TestClient, keys: Keys, database: Database, cost: Cost
) -> None:
    search_id = _submit(client, keys)
    with database.session() as s:
        for epoch in (0, 1):
            results.upsert_epoch(s, search_id, _epoch(epoch))
        results.upsert_genotype(s, search_id, {"genotype": {}}, epoch=1, is_final=True)
        evaluation_id = make_evaluation(s, keys.ids["read"])
        job = landscape.create_job(
            s,
            kind="neighbourhood",
            supernet_search_id=search_id,
            params={"which": "best"},
            links=[(search_id, "target")],
            owner_key_id=None,
        )
        barrier = landscape.create_job(
            s, kind="barrier", supernet_search_id=search_id, params={}, links=[], owner_key_id=None
        )
    for path in (
        f"/searches/{search_id}",
        "/searches?limit=5",
        "/searches?mine=true",
        f"/searches/{search_id}/curves",
        f"/searches/{search_id}/curves?format=csv",
        f"/landscape-jobs/{barrier.id}",
        f"/landscape-jobs/{job.id}",
        f"/landscape-jobs?search_id={search_id}",
        f"/searches/{search_id}/genotype",
        f"/searches/{search_id}/alphas",
        f"/searches/{search_id}/flatness",
        f"/searches/{search_id}/samples",
        f"/searches/{search_id}/evaluations",
        f"/evaluations/{evaluation_id}",
        f"/evaluations/{evaluation_id}/curves",
        "/evaluations?mine=true",
        "/studies?limit=5",
        f"/searches/{search_id}/benchmark",
        "/methods",
        "/spaces",
        "/catalog",
        "/datasets",
    ):
        _reset(cost)
        resp = client.get(path, headers=keys.read)
        assert resp.status_code == 200, (path, resp.text)
        assert (cost.hops, cost.checkouts) == (1, 1), (path, cost)

    _reset(cost)
    detail = client.get(f"/searches/{search_id}", headers=keys.read).json()
    assert detail["best_val_acc"] == pytest.approx(_epoch(1).val_acc)
    # the key, then the search with its aggregate: no pre-ping, no second query for best_val_acc
    assert len(cost.statements) == 2, cost.statements
    assert "api_key" in cost.statements[0] and "max(epoch_metric.val_acc)" in cost.statements[1]


def test_submit_costs_two_hops_one_key_query_and_reads_no_aggregate(
    client: TestClient, keys: Keys, cost: Cost
) -> None:
    _reset(cost)
    resp = client.post("/searches", json={**TINY, "name": "counted"}, headers=keys.submit)
    assert resp.status_code == 201, resp.text
    assert resp.json()["best_val_acc"] is None
    # the key check and the body's parse (off the event loop, the key first), then the submit,
    # which uses the caller found then: the key is queried once
    assert cost.hops == 2, cost
    assert sum("FROM api_key" in s for s in cost.statements) == 1, cost.statements
    assert not [s for s in cost.statements if "max(epoch_metric.val_acc)" in s], cost.statements
    # the key, then one INSERT that commits as it runs (no BEGIN/COMMIT), nothing read back; the
    # test's enqueue stub then reads the search in a session of its own
    key_check, insert = cost.statements[:2]
    assert "FROM api_key" in key_check and insert.startswith("INSERT INTO search"), cost.statements
    assert "RETURNING" not in insert and cost.autocommit[:2] == [True, True], cost
    assert "FROM search" in cost.statements[2] and len(cost.statements) == 3, cost.statements
    # the answer is built from the values sent; it is what the database holds
    stored = client.get(resp.headers["Location"], headers=keys.read)
    assert stored.status_code == 200 and stored.json() == resp.json()


def test_a_write_without_a_body_costs_one_hop_one_checkout_one_key_query(
    client: TestClient, keys: Keys, cost: Cost
) -> None:
    search_id = _submit(client, keys)
    _reset(cost)
    resp = client.post(f"/searches/{search_id}/cancel", headers=keys.submit)
    assert resp.status_code == 200 and resp.json()["status"] == "cancelled", resp.text
    assert (cost.hops, cost.checkouts) == (1, 1), cost
    assert sum("FROM api_key" in s for s in cost.statements) == 1, cost.statements


def test_unknown_key_and_scope_are_refused_inside_that_one_hop(client: TestClient, keys: Keys) -> None:
    search_id = _submit(client, keys)
    assert client.get(f"/searches/{search_id}", headers={"X-API-Key": "fnas_nope_nope"}).status_code == 401
    assert client.post("/searches", json=TINY, headers=keys.read).status_code == 403
    assert client.get("/searches", headers={"X-API-Key": "not-a-key"}).status_code == 401


def test_connections_the_server_dropped_are_replaced_before_use(
    client: TestClient, keys: Keys, database: Database, pg_engine: Engine
) -> None:
    search_id = _submit(client, keys)
    for _ in range(3):
        assert client.get(f"/searches/{search_id}", headers=keys.read).status_code == 200
    assert database.engine.pool.checkedin() >= 1  # type: ignore[attr-defined]
    # autocommit: pg_stat_activity is read once per transaction, so each poll needs its own
    with pg_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as admin:
        others = (
            "datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
        admin.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE {others}"))
        deadline = time.monotonic() + 10
        while admin.execute(text(f"SELECT count(*) FROM pg_stat_activity WHERE {others}")).scalar_one():
            assert time.monotonic() < deadline, "the terminated backends did not go away"
            time.sleep(0.05)
    # Every pooled connection is dead now; each request must still be served on a fresh one.
    for path in (f"/searches/{search_id}", "/searches", f"/searches/{search_id}/curves"):
        resp = client.get(path, headers=keys.read)
        assert resp.status_code == 200, (path, resp.text)
    assert client.post("/searches", json=TINY, headers=keys.submit).status_code == 201
