"""Settings refuse unsafe values in production and accept the embedded defaults in development."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from store.settings import Settings

SAFE = {
    "ENV": "production",
    "DATABASE_URL": "postgresql+psycopg://flatnas:s3cr3t-from-vault@db:5432/flatnas",
    "BROKER_URL": "redis://redis:6379/0",
}


def test_development_defaults_are_embedded() -> None:
    s = Settings(_env_file=None)
    assert (s.DATABASE_URL, s.BROKER_URL, s.MAX_BODY_BYTES) == (
        "sqlite:///var/flatnas.db",
        "sqla+sqlite:///var/broker.sqlite",
        1 << 20,
    )


def test_production_accepts_a_real_stack() -> None:
    assert Settings(_env_file=None, **SAFE).ENV == "production"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"DATABASE_URL": "sqlite:///var/flatnas.db"}, "DATABASE_URL is SQLite"),
        ({"DATABASE_URL": "postgresql+psycopg://flatnas:changethis@db/flatnas"}, "example one"),
        ({"DATABASE_URL": "postgresql+psycopg://flatnas@db/flatnas"}, "no password"),
        ({"BROKER_URL": "sqla+sqlite:///var/broker.sqlite"}, "embedded broker"),
    ],
)
def test_production_refuses_unsafe_values(override: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(_env_file=None, **{**SAFE, **override})


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_BODY_BYTES", "4096")
    monkeypatch.setenv("DEVICE", "cuda")
    s = Settings(_env_file=None)
    assert (s.MAX_BODY_BYTES, s.DEVICE) == (4096, "cuda")
    monkeypatch.setenv("DEVICE", "tpu")
    with pytest.raises(ValidationError, match="DEVICE"):
        Settings(_env_file=None)


def test_queue_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLATNAS_QUEUE", raising=False)
    assert Settings(_env_file=None).FLATNAS_QUEUE == "gpu"
    monkeypatch.setenv("FLATNAS_QUEUE", "gpu-a100")
    assert Settings(_env_file=None).FLATNAS_QUEUE == "gpu-a100"
    monkeypatch.setenv("FLATNAS_QUEUE", "")
    with pytest.raises(ValidationError, match="FLATNAS_QUEUE"):
        Settings(_env_file=None)
