"""The `usgs-landsat` layout: a folder of one Landsat product as USGS delivers it, band files named
`<product id>_<band>.TIF` (Level-2: `_SR_B1` ... `_SR_B7`, `_ST_B10`, `_QA_PIXEL`; Level-1: `_B1` ...
`_B11`, `_QA_PIXEL`, or `_BQA` in Collection 1) with the product's MTL (`_MTL.txt`, `.json` or
`.xml`) and, for Level-2, the USGS STAC items `_SR_stac.json` and `_ST_stac.json`.

The SR and ST items and the MTL make one product. The MTL is the authority for the time, the cloud
cover, the WRS path/row and the DN conversion; the items give the footprint (the MTL only has the
grid's corners), and stand in for the MTL where there is none. Item hrefs point at USGS's servers:
they are matched by file name only, nothing is fetched.

DN conversion:
- Level-2: reflectance and surface temperature from the MTL's LEVEL2_* groups, else the
  collection's values (fixed by USGS for every Level-2 product).
- Level-1: top-of-atmosphere reflectance = (REFLECTANCE_MULT * DN + REFLECTANCE_ADD) / sin(sun
  elevation), brightness temperature from RADIANCE_MULT/ADD and the K1/K2 constants. These differ
  per scene: a band whose MTL lacks them is left out, and a product left with no spectral band is
  not indexed.
- Collection 1's BQA is read into QA_PIXEL's bit positions (the collection's `bit_remap`).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

import pvl

from tiler.collections import Collection, Collections
from tiler.errors import ProductUnreadable
from tiler.products import BandAsset, Product
from tiler.sources.common import band_assets, collection_of, make_product, parse_time

LAYOUT = "usgs-landsat"
_PRODUCT_ID = (
    r"(?P<id>L(?P<sensor>[COTEM])(?P<mission>\d{2})_(?P<level>L1TP|L1GT|L1GS|L2SP|L2SR)"
    r"_(?P<path>\d{3})(?P<row>\d{3})_(?P<acquired>\d{8})_\d{8}_(?P<number>\d{2})_(?:T1|T2|RT))"
)
_FILE = re.compile(rf"^{_PRODUCT_ID}_(?P<suffix>[A-Za-z0-9_]+)\.(?P<ext>TIF|tif|TIFF|tiff|txt|json|xml)$")
# In the order they are read: the first that parses is the product's MTL.
_MTL_SUFFIXES = ("MTL.txt", "MTL.json", "MTL.xml")
_ITEM_SUFFIXES = ("SR_stac.json", "ST_stac.json")
_MAX_METADATA_BYTES = 2_000_000
_RASTERS = (".tif", ".tiff")

# Where each MTL keeps what is read here (Collection 2 / Collection 1 group names).
_IDENTITY = ("PRODUCT_CONTENTS", "METADATA_FILE_INFO")
_ATTRIBUTES = ("IMAGE_ATTRIBUTES", "PRODUCT_METADATA")
_L2_REFLECTANCE = ("LEVEL2_SURFACE_REFLECTANCE_PARAMETERS",)
_L2_TEMPERATURE = ("LEVEL2_SURFACE_TEMPERATURE_PARAMETERS",)
_L1_RESCALING = ("LEVEL1_RADIOMETRIC_RESCALING", "RADIOMETRIC_RESCALING")
_L1_THERMAL = ("LEVEL1_THERMAL_CONSTANTS", "TIRS_THERMAL_CONSTANTS")
_CORNERS = ("UL", "UR", "LR", "LL")

log = logging.getLogger(__name__)

Mtl = Mapping[str, Mapping[str, str]]  # group -> key -> value, as text


def _metadata_files(filenames: list[str]) -> dict[str, dict[str, str]]:
    """Product id -> {suffix: file name} of the MTL and STAC files among `filenames`."""
    found: dict[str, dict[str, str]] = {}
    for name in filenames:
        match = _FILE.match(name)
        if match is not None:
            suffix = f"{match['suffix']}.{match['ext']}"
            if suffix in _MTL_SUFFIXES or suffix in _ITEM_SUFFIXES:
                found.setdefault(match["id"], {})[suffix] = name
    return found


def detect(folder: Path, filenames: list[str], collections: Collections) -> tuple[Path, Path] | None:
    products = _metadata_files(filenames)
    if not products:
        return None
    first = products[min(products)]
    metadata = next(first[s] for s in (*_MTL_SUFFIXES, *_ITEM_SUFFIXES) if s in first)
    return folder, folder / metadata


# ---------------------------------------------------------------------------------------------
# The MTL in its three forms


def _text(value: object) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _groups(top: Mapping) -> dict[str, dict[str, str]]:
    return {
        name: {key: _text(value) for key, value in group.items() if not isinstance(value, Mapping)}
        for name, group in top.items()
        if isinstance(group, Mapping)
    }


def read_mtl(path: Path) -> dict[str, dict[str, str]]:
    """An MTL (ODL text, JSON or XML) as groups of text values. Raises ProductUnreadable."""
    try:
        if path.stat().st_size > _MAX_METADATA_BYTES:
            raise ProductUnreadable(f"{path.name} is too large for an MTL")
        text = path.read_text()
        if path.suffix == ".json":
            document = json.loads(text)
            top = next(iter(document.values())) if isinstance(document, dict) and document else None
        elif path.suffix == ".xml":
            root = ET.fromstring(text)
            top = {group.tag: {el.tag: (el.text or "").strip() for el in group} for group in root if len(group)}
        else:
            document = pvl.loads(text)  # ODL, as USGS writes it
            top = next((value for _, value in document.items() if isinstance(value, Mapping)), None)
    except ProductUnreadable:
        raise
    except (OSError, ValueError, UnicodeDecodeError, ET.ParseError, pvl.exceptions.ParseError) as exc:
        raise ProductUnreadable(f"{path.name} is not a readable MTL: {exc}") from exc
    if not isinstance(top, Mapping):
        raise ProductUnreadable(f"{path.name} is not a readable MTL: no metadata group")
    groups = _groups(top)
    if not groups:
        raise ProductUnreadable(f"{path.name} is not a readable MTL: no metadata group")
    return groups


def _get(mtl: Mtl, groups: tuple[str, ...], key: str) -> str | None:
    for group in groups:
        value = mtl.get(group, {}).get(key)
        if value not in (None, ""):
            return value
    return None


def _number(mtl: Mtl, groups: tuple[str, ...], key: str) -> float | None:
    value = _get(mtl, groups, key)
    try:
        number = float(value) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and math.isfinite(number) else None


# ---------------------------------------------------------------------------------------------
# DN conversions


def _level2_conversions(mtl: Mtl, collection: Collection, product_id: str) -> dict[str, tuple[float, float]]:
    conversions = {}
    for band in collection.bands.values():
        if band.is_class or band.band_index is None:
            continue
        if band.kind == "reflectance":
            groups, mult, add = _L2_REFLECTANCE, "REFLECTANCE_MULT_BAND_{}", "REFLECTANCE_ADD_BAND_{}"
        else:
            groups, mult, add = _L2_TEMPERATURE, "TEMPERATURE_MULT_BAND_ST_B{}", "TEMPERATURE_ADD_BAND_ST_B{}"
        scale = _number(mtl, groups, mult.format(band.band_index))
        offset = _number(mtl, groups, add.format(band.band_index))
        if scale and offset is not None:
            conversions[band.name] = (scale, offset)
        elif mtl:
            log.warning("%s: its MTL gives no scale and offset for %s; the collection's apply", product_id, band.name)
    return conversions


def _level1_conversions(
    mtl: Mtl, collection: Collection, product_id: str
) -> tuple[dict[str, tuple[float, float]], dict[str, tuple[float, float]]]:
    """(scale, offset) per band, and (K1, K2) per thermal band; bands without them are absent."""
    elevation = _number(mtl, _ATTRIBUTES, "SUN_ELEVATION")
    conversions, thermal = {}, {}
    for band in collection.bands.values():
        if band.is_class or band.band_index is None:
            continue
        n = band.band_index
        if band.kind == "reflectance":
            mult = _number(mtl, _L1_RESCALING, f"REFLECTANCE_MULT_BAND_{n}")
            add = _number(mtl, _L1_RESCALING, f"REFLECTANCE_ADD_BAND_{n}")
            if mult and add is not None and elevation is not None and elevation > 0:
                sun = math.sin(math.radians(elevation))
                conversions[band.name] = (mult / sun, add / sun)
        else:
            mult = _number(mtl, _L1_RESCALING, f"RADIANCE_MULT_BAND_{n}")
            add = _number(mtl, _L1_RESCALING, f"RADIANCE_ADD_BAND_{n}")
            k1 = _number(mtl, _L1_THERMAL, f"K1_CONSTANT_BAND_{n}")
            k2 = _number(mtl, _L1_THERMAL, f"K2_CONSTANT_BAND_{n}")
            if mult and add is not None and k1 and k2:
                conversions[band.name] = (mult, add)
                thermal[band.name] = (k1, k2)
    return conversions, thermal


# ---------------------------------------------------------------------------------------------
# Products


def _read_item(path: Path) -> dict | None:
    try:
        if path.stat().st_size > _MAX_METADATA_BYTES:
            return None
        item = json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        log.warning("%s: unreadable STAC item, left out: %s", path.name, exc)
        return None
    return item if isinstance(item, dict) and item.get("type") == "Feature" else None


def _band_files(folder: Path, product_id: str, items: list[dict], collection: Collection) -> list:
    """(band, resolution, path) of the product's band files: the items' assets, matched by file
    name, and the files named after the product in the folder."""
    names = []
    for item in items:
        for asset in (item.get("assets") or {}).values():
            if isinstance(asset, dict) and isinstance(asset.get("href"), str):
                names.append(os.path.basename(urlparse(asset["href"]).path))
    names.extend(sorted(os.listdir(folder)))
    files = []
    for name in dict.fromkeys(names):
        match = _FILE.match(name)
        if match is None or match["id"] != product_id or f".{match['ext'].lower()}" not in _RASTERS:
            continue
        band = collection.band_for_stac_key(match["suffix"])
        if band is not None and (folder / name).is_file():
            files.append((band.name, band.resolution, folder / name))
    return files


def _footprint(items: list[dict], mtl: Mtl) -> dict | None:
    """The scene's outline from a STAC item, else the MTL's corner coordinates."""
    for item in items:
        geometry = item.get("geometry")
        if isinstance(geometry, dict) and geometry.get("type") in ("Polygon", "MultiPolygon"):
            return geometry
    ring = []
    for corner in _CORNERS:
        lat = _number(mtl, ("PROJECTION_ATTRIBUTES", "PRODUCT_METADATA"), f"CORNER_{corner}_LAT_PRODUCT")
        lon = _number(mtl, ("PROJECTION_ATTRIBUTES", "PRODUCT_METADATA"), f"CORNER_{corner}_LON_PRODUCT")
        if lat is None or lon is None:
            return None
        ring.append([lon, lat])
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def _acquired(mtl: Mtl, items: list[dict], name: re.Match) -> datetime:
    date = _get(mtl, _ATTRIBUTES, "DATE_ACQUIRED")
    time = _get(mtl, _ATTRIBUTES, "SCENE_CENTER_TIME")
    try:
        if date:
            return parse_time(f"{date}T{time.strip(chr(34))}" if time else date)
        for item in items:
            if (item.get("properties") or {}).get("datetime"):
                return parse_time(str(item["properties"]["datetime"]))
    except ValueError as exc:
        raise ProductUnreadable(f"{name['id']}: unreadable acquisition time: {exc}") from exc
    return datetime.strptime(name["acquired"], "%Y%m%d").replace(tzinfo=UTC)


def _property(items: list[dict], key: str) -> object:
    return next((item["properties"][key] for item in items if key in (item.get("properties") or {})), None)


def parse(folder: Path, root: Path, collections: Collections) -> Product:
    products = _metadata_files(sorted(os.listdir(folder)))
    if not products:
        raise ProductUnreadable(f"{folder.name} holds no Landsat MTL or STAC item")
    product_id = min(products)
    if len(products) > 1:
        log.warning("%s holds the files of %d products; only %s is indexed", folder, len(products), product_id)
    files = products[product_id]
    name = _FILE.match(next(iter(files.values())))
    assert name is not None  # _metadata_files only keeps matching names
    mtl: Mtl = {}
    for suffix in _MTL_SUFFIXES:
        if suffix in files:
            try:
                mtl = read_mtl(folder / files[suffix])
                break
            except ProductUnreadable as exc:
                log.warning("%s", exc)
    if not mtl and not any(s in files for s in _ITEM_SUFFIXES):
        raise ProductUnreadable(f"{product_id}: none of its MTL files is readable")
    described = _get(mtl, _IDENTITY, "LANDSAT_PRODUCT_ID")
    if described is not None and described != product_id:
        raise ProductUnreadable(f"{product_id}: its MTL describes another product, {described}")
    items = [item for s in _ITEM_SUFFIXES if s in files and (item := _read_item(folder / files[s])) is not None]

    collection = collection_of(collections, LAYOUT, product_id, product_type=name["level"])
    level2 = name["level"].startswith("L2")
    bands = _bands(folder, root, product_id, items, collection, mtl, level2, collection_1=name["number"] == "01")
    if not any(not b.is_class for b in bands.values()):
        raise ProductUnreadable(f"{product_id} has no spectral band that can be converted to physical values")

    cloud = _number(mtl, _ATTRIBUTES, "CLOUD_COVER")
    if cloud is None and isinstance(_property(items, "eo:cloud_cover"), int | float):
        cloud = float(_property(items, "eo:cloud_cover"))  # type: ignore[arg-type]
    path = _number(mtl, _ATTRIBUTES, "WRS_PATH") or float(name["path"])
    row = _number(mtl, _ATTRIBUTES, "WRS_ROW") or float(name["row"])
    spacecraft = _get(mtl, _ATTRIBUTES, "SPACECRAFT_ID") or str(_property(items, "eo:platform") or "")
    scene_id = _get(mtl, _IDENTITY, "LANDSAT_SCENE_ID") or _property(items, "landsat:scene_id")
    return make_product(
        id=product_id,
        collection=collection.id,
        platform=spacecraft.lower().replace("_", "-") or f"landsat-{int(name['mission'])}",
        datetime=_acquired(mtl, items, name),
        cloud_cover=cloud if cloud is not None and cloud >= 0 else None,  # USGS writes -1 for "unknown"
        processing_level=name["level"],
        processing_baseline=None,
        tile=f"{int(path):03d}{int(row):03d}",
        footprint=_footprint(items, mtl),
        bands=bands,
        path=folder,
        root=root,
        aliases=(str(scene_id),) if scene_id else (),
    )


def _bands(
    folder: Path,
    root: Path,
    product_id: str,
    items: list[dict],
    collection: Collection,
    mtl: Mtl,
    level2: bool,
    *,
    collection_1: bool,
) -> dict[str, BandAsset]:
    files = _band_files(folder, product_id, items, collection)
    thermal: dict[str, tuple[float, float]] = {}
    if level2:
        conversions = _level2_conversions(mtl, collection, product_id)
    else:
        conversions, thermal = _level1_conversions(mtl, collection, product_id)
        unconverted = sorted({b for b, _, _ in files if not collection.bands[b].is_class} - set(conversions))
        if unconverted:
            log.warning("%s: its MTL gives no DN conversion for %s; left out", product_id, ", ".join(unconverted))
        files = [f for f in files if collection.bands[f[0]].is_class or f[0] in conversions]
    bands = band_assets(collection, files, root, conversions)
    for band_name, constants in thermal.items():
        if band_name in bands:
            bands[band_name] = replace(bands[band_name], thermal=constants)
    for band_name, band in list(bands.items()):
        spec = collection.bands[band_name]
        if collection_1 and spec.is_bits:
            if spec.bit_remap:
                bands[band_name] = replace(band, bit_remap=spec.bit_remap)
            else:  # its codes would be misread as Collection 2's
                log.warning("%s: no bit_remap for Collection 1's %s; left out", product_id, band_name)
                del bands[band_name]
    return bands
