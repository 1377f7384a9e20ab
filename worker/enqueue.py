"""Put a job on the queue. The API calls this after its transaction commits, passing only the id.

It sends the task by name, so the API process never imports the worker's task modules (nor torch).
Every job kind goes through `enqueue_task`; the named helpers below are what the API's job kinds
(api/jobs.py) and the reaper call, one per task. On Redis the message is pushed by
worker.publish (one LPUSH, a fraction of send_task's CPU); other brokers get `send_task`.
"""

from __future__ import annotations

from worker.app import EVALUATION_TASK_NAME, LANDSCAPE_TASK_NAME, QUEUE, TASK_NAME, celery_app
from worker.publish import REDIS_SCHEMES, RedisPublisher

MAX_PRIORITY = 9


def broker_priority(priority: int, broker_url: str) -> int:
    """Map the spec's priority (0..9, 9 runs first) onto the broker's own convention.

    Redis pops its lowest-numbered priority list first; AMQP brokers serve the highest number
    first; the SQLAlchemy transport ignores priority (first in, first out).
    """
    if not 0 <= priority <= MAX_PRIORITY:
        raise ValueError(f"priority={priority!r}: allowed are integers 0..{MAX_PRIORITY} (9 runs first)")
    if broker_url.startswith(("redis://", "rediss://")):
        return MAX_PRIORITY - priority
    return priority


def waiting_messages() -> int:
    """Messages waiting in the broker's queue (every priority), not counting those a worker holds."""
    from kombu.exceptions import ChannelError

    with celery_app.connection_for_write() as connection:
        try:
            return int(connection.default_channel.queue_declare(queue=QUEUE, passive=True).message_count)
        except ChannelError:  # Redis drops an empty queue's keys: no queue means no message
            return 0


_redis = RedisPublisher(celery_app, QUEUE) if celery_app.conf.broker_url.startswith(REDIS_SCHEMES) else None


def enqueue_task(task_name: str, job_id: str, priority: int = 5) -> None:
    """Queue `task_name(job_id)` on the job queue; the worker re-reads everything else from the database."""
    pri = broker_priority(priority, celery_app.conf.broker_url)
    if _redis is not None:
        _redis.send(task_name, [str(job_id)], pri)
        return
    celery_app.send_task(task_name, args=[str(job_id)], queue=QUEUE, priority=pri)


def enqueue_search(search_id: str, priority: int = 5) -> None:
    """Queue `flatnas.run_search(search_id)`."""
    enqueue_task(TASK_NAME, search_id, priority)


def enqueue_landscape_job(job_id: str, priority: int = 5) -> None:
    """Queue `flatnas.run_landscape_job(job_id)`: a landscape job (barrier, barrier matrix or neighbourhood)."""
    enqueue_task(LANDSCAPE_TASK_NAME, job_id, priority)


def enqueue_evaluation(evaluation_id: str, priority: int = 5) -> None:
    """Queue `flatnas.run_evaluation(evaluation_id)` (a from-scratch training of a genotype)."""
    enqueue_task(EVALUATION_TASK_NAME, evaluation_id, priority)
