"""The worker's task with NAS-Bench-201 configured: every epoch's genotype is looked up and stored;
without a readable benchmark the search runs as before and the status says why."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from store.models import BenchmarkLookup, Genotype, Search
from store.repositories import benchmark
from tests.fixtures import nb201_benchmark as written
from tests.fixtures.database import make_search
from tests.integration.test_worker import NO_FLATNESS
from worker.tasks import execute_search

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("one_torch_thread")]


@pytest.fixture
def factory(pg_clean: Engine) -> Iterator[sessionmaker[Session]]:
    yield sessionmaker(pg_clean, expire_on_commit=False)


def _run(factory: sessionmaker[Session], tmp_path: Path, benchmark_path: str, **spec: object) -> str:
    with factory() as session:
        search_id = make_search(session, **{"epochs": 3, "a2m": None, "flatness": NO_FLATNESS, **spec}).id
        session.commit()
    outcome = execute_search(
        search_id,
        worker="w1@test",
        session_factory=factory,
        data_dir=tmp_path,
        device="cpu",
        benchmark_path=benchmark_path,
    )
    assert outcome == "succeeded"
    return search_id


def test_every_epoch_is_looked_up_and_stored(
    factory: sessionmaker[Session], tmp_path: Path, nb201_benchmark_dir: Path
) -> None:
    search_id = _run(factory, tmp_path, str(nb201_benchmark_dir))
    with factory() as session:
        rows = session.scalars(select(BenchmarkLookup).where(BenchmarkLookup.search_id == search_id)).all()
        genotypes = {
            g.epoch: g for g in session.scalars(select(Genotype).where(Genotype.search_id == search_id))
        }
        status = benchmark.get_status(session, search_id)
    epoch_rows = [r for r in rows if r.kind == "epoch"]
    assert sorted((r.epoch, r.dataset) for r in epoch_rows) == sorted(
        (e, d) for e in range(3) for d in ("cifar10", "cifar100", "ImageNet16-120")
    )
    assert (
        len([r for r in rows if r.kind == "final"]) == 3 and len([r for r in rows if r.kind == "best"]) == 3
    )
    for row in epoch_rows:  # each row is the benchmark's record of that epoch's derived genotype
        assert row.arch_str == genotypes[row.epoch].genotype["arch_str"]
        assert row.test_acc == pytest.approx(written.expected(row.arch_index)[row.dataset]["test_acc"])
    best_epoch = next(g.epoch for g in genotypes.values() if g.is_best)
    assert {r.epoch for r in rows if r.kind == "best"} == {best_epoch}
    assert status is not None and status.state == "ready" and status.lookups == 4
    assert status.lookup_ms_mean is not None and status.lookup_ms_max is not None


@pytest.mark.parametrize(
    ("path", "state", "says"),
    [
        ("", "not_configured", "FLATNAS_NB201_BENCHMARK"),
        ("/nonexistent/NATS", "unreadable", "/nonexistent/NATS"),
    ],
)
def test_without_a_benchmark_the_search_runs_and_says_why(
    factory: sessionmaker[Session], tmp_path: Path, path: str, state: str, says: str
) -> None:
    search_id = _run(factory, tmp_path, path, epochs=1)
    with factory() as session:
        status = benchmark.get_status(session, search_id)
        assert session.get(Search, search_id).status == "succeeded"  # type: ignore[union-attr]
        assert (
            session.scalars(select(BenchmarkLookup).where(BenchmarkLookup.search_id == search_id)).all() == []
        )
    assert status is not None and status.state == state and says in status.detail
