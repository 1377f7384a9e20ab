"""Ground truth for one nb201 search: each derived genotype looked up in NAS-Bench-201.

Reporters (the worker's, the CLI's) own one `GroundTruth` and call it from `on_start` and
`on_genotype`; it turns a genotype into rows (one per benchmark data set) and never raises: a
missing or unreadable benchmark, or a genotype the benchmark does not know, becomes a status the
API and dashboard show instead of numbers. The benchmark itself is opened once per process.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from nas_core.benchmarks.nb201 import (
    ArchLookup,
    BenchmarkUnavailable,
    NB201Benchmark,
    UnknownArchitecture,
    covers,
    open_configured,
)

log = logging.getLogger(__name__)

# What a search's ground truth is doing; stored with the search and served by the API.
READY, NOT_CONFIGURED, UNREADABLE, NOT_APPLICABLE = "ready", "not_configured", "unreadable", "not_applicable"


@dataclass
class GroundTruthStatus:
    state: str  # READY | NOT_CONFIGURED | UNREADABLE | NOT_APPLICABLE
    detail: str  # why there is (no) ground truth, in words
    source: str | None = None  # the benchmark path on the worker
    layout: str | None = None
    open_seconds: float | None = None  # the process's first open of the benchmark
    lookup_ms: list[float] = field(default_factory=list)  # per epoch: every lookup that epoch made
    optimum: dict[str, Any] | None = None  # data set -> ArchLookup.to_dict() of its best architecture

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        times = data.pop("lookup_ms")
        data["lookup_ms_mean"] = sum(times) / len(times) if times else None
        data["lookup_ms_max"] = max(times) if times else None
        data["lookups"] = len(times)
        return data


@dataclass(frozen=True)
class GroundTruthRow:
    """One architecture's benchmark numbers on one data set, for one slot of the search."""

    kind: str  # "epoch" | "best" | "final"
    epoch: int
    dataset: str
    arch_str: str
    arch_index: int
    test_acc: float
    test_acc_std: float
    valid_acc: float | None
    valid_acc_std: float | None
    params_m: float
    flops_m: float
    seeds: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def rows_of(found: ArchLookup, *, kind: str, epoch: int) -> list[GroundTruthRow]:
    # DatasetResult's fields (dataset, accuracies, costs, seeds) are the row's, by name.
    return [
        GroundTruthRow(kind=kind, epoch=epoch, arch_str=found.arch_str, arch_index=found.index, **asdict(r))
        for r in found.results.values()
    ]


class GroundTruth:
    """Per search. `benchmark_path` is the operator's setting, passed in explicitly (None: unset)."""

    def __init__(self, benchmark_path: str | None, *, compute_optimum: bool = True) -> None:
        self._path = benchmark_path
        self._compute_optimum = compute_optimum
        self._benchmark: NB201Benchmark | None = None
        self._optimum_reported = False
        self.status = GroundTruthStatus(NOT_APPLICABLE, "ground truth is only looked up for nb201 searches")

    def start(self, space: str) -> GroundTruthStatus:
        """Open (or reuse) the benchmark for a search of `space`; never raises."""
        if not covers(space):
            self.status = GroundTruthStatus(
                NOT_APPLICABLE, f"no benchmark for the {space} space; ground truth covers nb201 searches"
            )
            return self.status
        try:
            benchmark = open_configured(self._path)
        except BenchmarkUnavailable as err:
            state = NOT_CONFIGURED if not self._path else UNREADABLE
            self.status = GroundTruthStatus(
                state, str(err), source=os.path.basename(self._path or "") or None
            )
            log.warning("ground truth unavailable: %s", err)
            return self.status
        except Exception as err:  # nothing about the benchmark may fail a search
            self.status = GroundTruthStatus(UNREADABLE, f"{self._path}: {type(err).__name__}: {err}")
            log.exception("opening the benchmark failed")
            return self.status
        self._benchmark = benchmark
        self.status = GroundTruthStatus(
            READY,
            f"NAS-Bench-201 test accuracy at 200 epochs from {benchmark.layout} "
            f"({os.path.basename(benchmark.source)})",
            source=os.path.basename(benchmark.source),
            layout=benchmark.layout,
            open_seconds=benchmark.open_seconds,
        )
        if self._compute_optimum:
            benchmark.start_optimum()
        return self.status

    @property
    def ready(self) -> bool:
        return self._benchmark is not None

    def rows_for(
        self, genotype: dict[str, Any], *, epoch: int, is_best: bool = False, is_final: bool = False
    ) -> list[GroundTruthRow]:
        """The rows for a genotype derived at `epoch`: an "epoch" row per data set, plus "best" and
        "final" copies when it is those. Empty when there is no benchmark; never raises."""
        if self._benchmark is None:
            return []
        arch_str = genotype.get("arch_str")
        started = time.perf_counter()
        try:
            if not isinstance(arch_str, str):
                raise UnknownArchitecture("the genotype has no arch_str")
            found = self._benchmark.lookup(arch_str)
        except UnknownArchitecture as err:
            self.status.detail = f"epoch {epoch}: {err.args[0]}"
            return []
        except Exception as err:
            self.status.detail = f"epoch {epoch}: lookup failed ({type(err).__name__}: {err})"
            log.exception("benchmark lookup failed")
            return []
        self.status.lookup_ms.append((time.perf_counter() - started) * 1e3)
        kinds = ["final"] if is_final else ["epoch"]
        if is_best:
            kinds.append("best")
        return [row for kind in kinds for row in rows_of(found, kind=kind, epoch=epoch)]

    def new_optimum(self) -> dict[str, Any] | None:
        """The benchmark's optimum the first time it is known (the scan runs in the background)."""
        if self._benchmark is None or self._optimum_reported:
            return None
        optimum = self._benchmark.ready_optimum()
        if optimum is None:
            if self._benchmark.optimum_error:
                self._optimum_reported = True
                self.status.detail += f"; no optimum ({self._benchmark.optimum_error})"
            return None
        self._optimum_reported = True
        self.status.optimum = {name: found.to_dict() for name, found in optimum.items()}
        return self.status.optimum
