"""Request limits that protect the server as a whole: query length and render deadlines.

A Python thread cannot be killed, so a render past its deadline is abandoned in two halves:
- the endpoint stops waiting for it at the deadline and answers 503, which frees the request's
  thread and connection for other clients;
- the render itself, in a bounded pool of its own, checks the deadline between steps (before
  each band read, before evaluating, before encoding) and gives up at the first check after it.
  A single GDAL call already running is the one thing that runs to its end.
Renders waiting in the pool's queue past their deadline are dropped without doing any work, so a
burst of slow requests cannot pile up work, and endpoints that do not render (cached images,
metadata, health) never wait behind them.
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable
from typing import TypeVar

from starlette.types import ASGIApp, Receive, Scope, Send

from tiler.errors import RenderTimeout
from tiler.ogc import error_response

T = TypeVar("T")


class Deadline:
    """A point in (monotonic) time by which a render must be done."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        return self._end - time.monotonic()

    def check(self) -> None:
        """Raise `RenderTimeout` once the deadline has passed."""
        if self.remaining() <= 0:
            raise _timeout(self.seconds)


def _timeout(seconds: float) -> RenderTimeout:
    return RenderTimeout(f"rendering took longer than the limit of {seconds:g} s; try a smaller image or again later")


class RenderPool:
    """A bounded pool that runs renders under a deadline; see the module docstring."""

    def __init__(self, threads: int, timeout: float) -> None:
        self.timeout = timeout
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="render")

    def run(self, render: Callable[[Deadline], T]) -> T:
        deadline = Deadline(self.timeout)

        def task() -> T:
            deadline.check()  # waited in the queue past the deadline: skip the work
            return render(deadline)

        future = self._executor.submit(task)
        try:
            return future.result(timeout=max(0.0, deadline.remaining()))
        except concurrent.futures.TimeoutError:
            future.cancel()  # still queued: never runs; running: stops at its next check
            raise _timeout(self.timeout) from None


class QueryLengthLimit:
    """ASGI middleware: 414 for query strings over `max_length` bytes, before anything parses them."""

    def __init__(self, app: ASGIApp, max_length: int) -> None:
        self.app = app
        self.max_length = max_length

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and len(scope.get("query_string", b"")) > self.max_length:
            detail = f"the query string is longer than the limit of {self.max_length} bytes"
            await error_response(scope["path"], 414, detail)(scope, receive, send)
            return
        await self.app(scope, receive, send)
