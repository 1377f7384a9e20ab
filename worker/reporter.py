"""The database-backed reporter: what a search tells the world, written as rows.

Every callback commits its own short transaction (the reporter is the edge, repositories only
flush), so the API sees an epoch the moment it ends and a crash loses at most the write in flight.
Progress is throttled; so is the cancellation poll, which the engine calls between every step.
The lease's heartbeat thread (worker.lease.Heartbeat) keeps the lease fresh while a long step runs;
when the lease was taken away (the reaper gave the search to another worker) this run stops.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from sqlalchemy.orm import Session

from nas_core.benchmarks.ground_truth import GroundTruth
from nas_core.reporter import EpochRecord, FlatnessRecord, Progress, SampledArchitecture, SearchInfo
from store.repositories import benchmark, results
from store.repositories import searches as repo
from worker.lease import Heartbeat, LeasedReporter, SessionFactory
from worker.throttle import Throttle

log = logging.getLogger(__name__)


class DatabaseReporter(LeasedReporter):
    """Implements nas_core.reporter.Reporter for one search, on behalf of one worker."""

    def __init__(
        self,
        session_factory: SessionFactory,
        search_id: str,
        worker: str,
        *,
        heartbeat: Heartbeat | None = None,
        progress_interval: float = 0.5,
        cancel_poll_interval: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        ground_truth: GroundTruth | None = None,
        stopping: Callable[[], bool] = lambda: False,
    ) -> None:
        super().__init__(
            session_factory,
            repo.lease,
            search_id,
            worker,
            heartbeat=heartbeat,
            stopping=stopping,
            poll=Throttle(cancel_poll_interval, clock),
        )
        self._ground_truth = ground_truth
        self._search_id = search_id
        self._progress = Throttle(progress_interval, clock)
        self._last_activity: tuple[str, str | None] = ("train", None)

    def on_start(self, info: SearchInfo) -> None:
        how = f"resumed at epoch {info.start_epoch}" if info.start_epoch else "started"
        log.info("search %s: %s of %d on %s", self._search_id, how, info.total_epochs, info.device)
        progress = {
            "epoch": info.start_epoch,
            "step": 0,
            "steps_per_epoch": info.steps_per_epoch,
            "total_epochs": info.total_epochs,
            "phase": "train",
            "device": info.device,
            "num_params": info.num_params,
        }
        self._set_progress(progress)
        self._progress.restart()
        if self._ground_truth is not None:
            status = self._ground_truth.start(info.space)
            self._write(lambda s: benchmark.record_status(s, self._search_id, status))

    def on_progress(self, progress: Progress) -> None:
        # A new phase or flatness metric is written at once: it says what a long quiet stretch is.
        changed = (progress.phase, progress.detail) != self._last_activity
        if not self._progress.ready(force=changed):
            return
        self._last_activity = (progress.phase, progress.detail)
        self._set_progress(asdict(progress))

    def on_epoch(self, record: EpochRecord) -> None:
        self._write(lambda s: results.upsert_epoch(s, self._search_id, record))

    def on_genotype(self, genotype: dict[str, Any], *, epoch: int, is_best: bool, is_final: bool) -> None:
        self._write(
            lambda s: results.upsert_genotype(
                s, self._search_id, genotype, epoch=epoch, is_best=is_best, is_final=is_final
            )
        )
        if self._ground_truth is not None and self._ground_truth.ready:
            self._record_ground_truth(genotype, epoch=epoch, is_best=is_best, is_final=is_final)

    def _record_ground_truth(
        self, genotype: dict[str, Any], *, epoch: int, is_best: bool, is_final: bool
    ) -> None:
        """The benchmark's numbers for this genotype (a cached dictionary lookup after the first
        time), and the optimum once the background scan has it; one short transaction."""
        assert self._ground_truth is not None
        rows = self._ground_truth.rows_for(genotype, epoch=epoch, is_best=is_best, is_final=is_final)
        self._ground_truth.new_optimum()
        status = self._ground_truth.status

        def write(s: Session) -> None:
            benchmark.record_lookups(s, self._search_id, rows)
            benchmark.record_status(s, self._search_id, status)

        self._write(write)

    def on_flatness(self, record: FlatnessRecord) -> None:
        self._write(lambda s: results.add_flatness(s, self._search_id, record))

    def on_checkpoint(self, epoch: int, path: str) -> None:
        self._write(lambda s: results.record_checkpoint(s, self._search_id, epoch=epoch, uri=path))

    def on_samples(self, samples: list[SampledArchitecture]) -> None:
        self._write(lambda s: results.record_samples(s, self._search_id, samples))
