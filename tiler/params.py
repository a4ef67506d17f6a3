"""Parsing request parameters into typed values, once, at the edge: the one set of parsers the XYZ
routes, `/search`, mosaics, WMS and WMTS use.

Every function raises a domain error naming the parameter (`InvalidParameter` and its kinds, 400;
`NotFound`, 404; `TooLarge`, 413). `label` is how a message names the parameter: OGC requests
write them in capitals (`WIDTH`), the XYZ routes as sent (`width`).
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import morecantile
from morecantile import TileMatrixSet
from rasterio.errors import CRSError
from rasterio.warp import transform_bounds

from renderers import (
    MEDIA_TYPES,
    ExpressionError,
    RenderSpec,
    Stretch,
    named_colormap,
    named_colormaps,
    parse_expressions,
)
from renderers.evalscript import Evalscript, EvalscriptCache, EvalscriptError
from styles import Layers
from tiler.catalog import ORDERS, BBox
from tiler.collections import Collection as ProductCollection
from tiler.collections import Collections
from tiler.crs import crs_from_code
from tiler.errors import (
    InvalidCRS,
    InvalidFormat,
    InvalidParameter,
    InvalidTime,
    LayerNotDefined,
    MissingParameter,
    TileOutOfRange,
    TooLarge,
)
from tiler.pipeline.job import Encoding, MosaicQuery, ScriptSpec, Styling
from tiler.pipeline.scripts import script_failure
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


TIFF_EXTENSIONS = ("tif", "tiff")


def preview_encoding(ext: str, query: Query) -> Encoding:
    """A picture format, or a GeoTIFF: of the layer's values, or of its picture with `visual=true`."""
    if ext.lower() in TIFF_EXTENSIONS:
        return Encoding("tiff", "image/tiff", values=not boolean(query, "visual"))
    fmt = image_format(ext)
    return Encoding(fmt, MEDIA_TYPES[fmt])


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
        """In the TMS's own CRS: morecantile's `xy_bounds`, from the matrix's numbers kept per zoom
        (finding the matrix is most of its 7 µs, on every request, cache hits included)."""
        lattice = _lattice(self.tms.id, self.z)
        if lattice is None:
            return tuple(self.tms.xy_bounds(morecantile.Tile(self.x, self.y, self.z)))  # type: ignore[return-value]
        origin_x, origin_y, cell, width, height = lattice
        # The same operations in the same order as morecantile's, so the same floats.
        left, right = origin_x + self.x * cell * 1 * width, origin_x + (self.x + 1) * cell * 1 * width
        top, bottom = origin_y - self.y * cell * height, origin_y - (self.y + 1) * cell * height
        return left, bottom, right, top

    @property
    def geographic_bounds(self) -> BBox:
        return tuple(self.tms.bounds(morecantile.Tile(self.x, self.y, self.z)))  # type: ignore[return-value]


@cache
def _lattice(tms_id: str, z: int) -> tuple[float, float, float, int, int] | None:
    """Origin, cell size and tile size of a zoom's matrix, where tiles form a plain top-left lattice."""
    tms = shared_tms(tms_id)
    matrix = tms.matrix(z)
    if matrix.variableMatrixWidths is not None or matrix.cornerOfOrigin != "topLeft":
        return None
    origin_x, origin_y = tms._matrix_origin(matrix)  # the axis order the CRS uses, as xy_bounds takes it
    return origin_x, origin_y, matrix.cellSize, matrix.tileWidth, matrix.tileHeight


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


def sized(bounds: BBox, width: int | None, height: int | None, label: str = "bbox") -> tuple[int, int]:
    """(width, height) of an output over `bounds`: the side not given (one must be) from their
    aspect. Every route sizes its outputs here, so a box whose aspect is no number (a side of 0, or
    of more than a float holds, as from 1e308) is a 400, and an absurd side a number the caller's
    size limit refuses, never an overflow."""
    left, bottom, right, top = bounds
    across, up = right - left, top - bottom  # inf past the float range, never an exception
    aspect = up / across if across > 0 and math.isfinite(across) and math.isfinite(up) else math.nan
    if not (math.isfinite(aspect) and aspect > 0):
        raise InvalidParameter("the area has no extent to draw: its width or height is 0 or not finite", label)
    if height is None:
        assert width is not None
        height = max(1, round(min(width * aspect, 1e9)))
    elif width is None:
        width = max(1, round(min(height / aspect, 1e9)))
    return width, height


