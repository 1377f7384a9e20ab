"""Event streams without history, Last-Event-ID beyond int4, a2m_enabled in list summaries, and a
retried search's fresh heartbeat (fixes asked for by the dashboard and worker engineers)."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import update

from nas_core.reporter import FlatnessRecord
from store.db import Database
from store.models import Search, utcnow
from store.repositories import results, searches
from tests.api.conftest import Keys
from tests.api.test_results import _epoch, _parse_sse, _submit
from tests.api.test_searches import TINY


def _finished_search(client: TestClient, keys: Keys, database: Database) -> str:
    search_id = _submit(client, keys, name="done")
    finish_as_a_worker(database, search_id)
    return search_id


def finish_as_a_worker(database: Database, search_id: str) -> None:
    """What a worker writes for a search: two epochs with their genotypes, a flatness row, success."""
    with database.session() as s:
        searches.lease.claim(s, search_id, worker="w1", stale_after_s=60)
        for epoch in (0, 1):
            results.upsert_epoch(s, search_id, _epoch(epoch))
            results.upsert_genotype(s, search_id, {"genotype": {"e": epoch}}, epoch=epoch, is_best=True)
        results.add_flatness(s, search_id, FlatnessRecord("skip_count", 1, {}, 2, 0.01))
        searches.lease.mark_succeeded(s, search_id, worker="w1")


def test_last_event_id_beyond_int4_is_clamped_not_a_500(
    client: TestClient, keys: Keys, database: Database
) -> None:
    search_id = _finished_search(client, keys, database)
    for last in ("99999999999.99999999999.99999999999", f"1.{2**31}.{2**40}"):
        resp = client.get(f"/searches/{search_id}/events", headers={**keys.read, "Last-Event-ID": last})
        assert resp.status_code == 200, (last, resp.text)
        events = _parse_sse(resp.text)
        assert [e["event"] for e in events] == ["status"], (last, events)  # past every row
        assert events[0]["data"]["status"] == "succeeded"
    # a negative genotype id is clamped to 0: genotypes replay, epochs after 5 do not exist
    resp = client.get(f"/searches/{search_id}/events", headers={**keys.read, "Last-Event-ID": "0.-3.0"})
    assert [e["event"] for e in _parse_sse(resp.text)] == [
        "epoch",
        "genotype",
        "genotype",
        "flatness",
        "status",
    ]


def test_history_false_skips_past_rows_but_sends_state(
    client: TestClient, keys: Keys, database: Database
) -> None:
    search_id = _finished_search(client, keys, database)
    full = _parse_sse(client.get(f"/searches/{search_id}/events", headers=keys.read).text)
    assert [e["event"] for e in full].count("epoch") == 2
    resp = client.get(f"/searches/{search_id}/events?history=false", headers=keys.read)
    assert resp.status_code == 200
    events = _parse_sse(resp.text)
    assert [e["event"] for e in events] == ["status"] and events[0]["data"]["status"] == "succeeded"
    # its id is the tip: a reconnect with it replays nothing either
    assert events[0]["id"] == full[-1]["id"]
    # an explicit Last-Event-ID wins over history=false (a reconnecting client resumes)
    first_epoch = next(e["id"] for e in full if e["event"] == "epoch")
    resumed = client.get(
        f"/searches/{search_id}/events?history=false", headers={**keys.read, "Last-Event-ID": first_epoch}
    )
    assert [e["data"]["epoch"] for e in _parse_sse(resumed.text) if e["event"] == "epoch"] == [1]
    bad = client.get(f"/searches/{search_id}/events?history=maybe", headers=keys.read)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "history"


def test_list_summaries_say_whether_a2m_is_on(client: TestClient, keys: Keys) -> None:
    on = client.post("/searches", json={**TINY, "name": "on"}, headers=keys.submit).json()["id"]
    off = client.post("/searches", json={**TINY, "name": "off", "a2m": None}, headers=keys.submit).json()[
        "id"
    ]
    disabled = client.post(
        "/searches", json={**TINY, "name": "disabled", "a2m": {"enabled": False}}, headers=keys.submit
    ).json()["id"]
    items = {s["id"]: s for s in client.get("/searches", headers=keys.read).json()["items"]}
    assert (items[on]["a2m_enabled"], items[off]["a2m_enabled"], items[disabled]["a2m_enabled"]) == (
        True,
        False,
        False,
    )
    assert "spec" not in items[on]  # still a summary
    assert client.get(f"/searches/{on}", headers=keys.read).json()["a2m_enabled"] is True


def test_retry_refreshes_the_heartbeat_so_the_reaper_leaves_it(database: Database, keys: Keys) -> None:
    from tests.fixtures.database import make_search

    with database.session() as s:
        search_id = make_search(s, keys.ids["submit"]).id
        searches.lease.mark_failed(s, search_id, "boom", worker=None)
        old = utcnow() - timedelta(hours=1)
        s.execute(update(Search).where(Search.id == search_id).values(heartbeat_at=old))
    with database.session() as s:
        assert searches.lease.request_retry(s, search_id)
        assert searches.lease.reap_stale(s, stale_after_s=60) == []  # fresh: not re-enqueued
        row = searches.get_search(s, search_id)
        assert row is not None and row.status == "retrying"
        assert utcnow() - row.heartbeat_at < timedelta(seconds=30)
