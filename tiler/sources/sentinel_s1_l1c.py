"""The `sentinel-s1-l1c` layout: Sentinel-1 GRD products as AWS's `sentinel-s1-l1c` bucket keeps
them (`GRD/YYYY/M/D/<mode>/<pol>/<name>/`), with `productInfo.json`, `measurement/iw-vv.tiff`... and,
where the copy kept them, `annotation/iw-vv.xml` and `annotation/calibration/calibration-iw-vv.xml`.

`productInfo.json` gives the ID, mission, mode, polarisation code, start time and absolute orbit;
it says nothing of the orbit direction, which then comes from the annotation or the GCPs.
"""

from __future__ import annotations

import json
from pathlib import Path

from tiler.collections import Collections
from tiler.errors import ProductUnreadable
from tiler.products import Product
from tiler.sources.common import collection_of, parse_time
from tiler.sources.sentinel1 import (
    Identity,
    identity_from_name,
    make_product,
    measurements,
    name_time,
    relative_orbit,
)

LAYOUT = "sentinel-s1-l1c"
PRODUCT_INFO = "productInfo.json"
_MAX_BYTES = 1_000_000


def detect(folder: Path, filenames: list[str], collections: Collections) -> tuple[Path, Path] | None:
    if PRODUCT_INFO not in filenames or not (folder / "measurement").is_dir():
        return None
    return folder, folder / PRODUCT_INFO


def parse(folder: Path, root: Path, collections: Collections) -> Product:
    path = folder / PRODUCT_INFO
    try:
        if path.stat().st_size > _MAX_BYTES:
            raise ProductUnreadable(f"{path} is too large for a productInfo.json")
        info = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ProductUnreadable(f"{path} is not readable JSON: {exc}") from exc
    if not isinstance(info, dict):
        raise ProductUnreadable(f"{path} is not a JSON object")
    name = str(info.get("id") or folder.name)
    parts = identity_from_name(name)
    collection = collection_of(collections, LAYOUT, name, folder.name, product_type=str(info.get("productType") or ""))
    start = info.get("startTime")
    if not start and "start" not in parts:
        raise ProductUnreadable(f"{path} has no startTime")
    mission = str(info.get("missionId") or parts.get("mission") or "S1")
    absolute = info.get("absoluteOrbitNumber")
    absolute = int(absolute) if isinstance(absolute, int | str) and str(absolute).isdigit() else None
    identity = Identity(
        id=name,
        mission=mission,
        mode=str(info.get("mode") or parts.get("mode") or "unknown"),
        polarisation_code=str(info.get("polarization") or parts.get("pol") or ""),
        start=parse_time(str(start)) if start else name_time(parts["start"]),
        absolute_orbit=absolute,
        relative_orbit=relative_orbit(mission, absolute),
        orbit_state=None,
        resolution_class=str(info.get("resolution") or parts.get("resolution") or "") or None,
        ipf=None,
    )
    return make_product(identity, collection, measurements(folder, root), folder, root)
