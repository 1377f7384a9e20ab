"""flatnas.AsyncClient: every method of flatnas.Client as a coroutine, on httpx.AsyncClient.

    async with AsyncClient() as fn:          # FLATNAS_URL and FLATNAS_API_KEY from the environment
        search = await fn.submit("examples/tiny-nb201-digits.yaml")
        done = await fn.wait(search.id, on_progress=lambda s: print(fn.describe(s)))
        async for event in fn.events(search.id):
            print(event.event, event.data)
        recent = await fn.list(status="succeeded", limit=10).to_list()

The same arguments, methods, typed answers, errors, retries and timeouts as `Client`: both run the
one method table, flatnas.client.Methods (see flatnas.steps), and this module holds only the I/O.
Listings are `AsyncPaginator`s (`async for`) and event streams async iterators; both resolve an id
prefix when the iteration starts, where Client's do when the method is called.
"""

from __future__ import annotations

from asyncio import sleep
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import httpx

from flatnas.client import Methods
from flatnas.models import Item
from flatnas.paging import AsyncPaginator, Listing
from flatnas.steps import Run, Sleep, Step, Steps
from flatnas.transport import Event, Feed

R = TypeVar("R")


class AsyncClient(Methods[httpx.AsyncBaseTransport]):
    """`Client`'s twin for asyncio: use it as `async with AsyncClient(...) as fn`, or `await
    fn.aclose()`. Takes Client's arguments (`transport` an httpx async transport)."""

    _http: httpx.AsyncClient

    def _open(self, headers: dict[str, str], transport: httpx.AsyncBaseTransport | None) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.url, headers=headers, timeout=self.timeout, transport=transport
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _perform(self, step: Step) -> Any:
        if isinstance(step, Sleep):
            return await sleep(step.seconds)
        try:
            return await self._http.request(step.method, step.path, **step.options)
        except httpx.TransportError as err:
            return err  # raised inside the steps, where `request` words it

    async def _call(self, steps: Steps[R]) -> R:
        run = Run(steps)
        for step in run:
            run.answer(await self._perform(step))
        return run.value

    def _listing(self, make: Callable[[], Steps[Listing[Item]]]) -> AsyncPaginator[Item]:
        return AsyncPaginator(
            lambda: self._call(make()),
            lambda path, params: self._call(self._table._json("GET", path, params=params)),
        )

    async def _stream(self, steps: Steps[Feed]) -> AsyncIterator[Event]:
        resume = self._resume(await self._call(steps))
        while True:
            error = None
            try:
                async with self._http.stream("GET", resume.path, **resume.connect()) as resp:
                    if resp.status_code >= 400:
                        await resp.aread()
                        resume.refused(resp)
                    else:
                        async for line in resp.aiter_lines():
                            if (event := resume.event(line)) is not None:
                                yield event
                            if resume.ended:
                                return
            except httpx.TransportError as err:
                error = err
            await sleep(resume.dropped(error))
