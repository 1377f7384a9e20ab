"""Admission of submitted specs: data roots confined to FLATNAS_DATA_ROOT (422 naming dataset.root,
without the server's layout in the answer)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from store.settings import Settings
from tests.api.conftest import Enqueued, Keys
from tests.api.test_landscape import BEST
from tests.unit.test_data import write_fake_cifar10
from tests.unit.test_dataroots import plant_cifar10
from tests.unit.tiny import tiny_body

TINY: dict[str, Any] = tiny_body(name="admission")


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    root = tmp_path / "datasets"
    write_fake_cifar10(root / "cifar")
    return root


@pytest.fixture
def api_settings(pg_url: str, data_root: Path) -> Settings:
    return Settings(
        DATABASE_URL=pg_url,
        BROKER_URL="redis://127.0.0.1:6379/15",
        HEARTBEAT_TIMEOUT_S=60,
        FLATNAS_DATA_ROOT=str(data_root),
    )


def cifar(root: str | None) -> dict[str, Any]:
    return {**TINY, "dataset": {"name": "cifar10", "root": root, "subset": 16}}


def test_a_relative_root_inside_the_data_root_is_accepted(
    client: TestClient, keys: Keys, enqueued: Enqueued
) -> None:
    for root in ("cifar", None):
        response = client.post("/searches", json=cifar(root), headers=keys.submit)
        assert response.status_code == 201, response.text
    assert len(enqueued.calls) == 2


def test_roots_outside_the_data_root_get_422_naming_dataset_root(
    client: TestClient, keys: Keys, enqueued: Enqueued, data_root: Path, tmp_path: Path
) -> None:
    outside, marker = tmp_path / "uploads", tmp_path / "pwned"
    plant_cifar10(outside, marker)
    (data_root / "escape").symlink_to(outside, target_is_directory=True)
    for root in (str(outside), "../uploads", "escape", "cifar/../../uploads"):
        response = client.post("/searches", json=cifar(root), headers=keys.admin)
        assert response.status_code == 422, (root, response.text)
        problem = response.json()
        assert [e["field"] for e in problem["errors"]] == ["dataset.root"], problem
        assert str(data_root) not in response.text  # the answer never shows where the root lives
    assert enqueued.calls == [] and not marker.exists()


def test_without_a_configured_root_file_backed_sets_are_refused(
    client: TestClient, keys: Keys, api_settings: Settings
) -> None:
    api_settings.FLATNAS_DATA_ROOT = None
    response = client.post("/searches", json=cifar(None), headers=keys.submit)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "dataset.name"
    assert "FLATNAS_DATA_ROOT" in response.text
    assert client.post("/searches", json=TINY, headers=keys.submit).status_code == 201


HUGE: dict[str, Any] = {**TINY, "supernet": {"C": 256, "N": 20}, "batch_size": 4096}


def test_an_oversized_supernet_is_refused_with_the_estimate_and_the_limit(
    client: TestClient, keys: Keys, enqueued: Enqueued
) -> None:
    response = client.post("/searches", json=HUGE, headers=keys.submit)
    assert response.status_code == 422, response.text
    problem = response.json()
    messages = {e["field"]: e["message"] for e in problem["errors"]}
    assert "MAX_SUPERNET_PARAMS" in messages["supernet"] and "50,000,000" in messages["supernet"]
    assert "estimated supernet parameters" in messages["supernet"]
    assert any("MAX_STEP_MEMORY_GIB" in e["message"] and "GiB" in e["message"] for e in problem["errors"])
    assert any("MAX_BATCH_SIZE" in e["message"] for e in problem["errors"])
    assert problem["estimate"]["params"] > 1_000_000_000 and problem["estimate"]["step_gib"] > 100
    # Admin keys are held to the limits too, unless the operator allows otherwise.
    assert client.post("/searches", json=HUGE, headers=keys.admin).status_code == 422
    assert enqueued.calls == []


def test_admin_keys_exceed_soft_limits_only_when_allowed(
    client: TestClient, keys: Keys, enqueued: Enqueued, api_settings: Settings
) -> None:
    over = {**TINY, "epochs": 40}
    api_settings.MAX_EPOCHS = 30
    refused = client.post("/searches", json=over, headers=keys.submit)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "epochs"
    assert "40 exceeds this service's limit 30 (MAX_EPOCHS)" in refused.text
    api_settings.LIMITS_ADMIN_OVERRIDE = True
    assert client.post("/searches", json=over, headers=keys.submit).status_code == 422
    assert client.post("/searches", json=over, headers=keys.admin).status_code == 201
    # The spec's own bounds stay hard for everyone.
    assert client.post("/searches", json={**TINY, "epochs": 5000}, headers=keys.admin).status_code == 422


def test_sampling_and_landscape_job_sizes_are_bounded(client: TestClient, keys: Keys) -> None:
    sampling = {
        **TINY,
        "method": "na-rs",
        "a2m": None,
        "method_params": {"num_samples": 2000, "max_neighbours": 24},
    }
    response = client.post("/searches", json=sampling, headers=keys.submit)
    assert (
        response.status_code == 422 and response.json()["errors"][0]["field"] == "method_params.num_samples"
    )
    assert "50,000" in response.text and "MAX_ARCH_EVALUATIONS" in response.text
    # A 12-search matrix at 24 paths is 66 pairs × 24 = 1,584 paths: refused before any lookup.
    matrix = {"search_ids": [f"s{i}" for i in range(12)], "paths": 24}
    response = client.post("/landscape-jobs/barrier-matrix", json=matrix, headers=keys.submit)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "paths" and "MAX_LANDSCAPE_EVALUATIONS" in response.text


def test_every_search_of_a_study_is_admitted_like_a_single_one(
    client: TestClient, keys: Keys, enqueued: Enqueued
) -> None:
    base = {k: v for k, v in TINY.items() if k != "name"}  # a study names its searches itself
    body = {"name": "too big", "base": base, "grid": {"supernet.C": [4, 256], "batch_size": [16, 4096]}}
    response = client.post("/studies", json=body, headers=keys.submit)
    assert response.status_code == 422, response.text
    assert (
        response.json()["detail"].startswith("over this service's limits")
        and "MAX_BATCH_SIZE" in response.text
    )
    escaping = {
        "name": "escape",
        "base": {**base, "dataset": {"name": "cifar10", "root": "../x"}},
        "grid": {"seed": [0, 1]},
    }
    response = client.post("/studies", json=escaping, headers=keys.submit)
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "dataset.root"
    assert enqueued.calls == [] and client.get("/studies", headers=keys.read).json()["items"] == []


LONG_PATHS = [
    ("x" * 256, "at most 255 bytes (UTF-8) a component"),
    ("é" * 128, "at most 255 bytes (UTF-8) a component"),  # 128 characters, 256 bytes
    ("/".join(["é" * 120] * 5), "at most 1024 bytes (UTF-8)"),  # 604 characters, 1,204 bytes
    ("a/" * 600, "at most 1024 characters"),
]


@pytest.mark.parametrize(("root", "message"), LONG_PATHS)
def test_an_over_long_root_is_refused_in_a_search_a_study_grid_and_an_evaluation(
    client: TestClient, keys: Keys, enqueued: Enqueued, root: str, message: str
) -> None:
    search = client.post("/searches", json=cifar(root), headers=keys.submit)
    assert search.status_code == 422, search.text
    assert [(e["field"], message in e["message"]) for e in search.json()["errors"]] == [
        ("dataset.root", True)
    ]
    base = {k: v for k, v in cifar(None).items() if k != "name"}
    study = {"name": "roots", "base": base, "grid": {"dataset.root": ["cifar", root]}}
    response = client.post("/studies", json=study, headers=keys.submit)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["grid[1].dataset.root"]
    assert message in response.json()["errors"][0]["message"]
    evaluation = {"genotype": {"json": BEST}, "dataset": {"name": "cifar10", "root": root}}
    response = client.post("/evaluations", json=evaluation, headers=keys.submit)
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "dataset.root"
    assert enqueued.calls == [] and enqueued.evaluations == []


def test_a_root_at_the_length_limits_is_accepted(client: TestClient, keys: Keys, enqueued: Enqueued) -> None:
    root = "/".join(["a" * 255] * 4)  # 1,023 bytes, each component at the limit
    response = client.post("/searches", json=cifar(root), headers=keys.submit)
    assert response.status_code == 201, response.text
    assert response.json()["spec"]["dataset"]["root"] == root


def test_a_study_evaluating_a_file_backed_set_without_a_data_root_is_refused(
    client: TestClient, keys: Keys, enqueued: Enqueued, api_settings: Settings
) -> None:
    api_settings.FLATNAS_DATA_ROOT = None
    base = {k: v for k, v in TINY.items() if k != "name"}
    evaluate = {"protocol": "nb201", "dataset": {"name": "cifar10"}, "overrides": {"epochs": 1}}
    study = {"name": "ev", "base": base, "grid": {"seed": [0]}, "evaluate": evaluate}
    response = client.post("/studies", json=study, headers=keys.submit)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["evaluate.dataset.name"]
    assert "FLATNAS_DATA_ROOT" in response.text and enqueued.calls == []
