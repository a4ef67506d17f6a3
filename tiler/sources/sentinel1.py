"""What the two Sentinel-1 GRD layouts (`sentinel-1-safe`, `sentinel-s1-l1c`) share: product names,
measurement files and their polarisations, the geometry the GCPs give, calibration XMLs, and the
product they make.

Both layouts keep the same files under different names: `measurement/<stem>.tiff`, its
`annotation/<stem>.xml` and `annotation/calibration/calibration-<stem>.xml`, where the stem is
`s1a-iw-grd-vv-<start>-<stop>-<orbit>-<datatake>-001` in a SAFE and `iw-vv` in the AWS layout.

The measurement TIFFs have no geotransform: GCPs in EPSG:4326 place them. The product's bounds,
footprint and pixel size come from those GCPs, and, where no metadata says it, the orbit direction:
lines run in time order, so latitude falls along them on a descending pass.
"""

from __future__ import annotations

import logging
import math
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import rasterio
from pyproj import Geod
from rasterio.crs import CRS
from shapely.geometry import MultiPoint

from tiler.collections import Collection
from tiler.errors import ProductUnreadable
from tiler.products import Calibration, Product, is_inside
from tiler.reading.calibration import read_lut  # a broken LUT is reported at indexing, not per request
from tiler.sources.common import band_assets, find_text

log = logging.getLogger(__name__)

WGS84 = CRS.from_epsg(4326)
POLARISATIONS = ("VV", "VH", "HH", "HV")
# The polarisation code of a product name and what it holds.
POLARISATION_CODES = {
    "SV": ("VV",),
    "SH": ("HH",),
    "DV": ("VV", "VH"),
    "DH": ("HH", "HV"),
    "VV": ("VV",),
    "HH": ("HH",),
    "VH": ("VH",),
    "HV": ("HV",),
}
NAME = re.compile(
    r"^(?P<mission>S1[A-D])_(?P<mode>IW|EW|S[1-6])_(?P<type>GRD)(?P<resolution>[FHM])_1[SA](?P<pol>SH|SV|DH|DV|HH|VV|HV|VH)"
    r"_(?P<start>\d{8}T\d{6})_\d{8}T\d{6}_(?P<orbit>\d{6})_[0-9A-F]{6}_[0-9A-F]{4}$"
)
# Relative orbit = (absolute - offset) mod 175 + 1 (ESA's repeat cycle of 175 orbits); missions
# without a known offset get theirs from the manifest only.
_ORBIT_OFFSETS = {"S1A": 73, "S1B": 27}
_GEOD = Geod(ellps="WGS84")


@dataclass(frozen=True)
class Measurement:
    polarisation: str
    path: Path
    annotation: Path | None  # annotation/<stem>.xml, when present
    calibration: Path | None  # annotation/calibration/calibration-<stem>.xml, when present


def measurements(product: Path, root: Path) -> list[Measurement]:
    """The measurement TIFFs inside the product folder (and its data root), one per polarisation."""
    found: dict[str, Measurement] = {}
    folder = product / "measurement"
    for path in sorted(folder.glob("*.tif*")) if folder.is_dir() else []:
        tokens = {token.upper() for token in path.stem.split("-")}
        polarisation = next((p for p in POLARISATIONS if p in tokens), None)
        if polarisation is None or polarisation in found or not is_inside(path, root):
            continue
        annotation = product / "annotation" / f"{path.stem}.xml"
        calibration = product / "annotation" / "calibration" / f"calibration-{path.stem}.xml"
        found[polarisation] = Measurement(
            polarisation,
            path,
            annotation if annotation.is_file() and is_inside(annotation, root) else None,
            calibration if calibration.is_file() and is_inside(calibration, root) else None,
        )
    return [found[p] for p in POLARISATIONS if p in found]


@dataclass(frozen=True)
class Geometry:
    """Where a measurement file lies, from its GCPs."""

    footprint: dict  # GeoJSON polygon: the GCPs' convex hull
    bounds: tuple[float, float, float, float]  # lon/lat
    pixel_size: float  # metres between pixel centres along a line (ground range)
    orbit_state: str  # ascending | descending, from the latitudes along the lines
    size: tuple[int, int]  # lines, samples
    ipf: str | None  # the processor's version from the TIFF's software tag ("Sentinel-1 IPF 002.91")


