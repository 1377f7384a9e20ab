"""Waiting on a condition with a deadline, the one way tests wait (never a fixed sleep).

A fixed sleep is either too short on a loaded machine (the test races and fails) or longer than
needed everywhere else; a condition polled until a deadline is both fast and patient.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T],
    timeout: float,
    what: str,
    every: float = 0.01,
    detail: Callable[[], str] | None = None,
) -> T:
    """Poll `condition` until it returns something truthy (returned), or fail naming `what` after
    `timeout` seconds, with `detail()` (e.g. the last answer and the service's logs) when given;
    generous timeouts cost nothing when the condition comes true early."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = f"\n{detail()}" if detail is not None else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{extra}")
        time.sleep(every)
