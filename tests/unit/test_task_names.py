"""Tasks are named after what they run; the landscape task's old name stays registered for messages
queued before the rename."""

from __future__ import annotations

import worker.landscape
import worker.tasks
from worker.app import LANDSCAPE_TASK_NAME, LEGACY_LANDSCAPE_TASK_NAME, TASK_NAME, celery_app


def test_each_job_kind_has_a_task_named_after_it() -> None:
    assert TASK_NAME == "flatnas.run_search"
    assert LANDSCAPE_TASK_NAME == "flatnas.run_landscape_job"
    assert celery_app.tasks[TASK_NAME].run.__module__ == worker.tasks.__name__
    assert celery_app.tasks[LANDSCAPE_TASK_NAME].run.__module__ == worker.landscape.__name__


def test_the_old_landscape_name_still_runs_landscape_jobs() -> None:
    legacy = celery_app.tasks[LEGACY_LANDSCAPE_TASK_NAME]
    assert legacy.name == "flatnas.run_barrier"
    assert legacy.run.__module__ == worker.landscape.__name__
    routes = celery_app.conf.task_routes
    assert routes[LEGACY_LANDSCAPE_TASK_NAME] == routes[LANDSCAPE_TASK_NAME] == routes[TASK_NAME]
