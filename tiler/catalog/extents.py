"""What the catalog holds of each collection: where (the union of footprint boxes), when (its
acquisition dates) and how many products. `/collections` and the OGC layer list show it; listing
walks the whole catalog, so `ExtentCache` keeps the answer until the catalog's version changes."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from tiler.catalog import BBox, Catalog
from tiler.catalog.records import footprint_bbox
from tiler.products import Product


@dataclass(frozen=True)
class Extent:
    bbox: BBox  # west, south, east, north in WGS84 degrees
    start: datetime
    end: datetime
    dates: tuple[str, ...]  # YYYY-MM-DD, ascending
    products: int


def collection_extents(products: Iterable[Product]) -> dict[str, Extent]:
    """The extent of every collection with products, by collection id."""
    boxes: dict[str, list[float]] = {}
    times: dict[str, list[datetime]] = {}
    for product in products:
        w, s, e, n = footprint_bbox(product)
        box = boxes.setdefault(product.collection, [w, s, e, n])
        box[:] = [min(box[0], w), min(box[1], s), max(box[2], e), max(box[3], n)]
        times.setdefault(product.collection, []).append(product.datetime)
    return {
        collection: Extent(
            (box[0], box[1], box[2], box[3]),
            min(times[collection]),
            max(times[collection]),
            tuple(sorted({t.date().isoformat() for t in times[collection]})),
            len(times[collection]),
        )
        for collection, box in boxes.items()
    }


class ExtentCache:
    """The extents of the catalog's current version. Owned by the app; threads share it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version: str | None = None
        self._extents: dict[str, Extent] = {}

    def get(self, catalog: Catalog) -> dict[str, Extent]:
        version = catalog.version
        with self._lock:
            if version != self._version:
                self._extents, self._version = collection_extents(catalog), version
            return self._extents
