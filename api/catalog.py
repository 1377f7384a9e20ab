"""GET /catalog: what this service can run and measure, in one document read from the registries
(spaces, methods, metrics and the flatness switches, data sets, evaluation protocols, the spec's defaults), so that clients and the dashboard never branch on names.
A space, method or metric registered in nas_core appears here with no change to the API.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from nas_core.datasets import describe_datasets
from nas_core.evaluation.protocol import describe_protocols
from nas_core.flatness.metrics import describe_metrics
from nas_core.methods import describe_methods
from nas_core.spaces import describe_spaces
from nas_core.spec import SearchSpec, describe_flatness_switches


class CatalogSpace(BaseModel):
    name: str
    summary: str
    groups: list[str] = Field(description="α groups = cells drawn, e.g. ['cell'] or ['normal', 'reduce']")
    cell_kind: Literal["edges", "nodes"] = Field(
        description="how a cell is drawn: 'edges' (a DAG of op edges on fixed nodes, nb201-like) or "
        "'nodes' (intermediate nodes with two inputs each, darts-like)"
    )
    edges: int = Field(description="edges per α group")
    cell_edges: list[list[int]] = Field(description="(target, source) node ids in α's row order")
    node_labels: list[str] = Field(description="how to label node ids 0, 1, … in a cell diagram")
    ops_variants: dict[str, list[str]] = Field(description="op sets supernet.ops may pick; 'default' first")
    depth_field: str
    default_depth: int
    a2m_default_rho: float
    tabular_benchmark: str | None = Field(description="benchmark of trained results for the space, or null")
    text_field: str = Field(description="the genotype JSON field holding the space's own text form")


class CatalogMethod(BaseModel):
    name: str
    kind: str = Field(description="gradient (trains α) or sampling (scores sampled architectures)")
    family: str
    summary: str
    supports_a2m: bool
    capturable: bool = Field(description="its step can run as one captured CUDA graph (runtime.cuda_graph)")
    capture_note: str = Field(description="why the step cannot be captured; '' when it can")
    params: dict[str, Any] = Field(description="JSON schema of method_params")


class CatalogMetric(BaseModel):
    name: str
    label: str
    description: str
    unit: str = Field(description="'' for a plain number; 'fraction' for accuracies (0-1); 's', 'nats', …")
    direction: str | None = Field(description="which way is better (flatter): 'lower', 'higher' or null")
    group: str = Field(description="accuracy, flatness, shape or cost")
    phase: str | None = Field(description="epoch or end for records a search writes; null for study-only")
    switch: str | None = Field(description="the spec.flatness flag that switches the record")
    study: bool = Field(description="a column of the study tables")
    short_label: str = Field(description="a few words naming it where room is short (a form's switch)")
    note: str = Field(description="what to know before switching it on (its cost); '' when nothing")
    min_metric_epochs: int = Field(description="metric epochs a search needs before the record appears")
    count: bool = Field(description="its values are small whole counts (a chart's axis starts at zero)")


class CatalogSwitch(BaseModel):
    name: str = Field(description="the spec.flatness flag")
    label: str
    hint: str = Field(description="when it runs, what it costs, what it needs; '' when nothing")
    description: str
    default: bool = Field(description="the spec's value when a body leaves the flag out")
    phase: str | None = Field(description="epoch or end: when the records it switches are computed")
    metrics: list[str] = Field(description="the metrics it turns on, in registry order")


class CatalogDataset(BaseModel):
    name: str
    summary: str
    num_classes: int | None
    image_side: int | None
    images: int | None
    file_backed: bool = Field(description="read from files under the operator's data root")


class CatalogProtocolField(BaseModel):
    name: str
    label: str
    default: int | float | bool | None = Field(description="this protocol's value of the field")
    minimum: int | float | None
    description: str


class CatalogProtocol(BaseModel):
    name: str
    summary: str
    space: str = Field(description="the search space whose genotypes it trains")
    defaults: dict[str, Any] = Field(description="the published settings it changes")
    fields: list[CatalogProtocolField] = Field(description="the fields a form offers, in order")


class Catalog(BaseModel):
    spaces: list[CatalogSpace]
    methods: list[CatalogMethod]
    metrics: list[CatalogMetric]
    datasets: list[CatalogDataset]
    protocols: list[CatalogProtocol]
    flatness_switches: list[CatalogSwitch] = Field(
        description="the spec.flatness flags that switch records, one per flag, as a form offers them"
    )
    spec_defaults: dict[str, Any] = Field(
        description="the spec a body that names nothing gets (SearchSpec's defaults); a null is decided "
        "by the space or data set (supernet.N or layers, a2m.rho, dataset.image_size)"
    )


def catalog() -> Catalog:
    return Catalog.model_validate(
        {
            "spaces": describe_spaces(),
            "methods": describe_methods(),
            "metrics": describe_metrics(),
            "datasets": describe_datasets(),
            "protocols": describe_protocols(),
            "flatness_switches": describe_flatness_switches(),
            "spec_defaults": SearchSpec().model_dump(mode="json"),
        }
    )
