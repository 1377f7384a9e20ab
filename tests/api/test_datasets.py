"""GET /datasets: what the service can run, from its data root (the dashboard's form defaults)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from nas_core.datasets import CIFAR10_FILES
from tests.api.conftest import Keys


def _by_name(client: TestClient, keys: Keys) -> dict[str, dict]:
    resp = client.get("/datasets", headers=keys.read)
    assert resp.status_code == 200, resp.text
    items = resp.json()["items"]
    assert [i["name"] for i in items][:2] == ["digits", "synthetic"]  # runnable everywhere: first
    return {i["name"]: i for i in items}


def test_without_a_data_root_only_generated_sets_can_run(client: TestClient, keys: Keys) -> None:
    assert client.get("/datasets").status_code == 401
    found = _by_name(client, keys)
    assert set(found) == {"digits", "synthetic", "cifar10", "cifar100", "imagenet16-120"}
    assert {n for n, i in found.items() if i["available"]} == {"digits", "synthetic"}
    assert found["cifar10"]["source"] == "files" and "FLATNAS_DATA_ROOT" in found["cifar10"]["reason"]


def test_a_file_set_is_available_once_its_files_are_under_the_data_root(
    client: TestClient, keys: Keys, tmp_path: Path
) -> None:
    settings = client.app.state.settings  # type: ignore[attr-defined]
    settings.FLATNAS_DATA_ROOT = str(tmp_path)
    for relative in CIFAR10_FILES[:-1]:  # an incomplete copy does not count
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_bytes(b"")
    found = _by_name(client, keys)
    assert not found["cifar10"]["available"] and "not under the data root" in found["cifar10"]["reason"]
    (tmp_path / CIFAR10_FILES[-1]).write_bytes(b"")
    found = _by_name(client, keys)
    assert found["cifar10"]["available"] and not found["cifar100"]["available"]
    assert str(tmp_path) not in str(found)  # never the root's location
