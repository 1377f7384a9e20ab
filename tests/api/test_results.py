"""Result reads (genotype, curves JSON/CSV, alphas, flatness, samples) of rows written through the
repositories the worker uses; values checked against what was written."""

from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import update

from api.event_hub import Poll, poll_searches
from nas_core.genotype import DARTS_V2, genotype_from_json, genotype_to_json
from nas_core.reporter import EpochRecord, FlatnessRecord, SampledArchitecture
from store.db import Database
from store.models import Search
from store.repositories import results, searches
from tests.api.conftest import Keys
from tests.api.test_searches import TINY
from tests.wait import wait_until


def _epoch(epoch: int) -> EpochRecord:
    return EpochRecord(
        epoch=epoch,
        train_loss=2.3 - 0.25 * epoch,
        train_acc=0.1 + 0.05 * epoch,
        val_loss=2.4 - 0.2 * epoch,
        val_acc=0.12 + 0.04 * epoch,
        lr=0.025 / (epoch + 1),
        seconds=3.5 + epoch,
        alphas={"normal": [[0.1 * epoch, 0.2]], "reduce": [[0.3, 0.4]]},
        genotype={},
        extra={"beta": [epoch]},
    )


def _submit(client: TestClient, keys: Keys, **spec) -> str:
    resp = client.post("/searches", json={**TINY, **spec}, headers=keys.submit)
    assert resp.status_code == 201, resp.text
    return resp.json()["id"]


def test_genotype_download(client: TestClient, keys: Keys, database: Database) -> None:
    search_id = _submit(client, keys, name="darts v2/repro", space="darts", supernet={"C": 4, "layers": 5})
    final_doc = genotype_to_json(DARTS_V2)
    with database.session() as s:
        results.upsert_genotype(
            s, search_id, {"space": "darts", "genotype": {"early": True}}, epoch=0, is_best=True
        )
        results.upsert_genotype(s, search_id, final_doc, epoch=1, is_final=True)
    assert (
        client.get(f"/searches/{search_id}/genotype", params={"which": "best"}, headers=keys.read).json()[
            "epoch"
        ]
        == 0
    )

    resp = client.get(f"/searches/{search_id}/genotype", params={"which": "final"}, headers=keys.read)
    assert resp.status_code == 200
    assert (
        resp.headers["content-disposition"]
        == f'attachment; filename="darts-v2-repro-{search_id[:8]}-final.genotype.json"'
    )
    doc = resp.json()
    assert (doc["epoch"], doc["search_id"], doc["is_final"]) == (1, search_id, True)
    assert genotype_from_json(doc) == DARTS_V2  # the download round-trips to the same architecture
    by_epoch = client.get(f"/searches/{search_id}/genotype", params={"epoch": 0}, headers=keys.read)
    assert (
        by_epoch.json()["genotype"] == {"early": True} and "epoch0" in by_epoch.headers["content-disposition"]
    )
    assert (
        client.get(f"/searches/{search_id}/genotype", headers=keys.read).json()["epoch"] == 1
    )  # default: final

    missing = client.get(f"/searches/{search_id}/genotype", params={"epoch": 9}, headers=keys.read)
    assert missing.status_code == 404 and "epoch 9" in missing.json()["detail"]
    both = client.get(
        f"/searches/{search_id}/genotype", params={"epoch": 0, "which": "best"}, headers=keys.read
    )
    assert both.status_code == 400
    none_yet = client.get(f"/searches/{_submit(client, keys)}/genotype", headers=keys.read)
    assert none_yet.status_code == 404 and "(queued)" in none_yet.json()["detail"]


