"""Repositories on both back ends: idempotent upserts, state transitions, listing, keys."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from nas_core.reporter import EpochRecord, FlatnessRecord, SampledArchitecture
from store.models import EpochMetric, Genotype, Search, utcnow
from store.repositories import keys, results, searches
from store.repositories.searches import SearchFilter
from tests.fixtures.database import make_key, make_search


def _epoch(epoch: int, val_acc: float) -> EpochRecord:
    return EpochRecord(
        epoch=epoch,
        train_loss=2.0 - epoch * 0.1,
        train_acc=0.1 * epoch,
        val_loss=2.1,
        val_acc=val_acc,
        lr=0.025,
        seconds=1.5,
        alphas={"cell": [[0.2] * 5] * 6},
        genotype={"ignored": True},
    )


def test_epoch_upsert_never_duplicates(any_session: Session) -> None:
    search = make_search(any_session)
    results.upsert_epoch(any_session, search.id, _epoch(0, 0.3))
    results.upsert_epoch(any_session, search.id, _epoch(1, 0.4))
    results.upsert_epoch(any_session, search.id, _epoch(1, 0.5))  # a resumed search rewrites epoch 1
    rows = results.list_epochs(any_session, search.id)
    assert [(r.epoch, r.val_acc) for r in rows] == [(0, 0.3), (1, 0.5)]
    assert rows[0].alphas == {"cell": [[0.2] * 5] * 6}
    count = any_session.scalar(select(func.count()).select_from(EpochMetric))
    assert count == 2
    assert [r.epoch for r in results.list_epochs(any_session, search.id, after_epoch=0)] == [1]


def test_genotype_flags_move_to_newest(any_session: Session) -> None:
    search = make_search(any_session)
    results.upsert_genotype(any_session, search.id, epoch=0, genotype={"edges": ["a"]}, is_best=True)
    results.upsert_genotype(any_session, search.id, epoch=1, genotype={"edges": ["b"]})
    results.upsert_genotype(any_session, search.id, epoch=2, genotype={"edges": ["c"]}, is_best=True)
    results.upsert_genotype(any_session, search.id, epoch=2, genotype={"edges": ["c2"]}, is_final=True)
    any_session.expire_all()
    rows = {g.epoch: g for g in any_session.scalars(select(Genotype).where(Genotype.search_id == search.id))}
    assert (rows[0].is_best, rows[2].is_best, rows[2].is_final, rows[2].genotype) == (
        False,
        True,
        True,
        {"edges": ["c2"]},
    )
    assert results.get_genotype(any_session, search.id, which="best").epoch == 2
    assert results.get_genotype(any_session, search.id, epoch=1).genotype == {"edges": ["b"]}
    assert results.get_genotype(any_session, search.id, epoch=7) is None


def test_flatness_checkpoint_samples_idempotent(any_session: Session) -> None:
    search = make_search(any_session)
    for value in (3.0, 4.0):  # the same metric written twice (resume): replaced, not duplicated
        record = FlatnessRecord("hessian_eigenvalue", 4, {"iters": 20}, value, 0.1)
        results.add_flatness(any_session, search.id, record)
    results.add_flatness(any_session, search.id, FlatnessRecord("neighbourhood", None, {"r": 1}, [1], 1.0))
    results.add_flatness(any_session, search.id, FlatnessRecord("neighbourhood", None, {"r": 2}, [2], 1.0))
    rows = results.list_flatness(any_session, search.id)
    assert [(r.kind, r.epoch, r.value) for r in rows] == [
        ("hessian_eigenvalue", 4, 4.0),
        ("neighbourhood", None, [1]),
        ("neighbourhood", None, [2]),
    ]
    assert len(results.list_flatness(any_session, search.id, kind="neighbourhood")) == 2

    results.record_checkpoint(any_session, search.id, epoch=0, uri="file:///a/0.pt")
    results.record_checkpoint(any_session, search.id, epoch=1, uri="file:///a/1.pt")
    results.record_checkpoint(any_session, search.id, epoch=1, uri="file:///b/1.pt")
    assert results.latest_checkpoint(any_session, search.id).uri == "file:///b/1.pt"

    samples = [SampledArchitecture(genotype={"i": i}, score=10.0 - i, rank=i) for i in range(3)]
    results.record_samples(any_session, search.id, samples)
    results.record_samples(any_session, search.id, samples[:2])  # a rerun's shorter list
    assert [(s.rank, s.score) for s in results.list_samples(any_session, search.id)] == [(0, 10.0), (1, 9.0)]


def test_state_machine(any_session: Session) -> None:
    search = make_search(any_session)
    assert (
        searches.lease.claim(any_session, search.id, worker="w1@host", stale_after_s=60)
        == searches.lease.CLAIMED
    )
    taken = searches.get_search(any_session, search.id)
    assert (taken.status, taken.worker, taken.attempts) == ("running", "w1@host", 1)
    assert (
        searches.lease.claim(any_session, search.id, worker="w2@host", stale_after_s=60) == "held by w1@host"
    )
    assert searches.lease.cancel(any_session, search.id) == "cancel_requested"
    assert searches.lease.is_cancel_requested(any_session, search.id)
    assert not searches.lease.mark_cancelled(any_session, search.id, worker="w2@host")  # not the holder
    assert searches.lease.mark_cancelled(any_session, search.id, worker="w1@host")
    assert not searches.lease.mark_succeeded(any_session, search.id, worker="w1@host")  # cancelled is final
    assert searches.lease.cancel(any_session, search.id) is None
    assert searches.lease.request_retry(any_session, search.id)
    retried = searches.get_search(any_session, search.id)
    assert (retried.status, retried.cancel_requested, retried.finished_at) == ("retrying", False, None)
    assert (
        searches.lease.claim(any_session, search.id, worker="w2", stale_after_s=60) == searches.lease.CLAIMED
    )
    assert searches.get_search(any_session, search.id).attempts == 2
    assert searches.lease.mark_failed(any_session, search.id, "boom", worker="w2")
    assert searches.get_search(any_session, search.id).error == "boom"
    assert searches.lease.claim(any_session, search.id, worker="w2", stale_after_s=60) == "already failed"

    queued = make_search(any_session)
    assert searches.lease.cancel(any_session, queued.id) == "cancelled"
    assert searches.lease.claim(any_session, queued.id, worker="w3", stale_after_s=60) == "already cancelled"


def test_reaper_and_takeover(any_session: Session) -> None:
    fresh, stale = make_search(any_session), make_search(any_session, priority=7)
    for s in (fresh, stale):
        searches.lease.claim(any_session, s.id, worker="w1", stale_after_s=60)
    old = utcnow() - timedelta(minutes=5)
    any_session.execute(update(Search).where(Search.id == stale.id).values(heartbeat_at=old))
    assert searches.lease.renew(any_session, fresh.id, worker="w1")
    assert searches.lease.reap_stale(any_session, stale_after_s=60) == [(stale.id, 7)]
    assert searches.lease.reap_stale(any_session, stale_after_s=60) == []  # re-queued once per timeout
    assert searches.queue_depth(any_session) == 1
    assert not searches.lease.renew(any_session, stale.id, worker="w1")  # the old holder learns it lost
    assert (
        searches.lease.claim(any_session, stale.id, worker="w2", stale_after_s=60) == searches.lease.CLAIMED
    )
    assert not searches.lease.mark_succeeded(any_session, stale.id, worker="w1")
    assert searches.lease.mark_succeeded(any_session, stale.id, worker="w2")
    # a running search whose worker went silent can be taken over directly
    any_session.execute(update(Search).where(Search.id == fresh.id).values(heartbeat_at=old))
    assert (
        searches.lease.claim(any_session, fresh.id, worker="w3", stale_after_s=60) == searches.lease.CLAIMED
    )


def test_list_filters_and_pagination(any_session: Session) -> None:
    key, _ = make_key(any_session)
    made = []
    base = utcnow()
    for i in range(7):
        s = make_search(
            any_session,
            key.id,
            name=f"run {i}" + (" cifar_100%" if i == 3 else ""),
            method="darts" if i % 2 else "gaea",
            tags=["nightly"] if i < 3 else ["x"],
        )
        s.created_at = base + timedelta(seconds=i // 2)  # ties on created_at exercise the id tiebreak
        made.append(s)
    any_session.flush()
    expected = [s.id for s in sorted(made, key=lambda s: (s.created_at, s.id), reverse=True)]

    seen, cursor = [], None
    while True:
        page, cursor = searches.list_searches(any_session, SearchFilter(), limit=3, cursor=cursor)
        seen += [s.id for s in page]
        if cursor is None:
            break
    assert seen == expected

    def ids(**f):
        return {s.id for s in searches.list_searches(any_session, SearchFilter(**f), limit=100)[0]}

    assert ids(tag="nightly") == {s.id for s in made[:3]}
    assert ids(method="gaea") == {s.id for i, s in enumerate(made) if i % 2 == 0}
    assert ids(q="CIFAR_100%") == {made[3].id}
    assert ids(q="n_1") == set()  # LIKE wildcards in q are literal ("run 1" would match a wildcard)
    assert ids(status="running") == set()


def test_keys(any_session: Session) -> None:
    key, token = make_key(any_session, "read")
    assert token.startswith(f"fnas_{key.id}_") and key.hashed_key != token
    assert keys.authenticate(any_session.connection(), token).id == key.id
    assert keys.authenticate(any_session.connection(), token + "x") is None
    assert keys.authenticate(any_session.connection(), "garbage") is None
    assert keys.has_scope(key, "read") and not keys.has_scope(key, "submit")
    keys.revoke_key(any_session, key.id)
    assert keys.authenticate(any_session.connection(), token) is None


def test_non_finite_metric_values_are_stored_as_null(any_session: Session) -> None:
    # PostgreSQL refuses a NaN token in JSON; a diverging estimate must not fail the worker's write.
    search = make_search(any_session)
    nan, inf = float("nan"), float("inf")
    record = FlatnessRecord("hessian_eigenvalue", 0, {"history": [1.0, nan]}, {"eigenvalue": inf}, 0.1)
    results.add_flatness(any_session, search.id, record)
    any_session.expire_all()
    (row,) = results.list_flatness(any_session, search.id)
    assert (row.params, row.value) == ({"history": [1.0, None]}, {"eigenvalue": None})
