"""NAS-Bench-201 ground truth read through the authors' packages, from files in their real formats.

The session fixture writes all 15,625 architectures with distinct synthetic numbers
(tests/fixtures/nb201_benchmark.py); every check here compares against what was written.
"""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path
from typing import Any

import pytest

from nas_core.benchmarks import nb201
from nas_core.benchmarks.ground_truth import NOT_APPLICABLE, NOT_CONFIGURED, READY, UNREADABLE, GroundTruth
from nas_core.benchmarks.nb201 import (
    DATASETS,
    BenchmarkUnavailable,
    NB201Benchmark,
    UnknownArchitecture,
    open_configured,
)
from nas_core.genotype import NB201_EDGES, NB201_OPS, Genotype
from nas_core.spaces.nb201_definition import nb201_arch_str
from tests.fixtures import nb201_benchmark as written

KNOWN = (0, 1, 4321, 9999, 15624)


@pytest.fixture(scope="module")
def bench(nb201_benchmark_dir: Path) -> NB201Benchmark:
    return NB201Benchmark.open(nb201_benchmark_dir)


def _assert_matches(found: nb201.ArchLookup, index: int) -> None:
    want = written.expected(index)
    assert set(found.results) == set(DATASETS)
    for name in DATASETS:
        got = found.results[name]
        for field, value in want[name].items():
            assert getattr(got, field) == pytest.approx(value, rel=1e-12, abs=1e-12), (index, name, field)


@pytest.mark.parametrize("index", KNOWN)
def test_lookups_return_exactly_what_was_written(bench: NB201Benchmark, index: int) -> None:
    arch = written.arch_strings()[index]
    found = bench.lookup(arch)
    assert (found.index, found.arch_str) == (index, arch)
    _assert_matches(found, index)
    # The mean is the package's own averaged number (get_more_info, is_random=False).
    api = bench._api
    assert (
        found.results["cifar10"].test_acc
        == api.get_more_info(index, "cifar10", hp="200", is_random=False)["test-accuracy"]
    )
    assert (
        found.results["cifar10"].valid_acc
        == api.get_more_info(index, "cifar10-valid", hp="200", is_random=False)["valid-accuracy"]
    )
    # Not the first epoch's value, and not one seed's: the last epoch, averaged.
    assert found.results["cifar100"].test_acc != written.accuracy(index, "cifar100", "x-test", 777, 0)


def test_our_arch_str_finds_the_benchmark_index_of_every_architecture(bench: NB201Benchmark) -> None:
    """nas_core's arch string of each of the 15,625 genotypes is the benchmark's string for it."""
    for index, ops in enumerate(itertools.product(NB201_OPS, repeat=6)):
        g = Genotype(
            space="nb201",
            ops=NB201_OPS,
            edges=tuple((op, s) for op, (_, s) in zip(ops, NB201_EDGES, strict=True)),
        )
        assert bench._api.query_index_by_arch(nb201_arch_str(g)) == index


def test_unknown_architectures_are_refused(bench: NB201Benchmark) -> None:
    with pytest.raises(UnknownArchitecture):
        bench.lookup("|conv_9x9~0|+|none~0|none~1|+|none~0|none~1|none~2|")


def test_the_optimum_is_the_best_mean_test_accuracy(nb201_benchmark_dir: Path) -> None:
    # The process's cached benchmark: the scan runs once per test run (as once per worker process).
    optimum = open_configured(nb201_benchmark_dir).optimum()
    assert {name: found.index for name, found in optimum.items()} == dict.fromkeys(DATASETS, written.OPTIMUM)
    _assert_matches(optimum["cifar10"], written.OPTIMUM)


def test_the_background_scan_runs_in_a_separate_process(nb201_benchmark_dir: Path) -> None:
    """Fast mode: the worker's scan reads every file in a lower-priority child process (never
    contending with the search for the interpreter lock), then looks the three winners up here."""
    fresh = NB201Benchmark.open(nb201_benchmark_dir)
    fresh.start_optimum()
    deadline = time.monotonic() + 600
    while fresh.ready_optimum() is None and fresh.optimum_error is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert fresh.optimum_error is None
    optimum = fresh.ready_optimum()
    assert optimum is not None and {found.index for found in optimum.values()} == {written.OPTIMUM}
    _assert_matches(optimum["ImageNet16-120"], written.OPTIMUM)


