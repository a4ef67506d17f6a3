"""The product catalog: every product under the data roots, searchable by place, time, cloud cover
and collection.

`Catalog` is the interface the service uses; each backend is one module that implements it:
`SqliteCatalog` (`tiler.catalog.sqlite`, the embedded default: a SQLite file with an R*Tree over
footprint bounding boxes) and `MemoryCatalog` (`tiler.catalog.memory`, products held in memory for
tests and small fixed archives). Backends store products with `product_to_json`/`product_from_json`
(`tiler.catalog.records`), so a Product field added later needs no change in them.

    catalog = open_catalog(settings.catalog_path, settings.data_roots)
    catalog.search(bbox=(5, 50, 6, 51), start=..., max_cloud=20, collection="sentinel-2-l2a")
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from shapely.geometry import box, shape

from tiler.products import Product

__all__ = [
    "ORDERS",
    "BBox",
    "Catalog",
    "MemoryCatalog",
    "SearchResult",
    "SqliteCatalog",
    "matches_properties",
    "open_catalog",
    "property_text",
    "select_products",
]

ORDERS = ("mostRecent", "leastRecent", "leastCC")  # Sentinel Hub's mosaicking orders

BBox = tuple[float, float, float, float]  # west, south, east, north in WGS84 degrees

# Pages of candidates fetched from the catalog while looking for footprints that really meet an area.
_CANDIDATE_PAGE = 64


@dataclass(frozen=True)
class SearchResult:
    products: list[Product]
    total: int  # matches over all pages


class Catalog(Protocol):
    """What the service needs from a catalog backend."""

    roots: tuple[Path, ...]  # the data roots it answers for

    def resolve(self, reference: str) -> Product:
        """The product an ID or path names; `UnsafeReference` or `NotFound` otherwise."""

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
        """Products whose footprint's bounding box meets `bbox`, sensed in [start, end], with cloud
        cover at most `max_cloud` (products without one only match when it is None), and whose
        `Product.properties` hold every one of `properties` (compared as `property_text` gives
        them: scalar properties only), in `order`."""

    @property
    def version(self) -> str:
        """Changes whenever the catalog's content changes."""

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[Product]: ...


def property_text(value: object) -> str | None:
    """How a product property is compared with a filter's value: a scalar's text (`true`, `12`,
    `descending`); None for lists and objects, which no filter matches."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return None


def matches_properties(product: Product, properties: Mapping[str, str] | None) -> bool:
    return not properties or all(
        property_text(product.properties.get(name)) == value for name, value in properties.items()
    )


def _meets(product: Product, area) -> bool:
    if not product.footprint:
        return box(*product.bounds_wgs84).intersects(area)
    try:
        return shape(product.footprint).intersects(area)
    except (ValueError, TypeError, KeyError, AttributeError):
        return True  # the catalog's bounding-box test already passed; let the read decide


def select_products(
    catalog: Catalog,
    bbox_wgs84: BBox,
    *,
    collection: str,
    start: datetime | None,
    end: datetime | None,
    max_cloud: float | None,
    order: str,
    limit: int,
    properties: Mapping[str, str] | None = None,
) -> list[Product]:
    """The first `limit` products, in `order`, whose footprint (not only its bounding box) meets
    `bbox_wgs84`. Beyond `limit` products are left out: pixels only they would fill stay empty."""
    area = box(*bbox_wgs84)
    chosen: list[Product] = []
    offset = 0
    while len(chosen) < limit:
        page = catalog.search(
            bbox_wgs84,
            start,
            end,
            max_cloud,
            collection,
            limit=_CANDIDATE_PAGE,
            offset=offset,
            order=order,
            properties=properties,
        )
        chosen += [p for p in page.products if _meets(p, area)]
        offset += _CANDIDATE_PAGE
        if offset >= page.total:
            break
    return chosen[:limit]


# The backends, importable from here; they import the interface above.
from tiler.catalog.memory import MemoryCatalog  # noqa: E402
from tiler.catalog.sqlite import SqliteCatalog, open_catalog  # noqa: E402
