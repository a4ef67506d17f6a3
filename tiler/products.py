"""Products: what one acquisition is (its collection, time, footprint and band files), and the
references that name it (IDs, paths below a data root, `/eodata/...`).

Products are made by the parsers in `tiler.sources`, one per on-disk layout. Every file an indexed
product refers to has been checked to lie inside its data root (after resolving symlinks), so the
readers never see a path a request could have steered elsewhere.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote

import rasterio

from tiler.errors import UnsafeReference

EODATA_PREFIX = "/eodata/"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Calibration:
    """A Sentinel-1 calibration XML and the LUT of it that turns a band's DN into backscatter:
    value = DN² / A², A interpolated bilinearly over (line, pixel)."""

    path: str  # the calibration-*.xml, inside the product's data root
    lut: str  # sigmaNought, betaNought or gamma
    # The image size (lines, samples) the LUT's lines and pixels count in, when it differs from the
    # measurement file's (a downsampled archive copy); None: the file's own.
    image_size: tuple[int, int] | None = None


@dataclass(frozen=True)
class BandAsset:
    """One band of a product: its file and how its DN become physical values."""

    name: str
    path: Path
    resolution: float  # metres
    source_band: str  # the band actually stored in the file (differs for a substitute)
    is_class: bool = False  # class codes: never interpolated, never scaled
    scale: float = 1.0  # physical = DN * scale + offset
    offset: float = 0.0
    nodata: float | None = None  # the DN that means "no data"
    minimum: float | None = None  # physical values below are clamped to it
    squared: bool = False  # amplitude DN: physical = DN² * scale + offset (SAR intensity)
    calibration: Calibration | None = None  # replaces scale and offset of a squared band when given
    # Codes of an older format, rebuilt bit by bit: (mask, value, bit) sets the bit where
    # DN & mask == value (tiler.collections.Band.bit_remap).
    bit_remap: tuple[tuple[int, int, int], ...] = ()
    # (K1, K2) of a thermal band: physical = K2 / ln(K1 / radiance + 1), the brightness temperature
    # of the radiance DN * scale + offset.
    thermal: tuple[float, float] | None = None


@dataclass(frozen=True)
class Product:
    id: str
    collection: str  # a collection id (tiler.collections)
    platform: str
    datetime: datetime
    cloud_cover: float | None
    processing_level: str
    processing_baseline: str | None
    tile: str | None
    footprint: dict | None  # GeoJSON polygon, lon/lat
    crs: rasterio.crs.CRS
    bounds: tuple[float, float, float, float]  # native CRS
    bounds_wgs84: tuple[float, float, float, float]
    bands: dict[str, BandAsset]
    path: Path  # the product folder (its first file where a folder holds several products)
    root: Path
    aliases: tuple[str, ...] = field(default=())
    # Collection-specific metadata under STAC names (`sat:orbit_state`, `sar:polarizations`...);
    # the catalog filters on the scalar ones (Catalog.search's `properties`).
    properties: dict[str, object] = field(default_factory=dict)

    @property
    def finest_band(self) -> BandAsset:
        return min(self.bands.values(), key=lambda b: (b.resolution, b.name))

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "collection": self.collection,
            "platform": self.platform,
            "datetime": self.datetime.isoformat().replace("+00:00", "Z"),
            "cloud_cover": self.cloud_cover,
            "processing_level": self.processing_level,
            "processing_baseline": self.processing_baseline,
            "tile": self.tile,
            "crs": self.crs.to_string(),
            "bounds": list(self.bounds_wgs84),
            "footprint": self.footprint,
            "bands": {
                name: {"resolution": band.resolution}
                | ({"substitute_for": name, "source": band.source_band} if band.source_band != name else {})
                for name, band in sorted(self.bands.items())
            },
            "properties": self.properties,
        }


# ---------------------------------------------------------------------------------------------
# References


def _has_gdal_prefix(text: str) -> bool:
    lowered = text.lower()
    return (
        lowered.startswith("vsi")
        or "/vsi" in lowered
        or "://" in lowered
        or lowered.startswith(("http:", "https:", "ftp:", "file:", "s3:", "gs:", "zip:", "tar:"))
    )


def check_reference(reference: str) -> str:
    """Refuse references that could only be attempts to leave the data roots; return it cleaned.

    Requests arrive URL-decoded once; anything still percent-encoded is decoded again so that a
    double-encoded `..` is seen for what it is.
    """
    text = reference.strip()
    for _ in range(3):
        decoded = unquote(text)
        if decoded == text:
            break
        text = decoded
    if not text:
        raise UnsafeReference("empty product reference")
    if _CONTROL.search(text):
        raise UnsafeReference("product reference contains control characters")
    if "\\" in text:
        raise UnsafeReference("product reference contains a backslash")
    if _has_gdal_prefix(text):
        raise UnsafeReference("product reference must be an ID or a path below a data root, not a URL or GDAL path")
    if any(part == ".." for part in text.split("/")):
        raise UnsafeReference("product reference must not contain '..'")
    return text.rstrip("/")


def is_inside(path: Path, root: Path) -> bool:
    """True when `path`, symlinks resolved, lies inside `root` (also resolved)."""
    real, real_root = os.path.realpath(path), os.path.realpath(root)
    return os.path.commonpath([real, real_root]) == real_root


def product_keys(product: Product) -> tuple[str, ...]:
    """Every string a product is known by: ID, aliases, path below its root, real path."""
    real = os.path.realpath(product.path)
    relative = Path(real).relative_to(product.root).as_posix()
    return tuple(dict.fromkeys((product.id, *product.aliases, relative, real)))


def reference_keys(reference: str, roots: Iterable[Path]) -> tuple[str, ...]:
    """The keys a reference may match in `product_keys`, after refusing unsafe references."""
    text = check_reference(reference)
    if text.startswith(EODATA_PREFIX):
        text = text[len(EODATA_PREFIX) :]
    elif text.startswith("/"):
        real = os.path.realpath(text)
        if not any(os.path.commonpath([real, str(root)]) == str(root) for root in roots):
            raise UnsafeReference("absolute paths must lie inside a data root")
        text = real
    return tuple(dict.fromkeys((text, text.removesuffix(".SAFE"))))
