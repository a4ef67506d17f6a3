"""The `sentinel-1-safe` layout: ESA's Sentinel-1 SAFE folders (`S1A_IW_GRDH_1SDV_<start>_<stop>_
<orbit>_<datatake>_<crc>.SAFE/`) with `manifest.safe`, `measurement/*.tiff`, `annotation/*.xml` and
`annotation/calibration/calibration-*.xml`.

The manifest gives the mission, mode, polarisations, start time, orbit direction (`<s1:pass>`),
absolute and relative orbit and the processor's version; the folder name stands in for what it lacks.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from tiler.collections import Collections
from tiler.errors import ProductUnreadable
from tiler.products import Product
from tiler.sources.common import collection_of, find_all, find_text, parse_time
from tiler.sources.sentinel1 import (
    Identity,
    identity_from_name,
    make_product,
    measurements,
    name_time,
    relative_orbit,
)

LAYOUT = "sentinel-1-safe"
MANIFEST = "manifest.safe"


def detect(folder: Path, filenames: list[str], collections: Collections) -> tuple[Path, Path] | None:
    if not (folder.name.endswith(".SAFE") and folder.name.startswith("S1") and MANIFEST in filenames):
        return None
    return folder, folder / MANIFEST


def _orbit(manifest: ET.Element, element: str) -> int | None:
    """The `type="start"` orbit number of `element` (orbitNumber, relativeOrbitNumber)."""
    for el in find_all(manifest, element):
        if el.get("type", "start") == "start" and el.text and el.text.strip().isdigit():
            return int(el.text)
    return None


def _ipf(manifest: ET.Element) -> str | None:
    return next((el.get("version") for el in find_all(manifest, "software") if el.get("version")), None)


def parse(safe: Path, root: Path, collections: Collections) -> Product:
    name = safe.name.removesuffix(".SAFE")
    try:
        manifest = ET.parse(safe / MANIFEST).getroot()
    except (OSError, ET.ParseError) as exc:
        raise ProductUnreadable(f"{safe.name}/{MANIFEST} is not readable XML: {exc}") from exc
    parts = identity_from_name(name)
    collection = collection_of(collections, LAYOUT, name, product_type=find_text(manifest, "productType"))
    start_text = find_text(manifest, "startTime")
    if start_text is None and "start" not in parts:
        raise ProductUnreadable(f"{safe.name}: no start time in {MANIFEST} or the name")
    mission = parts.get("mission") or f"S1{find_text(manifest, 'number') or ''}"
    absolute = _orbit(manifest, "orbitNumber")
    orbit_pass = (find_text(manifest, "pass") or "").lower()
    identity = Identity(
        id=name,
        mission=mission,
        mode=parts.get("mode") or find_text(manifest, "mode") or "unknown",
        polarisation_code=parts.get("pol", ""),
        start=parse_time(start_text) if start_text else name_time(parts["start"]),
        absolute_orbit=absolute,
        relative_orbit=_orbit(manifest, "relativeOrbitNumber") or relative_orbit(mission, absolute),
        orbit_state=orbit_pass if orbit_pass in ("ascending", "descending") else None,
        resolution_class=parts.get("resolution"),
        ipf=_ipf(manifest),
    )
    return make_product(identity, collection, measurements(safe, root), safe, root, aliases=(safe.name,))
