"""flatnas.Client's wire rules against a scripted service (httpx.MockTransport): 429/503 retried
after Retry-After and bounded, event streams resumed with Last-Event-ID after a drop, one paginator
over cursors and limits, `wait(on_progress=...)` called back only on change, typed answers that keep
unknown fields, and id prefixes on listings without a server-side filter. Each runs against
flatnas.AsyncClient too (awaited through `Blocking`): both clients run one method table, and this
shows they behave alike. The clients against the real service: tests/integration/test_client.py,
tests/integration/test_client_only_venv.py and tests/api/test_async_client.py."""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

import flatnas.async_client
import flatnas.client
from flatnas import ApiError, AsyncClient, AsyncPaginator, Client, FlatnasError, Search
from flatnas.client import Methods
from flatnas.steps import call, listing, stream
from flatnas.transport import retry_delay

SEARCH_ID = "0123abcd-0000-4000-8000-000000000000"
Scripted = Callable[..., Any]  # (handler, **options) -> a client: Client, or AsyncClient in Blocking


class Blocking:
    """An AsyncClient driven from plain test code on an event loop of its own: what it awaits is
    run to the end, its async iterators are drained one item at a time."""

    def __init__(self, client: AsyncClient) -> None:
        self._client, self._loop = client, asyncio.new_event_loop()

    def __enter__(self) -> Blocking:
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.run_until_complete(self._client.aclose())
        self._loop.close()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def blocking(*args: Any, **kwargs: Any) -> Any:
            out = method(*args, **kwargs)
            if inspect.isawaitable(out):
                return self._loop.run_until_complete(out)
            return BlockingPages(self, out) if isinstance(out, AsyncPaginator) else self.drain(out)

        return blocking

    def drain(self, items: AsyncIterator[Any]) -> Iterator[Any]:
        while True:
            try:
                yield self._loop.run_until_complete(anext(items))  # type: ignore[arg-type]
            except StopAsyncIteration:
                return


class BlockingPages:
    """An AsyncPaginator behind Blocking: iterate it, or its `pages()`; `page_size` passes through."""

    def __init__(self, blocking: Blocking, pages: AsyncPaginator[Any]) -> None:
        self.__dict__.update(_blocking=blocking, _pages=pages)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._pages, name, value)

    def __iter__(self) -> Iterator[Any]:
        return self._blocking.drain(aiter(self._pages))

    def pages(self) -> Iterator[Any]:
        return self._blocking.drain(self._pages.pages())


@pytest.fixture(params=["Client", "AsyncClient"])
def scripted(request: pytest.FixtureRequest) -> Scripted:
    """A client of the kind under test on a scripted service (a handler of httpx requests)."""

    def client(handler: Callable[[httpx.Request], httpx.Response], **options: Any) -> Any:
        transport = httpx.MockTransport(handler)
        if request.param == "Client":
            return Client("http://flatnas.test", "fnas_test", transport=transport, **options)
        return Blocking(AsyncClient("http://flatnas.test", "fnas_test", transport=transport, **options))

    return client


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Either client's waits, recorded instead of slept."""
    waited: list[float] = []

    async def recorded(seconds: float) -> None:
        waited.append(seconds)

    monkeypatch.setattr(flatnas.client.time, "sleep", waited.append)
    monkeypatch.setattr(flatnas.async_client, "sleep", recorded)
    return waited


def test_every_method_of_client_is_one_of_async_client() -> None:
    """Both clients' methods come from the one table, marked: a method written straight into
    Client, or into the table unmarked, would have no coroutine twin."""
    own = {"close", "describe"}  # Client's context (AsyncClient: aclose) and a static helper
    public = {name for name in dir(Client) if not name.startswith("_")} - own
    assert {"submit", "get", "list", "events", "wait", "request", "resolve"} <= public
    for name in public:
        marked = inspect.getattr_static(Methods, name, None)
        assert isinstance(marked, call | listing | stream), f"{name} is not a marked method of Methods"
        assert inspect.getattr_static(AsyncClient, name) is marked
    assert inspect.iscoroutinefunction(AsyncClient.aclose)


def search(status: str = "running", **fields: Any) -> dict[str, Any]:
    return {"id": SEARCH_ID, "name": "s", "status": status, **fields}


def test_503_and_429_are_retried_after_retry_after(scripted: Scripted, sleeps: list[float]) -> None:
    answers = iter(
        [
            httpx.Response(503, headers={"Retry-After": "3"}, json={"title": "Service Unavailable"}),
            httpx.Response(429, json={"title": "Too Many Requests"}),  # no header: a short backoff
            httpx.Response(200, json=search()),
        ]
    )
    with scripted(lambda request: next(answers)) as client:
        assert client.get(SEARCH_ID).status == "running"
    assert sleeps == [3.0, 1.0]


