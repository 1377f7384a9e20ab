"""One paginator for every listing of the API, and its async twin.

Listings answer `{"items": [...], "next_cursor": ...}`; some have no cursor (one page of at most
`limit` items). A `Paginator` (or, from `AsyncClient`, an `AsyncPaginator`) fetches pages lazily as
you iterate, stops after `limit` items when one is given, and returns typed items. The cursor rules
are `PageWalk`'s, which both follow.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from typing import Any, Generic

from flatnas.models import Item, Page, Rows

PAGE_SIZE = 100
MAX_PAGE_SIZE = 200  # the most any listing of the API returns at once


@dataclass(frozen=True)
class Listing(Generic[Item]):
    """What a listing method of the clients describes: where, which model, which filters."""

    path: str
    model: type[Item]
    params: dict[str, Any] = field(default_factory=dict)
    limit: int | None = None
    page_size: int = PAGE_SIZE

    def walk(self) -> PageWalk[Item]:
        return PageWalk(self.model, self.params, self.limit, self.page_size)


class PageWalk(Generic[Item]):
    """One walk through a listing, without the I/O: `next_params()` says what to ask for next
    (None when done), `take(answer)` reads the page that came back."""

    def __init__(self, model: type[Item], params: dict[str, Any], limit: int | None, page_size: int) -> None:
        self._model, self.limit, self.page_size = model, limit, page_size
        self._params = {k: v for k, v in params.items() if v is not None}
        self._cursor: str | None = None
        self._seen = 0
        self._done = False

    def next_params(self) -> dict[str, Any] | None:
        if self._done:
            return None
        size = self.page_size if self.limit is None else max(1, min(self.page_size, self.limit - self._seen))
        return {**self._params, "limit": size, **({"cursor": self._cursor} if self._cursor else {})}

    def take(self, answer: Any) -> Page[Item]:
        page = Page[self._model].model_validate(answer)  # type: ignore[name-defined]
        if self.limit is not None:
            page.items = page.items[: self.limit - self._seen]
        self._seen += len(page.items)
        self._cursor = page.next_cursor
        self._done = (
            not page.next_cursor or not page.items or (self.limit is not None and self._seen >= self.limit)
        )
        return page  # type: ignore[no-any-return]


class Paginator(Generic[Item]):
    """Iterate for the items (newest first, as the API lists them), `pages()` for whole pages,
    `to_list()` for everything at once. Nothing is fetched until you iterate."""

    def __init__(
        self,
        fetch: Callable[[dict[str, Any]], Any],
        model: type[Item],
        params: dict[str, Any] | None = None,
        *,
        limit: int | None = None,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self._fetch, self._model, self._params = fetch, model, dict(params or {})
        self.limit, self.page_size = limit, page_size

    def pages(self) -> Iterator[Page[Item]]:
        walk = PageWalk(self._model, self._params, self.limit, self.page_size)
        while (params := walk.next_params()) is not None:
            yield walk.take(self._fetch(params))

    def __iter__(self) -> Iterator[Item]:
        for page in self.pages():
            yield from page.items

    def to_list(self) -> Rows[Item]:
        return Rows(self)

    def first(self) -> Item | None:
        return next(iter(self), None)


class AsyncPaginator(Generic[Item]):
    """`Paginator` for `AsyncClient`: `async for` the items, `pages()` for whole pages, `await
    to_list()` or `await first()`. Nothing is fetched, not even an id prefix resolved, until you
    iterate."""

    def __init__(
        self,
        listing: Callable[[], Awaitable[Listing[Item]]],
        fetch: Callable[[str, dict[str, Any]], Awaitable[Any]],
    ) -> None:
        self._listing, self._fetch = listing, fetch
        self._resolved: Listing[Item] | None = None
        self.page_size: int | None = None  # items asked for at once; None: the method's (PAGE_SIZE)

    async def pages(self) -> AsyncIterator[Page[Item]]:
        if self._resolved is None:  # once resolved, however often it is iterated (a failed try: again)
            self._resolved = await self._listing()
        walk = replace(self._resolved, page_size=self.page_size or self._resolved.page_size).walk()
        while (params := walk.next_params()) is not None:
            yield walk.take(await self._fetch(self._resolved.path, params))

    async def __aiter__(self) -> AsyncGenerator[Item, None]:
        async for page in self.pages():
            for item in page.items:
                yield item

    async def to_list(self) -> Rows[Item]:
        return Rows([item async for item in self])

    async def first(self) -> Item | None:
        async with aclosing(self.__aiter__()) as items:
            async for item in items:
                return item
        return None
