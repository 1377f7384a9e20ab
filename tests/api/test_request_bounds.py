"""Every string and number a request may carry is bounded in the OpenAPI document, so a client
(or a fuzzer) learns the limits and the service never stores an unbounded value.

The walk covers each operation's request body and its path, query and header parameters,
recursively through $ref, anyOf/allOf/oneOf, items, additionalProperties and property names.
A string needs maxLength (or enum/const, which bound it too); an integer or number needs both a
lower and an upper bound. A free-form object (`additionalProperties: true`, or a value of any type)
is allowed only where the server validates it with a model listed in FREE_FORM, and that model's
schema is walked the same way: a new free-form field fails here until it is declared.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel, ValidationError

from api.app import create_app
from api.studies import StudyCreate
from flatnas.cli import build_parser
from nas_core.evaluation.protocol import EvalSpec
from nas_core.methods import METHODS
from nas_core.spec import SearchSpec
from store.models import MAX_KEY_NAME
from store.settings import Settings
from tests.api.conftest import Keys

Schema = dict[str, Any]

# Where a request carries a free-form value, the models the server validates it with.
FREE_FORM: dict[str, tuple[type[BaseModel], ...]] = {
    "SearchSpec.method_params": tuple(info.params_model for info in METHODS.values()),
    "EvaluationSettings.overrides": (EvalSpec,),
    "EvaluationCreate.overrides": (EvalSpec,),
    "StudyCreate.base": (SearchSpec,),
    "StudyCreate.grid{}[]": (SearchSpec,),  # each value lands in a child spec, validated whole
}
# Genotype documents are read by nas_core.genotype.genotype_from_json, which bounds their op names
# and accepts only a space's edges; they are held to MAX_BODY_BYTES as a whole.
GENOTYPE_DOCUMENTS = {"ArchRef.genotype", "GenotypeSource.json"}


def _is_free(node: Schema) -> bool:
    if node.get("additionalProperties") is True:
        return True
    structural = ("type", "$ref", "anyOf", "allOf", "oneOf", "enum", "const", "properties", "items")
    return not any(k in node for k in structural)


def unbounded(
    node: Any, where: str, defs: dict[str, Schema], seen: frozenset[str] = frozenset()
) -> Iterator[str]:
    """Every place under `node` that is an unbounded string or number, or an undeclared free form."""
    if not isinstance(node, dict):
        return
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        if name not in seen:
            yield from unbounded(defs[name], name, defs, seen | {name})
        return
    if _is_free(node):
        if where in GENOTYPE_DOCUMENTS:
            return
        if where not in FREE_FORM:
            yield f"{where}: free-form value validated by no declared model"
            return
        for model in FREE_FORM[where]:
            schema = model.model_json_schema()
            yield from unbounded(schema, model.__name__, schema.get("$defs", {}), seen | {model.__name__})
        return
    kind = node.get("type")
    if "enum" in node or "const" in node:
        return
    if kind == "string" and "maxLength" not in node:
        yield f"{where}: string without maxLength"
    if kind in ("integer", "number"):
        low = "minimum" in node or "exclusiveMinimum" in node
        high = "maximum" in node or "exclusiveMaximum" in node
        if not (low and high):
            yield f"{where}: {kind} without {'a lower' if not low else 'an upper'} bound"
    for key in ("anyOf", "allOf", "oneOf"):
        for option in node.get(key, []):
            yield from unbounded(option, where, defs, seen)
    if "items" in node:
        yield from unbounded(node["items"], f"{where}[]", defs, seen)
    if isinstance(node.get("additionalProperties"), dict):
        # A mapping: its keys are strings too, bounded by propertyNames.
        keys = node.get("propertyNames", {})
        if "maxLength" not in keys and "enum" not in keys:
            yield f"{where}{{}}: key without maxLength"
        yield from unbounded(node["additionalProperties"], f"{where}{{}}", defs, seen)
    for name, child in node.get("properties", {}).items():
        yield from unbounded(child, f"{where}.{name}", defs, seen)


@pytest.fixture(scope="module")
def openapi() -> Schema:
    # The document only: no database is opened to build it.
    return create_app(Settings(DATABASE_URL="postgresql+psycopg://unused@127.0.0.1/unused")).openapi()


def request_problems(openapi: Schema) -> list[str]:
    defs = openapi["components"]["schemas"]
    problems: list[str] = []
    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            for media, content in operation.get("requestBody", {}).get("content", {}).items():
                problems += unbounded(content["schema"], f"{where} body ({media})", defs)
            for parameter in operation.get("parameters", []):
                name = f"{where} {parameter['in']} {parameter['name']}"
                problems += unbounded(parameter["schema"], name, defs)
    return sorted(set(problems))


def test_every_request_string_and_number_is_bounded(openapi: Schema) -> None:
    problems = request_problems(openapi)
    assert problems == [], "unbounded request fields:\n" + "\n".join(problems)


def test_the_walk_sees_request_bodies_and_parameters(openapi: Schema) -> None:
    # A walk that reached nothing would pass vacuously: these fields must be found and bounded.
    defs = openapi["components"]["schemas"]
    root = defs["DatasetConfig"]["properties"]["root"]["anyOf"][0]
    assert root["maxLength"] == 1024
    bodies = [
        (path, method)
        for path, operations in openapi["paths"].items()
        for method, operation in operations.items()
        if "requestBody" in operation
    ]
    assert ("/searches", "post") in bodies and ("/studies", "post") in bodies
    assert ("/evaluations", "post") in bodies
    search_id = next(
        p for p in openapi["paths"]["/searches/{search_id}"]["get"]["parameters"] if p["name"] == "search_id"
    )
    assert "maxLength" in search_id["schema"]


def test_the_walk_fails_on_unbounded_fields() -> None:
    defs = {
        "Body": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "count": {"type": "integer", "minimum": 0},
                "ratio": {"anyOf": [{"type": "number", "maximum": 1}, {"type": "null"}]},
                "tags": {"type": "array", "items": {"type": "string", "maxLength": 5}},
                "extra": {"type": "object", "additionalProperties": True},
                "by_key": {"type": "object", "additionalProperties": {"type": "string"}},
                "named": {
                    "type": "object",
                    "propertyNames": {"maxLength": 9},
                    "additionalProperties": {"type": "boolean"},
                },
            },
        }
    }
    assert sorted(unbounded({"$ref": "#/components/schemas/Body"}, "x", defs)) == [
        "Body.by_key{}: key without maxLength",
        "Body.by_key{}: string without maxLength",
        "Body.count: integer without an upper bound",
        "Body.extra: free-form value validated by no declared model",
        "Body.name: string without maxLength",
        "Body.ratio: number without a lower bound",
    ]


def test_keys_are_bounded_too(client: TestClient, keys: Keys, capsys: pytest.CaptureFixture[str]) -> None:
    # A credential far longer than any token is refused before it is hashed or looked up.
    token = keys.read["Authorization"].removeprefix("Bearer ")
    for header in (f"Bearer {token}{'x' * 10_000}", f"Bearer {token[:12]}{'y' * 200}"):
        response = client.get("/searches", headers={"Authorization": header})
        assert response.status_code == 401, response.text
    assert client.get("/searches", headers=keys.read).status_code == 200
    # A key's name fits its column: `flatnas server keys create` says so instead of a database error.
    with pytest.raises(SystemExit):
        build_parser().parse_args(["server", "keys", "create", "n" * (MAX_KEY_NAME + 1)])
    assert "1 to 100 characters" in capsys.readouterr().err
    assert (
        build_parser().parse_args(["server", "keys", "create", "n" * MAX_KEY_NAME]).name == "n" * MAX_KEY_NAME
    )


def test_a_study_base_value_that_an_axis_replaces_is_bounded_all_the_same() -> None:
    # No child ever validates it (the grid sets dataset.root), but the request is stored whole.
    body = {"name": "s", "base": {"dataset": {"root": "y" * 2000}}, "grid": {"dataset.root": ["ok"]}}
    with pytest.raises(
        ValidationError, match=r"base\.dataset\.root has 2000 characters; a spec takes at most"
    ):
        StudyCreate.model_validate(body)
    body["base"] = {"dataset": {"root": "y" * 200}}
    assert StudyCreate.model_validate(body).base == body["base"]
