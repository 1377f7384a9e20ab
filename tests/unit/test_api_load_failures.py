"""benchmarks/api_load.py records what each failed request was: an unexpected status with the
start of its body, or the transport's exception with its cause, so that one failure in thousands
can be diagnosed after the run. Driven against a small ASGI app through httpx's real client."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import httpx

REPO = Path(__file__).resolve().parents[2]


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("api_load", REPO / "benchmarks" / "api_load.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["api_load"] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


class Flaky(httpx.AsyncBaseTransport):
    """Every 5th request is a 503 problem, every 7th loses its connection; the rest are 201."""

    def __init__(self) -> None:
        self.count = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.count += 1
        if self.count % 7 == 0:
            try:
                raise ConnectionResetError(104, "Connection reset by peer")
            except ConnectionResetError as err:
                raise httpx.RemoteProtocolError("Server disconnected without sending a response.") from err
        if self.count % 5 == 0:
            return httpx.Response(503, json={"title": "Service Unavailable", "detail": "broker refused"})
        return httpx.Response(201, json={"id": "x"})


def test_every_failure_is_recorded_with_its_status_or_exception() -> None:
    api_load = load_script()

    async def run() -> object:
        async with httpx.AsyncClient(transport=Flaky(), base_url="http://test") as client:
            return await api_load.load(
                "POST /searches",
                lambda c: c.post("/searches", json={}),
                client,
                concurrency=4,
                max_requests=70,
                max_seconds=60,
                expected=201,
            )

    result = asyncio.run(run())
    assert result.errors == 10 + 14 - 2  # multiples of 7 (10) and of 5 (14), 35 and 70 counted once
    assert sum(result.failures.values()) == result.errors
    assert len(result.latencies) == 70 - result.errors
    reset = (
        "RemoteProtocolError: Server disconnected without sending a response. "
        "(from ConnectionResetError: [Errno 104] Connection reset by peer)"
    )
    assert result.failures[reset] == 10
    (status,) = [text for text in result.failures if text.startswith("HTTP 503")]
    assert "broker refused" in status and result.failures[status] == 12
    lines = api_load.failure_lines([result])
    assert lines[0].startswith("  failed 12x  POST /searches: HTTP 503")
