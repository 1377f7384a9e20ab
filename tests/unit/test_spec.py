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


@pytest.mark.parametrize(
    "data",
    [
        {"priority": "9"},  # a string is not an integer
        {"priority": True},  # nor is a boolean
        {"epochs": True},
        {"batch_size": 1e3},  # nor a float, even a whole one
        {"a2m": {"enabled": 1}},  # an integer is not a boolean
        {"a2m": {"enabled": "true"}},
        {"optim": {"w_lr": "0.1"}},
        {"optim": {"w_lr": True}},
        {"method": "pc-darts", "method_params": {"k": "4"}},
    ],
)
def test_values_are_not_coerced(data: dict) -> None:
    (loc,) = error_locs(data)
    assert ".".join(map(str, loc)) == ".".join(_leaf(data))


def _leaf(data: dict) -> list[str]:
    key, value = [(k, v) for k, v in data.items() if k != "method"][0]
    return [key, *_leaf(value)] if isinstance(value, dict) else [key]


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_floats_must_be_finite(value: float) -> None:
    assert error_locs({"optim": {"grad_clip": value}}) == [("optim", "grad_clip")]
    assert error_locs({"method": "beta-darts", "method_params": {"tau": value}}) == [("method_params", "tau")]


@pytest.mark.parametrize(
    ("section", "field"),
    [
        ("flatness", "interval"),
        ("runtime", "checkpoint_every"),
        ("runtime", "keep_checkpoints"),
        ("dataset", "subset"),
        ("dataset", "eval_subset"),
        ("optim", "grad_clip"),
    ],
)
def test_every_count_has_an_upper_bound(section: str, field: str) -> None:
    assert error_locs({section: {field: 2**40}}) == [(section, field)]


def test_yaml_specs_keep_their_numbers(tmp_path) -> None:
    from nas_core.spec import load_spec_file

    path = tmp_path / "spec.yaml"
    # YAML 1.1 reads 1e-2 and 1.0e-4 as strings; a spec file means numbers.
    path.write_text("epochs: 3\npriority: 7\na2m: {rho: 1e-2}\noptim: {w_lr: 2.5e-2, arch_lr: 1.0e-4}\n")
    spec = load_spec_file(str(path))
    assert (spec.epochs, spec.priority, spec.a2m_rho, spec.optim.w_lr, spec.optim.arch_lr) == (
        3,
        7,
        0.01,
        0.025,
        1e-4,
    )
    path.write_text("priority: '9'\n")
    with pytest.raises(ValidationError):
        load_spec_file(str(path))