def preview_size(query: Query, bounds: BBox, settings: Settings) -> tuple[int, int]:
    """Output (width, height) of a preview of `bounds`, keeping their aspect ratio."""
    width = integer(query, "width", 512, minimum=1)
    if width > settings.max_preview_size:
        raise TooLarge(f"width {width} is over the limit of {settings.max_preview_size}", "width")
    width, height = sized(bounds, width, None)
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


def evalscript_text(raw: str, label: str = "evalscript") -> str:
    """An `evalscript` parameter's script: UTF-8 text in base64, standard or URL-safe, padded or not,
    as Sentinel Hub's EVALSCRIPT takes it."""
    # An unescaped '+' of standard base64 arrives as a space.
    text = raw.strip().replace(" ", "+").replace("-", "+").replace("_", "/")
    try:
        data = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except binascii.Error:
        raise InvalidParameter(f"{label} must be the script in base64 (standard or URL-safe)", label) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidParameter(f"{label}: the decoded script is not UTF-8 text", label) from None


def compiled_evalscript(text: str, scripts: EvalscriptCache, label: str = "evalscript") -> Evalscript:
    """The script compiled (once: `scripts` keeps it by hash); a refusal says why, with the line and
    column of a syntax error."""
    try:
        return scripts.get(text)
    except EvalscriptError as exc:
        raise script_failure(exc, label) from None


def script_styling(
    script: Evalscript, bands: Collection[str], subject: str, label: str = "evalscript", output: str = "default"
) -> Styling:
    """An evalscript's drawing of `output`, once its bands are known to be there and the output can be
    drawn (1 to 4 bands: grey, grey and alpha, RGB, RGBA)."""
    missing = sorted(script.bands - set(bands))
    if missing:
        raise InvalidParameter(f"{label}: the script reads band {', '.join(missing)}, which {subject} lacks", label)
    try:
        drawn = script.output(output)
    except EvalscriptError as exc:
        raise InvalidParameter(f"{label}: {exc}", label) from None
    if drawn.bands is not None and not 1 <= drawn.bands <= 4:
        raise InvalidParameter(
            f"{label}: output {output!r} has {drawn.bands} bands; an image draws 1 (grey), 2 (grey, alpha),"
            " 3 (RGB) or 4 (RGBA)",
            label,
        )
    return Styling(ScriptSpec(script, output), f"evalscript={script.sha256}|output={output}")


def styling(
    query: Query,
    bands: Collection[str],
    collection: ProductCollection,
    subject: str,
    layers: Layers,
    settings: Settings,
    scripts: EvalscriptCache,
) -> Styling:
    """What to draw from `bands` of `collection`: the user's evalscript (`evalscript`, in base64), the
    user's band math (`expression`, `rescale`, `colormap`) or a named layer (the collection's default
    one when none is named), which is band math or an evalscript itself. `subject` names the bands'
    owner in errors: a product, a mosaic."""
    expression = query.get("expression")
    rescale = query.get("rescale")
    colormap_name = query.get("colormap")
    evalscript = query.get("evalscript")
    if evalscript:
        if expression or rescale or colormap_name:
            raise InvalidParameter(
                "an evalscript draws by itself: leave out expression, rescale and colormap", "evalscript"
            )
        script = compiled_evalscript(evalscript_text(evalscript), scripts)
        return script_styling(script, bands, subject)
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

    name = query.get("layer") or default_layer(collection, bands, layers)
    layer = layers.get(name, collection.id)
    if layer is None:
        if layers.named(name):
            raise InvalidParameter(f"layer {name} does not apply to {collection.id} products", "layer")
        raise LayerNotDefined(f"unknown layer '{name[:60]}'; see /layers", "layer")
    missing = sorted(layer.bands - set(bands))
    if missing:
        raise InvalidParameter(
            f"layer {name} needs band {', '.join(missing)}, which {subject} lacks (it has {', '.join(sorted(bands))})",
            "layer",
        )
    if layer.script is not None:
        if rescale:
            raise InvalidParameter(f"rescale applies to band math; layer {name} is an evalscript", "rescale")
        return script_styling(compiled_evalscript(layer.script.text, scripts, "layer"), bands, subject, "layer")
    spec = layer.spec
    assert spec is not None  # a layer is band math or an evalscript
    if rescale:
        spec = RenderSpec(
            spec.expressions, _rescale(rescale, len(spec.expressions)), spec.colormap, spec.value_transform, spec.relief
        )
    return Styling(spec, f"layer={name}|rescale={rescale}", layer.resampling)


