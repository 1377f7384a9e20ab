"""Task messages pushed straight onto the Redis queue: what `celery_app.send_task` sends, in one LPUSH.

Celery's own publish builds a Redis client, a kombu Message and a retry policy for every message:
about 0.7 ms of CPU per job in the API process, five times the LPUSH itself, and the API's thread
pool shares one GIL with the event loop. Here Celery still builds the task message (protocol 2:
headers, properties, the `[args, kwargs, embed]` body, with `create_task_message`), and this module
only wraps it in kombu's Redis envelope and pushes it with one long-lived client, the way kombu's
Redis channel does for the default (anonymous) exchange that Celery publishes direct queues on:

- the body is serialized as JSON and base64-encoded (`body_encoding`);
- `delivery_info` names exchange "" and the queue as routing key (redelivery uses them too);
- the list is `QUEUE` for broker priority 0 and `QUEUE:N` for N (the `sep` and `priority_steps`
  of worker.app's transport options), which the worker pops in that order.

Because this envelope is kombu's private format, pyproject.toml pins celery and kombu to the exact
versions it was written against. tests/integration/test_publish.py checks that the message is the
one send_task pushes and that kombu's consumer reads it back; the live-service tests run jobs sent this way on a real worker.
Other brokers (the embedded SQLAlchemy one, TLS Redis) keep `send_task`.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from typing import Any

import redis
from celery import Celery

# Plain redis:// only: TLS brokers (rediss://) take their certificate options from Celery's
# broker_use_ssl, which a client made from the URL would not see; they keep send_task.
REDIS_SCHEMES = ("redis://",)
PRIORITY_SEPARATOR = ":"  # worker.app._transport_options: "sep"


def queue_key(queue: str, broker_priority: int) -> str:
    """The Redis list kombu keeps messages of this broker priority in (priority 0 pops first)."""
    return f"{queue}{PRIORITY_SEPARATOR}{broker_priority}" if broker_priority else queue


class RedisPublisher:
    """Publishes Celery tasks to one queue on a Redis broker; thread-safe (redis-py's pool is)."""

    def __init__(self, app: Celery, queue: str) -> None:
        self.app = app
        self.queue = queue
        self._client: redis.Redis | None = None
        self._lock = threading.Lock()

    @property
    def client(self) -> redis.Redis:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    timeout = self.app.conf.broker_connection_timeout
                    self._client = redis.Redis.from_url(
                        self.app.conf.broker_url, socket_connect_timeout=timeout, socket_timeout=timeout
                    )
        return self._client

    def message(self, task_name: str, args: list[Any], broker_priority: int) -> dict[str, Any]:
        """The envelope kombu's Redis channel would store for `send_task(task_name, args)`."""
        task_id = str(uuid.uuid4())
        # The options send_task passes for a plain call (the task's own settings then decide).
        headers, properties, body, _ = self.app.amqp.create_task_message(
            task_id, task_name, args, {}, reply_to=self.app.thread_oid, ignore_result=None
        )
        encoded = base64.b64encode(json.dumps(body).encode()).decode()
        properties = {
            **properties,
            "delivery_mode": 2,  # persistent, as Celery's default
            "delivery_info": {"exchange": "", "routing_key": self.queue},
            "priority": broker_priority,
            "body_encoding": "base64",
            "delivery_tag": str(uuid.uuid4()),
        }
        return {
            "body": encoded,
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": headers,
            "properties": properties,
        }

    def send(self, task_name: str, args: list[Any], broker_priority: int) -> None:
        message = self.message(task_name, args, broker_priority)
        self.client.lpush(queue_key(self.queue, broker_priority), json.dumps(message))