def gcp_geometry(path: Path) -> Geometry:
    try:
        with rasterio.open(path) as src:
            gcps, crs = src.gcps
            size = (src.height, src.width)
            software = src.tags().get("TIFFTAG_SOFTWARE", "")
    except rasterio.errors.RasterioIOError as exc:
        raise ProductUnreadable(f"cannot open {path.name}: {exc}") from exc
    if len(gcps) < 3 or crs is None:
        raise ProductUnreadable(f"{path.name} has no GCPs to place it (GRD measurement files are placed by GCPs)")
    lon = np.array([g.x for g in gcps])
    lat = np.array([g.y for g in gcps])
    if crs != WGS84:
        lon, lat = (np.asarray(v) for v in rasterio.warp.transform(crs, WGS84, lon.tolist(), lat.tolist()))
    rows = np.array([g.row for g in gcps])
    cols = np.array([g.col for g in gcps])
    # Within a metre of the hull: the points along its straight edges add nothing.
    hull = MultiPoint(np.column_stack([lon, lat])).convex_hull.simplify(1e-5)
    if hull.geom_type != "Polygon":
        raise ProductUnreadable(f"the GCPs of {path.name} do not span an area")
    return Geometry(
        footprint={"type": "Polygon", "coordinates": [[[x, y] for x, y in hull.exterior.coords]]},
        bounds=hull.bounds,
        pixel_size=_pixel_size(rows, cols, lon, lat),
        orbit_state=_orbit_state(rows, lat),
        size=size,
        ipf=software.rsplit(" ", 1)[-1] if software.startswith("Sentinel-1 IPF ") else None,
    )


def _pixel_size(rows: np.ndarray, cols: np.ndarray, lon: np.ndarray, lat: np.ndarray) -> float:
    """Ground distance per pixel between neighbouring GCPs of the first line."""
    first = np.flatnonzero(np.isclose(rows, rows.min()))
    first = first[np.argsort(cols[first])]
    if len(first) < 2:
        raise ProductUnreadable("the GCPs do not form lines")
    _, _, metres = _GEOD.inv(lon[first[:-1]], lat[first[:-1]], lon[first[1:]], lat[first[1:]])
    return float(np.sum(metres) / (cols[first[-1]] - cols[first[0]]))


def _orbit_state(rows: np.ndarray, lat: np.ndarray) -> str:
    first = lat[np.isclose(rows, rows.min())].mean()
    last = lat[np.isclose(rows, rows.max())].mean()
    return "descending" if last < first else "ascending"


def relative_orbit(mission: str, absolute: int | None) -> int | None:
    offset = _ORBIT_OFFSETS.get(mission)
    if absolute is None or offset is None:
        return None
    return (absolute - offset) % 175 + 1


def _annotation_root(annotation: Path) -> ET.Element:
    try:
        return ET.parse(annotation).getroot()
    except ET.ParseError as exc:
        raise ProductUnreadable(f"{annotation.name} is not valid XML: {exc}") from exc


def _image_size(annotation: Path | None) -> tuple[int, int] | None:
    """(lines, samples) of the image the annotation describes, which its LUTs count in."""
    if annotation is None:
        return None
    root = _annotation_root(annotation)
    lines, samples = find_text(root, "numberOfLines"), find_text(root, "numberOfSamples")
    return (int(lines), int(samples)) if lines and samples and lines.isdigit() and samples.isdigit() else None


def annotated_pass(found: list[Measurement]) -> str | None:
    """The orbit direction an annotation XML states (`<pass>Descending</pass>`), if any."""
    for measurement in found:
        if measurement.annotation is not None:
            text = find_text(_annotation_root(measurement.annotation), "pass")
            if text and text.lower() in ("ascending", "descending"):
                return text.lower()
    return None


@dataclass(frozen=True)
class Identity:
    """What the layout's metadata says of a product."""

    id: str
    mission: str  # S1A
    mode: str  # IW, EW, or the SM beam S1..S6
    polarisation_code: str  # DV, SH...
    start: datetime
    absolute_orbit: int | None
    relative_orbit: int | None
    orbit_state: str | None  # from the metadata; None: from the GCPs
    resolution_class: str | None  # F, H, M
    ipf: str | None  # the processor's version, e.g. 002.91


