"""API-key quotas: a moving one-minute window per key, counted by the `limits` library.

In memory, each worker process counts for itself (with N workers a key may get N times its quota).
In Redis (`EO_TILER_QUOTA_URL`, by default the cache's Redis) every worker and replica counts in one
place. While Redis is unavailable, each process falls back to counting in memory, as without Redis,
rather than refusing or letting through every request.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Protocol

from limits import RateLimitItem, RateLimitItemPerMinute
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter as AsyncMovingWindowRateLimiter
from limits.errors import StorageError
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from tiler.outage import Outage

# limits picks its asynchronous Redis storage by these schemes.
_ASYNC_SCHEMES = {"redis": "async+redis", "rediss": "async+rediss", "unix": "async+redis+unix"}


class Quota(Protocol):
    amount: int

    async def retry_after(self, bucket: str) -> int | None:
        """Counts a request of `bucket`; None within the quota, else the seconds until one is allowed again."""


def _seconds_until(reset: float) -> int:
    return max(1, math.ceil(reset - time.time()))


class MemoryQuota:
    def __init__(self, per_minute: int) -> None:
        self.amount = per_minute
        self._item = RateLimitItemPerMinute(per_minute)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    async def retry_after(self, bucket: str) -> int | None:
        if self._limiter.hit(self._item, bucket):
            return None
        return _seconds_until(self._limiter.get_window_stats(self._item, bucket).reset_time)


class RedisQuota:
    """Counted in Redis with limits' asynchronous storage (redis-py's asyncio client), so the event
    loop never waits on Redis; each call bounded by `timeout` seconds."""

    def __init__(
        self, per_minute: int, url: str, timeout: float, on_unavailable: Callable[[], None], retry_seconds: float = 5.0
    ) -> None:
        scheme, _, rest = url.partition("://")
        self.amount = per_minute
        self._item: RateLimitItem = RateLimitItemPerMinute(per_minute)
        storage = RedisStorage(
            f"{_ASYNC_SCHEMES[scheme]}://{rest}",
            wrap_exceptions=True,
            implementation="redispy",
            key_prefix="eo-tiler:quota",
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
        )
        self._limiter = AsyncMovingWindowRateLimiter(storage)
        self._fallback = MemoryQuota(per_minute)
        self._outage = Outage("the Redis API-key quota store", retry_seconds)
        self._on_unavailable = on_unavailable

    async def retry_after(self, bucket: str) -> int | None:
        if self._outage.available:
            try:
                allowed = await self._limiter.hit(self._item, bucket)
                if not allowed:
                    stats = await self._limiter.get_window_stats(self._item, bucket)
            except StorageError as exc:
                self._outage.failed(exc.storage_error)
            else:
                self._outage.succeeded()
                return None if allowed else _seconds_until(stats.reset_time)
        self._on_unavailable()
        return await self._fallback.retry_after(bucket)