def test_curves_json_csv_and_alphas(client: TestClient, keys: Keys, database: Database) -> None:
    search_id = _submit(client, keys, name="curves")
    with database.session() as s:
        for epoch in (0, 1, 2):
            results.upsert_epoch(s, search_id, _epoch(epoch))
        results.upsert_epoch(s, search_id, _epoch(2))  # resumed: rewritten, not duplicated
    items = client.get(f"/searches/{search_id}/curves", headers=keys.read).json()["items"]
    assert [i["epoch"] for i in items] == [0, 1, 2]
    assert items[2]["val_acc"] == _epoch(2).val_acc and items[1]["lr"] == 0.025 / 2

    resp = client.get(f"/searches/{search_id}/curves", params={"format": "csv"}, headers=keys.read)
    assert resp.headers["content-type"].startswith("text/csv")
    assert "attachment" in resp.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(resp.text)))
    # An nb201 search without ground-truth lookups (no benchmark configured): no empty benchmark columns.
    assert list(rows[0]) == ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"]
    assert [float(r["train_loss"]) for r in rows] == [_epoch(e).train_loss for e in range(3)]

    alphas = client.get(f"/searches/{search_id}/alphas", headers=keys.read).json()["items"]
    assert alphas[1] == {"epoch": 1, "alphas": _epoch(1).alphas, "extra": {"beta": [1]}}
    only = client.get(f"/searches/{search_id}/alphas", params={"epoch": 2}, headers=keys.read).json()["items"]
    assert [a["epoch"] for a in only] == [2]

    detail = client.get(f"/searches/{search_id}", headers=keys.read).json()
    assert detail["best_val_acc"] == max(_epoch(e).val_acc for e in range(3))


def test_flatness_and_samples(client: TestClient, keys: Keys, database: Database) -> None:
    search_id = _submit(client, keys, name="flat")
    with database.session() as s:
        results.add_flatness(
            s, search_id, FlatnessRecord("neighbourhood", None, {"radius": 1}, {"mean": 0.5}, 2.0)
        )
        results.add_flatness(
            s,
            search_id,
            FlatnessRecord("hessian_eigenvalue", 0, {"iterations": 3, "residual": 0.4}, 3.25, 0.4),
        )
        results.add_flatness(
            s,
            search_id,
            FlatnessRecord("hessian_eigenvalue", 4, {"iterations": 20, "residual": 0.002}, 5.5, 0.4),
        )
        results.record_samples(
            s,
            search_id,
            [SampledArchitecture(genotype={"arch": i}, score=100.0 - i, rank=i) for i in range(4)],
        )
    items = client.get(f"/searches/{search_id}/flatness", headers=keys.read).json()["items"]
    assert [(i["kind"], i["epoch"]) for i in items] == [
        ("hessian_eigenvalue", 0),
        ("hessian_eigenvalue", 4),
        ("neighbourhood", None),
    ]
    hess = client.get(
        f"/searches/{search_id}/flatness", params={"kind": "hessian_eigenvalue"}, headers=keys.read
    )
    assert [i["value"] for i in hess.json()["items"]] == [3.25, 5.5]
    # the residual beside the value, and an estimate with residual > 0.1 flagged as not converged
    assert [(i["residual"], i["converged"]) for i in hess.json()["items"]] == [(0.4, False), (0.002, True)]
    assert items[2]["residual"] is None and items[2]["converged"] is None  # other metrics have none
    samples = client.get(f"/searches/{search_id}/samples", params={"limit": 2}, headers=keys.read).json()[
        "items"
    ]
    assert samples == [
        {"rank": 0, "score": 100.0, "genotype": {"arch": 0}},
        {"rank": 1, "score": 99.0, "genotype": {"arch": 1}},
    ]
    assert client.get("/searches/nope/flatness", headers=keys.read).status_code == 404


def hub_polls(app: Any, poll: Poll) -> int:
    """Store polls made so far by the app's event hub for `poll`'s job kind (0 before its first stream)."""
    hub = getattr(app.state, "event_hubs", {}).get(poll)
    return hub.polls if hub is not None else 0


def after_the_next_poll(app: Any, poll: Poll) -> None:
    """Return once a hub poll that *began* after this call has ended: a poll may be under way now
    (its count rises when it ends), so two more polls are needed. The stream is the hub's only
    caller in these tests, so it has then turned what was written before this call into events."""
    seen = hub_polls(app, poll)
    wait_until(lambda: hub_polls(app, poll) >= seen + 2, 60, "the event stream's next store poll")


