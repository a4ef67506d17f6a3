"""Parsing request parameters into typed values, once, at the edge: the one set of parsers the XYZ
routes, `/search`, mosaics, WMS and WMTS use.

Every function raises a domain error naming the parameter (`InvalidParameter` and its kinds, 400;
`NotFound`, 404; `TooLarge`, 413). `label` is how a message names the parameter: OGC requests
write them in capitals (`WIDTH`), the XYZ routes as sent (`width`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

import morecantile
from morecantile import TileMatrixSet

from renderers import ExpressionError, RenderSpec, Stretch, named_colormap, named_colormaps, parse_expressions
from styles import Layers
from tiler.catalog import ORDERS, BBox
from tiler.collections import Collection as ProductCollection
from tiler.collections import Collections
from tiler.errors import (
    InvalidFormat,
    InvalidParameter,
    InvalidTime,
    LayerNotDefined,
    MissingParameter,
    TileOutOfRange,
    TooLarge,
)
from tiler.pipeline.job import MosaicQuery, Styling
from tiler.settings import Settings
from tiler.settings import boolean as boolean_word

Query = Mapping[str, str]

IMAGE_FORMATS = ("png", "webp", "jpg", "jpeg")
TILE_SIZES = (256, 512)
DEFAULT_PRIORITY = "mostRecent"
MAX_SEARCH_LIMIT = 1000
DEFAULT_SEARCH_LIMIT = 10
_SHOWN = 40  # characters of a bad value repeated in a message


# ---------------------------------------------------------------------------------------------
# Primitives


def _shown(raw: str) -> str:
    return raw[:_SHOWN]


def optional(query: Query, name: str) -> str | None:
    """The parameter's value, or None when it is absent or empty."""
    value = query.get(name)
    return value if value else None


def required(query: Query, name: str, label: str | None = None) -> str:
    value = query.get(name)
    if not value:
        raise MissingParameter(f"missing parameter {label or name}", label or name)
    return value


