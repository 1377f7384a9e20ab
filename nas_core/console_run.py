"""What the two local runs of the CLI (`flatnas search run`, `flatnas eval run`) share in their
reporters: a step progress bar on stderr (plain log lines when it is off), the flag the first
Ctrl-C sets, and result files written so that a reader never sees half of one."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from flatnas.labels import epoch_label
from nas_core.reporter import Progress


def write_json(path: Path, value: Any) -> None:
    """Write `value` as JSON through a temporary file and a rename: a run cut short leaves the
    previous version or a stray `.tmp`, never a truncated file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n")
    tmp.replace(path)


class ConsoleRun:
    """The console side of a local run's reporter; subclasses add the run's own files."""

    def __init__(self, *, progress: bool = True) -> None:
        self.progress = progress
        self.stop_requested = False  # set by the first Ctrl-C (nas_core.cli.first_ctrl_c_stops)
        self.bar: Any = None
        self.steps = 1

    def start(self, *, total_epochs: int, steps_per_epoch: int, start_epoch: int, summary: str) -> None:
        """Open the bar (when progress is on) and log what the run is, and where it resumes."""
        self.steps = steps_per_epoch
        if self.progress:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total_epochs * steps_per_epoch,
                initial=start_epoch * steps_per_epoch,
                unit="step",
                dynamic_ncols=True,
                file=sys.stderr,
            )
        resuming = f", resuming at epoch {start_epoch}" if start_epoch else ""
        self.log(f"{summary}; {total_epochs} epochs × {steps_per_epoch} steps{resuming}")

    def show(self, progress: Progress, doing: str) -> None:
        """Move the bar to `progress` (epochs numbered from 0, as the log lines and curves.csv are)."""
        if self.bar is None:
            return
        self.bar.n = progress.epoch * self.steps + progress.step
        loss = f"{progress.loss:.3f}" if progress.loss is not None else "-"
        self.bar.set_postfix_str(f"{epoch_label(progress.epoch, progress.total_epochs)} {doing} loss {loss}")

    def on_checkpoint(self, epoch: int, path: str) -> None:
        pass  # the run's own checkpoint directory is the record

    def should_stop(self) -> bool:
        return self.stop_requested

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def log(self, message: str) -> None:
        if self.bar is not None:
            self.bar.write(message, file=sys.stderr)
        else:
            print(message, file=sys.stderr)
