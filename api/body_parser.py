"""Where a request body is parsed: small ones in the thread pool, large ones in other processes.

Parsing is Python-level CPU work that holds the GIL: a 1 MB YAML body is more than a second of it
even with libyaml. In a thread of the API process it would still starve the event loop: the loop
needs the GIL after every poll, waits a switch interval behind each parsing thread, and on a busy
host the OS may deschedule a thread while it holds the GIL. So a body larger than
INLINE_PARSE_BYTES is parsed in a small pool of worker processes (`API_PARSE_PROCESSES`, started on
first use and stopped with the app), and the event loop merely awaits the result. Smaller bodies,
every ordinary spec among them, parse within milliseconds in the thread pool hop that also checks
the key.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Literal

from fastapi.concurrency import run_in_threadpool

from api.errors import FieldError, ProblemError, ValidationProblem
from api.request_input import parse_json_body
from api.yaml_body import parse_yaml_body

log = logging.getLogger(__name__)

INLINE_PARSE_BYTES = 16 * 1024  # about 25 ms of YAML parsing, under 1 ms of JSON

Syntax = Literal["json", "yaml"]
PARSERS: dict[Syntax, Callable[[bytes], Any]] = {"json": parse_json_body, "yaml": parse_yaml_body}


def parse(syntax: Syntax, body: bytes) -> Any:
    """The checked value of `body` (a 422 ProblemError when it cannot be had)."""
    return PARSERS[syntax](body)


def _parse_in_child(syntax: Syntax, body: bytes) -> tuple[bool, Any]:
    """In a worker process: (True, value) or (False, (detail, field errors as dicts)). Problems
    travel as plain data: exceptions with keyword-only arguments do not survive pickling."""
    try:
        return True, parse(syntax, body)
    except ProblemError as problem:
        errors = [error.model_dump() for error in problem.errors or ()]
        return False, (problem.detail, errors)


class BodyParser:
    """The app's body parsing processes (none when `processes` is 0: every body parses in a thread)."""

    def __init__(self, processes: int) -> None:
        self.processes = processes
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def in_process(self, body: bytes) -> bool:
        """Whether `body` is parsed in a worker process (else inline, in the caller's thread)."""
        return self.processes > 0 and len(body) > INLINE_PARSE_BYTES

    async def parse_elsewhere(self, syntax: Syntax, body: bytes) -> Any:
        """Parse `body` in a worker process; the event loop only waits."""
        pool = self._started()
        try:
            ok, value = await asyncio.wrap_future(pool.submit(_parse_in_child, syntax, body))
        except BrokenProcessPool:
            # A worker died (killed, out of memory) or could not start (spawn re-imports the main
            # module, which must be importable). The body still gets its answer, parsed in a
            # thread; the next large body gets a fresh pool.
            log.error("a body parsing process died or did not start; this body parses in a thread")
            self._discard(pool)
            return await run_in_threadpool(parse, syntax, body)
        if ok:
            return value
        detail, errors = value
        raise ValidationProblem(detail, errors=[FieldError(**error) for error in errors])

    def close(self) -> None:
        """Stop the processes (at app shutdown): waits for them, or they would outlive the API."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def _started(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                # spawn, not fork: the API process runs threads, and a fork copies their locks.
                context = multiprocessing.get_context("spawn")
                self._pool = ProcessPoolExecutor(self.processes, mp_context=context)
            return self._pool

    def _discard(self, pool: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        pool.shutdown(wait=False, cancel_futures=True)
