"""An open event stream re-checks its key at each poll: once the key is revoked, the stream ends
with a final `error` event (problem details) within a poll or two, while streams opened with other
keys go on. Real streams over HTTP (uvicorn in this process), SSE_POLL_S = 0.05 s."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from store.db import Database
from store.repositories import keys as api_keys
from tests.api.conftest import Keys
from tests.api.test_results import _submit
from tests.fixtures.database import make_evaluation

# Polls come every 0.05 s here: the stream must end well within this even on a loaded machine, and
# on a build that does not re-check keys it never ends (a keep-alive every 15 s, nothing else).
DEADLINE_S = 5.0


def _events(lines: Iterator[str]) -> Iterator[tuple[str, dict]]:
    """(event, data) for each event of an SSE line stream, as each one completes."""
    event = None
    for line in lines:
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: ") and event is not None:
            yield event, json.loads(line.removeprefix("data: "))
            event = None


def _revoke(database: Database, key_id: str) -> None:
    with database.session() as session:
        assert api_keys.revoke_key(session, key_id) is not None


@pytest.mark.parametrize("kind", ["searches", "evaluations"])
def test_a_revoked_keys_stream_ends_with_an_error_event(
    server: str, client: TestClient, keys: Keys, database: Database, kind: str
) -> None:
    if kind == "searches":
        job_id = _submit(client, keys)
    else:
        with database.session() as session:
            job_id = make_evaluation(session, keys.ids["submit"])
    url = f"{server}/{kind}/{job_id}/events"
    with httpx.Client(timeout=httpx.Timeout(10, read=DEADLINE_S)) as http:
        with http.stream("GET", url, headers=keys.read) as stream:
            assert stream.status_code == 200
            events = _events(stream.iter_lines())
            assert next(events)[0] == "status"  # the stream is live: the job's state came
            _revoke(database, keys.ids["read"])
            revoked = time.monotonic()
            rest = list(events)  # to the end of the stream (a ReadTimeout if it never ends)
            took = time.monotonic() - revoked
    assert [event for event, _ in rest] == ["error"], rest
    problem = rest[0][1]
    assert problem["status"] == 401 and problem["type"].endswith("/unauthorized"), problem
    assert "revoked" in problem["detail"]
    assert took < DEADLINE_S, took
    # and the key opens no new stream
    assert client.get(f"/{kind}/{job_id}/events", headers=keys.read).status_code == 401


def test_streams_of_other_keys_go_on(server: str, client: TestClient, keys: Keys, database: Database) -> None:
    search_id = _submit(client, keys)
    url = f"{server}/searches/{search_id}/events"
    with httpx.Client(timeout=httpx.Timeout(10, read=DEADLINE_S)) as http:
        with (
            http.stream("GET", url, headers=keys.read) as doomed,
            http.stream("GET", url, headers=keys.admin) as kept,
        ):
            doomed_events, kept_events = _events(doomed.iter_lines()), _events(kept.iter_lines())
            assert next(doomed_events)[0] == next(kept_events)[0] == "status"
            _revoke(database, keys.ids["read"])
            assert [event for event, _ in doomed_events] == ["error"]
            # the admin key's stream still follows the search: a cancel reaches it
            assert client.post(f"/searches/{search_id}/cancel", headers=keys.submit).status_code == 200
            event, data = next(kept_events)
            assert (event, data["status"]) == ("status", "cancelled"), data
