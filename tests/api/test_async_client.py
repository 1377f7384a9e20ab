"""flatnas.AsyncClient against the real app, served by uvicorn in this process (`server`; enqueueing
is recorded, so a search stays queued unless the test writes its results as a worker would):
submit with an idempotency key, get by id prefix, paged listings, an event stream cut off and
resumed with Last-Event-ID, the service's errors, typed answers throughout. Its wire rules (retries,
timeouts) against a scripted service: tests/unit/test_client_wire.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

import flatnas.async_client
from flatnas import ApiError, AsyncClient, CurveRow, Event, FlatnasError, Search
from store.db import Database
from tests.api.conftest import Keys
from tests.api.test_events_history import finish_as_a_worker
from tests.api.test_searches import TINY


def token(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


def test_submit_get_list_and_the_services_errors(server: str, keys: Keys) -> None:
    async def main() -> None:
        async with AsyncClient(server, token(keys.submit)) as fn:
            first = await fn.submit(TINY, idempotency_key="async-1")
            assert isinstance(first, Search) and first.status == "queued" and first.name == TINY["name"]
            assert (await fn.submit(TINY, idempotency_key="async-1")).id == first.id
            later = [await fn.submit({**TINY, "name": f"async {i}"}) for i in range(3)]

            got = await fn.get(first.id[:8])
            assert isinstance(got, Search) and got.id == first.id

            newest = [s.id async for s in fn.list(limit=3)]
            assert newest == [s.id for s in reversed(later)]
            everything = fn.list()
            everything.page_size = 3
            pages = [[s.id for s in page.items] async for page in everything.pages()]
            assert [len(p) for p in pages] == [3, 1] and pages[1] == [first.id]
            assert [s.name for s in await fn.list(q="async 1").to_list()] == ["async 1"]
            assert await fn.list(status="succeeded").first() is None

            with pytest.raises(ApiError) as refused:
                await fn.submit({**TINY, "epochs": "many"})
            assert refused.value.status == 422 and refused.value.errors[0]["field"] == "epochs"
            with pytest.raises(FlatnasError, match="no search id starts with 'ffffffff'"):
                await fn.get("ffffffff")
        async with AsyncClient(server, token(keys.read)) as reader:
            with pytest.raises(ApiError) as forbidden:
                await reader.cancel(first.id)
            assert forbidden.value.status == 403

    asyncio.run(main())


class CutAfter(httpx.AsyncByteStream):
    """A response body that breaks off, as a dropped connection does, after `events` events."""

    def __init__(self, body: httpx.AsyncByteStream, events: int) -> None:
        self._body, self._events = body, events

    async def __aiter__(self) -> AsyncIterator[bytes]:
        sent, buffer = 0, b""
        async for chunk in self._body:
            buffer += chunk
            while (end := buffer.find(b"\n\n")) >= 0:
                frame, buffer = buffer[: end + 2], buffer[end + 2 :]
                yield frame
                sent += b"data:" in frame  # a keep-alive or the `retry:` hint is not an event
                if sent == self._events:
                    raise httpx.ReadError("connection reset by peer")

    async def aclose(self) -> None:
        await self._body.aclose()


class CutFirstStream(httpx.AsyncBaseTransport):
    """The real connection, but the first event stream breaks off after two events; records the
    Last-Event-ID each event stream request sent."""

    def __init__(self) -> None:
        self._real = httpx.AsyncHTTPTransport()
        self.last_event_ids: list[str | None] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._real.handle_async_request(request)
        if request.url.path.endswith("/events"):
            self.last_event_ids.append(request.headers.get("Last-Event-ID"))
            if len(self.last_event_ids) == 1:
                assert isinstance(response.stream, httpx.AsyncByteStream)
                response.stream = CutAfter(response.stream, events=2)
        return response

    async def aclose(self) -> None:
        await self._real.aclose()


def test_events_resume_with_last_event_id_after_a_cut(
    server: str, keys: Keys, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    pauses: list[float] = []

    async def no_pause(seconds: float) -> None:  # the reconnect's 2 s pause, recorded
        pauses.append(seconds)

    monkeypatch.setattr(flatnas.async_client, "sleep", no_pause)

    async def submit() -> str:
        async with AsyncClient(server, token(keys.submit)) as fn:
            return (await fn.submit({**TINY, "name": "async events"})).id

    search_id = asyncio.run(submit())
    finish_as_a_worker(database, search_id)

    async def follow(transport: httpx.AsyncBaseTransport | None) -> list[Event]:
        async with AsyncClient(server, token(keys.read), transport=transport) as fn:
            return [event async for event in fn.events(search_id[:8])]

    whole = asyncio.run(follow(None))
    cut = CutFirstStream()
    resumed = asyncio.run(follow(cut))
    kinds = sorted(e.event for e in whole)
    assert kinds == ["epoch", "epoch", "flatness", "genotype", "genotype", "status"]
    assert whole[-1].data["status"] == "succeeded"
    assert resumed == whole  # nothing lost, nothing twice
    assert cut.last_event_ids == [None, whole[1].id] and pauses == [2.0]

    async def curves() -> list[CurveRow]:
        async with AsyncClient(server, token(keys.read)) as fn:
            return list(await fn.curves(search_id))

    assert [row.epoch for row in asyncio.run(curves())] == [0, 1]
