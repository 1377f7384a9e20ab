"""Server-sent events: a search's progress and results as they are written.

Streams follow the store through the process's EventHub (api/event_hub.py): one poll every
SSE_POLL_S seconds reads the state and newest row ids of every followed search, and a stream
fetches rows only when its search has new ones (evaluation streams work alike, with their own hub:
api/routes/evaluations.py). It sends `progress`, `epoch`, `genotype`, `flatness` and `status`
events. The stream ends after the status event of a finished search, or with an `error` event
(problem details as its data) once the key it was opened with is revoked: the hub re-checks the
streams' keys at each poll. Every event's id is the position `<epoch>.<genotype id>.<flatness id>`;
a client reconnecting with `Last-Event-ID` gets only what it has not seen.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from api.deps import ReadStore
from api.errors import PROBLEM_BASE, Unauthorized, problem_responses
from api.event_hub import EventHub, Poll, Snapshot, poll_searches
from api.ids import SearchId
from api.routes.searches import load_view
from api.schemas import EpochOut, FlatnessOut
from api.shutdown import ShutdownFlag
from store.db import UNAVAILABLE_ERRORS, Database
from store.models import INT4_MAX, TERMINAL_STATUSES
from store.repositories import results
from store.repositories.keys import Caller

log = logging.getLogger(__name__)
router = APIRouter(tags=["results"])

KEEPALIVE_S = 15.0
SHUTDOWN_CHECK_S = 0.25


def _clamp(value: int, low: int) -> int:
    return max(low, min(INT4_MAX, value))


@dataclass
class Position:
    """What the client has seen: last epoch, last genotype row id, last flatness row id."""

    epoch: int = -1
    genotype_id: int = 0
    flatness_id: int = 0

    @classmethod
    def parse(cls, last_event_id: str | None) -> Position | None:
        """The position an event id names, or None when absent or foreign. Parts are clamped to
        what the columns hold (int4): a larger value compared with an int4 column is an error on
        PostgreSQL, and means "past everything" anyway."""
        try:
            epoch, genotype_id, flatness_id = (int(part) for part in (last_event_id or "").split("."))
        except ValueError:
            return None
        return cls(_clamp(epoch, -1), _clamp(genotype_id, 0), _clamp(flatness_id, 0))

    def __str__(self) -> str:
        return f"{self.epoch}.{self.genotype_id}.{self.flatness_id}"


def _frame(event: str, data: dict[str, Any], position: Position | str) -> str:
    return f"id: {position}\nevent: {event}\ndata: {json.dumps(data, separators=(',', ':'), default=str)}\n\n"


def _behind(position: Position, snapshot: Snapshot) -> bool:
    return (
        snapshot.epoch > position.epoch
        or snapshot.genotype_id > position.genotype_id
        or snapshot.flatness_id > position.flatness_id
    )


def _rows_since(database: Database, search_id: str, position: Position) -> list[tuple[str, Any, str]]:
    """The rows written since `position`, as events (the position moves past them)."""
    events: list[tuple[str, Any, str]] = []
    with database.reader() as session:
        for row in results.list_epochs(session, search_id, after_epoch=position.epoch):
            position.epoch = row.epoch
            events.append(("epoch", {**EpochOut.of(row).model_dump(), "alphas": row.alphas}, str(position)))
        for g in results.list_genotypes(session, search_id, after_id=position.genotype_id):
            position.genotype_id = g.id
            data = {"epoch": g.epoch, "is_best": g.is_best, "is_final": g.is_final, "genotype": g.genotype}
            events.append(("genotype", data, str(position)))
        for f in results.list_flatness(session, search_id, after_id=position.flatness_id):
            position.flatness_id = max(position.flatness_id, f.id)
            events.append(("flatness", FlatnessOut.of(f).model_dump(), str(position)))
    return events


class StateFrames:
    """One stream's frames per poll: the new rows' events, then `progress` and `status` each when
    it changed since the last poll, or a keep-alive comment after KEEPALIVE_S of silence. Shared by
    every job kind's stream (searches, evaluations)."""

    def __init__(self) -> None:
        self.last_status: Any = None
        self.last_progress: Any = None
        self.last_sent = time.monotonic()

    def chunk(self, events: list[tuple[str, Any, str]], state: dict[str, Any], position: Position) -> str:
        frames = [_frame(kind, data, event_id) for kind, data, event_id in events]
        if state["progress"] != self.last_progress and state["progress"] is not None:
            self.last_progress = state["progress"]
            frames.append(_frame("progress", {**self.last_progress, "status": state["status"]}, position))
        status = {k: state[k] for k in ("status", "cancel_requested", "error", "worker", "finished_at")}
        if status != self.last_status:
            self.last_status = status
            frames.append(_frame("status", status, position))
        now = time.monotonic()
        if frames:
            self.last_sent = now
            return "".join(frames)
        if now - self.last_sent > KEEPALIVE_S:
            self.last_sent = now
            return ": keepalive\n\n"
        return ""


