"""First-order DARTS (Liu et al., ICLR 2019): ∇_α L_val(w, softmax(α)) at fixed w.

The behaviour is exactly the base contract's; this module gives it a name in the registry.
"""

from __future__ import annotations

from nas_core.methods.base import ArchMethod
from nas_core.methods.params import NoParams


class Darts(ArchMethod[NoParams]):
    name = "darts"
    params_model = NoParams
