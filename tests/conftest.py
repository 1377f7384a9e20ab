"""Shared fixtures live in tests/fixtures/ (one module per layer), registered here."""

pytest_plugins = [
    "tests.fixtures.database",
    "tests.fixtures.live_service",
    "tests.fixtures.nb201_benchmark",
]
