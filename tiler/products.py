"""Product resolution: find products under the data roots once, then map IDs and paths to them.

Three layouts are understood, wherever they lie below a root:
- ESA SAFE folders (L2A and L1C) with JP2 band files and MTD XML metadata;
- STAC items (JSON) whose band assets lie beside the item, such as the `sentinel-cogs` tree;
- plain folders of band GeoTIFFs named `B04.tif`, `SCL.tif`...

Every file an indexed product refers to has been checked to lie inside its data root (after
resolving symlinks), so the readers never see a path a request could have steered elsewhere.
"""

from __future__ import annotations

import json
import logging
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlparse

import rasterio
from rasterio.warp import transform_bounds

from tiler.errors import NotFound, ProductUnreadable, UnsafeReference

log = logging.getLogger(__name__)

# Band order of `band_id` in the MTD offset lists.
S2_BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12")
NATIVE_RESOLUTION = {
    "B01": 60, "B02": 10, "B03": 10, "B04": 10, "B05": 20, "B06": 20, "B07": 20, "B08": 10,
    "B8A": 20, "B09": 60, "B10": 60, "B11": 20, "B12": 20, "SCL": 20,
}  # fmt: skip
# Bands whose values are class codes, not reflectances: never interpolated, never scaled.
CLASS_BANDS = frozenset({"SCL"})
# STAC asset keys (common names) of the band files.
STAC_ASSET_BANDS = {
    "coastal": "B01", "blue": "B02", "green": "B03", "red": "B04", "rededge1": "B05",
    "rededge2": "B06", "rededge3": "B07", "nir": "B08", "nir08": "B8A", "nir09": "B09",
    "cirrus": "B10", "swir16": "B11", "swir22": "B12", "scl": "SCL",
}  # fmt: skip
# An R60m-only archive copy has no B08: B8A (narrow NIR, 865 nm vs 842 nm) stands in for it.
BAND_SUBSTITUTES = {"B08": "B8A"}

EODATA_PREFIX = "/eodata/"
_SAFE_L2A_FILE = re.compile(r"^T\w{5}_\d{8}T\d{6}_(?P<band>B\d[\dA]|SCL)_(?P<res>\d{2})m\.jp2$")
_SAFE_L1C_FILE = re.compile(r"^T\w{5}_\d{8}T\d{6}_(?P<band>B\d[\dA])\.jp2$")
_BAND_FILE = re.compile(r"^(?P<band>B\d[\dA]|SCL)\.tif$", re.IGNORECASE)
_SAFE_NAME = re.compile(
    r"^(?P<platform>S2[A-D])_MSI(?P<level>L1C|L2A)_(?P<start>\d{8}T\d{6})_N(?P<baseline>\d{4})"
    r"_R\d{3}_T(?P<tile>\w{5})_\d{8}T\d{6}$"
)
_PLATFORMS = {"S2A": "sentinel-2a", "S2B": "sentinel-2b", "S2C": "sentinel-2c", "S2D": "sentinel-2d"}


@dataclass(frozen=True)
class BandAsset:
    name: str
    path: Path
    resolution: float  # metres
    source_band: str  # the band actually stored in the file (differs for a substitute)

    @property
    def is_class_band(self) -> bool:
        return self.name in CLASS_BANDS


@dataclass(frozen=True)
class Product:
    id: str
    collection: str  # sentinel-2-l2a | sentinel-2-l1c
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
    offsets: dict[str, float]  # added to DN before dividing by `quantification`
    quantification: float
    path: Path  # the product folder
    root: Path
    aliases: tuple[str, ...] = field(default=())

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
        }


# ---------------------------------------------------------------------------------------------
# Reference checks


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
    if any(ord(c) < 32 or c == "\x7f" for c in text):
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


# ---------------------------------------------------------------------------------------------
# Metadata parsing


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find_all(root: ET.Element, name: str) -> Iterator[ET.Element]:
    """Elements named `name` anywhere, whatever their namespace (ESA's change per baseline)."""
    return (el for el in root.iter() if _local(el.tag) == name)


def _find_text(root: ET.Element, name: str) -> str | None:
    for el in _find_all(root, name):
        if el.text and el.text.strip():
            return el.text.strip()
    return None


