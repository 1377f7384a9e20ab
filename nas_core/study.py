"""Studies: a grid of search specs, and the statistics that compare its cells.

A study is a base spec plus a grid `{field path: [values]}`; its searches are the cartesian
product, each the base with one value per axis set. Every search of a grid cell differs only in
its seed, so a cell's results are summarised over seeds (mean, sample std, min, max), and two cells
that differ only in `a2m.enabled` are compared seed by seed: the paired differences
d_i = on_i − off_i, their mean and sample std, a two-sided sign test and a paired t-test, and
how many seeds A2M on did better by the metric's direction (nas_core/flatness/metrics.py).

Pure functions of plain data: the store supplies each child's metrics, the API renders the result.
"""

from __future__ import annotations

import copy
import itertools
import math
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from scipy import stats

from nas_core.flatness.metrics import Direction, direction_of
from nas_core.spec import SearchSpec
from nas_core.strict import fields_at

SEED_AXIS = "seed"
A2M_AXIS = "a2m.enabled"
MAX_AXES = 8
MAX_AXIS_VALUES = 64
# Fields a study sets for every child itself: naming and queueing are the study's, not a cell's.
STUDY_OWNED_FIELDS = ("name", "tags", "priority")
_PATH = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*){0,3}$", re.IGNORECASE)


@dataclass(frozen=True)
class GridProblem:
    """One thing wrong with a grid: `field` is a path in the study request ("grid.seed",
    "grid[3].supernet.C"), `message` says what is wrong and what is allowed."""

    field: str
    message: str
    allowed: list[Any] | None = None


