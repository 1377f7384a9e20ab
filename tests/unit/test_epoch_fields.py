"""The epoch record (nas_core.reporter.EpochRecord) is the one declaration of an epoch's fields;
the API's typed EpochOut and the epoch_metric table mirror it, and must keep agreeing."""

from __future__ import annotations

from api.schemas import CURVE_COLUMNS, EpochOut
from nas_core.reporter import CURVE_FIELDS, EPOCH_ROW_FIELDS
from store.models import EpochMetric
from store.repositories.results import EPOCH_FIELDS


def test_curve_fields_are_the_records_numbers() -> None:
    assert CURVE_FIELDS == ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")
    assert tuple(EpochOut.model_fields) == CURVE_FIELDS == CURVE_COLUMNS


def test_the_table_stores_every_row_field() -> None:
    columns = set(EpochMetric.__table__.columns.keys())
    assert EPOCH_FIELDS == EPOCH_ROW_FIELDS
    assert {"search_id", "epoch", *EPOCH_ROW_FIELDS} <= columns
    assert "genotype" not in EPOCH_ROW_FIELDS  # genotypes have their own table
