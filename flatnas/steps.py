"""The client's methods as steps, so that `Client` and `AsyncClient` share every one of them.

Each method of the clients is written once, in flatnas.client's method table, as a generator that
yields the I/O it needs, `Send` (one HTTP request) or `Sleep`, and is sent back the answer (a
transport failure is raised inside it at that point). Everything else happens in that one body:
building requests, decoding answers into models, error mapping, retry decisions, id prefixes,
paging cursors, polling. `Client` performs the steps with httpx.Client and time.sleep,
`AsyncClient` with httpx.AsyncClient and asyncio.sleep; those few lines are all their I/O.

A method says what it gives back by its mark:

- `@call`: one answer. On a Client, the answer; on an AsyncClient, a coroutine of it.
- `@listing`: a `Listing` (flatnas.paging). A Client gives a `Paginator`, an AsyncClient an
  `AsyncPaginator`, both fetching pages as you iterate.
- `@stream`: a `Feed` of server-sent events (flatnas.transport). A Client gives an iterator of
  `Event`s, an AsyncClient an async iterator, both resuming with Last-Event-ID.

Inside a body `self` is the plain method table, where a marked method gives its steps: one method
uses another as `full = yield from self.resolve(search_id)`. So a method added to the table is a
method of both clients at once.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable, Coroutine, Generator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, TypeAlias, TypeVar, overload

from flatnas.models import Item
from flatnas.paging import AsyncPaginator, Listing, Paginator
from flatnas.transport import Event, Feed

if TYPE_CHECKING:
    from flatnas.async_client import AsyncClient
    from flatnas.client import Client, Methods

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class Send:
    """One HTTP request: its method, path (relative to the service's URL) and httpx options
    (params, json, headers). Answered with the httpx.Response."""

    method: str
    path: str
    options: dict[str, Any]


@dataclass(frozen=True)
class Sleep:
    """A pause (a retry's wait, a poll's interval). Answered with None."""

    seconds: float


Step: TypeAlias = Send | Sleep
Steps: TypeAlias = Generator[Step, Any, R]


class Run(Generic[R]):
    """Drives one method's steps: iterate it for the I/O to do, `answer` each step (with the
    result, or the exception the I/O raised), and read `value` when the iteration ends."""

    def __init__(self, steps: Steps[R]) -> None:
        self._steps = steps
        self._reply: Any = None
        self.value: R

    def __iter__(self) -> Iterator[Step]:
        while True:
            reply, self._reply = self._reply, None
            try:
                yield (
                    self._steps.throw(reply) if isinstance(reply, BaseException) else self._steps.send(reply)
                )
            except StopIteration as done:
                self.value = done.value
                return

    def answer(self, reply: Any) -> None:
        self._reply = reply


def as_steps(result: Steps[R] | R) -> Steps[R]:
    """A body's result as steps: a body with no I/O (no `yield`) returns its value directly."""
    if isinstance(result, Generator):
        return (yield from result)
    return result


class _Marked(Generic[P, R]):
    """A method of the table; a client finishes its steps with its method for the mark
    (`_call`, `_listing` or `_stream`: `finisher`)."""

    def __init__(self, steps: Callable[..., Any]) -> None:
        self.steps = steps
        functools.update_wrapper(self, steps)  # type: ignore[arg-type]  # name and docstring, for help()
        # What help() and editors show of a client's method: the body's arguments, without `self`.
        signature = inspect.signature(steps)
        self.signature = signature.replace(
            parameters=list(signature.parameters.values())[1:], return_annotation=inspect.Signature.empty
        )

    def finisher(self, client: Methods) -> Callable[[Any], Any]:
        raise NotImplementedError

    def hand_over(self, finish: Callable[[Any], Any], make: Callable[[], Steps[Any]]) -> Any:
        """Give the client's finisher this call's steps (a listing gives the means to make them)."""
        return finish(make())

    def bind(self, client: Methods) -> Callable[..., Any]:
        table, finish = client._table, self.finisher(client)

        @functools.wraps(self.steps)
        def bound(*args: Any, **kwargs: Any) -> Any:
            return self.hand_over(finish, lambda: as_steps(self.steps(table, *args, **kwargs)))

        bound.__signature__ = self.signature  # type: ignore[attr-defined]
        return bound


class call(_Marked[P, R]):
    """A method with one answer."""

    def __init__(self, steps: Callable[Concatenate[Any, P], Steps[R]]) -> None:
        super().__init__(steps)

    def finisher(self, client: Methods) -> Callable[[Any], Any]:
        return client._call

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> call[P, R]: ...
    @overload
    def __get__(self, obj: AsyncClient, owner: type[Any]) -> Callable[P, Coroutine[Any, Any, R]]: ...
    @overload
    def __get__(self, obj: Client, owner: type[Any]) -> Callable[P, R]: ...
    @overload
    def __get__(self, obj: Methods, owner: type[Any]) -> Callable[P, Steps[R]]: ...
    def __get__(self, obj: Methods | None, owner: type[Any]) -> Any:
        return self if obj is None else self.bind(obj)


class listing(_Marked[P, Listing[Item]]):
    """A paged listing."""

    def __init__(self, steps: Callable[Concatenate[Any, P], Steps[Listing[Item]] | Listing[Item]]) -> None:
        super().__init__(steps)  # a listing that needs no id resolved does no I/O: no steps

    def finisher(self, client: Methods) -> Callable[[Any], Any]:
        return client._listing

    def hand_over(self, finish: Callable[[Any], Any], make: Callable[[], Steps[Any]]) -> Any:
        # A paginator may be iterated again after its first try failed (an AsyncPaginator runs the
        # steps when first iterated): each try needs steps of its own.
        return finish(make)

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> listing[P, Item]: ...
    @overload
    def __get__(self, obj: AsyncClient, owner: type[Any]) -> Callable[P, AsyncPaginator[Item]]: ...
    @overload
    def __get__(self, obj: Client, owner: type[Any]) -> Callable[P, Paginator[Item]]: ...
    def __get__(self, obj: Methods | None, owner: type[Any]) -> Any:
        return self if obj is None else self.bind(obj)


class stream(_Marked[P, Feed]):
    """A stream of server-sent events."""

    def __init__(self, steps: Callable[Concatenate[Any, P], Steps[Feed]]) -> None:
        super().__init__(steps)

    def finisher(self, client: Methods) -> Callable[[Any], Any]:
        return client._stream

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> stream[P]: ...
    @overload
    def __get__(self, obj: AsyncClient, owner: type[Any]) -> Callable[P, AsyncIterator[Event]]: ...
    @overload
    def __get__(self, obj: Client, owner: type[Any]) -> Callable[P, Iterator[Event]]: ...
    def __get__(self, obj: Methods | None, owner: type[Any]) -> Any:
        return self if obj is None else self.bind(obj)
