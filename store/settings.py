"""Service configuration: one pydantic-settings object read once from the environment (and `.env`).

The defaults run the embedded stack (SQLite file + a broker on a SQLite file) with nothing installed;
`ENV=production` refuses those defaults so a misconfigured deployment fails at start, not at 3 a.m.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

# Passwords that only ever appear in examples; a production URL carrying one is a mistake.
_DEFAULT_PASSWORDS = frozenset({"", "changethis", "postgres", "password", "secret", "flatnas"})


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    ENV: Literal["development", "production"] = "development"
    DATABASE_URL: str = Field("sqlite:///var/flatnas.db", description="SQLAlchemy URL of the results store")
    BROKER_URL: str = Field("sqla+sqlite:///var/broker.sqlite", description="Celery broker URL")
    DATA_DIR: Path = Field(Path("var"), description="checkpoints, the embedded database and broker")
    FLATNAS_DATA_ROOT: str | None = Field(None, description="data sets on worker machines (never downloaded)")
    FLATNAS_NB201_BENCHMARK: str | None = Field(
        None,
        description="NAS-Bench-201 ground truth on worker and API nodes: a NATS-Bench topology directory "
        "(NATS-tss-v1_0-3ffb9-simple), its single archive, or a NAS-Bench-201 .pth (never downloaded)",
    )
    DEVICE: Literal["auto", "cpu", "cuda"] = "auto"
    GPU_MEMORY_FRACTION: float | None = Field(
        None, gt=0, le=1, description="cap on this worker's share of GPU memory (set by worker.gpu_share)"
    )
    WORKER_THREADS: int | None = Field(
        None,
        ge=1,
        le=1024,
        description="torch CPU threads of each worker process; unset: OMP_NUM_THREADS, else the usable cores "
        "divided by the worker processes on the host (worker/threads.py)",
    )
    API_HOST: str = "127.0.0.1"
    API_PORT: int = Field(8000, ge=1, le=65535)
    HEARTBEAT_TIMEOUT_S: float = Field(120.0, gt=0, description="a running search silent this long is stale")
    UNCLAIMED_REQUEUE_S: float = Field(
        300.0,
        gt=0,
        description="a queued search or job no worker has claimed this long, while the broker's queue is "
        "empty, lost its message and is enqueued again",
    )
    WORKER_STOP_GRACE_S: float = Field(
        20.0,
        gt=0,
        le=3600,
        description="on SIGTERM a worker hands its search back at the next step and exits within this long",
    )
    # Operator limits on what one submitted search or job may cost (api/admission.py); the spec's
    # own bounds are the hard ceiling. Admin keys exceed them only with LIMITS_ADMIN_OVERRIDE.
    MAX_SUPERNET_PARAMS: int = Field(50_000_000, ge=1, description="estimated supernet parameters")
    MAX_STEP_MEMORY_GIB: float = Field(
        32.0, gt=0, description="estimated device memory of a training step (activations, weights, data)"
    )
    MAX_EPOCHS: int = Field(500, ge=1, description="epochs of a search (and supernet epochs of sampling)")
    MAX_BATCH_SIZE: int = Field(1024, ge=2, description="batch size of a search")
    MAX_ARCH_EVALUATIONS: int = Field(
        20_000, ge=1, description="architectures a sampling search scores (with NA-RS's neighbours)"
    )
    MAX_LANDSCAPE_EVALUATIONS: int = Field(
        1_000, ge=1, description="edit paths (barrier, matrix pairs × paths) or neighbours of a landscape job"
    )
    LIMITS_ADMIN_OVERRIDE: bool = Field(False, description="admin keys may exceed the limits above")
    MAX_BODY_BYTES: int = Field(1 << 20, ge=1024, description="request bodies above this get 413")
    API_THREADS: int = Field(
        16,
        ge=1,
        le=256,
        description="threads serving blocking work in one API process; its database pool has as many",
    )
    API_PARSE_PROCESSES: int = Field(
        2,
        ge=0,
        le=64,
        description="processes that parse large request bodies off the API process (0: in its threads)",
    )
    SSE_POLL_S: float = Field(0.5, gt=0, le=10, description="how often an event stream polls the store")
    READY_TIMEOUT_S: float = Field(2.0, gt=0, le=30, description="broker connection timeout in /readyz")
    MAX_STUDY_SEARCHES: int = Field(
        64, ge=1, le=4096, description="the most searches one study's grid may make (POST /studies)"
    )
    RETRY_AFTER_S: int = Field(
        5, ge=1, le=3600, description="Retry-After (seconds) of the 503 answered while the database is down"
    )
    FLATNAS_QUEUE: str = Field(
        "gpu",
        min_length=1,
        max_length=200,
        description="the Celery queue workers consume and the API enqueues to (every job kind)",
    )

    # Bounds on what an evaluation request may ask a worker to train (POST /evaluations).
    EVAL_MAX_EPOCHS: int = Field(1000, ge=1, description="evaluations: most epochs a request may ask for")
    EVAL_MAX_BATCH_SIZE: int = Field(1024, ge=2, description="evaluations: largest batch size")
    EVAL_MAX_C: int = Field(128, ge=2, description="evaluations: most initial channels")
    EVAL_MAX_LAYERS: int = Field(40, ge=1, description="evaluations: most cells (darts) or cells per stage")

    @model_validator(mode="after")
    def _refuse_unsafe_production_values(self) -> Settings:
        if self.ENV != "production":
            return self
        problems: list[str] = []
        db = make_url(self.DATABASE_URL)
        if db.get_backend_name() == "sqlite":
            problems.append("DATABASE_URL is SQLite; production needs PostgreSQL (postgresql+psycopg://...)")
        elif db.password is None or db.password in _DEFAULT_PASSWORDS:
            problems.append("DATABASE_URL has no password or an example one; set a real secret")
        if self.BROKER_URL.startswith(("sqla+", "memory://", "filesystem://")):
            problems.append(
                f"BROKER_URL {self.BROKER_URL.split(':', 1)[0]}:// is the embedded broker; use redis://"
            )
        if problems:
            raise ValueError("unsafe settings for ENV=production: " + "; ".join(problems))
        return self


settings = Settings()