def default_layer(collection: ProductCollection, bands: Collection[str], layers: Layers) -> str:
    """The collection's default layer; for a product lacking its bands (a Sentinel-1 product
    without VV), the first of the collection's layers, by name, that the product can draw."""
    chosen = layers.get(collection.default_layer, collection.id)
    if chosen is None or chosen.bands <= set(bands):
        return collection.default_layer
    fitting = sorted(layers.for_collection(collection.id), key=lambda layer: layer.name)
    drawable = (layer.name for layer in fitting if layer.bands <= set(bands))
    return next(drawable, collection.default_layer)


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
        # Inside the try: a zone can move an instant of year 1 or 9999 out of range (OverflowError).
        value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise InvalidTime(
            f"{label}: '{text[:40]}' is not a date (YYYY, YYYY-MM, YYYY-MM-DD or an ISO 8601 date-time)", label
        ) from None
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


WEB_MERCATOR = "EPSG:3857"
_MERCATOR_LATITUDE = 85.0  # Web Mercator ends at +-85.06 degrees


def mercator_area(box: BBox, label: str = "bbox") -> BBox:
    """A WGS84 box in Web Mercator metres, where mosaic previews and time-lapses are drawn: its part
    within +-85 degrees of latitude; a box wholly beyond that is a 400."""
    west, south, east, north = box
    south, north = max(south, -_MERCATOR_LATITUDE), min(north, _MERCATOR_LATITUDE)
    if south >= north:
        raise InvalidParameter(
            f"{label} lies beyond {_MERCATOR_LATITUDE} degrees of latitude, outside Web Mercator", label
        )
    return transform_bounds("EPSG:4326", WEB_MERCATOR, west, south, east, north)


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


# Request parameters that filter products on a property, and the property (`Product.properties`);
# a collection lists in `searchable` the properties its products carry.
PROPERTY_FILTERS = {"orbit": ("sat:orbit_state", ("ascending", "descending"))}


def property_filters(
    query: Query, collection: ProductCollection | None, collections: Collections, label: Callable[[str], str] = str
) -> tuple[tuple[str, str], ...]:
    """(property, value) for each filter parameter given (`orbit=ascending`), checked against
    its allowed values and against `collection` (None: any collection that carries it)."""
    chosen = []
    for name, (prop, allowed) in PROPERTY_FILTERS.items():
        raw = query.get(name)
        if not raw:
            continue
        value = raw.lower()
        if value not in allowed:
            raise InvalidParameter(
                f"{label(name)} must be one of {', '.join(allowed)}, not '{_shown(raw)}'", label(name)
            )
        carriers = [c.id for c in collections.values() if prop in c.searchable]
        if collection is not None and prop not in collection.searchable:
            raise InvalidParameter(
                f"{label(name)} does not apply to {collection.id}: its products have no {prop} "
                f"(it applies to {', '.join(carriers) or 'no collection here'})",
                label(name),
            )
        chosen.append((prop, value))
    return tuple(chosen)


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
    return MosaicQuery(
        collection.id,
        start,
        end,
        max_cloud(query.get("maxcc"), label("maxcc")),
        priority,
        cloud_mask,
        property_filters(query, collection, collections, label),
    )


@dataclass(frozen=True)
class SearchQuery:
    collection: str | None
    bbox: BBox | None
    start: datetime | None
    end: datetime | None
    max_cloud: float | None
    limit: int
    page: int  # from 1
    properties: tuple[tuple[str, str], ...] = ()  # orbit=...: (property, value) pairs

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