async def _pause(seconds: float, shutdown: ShutdownFlag) -> None:
    """Sleep `seconds`, waking early (within SHUTDOWN_CHECK_S) when the server is stopping."""
    deadline = time.monotonic() + seconds
    while not shutdown.is_set and (left := deadline - time.monotonic()) > 0:
        await anyio.sleep(min(left, SHUTDOWN_CHECK_S))


RowsSince = Callable[[Database, str, Position], list[tuple[str, Any, str]]]


def key_revoked_frame(position: Position) -> str:
    """The last frame of a stream whose key was revoked: problem details, as a 401 would carry."""
    problem = {
        "type": PROBLEM_BASE + Unauthorized.slug,
        "title": Unauthorized.title,
        "status": Unauthorized.status,
        "detail": "the API key this stream was opened with has been revoked; the stream ends",
    }
    return _frame("error", problem, position)


async def stream_job(
    request: Request, hub: EventHub, job_id: str, key_id: str, position: Position, rows_since: RowsSince
) -> AsyncIterator[str]:
    """The frames of one job's stream (a search's, or an evaluation's with its own hub and rows):
    from the hub's snapshots, fetching rows (`rows_since`) only when the job has new ones; ends
    after a final status, when the client goes, the server stops, the database goes away or the
    key `key_id` the stream was opened with is revoked."""
    shutdown: ShutdownFlag = request.app.state.shutdown
    yield "retry: 2000\n\n"
    out = StateFrames()
    with hub.follow(job_id, key_id):
        while True:
            if shutdown.is_set:
                return  # the server is stopping; the client reconnects (Last-Event-ID) to another one
            try:
                snapshot = await hub.snapshot(job_id)
                if hub.key_revoked(key_id):
                    yield key_revoked_frame(position)
                    return
                if snapshot is None:
                    yield _frame("status", {"status": "deleted"}, position)
                    return
                # The snapshot's state and tips were read together: rows up to the tips were committed
                # before that status, so fetching them now sends every epoch before a final status.
                events = (
                    await run_in_threadpool(rows_since, hub.database, job_id, position)
                    if _behind(position, snapshot)
                    else []
                )
            except UNAVAILABLE_ERRORS as err:
                # Headers are sent, so no 503 now: end the stream; the reconnect gets the 503.
                log.warning("event stream of %s ends: database unavailable: %s", job_id, err)
                return
            state = snapshot.state
            chunk = out.chunk(events, state, position)
            if chunk:
                yield chunk
            if state["status"] in TERMINAL_STATUSES or await request.is_disconnected():
                return
            await _pause(hub.poll_s, shutdown)


def app_hub(request: Request, poll: Poll = poll_searches) -> EventHub:
    """The app's hub for the job kind `poll` reads, made on first use (one per kind per process)."""
    state = request.app.state
    hubs: dict[Poll, EventHub] | None = getattr(state, "event_hubs", None)
    if hubs is None:
        hubs = state.event_hubs = {}
    if poll not in hubs:
        hubs[poll] = EventHub(state.database, state.settings.SSE_POLL_S, poll)
    return hubs[poll]


def _start(
    session: Session, key: Caller, search_id: str, last_event_id: str | None, history: bool
) -> tuple[Position, str]:
    """404 for an unknown search; else where the stream starts (after Last-Event-ID, at the
    beginning (history), or after every row written so far), and the key it is opened with."""
    load_view(session.connection(), key, search_id)
    position = Position.parse(last_event_id)
    if position is None:
        position = Position() if history else Position(*results.latest_ids(session, search_id))
    return position, key.id


@router.get(
    "/searches/{search_id}/events",
    summary="Server-sent events: progress, epoch, genotype, flatness and status as they happen",
    response_class=StreamingResponse,
    responses=problem_responses(
        401, 403, 404, extra={200: {"content": {"text/event-stream": {}}, "description": "an event stream"}}
    ),
)
async def search_events(
    search_id: SearchId,
    request: Request,
    store: ReadStore,
    last_event_id: Annotated[
        str | None, Header(alias="Last-Event-ID", max_length=100, description="resume after this event")
    ] = None,
    history: Annotated[
        bool,
        Query(
            description="false: skip the replay of epochs, genotypes and flatness rows written before "
            "connecting (progress and status still come); a Last-Event-ID takes precedence"
        ),
    ] = True,
) -> StreamingResponse:
    position, key_id = await store.read(_start, search_id, last_event_id, history)
    return StreamingResponse(
        stream_job(request, app_hub(request), search_id, key_id, position, _rows_since),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
