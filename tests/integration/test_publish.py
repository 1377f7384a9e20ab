"""worker.publish pushes the very message Celery's send_task would, on a real Redis: byte for byte
but for its fresh ids, and kombu's consumer (the one a Celery worker uses) reads it back with the
same task, arguments and delivery info, highest spec priority first. That a real worker runs jobs
sent this way is shown by every live-service test (tests/fixtures/live_service.py): the API
enqueues through it."""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest
import redis
from kombu import Queue

from tests.fixtures.live_service import REDIS_URL
from worker.app import TASK_NAME, create_app
from worker.enqueue import broker_priority
from worker.publish import RedisPublisher, queue_key

pytestmark = pytest.mark.integration


def _without_ids(raw: bytes) -> dict[str, Any]:
    message = json.loads(raw)
    for name in ("id", "root_id"):
        message["headers"][name] = "<task id>"
    for name in ("correlation_id", "delivery_tag"):
        message["properties"][name] = "<id>"
    return dict(message)


def test_the_message_is_the_one_send_task_pushes() -> None:
    app = create_app(REDIS_URL)
    queue = f"flatnas_publish_{secrets.token_hex(4)}"
    client = redis.Redis.from_url(REDIS_URL)
    try:
        for priority in (0, 4, 9):
            RedisPublisher(app, queue).send(TASK_NAME, [f"job-{priority}"], priority)
            app.send_task(TASK_NAME, args=[f"job-{priority}"], queue=queue, priority=priority)
            ours, celerys = client.lrange(queue_key(queue, priority), 0, -1)[::-1]
            assert _without_ids(ours) == _without_ids(celerys)
    finally:
        client.delete(*client.keys(f"{queue}*"), *client.keys(f"_kombu.binding*.{queue}"))
        client.close()


def test_kombu_reads_it_back_highest_spec_priority_first() -> None:
    app = create_app(REDIS_URL)
    queue = Queue(f"flatnas_publish_{secrets.token_hex(4)}")
    publisher = RedisPublisher(app, queue.name)
    sent = [3, 9, 0, 5]
    for priority in sent:
        publisher.send(TASK_NAME, [f"job-{priority}"], broker_priority(priority, REDIS_URL))
    received = []
    with app.connection_for_write() as conn:
        simple = conn.SimpleQueue(queue)
        try:
            for _ in sent:
                message = simple.get(timeout=5)
                args, kwargs, embed = message.decode()
                assert message.headers["task"] == TASK_NAME
                assert message.headers["argsrepr"] == repr(args)
                assert (kwargs, embed["callbacks"]) == ({}, None)
                assert message.delivery_info["routing_key"] == queue.name
                assert message.properties["correlation_id"] == message.headers["id"]
                received.append(int(args[0].removeprefix("job-")))
                message.ack()
        finally:
            simple.clear()
            simple.close()
    assert received == sorted(sent, reverse=True)
