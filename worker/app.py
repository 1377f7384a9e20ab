"""The Celery application: one queue of searches, one search per worker process.

Only the broker URL differs between the embedded stack (kombu's SQLAlchemy transport on a SQLite
file, no server) and production (Redis). Search state lives in the database, so there is no result
backend. Messages are acknowledged only when a task ends (acks_late) and given back when the worker
process dies (reject_on_worker_lost); the heartbeat reaper (worker/reaper.py) covers brokers that
never redeliver an unacknowledged message, such as the SQLAlchemy transport after a kill -9.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from celery import Celery
from celery.signals import (
    worker_init,
    worker_process_init,
    worker_ready,
    worker_shutdown,
    worker_shutting_down,
)

from store.settings import settings

#: Queue every job goes to (settings.FLATNAS_QUEUE): concurrent test runs share one Redis safely.
QUEUE = settings.FLATNAS_QUEUE
TASK_NAME = "flatnas.run_search"
#: Landscape jobs (barrier, barrier matrix, neighbourhood: worker/landscape.py), on the same queue.
LANDSCAPE_TASK_NAME = "flatnas.run_landscape_job"
#: The landscape task's name before it was named after what it runs: still registered, so a
#: message queued by an older API (or waiting in the broker across an upgrade) is still run.
LEGACY_LANDSCAPE_TASK_NAME = "flatnas.run_barrier"
#: From-scratch evaluations of a genotype (worker/evaluation.py), on the same queue.
EVALUATION_TASK_NAME = "flatnas.run_evaluation"


def _transport_options(broker_url: str) -> dict[str, Any]:
    if broker_url.startswith(("redis://", "rediss://")):
        # Ten priority lists popped in order, so priority really orders the queue (0 pops first on
        # Redis; worker.enqueue maps the spec's "9 first" onto that). The visibility timeout only
        # decides when Redis redelivers an unacknowledged message; a redelivered copy of a search
        # that is still running finds a fresh lease and does nothing (worker.tasks).
        return {"priority_steps": list(range(10)), "sep": ":", "queue_order_strategy": "priority"}
    if broker_url.startswith("sqla+sqlite"):
        # kombu's SQLAlchemy transport hands its options to create_engine (so no polling_interval
        # here: it polls every second). The API and the worker both write the broker file: wait
        # for the lock rather than fail with "database is locked".
        return {"connect_args": {"timeout": 30}}
    return {}


def _ensure_sqlite_dir(broker_url: str) -> None:
    # `sqla+sqlite:///var/broker.sqlite` is relative to the working directory; SQLite creates the
    # file but not its folder.
    prefix = "sqla+sqlite:///"
    if broker_url.startswith(prefix):
        path = broker_url[len(prefix) :]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)


def create_app(broker_url: str) -> Celery:
    _ensure_sqlite_dir(broker_url)
    app = Celery(
        "flatnas", broker=broker_url, include=["worker.tasks", "worker.landscape", "worker.evaluation"]
    )
    app.conf.update(
        task_default_queue=QUEUE,
        task_routes={
            name: {"queue": QUEUE}
            for name in (TASK_NAME, LANDSCAPE_TASK_NAME, LEGACY_LANDSCAPE_TASK_NAME, EVALUATION_TASK_NAME)
        },
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # One message reserved at a time: a worker busy with a long search must not hold the next one.
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        result_backend=None,
        task_queue_max_priority=9,
        task_default_priority=5,
        broker_transport_options=_transport_options(broker_url),
        broker_connection_retry_on_startup=True,
        task_serializer="json",
        accept_content=["json"],
    )
    return app


celery_app = create_app(settings.BROKER_URL)


@worker_init.connect
def _apply_gpu_memory_share(sender: Any = None, **_: Any) -> None:
    # Several workers per GPU (worker.gpu_share): each caps its own allocations.
    from worker.gpu_share import apply_memory_share

    apply_memory_share()


@worker_init.connect
@worker_process_init.connect
def _apply_thread_budget(sender: Any = None, **_: Any) -> None:
    # torch's CPU threads from the cores this process may use (worker/threads.py). worker_init runs
    # on a solo worker's main thread, the one that runs its tasks; worker_process_init in each child
    # of a prefork pool.
    import logging
    import sys

    from worker.threads import apply_thread_budget

    threads = apply_thread_budget()
    logging.getLogger(__name__).info(
        "thread budget: %d torch thread(s) per task (torch was %simported)",
        threads,
        "already " if "torch" in sys.modules else "not yet ",
    )


@worker_ready.connect
def _start_reaper(sender: Any = None, **_: Any) -> None:
    from worker.reaper import start_reaper

    start_reaper()


@worker_shutting_down.connect
def _hand_back_on_stop(sender: Any = None, **_: Any) -> None:
    # Sent from Celery's SIGTERM/SIGINT/SIGQUIT handler, before its warm shutdown starts waiting
    # for the task: the task stops at its next step and hands its search back (worker/shutdown.py).
    from worker.shutdown import shutdown

    shutdown.request(settings.WORKER_STOP_GRACE_S)


@worker_shutdown.connect
def _stop_reaper(sender: Any = None, **_: Any) -> None:
    from worker.reaper import stop_reaper

    stop_reaper()