def test_ground_truth_reports_the_optimum_once_it_is_known(nb201_benchmark_dir: Path) -> None:
    open_configured(nb201_benchmark_dir).optimum()  # what the background scan leaves behind
    truth = GroundTruth(str(nb201_benchmark_dir))
    truth.start("nb201")
    optimum = truth.new_optimum()
    assert optimum is not None and optimum["cifar100"]["index"] == written.OPTIMUM
    assert truth.status.to_dict()["optimum"] == optimum
    assert truth.new_optimum() is None  # reported once


def test_unreadable_and_missing_benchmarks_say_why(tmp_path: Path) -> None:
    with pytest.raises(BenchmarkUnavailable, match="FLATNAS_NB201_BENCHMARK"):
        open_configured(None)
    with pytest.raises(BenchmarkUnavailable, match="no such file"):
        NB201Benchmark.open(tmp_path / "absent")
    garbage = tmp_path / "NATS-tss-v1_0-3ffb9.pickle.pbz2"
    garbage.write_bytes(b"not a bz2 pickle")
    with pytest.raises(BenchmarkUnavailable, match="cannot be read") as err:
        NB201Benchmark.open(garbage)
    assert "OSError" in str(err.value) or "Error" in str(err.value)
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    with pytest.raises(BenchmarkUnavailable, match="cannot be read"):
        NB201Benchmark.open(empty_dir)


def test_the_process_opens_a_benchmark_once(nb201_benchmark_dir: Path) -> None:
    first = open_configured(nb201_benchmark_dir)
    assert open_configured(str(nb201_benchmark_dir)) is first


def test_the_single_nats_archive_is_read_too(tmp_path: Path) -> None:
    """The non-fast layout: one bz2 pickle holding every architecture (a subset evaluated here)."""
    from nats_bench import api_utils

    archs = written.arch_strings()
    evaluated = [0, 77, 15624]
    state = {
        "meta_archs": archs,
        "arch2infos": {i: {"200": written.arch_results_state(i, archs[i], api_utils)} for i in evaluated},
        "evaluated_indexes": evaluated,
    }
    api_utils.pickle_save(state, str(tmp_path / "NATS-tss-v1_0-3ffb9.pickle"))
    bench = NB201Benchmark.open(tmp_path / "NATS-tss-v1_0-3ffb9.pickle.pbz2")
    assert bench.layout == "nats-tss-archive"
    for index in evaluated:
        _assert_matches(bench.lookup(archs[index]), index)


def test_the_nas_bench_201_pth_is_read_by_its_package(tmp_path: Path) -> None:
    """NAS-Bench-201 v1.x `.pth`, written through nas_201_api's classes and read back by it."""
    path = written.write_nas201_pth(tmp_path / "NAS-Bench-201-v1_1-096897.pth", count=50)
    bench = NB201Benchmark.open(path)
    assert bench.layout == "nas-bench-201-pth"
    archs = written.arch_strings()
    for index in (0, 7, 49):
        _assert_matches(bench.lookup(archs[index]), index)


# --- per-search ground truth ---------------------------------------------------------------------


def test_ground_truth_turns_genotypes_into_rows(nb201_benchmark_dir: Path) -> None:
    truth = GroundTruth(str(nb201_benchmark_dir), compute_optimum=False)
    status = truth.start("nb201")
    assert status.state == READY and status.open_seconds is not None
    rows = truth.rows_for(written.genotype_json(4321), epoch=3, is_best=True)
    assert sorted((r.kind, r.dataset) for r in rows) == sorted(
        (k, d) for k in ("epoch", "best") for d in DATASETS
    )
    assert {r.arch_index for r in rows} == {4321} and {r.epoch for r in rows} == {3}
    final = truth.rows_for(written.genotype_json(5), epoch=4, is_final=True)
    assert {r.kind for r in final} == {"final"} and {r.arch_index for r in final} == {5}
    assert len(truth.status.lookup_ms) == 2 and truth.status.to_dict()["lookup_ms_mean"] >= 0
    # A genotype the benchmark cannot place gives no rows and a reason, never an exception.
    assert truth.rows_for({"space": "nb201"}, epoch=5) == []
    assert "arch_str" in truth.status.detail


