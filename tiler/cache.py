"""The rendered-image cache: a bytes-bounded LRU owned by the app, shared by its threads.

Concurrent misses for one key render once: the first renders, the others wait for its result (or its
error). Browsers opening the same shared view, or a GIS and a map over the same area, ask for the same
tiles at the same moment."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from dataclasses import dataclass

from cachetools import LRUCache


@dataclass(frozen=True)
class CachedImage:
    content: bytes
    media_type: str
    etag: str


def make_etag(content: bytes) -> str:
    return '"' + hashlib.blake2b(content, digest_size=16).hexdigest() + '"'


class ImageCache:
    """LRU of encoded images, bounded by the total size of their bytes."""

    def __init__(self, max_bytes: int) -> None:
        self._lru: LRUCache[Hashable, CachedImage] = LRUCache(
            maxsize=max_bytes, getsizeof=lambda item: len(item.content) + 200
        )
        self._lock = threading.Lock()
        self._rendering: dict[Hashable, Future[CachedImage]] = {}
        self._coalesced = 0  # requests that waited for another's render of their image

    def put(self, key: Hashable, item: CachedImage) -> None:
        with self._lock:
            try:
                self._lru[key] = item
            except ValueError:  # larger than the whole cache: serve it, do not keep it
                pass

    def get_or_render(self, key: Hashable, render: Callable[[], tuple[bytes, str]]) -> tuple[CachedImage, bool]:
        """The cached image for `key`, rendering and storing it on a miss; a render of `key` already
        under way is waited for, not repeated. Returns (image, hit)."""
        with self._lock:
            cached = self._lru.get(key)
            if cached is not None:
                return cached, True
            pending = self._rendering.get(key)
            if pending is None:
                pending = self._rendering[key] = Future()
                owner = True
            else:
                owner = False
                self._coalesced += 1
        if not owner:
            return pending.result(), False  # the renderer's error, if it failed, is raised here too
        try:
            content, media_type = render()
            item = CachedImage(content, media_type, make_etag(content))
            self.put(key, item)
            pending.set_result(item)
            return item, False
        except BaseException as exc:
            pending.set_exception(exc)
            raise
        finally:
            with self._lock:
                del self._rendering[key]

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
