"""One paginator for every listing of the API.

Listings answer `{"items": [...], "next_cursor": ...}`; some have no cursor (one page of at most
`limit` items). A `Paginator` fetches pages lazily as you iterate, stops after `limit` items when
one is given, and returns typed items.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic

from flatnas.models import Item, Page, Rows

PAGE_SIZE = 100
MAX_PAGE_SIZE = 200  # the most any listing of the API returns at once


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
        self._fetch, self._model = fetch, model
        self._params = {k: v for k, v in (params or {}).items() if v is not None}
        self.limit, self.page_size = limit, page_size

    def pages(self) -> Iterator[Page[Item]]:
        cursor: str | None = None
        seen = 0
        while True:
            size = self.page_size if self.limit is None else max(1, min(self.page_size, self.limit - seen))
            params = {**self._params, "limit": size, **({"cursor": cursor} if cursor else {})}
            page = Page[self._model].model_validate(self._fetch(params))  # type: ignore[name-defined]
            if self.limit is not None:
                page.items = page.items[: self.limit - seen]
            seen += len(page.items)
            yield page
            if not page.next_cursor or not page.items or (self.limit is not None and seen >= self.limit):
                return
            cursor = page.next_cursor

    def __iter__(self) -> Iterator[Item]:
        for page in self.pages():
            yield from page.items

    def to_list(self) -> Rows[Item]:
        return Rows(self)

    def first(self) -> Item | None:
        return next(iter(self), None)
