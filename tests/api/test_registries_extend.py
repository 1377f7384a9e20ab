"""The registries decide: a space, a method and a metric registered in the test process (through
the public register functions, nothing else changed) are searched, admitted and catalogued.

tests/toy_registry.py holds the three; docs/architecture.md's "how to add" sections point here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.admission import search_limit_errors
from nas_core.flatness.metrics import METRICS, registered_metric
from nas_core.methods import METHODS, registered_method
from nas_core.reporter import NullReporter
from nas_core.search import run_search
from nas_core.spaces import SPACES, registered_space
from nas_core.spec import SearchSpec
from store.settings import Settings
from tests.api.conftest import Enqueued, Keys
from tests.toy_registry import TOY_METHOD, TOY_METRIC, TOY_SPACE, ToyDefinition, toy_method, toy_metric
from tests.unit.tiny import FLATNESS_OFF, tiny_body

TOY = tiny_body(
    name="toy",
    space=TOY_SPACE,
    method=TOY_METHOD,
    method_params={"temperature": 3.0},
    dataset={"name": "synthetic", "subset": 64, "image_size": 8, "num_classes": 4},
    flatness={**FLATNESS_OFF, "interval": 1, "alpha_entropy": True},  # the toy metric's switch
)


@pytest.fixture
def toys() -> Iterator[None]:
    with registered_space(ToyDefinition()), registered_method(toy_method()), registered_metric(toy_metric()):
        yield
    assert TOY_SPACE not in SPACES and TOY_METHOD not in METHODS and TOY_METRIC not in METRICS


def test_a_search_runs_through_a_registered_space_method_and_metric(toys: None, tmp_path: Path) -> None:
    spec = SearchSpec.model_validate(TOY)
    assert spec.a2m_enabled and spec.a2m_rho == 5e-2  # the toy space's own default radius
    result = run_search(spec, NullReporter(), workdir=tmp_path)
    assert [r.epoch for r in result.epochs] == [0, 1]
    assert result.final_genotype["space"] == TOY_SPACE
    toy_records = [r for r in result.flatness if r.kind == TOY_METRIC]
    assert [r.epoch for r in toy_records] == [0, 1] and all(r.value > 0 for r in toy_records)
    # Switching the built-in metrics on computes them beside the toy one, in registry order.
    spec = SearchSpec.model_validate(
        {**TOY, "epochs": 1, "flatness": {**TOY["flatness"], "skip_count": True}}
    )
    kinds = [r.kind for r in run_search(spec, NullReporter(), workdir=tmp_path / "2").flatness]
    assert kinds == ["skip_count", "alpha_entropy", TOY_METRIC]
    # Its flag off, the toy metric is not computed either.
    spec = SearchSpec.model_validate(
        {**TOY, "epochs": 1, "flatness": {**TOY["flatness"], "alpha_entropy": False, "skip_count": True}}
    )
    kinds = [r.kind for r in run_search(spec, NullReporter(), workdir=tmp_path / "3").flatness]
    assert kinds == ["skip_count"]


def test_admission_uses_the_toy_spaces_own_estimate(
    toys: None, client: TestClient, keys: Keys, api_settings: Settings, enqueued: Enqueued
) -> None:
    spec = SearchSpec.model_validate(TOY)
    errors, estimate = search_limit_errors(spec, api_settings)
    assert errors == [] and estimate["params"] == 1000 * 4 * 1
    created = client.post("/searches", json=TOY, headers=keys.submit)
    assert created.status_code == 201, created.text
    assert created.json()["spec"]["space"] == TOY_SPACE
    api_settings.MAX_SUPERNET_PARAMS = 3999  # just under the toy's own estimate
    refused = client.post("/searches", json={**TOY, "name": "over"}, headers=keys.submit)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "supernet"
    assert "4,000 exceeds" in refused.text


def test_the_catalog_lists_the_toys(toys: None, client: TestClient, keys: Keys) -> None:
    body = client.get("/catalog", headers=keys.read).json()
    space = next(s for s in body["spaces"] if s["name"] == TOY_SPACE)
    assert space["node_labels"] == ["in", "a", "b", "out"] and space["tabular_benchmark"] is None
    # The toy declares its cell kind, so the dashboard draws it with the edge layout by that alone.
    assert space["cell_kind"] == "edges" == ToyDefinition.__dict__["cell_kind"]
    method = next(m for m in body["methods"] if m["name"] == TOY_METHOD)
    assert method["family"] == "toy" and method["supports_a2m"]
    assert "temperature" in method["params"]["properties"]
    metric = next(m for m in body["metrics"] if m["name"] == TOY_METRIC)
    assert metric["direction"] == "lower" and metric["phase"] == "epoch"
    assert metric["switch"] == "alpha_entropy" and metric["short_label"] == "‖α‖"
    # The New-search form's switches: still one per spec.flatness flag, the toy's listed under the
    # flag it shares, and the form's hint for that switch names it.
    switches = {s["name"]: s for s in body["flatness_switches"]}
    assert set(switches) == {m["switch"] for m in body["metrics"] if m["switch"]}
    shared = switches["alpha_entropy"]
    assert shared["metrics"] == ["alpha_entropy", TOY_METRIC] and shared["label"] == "α entropy"
    assert shared["hint"] == "also turns on ‖α‖" and shared["default"] is True
    # The toy space's ops, which the cell diagrams colour by their place in this list.
    assert space["ops_variants"] == {"default": list(ToyDefinition().default_ops)}
    assert "none" in space["ops_variants"]["default"]


def test_unregistered_names_are_refused_with_the_allowed_values(client: TestClient, keys: Keys) -> None:
    response = client.post("/searches", json=TOY, headers=keys.submit)
    assert response.status_code == 422
    fields = {e["field"]: e for e in response.json()["errors"]}
    assert TOY_SPACE not in fields["space"]["allowed"] and "nb201" in fields["space"]["allowed"]
    assert "darts" in fields["method"]["allowed"]
