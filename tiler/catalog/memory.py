"""The in-memory catalog backend: products held in a dict, found once at start-up (tests, small fixed
archives). Same filters and orders as `SqliteCatalog`, by scanning every product."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path

from tiler.catalog import ORDERS, BBox, SearchResult, matches_properties
from tiler.catalog.records import footprint_bbox
from tiler.collections import Collections
from tiler.errors import NotFound
from tiler.products import Product, product_keys, reference_keys
from tiler.sources import discover

log = logging.getLogger(__name__)


class MemoryCatalog:
    """The products under `roots` (found now), or the `products` given."""

    version = "memory"  # built once, never changes

    def __init__(
        self,
        roots: Iterable[Path],
        products: Iterable[Product] | None = None,
        collections: Collections | None = None,
    ) -> None:
        self.roots = tuple(Path(os.path.realpath(r)) for r in roots)
        if products is None:
            products = (p for root in self.roots for p in discover(root, collections))
        self._by_key: dict[str, Product] = {}
        self._products: dict[str, Product] = {}
        for product in products:
            if product.id in self._products:
                kept = self._products[product.id].path
                log.warning("duplicate product %s at %s; keeping %s", product.id, product.path, kept)
                continue
            self._products[product.id] = product
            for key in product_keys(product):
                self._by_key.setdefault(key, product)

    def __len__(self) -> int:
        return len(self._products)

    def __iter__(self) -> Iterator[Product]:
        # Newest first, ties by id, as SQL's order (static datasets share one date).
        return iter(sorted(self._products.values(), key=lambda p: (-p.datetime.timestamp(), p.id)))

    def resolve(self, reference: str) -> Product:
        """Map an ID (with or without .SAFE), a path below a root, `/eodata/...` or an absolute
        path inside a root to its product. Never touches the disk."""
        for key in reference_keys(reference, self.roots):
            if key in self._by_key:
                return self._by_key[key]
        raise NotFound(f"unknown product '{reference[:200]}'")

    def search(
        self,
        bbox: BBox | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        max_cloud: float | None = None,
        collection: str | None = None,
        limit: int = 10,
        offset: int = 0,
        order: str = "mostRecent",
        properties: Mapping[str, str] | None = None,
    ) -> SearchResult:
        def matches(p: Product) -> bool:
            if bbox is not None:
                west, south, east, north = footprint_bbox(p)
                if west > bbox[2] or east < bbox[0] or south > bbox[3] or north < bbox[1]:
                    return False
            return (
                (start is None or p.datetime >= start)
                and (end is None or p.datetime <= end)
                and (max_cloud is None or (p.cloud_cover is not None and p.cloud_cover <= max_cloud))
                and (collection is None or p.collection == collection)
                and matches_properties(p, properties)
            )

        found = sorted((p for p in self._products.values() if matches(p)), key=lambda p: p.id)  # ties by id, as SQL
        if order == "leastRecent":
            found.sort(key=lambda p: p.datetime)
        elif order == "leastCC":
            found.sort(key=lambda p: -p.datetime.timestamp())
            found.sort(key=lambda p: (p.cloud_cover is None, p.cloud_cover or 0.0))
        elif order == "mostRecent":
            found.sort(key=lambda p: p.datetime, reverse=True)
        else:
            raise ValueError(f"order must be one of {', '.join(ORDERS)}")
        return SearchResult(found[offset : offset + limit], len(found))
