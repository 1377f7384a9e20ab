"""What a search tells the outside world, and how it is asked to stop.

The engine calls one `Reporter`; the CLI's reporter prints a progress bar and writes files, the
worker's writes database rows. Records are plain dataclasses of JSON-ready values, so a reporter
never needs torch.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Protocol


def json_ready(value: Any) -> Any:
    """`value` with NaN/inf floats replaced by None: strict JSON (PostgreSQL and browsers refuse NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    return value


@dataclass
class SearchInfo:
    """Sent once when a search starts (or resumes)."""

    space: str
    method: str
    ops: list[str]
    total_epochs: int
    steps_per_epoch: int
    start_epoch: int  # 0 for a fresh search; the epoch resumed from otherwise
    device: str
    num_params: int


@dataclass
class Progress:
    """A heartbeat within an epoch; sent every few steps, cheap to produce (no host sync)."""

    epoch: int  # 0-based epoch being run
    step: int  # steps done in this epoch
    steps_per_epoch: int
    total_epochs: int
    phase: str  # "train" | "eval" | "flatness" | "score"
    loss: float | None = None  # last known loss (may lag a few steps)
    eta_seconds: float | None = None
    # What the phase is doing right now, for people: "hessian eigenvalue 1/4" during flatness.
    detail: str | None = None


@dataclass
class EpochRecord:
    epoch: int  # 0-based
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    lr: float
    seconds: float
    alphas: dict[str, list[list[float]]]  # mixing weights per α tensor name ("cell" | "normal", "reduce")
    genotype: dict[str, Any]  # genotype JSON (docs/architecture.md)
    extra: dict[str, Any] = field(default_factory=dict)  # method-specific (e.g. PC-DARTS β)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# The epoch record above is the one declaration of what an epoch reports; the rest derive from it.
#: The per-epoch numbers (the learning curves), in order: the CLI's curves.csv, GET /curves (JSON and
#: CSV). The API's EpochOut and the epoch_metric table mirror them as typed declarations, and
#: tests/unit/test_epoch_fields.py checks that they still agree.
CURVE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(EpochRecord) if f.type in ("int", "float"))
#: What the epoch_metric row stores besides its key (search, epoch); the genotype has its own table.
EPOCH_ROW_FIELDS: tuple[str, ...] = tuple(
    f.name for f in fields(EpochRecord) if f.name not in ("epoch", "genotype")
)


@dataclass
class FlatnessRecord:
    kind: (
        str  # "hessian_eigenvalue" | "a2m_sharpness" | "skip_count" | "alpha_entropy" | "neighbourhood" | ...
    )
    epoch: int | None  # None for end-of-search metrics
    params: dict[str, Any]
    value: Any  # JSON-ready
    seconds: float  # wall time spent computing it


@dataclass
class SampledArchitecture:
    """Sampling methods (random, naswot, na-rs): one scored architecture."""

    genotype: dict[str, Any]
    score: float
    rank: int


class Reporter(Protocol):
    def on_start(self, info: SearchInfo) -> None: ...

    def on_progress(self, progress: Progress) -> None: ...

    def on_epoch(self, record: EpochRecord) -> None: ...

    def on_genotype(self, genotype: dict[str, Any], *, epoch: int, is_best: bool, is_final: bool) -> None: ...

    def on_flatness(self, record: FlatnessRecord) -> None: ...

    def on_checkpoint(self, epoch: int, path: str) -> None: ...

    def on_samples(self, samples: list[SampledArchitecture]) -> None: ...

    def should_stop(self) -> bool:
        """Polled between steps: True asks the engine to stop cooperatively (raises SearchCancelled)."""
        ...


class NullReporter:
    """A reporter that records nothing; handy for library use and tests."""

    def on_start(self, info: SearchInfo) -> None:
        pass

    def on_progress(self, progress: Progress) -> None:
        pass

    def on_epoch(self, record: EpochRecord) -> None:
        pass

    def on_genotype(self, genotype: dict[str, Any], *, epoch: int, is_best: bool, is_final: bool) -> None:
        pass

    def on_flatness(self, record: FlatnessRecord) -> None:
        pass

    def on_checkpoint(self, epoch: int, path: str) -> None:
        pass

    def on_samples(self, samples: list[SampledArchitecture]) -> None:
        pass

    def should_stop(self) -> bool:
        return False


class SearchCancelled(Exception):
    """The reporter asked the search to stop; the last checkpoint is intact."""


class SearchDiverged(RuntimeError):
    """A loss became NaN or infinite; carries where it happened."""

    def __init__(self, epoch: int, step: int, which: str) -> None:
        super().__init__(f"{which} loss became NaN or infinite at epoch {epoch}, step {step}; search stopped")
        self.epoch, self.step, self.which = epoch, step, which
