"""The `stac-item` layout: a STAC item (JSON) whose band assets lie beside it, such as the
`sentinel-cogs` tree. Hrefs are matched by file name only: remote URLs of the original bucket are
never fetched, and nothing outside the item's folder is used.

Asset keys name bands through the collection's `stac_keys` (or the band's own name). DN conversion
comes from the assets' `raster:bands` scale and offset where given. Items of Sentinel-2 baseline
04.00 and later made before upstream applied the offset say so (`s2:processing_baseline`, without
`earthsearch:boa_offset_applied`): their reflectance bands get the MTD's -1000 DN offset.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from urllib.parse import urlparse

from tiler.collections import Collection, Collections
from tiler.errors import ProductUnreadable
from tiler.products import Product
from tiler.sources import band_folder
from tiler.sources.common import band_assets, collection_of, make_product, parse_time

LAYOUT = "stac-item"
_MAX_ITEM_BYTES = 5_000_000
_S2_OFFSET_BASELINE = "04.00"
_S2_DN_OFFSET = -1000.0
_SAFE_TILE = re.compile(r"^S2[A-D]_MSI(?:L1C|L2A)_\d{8}T\d{6}_N\d{4}_R\d{3}_T(?P<tile>\w{5})_\d{8}T\d{6}$")


def _read_json(path: Path) -> object:
    """The parsed JSON of a small `.json` file; None when it is no JSON file, `...` when unreadable."""
    if path.suffix.lower() != ".json" or path.stat().st_size > _MAX_ITEM_BYTES:
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return ...


def _is_item(head: object) -> bool:
    return isinstance(head, dict) and head.get("type") == "Feature" and isinstance(head.get("assets"), dict)


def detect(folder: Path, filenames: list[str], collections: Collections) -> tuple[Path, Path] | None:
    heads = {f: _read_json(folder / f) for f in filenames if f.lower().endswith(".json")}
    item = next((folder / f for f, head in heads.items() if _is_item(head)), None)
    if item is None and band_folder.detect(folder, filenames, collections) is not None:
        # An item JSON that cannot be read beside band files is a broken product, not a bare folder.
        item = next((folder / f for f, head in heads.items() if head is ...), None)
    return (item, item) if item is not None else None


def _collection(item: dict, collections: Collections, names: list[str]) -> Collection:
    props = item.get("properties") or {}
    declared = item.get("collection")
    if isinstance(declared, str) and declared in collections and LAYOUT in collections[declared].layouts:
        return collections[declared]
    product_type = next((str(v) for k, v in props.items() if k.endswith("product_type") and v), None)
    return collection_of(collections, LAYOUT, *names, product_type=product_type)


def _conversions(item: dict, collection: Collection) -> dict[str, tuple[float, float]]:
    """(scale, offset) per band from `raster:bands`, or the Sentinel-2 baseline offset rule."""
    props = item.get("properties") or {}
    conversions = {}
    for key, asset in item["assets"].items():
        band = collection.band_for_stac_key(key)
        raster = (asset.get("raster:bands") or [])[:1] if isinstance(asset, dict) else []
        if band is None or band.is_class or not raster or not isinstance(raster[0], dict):
            continue
        scale = float(raster[0].get("scale") or band.scale)
        if raster[0].get("offset"):
            conversions[band.name] = (scale, float(raster[0]["offset"]))
    baseline = props.get("s2:processing_baseline")
    if (
        not conversions
        and baseline
        and baseline >= _S2_OFFSET_BASELINE
        and not props.get("earthsearch:boa_offset_applied")
    ):
        conversions = {
            b.name: (b.scale, _S2_DN_OFFSET * b.scale) for b in collection.bands.values() if b.kind == "reflectance"
        }
    return conversions


def _tile(props: dict, collection: Collection) -> str | None:
    """The tile of `grid:code` (`MGRS-29RKH`, `ESAWORLDCOVER-N00E006`) without the collection's grid prefix."""
    code = str(props.get("grid:code") or "")
    return code.removeprefix(f"{collection.grid}-") if collection.grid else code or None


def parse(item_path: Path, root: Path, collections: Collections) -> Product:
    try:
        item = json.loads(item_path.read_text())
    except (OSError, ValueError) as exc:
        raise ProductUnreadable(f"{item_path.name} is not readable JSON: {exc}") from exc
    if not _is_item(item):
        raise ProductUnreadable(f"{item_path.name} is not a STAC item")
    props = item.get("properties") or {}
    folder = item_path.parent
    product_uri = str(props.get("s2:product_uri") or "").removesuffix(".SAFE")
    canonical = product_uri or str(item.get("id") or folder.name)
    collection = _collection(item, collections, [canonical, str(item.get("id") or "")])
    files = []
    for key, asset in item["assets"].items():
        band = collection.band_for_stac_key(key)
        if band is None or not isinstance(asset, dict) or not isinstance(asset.get("href"), str):
            continue
        file_name = os.path.basename(urlparse(asset["href"]).path)
        local = folder / file_name
        if file_name in ("", ".", "..") or not local.is_file():
            continue
        files.append((band.name, band.resolution, local))
    bands = band_assets(collection, files, root, _conversions(item, collection))
    if not bands:
        raise ProductUnreadable(f"{item_path.name}: none of its band assets lie beside it")
    # An item of a period (ESA WorldCover's year) has a null datetime and start_datetime instead.
    when = props.get("datetime") or props.get("start_datetime")
    if not when:
        raise ProductUnreadable(f"{item_path.name} has no datetime")
    name_parts = _SAFE_TILE.match(product_uri)
    return make_product(
        id=canonical,
        collection=collection.id,
        platform=str(props.get("platform") or collection.constellation or "unknown"),
        datetime=parse_time(str(when)),
        cloud_cover=float(props["eo:cloud_cover"]) if props.get("eo:cloud_cover") is not None else None,
        processing_level=collection.processing_level or "unknown",
        processing_baseline=props.get("s2:processing_baseline"),
        tile=name_parts["tile"] if name_parts else _tile(props, collection),
        footprint=item.get("geometry"),
        bands=bands,
        path=folder,
        root=root,
        aliases=tuple(a for a in {str(item.get("id") or ""), product_uri + ".SAFE" if product_uri else ""} if a),
    )
