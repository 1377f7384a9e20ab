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

    # Every field's description is the "meaning" column of the settings table in README.md and
    # docs/operations.md (rendered by `python -m store.settings_table --write`; a test compares them).
    ENV: Literal["development", "production"] = Field(
        "development",
        description="`production` refuses SQLite, the embedded broker and example passwords at start-up",
    )
    DATABASE_URL: str = Field(
        "sqlite:///var/flatnas.db",
        description="SQLAlchemy URL of the results store; production: `postgresql+psycopg://user:pass@host/db`",
    )
    BROKER_URL: str = Field(
        "sqla+sqlite:///var/broker.sqlite", description="Celery broker URL; production: `redis://host:6379/0`"
    )
    DATA_DIR: Path = Field(
        Path("var"),
        description="checkpoints (`DATA_DIR/searches/<id>`), run files, the embedded database and broker; "
        "must be shared storage when workers on several nodes resume each other's searches",
    )
    FLATNAS_DATA_ROOT: str | None = Field(
        None,
        description="the data roots: one or more directories (separated by `:`) holding the data-set files "
        "(CIFAR, ImageNet16-120) on worker nodes; nothing is ever downloaded. A spec's `dataset.root` may "
        "only name a sub-directory inside one. Set it for the API too: without it, searches and "
        "evaluations of these data sets are refused (422)",
    )
    FLATNAS_NB201_BENCHMARK: str | None = Field(
        None,
        description="NAS-Bench-201 ground truth on worker (and optionally API) nodes: a NATS-Bench topology "
        "directory (`NATS-tss-v1_0-3ffb9-simple`), its single archive, or a NAS-Bench-201 `.pth`; never "
        "downloaded (docs/ground-truth.md)",
    )
    DEVICE: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="`auto` (CUDA when present), `cpu` or `cuda`"
    )
    GPU_MEMORY_FRACTION: float | None = Field(
        None,
        gt=0,
        le=1,
        description="cap on one worker's share of GPU memory; `python -m worker.gpu_share --per-gpu N` sets "
        "it (docs/performance.md)",
    )
    WORKER_THREADS: int | None = Field(
        None,
        ge=1,
        le=1024,
        description="torch CPU threads of each worker process. Unset: `OMP_NUM_THREADS` if set, else the "
        "usable cores (CPU affinity, cgroup quota) ÷ the worker processes on the host, at least 1 "
        "(worker/threads.py). `flatnas server up` counts its API as one more process; "
        "`python -m worker.gpu_share` divides by the workers it starts. More threads than free cores "
        "makes every step wait for a descheduled thread",
    )
    API_HOST: str = Field("127.0.0.1", description="the address `flatnas server up` serves on")
    API_PORT: int = Field(8000, ge=1, le=65535, description="the port `flatnas server up` serves on")
    HEARTBEAT_TIMEOUT_S: float = Field(
        120.0,
        gt=0,
        description="a running search or job whose worker has been silent this long is re-queued (a search "
        "resumes from its checkpoint)",
    )
    UNCLAIMED_REQUEUE_S: float = Field(
        300.0,
        gt=0,
        description="a queued search, landscape job or evaluation that no worker has claimed this long, "
        "while the broker's queue is empty, lost its message (a Redis restart without persistence, a "
        "purge) and is enqueued again",
    )
    WORKER_STOP_GRACE_S: float = Field(
        20.0,
        gt=0,
        le=3600,
        description="on SIGTERM a worker stops its search (or evaluation) at the next step, hands it back to "
        "the queue (another worker resumes it from its last checkpoint) and exits within this long",
    )
    # Operator limits on what one submitted search or job may cost (api/admission.py); the spec's
    # own bounds are the hard ceiling. Admin keys exceed them only with LIMITS_ADMIN_OVERRIDE.
    MAX_SUPERNET_PARAMS: int = Field(
        50_000_000, ge=1, description="limit on a submitted search's estimated supernet parameters"
    )
    MAX_STEP_MEMORY_GIB: float = Field(
        32.0,
        gt=0,
        description="limit on a search's estimated device memory per training step (activations, weights "
        "with gradients and momentum, the data set)",
    )
    MAX_EPOCHS: int = Field(
        500, ge=1, description="limit on a search's `epochs` (and a sampling search's `supernet_epochs`)"
    )
    MAX_BATCH_SIZE: int = Field(1024, ge=2, description="limit on a search's `batch_size`")
    MAX_ARCH_EVALUATIONS: int = Field(
        20_000,
        ge=1,
        description="limit on the architectures a sampling search scores (`num_samples`, times "
        "`1 + max_neighbours` for `na-rs`)",
    )
    MAX_LANDSCAPE_EVALUATIONS: int = Field(
        1_000,
        ge=1,
        description="limit on a landscape job's edit paths (`paths`, times the pairs of a matrix) or "
        "neighbours (`samples` × radii)",
    )
    LIMITS_ADMIN_OVERRIDE: bool = Field(
        False, description="when true, admin keys may exceed the `MAX_*` limits"
    )
    MAX_BODY_BYTES: int = Field(1 << 20, ge=1024, description="larger request bodies get 413")
    API_THREADS: int = Field(
        16,
        ge=1,
        le=256,
        description="threads for blocking work in one API process; its PostgreSQL pool holds as many connections",
    )
    API_PARSE_PROCESSES: int = Field(
        2,
        ge=0,
        le=64,
        description="processes of each API process that parse request bodies over 16 KiB (started on the "
        "first such body), so a large body never holds the API process's GIL; 0 parses every body in the "
        "API's threads",
    )
    SSE_POLL_S: float = Field(
        0.5,
        gt=0,
        le=10,
        description="how often the API process polls the store for its open event streams (one poll per job "
        "kind serves them all); streams end within this (at most 0.25 s) of the API receiving SIGTERM",
    )
    READY_TIMEOUT_S: float = Field(2.0, gt=0, le=30, description="broker connection timeout of `/readyz`")
    MAX_STUDY_SEARCHES: int = Field(
        64, ge=1, le=4096, description="the most searches one study's grid may make (`POST /studies`)"
    )
    RETRY_AFTER_S: int = Field(
        5,
        ge=1,
        le=3600,
        description="`Retry-After` (seconds) of the 503 problem answered while the database is unreachable",
    )
    FLATNAS_QUEUE: str = Field(
        "gpu",
        min_length=1,
        max_length=200,
        description="the Celery queue workers consume and the API enqueues to (every job kind)",
    )

    # Bounds on what an evaluation request may ask a worker to train (POST /evaluations); 422 above.
    EVAL_MAX_EPOCHS: int = Field(1000, ge=1, description="the most epochs an evaluation request may ask for")
    EVAL_MAX_BATCH_SIZE: int = Field(
        1024, ge=2, description="the largest batch size of an evaluation request"
    )
    EVAL_MAX_C: int = Field(128, ge=2, description="the most initial channels of an evaluation request")
    EVAL_MAX_LAYERS: int = Field(
        40, ge=1, description="the most cells (darts) or cells per stage (nb201) of an evaluation request"
    )

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
