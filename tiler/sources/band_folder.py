"""The `band-folder` layout: a folder of band GeoTIFFs named after the bands (`B04.tif`, `SCL.tif`)
and no metadata. The folder name is the ID, a date in it (YYYYMMDD) the time.

The collection is the one whose name patterns the folder name contains, else the only one that has
every band found, else the collection marked `fallback` (its processing level is then unknown).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from tiler.collections import Collection, Collections
from tiler.errors import ProductUnreadable
from tiler.products import Product
from tiler.sources.common import band_assets, make_product

LAYOUT = "band-folder"
_SUFFIXES = (".tif", ".tiff")


def _band_files(filenames: list[str], collections: Collections) -> dict[str, str]:
    """Band name -> file name, for files named after a band of a collection with this layout."""
    names = {band.upper(): band for c in collections.with_layout(LAYOUT) for band in c.bands}
    found = {}
    for file_name in filenames:
        stem, dot, suffix = file_name.rpartition(".")
        if dot and f".{suffix.lower()}" in _SUFFIXES and stem.upper() in names:
            found[names[stem.upper()]] = file_name
    return found


def detect(folder: Path, filenames: list[str], collections: Collections) -> tuple[Path, Path] | None:
    found = _band_files(filenames, collections)
    spectral = [
        name
        for name in found
        if any(name in c.bands and not c.bands[name].is_class for c in collections.with_layout(LAYOUT))
    ]
    return (folder, folder) if spectral else None


def _choose(folder: Path, found: set[str], collections: Collections) -> tuple[Collection, bool]:
    """The folder's collection, and whether it was only the fallback."""
    candidates = [c for c in collections.with_layout(LAYOUT) if found <= set(c.bands)]
    if not candidates:
        raise ProductUnreadable(f"no collection has all the bands of {folder.name}: {', '.join(sorted(found))}")
    by_name = [c for c in candidates if c.matches_name(folder.name)]
    if by_name:
        return by_name[0], False
    if len(candidates) == 1:
        return candidates[0], False
    fallback = next((c for c in candidates if c.fallback), candidates[0])
    return fallback, True


def parse(folder: Path, root: Path, collections: Collections) -> Product:
    found = _band_files(sorted(f.name for f in folder.iterdir()), collections)
    collection, guessed = _choose(folder, set(found), collections)
    files = [(name, collection.bands[name].resolution, folder / file_name) for name, file_name in found.items()]
    date = re.search(r"(\d{8})", folder.name)
    when = (
        datetime.strptime(date[1], "%Y%m%d").replace(tzinfo=UTC)
        if date
        else datetime.fromtimestamp(folder.stat().st_mtime, UTC)
    )
    return make_product(
        id=folder.name,
        collection=collection.id,
        platform=collection.constellation or "unknown",
        datetime=when,
        cloud_cover=None,
        processing_level="unknown" if guessed else collection.processing_level or "unknown",
        processing_baseline=None,
        tile=None,
        footprint=None,
        bands=band_assets(collection, files, root),
        path=folder,
        root=root,
    )
