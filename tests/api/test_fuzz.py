"""Property-based test of the whole API: schemathesis generates requests for every operation of the
OpenAPI document (valid and invalid ones) and sends them, authenticated with an admin key, to the
API process (uvicorn) on PostgreSQL. No response may be a 5xx, and every response must conform to
the document: a declared status, the declared content type, a body matching the declared schema.

Seeded and bounded (EXAMPLES per operation), so a run is repeatable and takes a minute or two.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.fixtures.live_service import LiveService, api_only

pytestmark = pytest.mark.integration

EXAMPLES = 8  # per operation and mode (valid, invalid)
SEED = 20261206  # a new seed each hardening round (20261129 before); both found no failure
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def fuzzed_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    with api_only(tmp_path_factory.mktemp("fuzz")) as service:
        yield service


def test_every_operation_answers_within_its_document(fuzzed_api: LiveService) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzzed_api.base_url}/openapi.json")
    run = Run(fuzzed_api.base_url, {"Authorization": f"Bearer {fuzzed_api.api_key}"})
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            run.fuzz(operation, mode)

    cases = sum(run.statuses.values())
    summary = f"{len(operations)} operations, {cases} cases, statuses {dict(sorted(run.statuses.items()))}"
    print(summary)  # the figures, with -s
    assert len(operations) >= 20 and cases >= len(operations) * EXAMPLES, summary
    assert not run.failures, f"{summary}; {len(run.failures)} failing cases:\n" + "\n".join(run.failures[:20])


@dataclass
class Run:
    base_url: str
    headers: dict[str, str]
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def fuzz(self, operation: Any, mode: GenerationMode) -> None:
        """EXAMPLES seeded cases of `operation`; every failing check is recorded (no shrinking)."""

        @seed(SEED)
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
            database=None,
            phases=[Phase.explicit, Phase.generate],
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def call(case: Any) -> None:
            response = case.call(base_url=self.base_url, headers=self.headers, timeout=30)
            self.statuses[response.status_code] += 1
            try:
                case.validate_response(response, checks=CHECKS)
            except Exception as failure:  # a check failed: keep going, report them all
                self.failures.append(f"{operation.label} ({mode}): {str(failure).strip()[:600]}")

        try:
            call()
        except Unsatisfiable:  # nothing to make invalid (an operation without parameters)
            assert mode is GenerationMode.NEGATIVE, operation.label
