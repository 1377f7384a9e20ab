"""NAS-Bench-201 / NATS-Bench (topology) ground truth, read through the benchmark authors' packages.

Three layouts are accepted, told apart by what the configured path is:
  - a directory: NATS-Bench topology in fast mode (`NATS-tss-v1_0-3ffb9-simple`: a meta file plus
    one compressed pickle per architecture, loaded on first use);
  - a `.pth` file: NAS-Bench-201 v1.0 / v1.1, read by `nas_201_api` (everything in memory);
  - any other file: the single NATS-Bench topology archive (`NATS-tss-v1_0-3ffb9.pickle.pbz2`).
Every one of these is a pickle, so only paths an operator configured are ever opened.

The number reported for an architecture is the benchmark's 200-epoch result (`hp="200"`), averaged
over the seeds it was trained with (`is_random=False`), and the spread over those seeds:
  - CIFAR-10: test accuracy after training on train+valid (`cifar10`, `ori-test`); validation
    accuracy after training on train only (`cifar10-valid`, `x-valid`);
  - CIFAR-100 and ImageNet16-120: `x-test` and `x-valid` of the same training runs.
Params and FLOPs (millions) are the package's compute costs for that data set (class count differs).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

DATASETS: tuple[str, ...] = ("cifar10", "cifar100", "ImageNet16-120")
HP = "200"
#: The name under which a space's definition says NAS-Bench-201 tabulates it (nas_core/spaces).
BENCHMARK = "nas-bench-201"
NUM_ARCHITECTURES = 15625
OPTIMUM_SCAN_TIMEOUT_S = 3600

# dataset -> ((training set the test number comes from, its split), (same for validation))
_SPLITS: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "cifar10": (("cifar10", "ori-test"), ("cifar10-valid", "x-valid")),
    "cifar100": (("cifar100", "x-test"), ("cifar100", "x-valid")),
    "ImageNet16-120": (("ImageNet16-120", "x-test"), ("ImageNet16-120", "x-valid")),
}


class BenchmarkUnavailable(Exception):
    """The benchmark cannot be read; the message says why (names the setting or the file's error)."""


class UnknownArchitecture(KeyError):
    """An arch string that is not one of the benchmark's architectures."""


@dataclass(frozen=True)
class DatasetResult:
    dataset: str
    test_acc: float  # percent, mean over seeds
    test_acc_std: float  # population std over the same seeds (0 for one seed)
    valid_acc: float | None
    valid_acc_std: float | None
    params_m: float
    flops_m: float
    seeds: int


@dataclass(frozen=True)
class ArchLookup:
    arch_str: str
    index: int
    results: dict[str, DatasetResult]  # keyed by DATASETS

    def to_dict(self) -> dict[str, Any]:
        return {
            "arch_str": self.arch_str,
            "index": self.index,
            "results": {name: asdict(r) for name, r in self.results.items()},
        }


def _mean_std(values: list[float]) -> tuple[float, float]:
    mean = sum(values) / len(values)
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


class NB201Benchmark:
    """One opened benchmark. Lookups are cached per architecture (compact numbers only; in fast
    mode the package's own per-architecture objects are dropped after reading, so memory stays
    small even after a scan of all 15,625). Thread-safe: the optimum scan runs in the background."""

    def __init__(self, api: Any, *, source: str, layout: str, fast_mode: bool, open_seconds: float) -> None:
        self._api = api
        self.source, self.layout, self.fast_mode, self.open_seconds = source, layout, fast_mode, open_seconds
        self._cache: dict[int, ArchLookup] = {}
        self._lock = threading.RLock()
        self._optimum: dict[str, ArchLookup] | None = None
        self._optimum_error: str | None = None
        self._optimum_thread: threading.Thread | None = None

    # --- opening ---------------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path) -> NB201Benchmark:
        """Open `path` with the matching package; BenchmarkUnavailable (with the reason) otherwise."""
        path = Path(path)
        started = time.perf_counter()
        try:
            if path.is_dir():
                import nats_bench

                api = nats_bench.create(str(path), "tss", fast_mode=True, verbose=False)
                layout, fast = "nats-tss-directory", True
            elif path.is_file() and path.suffix == ".pth":
                from nas_201_api import NASBench201API

                api = NASBench201API(str(path), verbose=False)
                layout, fast = "nas-bench-201-pth", False
            elif path.is_file():
                import nats_bench

                api = nats_bench.create(str(path), "tss", fast_mode=False, verbose=False)
                layout, fast = "nats-tss-archive", False
            else:
                raise BenchmarkUnavailable(f"{path}: no such file or directory")
        except BenchmarkUnavailable:
            raise
        except Exception as err:  # the packages raise anything from ValueError to UnpicklingError
            raise BenchmarkUnavailable(
                f"{path}: cannot be read as a NAS-Bench-201 benchmark ({_why(err)})"
            ) from err
        if len(api) != NUM_ARCHITECTURES:
            raise BenchmarkUnavailable(
                f"{path}: {len(api)} architectures, a NAS-Bench-201 topology benchmark has {NUM_ARCHITECTURES}"
            )
        return cls(
            api, source=str(path), layout=layout, fast_mode=fast, open_seconds=time.perf_counter() - started
        )

    # --- lookups ---------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._api)

    def index_of(self, arch_str: str) -> int:
        index = int(self._api.query_index_by_arch(arch_str))
        if index < 0:
            raise UnknownArchitecture(f"{arch_str!r} is not an architecture of this benchmark")
        return index

    def arch_str_of(self, index: int) -> str:
        return str(self._api[index])

    def lookup(self, arch_str: str) -> ArchLookup:
        return self.lookup_index(self.index_of(arch_str))

    def lookup_index(self, index: int) -> ArchLookup:
        with self._lock:
            cached = self._cache.get(index)
            if cached is not None:
                return cached
            results = {name: self._dataset_result(index, name) for name in DATASETS}
            found = ArchLookup(arch_str=self.arch_str_of(index), index=index, results=results)
            self._cache[index] = found
            self._forget_package_copy(index)
            return found

    def _dataset_result(self, index: int, dataset: str) -> DatasetResult:
        (test_set, test_split), (valid_set, valid_split) = _SPLITS[dataset]
        # The averaged number is the package's own get_more_info (what papers report) ...
        test_mean = float(self._api.get_more_info(index, test_set, hp=HP, is_random=False)["test-accuracy"])
        valid_info = self._api.get_more_info(index, valid_set, hp=HP, is_random=False)
        # ... the spread comes from each seed's run, through the package's ArchResults.
        results = self._api.query_meta_info_by_index(index, HP)
        test_seeds = results.get_dataset_seeds(test_set)
        tests = [
            float(results.get_metrics(test_set, test_split, is_random=s)["accuracy"]) for s in test_seeds
        ]
        valid_mean: float | None = None
        valid_std: float | None = None
        if "valid-accuracy" in valid_info:
            valid_mean = float(valid_info["valid-accuracy"])
            valids = [
                float(results.get_metrics(valid_set, valid_split, is_random=s)["accuracy"])
                for s in results.get_dataset_seeds(valid_set)
            ]
            valid_std = _mean_std(valids)[1]
        costs = results.get_compute_costs(test_set)
        return DatasetResult(
            dataset=dataset,
            test_acc=test_mean,
            test_acc_std=_mean_std(tests)[1],
            valid_acc=valid_mean,
            valid_acc_std=valid_std,
            params_m=float(costs["params"]),
            flops_m=float(costs["flops"]),
            seeds=len(test_seeds),
        )

    def _test_means(self, index: int) -> dict[str, float]:
        """Only the mean test accuracy per data set: the cheap part of a lookup, for the scan."""
        with self._lock:
            found = self._cache.get(index)
            if found is not None:
                return {name: r.test_acc for name, r in found.results.items()}
            means = {
                name: float(self._api.get_more_info(index, test, hp=HP, is_random=False)["test-accuracy"])
                for name, ((test, _), _) in _SPLITS.items()
            }
            self._forget_package_copy(index)
            return means

    def _forget_package_copy(self, index: int) -> None:
        # Fast mode keeps every architecture it loaded; we keep our numbers instead, so a scan of
        # the whole benchmark does not hold gigabytes of per-epoch curves.
        if self.fast_mode:
            self._api.arch2infos_dict.pop(index, None)

    # --- the optimum -----------------------------------------------------------------------------

    def optimum(self) -> dict[str, ArchLookup]:
        """The architecture with the highest mean test accuracy on each data set (a full scan the
        first time: seconds in memory, longer in fast mode where every file is read once)."""
        with self._lock:
            if self._optimum is not None:
                return self._optimum
        return self._keep_optimum(self.optimum_indices())

    def optimum_indices(self) -> dict[str, int]:
        best: dict[str, tuple[float, int]] = {}
        for index in range(len(self)):
            for name, accuracy in self._test_means(index).items():
                if name not in best or accuracy > best[name][0]:
                    best[name] = (accuracy, index)
        return {name: index for name, (_, index) in best.items()}

    def _keep_optimum(self, indices: dict[str, int]) -> dict[str, ArchLookup]:
        optimum = {name: self.lookup_index(index) for name, index in indices.items()}
        with self._lock:
            self._optimum = optimum
        return optimum

    def start_optimum(self) -> None:
        """Find the optimum in the background (once); `ready_optimum` answers when done.

        In fast mode the scan reads all 15,625 files: it runs in a separate, lower-priority process
        so it never competes with the search for this process's interpreter lock. The in-memory
        layouts scan in a thread (a few seconds; a second process would have to load them again)."""
        with self._lock:
            if self._optimum is not None or self._optimum_thread is not None:
                return
            target = self._scan_in_subprocess if self.fast_mode else self._scan
            self._optimum_thread = threading.Thread(target=target, name="nb201-optimum", daemon=True)
            self._optimum_thread.start()

    def _scan(self) -> None:
        try:
            self.optimum()
        except Exception as err:  # a damaged record somewhere: lookups still work, no optimum
            self._optimum_error = _why(err)

    def _scan_in_subprocess(self) -> None:
        command = [sys.executable, "-m", "nas_core.benchmarks.nb201", "optimum", self.source]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=OPTIMUM_SCAN_TIMEOUT_S, check=False
            )
            if done.returncode != 0:
                raise RuntimeError(done.stderr.strip()[-300:] or f"exit status {done.returncode}")
            indices = json.loads(done.stdout)
            self._keep_optimum({str(name): int(index) for name, index in indices.items()})
        except Exception as err:
            self._optimum_error = _why(err)

    def ready_optimum(self) -> dict[str, ArchLookup] | None:
        with self._lock:
            return self._optimum

    @property
    def optimum_error(self) -> str | None:
        return self._optimum_error


