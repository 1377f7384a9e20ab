"""Server-sent events: a search's progress and results as they are written.

Each connection polls the store every SSE_POLL_S seconds (the worker writes rows; there is no
broker fan-out to subscribe to, and a poll of three indexed queries is cheap) and sends
`progress`, `epoch`, `genotype`, `flatness` and `status` events. The stream ends after the status
event of a finished search. Every event's id is the position `<epoch>.<genotype id>.<flatness id>`;
a client reconnecting with `Last-Event-ID` gets only what it has not seen.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from api.deps import DatabaseDep, ReadKey, SessionDep, SettingsDep
from api.errors import problem_responses
from api.routes.searches import load_search
from api.schemas import EpochOut, FlatnessOut, progress_of
from store.db import Database
from store.models import TERMINAL_STATUSES
from store.repositories import results, searches

router = APIRouter(tags=["results"])

KEEPALIVE_S = 15.0
INT4_MAX = 2**31 - 1


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


def _poll(
    database: Database, search_id: str, position: Position
) -> tuple[dict[str, Any] | None, list[tuple[str, Any, str]]]:
    """The search's state and the rows written since `position` (moved past them).

    The search row is read first: anything committed before a status change is then visible to
    the row queries, so a client sees every epoch before the final `status` event.
    """
    with database.sessionmaker() as session:
        search = searches.get_search(session, search_id)
        if search is None:
            return None, []
        progress = progress_of(search)
        state = {
            "status": search.status,
            "cancel_requested": search.cancel_requested,
            "error": search.error,
            "worker": search.worker,
            "finished_at": search.finished_at.isoformat() if search.finished_at else None,
            "progress": progress.model_dump() if progress else None,
        }
        events: list[tuple[str, Any, str]] = []
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
        return state, events


def _tip(database: Database, search_id: str) -> Position:
    """The position after every row written so far (an event stream without history starts here)."""
    with database.sessionmaker() as session:
        return Position(*results.latest_ids(session, search_id))


async def _stream(
    request: Request, database: Database, search_id: str, position: Position, poll_s: float
) -> AsyncIterator[str]:
    yield "retry: 2000\n\n"
    last_status: Any = None
    last_progress: Any = None
    last_sent = time.monotonic()
    while True:
        state, events = await run_in_threadpool(_poll, database, search_id, position)
        if state is None:
            yield _frame("status", {"status": "deleted"}, position)
            return
        frames = [_frame(kind, data, event_id) for kind, data, event_id in events]
        if state["progress"] != last_progress and state["progress"] is not None:
            last_progress = state["progress"]
            frames.append(_frame("progress", {**last_progress, "status": state["status"]}, position))
        status = {k: state[k] for k in ("status", "cancel_requested", "error", "worker", "finished_at")}
        if status != last_status:
            last_status = status
            frames.append(_frame("status", status, position))
        if frames:
            yield "".join(frames)
            last_sent = time.monotonic()
        elif time.monotonic() - last_sent > KEEPALIVE_S:
            yield ": keepalive\n\n"
            last_sent = time.monotonic()
        if state["status"] in TERMINAL_STATUSES or await request.is_disconnected():
            return
        await anyio.sleep(poll_s)


@router.get(
    "/searches/{search_id}/events",
    summary="Server-sent events: progress, epoch, genotype, flatness and status as they happen",
    response_class=StreamingResponse,
    responses=problem_responses(
        401, 403, 404, extra={200: {"content": {"text/event-stream": {}}, "description": "an event stream"}}
    ),
)
async def search_events(
    search_id: str,
    request: Request,
    session: SessionDep,
    key: ReadKey,
    database: DatabaseDep,
    settings: SettingsDep,
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
    await run_in_threadpool(load_search, session, search_id)
    # The stream polls with short sessions of its own; do not pin this one's connection meanwhile.
    await run_in_threadpool(session.close)
    position = Position.parse(last_event_id)
    if position is None:
        position = Position() if history else await run_in_threadpool(_tip, database, search_id)
    return StreamingResponse(
        _stream(request, database, search_id, position, settings.SSE_POLL_S),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
