"""Request limits that protect the server as a whole: query length, render deadlines and the
memory of renders in flight.

A Python thread cannot be killed, so a render past its deadline is abandoned in two halves:
- the endpoint stops waiting for it at the deadline and answers 503, which frees the request's
  thread and connection for other clients;
- the render itself, in a bounded pool of its own, checks the deadline between steps (before
  each band read, before evaluating, before encoding) and gives up at the first check after it.
  A single GDAL call already running is the one thing that runs to its end.
Renders waiting in the pool's queue past their deadline are dropped without doing any work, so a
burst of slow requests cannot pile up work, and endpoints that do not render (cached images,
metadata, health) never wait behind them.

A render needs about 40 bytes per output pixel while it runs (a 1024 x 1024 GetMap: 41 MiB at its
peak), so the pool also holds a budget of output pixels: a render waits, within its deadline, until
its pixels fit beside those of the renders under way. One render larger than the whole budget runs
alone. Memory in flight is then bounded by the budget, whatever mix of tiles and large maps arrives.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
import weakref
from collections.abc import Callable
from typing import TypeVar

from tiler.errors import RenderTimeout

T = TypeVar("T")


class Deadline:
    """A point in (monotonic) time by which a render must be done."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        return self._end - time.monotonic()

    @property
    def ends_at(self) -> float:
        """The deadline, in `time.monotonic()` seconds."""
        return self._end

    def check(self) -> None:
        """Raise `RenderTimeout` once the deadline has passed."""
        if self.remaining() <= 0:
            raise _timeout(self.seconds)


def _timeout(seconds: float) -> RenderTimeout:
    return RenderTimeout(f"rendering took longer than the limit of {seconds:g} s; try a smaller image or again later")


class PixelBudget:
    """Output pixels that renders may hold at once; see the module docstring."""

    def __init__(self, pixels: int) -> None:
        self.total = pixels
        self._free = pixels
        self._changed = threading.Condition()

    def acquire(self, pixels: int, timeout: float) -> int | None:
        """Take `pixels` (all of the budget if more), waiting up to `timeout` s; None if they never fit."""
        pixels = min(pixels, self.total)
        with self._changed:
            if not self._changed.wait_for(lambda: self._free >= pixels, timeout=max(0.0, timeout)):
                return None
            self._free -= pixels
        return pixels

    def release(self, pixels: int) -> None:
        with self._changed:
            self._free += pixels
            self._changed.notify_all()

    @property
    def free(self) -> int:
        with self._changed:
            return self._free


# A render still running this long past its deadline is taken for stuck in native code: no step of a
# render takes that long (each is bounded; see docs/native-calls.md).
STUCK_GRACE = 10.0
_POOLS: weakref.WeakSet[RenderPool] = weakref.WeakSet()


def renders_stuck() -> bool:
    """True when a render pool of this process has every thread stuck: the worker can serve nothing
    that renders, so it stops its heartbeat and the supervisor replaces it (tiler.supervisor)."""
    return any(pool.stuck() >= pool.threads for pool in list(_POOLS))


class RenderPool:
    """A bounded pool that runs renders under a deadline and a pixel budget; see the module docstring."""

    def __init__(self, threads: int, timeout: float, pixels: int) -> None:
        self.timeout = timeout
        self.threads = threads
        self.budget = PixelBudget(pixels)
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="render")
        self._running: dict[int, float] = {}  # running renders: their deadline, monotonic seconds
        self._running_lock = threading.Lock()
        _POOLS.add(self)

    def stuck(self) -> int:
        """Renders still running `STUCK_GRACE` (or one timeout, if longer) past their deadline."""
        overdue = time.monotonic() - max(STUCK_GRACE, self.timeout)
        with self._running_lock:
            return sum(1 for deadline in self._running.values() if deadline < overdue)

    def run(self, render: Callable[[Deadline], T], pixels: int) -> T:
        """`render` for an output of `pixels` pixels, in the pool, once its pixels fit the budget."""
        deadline = Deadline(self.timeout)
        taken = self.budget.acquire(pixels, deadline.remaining())
        if taken is None:
            raise _timeout(self.timeout)

        def task() -> T:
            token = threading.get_ident()
            with self._running_lock:
                self._running[token] = deadline.ends_at
            try:
                deadline.check()  # waited in the queue past the deadline: skip the work
                return render(deadline)
            finally:
                with self._running_lock:
                    del self._running[token]
                self.budget.release(taken)  # when the work ends, even after the caller stopped waiting

        try:
            future = self._executor.submit(task)
        except BaseException:
            self.budget.release(taken)
            raise
        try:
            return future.result(timeout=max(0.0, deadline.remaining()))
        except concurrent.futures.TimeoutError:
            future.cancel()  # still queued: never runs; running: stops at its next check
            raise _timeout(self.timeout) from None
