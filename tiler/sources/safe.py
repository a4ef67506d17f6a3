"""The `sentinel-2-safe` layout: ESA SAFE folders (`*.SAFE/`) with an MTD_MSIL2A.xml or MTD_MSIL1C.xml
and JP2 band files under `GRANULE/*/IMG_DATA` (Level-2A: in `R10m`/`R20m`/`R60m` with the resolution
in the file name; Level-1C: flat, at each band's native resolution).

Band names come from the collection; the MTD gives the product type, the time, the footprint, the
cloud cover, and per band (by `band_id`) the quantification value and the baseline 04.00 offset.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from tiler.collections import Collection, Collections
from tiler.errors import ProductUnreadable
from tiler.products import Product
from tiler.sources.common import band_assets, collection_of, find_all, find_text, make_product, parse_time

LAYOUT = "sentinel-2-safe"
METADATA_FILES = ("MTD_MSIL2A.xml", "MTD_MSIL1C.xml")
_SAFE_NAME = re.compile(
    r"^(?P<platform>S2[A-D])_MSI(?P<level>L1C|L2A)_(?P<start>\d{8}T\d{6})_N(?P<baseline>\d{4})"
    r"_R\d{3}_T(?P<tile>\w{5})_\d{8}T\d{6}$"
)
_PLATFORMS = {"S2A": "sentinel-2a", "S2B": "sentinel-2b", "S2C": "sentinel-2c", "S2D": "sentinel-2d"}


def detect(folder: Path, filenames: list[str], collections: Collections) -> tuple[Path, Path] | None:
    if not folder.name.endswith(".SAFE"):
        return None
    metadata = next((folder / n for n in METADATA_FILES if n in filenames), folder)
    return folder, metadata


def _band_files(safe: Path, collection: Collection) -> list[tuple[str, float, Path]]:
    names = "|".join(re.escape(name) for name in sorted(collection.bands, key=len, reverse=True))
    by_resolution = re.compile(rf"^T\w{{5}}_\d{{8}}T\d{{6}}_(?P<band>{names})_(?P<res>\d{{2}})m\.jp2$")
    native = re.compile(rf"^T\w{{5}}_\d{{8}}T\d{{6}}_(?P<band>{names})\.jp2$")
    files = []
    for granule in sorted((safe / "GRANULE").glob("*/IMG_DATA")):
        for res_dir in sorted(granule.glob("R[0-9][0-9]m")):
            for f in res_dir.iterdir():
                if m := by_resolution.match(f.name):
                    files.append((m["band"], float(m["res"]), f))
        for f in granule.iterdir():
            if m := native.match(f.name):
                files.append((m["band"], collection.bands[m["band"]].resolution, f))
    return files


def _conversions(mtd: ET.Element, collection: Collection) -> dict[str, tuple[float, float]]:
    """(scale, offset) per band: reflectance = (DN + offset) / quantification value."""
    quantification = find_text(mtd, "BOA_QUANTIFICATION_VALUE") or find_text(mtd, "QUANTIFICATION_VALUE")
    divisor = float(quantification) if quantification else None
    by_index = {band.band_index: band for band in collection.bands.values() if band.band_index is not None}
    offsets: dict[str, float] = {}
    for element in ("BOA_ADD_OFFSET", "RADIO_ADD_OFFSET"):
        for el in find_all(mtd, element):
            band_id = el.get("band_id")
            if band_id is not None and band_id.isdigit() and int(band_id) in by_index and el.text:
                offsets[by_index[int(band_id)].name] = float(el.text)
    conversions = {}
    for band in collection.bands.values():
        if band.is_class or (divisor is None and band.name not in offsets):
            continue
        scale = 1 / divisor if divisor else band.scale
        conversions[band.name] = (scale, offsets.get(band.name, 0.0) * scale)
    return conversions


def _footprint(text: str | None) -> dict | None:
    if not text:
        return None
    numbers = [float(v) for v in text.split()]
    ring = [[numbers[i + 1], numbers[i]] for i in range(0, len(numbers) - 1, 2)]  # lat lon -> lon lat
    if len(ring) < 4:
        return None
    if ring[0] != ring[-1]:
        ring.append(ring[0])
    return {"type": "Polygon", "coordinates": [ring]}


def parse(safe: Path, root: Path, collections: Collections) -> Product:
    mtd_path = next((safe / n for n in METADATA_FILES if (safe / n).is_file()), None)
    if mtd_path is None:
        raise ProductUnreadable(f"{safe.name} has no {' or '.join(METADATA_FILES)}")
    try:
        mtd = ET.parse(mtd_path).getroot()
    except ET.ParseError as exc:
        raise ProductUnreadable(f"{mtd_path.name} is not valid XML: {exc}") from exc
    name = safe.name.removesuffix(".SAFE")
    collection = collection_of(collections, LAYOUT, mtd_path.name, name, product_type=find_text(mtd, "PRODUCT_TYPE"))
    bands = band_assets(collection, _band_files(safe, collection), root, _conversions(mtd, collection))
    if not bands:
        raise ProductUnreadable(f"{safe.name} has no band files")
    name_parts = _SAFE_NAME.match(name)
    start = find_text(mtd, "PRODUCT_START_TIME")
    if start is None:
        raise ProductUnreadable(f"{mtd_path.name} has no PRODUCT_START_TIME")
    spacecraft = find_text(mtd, "SPACECRAFT_NAME") or ""
    cloud = find_text(mtd, "Cloud_Coverage_Assessment")
    return make_product(
        id=name,
        collection=collection.id,
        platform=spacecraft.lower() or _PLATFORMS.get(name_parts["platform"] if name_parts else "", "sentinel-2"),
        datetime=parse_time(start),
        cloud_cover=float(cloud) if cloud else None,
        processing_level=find_text(mtd, "PROCESSING_LEVEL") or collection.processing_level or "unknown",
        processing_baseline=find_text(mtd, "PROCESSING_BASELINE"),
        tile=name_parts["tile"] if name_parts else None,
        footprint=_footprint(find_text(mtd, "EXT_POS_LIST")),
        bands=bands,
        path=safe,
        root=root,
        aliases=(safe.name,),
    )
