"""The whole service as a client meets it: HTTP in, a real Celery worker process, rows and SSE out.

Production stack (`live_service`): PostgreSQL, Redis, uvicorn and `celery worker --pool solo`
started with docker-compose.yml's own command lines. Embedded stack (`embedded_service`): SQLite
and kombu's SQLAlchemy transport, the path `make run` takes. Searches are tiny (NB201, C=4, one cell
per stage, 8x8 digits) so the module fits its budget on two shared cores.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from store.db import Database
from store.models import Checkpoint, EpochMetric, Search
from tests.fixtures.live_service import LiveService
from tests.unit.tiny import tiny_body

pytestmark = pytest.mark.integration

NO_FLATNESS = {
    "hessian_eigenvalue": False,
    "a2m_sharpness": False,
    "alpha_entropy": False,
    "neighbourhood": False,
    "cell_shape": False,
    "skip_count": True,
    "interval": 1,
}


def tiny_spec(**overrides: Any) -> dict[str, Any]:
    """The tiny body on 128 digits for 3 epochs, tagged `integration`; overrides replace keys whole."""
    defaults = {
        "name": "e2e",
        "space": "nb201",
        "method": "darts",
        "dataset": {"name": "digits", "subset": 128, "image_size": 8},
        "epochs": 3,
        "seed": 1,
        "flatness": NO_FLATNESS,
        "tags": ["integration"],
    }
    return tiny_body(**{**defaults, **overrides})


def submit(client: httpx.Client, spec: dict[str, Any]) -> str:
    response = client.post("/searches", json=spec)
    assert response.status_code == 201, response.text
    assert response.headers["Location"] == f"/searches/{response.json()['id']}"
    return str(response.json()["id"])


def wait_for_status(
    client: httpx.Client, path: str, statuses: set[str], timeout: float = 90
) -> dict[str, Any]:
    """Poll GET `path` (a search or a landscape job) until its status is one of `statuses`."""
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(path).json()
        if body["status"] in statuses:
            return dict(body)
        assert time.monotonic() < deadline, f"{path} still {body['status']}: {body}"
        time.sleep(0.1)


def wait_for(client: httpx.Client, search_id: str, statuses: set[str], timeout: float = 90) -> dict[str, Any]:
    return wait_for_status(client, f"/searches/{search_id}", statuses, timeout)


def sse_events(client: httpx.Client, path: str, timeout: float = 90) -> Iterator[tuple[str, dict[str, Any]]]:
    """(event, data) pairs of a server-sent event stream, until the server ends it."""
    with client.stream("GET", path, timeout=httpx.Timeout(timeout)) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        event, data = None, []
        for line in response.iter_lines():
            if line.startswith("event:"):
                event = line[len("event:") :].strip()
            elif line.startswith("data:"):
                data.append(line[len("data:") :].strip())
            elif line == "" and event is not None:
                yield event, json.loads("\n".join(data))
                event, data = None, []


def genotype_without_owner(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k != "search_id"}


@pytest.fixture(scope="module")
def database(live_service: LiveService) -> Iterator[Database]:
    db = Database(live_service.database_url)
    yield db
    db.dispose()


def epoch_rows(database: Database, search_id: str) -> list[tuple[int, int]]:
    """(epoch, number of rows for it): a duplicate shows as a count above one."""
    with database.sessionmaker() as session:
        stmt = (
            select(EpochMetric.epoch, func.count())
            .where(EpochMetric.search_id == search_id)
            .group_by(EpochMetric.epoch)
            .order_by(EpochMetric.epoch)
        )
        return [(int(e), int(n)) for e, n in session.execute(stmt)]


def test_submit_watch_over_sse_and_download_the_genotype(live_service: LiveService) -> None:
    with live_service.client() as client:
        search_id = submit(client, tiny_spec())
        events = list(sse_events(client, f"/searches/{search_id}/events"))
        kinds = [kind for kind, _ in events]
        epochs = [data["epoch"] for kind, data in events if kind == "epoch"]
        statuses = [data["status"] for kind, data in events if kind == "status"]
        assert epochs == [0, 1, 2]
        assert "progress" in kinds and "genotype" in kinds
        assert statuses[-1] == "succeeded", events[-3:]
        # Every epoch arrives before the stream's final status event.
        assert max(i for i, k in enumerate(kinds) if k == "epoch") < len(kinds) - 1

        detail = client.get(f"/searches/{search_id}").json()
        assert detail["status"] == "succeeded" and detail["error"] is None

        response = client.get(f"/searches/{search_id}/genotype")
        assert response.status_code == 200
        assert "attachment" in response.headers.get("content-disposition", "")
        document = response.json()
        assert document["space"] == "nb201" and document["search_id"] == search_id
        assert document["epoch"] == 2
        edges = document["genotype"]["edges"]
        assert len(edges) == 6 and all(op in document["ops"] for op, _ in edges)
        # The NB201 string is the same architecture as the edge list.
        assert document["arch_str"].count("~") == 6
        last_epoch_genotype = [d for k, d in events if k == "genotype" and d["epoch"] == 2]
        assert last_epoch_genotype and last_epoch_genotype[-1]["genotype"]["genotype"] == document["genotype"]


def test_killed_worker_resumes_from_its_checkpoint_with_the_same_result(
    live_service: LiveService, database: Database
) -> None:
    # Long enough per epoch (16 steps) that the kill lands mid-search, after the first checkpoint.
    spec = tiny_spec(
        name="resume", epochs=5, seed=7, dataset={"name": "digits", "subset": 512, "image_size": 8}
    )
    with live_service.client() as client:
        interrupted = submit(client, spec)
        deadline = time.monotonic() + 90
        while True:
            with database.sessionmaker() as session:
                checkpoints = session.scalar(
                    select(func.count()).select_from(Checkpoint).where(Checkpoint.search_id == interrupted)
                )
                status = session.scalar(select(Search.status).where(Search.id == interrupted))
            if checkpoints:
                break
            assert time.monotonic() < deadline, f"no checkpoint yet:\n{live_service.logs()}"
            time.sleep(0.05)
        first_worker = client.get(f"/searches/{interrupted}").json()["worker"]
        live_service.kill_worker()
        assert status == "running", "the search ended before the worker could be killed; make it longer"
        live_service.start_worker()
        deadline = time.monotonic() + 120
        while (body := client.get(f"/searches/{interrupted}").json())["status"] not in (
            "succeeded",
            "failed",
        ):
            assert time.monotonic() < deadline, f"not resumed: {body}\n{live_service.logs()}"
            time.sleep(0.1)
        assert body["status"] == "succeeded", body
        # The new worker's reaper noticed the silent lease and re-queued the search (Redis would
        # give the unacknowledged message back only after its visibility timeout, an hour).
        logs = live_service.logs(tail=100_000)
        assert f"search {interrupted}: worker silent" in logs
        # ... and the new worker continued from the checkpoint instead of starting over.
        assert re.search(rf"search {interrupted}: resumed at epoch [1-4] of 5", logs), logs
        assert body["worker"] != first_worker

        # The same spec, never interrupted.
        uninterrupted = submit(client, spec)
        wait_for(client, uninterrupted, {"succeeded", "failed"}, timeout=120)

        resumed_genotype = client.get(f"/searches/{interrupted}/genotype").json()
        reference_genotype = client.get(f"/searches/{uninterrupted}/genotype").json()
        curves = [client.get(f"/searches/{sid}/curves").json() for sid in (interrupted, uninterrupted)]

    assert epoch_rows(database, interrupted) == [(e, 1) for e in range(5)]
    with database.sessionmaker() as session:
        attempts = session.scalar(select(Search.attempts).where(Search.id == interrupted))
    assert attempts == 2
    assert genotype_without_owner(resumed_genotype) == genotype_without_owner(reference_genotype)
    # Not only the end point: every epoch's metrics match the uninterrupted run's.
    assert _curve_values(curves[0]) == pytest.approx(_curve_values(curves[1]), rel=1e-5, abs=1e-6)


def _curve_values(curves: dict[str, Any]) -> list[float]:
    rows = curves["items"]
    assert [row["epoch"] for row in rows] == list(range(len(rows)))
    return [float(row[k]) for row in rows for k in ("train_loss", "train_acc", "val_loss", "val_acc")]


def test_cancel_stops_a_running_search_within_a_step(live_service: LiveService) -> None:
    spec = tiny_spec(name="cancel-me", epochs=200, dataset={"name": "digits", "subset": 512, "image_size": 8})
    with live_service.client() as client:
        search_id = submit(client, spec)
        deadline = time.monotonic() + 60
        while True:
            body = client.get(f"/searches/{search_id}").json()
            if body["status"] == "running" and body.get("progress") and body["progress"].get("step", 0) > 0:
                break
            assert time.monotonic() < deadline, body
            time.sleep(0.1)
        response = client.post(f"/searches/{search_id}/cancel")
        assert response.status_code == 202, response.text
        asked = time.monotonic()
        body = wait_for(client, search_id, {"cancelled", "failed", "succeeded"}, timeout=30)
        took = time.monotonic() - asked
    assert body["status"] == "cancelled", body
    # A step takes a fraction of a second here; the reporter polls every 0.5 s.
    assert took < 5, f"cancel took {took:.1f} s"
    assert body["progress"]["epoch"] < 199


def test_bad_specs_get_problem_details_naming_the_field(live_service: LiveService) -> None:
    cases = [
        ({**tiny_spec(), "epoch": 3}, "epoch"),  # a typo is refused, never silently defaulted
        (tiny_spec(supernet={"C": 0, "N": 1}), "supernet.C"),
        (tiny_spec(method="beta-darts", method_params={"tau": -1}), "method_params.tau"),
        (tiny_spec(dataset={"name": "mnist"}), "dataset.name"),
    ]
    with live_service.client() as client:
        for spec, field in cases:
            response = client.post("/searches", json=spec)
            assert response.status_code == 422, (field, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
            problem = response.json()
            assert problem["status"] == 422 and problem["title"] and problem["type"].startswith("http")
            fields = [error["field"] for error in problem["errors"]]
            assert any(f == field or f.endswith("." + field) for f in fields), (field, problem)
        enum_error = client.post("/searches", json=cases[3][0]).json()["errors"][0]
        assert "cifar10" in json.dumps(enum_error)  # says what is allowed


def test_missing_and_wrong_keys_get_401_and_403(live_service: LiveService) -> None:
    base = live_service.base_url
    assert httpx.get(f"{base}/searches").status_code == 401
    assert httpx.post(f"{base}/searches", json=tiny_spec()).status_code == 401
    wrong = httpx.get(f"{base}/searches", headers={"Authorization": "Bearer fnas_0000_not-a-key"})
    assert wrong.status_code == 401
    assert wrong.headers["content-type"].startswith("application/problem+json")
    reader = live_service.create_key("read")
    with live_service.client(reader) as client:
        assert client.get("/searches").status_code == 200
        forbidden = client.post("/searches", json=tiny_spec())
        assert forbidden.status_code == 403, forbidden.text
        assert forbidden.headers["content-type"].startswith("application/problem+json")
    assert httpx.get(f"{base}/healthz").status_code == 200  # health stays open


def test_embedded_stack_runs_a_search_end_to_end(embedded_service: LiveService) -> None:
    """SQLite + kombu's SQLAlchemy transport on a SQLite file: no server at all, as `make run`."""
    assert embedded_service.broker_url.startswith("sqla+sqlite:///")
    with embedded_service.client() as client:
        assert client.get("/readyz").status_code == 200
        search_id = submit(client, tiny_spec(name="embedded", epochs=2))
        events = list(sse_events(client, f"/searches/{search_id}/events"))
        assert [d["epoch"] for k, d in events if k == "epoch"] == [0, 1]
        assert [d["status"] for k, d in events if k == "status"][-1] == "succeeded"
        document = client.get(f"/searches/{search_id}/genotype").json()
        assert document["search_id"] == search_id and document["epoch"] == 1
