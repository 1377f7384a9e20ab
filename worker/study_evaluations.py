"""Studies with `evaluate`: each search that succeeds gets its best genotype trained from scratch.

The search task calls `evaluate_finished` right after its search succeeds; the reaper sweeps for
any it missed (a worker that died between the two). Creating the evaluation and recording it on
the study are one transaction, and the record is a conditional update, so two workers racing on
one search start one evaluation. Enqueued after the commit, like every job.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from nas_core.genotype import GenotypeError, genotype_from_json, genotype_to_json
from nas_core.study import cell_label
from store.models import Study, StudySearch
from store.repositories import evaluations, results, studies
from worker import enqueue, lease
from worker.lease import SessionFactory, in_transaction

log = logging.getLogger(__name__)


def _start(session: Session, study: Study, member: StudySearch) -> tuple[str, int] | None:
    row = results.get_genotype(session, member.search_id, which="best")
    if row is None:
        log.warning(
            "study %s: search %s succeeded without a best genotype; not evaluated", study.id, member.search_id
        )
        return None
    try:
        genotype = genotype_to_json(
            genotype_from_json(row.genotype), epoch=row.epoch, search_id=member.search_id
        )
    except GenotypeError as err:  # one unreadable genotype must not hold back the others
        log.warning(
            "study %s: search %s's best genotype is unreadable (%s); not evaluated",
            study.id,
            member.search_id,
            err,
        )
        return None
    spec = dict(study.request["evaluation_specs"][genotype["space"]])
    label = cell_label({axis: member.cell[axis] for axis in study.request["axes"] if axis in member.cell})
    spec["name"] = f"{study.name} [{label}] evaluation"[:200]
    savepoint = session.begin_nested()  # a lost race undoes only this search's evaluation
    evaluation = evaluations.create_evaluation(
        session,
        spec=spec,
        genotype=genotype,
        origin={"search_id": member.search_id, "which": "best", "epoch": row.epoch},
        priority=study.priority,
        owner_key_id=study.owner_key_id,
    )
    if not studies.link_evaluation(session, study.id, member.search_id, evaluation.id):
        savepoint.rollback()
        return None
    savepoint.commit()
    return evaluation.id, study.priority


def evaluate_finished(
    session_factory: SessionFactory | None = None, search_id: str | None = None
) -> list[str]:
    """Start the evaluation of one succeeded study search (or of every one still without it)."""
    session_factory, _ = lease.resolve(session_factory, None)

    def start_all(session: Session) -> list[tuple[str, int]]:
        started = [
            _start(session, study, member)
            for study, member in studies.unevaluated_children(session, search_id)
        ]
        return [s for s in started if s is not None]

    started: list[tuple[str, int]] = in_transaction(session_factory, start_all)
    for evaluation_id, priority in started:
        log.info("study evaluation %s queued", evaluation_id)
        enqueue.enqueue_evaluation(evaluation_id, priority)
    return [evaluation_id for evaluation_id, _ in started]
