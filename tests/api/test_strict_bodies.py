"""Submitted bodies are validated strictly: no coercion of strings, booleans or whole floats into
integers, finite numbers only, and an upper bound on every count; each refusal names the field."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import Enqueued, Keys
from tests.api.test_bad_input import JSON, _only_error
from tests.api.test_searches import TINY


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'"priority": "9"', "priority"),
        (b'"priority": true', "priority"),
        (b'"epochs": true', "epochs"),
        (b'"batch_size": 1e3', "batch_size"),
        (b'"optim": {"grad_clip": Infinity}', "optim.grad_clip"),
        (b'"optim": {"grad_clip": 1e309}', "optim.grad_clip"),
        (b'"optim": {"w_lr": NaN}', "optim.w_lr"),
        (b'"flatness": {"interval": 100000}', "flatness.interval"),
    ],
)
def test_submit_refuses_coercion_and_non_finite_numbers(
    client: TestClient, keys: Keys, enqueued: Enqueued, raw: bytes, field: str
) -> None:
    resp = client.post("/searches", content=b"{" + raw + b"}", headers={**keys.submit, **JSON})
    assert _only_error(resp)["field"] == field
    assert enqueued.calls == []


def test_landscape_bodies_are_strict(client: TestClient, keys: Keys) -> None:
    search_id = client.post("/searches", json=TINY, headers=keys.submit).json()["id"]
    path = "/landscape-jobs/neighbourhood"
    for body, field in (
        ({"radius": [True]}, "radius"),
        ({"samples": "5"}, "samples"),
        ({"epoch": 1.0}, "epoch"),
        ({"search_id": 5}, "search_id"),
    ):
        resp = client.post(path, json={"search_id": search_id, **body}, headers=keys.submit)
        assert _only_error(resp)["field"].startswith(field)
