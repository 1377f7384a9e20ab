"""The one tiny search spec of the test suite: a request body (`tiny_body`) and a validated spec
(`tiny_spec`). Tests state only what they change, as top-level overrides."""

from __future__ import annotations

import copy
from typing import Any

from nas_core.spec import SearchSpec

# Every flatness metric off: these tests check the engine, not the metrics (and stay fast).
FLATNESS_OFF = {
    k: False
    for k in (
        "hessian_eigenvalue",
        "a2m_sharpness",
        "skip_count",
        "alpha_entropy",
        "neighbourhood",
        "cell_shape",
        "ranking_stability",
    )
}


# A 2-epoch NB201 search (C=4, one cell per stage) on 64 synthetic 8×8 images: seconds on a CPU.
TINY_BODY: dict[str, Any] = {
    "dataset": {"name": "synthetic", "subset": 64, "image_size": 8},
    "epochs": 2,
    "batch_size": 16,
    "supernet": {"C": 4, "N": 1},
}


def tiny_body(**overrides: Any) -> dict[str, Any]:
    """TINY_BODY as a fresh dict (safe to mutate); top-level keys in `overrides` replace the defaults whole."""
    return {**copy.deepcopy(TINY_BODY), **overrides}


def tiny_spec(**overrides: Any) -> SearchSpec:
    """tiny_body validated, on 4 classes with flatness off (the engine's tests check the engine, not
    the metrics); top-level keys in `overrides` replace the defaults whole."""
    defaults = {"dataset": {**TINY_BODY["dataset"], "num_classes": 4}, "flatness": FLATNESS_OFF}
    return SearchSpec.model_validate(tiny_body(**{**defaults, **overrides}))
