"""Collections as data: what eo-tiler knows about each kind of product, read from collection files.

A collection file (TOML; the built-in ones lie beside this module) holds a table of bands and one
or more `[[collection]]` entries that use them: id, title, attribution, the bands (resolution;
kind: reflectance, class, bit flags or physical value; STAC asset keys and common names; no-data
value; the DN-to-physical conversion; class labels and palettes; flag names), the cloud-mask rule
(by class or by bit) if any, the default
layer, and which on-disk layouts (`tiler.sources`) produce its products. The first lines of
`sentinel-2.toml` describe every field. Files are validated when loaded: a broken file stops the
start-up with its name.

    collections = load_collections()                 # the built-in files
    collections = load_collections(extra=[my_file])  # plus a user's own
    collections["sentinel-2-l2a"].bands["B04"].resolution
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

__all__ = [
    "BUILTIN_DIR",
    "CALIBRATIONS",
    "KINDS",
    "Band",
    "ClassEntry",
    "CloudMask",
    "Collection",
    "CollectionError",
    "Collections",
    "FlagEntry",
    "builtin_collections",
    "load_collections",
]

BUILTIN_DIR = Path(__file__).parent
# The calibration LUTs of Sentinel-1's calibration-*.xml a band may be calibrated with.
CALIBRATIONS = ("sigmaNought", "betaNought", "gamma")
# "class": one code per class (Sentinel-2's SCL); "bits": flags packed into an integer (Landsat's
# QA_PIXEL). Both are integer codes, never interpolated or scaled.
KINDS = ("reflectance", "class", "bits", "physical")
_MAX_BIT = 23  # codes are carried as float32, exact up to 2**24
_HEX = re.compile(r"#([0-9a-fA-F]{6})")
_BAND_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")
_BAND_KEYS = {
    "title",
    "resolution",
    "kind",
    "unit",
    "common_name",
    "stac_keys",
    "nodata",
    "scale",
    "offset",
    "minimum",
    "substitute",
    "band_index",
    "classes",
    "squared",
    "calibration",
    "flags",
    "bit_remap",
}
_COLLECTION_KEYS = {
    "id",
    "title",
    "description",
    "attribution",
    "constellation",
    "instruments",
    "processing_level",
    "product_types",
    "name_patterns",
    "layouts",
    "bands",
    "default_layer",
    "default",
    "fallback",
    "cloud_mask",
    "searchable",
    "baseline_property",
    "file_pattern",
    "datetime",
    "grid",
}
# The named groups a `file_pattern` may have: `product` (the ID) is required; `band` when the
# collection has several bands; a date (`date`: YYYYMMDD or YYYY-MM-DD, or `year`) and `tile`.
_PATTERN_GROUPS = {"product", "band", "date", "year", "tile"}


class CollectionError(ValueError):
    """A collection file that cannot be used."""


@dataclass(frozen=True)
class ClassEntry:
    value: int  # the raster value
    label: str
    colour: tuple[int, int, int]
    code: str | None = None  # the class's own code where it differs from the raster value (CORINE: 111 for 1)

    @property
    def display(self) -> str:
        """The class as users know it: `111 Continuous urban fabric`, or just the label."""
        return f"{self.code} {self.label}" if self.code else self.label


@dataclass(frozen=True)
class FlagEntry:
    bit: int
    label: str


@dataclass(frozen=True)
class Band:
    name: str
    title: str
    resolution: float  # native, metres
    kind: str  # one of KINDS
    unit: str | None = None
    common_name: str | None = None
    stac_keys: tuple[str, ...] = ()
    nodata: float | None = None  # the DN that means "no data"; None: every value is data
    scale: float = 1.0  # physical = DN * scale + offset, unless a product's metadata says otherwise
    offset: float = 0.0
    minimum: float | None = None  # physical values below are clamped to it
    substitute: str | None = None  # the band that stands in when a product lacks this one
    band_index: int | None = None  # the band's number in the product metadata
    classes: tuple[ClassEntry, ...] = ()
    squared: bool = False  # SAR amplitude: physical = DN² * scale + offset (intensity, linear power)
    calibration: str | None = None  # the LUT (one of CALIBRATIONS) a product's calibration XML gives
    flags: tuple[FlagEntry, ...] = ()  # the named bits of a "bits" band
    # How an older file format's code maps onto `flags`: (mask, value, bit), the bit set where
    # code & mask == value. The layout parser says which files are in that format (Landsat
    # Collection 1's BQA).
    bit_remap: tuple[tuple[int, int, int], ...] = ()

    @property
    def is_class(self) -> bool:
        """Integer codes (classes or bit flags) are never interpolated, scaled or blended."""
        return self.kind in ("class", "bits")

    @property
    def is_bits(self) -> bool:
        return self.kind == "bits"

    def class_entry(self, value: int) -> ClassEntry | None:
        return next((entry for entry in self.classes if entry.value == value), None)

    def class_label(self, value: int) -> str | None:
        entry = self.class_entry(value)
        return entry.label if entry is not None else None

    def flag_labels(self, value: int) -> list[str]:
        """The names of the flags set in `value`, in bit order."""
        return [entry.label for entry in self.flags if value >> entry.bit & 1]


@dataclass(frozen=True)
class CloudMask:
    """Which pixels `cloudmask=true` removes: those whose `band` holds one of `classes` (a class
    band), or has any of `bits` set (a bit-flag band)."""

    band: str
    classes: tuple[int, ...] = ()
    bits: tuple[int, ...] = ()

    @property
    def bit_mask(self) -> int:
        return sum(1 << bit for bit in self.bits)


@dataclass(frozen=True)
class Collection:
    id: str
    title: str
    description: str
    attribution: str  # "{year}" stands for the product's year
    bands: Mapping[str, Band]
    layouts: tuple[str, ...]
    default_layer: str
    constellation: str | None = None
    instruments: tuple[str, ...] = ()
    processing_level: str | None = None
    product_types: tuple[str, ...] = ()  # the product type codes in metadata (S2MSI2A)
    name_patterns: tuple[str, ...] = ()  # substrings of product names that mark this collection
    cloud_mask: CloudMask | None = None
    grid: str | None = None  # the grid a product's `tile` is a cell of (MGRS, WRS2): STAC's grid:code prefix
    default: bool = False  # the collection of mosaics and bare layer names when none is given
    fallback: bool = False  # taken when a bare band folder could be of several collections
    searchable: tuple[str, ...] = ()  # product properties mosaics and searches may filter on
    baseline_property: str | None = None  # the STAC property of a product's processing baseline
    file_pattern: re.Pattern[str] | None = None  # how the `named-files` layout recognises its files
    datetime: datetime | None = None  # the time of products whose names give none (a static dataset)
    source: Path | None = field(default=None, compare=False)  # the file it was read from
    builtin: bool = field(default=True, compare=False)  # False: from a deployment's own file

    def attribution_for(self, year: int | None) -> str:
        """The credit line for a product of `year`; without one (a mosaic), with the year left out."""
        if year is None:
            return re.sub(r"\s*\{year\}", "", self.attribution).strip()
        return self.attribution.replace("{year}", str(year)).strip()

    @property
    def finest_resolution(self) -> float:
        return min(band.resolution for band in self.bands.values())

    def band_for_stac_key(self, key: str) -> Band | None:
        """The band a STAC asset key names: one of its `stac_keys`, or its own name, in any case."""
        lowered = key.lower()
        for band in self.bands.values():
            if lowered == band.name.lower() or lowered in (k.lower() for k in band.stac_keys):
                return band
        return None

    def matches_name(self, text: str) -> bool:
        return any(pattern.upper() in text.upper() for pattern in self.name_patterns)


class Collections(Mapping[str, Collection]):
    """The registry: collections by id, in the order their files gave them."""

    def __init__(self, collections: Iterable[Collection]) -> None:
        self._by_id: dict[str, Collection] = {}
        for collection in collections:
            if collection.id in self._by_id:
                first = self._by_id[collection.id].source
                raise CollectionError(f"collection {collection.id} is defined twice ({first} and {collection.source})")
            self._by_id[collection.id] = collection
        defaults = [c for c in self._by_id.values() if c.default]
        if len(defaults) > 1:
            raise CollectionError(f"only one collection may be the default: {', '.join(c.id for c in defaults)}")

    def __getitem__(self, key: str) -> Collection:
        return self._by_id[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_id)

    def __len__(self) -> int:
        return len(self._by_id)

    @property
    def default(self) -> Collection:
        return next((c for c in self._by_id.values() if c.default), next(iter(self._by_id.values())))

    def with_layout(self, layout: str) -> list[Collection]:
        """The collections a layout produces: a deployment's own first, so that where its file and a
        built-in one both claim a product, its own wins (as its layer files do)."""
        found = [c for c in self._by_id.values() if layout in c.layouts]
        return [c for c in found if not c.builtin] + [c for c in found if c.builtin]

    def by_product_type(self, product_type: str) -> Collection | None:
        return next((c for c in self._by_id.values() if product_type in c.product_types), None)

    @property
    def band_names(self) -> frozenset[str]:
        return frozenset(name for c in self._by_id.values() for name in c.bands)


# ---------------------------------------------------------------------------------------------
# Loading


def _colour(value: object, where: str) -> tuple[int, int, int]:
    match = _HEX.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise CollectionError(f"{where}: colour must be '#rrggbb', not {value!r}")
    number = int(match[1], 16)
    return (number >> 16 & 255, number >> 8 & 255, number & 255)


def _classes(raw: object, where: str) -> tuple[ClassEntry, ...]:
    if not isinstance(raw, list):
        raise CollectionError(f"{where}: classes must be a list of [value, label, colour]")
    entries = []
    for item in raw:
        if not (
            isinstance(item, list)
            and len(item) in (3, 4)
            and isinstance(item[0], int)
            and isinstance(item[1], str)
            and (len(item) == 3 or isinstance(item[3], str))
        ):
            raise CollectionError(f"{where}: each class is [value, label, '#rrggbb'] or [..., 'code'], not {item!r}")
        entries.append(ClassEntry(item[0], item[1], _colour(item[2], where), item[3] if len(item) == 4 else None))
    if len({e.value for e in entries}) != len(entries):
        raise CollectionError(f"{where}: class values must be unique")
    return tuple(entries)


def _bit(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_BIT:
        raise CollectionError(f"{where}: a bit is a whole number from 0 to {_MAX_BIT}, not {value!r}")
    return value


def _flags(raw: object, where: str) -> tuple[FlagEntry, ...]:
    if not isinstance(raw, list) or not all(
        isinstance(item, list) and len(item) == 2 and isinstance(item[1], str) for item in raw
    ):
        raise CollectionError(f"{where}: flags must be a list of [bit, label]")
    entries = tuple(FlagEntry(_bit(bit, where), label) for bit, label in raw)
    if len({e.bit for e in entries}) != len(entries):
        raise CollectionError(f"{where}: flag bits must be unique")
    return entries


def _bit_remap(raw: object, where: str) -> tuple[tuple[int, int, int], ...]:
    if not isinstance(raw, list) or not all(
        isinstance(item, list) and len(item) == 3 and all(isinstance(v, int) and not isinstance(v, bool) for v in item)
        for item in raw
    ):
        raise CollectionError(f"{where}: bit_remap must be a list of [mask, value, bit]")
    for mask, value, bit in raw:
        if mask <= 0 or value & ~mask or value < 0:
            raise CollectionError(f"{where}: bit_remap needs a positive mask and a value within it")
        _bit(bit, where)
    return tuple((mask, value, bit) for mask, value, bit in raw)


def _number(raw: Mapping, key: str, where: str, default: float | None) -> float | None:
    value = raw.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CollectionError(f"{where}: {key} must be a number, not {value!r}")
    return float(value)


def _strings(raw: Mapping, key: str, where: str) -> tuple[str, ...]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CollectionError(f"{where}: {key} must be a list of strings")
    return tuple(value)


def _band(name: str, raw: Mapping, defaults: Mapping, where: str) -> Band:
    where = f"{where}: band {name}"
    if not _BAND_NAME.fullmatch(name):
        raise CollectionError(f"{where}: a band name is a letter, then letters, digits or _ (at most 32)")
    values = {**defaults, **raw}
    unknown = set(values) - _BAND_KEYS
    if unknown:
        raise CollectionError(f"{where}: unknown keys {sorted(unknown)}")
    kind = values.get("kind")
    if kind not in KINDS:
        raise CollectionError(f"{where}: kind must be one of {', '.join(KINDS)}, not {kind!r}")
    resolution = _number(values, "resolution", where, None)
    if resolution is None or resolution <= 0:
        raise CollectionError(f"{where}: resolution (metres) must be a positive number")
    classes = _classes(values["classes"], where) if "classes" in values else ()
    if classes and kind != "class":
        raise CollectionError(f"{where}: only class bands have classes")
    flags = _flags(values["flags"], where) if "flags" in values else ()
    bit_remap = _bit_remap(values["bit_remap"], where) if "bit_remap" in values else ()
    if (flags or bit_remap) and kind != "bits":
        raise CollectionError(f"{where}: only bit-flag bands (kind bits) have flags and bit_remap")
    index = values.get("band_index")
    if index is not None and (isinstance(index, bool) or not isinstance(index, int) or index < 0):
        raise CollectionError(f"{where}: band_index must be a whole number from 0")
    scale = _number(values, "scale", where, 1.0) or 0.0
    offset = _number(values, "offset", where, 0.0) or 0.0
    minimum = _number(values, "minimum", where, None)
    if kind in ("class", "bits"):  # integer codes are never scaled
        scale, offset, minimum = 1.0, 0.0, None
    if scale == 0:
        raise CollectionError(f"{where}: scale must not be 0")
    squared = values.get("squared", False)
    if not isinstance(squared, bool) or (squared and kind != "physical"):
        raise CollectionError(f"{where}: squared is true or false, and only for physical bands")
    calibration = values.get("calibration")
    if calibration is not None and (calibration not in CALIBRATIONS or not squared):
        raise CollectionError(f"{where}: calibration is one of {', '.join(CALIBRATIONS)}, for squared bands")
    return Band(
        name=name,
        title=str(values.get("title", name)),
        resolution=resolution,
        kind=kind,
        unit=values.get("unit"),
        common_name=values.get("common_name"),
        stac_keys=_strings(values, "stac_keys", where),
        nodata=_number(values, "nodata", where, None),
        scale=scale,
        offset=offset,
        minimum=minimum,
        substitute=values.get("substitute"),
        band_index=index,
        classes=classes,
        squared=squared,
        calibration=calibration,
        flags=flags,
        bit_remap=bit_remap,
    )


def _cloud_mask(raw: object, bands: Mapping[str, Band], where: str) -> CloudMask:
    """`{ band, classes }` on a class band, or `{ band, bits }` on a bit-flag band."""
    band = bands.get(str(raw.get("band"))) if isinstance(raw, Mapping) else None
    if not isinstance(raw, Mapping) or band is None or not band.is_class:
        raise CollectionError(f"{where}: cloud_mask needs `band`, one of its class or bit-flag bands")
    if band.is_bits:
        if "classes" in raw or not raw.get("bits"):
            raise CollectionError(f"{where}: the cloud_mask of bit-flag band {band.name} needs `bits`, not `classes`")
        return CloudMask(band.name, bits=tuple(_bit(b, where) for b in raw["bits"]))
    if "bits" in raw or not raw.get("classes"):
        raise CollectionError(f"{where}: the cloud_mask of class band {band.name} needs `classes`, not `bits`")
    return CloudMask(band.name, classes=tuple(int(v) for v in raw["classes"]))


def _collection(raw: Mapping, bands: Mapping[str, Band], path: Path) -> Collection:
    where = f"{path.name}: collection {raw.get('id', '?')}"
    unknown = set(raw) - _COLLECTION_KEYS
    if unknown:
        raise CollectionError(f"{where}: unknown keys {sorted(unknown)}")
    for key in ("id", "title", "default_layer"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise CollectionError(f"{where}: {key} is required")
    names = _strings(raw, "bands", where) if "bands" in raw else tuple(bands)
    missing = [n for n in names if n not in bands]
    if missing or not names:
        raise CollectionError(f"{where}: bands {missing or '[]'} are not in the file's band table")
    chosen = {n: bands[n] for n in names}
    for band in chosen.values():
        if band.substitute is not None and band.substitute not in chosen:
            raise CollectionError(f"{where}: band {band.name}'s substitute {band.substitute} is not among its bands")
    cloud_mask = _cloud_mask(raw["cloud_mask"], chosen, where) if "cloud_mask" in raw else None
    layouts = _strings(raw, "layouts", where)
    if not layouts:
        raise CollectionError(f"{where}: layouts must name at least one on-disk layout")
    pattern = _file_pattern(raw, chosen, where)
    if "named-files" in layouts and pattern is None:
        raise CollectionError(f"{where}: the named-files layout needs a file_pattern")
    return Collection(
        id=raw["id"],
        title=raw["title"],
        description=str(raw.get("description", "")),
        attribution=str(raw.get("attribution", "")),
        bands=chosen,
        layouts=layouts,
        default_layer=raw["default_layer"],
        constellation=raw.get("constellation"),
        instruments=_strings(raw, "instruments", where),
        processing_level=raw.get("processing_level"),
        product_types=_strings(raw, "product_types", where),
        name_patterns=_strings(raw, "name_patterns", where),
        cloud_mask=cloud_mask,
        grid=raw.get("grid"),
        default=bool(raw.get("default", False)),
        fallback=bool(raw.get("fallback", False)),
        searchable=_strings(raw, "searchable", where),
        baseline_property=raw.get("baseline_property"),
        file_pattern=pattern,
        datetime=_datetime(raw, where),
        source=path,
    )


def _file_pattern(raw: Mapping, bands: Mapping[str, Band], where: str) -> re.Pattern[str] | None:
    """A regular expression over file names whose named groups say what a file is (_PATTERN_GROUPS)."""
    text = raw.get("file_pattern")
    if text is None:
        return None
    try:
        pattern = re.compile(text) if isinstance(text, str) else None
    except re.error as exc:
        raise CollectionError(f"{where}: file_pattern is no regular expression: {exc}") from exc
    if pattern is None or "product" not in pattern.groupindex:
        raise CollectionError(f"{where}: file_pattern must be a regular expression with a (?P<product>...) group")
    unknown = set(pattern.groupindex) - _PATTERN_GROUPS
    if unknown:
        raise CollectionError(f"{where}: file_pattern has unknown groups {sorted(unknown)}")
    if "band" not in pattern.groupindex and len(bands) != 1:
        raise CollectionError(f"{where}: file_pattern needs a (?P<band>...) group for a collection of several bands")
    return pattern


def _datetime(raw: Mapping, where: str) -> datetime | None:
    value = raw.get("datetime")
    if value is None:
        return None
    if isinstance(value, datetime):  # TOML's own date-times
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise CollectionError(f"{where}: datetime must be an ISO 8601 date-time, not {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def read_collection_file(path: Path) -> list[Collection]:
    """The collections one file defines."""
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CollectionError(f"{path.name}: {exc}") from exc
    unknown = set(raw) - {"bands", "defaults", "collection"}
    if unknown:
        raise CollectionError(f"{path.name}: unknown tables {sorted(unknown)}")
    defaults = raw.get("defaults", {})
    bands = {name: _band(name, spec, defaults, path.name) for name, spec in raw.get("bands", {}).items()}
    entries = raw.get("collection", [])
    if not entries:
        raise CollectionError(f"{path.name}: defines no [[collection]]")
    return [_collection(entry, bands, path) for entry in entries]


def load_collections(directory: Path = BUILTIN_DIR, extra: Iterable[Path] = ()) -> Collections:
    """Every `*.toml` in `directory`, then the `extra` files (a user's own collections)."""
    builtin = [c for path in sorted(directory.glob("*.toml")) for c in read_collection_file(path)]
    own = [replace(c, builtin=False) for path in map(Path, extra) for c in read_collection_file(path)]
    return Collections([*builtin, *own])


@cache
def builtin_collections() -> Collections:
    """The built-in collections, read once (they never change while the process runs)."""
    return load_collections()
