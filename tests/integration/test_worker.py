"""The worker's task body, leases and reaper against a real migrated PostgreSQL and the real engine.

These run `worker.tasks.execute_search` in-process (no broker), so they pin down what one task does
with the database; tests/integration/test_end_to_end.py drives the same code through Celery.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from nas_core.dataroots import DataRoots
from store.models import Checkpoint, EpochMetric, Genotype, Search, utcnow
from store.repositories import searches
from tests.fixtures.database import make_search
from tests.unit.test_data import write_fake_cifar10
from tests.unit.test_dataroots import plant_cifar10
from worker.lease import MAX_ERROR_CHARS, job_error
from worker.tasks import execute_search

# execute_search runs the engine in this process: one torch thread (tests/integration/conftest.py).
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("one_torch_thread")]

NO_FLATNESS = {
    "hessian_eigenvalue": False,
    "a2m_sharpness": False,
    "skip_count": False,
    "alpha_entropy": False,
    "neighbourhood": False,
    "cell_shape": False,
}


@pytest.fixture
def factory(pg_clean: Engine) -> Iterator[sessionmaker[Session]]:
    yield sessionmaker(pg_clean, expire_on_commit=False)


def _new_search(factory: sessionmaker[Session], **overrides: object) -> str:
    with factory() as session:
        search = make_search(session, **overrides)
        session.commit()
        return search.id


def _row(factory: sessionmaker[Session], search_id: str) -> Search:
    with factory() as session:
        search = session.get(Search, search_id)
        assert search is not None
        return search


def _set(factory: sessionmaker[Session], search_id: str, **values: object) -> None:
    with factory() as session:
        session.execute(update(Search).where(Search.id == search_id).values(**values))
        session.commit()


def test_task_runs_a_search_and_writes_every_result(factory: sessionmaker[Session], tmp_path: Path) -> None:
    search_id = _new_search(
        factory, epochs=3, a2m=None, flatness={**NO_FLATNESS, "skip_count": True, "interval": 1}
    )
    outcome = execute_search(
        search_id, worker="w1@test", session_factory=factory, data_dir=tmp_path, device="cpu"
    )
    assert outcome == "succeeded"
    search = _row(factory, search_id)
    assert (search.status, search.worker, search.error, search.attempts) == ("succeeded", "w1@test", None, 1)
    assert search.finished_at is not None and search.started_at is not None
    assert search.progress is not None and search.progress["total_epochs"] == 3
    with factory() as session:
        epochs = session.scalars(
            select(EpochMetric.epoch).where(EpochMetric.search_id == search_id).order_by(EpochMetric.epoch)
        ).all()
        genotypes = session.scalars(select(Genotype).where(Genotype.search_id == search_id)).all()
        checkpoints = session.scalars(select(Checkpoint).where(Checkpoint.search_id == search_id)).all()
    assert list(epochs) == [0, 1, 2]
    assert sorted(g.epoch for g in genotypes) == [0, 1, 2]
    final = [g for g in genotypes if g.is_final]
    assert len(final) == 1 and final[0].epoch == 2
    assert final[0].genotype["search_id"] == search_id  # the worker tells the engine whose genotype it is
    assert sorted(c.epoch for c in checkpoints) == [0, 1, 2]
    assert all(Path(c.uri).is_file() and str(tmp_path / "searches" / search_id) in c.uri for c in checkpoints)

    # A redelivered message for a finished search does nothing.
    again = execute_search(search_id, worker="w2@test", session_factory=factory, data_dir=tmp_path)
    assert again == "skipped: already succeeded"


def _run_with_roots(factory: sessionmaker[Session], search_id: str, data_dir: Path, roots: DataRoots) -> str:
    return execute_search(
        search_id,
        worker="w1@test",
        session_factory=factory,
        data_dir=data_dir,
        device="cpu",
        data_roots=roots,
    )


def test_task_records_a_clear_error_when_the_data_is_missing(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    roots = DataRoots((tmp_path / "datasets",))
    search_id = _new_search(factory, dataset={"name": "cifar10", "root": "no-cifar-here", "subset": 64})
    outcome = _run_with_roots(factory, search_id, tmp_path, roots)
    search = _row(factory, search_id)
    assert outcome == "failed" and search.status == "failed"
    assert search.error is not None and "'no-cifar-here'" in search.error
    assert str(tmp_path) not in search.error  # names the relative path, not the worker's layout


def test_a_file_system_error_names_the_path_relative_to_the_data_root(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    # A legal operator root ~3,100 characters deep plus a spec root at the request limits
    # (4 × 250 bytes) is longer than PATH_MAX: the file lookup fails with OSError [Errno 36],
    # whose text would quote the whole absolute path.
    root = tmp_path.joinpath(*["d" * 250] * ((3100 - len(str(tmp_path))) // 251 + 1))
    root.mkdir(parents=True)
    relative = "/".join(["x" * 250] * 4)
    search_id = _new_search(factory, dataset={"name": "cifar10", "root": relative, "subset": 64})
    outcome = _run_with_roots(factory, search_id, tmp_path, DataRoots((root,)))
    error = _row(factory, search_id).error
    assert outcome == "failed" and error is not None
    assert error.startswith("OSError: [Errno 36] File name too long: 'xxx"), error[:200]
    assert f"{relative}/cifar-10-batches-py/" in error
    assert str(tmp_path) not in error and "d" * 250 not in error  # nothing of where the root lives


def test_the_worker_rechecks_data_roots_and_never_opens_a_file_outside(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    # Stored without the API's check (an old row, a direct insert): the worker refuses it itself.
    outside, marker = tmp_path / "uploads", tmp_path / "pwned"
    plant_cifar10(outside, marker)
    root = tmp_path / "datasets"
    write_fake_cifar10(root / "cifar", per_batch=8)
    roots = DataRoots((root,))
    for bad in (str(outside), "../uploads"):
        search_id = _new_search(factory, dataset={"name": "cifar10", "root": bad, "subset": 32})
        outcome = _run_with_roots(factory, search_id, tmp_path, roots)
        search = _row(factory, search_id)
        assert outcome == "failed" and search.error is not None and "data root" in search.error, search.error
    assert not marker.exists()
    # A relative sub-directory of the root runs.
    search_id = _new_search(
        factory,
        epochs=1,
        a2m=None,
        flatness=NO_FLATNESS,
        dataset={"name": "cifar10", "root": "cifar", "subset": 32},
    )
    outcome = _run_with_roots(factory, search_id, tmp_path, roots)
    assert outcome == "succeeded", _row(factory, search_id).error


def test_task_stops_within_a_step_when_cancel_is_requested(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    search_id = _new_search(
        factory,
        epochs=200,
        a2m=None,
        flatness=NO_FLATNESS,
        dataset={"name": "digits", "subset": 256, "image_size": 8},
    )
    asked_at: list[float] = []

    def cancel_after_first_epoch() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with factory() as session:
                if session.scalar(select(func.count()).where(EpochMetric.search_id == search_id)):
                    break
            time.sleep(0.05)
        _set(factory, search_id, cancel_requested=True)
        asked_at.append(time.monotonic())

    canceller = threading.Thread(target=cancel_after_first_epoch)
    canceller.start()
    outcome = execute_search(
        search_id, worker="w1@test", session_factory=factory, data_dir=tmp_path, device="cpu"
    )
    stopped_at = time.monotonic()
    canceller.join()
    search = _row(factory, search_id)
    assert outcome == "cancelled" and search.status == "cancelled"
    assert search.progress is not None and search.progress["epoch"] < 5
    # The reporter polls at most every 0.5 s and a step here takes well under a second.
    assert stopped_at - asked_at[0] < 3.0


def test_cancel_requested_while_no_worker_holds_it_is_settled_by_the_next_run(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    search_id = _new_search(factory)
    _set(factory, search_id, status="running", cancel_requested=True, heartbeat_at=None, worker=None)
    outcome = execute_search(search_id, worker="w1@test", session_factory=factory, data_dir=tmp_path)
    # The claim takes it (its worker is gone) and the run stops at its first cancellation poll.
    assert outcome == "cancelled"
    assert _row(factory, search_id).status == "cancelled"


def test_a_fresh_lease_held_by_another_worker_is_respected(factory: sessionmaker[Session]) -> None:
    search_id = _new_search(factory)
    with factory.begin() as session:
        assert searches.lease.claim(session, search_id, worker="a", stale_after_s=5) == searches.lease.CLAIMED
    with factory.begin() as session:
        assert searches.lease.claim(session, search_id, worker="b", stale_after_s=5) == "held by a"
        assert searches.lease.renew(session, search_id, worker="a") is True
        assert searches.lease.renew(session, search_id, worker="b") is False
    # The holder goes silent: its lease expires and another worker takes over.
    _set(factory, search_id, heartbeat_at=utcnow() - timedelta(seconds=10))
    with factory.begin() as session:
        assert searches.lease.claim(session, search_id, worker="b", stale_after_s=5) == searches.lease.CLAIMED
        assert searches.lease.renew(session, search_id, worker="a") is False  # a learns it lost the search
        assert searches.lease.mark_succeeded(session, search_id, worker="a") is False
    search = _row(factory, search_id)
    assert (search.status, search.worker, search.attempts) == ("running", "b", 2)


def test_reaper_requeues_silent_searches_once(factory: sessionmaker[Session]) -> None:
    silent = _new_search(factory, priority=7)
    alive = _new_search(factory)
    waiting = _new_search(factory)
    old = utcnow() - timedelta(seconds=30)
    _set(factory, silent, status="running", worker="gone", heartbeat_at=old)
    _set(factory, alive, status="running", worker="here", heartbeat_at=utcnow())
    with factory.begin() as session:
        assert searches.lease.reap_stale(session, stale_after_s=5) == [(silent, 7)]
    search = _row(factory, silent)
    assert (search.status, search.worker) == ("retrying", None)
    with factory.begin() as session:  # a second sweep (or a second worker's reaper) finds nothing
        assert searches.lease.reap_stale(session, stale_after_s=5) == []
    # Still unclaimed a full timeout later: its message was lost too, so it is queued once more.
    _set(factory, silent, heartbeat_at=old)
    with factory.begin() as session:
        assert searches.lease.reap_stale(session, stale_after_s=5) == [(silent, 7)]
    assert _row(factory, waiting).status == "queued"  # queued searches are the broker's business
    with factory() as session:
        assert (
            session.scalar(select(func.count()).select_from(Search).where(Search.status == "retrying")) == 1
        )


def test_an_unreachable_database_makes_celery_retry_instead_of_losing_the_search(tmp_path: Path) -> None:
    from sqlalchemy import create_engine
    from sqlalchemy.exc import OperationalError

    from tests.fixtures.live_service import free_port
    from worker.tasks import run_search_task

    nowhere = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none")
    with pytest.raises(OperationalError):
        execute_search("any-id", worker="w1@test", session_factory=sessionmaker(nowhere), data_dir=tmp_path)
    assert OperationalError in run_search_task.autoretry_for
    assert run_search_task.acks_late and run_search_task.reject_on_worker_lost


def test_queued_searches_unclaimed_too_long_are_taken_once_per_period(factory: sessionmaker[Session]) -> None:
    lost = _new_search(factory, priority=3)
    fresh = _new_search(factory)
    running = _new_search(factory)
    old = utcnow() - timedelta(seconds=30)
    _set(factory, lost, created_at=old)
    _set(factory, running, created_at=old, status="running", worker="w", heartbeat_at=utcnow())
    with factory.begin() as session:
        assert searches.lease.take_unclaimed(session, unclaimed_after_s=10) == [(lost, 3)]
    with factory.begin() as session:  # stamped: a second sweep (or worker) does not take it again
        assert searches.lease.take_unclaimed(session, unclaimed_after_s=10) == []
    assert _row(factory, lost).status == "queued" and _row(factory, fresh).heartbeat_at is None
    _set(factory, lost, heartbeat_at=old)  # still unclaimed a period later: taken again
    with factory.begin() as session:
        assert searches.lease.take_unclaimed(session, unclaimed_after_s=10) == [(lost, 3)]


def test_a_stopping_worker_hands_back_only_what_it_holds(factory: sessionmaker[Session]) -> None:
    search_id = _new_search(factory)
    with factory.begin() as session:
        assert searches.lease.claim(session, search_id, worker="a", stale_after_s=5) == searches.lease.CLAIMED
        assert searches.lease.hand_back(session, search_id, worker="b") is False
        assert searches.lease.hand_back(session, search_id, worker="a") is True
    search = _row(factory, search_id)
    assert (search.status, search.worker) == ("retrying", None) and search.heartbeat_at is not None
    with factory.begin() as session:  # the next worker claims it as any waiting search
        assert searches.lease.claim(session, search_id, worker="b", stale_after_s=5) == searches.lease.CLAIMED


def test_the_stop_watchdog_hands_back_and_exits_when_the_grace_period_ends() -> None:
    from worker.shutdown import EXIT_GRACE_EXPIRED, Held, Shutdown

    events: list[object] = []
    exited = threading.Event()

    def exit_process(code: int) -> None:
        events.append(code)
        exited.set()

    stop = Shutdown()
    stop.hold(Held("search", "s1", lambda: events.append("handed back") is None))
    assert not stop.requested()
    stop.request(0.2, exit_process=exit_process)
    assert stop.requested()
    assert exited.wait(5)
    assert events == ["handed back", EXIT_GRACE_EXPIRED]
    # Nothing held (the task handed its search back in time): the watchdog leaves the exit to Celery.
    # Wait for the positive signal that its grace period is over (the watchdog ended), then check
    # that it exited nothing; a sleep would pass, too, with a watchdog that had not yet looked.
    idle, calls = Shutdown(), []
    idle.request(0.05, exit_process=calls.append)
    assert idle.watchdog_finished(30), "the watchdog outlived its 0.05 s grace period by 30 s"
    assert calls == []


def test_evaluations_are_taken_when_unclaimed_and_handed_back_like_searches(
    factory: sessionmaker[Session],
) -> None:
    from store.models import Evaluation
    from store.repositories import evaluations

    with factory.begin() as session:
        row = evaluations.create_evaluation(
            session,
            spec={"name": "e", "protocol": "nb201", "dataset": {"name": "digits"}},
            genotype={"space": "nb201"},
            origin={},
            priority=4,
            owner_key_id=None,
        )
        evaluation_id = row.id
    with factory.begin() as session:
        session.execute(
            update(Evaluation)
            .where(Evaluation.id == evaluation_id)
            .values(created_at=utcnow() - timedelta(seconds=30))
        )
    with factory.begin() as session:
        assert evaluations.lease.take_unclaimed(session, unclaimed_after_s=10) == [(evaluation_id, 4)]
        assert evaluations.lease.take_unclaimed(session, unclaimed_after_s=10) == []
    with factory.begin() as session:
        assert (
            evaluations.lease.claim(session, evaluation_id, worker="a", stale_after_s=5)
            == evaluations.lease.CLAIMED
        )
        assert evaluations.lease.hand_back(session, evaluation_id, worker="b") is False
        assert evaluations.lease.hand_back(session, evaluation_id, worker="a") is True
        assert session.get(Evaluation, evaluation_id).status == "retrying"  # type: ignore[union-attr]


def test_a_stored_error_is_cut_to_its_limit() -> None:
    error = job_error(ValueError("x" * 900_000))
    assert len(error) == MAX_ERROR_CHARS and error.startswith("ValueError: xxx") and error.endswith("…")
