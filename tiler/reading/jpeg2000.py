"""Full-resolution windows of JPEG 2000 band files, decoded through OpenJPEG's decode area (glymur).

GDAL's JP2OpenJPEG driver decodes a whole codestream tile as its block: 1024 x 1024 px in ESA's
10 m bands. A z14 map tile needs about 160 x 160 px of each band, yet pays for one to four whole
tiles (70-110 ms each, 80 ms per window on the benchmark product). OpenJPEG can decode just the
code-blocks under an area: the same window takes about 25 ms, with the same pixels.

What the area decode does not do is keep anything: GDAL keeps the tiles it decoded in its block
cache, and the neighbouring map tiles of a panning map reuse them (6 ms per window). So the reader
decodes an area only on the first touch of a codestream tile: when a window needs a tile again,
GDAL decodes it whole and keeps it. Measured on the benchmark product (one 10 m band, 40 windows):
scattered windows 2.26 s through GDAL, 0.87 s by area, 1.09 s first-touch; a 1920 x 1080 view at
z14 0.34 s through GDAL, 0.90 s by area, 0.30 s first-touch.

Only windows under an eighth of a codestream tile are decoded by area: a 512 px window takes 73 ms
that way, no gain over GDAL. Reduced resolutions stay with GDAL: there its blocks are no larger than
a map tile's window. glymur needs OpenJPEG 2.4 or later (Debian: libopenjp2-7); without it, GDAL
reads everything.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Hashable, Iterable
from functools import cache

import glymur
import numpy as np
from cachetools import LRUCache
from rasterio.windows import Window

log = logging.getLogger(__name__)


@cache
def available() -> bool:
    """Whether glymur found an OpenJPEG it can decode areas with (checked once, logged if not)."""
    if glymur.version.openjpeg_version < "2.4.0":
        log.warning(
            "JPEG 2000 area decoding is off: glymur found no OpenJPEG 2.4+ (libopenjp2), found %r",
            glymur.version.openjpeg_version,
        )
        return False
    return True


def read_window(path: str, window: Window) -> np.ndarray:
    """Band 1 of the JPEG 2000 file at `path`, `window` at full resolution (whole pixels, inside the image).

    Raises OSError when the file cannot be decoded, as GDAL's reads do."""
    row0, col0 = int(window.row_off), int(window.col_off)
    try:
        data = glymur.Jp2kr(path)[row0 : row0 + int(window.height), col0 : col0 + int(window.width)]
    except RuntimeError as exc:  # glymur's "not a JPEG 2000 file" and the layouts it cannot read
        raise OSError(f"{path}: {exc}") from exc
    return data if data.ndim == 2 else data[:, :, 0]


class TouchedBlocks:
    """The most recently touched `capacity` keys: says whether a set of keys holds one not seen lately."""

    def __init__(self, capacity: int) -> None:
        self._recent: LRUCache[Hashable, None] = LRUCache(maxsize=capacity)
        self._lock = threading.Lock()

    def touch(self, keys: Iterable[Hashable]) -> bool:
        """Record `keys` as touched; True if any of them was not among the recent ones."""
        new = False
        with self._lock:
            for key in keys:
                new |= key not in self._recent
                self._recent[key] = None  # now the most recent; past capacity the least recent goes
        return new
