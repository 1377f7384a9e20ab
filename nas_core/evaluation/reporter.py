"""What an evaluation tells the outside world (the same seam as nas_core.reporter for searches).

The CLI's reporter draws a progress bar and writes files; the worker's writes rows. Records are
plain dataclasses of JSON-ready values. Progress within an epoch reuses the search's `Progress`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol

from nas_core.reporter import Progress


@dataclass
class EvalInfo:
    """Sent once when an evaluation starts (or resumes)."""

    protocol: str
    total_epochs: int
    steps_per_epoch: int
    start_epoch: int  # 0 for a fresh run; the epoch resumed from otherwise
    device: str
    precision: str  # what runs: "fp32" or "bf16" (the spec's "auto" resolved on this device)
    channels_last: bool
    params_m: float  # millions, auxiliary head excluded
    flops_m: float  # millions of multiply-accumulates per image
    train_images: int
    test_images: int


@dataclass
class EvalEpochRecord:
    epoch: int  # 0-based
    train_loss: float
    train_acc: float
    test_loss: float
    test_acc: float
    lr: float
    seconds: float
    drop_prob: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class EvalReporter(Protocol):
    def on_start(self, info: EvalInfo) -> None: ...

    def on_progress(self, progress: Progress) -> None: ...

    def on_epoch(self, record: EvalEpochRecord) -> None: ...

    def on_checkpoint(self, epoch: int, path: str) -> None: ...

    def should_stop(self) -> bool:
        """Polled before every step: True stops the run cooperatively (raises SearchCancelled)."""
        ...


class NullEvalReporter:
    def on_start(self, info: EvalInfo) -> None:
        pass

    def on_progress(self, progress: Progress) -> None:
        pass

    def on_epoch(self, record: EvalEpochRecord) -> None:
        pass

    def on_checkpoint(self, epoch: int, path: str) -> None:
        pass

    def should_stop(self) -> bool:
        return False
