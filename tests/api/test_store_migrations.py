"""Alembic migrations: up and down on SQLite and a fresh PostgreSQL database, and the migrated
schema equals the models (no drift between store/models.py and migrations/)."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from store import migrate
from store.db import make_engine
from store.models import Base
from tests.fixtures.database import create_test_database, drop_test_database

INITIAL_TABLES = {"api_key", "search", "epoch_metric", "genotype", "flatness_metric", "checkpoint", "sample"}
LANDSCAPE_TABLES = {"landscape_job", "landscape_job_search"}
BENCHMARK_TABLES = {"benchmark_status", "benchmark_lookup"}
EVALUATION_TABLES = {"evaluation", "evaluation_epoch"}
EXPECTED_TABLES = (
    INITIAL_TABLES | LANDSCAPE_TABLES | {"study", "study_search"} | BENCHMARK_TABLES | EVALUATION_TABLES
)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'm.db'}"
        return
    url = create_test_database("flatnas_mig")
    yield url
    drop_test_database(url)


def test_upgrade_downgrade_upgrade(empty_url: str) -> None:
    engine = make_engine(empty_url)
    try:
        migrate.upgrade(empty_url)
        assert migrate.current_revision(empty_url) == migrate.head_revision()
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) == EXPECTED_TABLES | {"alembic_version"}
            drift = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
            )
        assert drift == []

        # 0005 and 0004 down: only the evaluation and ground-truth tables go.
        migrate.downgrade(empty_url, "0003")
        with engine.connect() as conn:
            assert set(
                inspect(conn).get_table_names()
            ) == EXPECTED_TABLES - BENCHMARK_TABLES - EVALUATION_TABLES | {"alembic_version"}

        # 0002 down: only the landscape tables go; the search tables and their rows stay.
        migrate.downgrade(empty_url, "0001")
        assert migrate.current_revision(empty_url) == "0001"
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) == INITIAL_TABLES | {"alembic_version"}
        migrate.upgrade(empty_url, "0002")
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) == INITIAL_TABLES | LANDSCAPE_TABLES | {
                "alembic_version"
            }
            checks = {c["name"] for c in inspect(conn).get_check_constraints("landscape_job")}
        assert {"ck_landscape_job_kind", "ck_landscape_job_status"} <= checks

        migrate.downgrade(empty_url, "base")
        assert migrate.current_revision(empty_url) is None
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) == {"alembic_version"}

        migrate.upgrade(empty_url)
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) >= EXPECTED_TABLES
            uniques = {u["name"] for u in inspect(conn).get_unique_constraints("epoch_metric")}
        assert uniques == {"uq_epoch_metric_search_id_epoch"}
    finally:
        engine.dispose()
