"""The study row, its child searches, and what the study statistics read of each child.

A study's searches are created with it in one transaction (searches.create_search for each, then
one study_search row each), so a study never exists with part of its grid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from nas_core.flatness.metrics import ground_truth_name, study_metrics
from store.models import (
    BenchmarkLookup,
    EpochMetric,
    Evaluation,
    FlatnessMetric,
    Genotype,
    Search,
    Study,
    StudySearch,
)
from store.repositories.searches import decode_cursor, encode_cursor


def flatness_study_metrics() -> dict[str, list[tuple[str, str | None]]]:
    """Flatness record kind -> the study metrics read from its latest record: (name, the params key
    it is read from, or None for the record's value). From the metric registry's `from_record`."""
    kinds: dict[str, list[tuple[str, str | None]]] = {}
    for m in study_metrics():
        if m.from_record is not None:
            kinds.setdefault(m.from_record, []).append((m.name, m.record_param))
    return kinds


@dataclass(frozen=True)
class Member:
    """A child search as a study shows it: the grid position and axis values, and the search row."""

    position: int
    cell: dict[str, Any]
    search: Search


def create_study(
    session: Session,
    *,
    study_id: str,
    name: str,
    request: dict[str, Any],
    tags: list[str],
    priority: int,
    owner_key_id: str | None,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
) -> Study:
    study = Study(
        id=study_id,
        name=name,
        request=request,
        tags=tags,
        priority=priority,
        owner_key_id=owner_key_id,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
    )
    session.add(study)
    session.flush()
    return study


def add_member(
    session: Session, study_id: str, search_id: str, *, position: int, cell: dict[str, Any]
) -> None:
    session.add(StudySearch(study_id=study_id, search_id=search_id, position=position, cell=cell))


def get_study(session: Session, study_id: str) -> Study | None:
    stmt = select(Study).where(Study.id == study_id).execution_options(populate_existing=True)
    return session.scalars(stmt).one_or_none()


def get_by_idempotency_key(session: Session, owner_key_id: str, key: str) -> Study | None:
    stmt = select(Study).where(Study.owner_key_id == owner_key_id, Study.idempotency_key == key)
    return session.scalars(stmt).one_or_none()


def list_studies(
    session: Session, *, limit: int = 50, cursor: str | None = None, owner_key_id: str | None = None
) -> tuple[list[Study], str | None]:
    """Newest first; one page and the next page's cursor (None on the last page)."""
    stmt = select(Study)
    if owner_key_id:
        stmt = stmt.where(Study.owner_key_id == owner_key_id)
    if cursor:
        created, study_id = decode_cursor(cursor)
        stmt = stmt.where(
            or_(Study.created_at < created, and_(Study.created_at == created, Study.id < study_id))
        )
    rows = list(session.scalars(stmt.order_by(Study.created_at.desc(), Study.id.desc()).limit(limit + 1)))
    page = rows[:limit]
    return page, (encode_cursor(page[-1]) if len(rows) > limit else None)


def members(session: Session, study_id: str) -> list[Member]:
    """The study's searches in grid order."""
    stmt = (
        select(StudySearch.position, StudySearch.cell, Search)
        .join(Search, Search.id == StudySearch.search_id)
        .where(StudySearch.study_id == study_id)
        .order_by(StudySearch.position)
        .execution_options(populate_existing=True)
    )
    return [Member(position, cell, search) for position, cell, search in session.execute(stmt)]


def status_counts(session: Session, study_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """Per study, how many of its searches are in each state (one query for a page of studies)."""
    stmt = (
        select(StudySearch.study_id, Search.status, func.count())
        .join(Search, Search.id == StudySearch.search_id)
        .where(StudySearch.study_id.in_(list(study_ids)))
        .group_by(StudySearch.study_id, Search.status)
    )
    out: dict[str, dict[str, int]] = {study_id: {} for study_id in study_ids}
    for study_id, status, n in session.execute(stmt):
        out[study_id][status] = int(n)
    return out


def set_cancel_requested(session: Session, study_id: str, value: bool) -> None:
    study = session.get(Study, study_id)
    if study is not None:
        study.cancel_requested = value
        session.flush()


def epoch_metrics(session: Session, search_ids: Sequence[str]) -> dict[str, dict[str, float | None]]:
    """best_val_acc (highest per-epoch supernet validation accuracy), final_val_acc (the last
    epoch's) and epochs (how many rows) of each search, in two queries."""
    ids = list(search_ids)
    out: dict[str, dict[str, float | None]] = {i: {"best_val_acc": None, "final_val_acc": None} for i in ids}
    if not ids:
        return out
    best = select(EpochMetric.search_id, func.max(EpochMetric.val_acc), func.max(EpochMetric.epoch)).where(
        EpochMetric.search_id.in_(ids)
    )
    last_epoch: dict[str, int] = {}
    for search_id, best_acc, epoch in session.execute(best.group_by(EpochMetric.search_id)):
        out[search_id]["best_val_acc"] = float(best_acc)
        last_epoch[search_id] = int(epoch)
    if last_epoch:
        final = select(EpochMetric.search_id, EpochMetric.epoch, EpochMetric.val_acc).where(
            EpochMetric.search_id.in_(list(last_epoch))
        )
        for search_id, epoch, val_acc in session.execute(final):
            if epoch == last_epoch[search_id]:
                out[search_id]["final_val_acc"] = float(val_acc)
    return out


def _flatness_number(kind: str, params: dict[str, Any], value: Any) -> float | None:
    if kind == "neighbourhood":
        if params.get("radius") != 1 or not isinstance(value, dict):
            return None
        mean = (value.get("acc") or {}).get("mean")
        return float(mean) if isinstance(mean, int | float) else None
    return _plain_number(value)


def _plain_number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def latest_flatness(session: Session, search_ids: Sequence[str]) -> dict[str, dict[str, float | None]]:
    """The latest value of each study flatness metric per search: an end-of-search record (epoch
    null) counts as after every epoch. Neighbourhood: mean accuracy at radius 1."""
    ids = list(search_ids)
    kinds = flatness_study_metrics()
    names = [name for columns in kinds.values() for name, _ in columns]
    out: dict[str, dict[str, float | None]] = {i: dict.fromkeys(names) for i in ids}
    if not ids:
        return out
    stmt = select(
        FlatnessMetric.search_id,
        FlatnessMetric.kind,
        FlatnessMetric.epoch,
        FlatnessMetric.params,
        FlatnessMetric.value,
    ).where(FlatnessMetric.search_id.in_(ids), FlatnessMetric.kind.in_(list(kinds)))
    newest: dict[tuple[str, str], float] = {}
    for search_id, kind, epoch, params, value in session.execute(stmt):
        if (params or {}).get("source") == "on_demand":
            continue  # a neighbourhood job someone ran on any stored genotype, not the search's own
        number = _flatness_number(kind, params or {}, value)
        if number is None:
            continue
        order = float("inf") if epoch is None else float(epoch)
        key = (search_id, kind)
        if order >= newest.get(key, float("-inf")):
            newest[key] = order
            for name, param in kinds[kind]:
                out[search_id][name] = number if param is None else _plain_number((params or {}).get(param))
    return out


def best_ground_truth(session: Session, search_ids: Sequence[str]) -> dict[str, dict[str, float]]:
    """The NAS-Bench-201 test accuracy (as a fraction, mean over the benchmark's seeds) of each
    search's best genotype, per benchmark data set; searches without a benchmark have none."""
    out: dict[str, dict[str, float]] = {i: {} for i in search_ids}
    if not search_ids:
        return out
    stmt = select(BenchmarkLookup.search_id, BenchmarkLookup.dataset, BenchmarkLookup.test_acc).where(
        BenchmarkLookup.search_id.in_(list(search_ids)), BenchmarkLookup.kind == "best"
    )
    for search_id, dataset, test_acc in session.execute(stmt):
        out[search_id][ground_truth_name(dataset)] = float(test_acc) / 100.0  # the benchmark says percent
    return out


# --- studies with `evaluate` ----------------------------------------------------------------------


def _awaiting() -> tuple[Any, ...]:
    """A study search whose evaluation is due: it succeeded, has a best genotype, and has none yet
    (a search that ended without a best genotype has nothing to evaluate)."""
    has_best = (
        select(Genotype.id).where(Genotype.search_id == StudySearch.search_id, Genotype.is_best).exists()
    )
    succeeded = (
        select(Search.id).where(Search.id == StudySearch.search_id, Search.status == "succeeded").exists()
    )
    return succeeded, has_best, StudySearch.evaluation_id.is_(None)


def awaiting_evaluation(session: Session, study_ids: Sequence[str]) -> dict[str, int]:
    """Per study, its searches whose evaluation is due but not started yet."""
    stmt = (
        select(StudySearch.study_id, func.count())
        .where(StudySearch.study_id.in_(list(study_ids)), *_awaiting())
        .group_by(StudySearch.study_id)
    )
    out = dict.fromkeys(study_ids, 0)
    for study_id, n in session.execute(stmt):
        out[study_id] = int(n)
    return out


def awaiting_searches(session: Session, study_id: str) -> set[str]:
    """The study's searches whose evaluation is due but not started yet."""
    stmt = select(StudySearch.search_id).where(StudySearch.study_id == study_id, *_awaiting())
    return set(session.scalars(stmt))


def unevaluated_children(session: Session, search_id: str | None = None) -> list[tuple[Study, StudySearch]]:
    """Succeeded searches of studies that evaluate their searches, whose evaluation does not exist
    yet (one search, or every such search); studies being cancelled start none."""
    stmt = (
        select(Study, StudySearch)
        .join(StudySearch, StudySearch.study_id == Study.id)
        .where(*_awaiting(), ~Study.cancel_requested)
        .order_by(Study.created_at, StudySearch.position)
    )
    if search_id is not None:
        stmt = stmt.where(StudySearch.search_id == search_id)
    rows = session.execute(stmt).all()
    return [(study, member) for study, member in rows if study.request.get("evaluation_specs")]


def link_evaluation(session: Session, study_id: str, search_id: str, evaluation_id: str) -> bool:
    """Record a search's evaluation unless another worker already did (conditional update)."""
    stmt = (
        update(StudySearch)
        .where(
            StudySearch.study_id == study_id,
            StudySearch.search_id == search_id,
            StudySearch.evaluation_id.is_(None),
        )
        .values(evaluation_id=evaluation_id)
        .execution_options(synchronize_session=False)
    )
    return session.execute(stmt).rowcount == 1  # type: ignore[attr-defined]


def evaluations_of(session: Session, study_id: str) -> dict[str, Evaluation]:
    """search id -> the evaluation the study started for it."""
    stmt = (
        select(StudySearch.search_id, Evaluation)
        .join(Evaluation, Evaluation.id == StudySearch.evaluation_id)
        .where(StudySearch.study_id == study_id)
        .execution_options(populate_existing=True)
    )
    return {search_id: evaluation for search_id, evaluation in session.execute(stmt)}


def evaluation_status_counts(session: Session, study_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """Per study, how many of the evaluations it started are in each state."""
    stmt = (
        select(StudySearch.study_id, Evaluation.status, func.count())
        .join(Evaluation, Evaluation.id == StudySearch.evaluation_id)
        .where(StudySearch.study_id.in_(list(study_ids)))
        .group_by(StudySearch.study_id, Evaluation.status)
    )
    out: dict[str, dict[str, int]] = {study_id: {} for study_id in study_ids}
    for study_id, status, n in session.execute(stmt):
        out[study_id][status] = int(n)
    return out