def search_query(query: Query, collections: Collections) -> SearchQuery:
    start, end = interval(query.get("datetime"), "datetime")
    limit = positive_integer(query.get("limit"), "limit", DEFAULT_SEARCH_LIMIT, MAX_SEARCH_LIMIT)
    collection = collection_id(query.get("collection"), collections)
    return SearchQuery(
        collection=collection,
        bbox=bbox(query.get("bbox")),
        start=start,
        end=end,
        max_cloud=max_cloud(query.get("maxcc"), "maxcc"),
        limit=limit,
        page=positive_integer(query.get("page"), "page", 1, 10**9 // limit),
        properties=property_filters(query, collections[collection] if collection else None, collections),
    )


# ---------------------------------------------------------------------------------------------
# Analysis: statistics, crops and time-lapses (tiler.analysis)

# Sentinel Hub's ISO 8601 durations are accepted beside the words.
AGGREGATIONS = {"acquisition": "acquisition", "day": "day", "P1D": "day", "week": "week", "P1W": "week"}
AGGREGATIONS |= {"month": "month", "P1M": "month"}
MAX_PERCENTILES = 20
MAX_BINS = 1000


def aggregation(raw: str | None, default: str = "acquisition", label: str = "interval") -> str:
    """acquisition, day, week or month (or P1D, P1W, P1M)."""
    if not raw:
        return default
    if raw not in AGGREGATIONS:
        raise InvalidParameter(f"{label} must be acquisition, day, week or month, not '{_shown(raw)}'", label)
    return AGGREGATIONS[raw]


def resolution(raw: str | None, default: float, label: str = "resolution") -> float:
    """A pixel size: a positive number, in metres (or the units of a projected `crs` given)."""
    if not raw:
        return default
    value = parse_number(raw.removesuffix("m"), label)
    if value <= 0:
        raise InvalidParameter(f"{label} must be positive", label)
    return value


def percentiles(raw: str | None, label: str = "percentiles") -> tuple[float, ...]:
    """Comma-separated numbers from 0 to 100."""
    if not raw:
        return ()
    values = tuple(parse_number(part, label) for part in raw.split(","))
    if len(values) > MAX_PERCENTILES:
        raise InvalidParameter(f"{label}: at most {MAX_PERCENTILES}", label)
    if not all(0 <= v <= 100 for v in values):
        raise InvalidParameter(f"{label} must lie from 0 to 100", label)
    return values


@dataclass(frozen=True)
class Bins:
    """A histogram's bins: `count` equal bins over `span` (the values' own min..max when None), or
    the given `edges`."""

    count: int | None = None
    span: tuple[float, float] | None = None
    edges: tuple[float, ...] | None = None


def bins(raw: str | None, span: str | None, label: str = "bins") -> Bins | None:
    """`bins=10` (with `binrange=low,high` or the values' own range) or `bins=e0,e1,...,en` (edges)."""
    if not raw:
        if span:
            raise InvalidParameter(f"binrange needs {label}", "binrange")
        return None
    parts = raw.split(",")
    if len(parts) == 1:
        count = parse_integer(parts[0], label)
        if not 1 <= count <= MAX_BINS:
            raise InvalidParameter(f"{label} must be from 1 to {MAX_BINS}", label)
        low_high = None
        if span:
            low, high = numbers(span, "binrange", 2)
            # numpy needs the span and each bin's width to be a finite, positive float.
            if not (low < high and math.isfinite(high - low) and (high - low) / count > 0):
                raise InvalidParameter("binrange needs low < high, no more than a float's range apart", "binrange")
            low_high = (low, high)
        return Bins(count=count, span=low_high)
    edges = tuple(parse_number(part, label) for part in parts)
    if len(edges) > MAX_BINS + 1 or any(a >= b for a, b in zip(edges, edges[1:])):
        raise InvalidParameter(f"{label}: edges must increase, at most {MAX_BINS + 1} of them", label)
    if span:
        raise InvalidParameter(f"binrange applies to a count of {label}, not to edges", "binrange")
    return Bins(edges=edges)


def analysis_size(query: Query, bounds: BBox, maximum: int) -> tuple[int, int] | None:
    """`width` and/or `height` of an output over `bounds` (the other keeping the aspect), or None
    when neither is given."""
    width, height = query.get("width"), query.get("height")
    if not width and not height:
        return None
    w, h = sized(
        bounds,
        integer(query, "width", minimum=1) if width else None,
        integer(query, "height", minimum=1) if height else None,
    )
    if w > maximum or h > maximum:
        raise TooLarge(f"{w} x {h} px is over the limit of {maximum} px a side", "width")
    return w, h


# ---------------------------------------------------------------------------------------------
# Sentinel Hub's Process API: POST /process with the evalscript in a JSON body

PROCESS_FORMATS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}
PROCESS_RESAMPLING = {"NEAREST": "nearest", "BILINEAR": "bilinear", "BICUBIC": "cubic"}
DEFAULT_PROCESS_WIDTH = 512  # when the request gives neither width nor height
_CRS_URI = re.compile(r"\Ahttps?://www\.opengis\.net/def/crs/(?:EPSG/0/(\d+)|OGC/1\.3/(CRS84))\Z")


