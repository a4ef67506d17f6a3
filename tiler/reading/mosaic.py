"""Mosaics: every product of a collection, time range and cloud-cover limit, stitched over any
output grid (an XYZ tile, a WMS GetMap box, a preview) in Sentinel Hub's mosaicking order.

    query = parse_mosaic_query(request.query_params)
    products = select_products(catalog, query, bbox_wgs84, settings.max_mosaic_products)
    stack = read_mosaic(products, bands, bounds, crs, width, height, gdal_options=..., cloudmask=query.cloudmask)

Each output pixel comes from the first product, in priority order, with valid data there (and,
with `cloudmask`, no cloud or cloud shadow in its SCL). Products are read through
`tiler.reading.read_part`, which warps any product onto the output grid, so products in
different UTM zones land on one tile without seams.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from rasterio.crs import CRS
from shapely.geometry import box, shape

from tiler.api.catalog import parse_collection, parse_interval, parse_max_cloud
from tiler.catalog.sqlite import ORDERS, BBox, Catalog
from tiler.errors import InvalidParameter, NotFound, ProductUnreadable
from tiler.pipeline.limits import Deadline
from tiler.products import S2_BANDS, Product
from tiler.reading.bands import BandStack, read_part
from tiler.reading.datasets import DatasetPool

log = logging.getLogger(__name__)

DEFAULT_COLLECTION = "sentinel-2-l2a"
DEFAULT_PRIORITY = "mostRecent"
# SCL classes a cloud mask removes: cloud shadow, cloud medium and high probability, thin cirrus.
CLOUD_CLASSES = (3, 8, 9, 10)
# The bands a layer or expression may use in a mosaic of each collection.
COLLECTION_BANDS = {
    "sentinel-2-l2a": frozenset(S2_BANDS) - {"B10"} | {"SCL"},
    "sentinel-2-l1c": frozenset(S2_BANDS),
}
# Pages of candidates fetched from the catalog while looking for footprints that really meet the area.
_CANDIDATE_PAGE = 64


@dataclass(frozen=True)
class MosaicQuery:
    collection: str
    start: datetime | None  # None: no limit
    end: datetime | None
    max_cloud: float | None  # percent; None: no limit (also admits products without a value)
    priority: str  # one of catalog.ORDERS
    cloudmask: bool

    @property
    def cache_token(self) -> str:
        return (
            f"{self.collection}|{self.start and self.start.isoformat()}|{self.end and self.end.isoformat()}"
            f"|{self.max_cloud}|{self.priority}|{self.cloudmask}"
        )


def is_mosaic_request(query: Mapping[str, str]) -> bool:
    """A request without `product=` but with `collection=` or `time=` asks for a mosaic."""
    return not query.get("product") and bool(query.get("collection") or query.get("time"))


def _boolean(raw: str | None, name: str) -> bool:
    if raw is None or raw == "":
        return False
    value = raw.lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    raise InvalidParameter(f"{name} must be true or false, not '{raw[:20]}'")


def parse_mosaic_query(query: Mapping[str, str]) -> MosaicQuery:
    """`collection`, `time` (`start/end`, reduced precision allowed), `maxcc` (0..100), `priority`
    (mostRecent, leastRecent, leastCC) and `cloudmask` (true/false)."""
    collection = parse_collection(query.get("collection")) or DEFAULT_COLLECTION
    start, end = parse_interval(query.get("time"), "time")
    priority = query.get("priority") or DEFAULT_PRIORITY
    if priority not in ORDERS:
        raise InvalidParameter(f"priority '{priority[:40]}' is unknown; use one of {', '.join(ORDERS)}")
    cloudmask = _boolean(query.get("cloudmask"), "cloudmask")
    if cloudmask and "SCL" not in COLLECTION_BANDS[collection]:
        raise InvalidParameter(
            f"cloudmask needs the scene classification (SCL) of L2A products, which {collection} lacks; "
            "use maxcc to limit cloud cover"
        )
    return MosaicQuery(collection, start, end, parse_max_cloud(query.get("maxcc"), "maxcc"), priority, cloudmask)


def _meets(product: Product, area) -> bool:
    if not product.footprint:
        return box(*product.bounds_wgs84).intersects(area)
    try:
        return shape(product.footprint).intersects(area)
    except (ValueError, TypeError, KeyError, AttributeError):
        return True  # the catalog's bounding-box test already passed; let the read decide


def select_products(catalog: Catalog, query: MosaicQuery, bbox_wgs84: BBox, limit: int) -> list[Product]:
    """The first `limit` products, in priority order, whose footprint meets `bbox_wgs84`. Beyond
    `limit` products are left out: pixels only they would fill stay empty."""
    area = box(*bbox_wgs84)
    chosen: list[Product] = []
    offset = 0
    while len(chosen) < limit:
        page = catalog.search(
            bbox_wgs84, query.start, query.end, query.max_cloud, query.collection,
            limit=_CANDIDATE_PAGE, offset=offset, order=query.priority,
        )  # fmt: skip
        chosen += [p for p in page.products if _meets(p, area)]
        offset += _CANDIDATE_PAGE
        if offset >= page.total:
            break
    return chosen[:limit]


def read_mosaic(
    products: Iterable[Product],
    band_names: Iterable[str],
    bounds: tuple[float, float, float, float],
    crs: CRS,
    width: int,
    height: int,
    *,
    gdal_options: Mapping[str, str | int],
    cloudmask: bool = False,
    deadline: Deadline | None = None,
    resampling: str = "nearest",
    datasets: DatasetPool | None = None,
) -> BandStack:
    """Composite `band_names` of `products` (in priority order) onto one grid: first valid pixel
    wins. Stops reading as soon as every pixel is filled. With `cloudmask`, SCL classes 3, 8, 9
    and 10 count as invalid in products that have an SCL. Products lacking a band, or whose files
    cannot be read, are logged and skipped, so one broken product does not blank a whole area.
    `deadline` is checked before each band read (see tiler.limits); `datasets` keeps files open."""
    names = sorted(set(band_names))
    arrays = {name: np.zeros((height, width), dtype=np.float32) for name in names}
    filled = np.zeros((height, width), dtype=bool)
    for product in products:
        masked = cloudmask and "SCL" in product.bands
        try:
            stack = read_part(
                product, [*names, "SCL"] if masked else names, bounds, crs, width, height,
                gdal_options=gdal_options, deadline=deadline, resampling=resampling, datasets=datasets,
            )  # fmt: skip
        except (NotFound, ProductUnreadable) as exc:
            log.error("mosaic: skipping product %s: %s", product.id, exc)
            continue
        take = stack.valid & ~filled
        if masked:
            take &= ~np.isin(stack.arrays["SCL"], CLOUD_CLASSES)
        for name in names:
            arrays[name][take] = stack.arrays[name][take]
        filled |= take
        if filled.all():
            break
    return BandStack(arrays, filled)
