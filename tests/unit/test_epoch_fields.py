"""The epoch record (nas_core.reporter.EpochRecord) is the one declaration of an epoch's fields;
the API's typed EpochOut and the epoch_metric table mirror it, and must keep agreeing.

The names derived from the record (CURVE_FIELDS, EPOCH_ROW_FIELDS) are aliases everywhere else, so
comparing them with each other proves nothing: these tests compare the record with the *separate*
declarations (EpochOut's annotations, the table's columns) and push one record through the store
and the API's model, so a field added to one place and not the other fails here.
"""

from __future__ import annotations

from dataclasses import fields

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from api.schemas import EpochOut
from nas_core.reporter import CURVE_FIELDS, EpochRecord
from store.models import Base, EpochMetric
from store.repositories import results

# Every field a different value, so a column read back from the wrong field shows.
RECORD = EpochRecord(
    epoch=3,
    train_loss=1.25,
    train_acc=0.5,
    val_loss=1.75,
    val_acc=0.375,
    lr=0.0125,
    seconds=4.5,
    alphas={"cell": [[0.25, 0.75]]},
    genotype={"edges": [["skip_connect", 0]]},
    extra={"beta": [0.5]},
)


def test_curve_fields_are_the_records_numbers_and_epoch_out_declares_them() -> None:
    numbers = [f.name for f in fields(EpochRecord) if f.type in ("int", "float")]
    assert (
        list(CURVE_FIELDS)
        == numbers
        == ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"]
    )
    # EpochOut is written out by hand: same names, same order (the CSV's columns), same types.
    declared = {name: info.annotation for name, info in EpochOut.model_fields.items()}
    assert list(declared) == numbers
    record_types = {f.name: f.type for f in fields(EpochRecord)}
    assert {name: t.__name__ for name, t in declared.items()} == {n: record_types[n] for n in numbers}


def test_a_record_round_trips_through_the_table_and_the_api_model() -> None:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine, tables=[EpochMetric.__table__])  # type: ignore[list-item]
    with Session(engine) as session:
        results.upsert_epoch(session, "s1", RECORD)
        session.commit()
        row = session.scalars(select(EpochMetric)).one()
        stored = {f.name: getattr(row, f.name) for f in fields(EpochRecord) if f.name != "genotype"}
        # Every field but the genotype (its own table) is stored, each in its own column.
        assert stored == {k: v for k, v in RECORD.to_dict().items() if k != "genotype"}
        assert not hasattr(row, "genotype")
        assert EpochOut.of(row).model_dump() == {name: getattr(RECORD, name) for name in CURVE_FIELDS}
