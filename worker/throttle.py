"""A rate limit for reporter writes and polls that the engine would otherwise make every step."""

from __future__ import annotations

import time
from collections.abc import Callable


class Throttle:
    """Lets an action through at most once per `interval` seconds of `clock`."""

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval, self._clock = interval, clock
        self._last = float("-inf")

    def ready(self, *, force: bool = False) -> bool:
        """True (and the interval restarts) when the interval has passed since the last time, or
        when `force`d; else False."""
        now = self._clock()
        if not force and now - self._last < self._interval:
            return False
        self._last = now
        return True

    def restart(self) -> None:
        """The action just happened outside the throttle: wait a full interval from now."""
        self._last = self._clock()
