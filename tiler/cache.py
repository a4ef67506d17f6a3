"""The rendered-image cache: a bytes-bounded LRU owned by the app, shared by its threads, optionally in
front of a second level shared by processes and machines (tiler.redis_cache).

Concurrent misses for one key render once: the first renders, the others wait for its result (or its
error). Browsers opening the same shared view, or a GIS and a map over the same area, ask for the same
tiles at the same moment. With a shared level the same holds across processes: the renderer claims the
key there with an expiring lock, the others wait for its image, and a renderer that dies stops
blocking them when its claim expires.

Every key is prefixed with the catalog's version, so an index update never serves stale images.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Protocol

from cachetools import LRUCache


@dataclass(frozen=True)
class CachedImage:
    content: bytes
    media_type: str
    etag: str


def make_etag(content: bytes) -> str:
    return '"' + hashlib.blake2b(content, digest_size=16).hexdigest() + '"'


class StoreUnavailable(Exception):
    """The shared level did not answer (down, slow or refusing): serve without it."""


class Claim(Protocol):
    def release(self) -> None: ...


class SharedStore(Protocol):
    """A cache level shared by processes. Every method raises StoreUnavailable when it cannot answer."""

    @property
    def wait_seconds(self) -> float:
        """How long to wait for another renderer's claim at most: longer than a claim can live."""

    @property
    def poll_seconds(self) -> float: ...

    def get(self, key: str) -> CachedImage | None: ...

    def put(self, key: str, image: CachedImage) -> None: ...

    def claim(self, key: str) -> Claim | None:
        """The right to render `key`, held until released or expired; None if another holds it."""


def _nothing(*_: object) -> None:
    pass


@dataclass(frozen=True)
class CacheEvents:
    """What the cache tells the metrics (tiler.http.observability wires them)."""

    rendered: Callable[[], None] = _nothing  # an image was rendered here, not found in any level
    coalesced: Callable[[], None] = _nothing  # a request waited for another's render here
    shared_unavailable: Callable[[], None] = _nothing  # a request went on without the shared level
    size_changed: Callable[[int], None] = _nothing  # bytes now held in this process


def stable_key(version: str, key: str) -> str:
    """The name of (catalog version, key) in a shared level: the same in every process."""
    return hashlib.sha256(f"{version}\n{key}".encode()).hexdigest()


class ImageCache:
    """LRU of encoded images, bounded by the total size of their bytes, in front of an optional shared store."""

    def __init__(
        self,
        max_bytes: int,
        shared: SharedStore | None = None,
        version: Callable[[], str] = lambda: "",
        events: CacheEvents = CacheEvents(),
    ) -> None:
        self._lru: LRUCache[str, CachedImage] = LRUCache(
            maxsize=max_bytes, getsizeof=lambda item: len(item.content) + 200
        )
        self._lock = threading.Lock()
        self._rendering: dict[str, Future[CachedImage]] = {}
        self._coalesced = 0  # requests that waited for another's render of their image
        self._shared = shared
        self._version = version
        self._events = events

    def put(self, key: str, item: CachedImage) -> None:
        with self._lock:
            try:
                self._lru[key] = item
            except ValueError:  # larger than the whole cache: serve it, do not keep it
                pass
            size = int(self._lru.currsize)
        self._events.size_changed(size)

    def get_or_render(self, key: str, render: Callable[[], tuple[bytes, str]]) -> tuple[CachedImage, bool]:
        """The cached image for `key`, rendering and storing it on a miss; a render of `key` already
        under way is waited for, not repeated. Returns (image, hit)."""
        version = self._version()
        local_key = f"{version}\n{key}"
        with self._lock:
            cached = self._lru.get(local_key)
            if cached is not None:
                return cached, True
            pending = self._rendering.get(local_key)
            if pending is None:
                pending = self._rendering[local_key] = Future()
                owner = True
            else:
                owner = False
                self._coalesced += 1
        if not owner:
            self._events.coalesced()
            return pending.result(), False  # the renderer's error, if it failed, is raised here too
        try:
            if self._shared is None:
                item, hit = self._render(render), False
            else:
                item, hit = self._shared_get_or_render(self._shared, stable_key(version, key), render)
            self.put(local_key, item)
            pending.set_result(item)
            return item, hit
        except BaseException as exc:
            pending.set_exception(exc)
            raise
        finally:
            with self._lock:
                del self._rendering[local_key]

    def _render(self, render: Callable[[], tuple[bytes, str]]) -> CachedImage:
        content, media_type = render()
        self._events.rendered()
        return CachedImage(content, media_type, make_etag(content))

    def _shared_get_or_render(
        self, store: SharedStore, key: str, render: Callable[[], tuple[bytes, str]]
    ) -> tuple[CachedImage, bool]:
        try:
            cached = store.get(key)
            if cached is not None:
                return cached, True
            claim = store.claim(key)
            give_up = time.monotonic() + store.wait_seconds
            while claim is None and time.monotonic() < give_up:
                time.sleep(store.poll_seconds)  # another process renders it, or died holding the claim
                cached = store.get(key)
                if cached is not None:
                    return cached, True
                claim = store.claim(key)
            if claim is not None:
                cached = store.get(key)  # stored between our look and our claim
                if cached is not None:
                    self._quietly(claim.release)
                    return cached, True
        except StoreUnavailable:
            self._events.shared_unavailable()
            return self._render(render), False
        # Without a claim past the wait, the holder keeps renewing it or the store misbehaves: render anyway.
        try:
            item = self._render(render)
            self._quietly(lambda: store.put(key, item))  # before the release, so waiters find it
        finally:
            if claim is not None:
                self._quietly(claim.release)
        return item, False

    def _quietly(self, call: Callable[[], None]) -> None:
        try:
            call()
        except StoreUnavailable:
            self._events.shared_unavailable()

    @property
    def current_bytes(self) -> int:
        with self._lock:
            return int(self._lru.currsize)

    @property
    def coalesced(self) -> int:
        with self._lock:
            return self._coalesced

    @property
    def max_bytes(self) -> int:
        return int(self._lru.maxsize)
