"""The client's wire: where the service is, retries on 429/503, and server-sent events.

Kept apart from the clients' methods so the rules are in one place, for `Client` and `AsyncClient`
alike (both run flatnas.client's method table): which answers are retried
(429 Too Many Requests and 503 Service Unavailable, "not now"; a POST only when the answer also
says when to come back, see `may_retry`), how long to wait (the Retry-After header, seconds or an
HTTP date; else a short doubling backoff) and when to give up (after `retries` tries, or at once
when the service asks for a longer wait than `max_retry_wait`), and how an event stream is parsed
(`EventParser`) and resumed after a drop (`Resume`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from flatnas.errors import FlatnasError
from flatnas.models import TERMINAL

RETRY_STATUSES = frozenset({429, 503})
#: Methods the service never acts on twice: sending them again is always safe.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
BACKOFF_S = 0.5  # first wait when the answer carries no Retry-After; doubles per try
STREAM_READ_TIMEOUT_S = 60.0  # the service sends a keep-alive every 15 s; silence this long = dropped

# The variables the client side reads (the server's are store/settings.py): name, default, meaning.
# They close the settings table in README.md and docs/operations.md (store/settings_table.py).
CLIENT_ENVIRONMENT = (
    (
        "FLATNAS_URL",
        "http://API_HOST:API_PORT",
        "where the `flatnas` client commands and `flatnas.Client` / `AsyncClient` find the service",
    ),
    (
        "FLATNAS_API_KEY",
        None,
        "the key the client commands and `flatnas.Client` / `AsyncClient` send (`Authorization: Bearer`)",
    ),
)


def default_url() -> str:
    """FLATNAS_URL, else where `flatnas server up` serves by default (API_HOST, API_PORT)."""
    url = os.environ.get("FLATNAS_URL")
    if url:
        return url.rstrip("/")
    host = os.environ.get("API_HOST", "127.0.0.1")
    return f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{os.environ.get('API_PORT', '8000')}"


def may_retry(method: str, resp: httpx.Response) -> bool:
    """Whether a 429/503 answer may be followed by the same request. A read always may. A POST may
    only when the answer carries Retry-After, the service's word that it did nothing and when to
    come back (429; a 503 while its database is unreachable). flatnas answers 503 without it when a
    job was stored but its broker refused it: the job exists, marked failed, and sending the POST
    again would store another."""
    if resp.status_code not in RETRY_STATUSES:
        return False
    return method.upper() in IDEMPOTENT_METHODS or "Retry-After" in resp.headers


def retry_delay(resp: httpx.Response, attempt: int) -> float:
    """Seconds to wait before sending again: the Retry-After header when it parses, else a backoff."""
    header = resp.headers.get("Retry-After", "").strip()
    if header:
        try:
            return max(0.0, float(header))
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(header)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            return max(0.0, (when - datetime.now(UTC)).total_seconds())
    return float(BACKOFF_S * 2**attempt)


@dataclass(frozen=True)
class Event:
    """One server-sent event: `event` is progress | epoch | genotype | flatness | status; `id` is
    the position a reconnecting client sends back as Last-Event-ID."""

    event: str
    data: dict[str, Any]
    id: str | None = None


class EventParser:
    """Server-sent events from a stream's lines, fed one at a time (comments and `retry:` skipped).
    An event is complete at its blank line; one cut off by a dropped connection is not given (the
    reconnect asks for it again), as the SSE standard says."""

    def __init__(self) -> None:
        self._event = "message"
        self._id: str | None = None  # carries over to the events after it, as SSE says
        self._data: list[str] = []

    def feed(self, line: str) -> Event | None:
        if not line:
            done = Event(self._event, json.loads("\n".join(self._data)), self._id) if self._data else None
            self._event, self._data = "message", []
            return done
        if not line.startswith(":"):
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                self._event = value
            elif name == "data":
                self._data.append(value)
            elif name == "id":
                self._id = value
        return None


@dataclass(frozen=True)
class Feed:
    """An event stream a client method follows: its path and query."""

    path: str
    params: dict[str, Any]


class Resume:
    """Following one event stream across dropped connections, the same for both clients. Each
    connection sends the last event's id as Last-Event-ID (the service then sends only what came
    after); a busy answer (429/503) is waited out as a request's would be, any other error answer
    raised; `reconnects` drops in a row raise FlatnasError. It has `ended` after the status event of
    a finished job.

    A client's loop: open `path` with `connect()`'s options; on an error answer read it and call
    `refused(resp)`; else `event(line)` for each line, giving on the events until `ended`; when
    the connection closes or breaks, wait `dropped(error)` seconds and connect again."""

    def __init__(
        self,
        feed: Feed,
        *,
        url: str,
        timeout: float,
        reconnects: int,
        max_retry_wait: float,
        error: Callable[[httpx.Response], Exception],
    ) -> None:
        self.path, self._params, self._url = feed.path, feed.params, url
        self._timeout = httpx.Timeout(timeout, read=STREAM_READ_TIMEOUT_S)
        self._reconnects, self._max_retry_wait, self._error = reconnects, max_retry_wait, error
        self._last_id: str | None = None
        self._drops = 0
        self._pause, self._problem, self._parser = 0.0, "", EventParser()
        self.ended = False

    def connect(self) -> dict[str, Any]:
        """httpx's `stream()` options for the next connection."""
        self._pause = min(2.0 * (self._drops + 1), 10.0)  # the service's `retry:` hint is 2 s
        self._problem, self._parser = "the service closed it", EventParser()
        headers = {"Last-Event-ID": self._last_id} if self._last_id else {}
        return {"params": self._params, "headers": headers, "timeout": self._timeout}

    def refused(self, resp: httpx.Response) -> None:
        """An error answer (read): raised, unless the service is busy, which is waited out."""
        if resp.status_code not in RETRY_STATUSES:
            raise self._error(resp)
        self._pause = min(retry_delay(resp, self._drops), self._max_retry_wait)
        self._problem = f"HTTP {resp.status_code}"

    def event(self, line: str) -> Event | None:
        event = self._parser.feed(line)
        if event is not None:
            self._drops = 0
            self._last_id = event.id or self._last_id
            self.ended = event.event == "status" and event.data.get("status") in TERMINAL
        return event

    def dropped(self, error: Exception | None) -> float:
        """The connection closed (`error` None) or broke: seconds to wait before the next one."""
        problem = (str(error) or type(error).__name__) if error is not None else self._problem
        self._drops += 1
        if self._drops > self._reconnects:
            raise FlatnasError(
                f"event stream from {self._url} broke off {self._drops} times in a row: {problem}"
            )
        return self._pause
