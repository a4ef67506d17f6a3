"""The image cache's shared level in Redis (`--cache redis://...`), with redis-py.

Redis bounds it: set `maxmemory` and `maxmemory-policy allkeys-lru` on the server (README, "Running
with Redis"), so the least recently used images make room. Images carry no expiry of their own; keys
from an older catalog version are never asked for again and age out by that LRU.

Renders are coordinated by redis-py's `Lock` (SET NX PX with a random token, released only by its
holder): it expires after `claim_seconds`, so a renderer that dies stops blocking the others then.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar, cast

import redis
from redis.exceptions import LockNotOwnedError, RedisError
from redis.lock import Lock

from tiler.cache import CachedImage, StoreUnavailable
from tiler.outage import Outage

log = logging.getLogger(__name__)

IMAGE_PREFIX = "eo-tiler:image:"
CLAIM_PREFIX = "eo-tiler:render:"
EVICTING_POLICIES = frozenset({"allkeys-lru", "allkeys-lfu", "allkeys-random"})
T = TypeVar("T")


def _encode(image: CachedImage) -> bytes:
    return f"{image.media_type}\n{image.etag}\n".encode() + image.content


def _decode(raw: bytes) -> CachedImage:
    media_type, etag, content = raw.split(b"\n", 2)
    return CachedImage(content, media_type.decode(), etag.decode())


class RedisClaim:
    def __init__(self, store: RedisStore, lock: Lock) -> None:
        self._store = store
        self._lock = lock

    def release(self) -> None:
        self._store.call(self._release)

    def _release(self) -> None:
        try:
            self._lock.release()
        except LockNotOwnedError:
            pass  # it expired while we rendered: the image is stored anyway


class RedisStore:
    """A `tiler.cache.SharedStore` in Redis. Every call is bounded by `timeout` seconds; after a
    failure Redis is skipped for `retry_seconds` (tiler.outage)."""

    poll_seconds = 0.02  # how often a waiting process looks for the image another one renders

    def __init__(self, url: str, claim_seconds: float, timeout: float, retry_seconds: float = 5.0) -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self._claim_seconds = claim_seconds
        self._outage = Outage("the Redis image cache", retry_seconds)

    @property
    def wait_seconds(self) -> float:
        return self._claim_seconds + 1.0  # a dead holder's claim expires before a waiter gives up

    def call(self, operation: Callable[[], T]) -> T:
        if not self._outage.available:
            raise StoreUnavailable(self._outage.name)
        try:
            result = operation()
        except RedisError as exc:
            self._outage.failed(exc)
            raise StoreUnavailable(self._outage.name) from exc
        self._outage.succeeded()
        return result

    def get(self, key: str) -> CachedImage | None:
        raw = self.call(lambda: self._redis.get(IMAGE_PREFIX + key))
        return None if raw is None else _decode(cast(bytes, raw))  # decode_responses is off: bytes

    def put(self, key: str, image: CachedImage) -> None:
        self.call(lambda: self._redis.set(IMAGE_PREFIX + key, _encode(image)))

    def claim(self, key: str) -> RedisClaim | None:
        lock = self._redis.lock(CLAIM_PREFIX + key, timeout=self._claim_seconds, thread_local=False)
        return RedisClaim(self, lock) if self.call(lambda: lock.acquire(blocking=False)) else None

    def check_memory_policy(self) -> None:
        """Warn when Redis would grow without bound or refuse writes instead of evicting images."""
        try:
            memory = self.call(lambda: self._redis.info("memory"))
        except StoreUnavailable:
            return  # already logged; the server may come up later
        policy, limit = memory.get("maxmemory_policy"), memory.get("maxmemory", 0)
        if not limit or policy not in EVICTING_POLICIES:
            log.warning(
                "Redis image cache: maxmemory is %s and maxmemory-policy %s; set maxmemory and "
                "maxmemory-policy allkeys-lru so that Redis evicts old images instead of growing or refusing new ones",
                limit or "unset", policy,
            )  # fmt: skip
