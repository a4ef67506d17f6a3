"""One shared service (Redis) that may go away: callers go on without it and retry now and then."""

from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger(__name__)


class Outage:
    """After a failure, `available` is False for `retry_seconds`, so a dead or hanging server costs one
    timeout per period instead of one per request. Each outage logs one warning when it starts and one
    line when it ends, however many requests it touches.

    pybreaker does this for plain calls, but its asynchronous form needs tornado, and the API-key
    quotas call Redis from the event loop."""

    def __init__(self, name: str, retry_seconds: float) -> None:
        self.name = name
        self._retry_seconds = retry_seconds
        self._lock = threading.Lock()
        self._retry_at: float | None = None  # monotonic; None: no outage

    @property
    def available(self) -> bool:
        retry_at = self._retry_at
        return retry_at is None or time.monotonic() >= retry_at

    def failed(self, error: BaseException) -> None:
        with self._lock:
            started = self._retry_at is None
            self._retry_at = time.monotonic() + self._retry_seconds
        if started:
            log.warning(
                "%s is unavailable (%s: %s); going on without it, retrying every %g s",
                self.name, type(error).__name__, error, self._retry_seconds,
            )  # fmt: skip

    def succeeded(self) -> None:
        if self._retry_at is None:
            return
        with self._lock:
            ended, self._retry_at = self._retry_at is not None, None
        if ended:
            log.warning("%s is available again", self.name)
