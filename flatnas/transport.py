"""The client's wire: where the service is, retries on 429/503, and server-sent events.

Kept apart from the Client's methods so the rules are in one place: which answers are retried
(429 Too Many Requests and 503 Service Unavailable, "not now"; a POST only when the answer also
says when to come back, see `may_retry`), how long to wait (the Retry-After header, seconds or an
HTTP date; else a short doubling backoff) and when to give up (after `retries` tries, or at once
when the service asks for a longer wait than `max_retry_wait`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

RETRY_STATUSES = frozenset({429, 503})
#: Methods the service never acts on twice: sending them again is always safe.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
BACKOFF_S = 0.5  # first wait when the answer carries no Retry-After; doubles per try

# The variables the client side reads (the server's are store/settings.py): name, default, meaning.
# They close the settings table in README.md and docs/operations.md (store/settings_table.py).
CLIENT_ENVIRONMENT = (
    (
        "FLATNAS_URL",
        "http://API_HOST:API_PORT",
        "where the `flatnas` client commands and `flatnas.Client` find the service",
    ),
    (
        "FLATNAS_API_KEY",
        None,
        "the key the client commands and `flatnas.Client` send (`Authorization: Bearer`)",
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


def parse_event_stream(lines: Iterator[str]) -> Iterator[Event]:
    """Server-sent events from the stream's lines (comments and `retry:` skipped)."""
    event, event_id = "message", None
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield Event(event, json.loads("\n".join(data)), event_id)
            event, data = "message", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id":
            event_id = value
    if data:
        yield Event(event, json.loads("\n".join(data)), event_id)
