"""The search spec: defaults, strictness, and errors that name the field."""

import pytest
from pydantic import ValidationError

from nas_core.spec import SearchSpec


def error_locs(data: dict) -> list[tuple]:
    with pytest.raises(ValidationError) as info:
        SearchSpec.model_validate(data)
    return [e["loc"] for e in info.value.errors()]


def test_defaults_are_the_paper_settings() -> None:
    spec = SearchSpec()
    assert (spec.epochs, spec.batch_size, spec.optim.w_lr, spec.optim.arch_lr) == (50, 64, 0.025, 3e-4)
    assert spec.a2m_enabled and spec.a2m_rho == 1e-2
    assert SearchSpec(space="darts").a2m_rho == 1e-1


def test_unknown_fields_are_rejected_where_they_stand() -> None:
    assert error_locs({"epoch": 3, "dataset": {"name": "digits", "rot": 1}}) == [
        ("dataset", "rot"),
        ("epoch",),
    ]


def test_method_params_are_validated_and_filled_with_defaults() -> None:
    assert SearchSpec(method="gaea").method_params == {"eta": 0.1, "level": "bilevel", "clamp_min": 1e-5}
    assert error_locs({"method": "beta-darts", "method_params": {"tau": -1}}) == [("method_params", "tau")]


def test_cross_field_errors_name_the_field() -> None:
    assert error_locs({"space": "nb201", "supernet": {"layers": 5}}) == [("supernet", "layers")]
    assert error_locs({"method": "naswot", "a2m": {"enabled": True}}) == [("a2m",)]
    assert SearchSpec(method="naswot").a2m is None


def test_random_search_scores_with_the_supernet_by_default() -> None:
    assert SearchSpec(method="random").method_params["score"] == "supernet"
    assert SearchSpec(method="na-rs").method_params["score"] == "naswot"


def test_na_darts_edits_at_most_every_nb201_edge() -> None:
    assert error_locs({"space": "nb201", "method": "na-darts", "method_params": {"r": 7}}) == [
        ("method_params", "r")
    ]
    assert SearchSpec(space="darts", method="na-darts", method_params={"r": 7}).method_params["r"] == 7


def test_method_param_errors_come_with_the_other_field_errors() -> None:
    locs = error_locs({"method": "beta-darts", "method_params": {"tau": -1}, "dataset": {"name": "digitz"}})
    assert sorted(locs) == [("dataset", "name"), ("method_params", "tau")]
