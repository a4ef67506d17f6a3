"""The `named-files` layout: COGs (GeoTIFFs) whose names say what they are, one or several products
per folder, as data providers lay out their buckets: `Copernicus_DSM_COG_10_N00_00_E006_00_DEM.tif`,
`ESA_WorldCover_10m_2021_v200_N00E006_Map.tif`, `U2018_CLC2018_V2020_20u1_FR_GLP.tif`.

A collection with this layout gives a `file_pattern`: a regular expression over file names whose
named groups say what a file holds. `product` is the product's ID (files of one ID in one folder
make one product); `band` the band (needless for a collection of one band); `date` (YYYYMMDD or
YYYY-MM-DD) or `year` the time, else the collection's `datetime`, else the file's modification
time; `tile` the product's tile. Files of bands the collection does not have are left out.

Where a deployment's own collection file and a built-in one match the same file, its own wins. A
band whose collection gives no no-data value takes the file's own nodata tag, if it has one. A
product of such bands whose coarsest overview holds no data at all (every pixel NaN or the nodata
value: a DEM tile of voids) is reported and skipped.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import rasterio

from tiler.collections import Collection, Collections
from tiler.errors import ProductUnreadable
from tiler.products import BandAsset, Product
from tiler.sources.common import band_assets, make_product

LAYOUT = "named-files"
_CHECK_PIXELS = 256  # the longest side of the coarse read that tells whether a file holds any data


def _matches(collections: Collections, filenames: Iterable[str]) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """(collection id, product ID) -> [(band, file name)], each file claimed by the first collection
    whose pattern matches it with one of its bands (a deployment's own collections come first)."""
    found: dict[tuple[str, str], list[tuple[str, str]]] = {}
    candidates = [c for c in collections.with_layout(LAYOUT) if c.file_pattern is not None]
    for file_name in filenames:
        for collection in candidates:
            band = _band_of(collection, file_name)
            if band is not None:
                match = collection.file_pattern.match(file_name)  # type: ignore[union-attr]
                found.setdefault((collection.id, match["product"]), []).append((band, file_name))  # type: ignore[index]
                break
    return found


def _band_of(collection: Collection, file_name: str) -> str | None:
    match = collection.file_pattern.match(file_name) if collection.file_pattern else None
    if match is None:
        return None
    if "band" not in collection.file_pattern.groupindex:  # type: ignore[union-attr]
        return next(iter(collection.bands))
    return match["band"] if match["band"] in collection.bands else None


def detect(folder: Path, filenames: list[str], collections: Collections) -> list[tuple[Path, Path]] | None:
    """One candidate per product in the folder: its first file is both its target and the file whose
    change means the product changed."""
    products = _matches(collections, filenames)
    if not products:
        return None
    firsts = sorted(min(name for _, name in files) for files in products.values())
    return [(folder / name, folder / name) for name in firsts]


def _time(collection: Collection, match: re.Match[str], path: Path) -> datetime:
    groups = match.groupdict()
    if groups.get("date"):
        return datetime.strptime(groups["date"].replace("-", ""), "%Y%m%d").replace(tzinfo=UTC)
    if groups.get("year"):
        return datetime(int(groups["year"]), 1, 1, tzinfo=UTC)
    if collection.datetime is not None:
        return collection.datetime
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def _with_file_nodata(band: BandAsset) -> BandAsset:
    """A band without a no-data value of its collection's takes the file's nodata tag, if any."""
    if band.nodata is not None:
        return band
    with rasterio.open(band.path) as src:
        tag = src.nodata
    return band if tag is None or math.isnan(tag) else replace(band, nodata=float(tag))


def _check_has_data(product_id: str, band: BandAsset) -> None:
    """Refuse a file whose coarsest overview is nothing but NaN or its no-data value. Only for bands
    without a no-data value of their collection's: there the overviews average every pixel, while the
    mode overviews of a mostly empty class raster can hide a small island."""
    with rasterio.open(band.path) as src:
        step = max(1, math.ceil(max(src.width, src.height) / _CHECK_PIXELS))
        data = src.read(1, out_shape=(math.ceil(src.height / step), math.ceil(src.width / step)))
    valid = np.isfinite(data) if data.dtype.kind == "f" else np.ones(data.shape, dtype=bool)
    if band.nodata is not None:
        valid &= data != band.nodata
    if not valid.any():
        raise ProductUnreadable(f"{product_id}: {band.path.name} holds no data")


def parse(target: Path, root: Path, collections: Collections) -> Product:
    folder = target.parent
    products = _matches(collections, sorted(f.name for f in folder.iterdir() if f.is_file()))
    key = next((key for key, files in products.items() if target.name in (name for _, name in files)), None)
    if key is None:
        raise ProductUnreadable(f"{target.name} matches no collection's file_pattern")
    collection_id, product_id = key
    collection = collections[collection_id]
    files = [(band, collection.bands[band].resolution, folder / name) for band, name in products[key]]
    match = collection.file_pattern.match(target.name)  # type: ignore[union-attr]
    assert match is not None  # the file was matched above
    try:
        bands = {name: _with_file_nodata(band) for name, band in band_assets(collection, files, root).items()}
        for band in bands.values():
            if collection.bands[band.name].nodata is None:
                _check_has_data(product_id, band)
    except rasterio.errors.RasterioIOError as exc:
        raise ProductUnreadable(f"cannot open a file of {product_id}: {exc}") from exc
    return make_product(
        id=product_id,
        collection=collection.id,
        platform=collection.constellation or "unknown",
        datetime=_time(collection, match, target),
        cloud_cover=None,
        processing_level=collection.processing_level or "unknown",
        processing_baseline=None,
        tile=match.groupdict().get("tile"),
        footprint=None,
        bands=bands,
        path=target,  # a folder may hold several products: each is known by its first file
        root=root,
        aliases=(os.path.splitext(target.name)[0],) if os.path.splitext(target.name)[0] != product_id else (),
    )
