"""Product sources: one parser per on-disk layout, and the walk that finds products under a data root.

Layouts (a collection file says which of them produce its products):
- `sentinel-1-safe` (`tiler.sources.sentinel1_safe`): ESA's Sentinel-1 SAFE folders (GRD, GCP-placed TIFFs);
- `sentinel-s1-l1c` (`tiler.sources.sentinel_s1_l1c`): Sentinel-1 GRD in AWS's layout, with `productInfo.json`;
- `sentinel-2-safe` (`tiler.sources.safe`): ESA SAFE folders with JP2 band files and MTD XML metadata;
- `usgs-landsat` (`tiler.sources.landsat`): a Landsat product as USGS delivers it, band TIFFs with the MTL
  and STAC items;
- `stac-item` (`tiler.sources.stac`): STAC items (JSON) whose band assets lie beside the item;
- `band-folder` (`tiler.sources.band_folder`): plain folders of band GeoTIFFs named `B04.tif`...;
- `named-files` (`tiler.sources.named_files`): COGs named as their collection's `file_pattern` says
  (Copernicus DEM, ESA WorldCover, CORINE, a deployment's own), one or several products per folder.

A layout is a `detect` function (does this folder hold a product of mine? which file is its metadata?
A layout whose folders hold several products returns a list of them) and a `parse` function (folder
or file -> `Product`). `find_candidates` walks a root once and asks the
layouts in turn; the first that claims a folder wins, and the folder's subfolders are not walked.
Adding a layout means one module with those two functions and an entry in `LAYOUTS`.
"""

from __future__ import annotations

import logging
import os
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import rasterio

from tiler.collections import Collections, builtin_collections
from tiler.errors import ProductUnreadable
from tiler.products import Product, is_inside
from tiler.sources import band_folder, landsat, named_files, safe, sentinel1_safe, sentinel_s1_l1c, stac

__all__ = ["LAYOUTS", "PARSE_ERRORS", "Candidate", "Layout", "discover", "find_candidates"]

log = logging.getLogger(__name__)

Found = tuple[Path, Path]  # (target, metadata file)
Detect = Callable[[Path, list[str], Collections], Found | list[Found] | None]
Parse = Callable[[Path, Path, Collections], Product]


@dataclass(frozen=True)
class Layout:
    name: str
    detect: Detect  # (folder, its file names, collections) -> (target, metadata file), a list of them, or None
    parse: Parse  # (target, data root, collections) -> Product


# In the order they are asked: a SAFE folder may hold JSON, a USGS Landsat folder STAC items, a STAC
# item's folder band files; a Sentinel-1 SAFE is claimed before the Sentinel-2 layout sees a `.SAFE`.
LAYOUTS: tuple[Layout, ...] = (
    Layout("sentinel-1-safe", sentinel1_safe.detect, sentinel1_safe.parse),
    Layout("sentinel-s1-l1c", sentinel_s1_l1c.detect, sentinel_s1_l1c.parse),
    Layout("sentinel-2-safe", safe.detect, safe.parse),
    Layout("usgs-landsat", landsat.detect, landsat.parse),
    Layout("stac-item", stac.detect, stac.parse),
    Layout("named-files", named_files.detect, named_files.parse),
    Layout("band-folder", band_folder.detect, band_folder.parse),
)

# What parsing a product may raise when its files are broken; callers skip such products.
PARSE_ERRORS = (ProductUnreadable, OSError, ValueError, KeyError, ET.ParseError, rasterio.errors.RasterioError)


@dataclass(frozen=True)
class Candidate:
    """A product found on disk but not parsed yet. `metadata` is the file whose change means the
    product changed: the MTD XML, the STAC item, or the folder itself for bare band folders."""

    layout: Layout
    target: Path
    metadata: Path
    root: Path
    collections: Collections

    def parse(self) -> Product:
        return self.layout.parse(self.target, self.root, self.collections)


def find_candidates(root: Path, collections: Collections | None = None) -> Iterator[Candidate]:
    """Walk one data root and yield every folder that holds a product, without parsing it."""
    collections = collections if collections is not None else builtin_collections()
    used = {layout for c in collections.values() for layout in c.layouts}
    layouts = [layout for layout in LAYOUTS if layout.name in used]
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        folder = Path(dirpath)
        for layout in layouts:
            found = layout.detect(folder, sorted(filenames), collections)
            if not found:
                continue
            dirnames.clear()  # a product's own subfolders hold no further products
            for target, metadata in found if isinstance(found, list) else [found]:
                if not is_inside(target, root):
                    log.warning("skipping %s: it resolves outside its data root", target)
                else:
                    yield Candidate(layout, target, metadata, root, collections)
            break


def discover(root: Path, collections: Collections | None = None) -> Iterator[Product]:
    """Walk one data root and yield every product found; unreadable ones are logged and skipped."""
    for candidate in find_candidates(root, collections):
        try:
            yield candidate.parse()
        except PARSE_ERRORS as exc:
            log.warning("skipping product at %s: %s", candidate.target, exc)
