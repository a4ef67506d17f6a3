"""What the layout parsers share: metadata helpers, band assets from a collection's band table, and
the product's grid read from its rasters."""

from __future__ import annotations

import logging
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import rasterio
from rasterio.warp import transform_bounds

from tiler.collections import Band, Collection, Collections
from tiler.errors import ProductUnreadable
from tiler.products import BandAsset, Product, is_inside

log = logging.getLogger(__name__)


def local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def find_all(root: ET.Element, name: str) -> Iterator[ET.Element]:
    """Elements named `name` anywhere, whatever their namespace (ESA's change per baseline)."""
    return (el for el in root.iter() if local_name(el.tag) == name)


def find_text(root: ET.Element, name: str) -> str | None:
    for el in find_all(root, name):
        if el.text and el.text.strip():
            return el.text.strip()
    return None


def parse_time(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def collection_of(collections: Collections, layout: str, *names: str, product_type: str | None = None) -> Collection:
    """The collection a product belongs to: by its product type code, else by the patterns its
    names (ID, folder name) contain, among the collections this layout produces."""
    candidates = collections.with_layout(layout)
    if product_type:
        for collection in candidates:
            if product_type in collection.product_types:
                return collection
    for collection in candidates:
        if any(collection.matches_name(name) for name in names if name):
            return collection
    raise ProductUnreadable(f"no collection of the {layout} layout matches {', '.join(n for n in names if n)}")


def band_assets(
    collection: Collection,
    files: Iterable[tuple[str, float, Path]],
    root: Path,
    conversions: Mapping[str, tuple[float, float]] | None = None,
) -> dict[str, BandAsset]:
    """The finest file of each band (`(band, resolution, path)`), with the band's DN conversion
    (the collection's, or `conversions[band] = (scale, offset)` from the product's metadata), and
    the collection's substitutes for bands the product lacks."""
    conversions = conversions or {}
    bands: dict[str, BandAsset] = {}
    for name, resolution, path in files:
        band = collection.bands.get(name)
        if band is None:
            continue
        if not is_inside(path, root):
            log.warning("skipping %s: it resolves outside its data root", path)
            continue
        if name not in bands or resolution < bands[name].resolution:
            bands[name] = _asset(band, Path(os.path.realpath(path)), resolution, name, conversions)
    for band in collection.bands.values():
        if band.name not in bands and band.substitute in bands:
            source = bands[band.substitute]
            bands[band.name] = _asset(band, source.path, source.resolution, source.source_band, conversions)
    return bands


def _asset(band: Band, path: Path, resolution: float, source: str, conversions: Mapping) -> BandAsset:
    scale, offset = conversions.get(source, (band.scale, band.offset))
    return BandAsset(
        name=band.name,
        path=path,
        resolution=resolution,
        source_band=source,
        is_class=band.is_class,
        scale=1.0 if band.is_class else scale,
        offset=0.0 if band.is_class else offset,
        nodata=band.nodata,
        minimum=band.minimum,
        squared=band.squared,
    )


# Metres per degree of latitude (the mean over the globe; the exact value varies by 1 %).
_METRES_PER_DEGREE = 111_320.0


def _grid(band: BandAsset) -> tuple[rasterio.crs.CRS, tuple[float, float, float, float], float]:
    """CRS, bounds and pixel size (metres) of a band file, read from its header. A geographic file's
    pixel size is its height: its width in metres shrinks towards the poles (the Copernicus DEM's
    columns thin out to make up for it)."""
    try:
        with rasterio.open(band.path) as src:
            if src.crs is None:
                raise ProductUnreadable(f"{band.path.name} has no CRS")
            size = src.res[1] * _METRES_PER_DEGREE if src.crs.is_geographic else src.res[0]
            return src.crs, tuple(src.bounds), size
    except rasterio.errors.RasterioIOError as exc:
        raise ProductUnreadable(f"cannot open {band.path.name}: {exc}") from exc


def make_product(**fields) -> Product:
    """A Product whose grid (CRS, bounds) and band resolutions come from the rasters themselves:
    metadata can describe files an archive copy no longer holds, or at another resolution (the
    downsampled COG samples)."""
    bands: dict[str, BandAsset] = fields["bands"]
    if not bands:
        raise ProductUnreadable(f"{fields['id']} has no band files")
    finest = min(bands.values(), key=lambda b: (b.resolution, b.name))
    crs, bounds, pixel_size = _grid(finest)
    scale = pixel_size / finest.resolution
    if abs(scale - 1) > 0.01:
        fields["bands"] = {name: replace(b, resolution=b.resolution * scale) for name, b in bands.items()}
    bounds_wgs84 = tuple(transform_bounds(crs, "EPSG:4326", *bounds, densify_pts=21))
    return Product(crs=crs, bounds=bounds, bounds_wgs84=bounds_wgs84, **fields)