def _why(err: BaseException) -> str:
    text = str(err).strip() or "no message"
    return f"{type(err).__name__}: {text[:300]}"


# --- one benchmark per process -----------------------------------------------------------------

SETTING = "FLATNAS_NB201_BENCHMARK"
RETRY_FAILED_OPEN_S = 60.0
_opened: dict[str, NB201Benchmark] = {}
_failed: dict[str, tuple[float, Exception]] = {}
_open_lock = threading.Lock()


def open_configured(
    path: str | Path | None, *, opener: Callable[[str], NB201Benchmark] | None = None
) -> NB201Benchmark:
    """The benchmark at the operator-configured `path`, opened once per process and cached.
    Raises BenchmarkUnavailable naming the setting when none is configured. A failed open is
    remembered for RETRY_FAILED_OPEN_S only: an operator who fixes the file does not have to
    restart the worker, and a broken file is not re-read on every request meanwhile."""
    if path is None or not str(path).strip():
        raise BenchmarkUnavailable(
            f"no benchmark configured: set {SETTING} to a NAS-Bench-201 file or directory"
        )
    key = os.path.abspath(os.fspath(path))
    with _open_lock:
        found = _opened.get(key)
        if found is not None:
            return found
        # A broken file is not re-read on every request; it is retried after a while.
        failed = _failed.get(key)
        if failed is not None and time.monotonic() - failed[0] < RETRY_FAILED_OPEN_S:
            raise failed[1]
        try:
            found = (opener or NB201Benchmark.open)(key)
        except Exception as err:
            _failed[key] = (time.monotonic(), err)
            raise
        _failed.pop(key, None)
        _opened[key] = found
        return found


def covers(space: str) -> bool:
    """Whether NAS-Bench-201 holds results for the architectures of `space` (its definition says)."""
    from nas_core.spaces import SPACES

    definition = SPACES.get(space)
    return definition is not None and definition.tabular_benchmark == BENCHMARK


def _main(argv: list[str]) -> int:
    """`python -m nas_core.benchmarks.nb201 optimum PATH`: print {data set: index} of the optimum
    (what a worker's background scan runs, at a lower CPU priority)."""
    if len(argv) != 2 or argv[0] != "optimum":
        print("usage: python -m nas_core.benchmarks.nb201 optimum PATH", file=sys.stderr)
        return 2
    if hasattr(os, "nice"):
        os.nice(19)
    print(json.dumps(NB201Benchmark.open(argv[1]).optimum_indices()))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
