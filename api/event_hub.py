"""One store poll for every open event stream of an API process, per job kind.

Each stream used to poll the store on its own (a connection checkout and four queries per client
per SSE_POLL_S), so 200 dashboards watching one search cost 1,600 queries a second at rest. A hub
instead reads, once per interval, one row per followed job: its state (status, progress, ...)
and its tip, the newest epoch and (searches) genotype/flatness row ids, in one statement. Streams
read that snapshot; only a stream whose position is behind its job's tip goes to the store for the
new rows, so at rest the cost is one query per interval whatever the number of streams or jobs.
This works the same on PostgreSQL and the embedded SQLite store (no LISTEN/NOTIFY needed). Search
streams use a hub polling with `poll_searches`, evaluation streams one with `poll_evaluations`.

The first stream that finds the snapshot older than the interval refreshes it for everyone (under
a lock, so concurrent streams wait for that poll instead of starting their own).

Each poll also re-reads which of the API keys the open streams were opened with are still live
(one more query by primary key, only while some stream follows with a key), so a stream whose key
is revoked ends within an interval or two.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import anyio
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import func, select

from api.schemas import ProgressOut, progress_of
from store.db import Database
from store.models import EpochMetric, Evaluation, EvaluationEpoch, FlatnessMetric, Genotype, Search
from store.repositories import keys


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


Poll = Callable[[Database, Sequence[str]], dict[str, Snapshot | None]]


def _newest(column: Any, owner_column: Any, job_id: Any) -> Any:
    return select(func.max(column)).where(owner_column == job_id).scalar_subquery()


def _snapshots(database: Database, stmt: Any, job_ids: Sequence[str]) -> dict[str, Snapshot | None]:
    """Run a poll statement (rows: the job's state columns, `epoch`, optionally the genotype and
    flatness tips); None for a job that no longer exists."""
    found: dict[str, Snapshot | None] = dict.fromkeys(job_ids)
    with database.reader() as session:
        for row in session.execute(stmt):
            state = job_state(row, progress_of(row))
            epoch = -1 if row.epoch is None else row.epoch
            tips = row._mapping
            found[row.id] = Snapshot(state, epoch, tips.get("genotype_id") or 0, tips.get("flatness_id") or 0)
    return found


def _state_columns(table: Any) -> tuple[Any, ...]:
    c = table.c
    return (c.id, c.status, c.cancel_requested, c.error, c.worker, c.finished_at, c.progress)


def poll_searches(database: Database, search_ids: Sequence[str]) -> dict[str, Snapshot | None]:
    """One statement: the state and tip of each search (None for a search that no longer exists).

    State and tips come from one statement, so one snapshot of the database: every row committed
    before a status change is within the tips read with that status."""
    search, epochs = Search.__table__, EpochMetric.__table__
    genotypes, flatness = Genotype.__table__, FlatnessMetric.__table__
    stmt = select(
        *_state_columns(search),
        _newest(epochs.c.epoch, epochs.c.search_id, search.c.id).label("epoch"),
        _newest(genotypes.c.id, genotypes.c.search_id, search.c.id).label("genotype_id"),
        _newest(flatness.c.id, flatness.c.search_id, search.c.id).label("flatness_id"),
    ).where(search.c.id.in_(list(search_ids)))
    return _snapshots(database, stmt, search_ids)


def poll_evaluations(database: Database, evaluation_ids: Sequence[str]) -> dict[str, Snapshot | None]:
    """As poll_searches for evaluations, whose only rows are epochs."""
    evaluation, epochs = Evaluation.__table__, EvaluationEpoch.__table__
    stmt = select(
        *_state_columns(evaluation),
        _newest(epochs.c.epoch, epochs.c.evaluation_id, evaluation.c.id).label("epoch"),
    ).where(evaluation.c.id.in_(list(evaluation_ids)))
    return _snapshots(database, stmt, evaluation_ids)


class EventHub:
    """The followed jobs of one kind (searches by default) of one API process and their latest
    snapshot."""

    def __init__(self, database: Database, poll_s: float, poll: Poll = poll_searches) -> None:
        self.database = database
        self.poll_s = poll_s
        self.poll = poll
        self.polls = 0  # store polls made (tests and benchmarks read it)
        self._followers: Counter[str] = Counter()
        self._snapshots: dict[str, Snapshot | None] = {}
        self._key_users: Counter[str] = Counter()  # the keys open streams were opened with
        self._polled_keys: frozenset[str] = frozenset()
        self._live_keys: frozenset[str] = frozenset()
        self._polled_at = float("-inf")
        self._lock: anyio.Lock | None = None

    @contextmanager
    def follow(self, search_id: str, key_id: str | None = None) -> Iterator[None]:
        """Include the job `search_id` in the polls while a stream is open on it, and the key
        `key_id` the stream was opened with in the polls' liveness check."""
        self._followers[search_id] += 1
        if key_id is not None:
            self._key_users[key_id] += 1
        try:
            yield
        finally:
            self._followers[search_id] -= 1
            if self._followers[search_id] <= 0:
                del self._followers[search_id]
                self._snapshots.pop(search_id, None)
            if key_id is not None:
                self._key_users[key_id] -= 1
                if self._key_users[key_id] <= 0:
                    del self._key_users[key_id]

    def key_revoked(self, key_id: str) -> bool:
        """Whether the last poll found `key_id` no longer live (a key that joined since is live:
        it was checked when its stream opened)."""
        return key_id in self._polled_keys and key_id not in self._live_keys

    async def snapshot(self, search_id: str) -> Snapshot | None:
        """The job's snapshot, at most poll_s old (None: it was deleted)."""
        if self._fresh(search_id):
            return self._snapshots[search_id]
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:
            if not self._fresh(search_id):  # another stream may have polled while this one waited
                started = time.monotonic()
                followed = sorted(set(self._followers) | {search_id})
                key_ids = frozenset(self._key_users)
                self._snapshots, live = await run_in_threadpool(self._poll, followed, key_ids)
                self._polled_keys, self._live_keys = key_ids, live
                self._polled_at = started
                self.polls += 1
        return self._snapshots.get(search_id)

    def _poll(
        self, job_ids: Sequence[str], key_ids: frozenset[str]
    ) -> tuple[dict[str, Snapshot | None], frozenset[str]]:
        snapshots = self.poll(self.database, job_ids)
        if not key_ids:
            return snapshots, frozenset()
        with self.database.autocommit_engine.connect() as connection:
            return snapshots, frozenset(keys.live_key_ids(connection, key_ids))

    def _fresh(self, search_id: str) -> bool:
        return search_id in self._snapshots and time.monotonic() - self._polled_at < self.poll_s