def parse_integer(raw: str, label: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise InvalidParameter(f"{label} must be an integer, not '{_shown(raw)}'", label) from None


def integer(
    query: Query, name: str, default: int | None = None, *, label: str | None = None, minimum: int | None = None
) -> int:
    """An integer parameter; `default` when absent (a missing parameter when there is none)."""
    label = label or name
    raw = query.get(name)
    if not raw:
        if default is None:
            raise MissingParameter(f"missing parameter {label}", label)
        return default
    value = parse_integer(raw, label)
    if minimum is not None and value < minimum:
        raise InvalidParameter(f"{label} must be at least {minimum}", label)
    return value


def parse_number(raw: str, label: str) -> float:
    """A finite decimal number (no inf, no nan)."""
    try:
        value = float(raw)
    except ValueError:
        raise InvalidParameter(f"{label} must be a number, not '{_shown(raw)}'", label) from None
    if not math.isfinite(value):
        raise InvalidParameter(f"{label} must be finite", label)
    return value


def number(query: Query, name: str, default: float, *, label: str | None = None) -> float:
    raw = query.get(name)
    return parse_number(raw, label or name) if raw else default


def parse_boolean(raw: str, label: str) -> bool:
    """true/false, 1/0, yes/no, on/off in any case (`tiler.settings.boolean`); anything else is an error."""
    try:
        return boolean_word(raw)
    except ValueError:
        raise InvalidParameter(f"{label} must be true or false, not '{_shown(raw)}'", label) from None


def boolean(query: Query, name: str, default: bool = False, *, label: str | None = None) -> bool:
    raw = query.get(name)
    return parse_boolean(raw, label or name) if raw else default


def numbers(raw: str, label: str, count: int) -> tuple[float, ...]:
    """`count` comma-separated finite numbers."""
    parts = raw.split(",")
    if len(parts) != count:
        raise InvalidParameter(f"{label} must be {count} comma-separated numbers", label)
    return tuple(parse_number(part, label) for part in parts)


# ---------------------------------------------------------------------------------------------
# Images and tiles


def image_format(ext: str) -> str:
    fmt = ext.lower()
    if fmt not in IMAGE_FORMATS:
        raise InvalidFormat(f"format '{ext[:20]}' is not supported; use one of {', '.join(IMAGE_FORMATS)}", "format")
    return "jpg" if fmt == "jpeg" else fmt


@cache
def shared_tms(name: str) -> TileMatrixSet:
    """One TileMatrixSet per name, shared by every request (never changed): morecantile's `get` deep-copies
    the set, a quarter of a millisecond per tile."""
    return morecantile.tms.get(name)


def tile_matrix_set(name: str | None) -> TileMatrixSet:
    name = name or "WebMercatorQuad"
    try:
        return shared_tms(name)
    except morecantile.errors.InvalidIdentifier:
        raise InvalidParameter(
            f"tms '{name[:60]}' is unknown; use one of {', '.join(morecantile.tms.list())}", "tms"
        ) from None


@dataclass(frozen=True)
class TileAddress:
    tms: TileMatrixSet
    z: int
    x: int
    y: int
    tilesize: int

    @property
    def bounds(self) -> BBox:
        """In the TMS's own CRS."""
        return tuple(self.tms.xy_bounds(morecantile.Tile(self.x, self.y, self.z)))  # type: ignore[return-value]

    @property
    def geographic_bounds(self) -> BBox:
        return tuple(self.tms.bounds(morecantile.Tile(self.x, self.y, self.z)))  # type: ignore[return-value]


def tile_address(tms: TileMatrixSet, z: int, x: int, y: int, tilesize: int = 256) -> TileAddress:
    """A tile of `tms`, checked against the grid before morecantile sees the numbers: it overflows
    on silly ones."""
    if not tms.minzoom <= z <= tms.maxzoom:
        raise TileOutOfRange(f"zoom {z} is outside {tms.id}'s range {tms.minzoom}..{tms.maxzoom}", "TILEMATRIX")
    matrix = tms.matrix(z)
    if not 0 <= y < matrix.matrixHeight:
        raise TileOutOfRange(f"tile {z}/{x}/{y} is outside {tms.id}: y must be below {matrix.matrixHeight}", "TILEROW")
    if not 0 <= x < matrix.matrixWidth:
        raise TileOutOfRange(f"tile {z}/{x}/{y} is outside {tms.id}: x must be below {matrix.matrixWidth}", "TILECOL")
    return TileAddress(tms, z, x, y, tilesize)


def tile_size(query: Query, settings: Settings) -> int:
    size = integer(query, "tilesize", 256)
    sizes = [s for s in TILE_SIZES if s <= settings.max_tile_size]
    if size not in sizes:
        raise InvalidParameter(f"tilesize must be one of {', '.join(map(str, sizes))}", "tilesize")
    return size


def preview_size(query: Query, bounds: BBox, settings: Settings) -> tuple[int, int]:
    """Output (width, height) of a preview of `bounds`, keeping their aspect ratio."""
    width = integer(query, "width", 512, minimum=1)
    if width > settings.max_preview_size:
        raise TooLarge(f"width {width} is over the limit of {settings.max_preview_size}", "width")
    left, bottom, right, top = bounds
    height = max(1, round(width * (top - bottom) / (right - left)))
    if height > settings.max_preview_size:
        raise TooLarge(f"the preview would be {height} px high, over the limit of {settings.max_preview_size}")
    return width, height


# ---------------------------------------------------------------------------------------------
# What to draw


def _rescale(raw: str, count: int) -> tuple[Stretch, ...]:
    """`min,max` for every band, or one pair per band: `0,0.3,0,0.3,0,0.3` (`;` or `|` may part pairs)."""
    try:
        values = [float(v) for v in re.split(r"[,;|]", raw) if v.strip()]
    except ValueError:
        raise InvalidParameter(
            f"rescale must be numbers 'min,max' (one pair per band), not '{raw[:60]}'", "rescale"
        ) from None
    if len(values) % 2 or not values or not all(math.isfinite(v) for v in values):
        raise InvalidParameter("rescale must be finite 'min,max' pairs", "rescale")
    pairs = list(zip(values[::2], values[1::2]))
    if any(low >= high for low, high in pairs):
        raise InvalidParameter("rescale needs min < max in every pair", "rescale")
    stretches = [Stretch("linear", low, high) for low, high in pairs]
    if len(stretches) == 1:
        return tuple(stretches) * count
    if len(stretches) != count:
        raise InvalidParameter(f"rescale has {len(stretches)} pairs for {count} expressions", "rescale")
    return tuple(stretches)


def styling(
    query: Query,
    bands: Collection[str],
    collection: ProductCollection,
    subject: str,
    layers: Layers,
    settings: Settings,
) -> Styling:
    """What to draw from `bands` of `collection`: a named layer (the collection's default one when
    none is named) or the user's band math (`expression`, `rescale`, `colormap`). `subject` names
    the bands' owner in errors: a product, a mosaic."""
    expression = query.get("expression")
    rescale = query.get("rescale")
    colormap_name = query.get("colormap")
    if expression:
        try:
            expressions = parse_expressions(
                expression, bands, max_length=settings.max_expression_length, max_depth=settings.max_expression_depth
            )
        except ExpressionError as exc:
            raise InvalidParameter(f"expression: {exc}", "expression") from None
        # Reflectances and normalised indices both live in 0..1 for the most part.
        stretches = (
            _rescale(rescale, len(expressions)) if rescale else (Stretch("linear", 0.0, 1.0),) * len(expressions)
        )
        colormap = None
        if colormap_name:
            if len(expressions) != 1:
                raise InvalidParameter("colormap applies to a single expression only", "colormap")
            try:
                colormap = named_colormap(colormap_name)
            except ValueError:
                raise InvalidParameter(
                    f"colormap '{colormap_name[:40]}' is unknown; for example {', '.join(named_colormaps()[:8])}",
                    "colormap",
                ) from None
        token = f"expr={';'.join(e.source for e in expressions)}|rescale={stretches}|cmap={colormap_name}"
        return Styling(RenderSpec(expressions, stretches, colormap), token)

    name = query.get("layer") or collection.default_layer
    layer = layers.get(name, collection.id)
    if layer is None:
        if layers.named(name):
            raise InvalidParameter(f"layer {name} does not apply to {collection.id} products", "layer")
        raise LayerNotDefined(f"unknown layer '{name[:60]}'; see /layers", "layer")
    missing = sorted(layer.spec.bands - set(bands))
    if missing:
        raise InvalidParameter(f"layer {name} needs band {', '.join(missing)}, which {subject} lacks", "layer")
    spec = layer.spec
    if rescale:
        spec = RenderSpec(
            spec.expressions, _rescale(rescale, len(spec.expressions)), spec.colormap, spec.value_transform, spec.relief
        )
    return Styling(spec, f"layer={name}|rescale={rescale}", layer.resampling)


# ---------------------------------------------------------------------------------------------
# Catalog queries: places, times, cloud cover, collections, mosaics

_REDUCED = re.compile(r"^(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2}))?)?$")


def _period(text: str, label: str) -> tuple[datetime, datetime]:
    """The first and last instant a date of reduced precision (`2020`, `2020-06`, `2020-06-01`)
    or a full ISO 8601 date-time (start = end) stands for, in UTC."""
    try:
        if m := _REDUCED.match(text):
            year, month, day = int(m["year"]), int(m["month"] or 1), int(m["day"] or 1)
            start = datetime(year, month, day, tzinfo=UTC)
            if m["day"]:
                after = start + timedelta(days=1)
            elif m["month"]:
                after = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
            else:
                after = datetime(year + 1, 1, 1, tzinfo=UTC)
            return start, after - timedelta(microseconds=1)
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except (ValueError, OverflowError):
        raise InvalidTime(
            f"{label}: '{text[:40]}' is not a date (YYYY, YYYY-MM, YYYY-MM-DD or an ISO 8601 date-time)", label
        ) from None
    value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return value, value


def interval(raw: str | None, label: str) -> tuple[datetime | None, datetime | None]:
    """`start/end`, either side reduced precision, empty or `..` (open); a single date is the
    whole of its period (a day, a month, a year). Nothing given: no limit."""
    if raw is None or raw.strip() in ("", "../..", "/"):
        return None, None
    parts = raw.strip().split("/")
    if len(parts) > 2:
        raise InvalidTime(f"{label} must be one date or 'start/end', not '{raw[:60]}'", label)
    if len(parts) == 1:
        return _period(parts[0], label)
    start = None if parts[0] in ("", "..") else _period(parts[0], label)[0]
    end = None if parts[1] in ("", "..") else _period(parts[1], label)[1]
    if start is not None and end is not None and start > end:
        raise InvalidTime(f"{label}: the start {parts[0][:30]} is after the end {parts[1][:30]}", label)
    return start, end


def bbox(raw: str | None, label: str = "bbox") -> BBox | None:
    """`west,south,east,north` in WGS84 degrees."""
    if raw is None or raw == "":
        return None
    try:
        values = [float(v) for v in raw.split(",")]
    except ValueError:
        raise InvalidParameter(
            f"{label} must be four numbers 'west,south,east,north', not '{raw[:60]}'", label
        ) from None
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise InvalidParameter(f"{label} must be four finite numbers 'west,south,east,north'", label)
    west, south, east, north = values
    if not (-180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= 90 and -90 <= north <= 90):
        raise InvalidParameter(f"{label} must lie within -180..180 degrees longitude and -90..90 latitude", label)
    if west >= east or south >= north:
        raise InvalidParameter(f"{label} needs west < east and south < north (no antimeridian crossing)", label)
    return west, south, east, north


def max_cloud(raw: str | None, label: str) -> float | None:
    """0..100 percent; 100 (the default) means no limit, which also admits products without a value."""
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise InvalidParameter(f"{label} must be a number from 0 to 100, not '{raw[:40]}'", label) from None
    if not 0 <= value <= 100:
        raise InvalidParameter(f"{label} must be from 0 to 100", label)
    return None if value == 100 else value


def collection_id(raw: str | None, collections: Collections, label: str = "collection") -> str | None:
    if raw is None or raw == "":
        return None
    if raw not in collections:
        raise InvalidParameter(f"{label} '{raw[:60]}' is unknown; use one of {', '.join(collections)}", label)
    return raw


def positive_integer(raw: str | None, label: str, default: int, maximum: int) -> int:
    if raw is None or raw == "":
        return default
    value = parse_integer(raw, label)
    if not 1 <= value <= maximum:
        raise InvalidParameter(f"{label} must be from 1 to {maximum}", label)
    return value


def is_mosaic_request(query: Query) -> bool:
    """A request without `product=` but with `collection=` or `time=` asks for a mosaic."""
    return not query.get("product") and bool(query.get("collection") or query.get("time"))


def mosaic_query(query: Query, collections: Collections, labels: Mapping[str, str] | None = None) -> MosaicQuery:
    """`collection`, `time` (`start/end`, reduced precision allowed), `maxcc` (0..100), `priority`
    (mostRecent, leastRecent, leastCC) and `cloudmask` (true/false). `labels` renames parameters in
    messages (WMS writes TIME, MAXCC...)."""
    labels = labels or {}

    def label(name: str) -> str:
        return labels.get(name, name)

    collection = collections[collection_id(query.get("collection"), collections) or collections.default.id]
    start, end = interval(query.get("time"), label("time"))
    priority = query.get("priority") or DEFAULT_PRIORITY
    if priority not in ORDERS:
        raise InvalidParameter(
            f"{label('priority')} '{priority[:40]}' is unknown; use one of {', '.join(ORDERS)}", label("priority")
        )
    cloud_mask = None
    if boolean(query, "cloudmask", label=label("cloudmask")):
        if collection.cloud_mask is None:
            raise InvalidParameter(
                f"{label('cloudmask')} needs a cloud classification, which {collection.id} lacks; "
                f"use {label('maxcc')} to limit cloud cover",
                label("cloudmask"),
            )
        cloud_mask = collection.cloud_mask
    return MosaicQuery(collection.id, start, end, max_cloud(query.get("maxcc"), label("maxcc")), priority, cloud_mask)


@dataclass(frozen=True)
class SearchQuery:
    collection: str | None
    bbox: BBox | None
    start: datetime | None
    end: datetime | None
    max_cloud: float | None
    limit: int
    page: int  # from 1

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


def search_query(query: Query, collections: Collections) -> SearchQuery:
    start, end = interval(query.get("datetime"), "datetime")
    limit = positive_integer(query.get("limit"), "limit", DEFAULT_SEARCH_LIMIT, MAX_SEARCH_LIMIT)
    return SearchQuery(
        collection=collection_id(query.get("collection"), collections),
        bbox=bbox(query.get("bbox")),
        start=start,
        end=end,
        max_cloud=max_cloud(query.get("maxcc"), "maxcc"),
        limit=limit,
        page=positive_integer(query.get("page"), "page", 1, 10**9 // limit),
    )