@pytest.mark.parametrize(
    ("path", "space", "state", "says"),
    [
        (None, "nb201", NOT_CONFIGURED, "FLATNAS_NB201_BENCHMARK"),
        ("/nonexistent/NATS-tss", "nb201", UNREADABLE, "/nonexistent/NATS-tss"),
        (None, "darts", NOT_APPLICABLE, "darts"),
    ],
)
def test_no_benchmark_is_a_status_not_an_error(path: str | None, space: str, state: str, says: str) -> None:
    truth = GroundTruth(path)
    status = truth.start(space)
    assert status.state == state and says in status.detail
    assert truth.rows_for(written.genotype_json(1), epoch=0) == []
    json.dumps(status.to_dict())


# --- command line --------------------------------------------------------------------------------


def test_cli_prints_one_architectures_numbers(
    nb201_benchmark_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from nas_core.cli import main

    arch = written.arch_strings()[4321]
    assert main(["benchmark", arch, "--benchmark", str(nb201_benchmark_dir)]) == 0
    out = capsys.readouterr().out
    want = written.expected(4321)
    assert (
        "index 4321" in out and f"test {want['cifar100']['test_acc']:.2f}" in out and "ImageNet16-120" in out
    )

    genotype_file = tmp_path / "genotype.json"
    genotype_file.write_text(
        json.dumps({"best": written.genotype_json(4321), "final": written.genotype_json(9)})
    )
    assert main(["benchmark", str(genotype_file), "--json", "--benchmark", str(nb201_benchmark_dir)]) == 0
    assert json.loads(capsys.readouterr().out)["index"] == 9
    assert (
        main(
            [
                "benchmark",
                str(genotype_file),
                "--which",
                "best",
                "--json",
                "--benchmark",
                str(nb201_benchmark_dir),
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["index"] == 4321

    assert main(["benchmark", "|none~0|+|bad|", "--benchmark", str(nb201_benchmark_dir)]) == 2
    assert "arch_str" in capsys.readouterr().err
    assert main(["benchmark", arch, "--benchmark", str(tmp_path / "missing")]) == 1
    assert "no such file" in capsys.readouterr().err


def test_cli_without_a_benchmark_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from nas_core.cli import main

    monkeypatch.delenv("FLATNAS_NB201_BENCHMARK", raising=False)
    assert main(["benchmark", written.arch_strings()[3]]) == 1
    assert "FLATNAS_NB201_BENCHMARK" in capsys.readouterr().err


def test_cli_search_writes_benchmark_json(nb201_benchmark_dir: Path, tmp_path: Path) -> None:
    from nas_core.cli import main
    from tests.unit.tiny import tiny_spec

    spec = tmp_path / "spec.json"
    spec.write_text(tiny_spec(epochs=2).model_dump_json())
    out = tmp_path / "out"
    args = ["search", str(spec), "--out", str(out), "--no-progress", "--threads", "1"]
    assert main([*args, "--benchmark", str(nb201_benchmark_dir)]) == 0
    body = json.loads((out / "benchmark.json").read_text())
    assert body["status"]["state"] == READY and body["status"]["lookups"] == 3
    kinds = sorted({(r["kind"], r["epoch"]) for r in body["items"]})
    assert ("epoch", 0) in kinds and ("epoch", 1) in kinds and ("final", 1) in kinds
    final = json.loads((out / "genotype-final.json").read_text())
    final_rows = [r for r in body["items"] if r["kind"] == "final"]
    assert {r["arch_str"] for r in final_rows} == {final["arch_str"]} and len(final_rows) == 3
    index = final_rows[0]["arch_index"]
    cifar10 = next(r for r in final_rows if r["dataset"] == "cifar10")
    assert cifar10["test_acc"] == pytest.approx(written.expected(index)["cifar10"]["test_acc"])


def test_a_failed_open_is_remembered_for_a_while_then_retried(tmp_path: Path) -> None:
    from nas_core.benchmarks import nb201

    calls: list[str] = []

    def opener(path: str) -> Any:
        calls.append(path)
        if len(calls) == 1:
            raise BenchmarkUnavailable("cannot be read: truncated")
        return "opened"

    path = tmp_path / "bench"
    with pytest.raises(BenchmarkUnavailable, match="truncated"):
        open_configured(path, opener=opener)
    with pytest.raises(BenchmarkUnavailable, match="truncated"):
        open_configured(path, opener=opener)  # a broken file is not re-read on every request
    assert len(calls) == 1
    key = str(path.resolve())
    when, err = nb201._failed[key]
    nb201._failed[key] = (when - nb201.RETRY_FAILED_OPEN_S, err)
    assert open_configured(path, opener=opener) == "opened" and len(calls) == 2
    nb201._opened.pop(key)