@dataclass(frozen=True)
class ProcessRequest:
    """A Process API request: one data source (a mosaic of a collection, or one of its products, an
    eo-tiler addition), the area and size of the output, its format, and the evalscript."""

    mosaic: MosaicQuery
    product: str | None
    bbox: BBox | None  # in `crs`; None: the product's own extent
    crs: str
    width: int | None  # None: from the other side and the area's aspect
    height: int | None
    fmt: str
    media_type: str
    output: str  # the evalscript output drawn
    evalscript: str
    upsampling: str
    downsampling: str


_KINDS = {dict: "an object", list: "a list", str: "a string", int: "a whole number", float: "a number"}


def _member(value: dict, key: str, path: str, kind: type, default: object = None) -> Any:
    """`value[key]` checked to be a `kind` (a float may be given as an integer), or `default` when
    absent or null; `path` names `value` in messages."""
    item = value.get(key)
    if item is None:
        return default
    kinds = (int, float) if kind is float else kind
    if isinstance(item, bool) or not isinstance(item, kinds):
        raise InvalidParameter(f"{path}.{key} must be {_KINDS[kind]}", f"{path}.{key}")
    return item


def _process_crs(raw: object) -> str:
    if raw is None:
        return "OGC:CRS84"
    where = "input.bounds.properties.crs"
    match = _CRS_URI.match(raw) if isinstance(raw, str) else None
    if match is None:
        raise InvalidParameter(
            f"{where} must be an OGC CRS URI such as http://www.opengis.net/def/crs/EPSG/0/3857", where
        )
    code = f"EPSG:{match[1]}" if match[1] else "OGC:CRS84"
    try:
        crs_from_code(code)
    except CRSError:  # an EPSG code of the right form that PROJ does not know (EPSG:99999)
        raise InvalidCRS(f"{where}: {code} is not a coordinate reference system PROJ knows", where) from None
    return code


def _process_size(raw: dict, max_size: int) -> tuple[int | None, int | None]:
    sides = []
    for key in ("width", "height"):
        value = _member(raw, key, "output", int)
        if value is not None and not 1 <= value <= max_size:
            raise TooLarge(f"output.{key} must be from 1 to {max_size}", f"output.{key}")
        sides.append(value)
    return sides[0], sides[1]


def output_size(width: int | None, height: int | None, bounds: BBox, max_size: int) -> tuple[int, int]:
    """The output's width and height: as given, or the missing side from the area's aspect."""
    if width is None and height is None:
        width = DEFAULT_PROCESS_WIDTH
    if width is None or height is None:
        width, height = sized(bounds, width, height, "input.bounds")
    if width > max_size or height > max_size:
        raise TooLarge(f"the output would be {width} x {height} px, over the limit of {max_size}", "output")
    return width, height


