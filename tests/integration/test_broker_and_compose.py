"""The broker conventions the worker relies on, and the docker-compose file's promises.

Priority: the spec says 9 runs first; Redis pops its lowest-numbered list first; worker.enqueue maps
one onto the other, checked here against a real Redis with the app's own transport options.
docker-compose.yml's commands are run for real by tests/fixtures/live_service.py; here its
structure is checked (no Docker engine on this machine).
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
import yaml
from kombu import Queue

from tests.fixtures.live_service import REDIS_URL
from worker.app import create_app
from worker.enqueue import broker_priority

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


def test_priority_mapping_per_broker() -> None:
    assert [broker_priority(p, "redis://h:6379/0") for p in (0, 5, 9)] == [9, 4, 0]
    assert [broker_priority(p, "amqp://h//") for p in (0, 5, 9)] == [0, 5, 9]
    with pytest.raises(ValueError, match="priority=10"):
        broker_priority(10, "redis://h:6379/0")


@pytest.mark.integration
def test_redis_serves_the_highest_spec_priority_first() -> None:
    app = create_app(REDIS_URL)
    queue = Queue(f"flatnas_prio_{secrets.token_hex(4)}")
    sent = [3, 9, 0, 5, 9, 1]
    received: list[int] = []
    with app.connection_for_write() as conn:
        producer = conn.Producer()
        for order, priority in enumerate(sent):
            producer.publish(
                {"priority": priority, "order": order},
                routing_key=queue.name,
                declare=[queue],
                priority=broker_priority(priority, REDIS_URL),
            )
        simple = conn.SimpleQueue(queue)
        try:
            for _ in sent:
                message = simple.get(timeout=5)
                received.append(message.payload["priority"])
                message.ack()
        finally:
            simple.clear()
            simple.close()
    assert received == sorted(sent, reverse=True)


def _target(volume: str) -> tuple[str, bool]:
    """(container path, read-only) of a short-syntax volume; the source may hold ${VAR:?message}."""
    read_only = volume.endswith(":ro")
    volume = volume.removesuffix(":ro").removesuffix(":rw")
    return volume.rsplit(":", 1)[1], read_only


def _compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def test_compose_runs_the_whole_stack_with_a_gpu_worker() -> None:
    services = _compose()["services"]
    assert set(services) == {"postgres", "redis", "migrate", "api", "worker"}
    for name in ("postgres", "redis", "api", "worker"):
        assert "healthcheck" in services[name], name

    worker = services["worker"]
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    command = worker["command"]
    for option, value in (("-Q", "gpu"), ("--concurrency", "1"), ("--pool", "solo")):
        assert command[command.index(option) + 1] == value
    env = worker["environment"]
    mounts = dict(_target(v) for v in worker["volumes"])
    assert mounts[env["FLATNAS_DATA_ROOT"]] is True  # CIFAR, read-only
    assert mounts[env["DATA_DIR"]] is False  # checkpoints persist across restarts
    # The worker hands its search back and exits before compose kills it.
    assert float(worker["stop_grace_period"].removesuffix("s")) > float(env["WORKER_STOP_GRACE_S"])
    assert env["BROKER_URL"].startswith("redis://") and env["DATABASE_URL"].startswith(
        "postgresql+psycopg://"
    )

    # Nothing serves before the schema exists; the migration waits for a healthy database.
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("api", "worker"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["redis"]["condition"] == "service_healthy"
    assert services["migrate"]["restart"] == "no"
