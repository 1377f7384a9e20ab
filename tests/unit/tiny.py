"""Tiny search specs shared by the engine's unit tests (test_search, test_checkpoint_retention)."""

from __future__ import annotations

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


def tiny_spec(**overrides: Any) -> SearchSpec:
    """A 2-epoch NB201 search (C=4, one cell per stage) on 64 synthetic 8×8 images, flatness off;
    top-level keys in `overrides` replace the defaults whole."""
    data: dict[str, Any] = {
        "dataset": {"name": "synthetic", "subset": 64, "image_size": 8, "num_classes": 4},
        "epochs": 2,
        "batch_size": 16,
        "supernet": {"C": 4, "N": 1},
        "flatness": FLATNESS_OFF,
    }
    data.update(overrides)
    return SearchSpec.model_validate(data)
