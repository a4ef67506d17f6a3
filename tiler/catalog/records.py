"""Products as catalog records: the JSON every backend stores, and the bounding box it indexes."""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from rasterio.crs import CRS
from shapely.geometry import shape

from tiler.products import BandAsset, Product

log = logging.getLogger(__name__)

# Bumped whenever the record's form changes: a backend holding older records rebuilds them.
RECORD_FORMAT = "2"

BBox = tuple[float, float, float, float]


def product_to_json(product: Product) -> str:
    return json.dumps(
        {
            "id": product.id,
            "collection": product.collection,
            "platform": product.platform,
            "datetime": product.datetime.isoformat(),
            "cloud_cover": product.cloud_cover,
            "processing_level": product.processing_level,
            "processing_baseline": product.processing_baseline,
            "tile": product.tile,
            "footprint": product.footprint,
            "crs": product.crs.to_string(),
            "bounds": product.bounds,
            "bounds_wgs84": product.bounds_wgs84,
            "bands": {name: asdict(band) | {"path": str(band.path)} for name, band in product.bands.items()},
            "path": str(product.path),
            "root": str(product.root),
            "aliases": product.aliases,
        }
    )


@functools.lru_cache(maxsize=4096)
def product_from_json(text: str) -> Product:
    # Cached by the record's text: a changed product has another text, so nothing goes stale.
    d = json.loads(text)
    return Product(
        id=d["id"],
        collection=d["collection"],
        platform=d["platform"],
        datetime=datetime.fromisoformat(d["datetime"]),
        cloud_cover=d["cloud_cover"],
        processing_level=d["processing_level"],
        processing_baseline=d["processing_baseline"],
        tile=d["tile"],
        footprint=d["footprint"],
        crs=CRS.from_user_input(d["crs"]),
        bounds=tuple(d["bounds"]),
        bounds_wgs84=tuple(d["bounds_wgs84"]),
        bands={name: _band_asset(band) for name, band in d["bands"].items()},
        path=Path(d["path"]),
        root=Path(d["root"]),
        aliases=tuple(d["aliases"]),
    )


def _band_asset(d: dict) -> BandAsset:
    # JSON has lists where the dataclass holds tuples.
    thermal = d.get("thermal")
    return BandAsset(
        **d
        | {
            "path": Path(d["path"]),
            "bit_remap": tuple(tuple(entry) for entry in d.get("bit_remap", ())),
            "thermal": tuple(thermal) if thermal is not None else None,
        }
    )


def footprint_bbox(product: Product) -> BBox:
    """Bounding box of the footprint (of the raster bounds when there is none), for spatial indexes."""
    west, south, east, north = product.bounds_wgs84
    if product.footprint:
        try:
            west, south, east, north = shape(product.footprint).bounds
        except (ValueError, TypeError, KeyError, AttributeError):
            log.warning("product %s has an unreadable footprint; using its raster bounds", product.id)
    if west > east:  # across the antimeridian: index it as spanning every longitude
        west, east = -180.0, 180.0
    return west, south, east, north
