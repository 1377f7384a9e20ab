"""The New-search form's flatness switches come from the metric registry and the spec's defaults
(nas_core/spec.py describe_flatness_switches, served by GET /catalog); a metric must name a flag
the spec has."""

from __future__ import annotations

from typing import Any

import pytest

from nas_core.flatness.metrics import METRICS, Metric, register_metric, registered_metric
from nas_core.spec import FlatnessConfig, describe_flatness_switches


def _epoch_metric(name: str, switch: str, **more: Any) -> Metric:
    return Metric(
        name, name, "a test's", "", None, "shape", phase="epoch", switch=switch, compute="m:f", **more
    )


def test_one_switch_per_flag_with_the_specs_default() -> None:
    switches = describe_flatness_switches()
    flags = [s["name"] for s in switches]
    assert flags == list(dict.fromkeys(m.switch for m in METRICS.values() if m.switch))
    for s in switches:
        assert s["default"] == FlatnessConfig.model_fields[s["name"]].default
        assert s["metrics"] == [m.name for m in METRICS.values() if m.switch == s["name"]]
        assert s["label"] and s["description"] == METRICS[s["name"]].description
    by_flag = {s["name"]: s for s in switches}
    assert by_flag["hessian_eigenvalue"]["label"] == "Hessian eigenvalue"  # its short label
    assert by_flag["skip_count"]["label"] == METRICS["skip_count"].label  # no short label: the label
    assert by_flag["ranking_stability"]["hint"] == "needs 2 metric epochs"
    assert by_flag["neighbourhood"]["hint"].startswith("once, at the end of the search; hundreds")
    assert by_flag["hessian_eigenvalue"]["hint"] == ""


def test_a_metric_sharing_a_flag_is_named_in_its_hint() -> None:
    entry = _epoch_metric("toy shared", "cell_shape", min_metric_epochs=3)
    with registered_metric(entry):
        shape = next(s for s in describe_flatness_switches() if s["name"] == "cell_shape")
    assert shape["metrics"] == ["cell_shape", "toy shared"] and shape["label"] == "Cell width / depth"
    assert shape["hint"] == "once, at the end of the search; needs 3 metric epochs; also turns on toy shared"


@pytest.mark.parametrize("switch", ["no_such_flag", "interval"])
def test_a_metric_must_be_switched_by_a_flag_of_the_spec(switch: str) -> None:
    with pytest.raises(ValueError, match=f"flatness.{switch}, not a flag of the spec"):
        register_metric(_epoch_metric("toy_unswitchable", switch))
    assert "toy_unswitchable" not in METRICS