def test_retries_are_bounded(scripted: Scripted, sleeps: list[float]) -> None:
    calls: list[httpx.Request] = []

    def always_busy(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(503, headers={"Retry-After": "1"}, json={"title": "Service Unavailable"})

    with scripted(always_busy, retries=2) as client, pytest.raises(ApiError) as refused:
        client.get(SEARCH_ID)
    assert refused.value.status == 503 and len(calls) == 3 and sleeps == [1.0, 1.0]
    # A wait longer than max_retry_wait is not waited for: the error comes at once.
    calls.clear()
    sleeps.clear()
    late = format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    with scripted(
        lambda r: calls.append(r) or httpx.Response(429, headers={"Retry-After": late}, json={}),  # type: ignore[func-returns-value]
        max_retry_wait=30,
    ) as client:
        with pytest.raises(ApiError):
            client.get(SEARCH_ID)
    assert len(calls) == 1 and sleeps == []


def test_a_post_is_sent_again_only_when_the_service_says_when(
    scripted: Scripted, sleeps: list[float]
) -> None:
    posts: list[httpx.Request] = []

    def stored_but_not_queued(request: httpx.Request) -> httpx.Response:
        # What flatnas answers when the broker refuses a job it has already stored (marked failed):
        # 503 without Retry-After. Sending the POST again would store a second, failed search.
        posts.append(request)
        return httpx.Response(503, json={"title": "Service unavailable", "search_id": SEARCH_ID})

    with scripted(stored_but_not_queued) as client, pytest.raises(ApiError) as refused:
        client.submit({"name": "s"})
    assert refused.value.status == 503 and len(posts) == 1 and sleeps == []
    # With Retry-After (its database was unreachable: nothing was stored) the POST is sent again.
    answers = iter(
        [
            httpx.Response(503, headers={"Retry-After": "2"}, json={"title": "Service unavailable"}),
            httpx.Response(201, json=search("queued")),
        ]
    )
    with scripted(lambda request: next(answers)) as client:
        assert client.submit({"name": "s"}).status == "queued"
    assert sleeps == [2.0]


def test_retry_after_reads_seconds_and_http_dates() -> None:
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    assert 100 < retry_delay(httpx.Response(503, headers={"Retry-After": soon}), 0) <= 120
    assert retry_delay(httpx.Response(503, headers={"Retry-After": "7"}), 0) == 7.0
    assert retry_delay(httpx.Response(503, headers={"Retry-After": "soon"}), 2) == 2.0  # backoff


class Dropping(httpx.SyncByteStream, httpx.AsyncByteStream):
    """An event stream that sends `frames`, then breaks off as a dropped connection does."""

    def __init__(self, frames: list[str], drop: bool) -> None:
        self.frames, self.drop = frames, drop

    def __iter__(self) -> Iterator[bytes]:
        for frame in self.frames:
            yield frame.encode()
        if self.drop:
            raise httpx.ReadError("connection reset by peer")

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self:
            yield chunk


def frame(event: str, data: dict[str, Any], event_id: str) -> str:
    return f"id: {event_id}\nevent: {event}\ndata: {json.dumps(data)}\n\n"


def test_events_resume_with_last_event_id_after_a_drop(scripted: Scripted, sleeps: list[float]) -> None:
    seen_ids: list[str | None] = []

    def service(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/searches":  # prefix resolution
            return httpx.Response(200, json={"items": [search()], "next_cursor": None})
        seen_ids.append(request.headers.get("Last-Event-ID"))
        if len(seen_ids) == 2:  # busy for a moment: waited out like a drop, the position kept
            return httpx.Response(503, headers={"Retry-After": "5"}, json={"title": "Service Unavailable"})
        if len(seen_ids) == 1:
            frames = [
                ": keepalive\n\n",
                frame("epoch", {"epoch": 0}, "0.0.0"),
                frame("epoch", {"epoch": 1}, "1.0.0"),
            ]
            return httpx.Response(200, stream=Dropping(frames, drop=True))
        frames = [frame("epoch", {"epoch": 2}, "2.0.0"), frame("status", {"status": "succeeded"}, "2.0.0")]
        return httpx.Response(200, stream=Dropping(frames, drop=False))

    with scripted(service) as client:
        events = list(client.events("0123"))
    assert [e.data.get("epoch") for e in events if e.event == "epoch"] == [0, 1, 2]
    assert events[-1].data == {"status": "succeeded"}
    assert seen_ids == [None, "1.0.0", "1.0.0"] and sleeps == [2.0, 5.0]


def test_a_stream_that_keeps_dropping_gives_up(scripted: Scripted, sleeps: list[float]) -> None:
    def service(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Dropping([], drop=True))

    with scripted(service, reconnects=2) as client, pytest.raises(FlatnasError, match="broke off 3 times"):
        list(client.events(SEARCH_ID))
    assert len(sleeps) == 2


def test_one_paginator_follows_cursors_and_stops_at_the_limit(scripted: Scripted) -> None:
    requests: list[dict[str, str]] = []
    ids = [f"{i:08x}-0000-4000-8000-000000000000" for i in range(5)]

    def service(request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        requests.append(params)
        start = int(params.get("cursor", "0"))
        page = ids[start : start + int(params["limit"])]
        nxt = str(start + len(page)) if start + len(page) < len(ids) else None
        return httpx.Response(200, json={"items": [search(id=i) for i in page], "next_cursor": nxt})

    with scripted(service) as client:
        everything = client.list(status="running")
        assert [s.id for s in everything] == ids
        requests.clear()
        assert [s.id for s in client.list(limit=3)] == ids[:3]
        assert [r["limit"] for r in requests] == ["3"]  # one page of exactly what is needed
        paged = client.list_studies()
        paged.page_size = 2
        assert [len(p.items) for p in paged.pages()] == [2, 2, 1]


def test_wait_calls_back_only_when_the_state_changes(scripted: Scripted, sleeps: list[float]) -> None:
    progress = {"epoch": 0, "total_epochs": 2, "fraction": 0.1}
    states = iter(
        [
            search(progress=progress),
            search(progress=progress, heartbeat_at="2026-01-01T00:00:05Z"),  # a heartbeat only
            search(progress=progress),
            search(progress={**progress, "fraction": 0.5}),
            search("succeeded", progress={**progress, "fraction": 1.0}),
        ]
    )

    def service(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=next(states))

    reported: list[Search] = []
    with scripted(service) as client:
        final = client.wait(SEARCH_ID, interval=0, on_progress=reported.append)
    assert final.status == "succeeded"
    assert [(s.status, s.progress.fraction if s.progress else None) for s in reported] == [
        ("running", 0.1),
        ("running", 0.5),
        ("succeeded", 1.0),
    ]
    assert len(sleeps) == 4  # it still polled every time


def test_answers_are_typed_and_keep_fields_they_do_not_know() -> None:
    s = Search.model_validate(search(best_val_acc=0.5, a_newer_field={"x": 1}))
    assert s.best_val_acc == 0.5 and s.a_newer_field == {"x": 1}  # type: ignore[attr-defined]
    assert s.model_dump()["a_newer_field"] == {"x": 1} and not s.done


def test_prefixes_resolve_on_listings_without_a_server_filter(scripted: Scripted) -> None:
    ids = ["abcd0001-0000-4000-8000-000000000000", "abcd0002-0000-4000-8000-000000000000"]

    def service(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/evaluations":
            return httpx.Response(200, json={"items": [{"id": i, "status": "queued"} for i in ids]})
        return httpx.Response(200, json={"id": request.url.path.rsplit("/", 1)[1], "status": "queued"})

    with scripted(service) as client:
        assert client.get_evaluation("abcd0002").id == ids[1]
        with pytest.raises(FlatnasError, match="ambiguous"):
            client.get_evaluation("abcd")
        with pytest.raises(FlatnasError, match="no evaluation id starts with 'ffff'"):
            client.get_evaluation("ffff")


def test_a_silent_or_unreachable_service_is_a_flatnas_error(scripted: Scripted) -> None:
    def silent(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with scripted(silent, timeout=5) as client, pytest.raises(FlatnasError, match="did not answer GET"):
        client.get(SEARCH_ID)

    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with scripted(unreachable) as client, pytest.raises(FlatnasError, match="cannot reach"):
        client.get(SEARCH_ID)


def test_an_async_retry_waits_without_holding_up_the_event_loop() -> None:
    """AsyncClient waits out Retry-After with asyncio's sleep: other tasks run meanwhile."""
    answers = iter(
        [
            httpx.Response(503, headers={"Retry-After": "0.3"}, json={"title": "Service Unavailable"}),
            httpx.Response(200, json=search("succeeded")),
        ]
    )
    ticks: list[float] = []

    async def ticker() -> None:
        while True:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.02)

    async def main() -> tuple[Search, float]:
        transport = httpx.MockTransport(lambda request: next(answers))
        async with AsyncClient("http://flatnas.test", "fnas_test", transport=transport) as client:
            beside = asyncio.create_task(ticker())
            start = time.monotonic()
            got = await client.get(SEARCH_ID)
            waited = time.monotonic() - start
            beside.cancel()
        return got, waited

    got, waited = asyncio.run(main())
    assert isinstance(got, Search) and got.status == "succeeded"
    assert waited >= 0.3 and len(ticks) >= 5  # the ticker kept ticking through the wait


def test_async_listings_and_streams_resolve_an_id_prefix_when_iterated() -> None:
    requests: list[str] = []

    def service(request: httpx.Request) -> httpx.Response:
        requests.append(request.url.path)
        if request.url.path == "/searches":  # prefix resolution
            return httpx.Response(200, json={"items": [search()], "next_cursor": None})
        job = {"id": "abcd0001-0000-4000-8000-000000000000", "kind": "neighbourhood", "status": "queued"}
        return httpx.Response(200, json={"items": [job], "next_cursor": None})

    async def main() -> None:
        transport = httpx.MockTransport(service)
        async with AsyncClient("http://flatnas.test", "fnas_test", transport=transport) as client:
            jobs = client.list_landscape_jobs(search_id="0123")
            assert requests == []  # nothing asked yet
            assert (await jobs.first()).kind == "neighbourhood"  # type: ignore[union-attr]
            assert [j.status for j in await jobs.to_list()] == ["queued"]
            assert requests == ["/searches", "/landscape-jobs", "/landscape-jobs"]  # the prefix resolved once
            with pytest.raises(FlatnasError, match="not a search id"):
                async for _ in client.events("zz"):
                    pass

    asyncio.run(main())


def test_an_async_listing_that_failed_can_be_iterated_again() -> None:
    """A transport error while resolving the id prefix fails the first iteration; the same
    paginator, iterated again once the service answers, resolves the prefix afresh."""
    answers = iter(["down", "up", "up"])

    def service(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/searches" and next(answers) == "down":
            raise httpx.ConnectError("connection refused", request=request)
        if request.url.path == "/searches":
            return httpx.Response(200, json={"items": [search()], "next_cursor": None})
        job = {"id": "abcd0001-0000-4000-8000-000000000000", "kind": "barrier", "status": "queued"}
        return httpx.Response(200, json={"items": [job], "next_cursor": None})

    async def main() -> None:
        transport = httpx.MockTransport(service)
        async with AsyncClient("http://flatnas.test", "fnas_test", transport=transport, retries=0) as client:
            jobs = client.list_landscape_jobs(search_id="0123")
            with pytest.raises(FlatnasError):
                await jobs.to_list()
            assert [j.kind for j in await jobs.to_list()] == ["barrier"]

    asyncio.run(main())


def test_evaluations_of_a_search_take_an_id_prefix() -> None:
    asked: list[tuple[str, dict[str, str]]] = []

    def service(request: httpx.Request) -> httpx.Response:
        asked.append((request.url.path, dict(request.url.params)))
        if request.url.path == "/searches":
            return httpx.Response(200, json={"items": [search()], "next_cursor": None})
        return httpx.Response(200, json={"items": [], "next_cursor": None})

    with Client("http://flatnas.test", "fnas_test", transport=httpx.MockTransport(service)) as client:
        assert client.list_evaluations(search_id="0123").to_list() == []
    assert asked[-1][0] == "/evaluations" and asked[-1][1]["search_id"] == SEARCH_ID


def test_a_barriers_supernet_takes_an_id_prefix() -> None:
    sent: list[dict[str, Any]] = []

    def service(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/searches":
            return httpx.Response(200, json={"items": [search()], "next_cursor": None})
        sent.append(json.loads(request.content))
        job = {"id": "abcd0001-0000-4000-8000-000000000000", "kind": "barrier", "status": "queued"}
        return httpx.Response(201, json=job)

    with Client("http://flatnas.test", "fnas_test", transport=httpx.MockTransport(service)) as client:
        client.submit_barrier({"genotype": {}}, {"genotype": {}}, supernet="0123", paths=2)
        client.submit_barrier_matrix(["0123", "0123"], supernet="0123")
    assert [body["supernet"] for body in sent] == [SEARCH_ID, SEARCH_ID] and sent[0]["paths"] == 2
