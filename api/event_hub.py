"""One store poll for every open event stream of an API process.

Each stream used to poll the store on its own (a connection checkout and four queries per client
per SSE_POLL_S), so 200 dashboards watching one search cost 1,600 queries a second at rest. The hub
instead reads, once per interval, one row per followed search: its state (status, progress, ...)
and its tip, the newest epoch and genotype/flatness row ids, in one statement. Streams read that
snapshot; only a stream whose position is behind its search's tip goes to the store for the new
rows, so at rest the cost is one query per interval whatever the number of streams or searches.
This works the same on PostgreSQL and the embedded SQLite store (no LISTEN/NOTIFY needed).

The first stream that finds the snapshot older than the interval refreshes it for everyone (under
a lock, so concurrent streams wait for that poll instead of starting their own).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import anyio
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import func, select

from api.schemas import ProgressOut, progress_of
from store.db import Database
from store.models import EpochMetric, FlatnessMetric, Genotype, Search


@dataclass(frozen=True)
class Snapshot:
    """A followed search as of the last poll: what the `status`/`progress` events carry, and the
    newest epoch (-1 when none), genotype row id and flatness row id (0 when none)."""

    state: dict[str, Any]
    epoch: int
    genotype_id: int
    flatness_id: int


def job_state(row: Any, progress: ProgressOut | None) -> dict[str, Any]:
    """What a job's `status` and `progress` events carry (a search or an evaluation row)."""
    return {
        "status": row.status,
        "cancel_requested": row.cancel_requested,
        "error": row.error,
        "worker": row.worker,
        "finished_at": row.finished_at.isoformat() if row.finished_at else None,
        "progress": progress.model_dump() if progress else None,
    }


def poll_searches(database: Database, search_ids: Sequence[str]) -> dict[str, Snapshot | None]:
    """One statement: the state and tip of each search (None for a search that no longer exists).

    State and tips come from one statement, so one snapshot of the database: every row committed
    before a status change is within the tips read with that status."""
    search = Search.__table__.c

    def newest(column: Any, table_search_id: Any) -> Any:
        return select(func.max(column)).where(table_search_id == search.id).scalar_subquery()

    stmt: Any = select(  # rows read by column name
        search.id,
        search.status,
        search.cancel_requested,
        search.error,
        search.worker,
        search.finished_at,
        search.progress,
        newest(EpochMetric.__table__.c.epoch, EpochMetric.__table__.c.search_id).label("epoch"),
        newest(Genotype.__table__.c.id, Genotype.__table__.c.search_id).label("genotype_id"),
        newest(FlatnessMetric.__table__.c.id, FlatnessMetric.__table__.c.search_id).label("flatness_id"),
    ).where(search.id.in_(list(search_ids)))
    found: dict[str, Snapshot | None] = dict.fromkeys(search_ids)
    with database.reader() as session:
        for row in session.execute(stmt):
            state = job_state(row, progress_of(row))
            epoch = -1 if row.epoch is None else row.epoch
            found[row.id] = Snapshot(state, epoch, row.genotype_id or 0, row.flatness_id or 0)
    return found


class EventHub:
    """The followed searches of one API process and their latest snapshot."""

    def __init__(self, database: Database, poll_s: float) -> None:
        self.database = database
        self.poll_s = poll_s
        self.polls = 0  # store polls made (tests and benchmarks read it)
        self._followers: Counter[str] = Counter()
        self._snapshots: dict[str, Snapshot | None] = {}
        self._polled_at = float("-inf")
        self._lock: anyio.Lock | None = None

    @contextmanager
    def follow(self, search_id: str) -> Iterator[None]:
        """Include `search_id` in the polls while a stream is open on it."""
        self._followers[search_id] += 1
        try:
            yield
        finally:
            self._followers[search_id] -= 1
            if self._followers[search_id] <= 0:
                del self._followers[search_id]
                self._snapshots.pop(search_id, None)

    async def snapshot(self, search_id: str) -> Snapshot | None:
        """The search's snapshot, at most poll_s old (None: the search was deleted)."""
        if self._fresh(search_id):
            return self._snapshots[search_id]
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:
            if not self._fresh(search_id):  # another stream may have polled while this one waited
                started = time.monotonic()
                followed = sorted(set(self._followers) | {search_id})
                self._snapshots = await run_in_threadpool(poll_searches, self.database, followed)
                self._polled_at = started
                self.polls += 1
        return self._snapshots.get(search_id)

    def _fresh(self, search_id: str) -> bool:
        return search_id in self._snapshots and time.monotonic() - self._polled_at < self.poll_s