def _parse_time(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _footprint_from_pos_list(text: str | None) -> dict | None:
    if not text:
        return None
    numbers = [float(v) for v in text.split()]
    ring = [[numbers[i + 1], numbers[i]] for i in range(0, len(numbers) - 1, 2)]  # lat lon -> lon lat
    if len(ring) < 4:
        return None
    if ring[0] != ring[-1]:
        ring.append(ring[0])
    return {"type": "Polygon", "coordinates": [ring]}


def _offsets(root: ET.Element, element: str) -> dict[str, float]:
    offsets = {}
    for el in _find_all(root, element):
        band_id = el.get("band_id")
        if band_id is not None and band_id.isdigit() and int(band_id) < len(S2_BANDS) and el.text:
            offsets[S2_BANDS[int(band_id)]] = float(el.text)
    return offsets


def _choose_finest(candidates: Iterable[tuple[str, float, Path]], root: Path) -> dict[str, BandAsset]:
    bands: dict[str, BandAsset] = {}
    for name, resolution, path in candidates:
        if not is_inside(path, root):
            log.warning("skipping %s: it resolves outside its data root", path)
            continue
        if name not in bands or resolution < bands[name].resolution:
            bands[name] = BandAsset(name, Path(os.path.realpath(path)), resolution, name)
    for missing, substitute in BAND_SUBSTITUTES.items():
        if missing not in bands and substitute in bands:
            source = bands[substitute]
            bands[missing] = BandAsset(missing, source.path, source.resolution, substitute)
    return bands


def _grid(band: BandAsset) -> tuple[rasterio.crs.CRS, tuple[float, float, float, float], float]:
    """CRS, bounds and pixel size of a band file, read from its header."""
    try:
        with rasterio.open(band.path) as src:
            if src.crs is None:
                raise ProductUnreadable(f"{band.path.name} has no CRS")
            return src.crs, tuple(src.bounds), src.res[0]
    except rasterio.errors.RasterioIOError as exc:
        raise ProductUnreadable(f"cannot open {band.path.name}: {exc}") from exc


def parse_safe(safe: Path, root: Path) -> Product:
    """Read a SAFE folder: metadata from MTD_MSIL2A.xml / MTD_MSIL1C.xml, bands from the disk."""
    mtd_path = next((safe / n for n in ("MTD_MSIL2A.xml", "MTD_MSIL1C.xml") if (safe / n).is_file()), None)
    if mtd_path is None:
        raise ProductUnreadable(f"{safe.name} has no MTD_MSIL2A.xml or MTD_MSIL1C.xml")
    try:
        mtd = ET.parse(mtd_path).getroot()
    except ET.ParseError as exc:
        raise ProductUnreadable(f"{mtd_path.name} is not valid XML: {exc}") from exc
    level_2a = mtd_path.name == "MTD_MSIL2A.xml"

    candidates = []
    for granule in sorted((safe / "GRANULE").glob("*/IMG_DATA")):
        if level_2a:
            for res_dir in sorted(granule.glob("R[0-9][0-9]m")):
                for f in res_dir.iterdir():
                    if m := _SAFE_L2A_FILE.match(f.name):
                        candidates.append((m["band"], float(m["res"]), f))
        else:
            for f in granule.iterdir():
                if m := _SAFE_L1C_FILE.match(f.name):
                    candidates.append((m["band"], float(NATIVE_RESOLUTION[m["band"]]), f))
    bands = _choose_finest(candidates, root)
    if not bands:
        raise ProductUnreadable(f"{safe.name} has no band files")

    name = safe.name.removesuffix(".SAFE")
    name_parts = _SAFE_NAME.match(name)
    start = _find_text(mtd, "PRODUCT_START_TIME")
    if start is None:
        raise ProductUnreadable(f"{mtd_path.name} has no PRODUCT_START_TIME")
    spacecraft = _find_text(mtd, "SPACECRAFT_NAME") or ""
    cloud = _find_text(mtd, "Cloud_Coverage_Assessment")
    quantification = _find_text(mtd, "BOA_QUANTIFICATION_VALUE" if level_2a else "QUANTIFICATION_VALUE")
    product = _product(
        id=name,
        collection="sentinel-2-l2a" if level_2a else "sentinel-2-l1c",
        platform=spacecraft.lower() or _PLATFORMS.get(name_parts["platform"] if name_parts else "", "sentinel-2"),
        datetime=_parse_time(start),
        cloud_cover=float(cloud) if cloud else None,
        processing_level=_find_text(mtd, "PROCESSING_LEVEL") or ("Level-2A" if level_2a else "Level-1C"),
        processing_baseline=_find_text(mtd, "PROCESSING_BASELINE"),
        tile=name_parts["tile"] if name_parts else None,
        footprint=_footprint_from_pos_list(_find_text(mtd, "EXT_POS_LIST")),
        bands=bands,
        offsets=_offsets(mtd, "BOA_ADD_OFFSET" if level_2a else "RADIO_ADD_OFFSET"),
        quantification=float(quantification) if quantification else 10000.0,
        path=safe,
        root=root,
        aliases=(safe.name,),
    )
    return product


def parse_stac_item(item_path: Path, root: Path) -> Product:
    """Read a STAC item whose band files lie beside it. Hrefs are matched by file name only:
    remote URLs of the original bucket are never fetched, and nothing outside the folder is used."""
    try:
        item = json.loads(item_path.read_text())
    except (OSError, ValueError) as exc:
        raise ProductUnreadable(f"{item_path.name} is not readable JSON: {exc}") from exc
    if not isinstance(item, dict) or item.get("type") != "Feature" or not isinstance(item.get("assets"), dict):
        raise ProductUnreadable(f"{item_path.name} is not a STAC item")
    props = item.get("properties") or {}
    folder = item_path.parent
    candidates = []
    for key, asset in item["assets"].items():
        band = STAC_ASSET_BANDS.get(key) or (key if key.upper() in NATIVE_RESOLUTION else None)
        if band is None or not isinstance(asset, dict) or not isinstance(asset.get("href"), str):
            continue
        file_name = os.path.basename(urlparse(asset["href"]).path)
        local = folder / file_name
        if file_name in ("", ".", "..") or not local.is_file():
            continue
        candidates.append((band.upper(), float(NATIVE_RESOLUTION[band.upper()]), local))
    bands = _choose_finest(candidates, root)
    if not bands:
        raise ProductUnreadable(f"{item_path.name}: none of its band assets lie beside it")
    product_uri = str(props.get("s2:product_uri") or "").removesuffix(".SAFE")
    baseline = props.get("s2:processing_baseline")
    # Items made before the offset was applied upstream say so; newer ones carry raster:bands.
    offsets = {}
    for key, asset in item["assets"].items():
        band = STAC_ASSET_BANDS.get(key)
        for rb in (asset.get("raster:bands") or [])[:1] if isinstance(asset, dict) else []:
            if band and isinstance(rb, dict) and rb.get("offset"):
                offsets[band] = float(rb["offset"]) / float(rb.get("scale") or 0.0001)
    if not offsets and baseline and baseline >= "04.00" and not props.get("earthsearch:boa_offset_applied"):
        offsets = dict.fromkeys(S2_BANDS, -1000.0)
    if "datetime" not in props:
        raise ProductUnreadable(f"{item_path.name} has no datetime")
    canonical = product_uri or str(item.get("id") or folder.name)
    name_parts = _SAFE_NAME.match(product_uri)
    level_2a = props.get("s2:product_type") == "S2MSI2A" or "L2A" in f"{canonical} {item.get('id')}".upper()
    return _product(
        id=canonical,
        collection="sentinel-2-l2a" if level_2a else "sentinel-2-l1c",
        platform=str(props.get("platform") or "sentinel-2"),
        datetime=_parse_time(str(props["datetime"])),
        cloud_cover=float(props["eo:cloud_cover"]) if props.get("eo:cloud_cover") is not None else None,
        processing_level="Level-2A" if level_2a else "Level-1C",
        processing_baseline=baseline,
        tile=name_parts["tile"] if name_parts else props.get("grid:code", "").removeprefix("MGRS-") or None,
        footprint=item.get("geometry"),
        bands=bands,
        offsets=offsets,
        quantification=10000.0,
        path=folder,
        root=root,
        aliases=tuple(a for a in {str(item.get("id") or ""), product_uri + ".SAFE" if product_uri else ""} if a),
    )


def parse_band_folder(folder: Path, root: Path) -> Product:
    """A folder of band GeoTIFFs without metadata: the folder name is the ID, its date the time."""
    candidates = [
        (m["band"].upper(), float(NATIVE_RESOLUTION[m["band"].upper()]), f)
        for f in folder.iterdir()
        if (m := _BAND_FILE.match(f.name))
    ]
    bands = _choose_finest(candidates, root)
    date = re.search(r"(\d{8})", folder.name)
    when = (
        datetime.strptime(date[1], "%Y%m%d").replace(tzinfo=UTC)
        if date
        else datetime.fromtimestamp(folder.stat().st_mtime, UTC)
    )
    return _product(
        id=folder.name,
        collection="sentinel-2-l2a" if "SCL" in bands or "L2A" in folder.name.upper() else "sentinel-2-l1c",
        platform="sentinel-2",
        datetime=when,
        cloud_cover=None,
        processing_level="Level-2A" if "SCL" in bands else "unknown",
        processing_baseline=None,
        tile=None,
        footprint=None,
        bands=bands,
        offsets={},
        quantification=10000.0,
        path=folder,
        root=root,
    )


def _product(**kwargs) -> Product:
    # Resolution and grid come from the rasters themselves: metadata can describe files an
    # archive copy no longer holds, or at another resolution (the downsampled COG samples).
    bands: dict[str, BandAsset] = kwargs["bands"]
    finest = min(bands.values(), key=lambda b: (b.resolution, b.name))
    crs, bounds, pixel_size = _grid(finest)
    scale = pixel_size / finest.resolution
    if abs(scale - 1) > 0.01:
        bands = {name: BandAsset(name, b.path, b.resolution * scale, b.source_band) for name, b in bands.items()}
        kwargs["bands"] = bands
    bounds_wgs84 = tuple(transform_bounds(crs, "EPSG:4326", *bounds, densify_pts=21))
    return Product(crs=crs, bounds=bounds, bounds_wgs84=bounds_wgs84, **kwargs)


# ---------------------------------------------------------------------------------------------
# The index


def _read_json(path: Path) -> object:
    """The parsed JSON of a small `.json` file; None when it is no JSON file, `...` when unreadable."""
    if path.suffix.lower() != ".json" or path.stat().st_size > 5_000_000:
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return ...


def _is_stac_item(head: object) -> bool:
    return isinstance(head, dict) and head.get("type") == "Feature" and isinstance(head.get("assets"), dict)


@dataclass(frozen=True)
class Candidate:
    """A product found on disk but not parsed yet. `metadata` is the file whose change means the
    product changed: the MTD XML, the STAC item, or the folder itself for bare band folders."""

    parser: Callable[[Path, Path], Product]
    target: Path
    metadata: Path
    root: Path

    def parse(self) -> Product:
        return self.parser(self.target, self.root)


def find_candidates(root: Path) -> Iterator[Candidate]:
    """Walk one data root and yield every folder that holds a product, without parsing it."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        folder = Path(dirpath)
        parser: Callable[[Path, Path], Product] | None = None
        if folder.name.endswith(".SAFE"):
            parser, target = parse_safe, folder
            metadata = next((folder / n for n in ("MTD_MSIL2A.xml", "MTD_MSIL1C.xml") if n in filenames), folder)
        else:
            has_bands = any(_BAND_FILE.match(f) for f in filenames)
            heads = {f: _read_json(folder / f) for f in sorted(filenames) if f.lower().endswith(".json")}
            item = next((folder / f for f, head in heads.items() if _is_stac_item(head)), None)
            # An item JSON that cannot be read beside band files is a broken product, not a bare folder.
            broken = next((folder / f for f, head in heads.items() if head is ...), None) if has_bands else None
            if item is not None or broken is not None:
                parser, target = parse_stac_item, item or broken
                metadata = target
            elif has_bands and any(f.upper() == "B04.TIF" for f in filenames):
                parser, target, metadata = parse_band_folder, folder, folder
        if parser is None:
            continue
        dirnames.clear()  # a product's own subfolders hold no further products
        if not is_inside(target, root):
            log.warning("skipping %s: it resolves outside its data root", target)
            continue
        yield Candidate(parser, target, metadata, root)


# What parsing a product may raise when its files are broken; callers skip such products.
PARSE_ERRORS = (ProductUnreadable, OSError, ValueError, KeyError, rasterio.errors.RasterioError)


def discover(root: Path) -> Iterator[Product]:
    """Walk one data root and yield every product found; unreadable ones are logged and skipped."""
    for candidate in find_candidates(root):
        try:
            yield candidate.parse()
        except PARSE_ERRORS as exc:
            log.warning("skipping product at %s: %s", candidate.target, exc)


class ProductIndex:
    """In-memory index of the products under the data roots, built once at start-up."""

    def __init__(self, roots: Iterable[Path], products: Iterable[Product] | None = None) -> None:
        self.roots = tuple(Path(os.path.realpath(r)) for r in roots)
        if products is None:
            products = (p for root in self.roots for p in discover(root))
        self._by_key: dict[str, Product] = {}
        self._products: dict[str, Product] = {}
        for product in products:
            if product.id in self._products:
                log.warning(
                    "duplicate product %s at %s; keeping %s", product.id, product.path, self._products[product.id].path
                )
                continue
            self._products[product.id] = product
            for key in product_keys(product):
                self._by_key.setdefault(key, product)

    def __len__(self) -> int:
        return len(self._products)

    def __iter__(self) -> Iterator[Product]:
        return iter(sorted(self._products.values(), key=lambda p: p.datetime, reverse=True))

    def resolve(self, reference: str) -> Product:
        """Map an ID (with or without .SAFE), a path below a root, `/eodata/...` or an absolute
        path inside a root to its product. Never touches the disk."""
        for key in reference_keys(reference, self.roots):
            if key in self._by_key:
                return self._by_key[key]
        raise NotFound(f"unknown product '{reference[:200]}'")


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
