"""DARTS− (docs/algorithms.md §4): an auxiliary skip connection on every edge, decaying to zero.

Each edge i<-j adds β_t·x_j (its *source* node; the reference's NB201 code adds the cell input
instead, a bug) to the mixed op's output, so skip_connect no longer has to win α to carry the
gradient: the unfair advantage that makes DARTS collapse to skips goes away. β_t decays linearly
from beta_start at the first epoch to beta_end at the last. The supernet implements the skip
(`Supernet.aux_skip_scale`); this method only drives its schedule.
"""

from __future__ import annotations

from nas_core.methods.base import ArchMethod
from nas_core.methods.params import DartsMinusParams
from nas_core.spaces.base import Supernet


def aux_skip_scale(epoch: int, total_epochs: int, start: float, end: float) -> float:
    """Linear from `start` (epoch 0) to `end` (last epoch); a one-epoch search uses `start`."""
    if total_epochs <= 1:
        return start
    return start + (end - start) * epoch / (total_epochs - 1)


class DartsMinus(ArchMethod[DartsMinusParams]):
    name = "darts-minus"
    params_model = DartsMinusParams

    def on_epoch_start(self, epoch: int, total_epochs: int, supernet: Supernet) -> None:
        supernet.aux_skip_scale = aux_skip_scale(
            epoch, total_epochs, self.params.beta_start, self.params.beta_end
        )