class InvalidGrid(ValueError):
    def __init__(self, problems: list[GridProblem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class GridCell:
    """One search of a study: its position, the axis values that made it, and its valid spec."""

    index: int
    values: dict[str, Any]
    spec: SearchSpec

    @property
    def label(self) -> str:
        return cell_label(self.values)


def cell_label(values: Mapping[str, Any]) -> str:
    return " ".join(f"{path}={_show(value)}" for path, value in values.items())


def _show(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) or value is None else str(value)


def get_path(doc: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path of a (normalised) spec; None where a section is null or absent."""
    node: Any = doc
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def set_path(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of `doc` with `value` at the dotted `path`, creating (or replacing a null)
    section on the way: `a2m.enabled` works on a base whose `a2m` is null."""
    out = copy.deepcopy(doc)
    node = out
    *parents, leaf = path.split(".")
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[leaf] = value
    return out


def _check_axes(grid: Mapping[str, Sequence[Any]]) -> list[GridProblem]:
    problems = []
    if not grid:
        problems.append(GridProblem("grid", 'needs at least one axis, e.g. {"seed": [0, 1, 2]}'))
    if len(grid) > MAX_AXES:
        problems.append(GridProblem("grid", f"has {len(grid)} axes; at most {MAX_AXES} are allowed"))
    for path, values in grid.items():
        where = f"grid.{path}"
        if not _PATH.match(path):
            problems.append(GridProblem(where, "is not a spec field path like 'supernet.C' or 'a2m.enabled'"))
        elif path.split(".")[0] in STUDY_OWNED_FIELDS:
            problems.append(
                GridProblem(where, "is set by the study for every search; put it on the study itself")
            )
        if not isinstance(values, list) or not values:
            problems.append(GridProblem(where, "must be a non-empty list of values"))
            continue
        if len(values) > MAX_AXIS_VALUES:
            problems.append(GridProblem(where, f"has {len(values)} values; at most {MAX_AXIS_VALUES}"))
        seen: list[Any] = []
        for value in values:
            if isinstance(value, dict | list):
                problems.append(
                    GridProblem(where, f"value {value!r} is not a single value (string, number, bool, null)")
                )
            elif any(value == other and type(value) is type(other) for other in seen):
                problems.append(GridProblem(where, f"value {_show(value)} appears twice"))
            seen.append(value)
    return problems


def grid_size(grid: Mapping[str, Sequence[Any]]) -> int:
    return math.prod(len(values) if isinstance(values, list) else 1 for values in grid.values())


def expand_grid(
    base: Mapping[str, Any],
    grid: Mapping[str, Sequence[Any]],
    *,
    name: str,
    tags: Sequence[str] = (),
    priority: int = 5,
    max_searches: int,
) -> list[GridCell]:
    """Every search of the study, validated as a whole: one InvalidGrid lists every bad axis and
    every grid cell whose spec is invalid (with the cell's axis values), before anything exists."""
    problems = _check_axes(grid)
    for owned in STUDY_OWNED_FIELDS:
        if owned in base:
            problems.append(GridProblem(f"base.{owned}", "is set by the study; put it on the study itself"))
    size = grid_size(grid)
    if size > max_searches:
        problems.append(
            GridProblem(
                "grid", f"makes {size} searches; this service allows at most {max_searches} per study"
            )
        )
    if problems:
        raise InvalidGrid(problems)

    axes = list(grid)
    cells: list[GridCell] = []
    # (field path, message, allowed) -> the cells it fails in, in order
    failures: dict[tuple[str, str, tuple[Any, ...] | None], list[tuple[int, dict[str, Any]]]] = {}
    for index, combo in enumerate(itertools.product(*(grid[a] for a in axes))):
        values = dict(zip(axes, combo, strict=True))
        doc = dict(base)
        for path, value in values.items():
            doc = set_path(doc, path, value)
        doc.update(name=f"{name} [{cell_label(values)}]"[:200], tags=list(tags), priority=priority)
        try:
            cells.append(GridCell(index, values, SearchSpec.model_validate(doc)))
        except ValidationError as err:
            for error in err.errors():
                key = _cell_error(error)
                failures.setdefault(key, []).append((index, values))
    problems.extend(_grid_problems(failures, axes, size))
    if problems:
        raise InvalidGrid(problems)
    return cells


def _cell_error(error: Mapping[str, Any]) -> tuple[str, str, tuple[Any, ...] | None]:
    """(field path, message, allowed) of one pydantic error of a cell's spec."""
    loc = [str(part) for part in error["loc"]]
    message = str(error["msg"]).removeprefix("Value error, ")
    allowed = None
    if error["type"] == "extra_forbidden":
        message = "unknown field"
        known = None if "method_params" in loc else fields_at(SearchSpec, loc[:-1])
        allowed = tuple(known) if known else None
    return ".".join(loc) or "(spec)", message, allowed


def _grid_problems(
    failures: Mapping[tuple[str, str, tuple[Any, ...] | None], list[tuple[int, dict[str, Any]]]],
    axes: Sequence[str],
    size: int,
) -> list[GridProblem]:
    """One problem per cell that fails; but one problem in all for an error that every cell of a
    grid shares (a typo in an axis or in the base), named after that axis or base field."""
    problems = []
    for (where, message, allowed), failing in failures.items():
        listed = list(allowed) if allowed else None
        shown = f"{message}; allowed: {', '.join(listed)}" if listed else message
        if len(failing) == size > 1:
            owner = "grid" if any(where == a or where.startswith(a + ".") for a in axes) else "base"
            problems.append(GridProblem(f"{owner}.{where}", f"{shown} (in all {size} cells)", listed))
            continue
        for index, values in failing:
            problems.append(
                GridProblem(f"grid[{index}].{where}", f"{shown} (cell {cell_label(values)})", listed)
            )
    return problems


# --- statistics -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    """Over the seeds of one cell: the sample std (n − 1) is None below two values."""

    n: int
    mean: float | None
    std: float | None
    min: float | None
    max: float | None


def summarize(values: Iterable[float | None]) -> Summary:
    present = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not present:
        return Summary(0, None, None, None, None)
    std = statistics.stdev(present) if len(present) > 1 else None
    return Summary(len(present), statistics.fmean(present), std, min(present), max(present))


@dataclass(frozen=True)
class Paired:
    """Paired differences d_i = on_i − off_i over the seeds both cells finished."""

    n: int
    mean: float | None
    std: float | None
    positive: int  # seeds where the first cell (A2M on) is higher: the raw sign
    sign_p: float | None
    t_p: float | None
    #: Seeds where A2M on is *better* by the metric's direction (higher accuracy, lower
    #: eigenvalue or wall time); None for a metric with no better direction.
    better: int | None = None


def sign_test_p(diffs: Sequence[float]) -> float | None:
    """Two-sided sign test: 2·P(Bin(n', ½) ≤ min(k, n' − k)) over the non-zero differences, capped at 1."""
    nonzero = [d for d in diffs if d != 0]
    n = len(nonzero)
    if n == 0:
        return None
    k = sum(d > 0 for d in nonzero)
    tail = sum(math.comb(n, i) for i in range(min(k, n - k) + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_t_p(diffs: Sequence[float]) -> float | None:
    """Two-sided paired t-test: t = mean / (std / √n) with n − 1 degrees of freedom."""
    n = len(diffs)
    if n < 2:
        return None
    mean, std = statistics.fmean(diffs), statistics.stdev(diffs)
    if std == 0:
        return 1.0 if mean == 0 else 0.0
    t = mean / (std / math.sqrt(n))
    return float(2 * stats.t.sf(abs(t), df=n - 1))


def paired(diffs: Sequence[float], direction: Direction | None = None) -> Paired:
    """The statistics of d = on − off; `direction` ("higher"/"lower" is better) sets `better`."""
    positive = sum(d > 0 for d in diffs)
    negative = sum(d < 0 for d in diffs)
    better = {"higher": positive, "lower": negative, None: None}[direction]
    if not diffs:
        return Paired(0, None, None, 0, None, None, better)
    std = statistics.stdev(diffs) if len(diffs) > 1 else None
    mean = statistics.fmean(diffs)
    return Paired(len(diffs), mean, std, positive, sign_test_p(diffs), paired_t_p(diffs), better)


# --- study results --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChildResult:
    """One search of a study as the statistics see it: its axis values (seed included), whether it
    finished, and its metrics (None where not measured)."""

    search_id: str
    values: dict[str, Any]
    seed: int
    succeeded: bool
    metrics: dict[str, float | None]


@dataclass
class CellResult:
    values: dict[str, Any]  # every axis but the seed
    search_ids: list[str] = field(default_factory=list)
    n: int = 0  # searches of the cell that succeeded
    metrics: dict[str, Summary] = field(default_factory=dict)


@dataclass
class PairedResult:
    values: dict[str, Any]  # the axes both cells share (neither seed nor a2m.enabled)
    metrics: dict[str, Paired] = field(default_factory=dict)


def _key(values: Mapping[str, Any], drop: Sequence[str]) -> tuple[tuple[str, str], ...]:
    # repr keeps 1 and True, "1" and 1 apart, which a JSON grid can mix on one axis.
    return tuple((k, repr(v)) for k, v in values.items() if k not in drop)


def cell_results(children: Sequence[ChildResult], metrics: Sequence[str]) -> list[CellResult]:
    """Per grid cell (all axes but the seed), in grid order: each metric summarised over the seeds
    whose search succeeded."""
    cells: dict[tuple[tuple[str, str], ...], CellResult] = {}
    finished: dict[tuple[tuple[str, str], ...], list[ChildResult]] = {}
    for child in children:
        key = _key(child.values, (SEED_AXIS,))
        cell = cells.setdefault(key, CellResult({k: v for k, v in child.values.items() if k != SEED_AXIS}))
        cell.search_ids.append(child.search_id)
        if child.succeeded:
            finished.setdefault(key, []).append(child)
    for key, cell in cells.items():
        done = finished.get(key, [])
        cell.n = len(done)
        cell.metrics = {m: summarize(c.metrics.get(m) for c in done) for m in metrics}
    return list(cells.values())


def paired_results(children: Sequence[ChildResult], metrics: Sequence[str]) -> list[PairedResult]:
    """For each pair of cells that differ only in `a2m.enabled`: per metric, the paired
    differences (on − off) over the seeds where both searches succeeded and the metric exists."""
    groups: dict[tuple[tuple[str, str], ...], dict[bool, dict[int, ChildResult]]] = {}
    shared: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
    present: dict[tuple[tuple[str, str], ...], set[bool]] = {}
    for child in children:
        flag = child.values.get(A2M_AXIS)
        if not isinstance(flag, bool):
            continue
        key = _key(child.values, (SEED_AXIS, A2M_AXIS))
        shared.setdefault(key, {k: v for k, v in child.values.items() if k not in (SEED_AXIS, A2M_AXIS)})
        present.setdefault(key, set()).add(flag)
        sides_of_key = groups.setdefault(key, {True: {}, False: {}})
        if child.succeeded:
            sides_of_key[flag][child.seed] = child
    out = []
    for key, sides in groups.items():
        if present[key] != {True, False}:
            continue
        result = PairedResult(shared[key])
        seeds = sorted(set(sides[True]) & set(sides[False]))
        for metric in metrics:
            diffs = []
            for seed in seeds:
                on, off = sides[True][seed].metrics.get(metric), sides[False][seed].metrics.get(metric)
                if on is not None and off is not None and math.isfinite(on) and math.isfinite(off):
                    diffs.append(on - off)
            result.metrics[metric] = paired(diffs, direction_of(metric))
        out.append(result)
    return out
