"""Study grids and statistics: the cartesian product of validated specs, one error list for a bad
grid, and summaries / paired tests checked against hand computations."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from nas_core.study import (
    ChildResult,
    InvalidGrid,
    cell_results,
    expand_grid,
    get_path,
    paired,
    paired_results,
    set_path,
    sign_test_p,
    summarize,
)

TINY = {"space": "nb201", "dataset": {"name": "digits"}, "epochs": 1, "supernet": {"C": 4, "N": 1}}


def test_expand_grid_is_the_cartesian_product_in_grid_order() -> None:
    grid = {"method": ["darts", "pc-darts"], "a2m.enabled": [True, False], "seed": [0, 1]}
    cells = expand_grid(TINY, grid, name="cmp", tags=["t", "study:x"], priority=7, max_searches=64)
    assert len(cells) == 8
    assert [c.index for c in cells] == list(range(8))
    assert cells[0].values == {"method": "darts", "a2m.enabled": True, "seed": 0}
    assert cells[-1].values == {"method": "pc-darts", "a2m.enabled": False, "seed": 1}
    spec = cells[5].spec  # pc-darts, a2m on, seed 1
    assert (spec.method, spec.a2m_enabled, spec.seed) == ("pc-darts", True, 1)
    assert spec.name == "cmp [method=pc-darts a2m.enabled=true seed=1]"
    assert spec.tags == ["t", "study:x"] and spec.priority == 7
    assert spec.supernet.C == 4  # the base is kept


def test_set_path_creates_a_section_that_is_null_in_the_base() -> None:
    base = {"a2m": None, "supernet": {"C": 4}}
    out = set_path(base, "a2m.enabled", False)
    assert out == {"a2m": {"enabled": False}, "supernet": {"C": 4}}
    assert base["a2m"] is None  # a copy
    assert get_path(out, "a2m.enabled") is False and get_path(base, "a2m.enabled") is None


def test_one_error_lists_every_bad_axis_and_cell() -> None:
    grid = {"supernet.C": [4, 0, -1], "seed": [0, 0], "name": ["x"], "nope": [1]}
    with pytest.raises(InvalidGrid) as caught:
        expand_grid(TINY, grid, name="bad", max_searches=64)
    fields = [p.field for p in caught.value.problems]
    assert "grid.seed" in fields  # duplicate value
    assert "grid.name" in fields  # the study names its children
    # axis problems are reported before any cell is built
    with pytest.raises(InvalidGrid) as caught:
        expand_grid(TINY, {"supernet.C": [4, 0, -1], "seed": [0, 1]}, name="bad", max_searches=64)
    problems = caught.value.problems
    assert {p.field for p in problems} == {f"grid[{i}].supernet.C" for i in (2, 3, 4, 5)}
    assert all("cell supernet.C=" in p.message for p in problems)


def test_unknown_field_paths_and_size_limit_are_refused() -> None:
    with pytest.raises(InvalidGrid) as caught:
        expand_grid(TINY, {"supernet.colour": ["red"]}, name="x", max_searches=64)
    assert caught.value.problems[0].field == "grid[0].supernet.colour"
    with pytest.raises(InvalidGrid) as caught:
        expand_grid(TINY, {"seed": list(range(10)), "method": ["darts", "gaea"]}, name="x", max_searches=8)
    assert any("makes 20 searches" in p.message and "at most 8" in p.message for p in caught.value.problems)


def test_summary_uses_the_sample_std() -> None:
    s = summarize([0.5, 0.7, 0.9, None])
    assert s.n == 3 and s.mean == pytest.approx(0.7) and s.min == 0.5 and s.max == 0.9
    assert s.std == pytest.approx(0.2)  # sqrt(((-.2)^2 + 0 + .2^2) / 2)
    assert summarize([1.0]).std is None and summarize([]).n == 0


def test_sign_test_by_hand() -> None:
    # non-zero diffs: 4, three positive: 2 * (C(4,0) + C(4,1)) / 16 = 10/16
    assert sign_test_p([1.0, 2.0, 3.0, -1.0, 0.0]) == pytest.approx(0.625)
    assert sign_test_p([1.0] * 5) == pytest.approx(2 / 32)
    assert sign_test_p([0.0, 0.0]) is None


def test_paired_t_by_hand_with_two_degrees_of_freedom() -> None:
    # d = 1, 2, 3: mean 2, std 1, t = 2·√3; with ν = 2 the two-sided p is 1 − t/√(2 + t²).
    result = paired([1.0, 2.0, 3.0])
    t = 2 * math.sqrt(3)
    assert result.n == 3 and result.mean == pytest.approx(2.0) and result.std == pytest.approx(1.0)
    assert result.t_p == pytest.approx(1 - t / math.sqrt(2 + t * t), rel=1e-9)
    assert result.sign_p == pytest.approx(0.25) and result.positive == 3
    assert paired([0.5]).t_p is None and paired([]).n == 0


def _child(i: int, method: str, a2m: bool, seed: int, acc: float | None, ok: bool = True) -> ChildResult:
    values = {"method": method, "a2m.enabled": a2m, "seed": seed}
    return ChildResult(f"s{i}", values, seed, ok, {"acc": acc})


def test_cells_and_pairs_match_a_hand_computation() -> None:
    children = [
        _child(0, "darts", True, 0, 0.80),
        _child(1, "darts", True, 1, 0.90),
        _child(2, "darts", True, 2, 0.70, ok=False),  # failed: left out of both tables
        _child(3, "darts", False, 0, 0.75),
        _child(4, "darts", False, 1, 0.80),
        _child(5, "darts", False, 2, 0.60),
    ]
    cells = cell_results(children, ["acc"])
    assert [c.values for c in cells] == [
        {"method": "darts", "a2m.enabled": True},
        {"method": "darts", "a2m.enabled": False},
    ]
    on, off = cells
    assert on.search_ids == ["s0", "s1", "s2"] and on.n == 2
    assert on.metrics["acc"].mean == pytest.approx(0.85)
    assert off.metrics["acc"].mean == pytest.approx(0.7166666, rel=1e-6) and off.n == 3
    (pair,) = paired_results(children, ["acc"])
    assert pair.values == {"method": "darts"}
    d = pair.metrics["acc"]  # seeds 0 and 1: 0.05, 0.10
    assert d.n == 2 and d.mean == pytest.approx(0.075) and d.std == pytest.approx(math.sqrt(2) * 0.025)
    # ν = 1: t = mean / (std/√2) = 3, two-sided p = 1 − 2·atan(3)/π
    assert d.t_p == pytest.approx(1 - 2 * math.atan(3) / math.pi, rel=1e-9)
    assert d.sign_p == pytest.approx(0.5)


@pytest.mark.parametrize("path", sorted(Path(__file__).parents[2].joinpath("examples").glob("study-*.yaml")))
def test_example_studies_are_valid(path: Path) -> None:
    study = yaml.safe_load(path.read_text())
    cells = expand_grid(study["base"], study["grid"], name=study["name"], max_searches=64)
    assert len(cells) == math.prod(len(v) for v in study["grid"].values())


def _metric_child(i: int, a2m: bool, seed: int, metrics: dict[str, float]) -> ChildResult:
    return ChildResult(f"s{i}", {"a2m.enabled": a2m, "seed": seed}, seed, True, metrics)


def test_better_follows_each_metrics_direction_and_positive_keeps_the_sign() -> None:
    # A2M on: eigenvalue lower on seeds 0 and 1, higher on seed 2; slower on seed 0 only;
    # accuracy higher on seed 1 only.
    on = {0: (1.0, 70.0, 0.5), 1: (2.0, 50.0, 0.9), 2: (9.0, 40.0, 0.6)}
    off = {0: (3.0, 60.0, 0.6), 1: (5.0, 55.0, 0.8), 2: (4.0, 45.0, 0.7)}
    names = ("hessian_eigenvalue", "wall_seconds", "best_val_acc")
    children = [
        _metric_child(i, a2m, seed, dict(zip(names, values, strict=True)))
        for i, (a2m, seed, values) in enumerate(
            [(True, s, v) for s, v in on.items()] + [(False, s, v) for s, v in off.items()]
        )
    ]
    (pair,) = paired_results(children, [*names, "alpha_entropy", "no_such_metric"])
    eig, wall, acc = (pair.metrics[n] for n in names)
    assert (eig.positive, eig.better) == (1, 2)  # lower is flatter
    assert (wall.positive, wall.better) == (1, 2)  # lower wall time is better
    assert (acc.positive, acc.better) == (1, 1)  # higher accuracy is better
    # No direction (α entropy is neither better nor worse; an unknown name has none): better is None.
    assert pair.metrics["alpha_entropy"].better is None and pair.metrics["no_such_metric"].better is None
    assert paired([1.0, -2.0, 0.0], "lower").better == 1 and paired([], "higher").better == 0


def test_a_typo_every_cell_shares_is_one_problem_listing_the_allowed_fields() -> None:
    grid = {"methd": ["darts", "gaea"], "a2m.enabled": [True, False], "seed": [0, 1, 2]}
    with pytest.raises(InvalidGrid) as caught:
        expand_grid(TINY, grid, name="typo", max_searches=64)
    (problem,) = caught.value.problems  # not one per cell (12)
    assert problem.field == "grid.methd"
    assert "unknown field; allowed:" in problem.message and "in all 12 cells" in problem.message
    assert problem.allowed is not None and "method" in problem.allowed and "seed" in problem.allowed
    # the same typo in the base is named there
    with pytest.raises(InvalidGrid) as caught:
        expand_grid({**TINY, "epochz": 2}, {"seed": [0, 1]}, name="typo", max_searches=64)
    assert [p.field for p in caught.value.problems] == ["base.epochz"]
