"""The metric registry: every number the service records or compares, with which way is better.

Two kinds of entry share one table so that nothing repeats their names or directions:
- flatness records the search loop writes (`phase` "epoch": every spec.flatness.interval epochs
  and at the last; "end": once, of the final genotype), switched by a `spec.flatness` flag;
- study columns (`study=True`): per-search numbers the study tables summarise and compare,
  some read from a flatness record (`from_record`), others from the search itself.

The spec's flatness flags, the search loop (nas_core/search.py, flatness/hooks.py), the study's
paired table (`better` counts seeds by `direction`), GET /catalog and the dashboard all read it.
Torch-free. To add an epoch metric: a function `(ctx, epoch, inputs) -> FlatnessRecord | None`
and one `Metric` (here, or `register_metric` from a plugin; tests/api/test_registries_extend.py
adds a toy one).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Literal

from nas_core.registry import add_entry, registered_while

Direction = Literal["lower", "higher"]
Phase = Literal["epoch", "end"]
Group = Literal["accuracy", "flatness", "shape", "cost"]


@dataclass(frozen=True)
class Metric:
    name: str
    label: str  # a chart title or column header
    description: str
    unit: str  # "" for a pure number; "fraction" (accuracies, 0-1), "s", "nats", "edges", "τ"
    #: Which way is better: for flatness metrics, which way is flatter. None: neither (a profile).
    direction: Direction | None
    group: Group
    #: A flatness record the search loop writes, and when; None for a study-only number.
    phase: Phase | None = None
    #: The spec.flatness flag that switches it; None: always on while flatness metrics run.
    switch: str | None = None
    #: "module:function" computing an epoch metric (imported when a search first needs it: torch).
    compute: str | None = None
    #: A column of the study tables.
    study: bool = False
    #: The flatness record kind a study column is read from (its latest value).
    from_record: str | None = None
    #: Read from this key of that record's params instead of its value (e.g. the eigenvalue's residual).
    record_param: str | None = None
    #: A few words naming the record where room is short (the New-search form's switch); "": the label.
    short_label: str = ""
    #: What a person should know before switching it on (its cost), shown beside its switch.
    note: str = ""
    #: Metric epochs a search needs before the record appears (ranking stability compares two).
    min_metric_epochs: int = 1
    #: Its values are small whole counts, so a chart's axis starts at zero.
    count: bool = False

    def enabled(self, flatness: Any) -> bool:
        """Whether a spec's flatness section switches this record on."""
        return self.switch is None or bool(getattr(flatness, self.switch, False))

    def listing(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "description": self.description,
            "unit": self.unit,
            "direction": self.direction,
            "group": self.group,
            "phase": self.phase,
            "switch": self.switch,
            "study": self.study,
            "short_label": self.short_label or self.label,
            "note": self.note,
            "min_metric_epochs": self.min_metric_epochs,
            "count": self.count,
        }


_HOOKS = "nas_core.flatness.hooks"

METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric(
            "best_val_acc",
            "best val acc",
            "highest per-epoch supernet validation accuracy",
            "fraction",
            "higher",
            "accuracy",
            study=True,
        ),
        Metric(
            "final_val_acc",
            "final val acc",
            "supernet validation accuracy at the last epoch",
            "fraction",
            "higher",
            "accuracy",
            study=True,
        ),
        Metric(
            "eval_test_acc",
            "test acc (evaluated)",
            "held-out test accuracy of the best genotype trained from scratch (the study's evaluate)",
            "fraction",
            "higher",
            "accuracy",
            study=True,
        ),
        Metric(
            "hessian_eigenvalue",
            "Dominant eigenvalue of ∇²α L_val",
            "dominant eigenvalue of the α-Hessian of L_val (spec.flatness.hessian_method: Lanczos's "
            "largest algebraic, or power iteration's largest magnitude); lower is flatter",
            "",
            "lower",
            "flatness",
            phase="epoch",
            switch="hessian_eigenvalue",
            short_label="Hessian eigenvalue",
            compute=f"{_HOOKS}:hessian_eigenvalue_record",
            study=True,
            from_record="hessian_eigenvalue",
        ),
        Metric(
            "hessian_residual",
            "Residual of the eigenvalue",
            "relative residual ‖Hv − λv‖/|λ| of the Hessian eigenvalue at its last measurement; "
            "above 0.1 the eigenvalue has not converged",
            "",
            "lower",
            "flatness",
            study=True,
            from_record="hessian_eigenvalue",
            record_param="residual",
        ),
        Metric(
            "a2m_sharpness",
            "A2M sharpness L(α+ρĝ) − L(α)",
            "A2M sharpness L(α+ρ·g/‖g‖) − L(α); lower is flatter",
            "",
            "lower",
            "flatness",
            phase="epoch",
            switch="a2m_sharpness",
            short_label="A2M sharpness",
            compute=f"{_HOOKS}:a2m_sharpness_record",
            study=True,
            from_record="a2m_sharpness",
        ),
        Metric(
            "skip_count",
            "skip_connect count",
            "skip_connect edges of the derived genotype's normal cell (nb201: its one cell); "
            "many skips are the DARTS failure mode",
            "edges",
            "lower",
            "shape",
            phase="epoch",
            switch="skip_count",
            compute=f"{_HOOKS}:skip_count_record",
            count=True,
        ),
        Metric(
            "alpha_entropy",
            "α entropy (mean over edges)",
            "mean per-edge entropy of the op distribution; lower is a more decided α",
            "nats",
            None,
            "shape",
            phase="epoch",
            switch="alpha_entropy",
            short_label="α entropy",
            compute=f"{_HOOKS}:alpha_entropy_record",
        ),
        Metric(
            "ranking_stability",
            "Ranking stability (Kendall τ vs previous)",
            "Kendall τ_b between the supernet's rankings of a fixed architecture sample at "
            "consecutive metric epochs; higher is more stable",
            "τ",
            "higher",
            "flatness",
            phase="epoch",
            switch="ranking_stability",
            short_label="Ranking stability",
            compute=f"{_HOOKS}:ranking_stability_epoch_record",
            min_metric_epochs=2,
        ),
        Metric(
            "neighbourhood",
            "Neighbourhood profile",
            "end of search: shared-weight loss and accuracy of the final genotype's neighbours at "
            "radius 1 and 2",
            "",
            None,
            "flatness",
            phase="end",
            switch="neighbourhood",
            short_label="Neighbourhood",
            note="hundreds of forward passes: slow on a CPU",
        ),
        Metric(
            "neighbourhood_acc_mean",
            "neighbour acc (r=1)",
            "mean shared-weight accuracy of the best genotype's radius-1 neighbours; higher is flatter",
            "fraction",
            "higher",
            "flatness",
            study=True,
            from_record="neighbourhood",
        ),
        Metric(
            "cell_shape",
            "Cell width / depth",
            "end of search: width and depth of each cell of the final genotype",
            "",
            None,
            "shape",
            phase="end",
            switch="cell_shape",
        ),
        Metric(
            "wall_seconds",
            "wall time",
            "search wall time, start to finish",
            "s",
            "lower",
            "cost",
            study=True,
        ),
    )
}

GROUND_TRUTH_PREFIX = "gt_"


def ground_truth_name(dataset: str) -> str:
    """The study column of a benchmark data set's ground truth ("gt_imagenet16_120_test_acc")."""
    return f"{GROUND_TRUTH_PREFIX}{dataset.lower().replace('-', '_')}_test_acc"


def metric(name: str) -> Metric | None:
    """The registered metric, or a ground-truth column's (one per benchmark data set)."""
    found = METRICS.get(name)
    if found is None and name.startswith(GROUND_TRUTH_PREFIX) and name.endswith("_test_acc"):
        dataset = name[len(GROUND_TRUTH_PREFIX) : -len("_test_acc")]
        description = (
            f"NAS-Bench-201 200-epoch test accuracy of the best genotype ({dataset}), mean over its seeds"
        )
        return Metric(
            name, f"ground truth ({dataset})", description, "fraction", "higher", "accuracy", study=True
        )
    return found


def direction_of(name: str) -> Direction | None:
    found = metric(name)
    return found.direction if found is not None else None


def record_metrics(phase: Phase) -> list[Metric]:
    """The flatness records of one phase, in the order the loop computes them."""
    return [m for m in METRICS.values() if m.phase == phase]


def study_metrics() -> list[Metric]:
    return [m for m in METRICS.values() if m.study]


def any_record_enabled(flatness: Any) -> bool:
    return any(m.enabled(flatness) for m in METRICS.values() if m.phase is not None)


def describe_metrics() -> list[dict[str, Any]]:
    return [m.listing() for m in METRICS.values()]


def register_metric(entry: Metric) -> None:
    """Add a metric (a plugin's, a test's); its name must be new."""
    if entry.phase == "epoch" and entry.compute is None:
        raise ValueError(f"metric: epoch metric {entry.name!r} needs compute ('module:function')")
    # Imported here: nas_core/spec.py reads this registry when it is imported.
    from nas_core.spec import FlatnessConfig

    flag = FlatnessConfig.model_fields.get(entry.switch) if entry.switch is not None else None
    if entry.switch is not None and (flag is None or flag.annotation is not bool):
        raise ValueError(
            f"metric: {entry.name!r} is switched by flatness.{entry.switch}, not a flag of the spec "
            "(a new switch is a field of FlatnessConfig in nas_core/spec.py)"
        )
    add_entry(METRICS, "metric", entry.name, entry)


def unregister_metric(name: str) -> None:
    METRICS.pop(name, None)


def registered_metric(entry: Metric) -> AbstractContextManager[Metric]:
    """The metric registered for the duration of a `with` block (tests)."""
    return registered_while(register_metric, unregister_metric, entry, entry.name)