def write_beside_the_stream(write: Callable[[], None], end: Callable[[], None]) -> Callable[[], None]:
    """Run `write` (a worker-like writer) in a thread; returns a join that re-raises its failure.
    A failed writer calls `end` (a terminal status) so the stream it was feeding ends, not hangs."""
    failures: list[BaseException] = []

    def run() -> None:
        try:
            write()
        except BaseException as err:
            failures.append(err)
            end()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def join() -> None:
        thread.join(timeout=120)
        assert not thread.is_alive(), "the writer thread did not finish"
        if failures:
            raise failures[0]

    return join


def test_events_stream_what_another_session_writes(
    client: TestClient, keys: Keys, database: Database
) -> None:
    """The stream is read while a worker-like thread writes rows through its own sessions; the
    writer waits for the stream's polls (not the clock), so each change is seen on its own."""
    search_id = _submit(client, keys, name="live")

    def worker() -> None:
        # The stream's first poll must see the search still queued: wait until it has happened.
        wait_until(lambda: hub_polls(client.app, poll_searches) >= 1, 60, "the stream's first poll")
        with database.session() as s:
            searches.lease.claim(s, search_id, worker="w1", stale_after_s=60)
        for epoch in (0, 1):
            after_the_next_poll(client.app, poll_searches)  # each progress is a separate change
            with database.session() as s:
                progress = {
                    "epoch": epoch,
                    "step": 3,
                    "steps_per_epoch": 4,
                    "total_epochs": 2,
                    "phase": "train",
                }
                assert searches.lease.set_progress(s, search_id, progress, worker="w1")
            after_the_next_poll(client.app, poll_searches)
            with database.session() as s:
                results.upsert_epoch(s, search_id, _epoch(epoch))
                results.upsert_genotype(s, search_id, {"genotype": {"e": epoch}}, epoch=epoch, is_best=True)
        with database.session() as s:
            results.add_flatness(s, search_id, FlatnessRecord("skip_count", 1, {}, 2, 0.01))
            searches.lease.mark_succeeded(s, search_id, worker="w1")

    def end() -> None:
        with database.session() as s:
            s.execute(update(Search).where(Search.id == search_id).values(status="failed"))

    join = write_beside_the_stream(worker, end)
    resp = client.get(f"/searches/{search_id}/events", headers=keys.read)
    join()
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
    events = _parse_sse(resp.text)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "status" and events[0]["data"]["status"] == "queued"
    assert kinds[-1] == "status" and events[-1]["data"]["status"] == "succeeded"
    assert [e["data"]["epoch"] for e in events if e["event"] == "epoch"] == [0, 1]
    assert [e["data"]["val_acc"] for e in events if e["event"] == "epoch"] == [
        _epoch(0).val_acc,
        _epoch(1).val_acc,
    ]
    assert {e["data"]["epoch"] for e in events if e["event"] == "progress"} == {0, 1}
    assert [e["data"]["genotype"]["genotype"] for e in events if e["event"] == "genotype"] == [
        {"e": 0},
        {"e": 1},
    ]
    assert [e["data"]["kind"] for e in events if e["event"] == "flatness"] == ["skip_count"]
    assert "running" in [e["data"]["status"] for e in events if e["event"] == "status"]
    # every epoch event precedes the progress of the next epoch: events arrive as written
    order = [(e["event"], e["data"].get("epoch")) for e in events if e["event"] in ("epoch", "progress")]
    assert order.index(("epoch", 0)) < order.index(("progress", 1))

    # a reconnect with Last-Event-ID gets only what came after that event
    first_epoch_id = next(e["id"] for e in events if e["event"] == "epoch")
    again = client.get(
        f"/searches/{search_id}/events", headers={**keys.read, "Last-Event-ID": first_epoch_id}
    )
    replay = _parse_sse(again.text)
    assert [e["data"]["epoch"] for e in replay if e["event"] == "epoch"] == [1]
    assert replay[-1]["data"]["status"] == "succeeded"


def _parse_sse(text: str) -> list[dict]:
    events = []
    for block in text.strip().split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":")
        )
        if "event" in fields:
            events.append(
                {"event": fields["event"], "id": fields.get("id"), "data": json.loads(fields["data"])}
            )
    return events