def process_request(body: object, collections: Collections, settings: Settings) -> ProcessRequest:
    """A Process API body (`{input: {bounds, data}, output: {width, height, responses}, evalscript}`)
    parsed; messages name the member at fault by its path."""
    if not isinstance(body, dict):
        raise InvalidParameter("the body must be a JSON object with input, output and evalscript", "body")
    evalscript = _member(body, "evalscript", "body", str)
    if not evalscript:
        raise MissingParameter("evalscript is required: the script's text", "evalscript")
    source = _member(body, "input", "body", dict, {})
    data = _member(source, "data", "input", list, [])
    if len(data) != 1 or not isinstance(data[0], dict):
        raise InvalidParameter("input.data must hold exactly one data source object (no data fusion)", "input.data")
    entry = data[0]
    kind = _member(entry, "type", "input.data[0]", str) or collections.default.id
    if kind not in collections:
        raise InvalidParameter(
            f"input.data[0].type '{kind[:60]}' is unknown; use one of {', '.join(collections)}",
            "input.data[0].type",
        )
    filters = _member(entry, "dataFilter", "input.data[0]", dict, {})
    time_range = _member(filters, "timeRange", "input.data[0].dataFilter", dict, {})
    start = _member(time_range, "from", "input.data[0].dataFilter.timeRange", str)
    end = _member(time_range, "to", "input.data[0].dataFilter.timeRange", str)
    max_cc = _member(filters, "maxCloudCoverage", "input.data[0].dataFilter", float)
    order = _member(filters, "mosaickingOrder", "input.data[0].dataFilter", str)
    labels = {
        "time": "input.data[0].dataFilter.timeRange",
        "maxcc": "input.data[0].dataFilter.maxCloudCoverage",
        "priority": "input.data[0].dataFilter.mosaickingOrder",
    }
    query = {"collection": kind, "time": f"{start or '..'}/{end or '..'}"}
    query |= {"maxcc": str(max_cc)} if max_cc is not None else {}
    query |= {"priority": order} if order else {}
    processing = _member(entry, "processing", "input.data[0]", dict, {})
    resampling = []
    for key in ("upsampling", "downsampling"):
        name = _member(processing, key, "input.data[0].processing", str, "NEAREST")
        if name.upper() not in PROCESS_RESAMPLING:
            where = f"input.data[0].processing.{key}"
            raise InvalidParameter(f"{where} must be one of {', '.join(PROCESS_RESAMPLING)}", where)
        resampling.append(PROCESS_RESAMPLING[name.upper()])
    bounds = _member(source, "bounds", "input", dict, {})
    if _member(bounds, "geometry", "input.bounds", dict) is not None:
        raise InvalidParameter(
            "input.bounds.geometry is not supported: give input.bounds.bbox", "input.bounds.geometry"
        )
    raw_bbox = _member(bounds, "bbox", "input.bounds", list)
    box: BBox | None = None
    if raw_bbox is not None:
        if len(raw_bbox) != 4 or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in raw_bbox):
            raise InvalidParameter(
                "input.bounds.bbox must be four numbers: minx, miny, maxx, maxy", "input.bounds.bbox"
            )
        box = (float(raw_bbox[0]), float(raw_bbox[1]), float(raw_bbox[2]), float(raw_bbox[3]))
        if not all(math.isfinite(v) for v in box) or box[0] >= box[2] or box[1] >= box[3]:
            raise InvalidParameter("input.bounds.bbox needs finite minx < maxx and miny < maxy", "input.bounds.bbox")
    properties = _member(bounds, "properties", "input.bounds", dict, {})
    crs = _process_crs(_member(properties, "crs", "input.bounds.properties", str))
    product = _member(entry, "product", "input.data[0]", str)
    if box is None and not product:
        raise MissingParameter(
            "input.bounds.bbox is required (or input.data[0].product for one product)", "input.bounds"
        )
    output = _member(body, "output", "body", dict, {})
    width, height = _process_size(output, settings.max_image_size)
    responses = _member(output, "responses", "output", list, [{}])
    if len(responses) != 1 or not isinstance(responses[0], dict):
        raise InvalidParameter(
            "output.responses must hold one response: eo-tiler answers with one image", "output.responses"
        )
    response = responses[0]
    identifier = _member(response, "identifier", "output.responses[0]", str, "default")
    media = _member(
        _member(response, "format", "output.responses[0]", dict, {}),
        "type",
        "output.responses[0].format",
        str,
        "image/png",
    )
    if media not in PROCESS_FORMATS:
        where = "output.responses[0].format.type"
        raise InvalidFormat(f"{where} '{media[:40]}' is not offered; use {', '.join(PROCESS_FORMATS)}", where)
    return ProcessRequest(
        mosaic=mosaic_query(query, collections, labels),
        product=product or None,
        bbox=box,
        crs=crs,
        width=width,
        height=height,
        fmt=PROCESS_FORMATS[media],
        media_type=media,
        output=identifier,
        evalscript=evalscript,
        upsampling=resampling[0],
        downsampling=resampling[1],
    )
