"""Open band files kept between requests, lent to one thread at a time.

Opening a band file costs a header parse on every request, and closing it throws away the blocks
GDAL decoded for it (a JPEG 2000 codestream tile is 1024 x 1024 pixels; neighbouring map tiles need
the same one). A rasterio dataset is not thread-safe, so each handle is lent to one thread at a
time; a thread that finds no idle handle opens another, up to `per_path` handles of one file
(one per CPU core: more handles would decode the same blocks again, each for its own cache, on a
core that is busy anyway); past that it waits for one. Idle handles are bounded and the least
recently returned is closed first. The app owns the pool and closes it on shutdown.

The pool also remembers which full-resolution JPEG 2000 blocks were touched lately (see
tiler/jpeg2000.py): a block touched again is worth decoding whole into a handle's block cache.

A handle is lent again only while its file is unchanged (same inode, size and mtime, one stat per
loan): a file replaced, repaired or removed while serving is reopened, or fails to open, as it would
have without the pool.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

import rasterio
from rasterio.io import DatasetReader

from tiler.reading.jpeg2000 import TouchedBlocks

# About what GDAL's default 256 MiB block cache holds of 1024 x 1024 uint16 codestream tiles, twice.
TOUCHED_BLOCKS = 256


_Signature = tuple[int, int, int] | None


def _signature(path: str) -> _Signature:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class DatasetPool:
    def __init__(self, max_idle: int, per_path: int) -> None:
        if max_idle < 0 or per_path < 1:
            raise ValueError("max_idle must not be negative, per_path must be positive")
        self._max_idle = max_idle
        self._per_path = per_path
        self._lent: dict[str, int] = {}
        # (path, sequence number) -> idle handle and its file's signature, oldest first; the number
        # tells handles of one path apart.
        self._idle: OrderedDict[tuple[str, int], tuple[DatasetReader, _Signature]] = OrderedDict()
        self._counter = 0
        self._lock = threading.Condition()
        self._closed = False
        self.touched_blocks = TouchedBlocks(TOUCHED_BLOCKS)

    @contextmanager
    def open(self, path: str) -> Iterator[DatasetReader]:
        """A dataset for `path`, this thread's alone until the block ends. Call inside rasterio.Env.

        A thread must not hold two handles of one file at once (it would wait for itself)."""
        signature = _signature(path)
        dataset = self._take(path, signature)
        try:
            if dataset is None:
                dataset = rasterio.open(path)
            yield dataset
        except BaseException:
            if dataset is not None:
                dataset.close()  # it may be half-way through a failed read: do not lend it again
            self._give_back(path, None, signature)
            raise
        self._give_back(path, dataset, signature)

    def _take(self, path: str, signature: _Signature) -> DatasetReader | None:
        """An idle handle of `path` opened on the file as it is now, or None: the caller opens one."""
        found, stale = None, []
        with self._lock:
            self._lock.wait_for(lambda: self._lent.get(path, 0) < self._per_path)
            self._lent[path] = self._lent.get(path, 0) + 1
            for key in reversed(self._idle):  # the most recently used handle has the warmest blocks
                if key[0] != path:
                    continue
                if signature is None or self._idle[key][1] != signature:
                    stale.append(key)
                elif found is None:
                    found = key
            handles = [self._idle.pop(key)[0] for key in stale]
            dataset = self._idle.pop(found)[0] if found is not None else None
        for handle in handles:
            handle.close()
        return dataset

    def _give_back(self, path: str, dataset: DatasetReader | None, signature: _Signature) -> None:
        evicted = []
        with self._lock:
            self._lent[path] -= 1
            if not self._lent[path]:
                del self._lent[path]
            self._lock.notify_all()
            if dataset is not None and (self._closed or self._max_idle == 0):
                evicted.append(dataset)
            elif dataset is not None:
                self._counter += 1
                self._idle[(path, self._counter)] = (dataset, signature)
                while len(self._idle) > self._max_idle:
                    evicted.append(self._idle.popitem(last=False)[1][0])
        for old in evicted:
            old.close()

    @property
    def idle(self) -> int:
        with self._lock:
            return len(self._idle)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            handles = [dataset for dataset, _ in self._idle.values()]
            self._idle.clear()
        for dataset in handles:
            dataset.close()