def identity_from_name(name: str) -> Mapping[str, str]:
    """The parts of a product name (mission, mode, resolution, pol, start, orbit); {} for another name."""
    match = NAME.match(name)
    return match.groupdict() if match else {}


def name_time(text: str) -> datetime:
    """A product name's `20180716T004042`, in UTC."""
    return datetime.strptime(text, "%Y%m%dT%H%M%S").replace(tzinfo=UTC)


def make_product(
    identity: Identity,
    collection: Collection,
    found: list[Measurement],
    folder: Path,
    root: Path,
    aliases: tuple[str, ...] = (),
) -> Product:
    """The product of these measurement files: bands (calibrated when every one of them has its
    calibration XML, so that all bands show one quantity), geometry from the GCPs, and metadata."""
    found = [m for m in found if m.polarisation in collection.bands]
    if not found:
        raise ProductUnreadable(f"{identity.id} has no measurement file of {', '.join(collection.bands)}")
    declared = POLARISATION_CODES.get(identity.polarisation_code, ())
    lacking = [p for p in declared if p not in {m.polarisation for m in found}]
    if lacking:
        log.warning("%s: polarisation %s is declared but has no measurement file", identity.id, ", ".join(lacking))
    geometry = gcp_geometry(found[0].path)
    files = [(m.polarisation, geometry.pixel_size, m.path) for m in found]
    bands = band_assets(collection, files, root)
    # Calibrated only when every band is: all of a product's bands show one quantity.
    xmls = {
        m.polarisation: m.calibration for m in found if m.calibration and collection.bands[m.polarisation].calibration
    }
    calibrated = len(xmls) == len(found)
    lut = collection.bands[found[0].polarisation].calibration
    for m in found if calibrated else ():
        read_lut(os.path.realpath(xmls[m.polarisation]), collection.bands[m.polarisation].calibration or "")
        size = _image_size(m.annotation)
        calibration = Calibration(
            os.path.realpath(xmls[m.polarisation]),
            collection.bands[m.polarisation].calibration or "",
            None if size == geometry.size else size,
        )
        bands[m.polarisation] = replace(bands[m.polarisation], calibration=calibration)
    band = collection.bands[found[0].polarisation]
    mode = "SM" if identity.mode.startswith("S") else identity.mode
    properties: dict[str, object] = {
        "sar:instrument_mode": mode,
        "sar:product_type": "GRD",
        "sar:polarizations": [m.polarisation for m in found],
        "sat:orbit_state": identity.orbit_state or annotated_pass(found) or geometry.orbit_state,
        "sat:absolute_orbit": identity.absolute_orbit,
        "sat:relative_orbit": identity.relative_orbit,
        "s1:calibration": _LUT_QUANTITIES.get(lut or "", lut) if calibrated else "none",
        "s1:values": _values_text(calibrated, lut, band.scale),
    }
    if identity.mode.startswith("S"):
        properties["s1:beam"] = identity.mode
    if identity.resolution_class:
        properties["s1:resolution"] = identity.resolution_class
    west, south, east, north = geometry.bounds
    return Product(
        id=identity.id,
        collection=collection.id,
        platform=f"sentinel-{identity.mission[1:].lower()}",
        datetime=identity.start,
        cloud_cover=None,
        processing_level=collection.processing_level or "Level-1",
        processing_baseline=identity.ipf or geometry.ipf,
        tile=None,
        footprint=geometry.footprint,
        crs=WGS84,
        bounds=(west, south, east, north),
        bounds_wgs84=(west, south, east, north),
        bands=bands,
        path=folder,
        root=root,
        aliases=aliases,
        properties={k: v for k, v in properties.items() if v is not None},
    )


_LUT_QUANTITIES = {"gamma": "gamma0", "sigmaNought": "sigma0", "betaNought": "beta0"}


def _values_text(calibrated: bool, lut: str | None, scale: float) -> str:
    if calibrated and lut:
        return f"{_LUT_QUANTITIES.get(lut, lut)} in linear power, calibrated with the product's calibration XML"
    amplitude = 1 / math.sqrt(scale)
    return (
        f"uncalibrated intensity DN² / {amplitude:.0f}² (a fixed display scaling, not gamma0): "
        "the product has no calibration XML"
    )
