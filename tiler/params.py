"""Parsing request parameters into typed values, once, at the edge. Everything here raises
`InvalidParameter` (400), `NotFound` (404) or `TooLarge` (413) with a message naming the parameter."""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import cache

import morecantile
from morecantile import TileMatrixSet

from renderers import ExpressionError, RenderSpec, Stretch, named_colormap, named_colormaps, parse_expressions
from styles import Layer
from tiler.errors import InvalidParameter, NotFound, TooLarge
from tiler.products import Product
from tiler.settings import Settings

IMAGE_FORMATS = ("png", "webp", "jpg", "jpeg")
TILE_SIZES = (256, 512)
DEFAULT_LAYER = "TRUE_COLOR"


def image_format(ext: str) -> str:
    fmt = ext.lower()
    if fmt not in IMAGE_FORMATS:
        raise InvalidParameter(f"format '{ext[:20]}' is not supported; use one of {', '.join(IMAGE_FORMATS)}")
    return "jpg" if fmt == "jpeg" else fmt


def _int(query: Mapping[str, str], name: str, default: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidParameter(f"{name} must be an integer, not '{raw[:40]}'") from None


@cache
def shared_tms(name: str) -> TileMatrixSet:
    """One TileMatrixSet per name, shared by every request (never changed): morecantile's `get` deep-copies
    the set, a quarter of a millisecond per tile."""
    return morecantile.tms.get(name)


def tile_matrix_set(query: Mapping[str, str]) -> TileMatrixSet:
    name = query.get("tms") or "WebMercatorQuad"
    try:
        return shared_tms(name)
    except morecantile.errors.InvalidIdentifier:
        raise InvalidParameter(
            f"tms '{name[:60]}' is unknown; use one of {', '.join(morecantile.tms.list())}"
        ) from None


@dataclass(frozen=True)
class TileAddress:
    tms: TileMatrixSet
    z: int
    x: int
    y: int
    tilesize: int

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """In the TMS's own CRS."""
        return tuple(self.tms.xy_bounds(morecantile.Tile(self.x, self.y, self.z)))  # type: ignore[return-value]

    @property
    def geographic_bounds(self) -> tuple[float, float, float, float]:
        return tuple(self.tms.bounds(morecantile.Tile(self.x, self.y, self.z)))  # type: ignore[return-value]


def tile_address(query: Mapping[str, str], z: int, x: int, y: int, settings: Settings) -> TileAddress:
    tms = tile_matrix_set(query)
    tilesize = _int(query, "tilesize", 256)
    sizes = [s for s in TILE_SIZES if s <= settings.max_tile_size]
    if tilesize not in sizes:
        raise InvalidParameter(f"tilesize must be one of {', '.join(map(str, sizes))}")
    # Check against the grid before morecantile sees the numbers: it overflows on silly ones.
    if not tms.minzoom <= z <= tms.maxzoom:
        raise InvalidParameter(f"zoom {z} is outside {tms.id}'s range {tms.minzoom}..{tms.maxzoom}")
    matrix = tms.matrix(z)
    if not (0 <= x < matrix.matrixWidth and 0 <= y < matrix.matrixHeight):
        raise InvalidParameter(
            f"tile {z}/{x}/{y} is outside {tms.id}: x must be below {matrix.matrixWidth}, y below {matrix.matrixHeight}"
        )
    return TileAddress(tms, z, x, y, tilesize)


def preview_size(query: Mapping[str, str], product: Product, settings: Settings) -> tuple[int, int]:
    """Output (width, height) of a whole-product preview, keeping the product's aspect ratio."""
    return preview_size_for(query, product.bounds, settings)


def preview_size_for(
    query: Mapping[str, str], bounds: tuple[float, float, float, float], settings: Settings
) -> tuple[int, int]:
    """Output (width, height) of a preview of `bounds`, keeping their aspect ratio."""
    width = _int(query, "width", 512)
    if width < 1:
        raise InvalidParameter("width must be at least 1")
    if width > settings.max_preview_size:
        raise TooLarge(f"width {width} is over the limit of {settings.max_preview_size}")
    left, bottom, right, top = bounds
    height = max(1, round(width * (top - bottom) / (right - left)))
    if height > settings.max_preview_size:
        raise TooLarge(f"the preview would be {height} px high, over the limit of {settings.max_preview_size}")
    return width, height


def _rescale(raw: str, count: int) -> tuple[Stretch, ...]:
    """`min,max` for every band, or one pair per band: `0,0.3,0,0.3,0,0.3` (`;` or `|` may part pairs)."""
    try:
        numbers = [float(v) for v in re.split(r"[,;|]", raw) if v.strip()]
    except ValueError:
        raise InvalidParameter(f"rescale must be numbers 'min,max' (one pair per band), not '{raw[:60]}'") from None
    if len(numbers) % 2 or not numbers or not all(math.isfinite(v) for v in numbers):
        raise InvalidParameter("rescale must be finite 'min,max' pairs")
    pairs = list(zip(numbers[::2], numbers[1::2]))
    if any(low >= high for low, high in pairs):
        raise InvalidParameter("rescale needs min < max in every pair")
    stretches = [Stretch("linear", low, high) for low, high in pairs]
    if len(stretches) == 1:
        return tuple(stretches) * count
    if len(stretches) != count:
        raise InvalidParameter(f"rescale has {len(stretches)} pairs for {count} expressions")
    return tuple(stretches)


@dataclass(frozen=True)
class Styling:
    spec: RenderSpec
    cache_token: str  # identifies the drawing uniquely, for the cache key


def styling(query: Mapping[str, str], product: Product, layers: Mapping[str, Layer], settings: Settings) -> Styling:
    """What to draw: a named layer or the user's band math, checked against the product's bands."""
    return styling_for(query, product.bands.keys(), product.collection, f"product {product.id}", layers, settings)


def styling_for(
    query: Mapping[str, str],
    bands: Collection[str],
    collection: str,
    subject: str,
    layers: Mapping[str, Layer],
    settings: Settings,
) -> Styling:
    """What to draw from `bands` of `collection` (`subject` names them in errors: a product, a mosaic)."""
    expression = query.get("expression")
    rescale = query.get("rescale")
    colormap_name = query.get("colormap")
    if expression:
        try:
            expressions = parse_expressions(
                expression,
                bands,
                max_length=settings.max_expression_length,
                max_depth=settings.max_expression_depth,
            )
        except ExpressionError as exc:
            raise InvalidParameter(f"expression: {exc}") from None
        # Reflectances and normalised indices both live in 0..1 for the most part.
        stretches = (
            _rescale(rescale, len(expressions)) if rescale else (Stretch("linear", 0.0, 1.0),) * len(expressions)
        )
        colormap = None
        if colormap_name:
            if len(expressions) != 1:
                raise InvalidParameter("colormap applies to a single expression only")
            try:
                colormap = named_colormap(colormap_name)
            except ValueError:
                raise InvalidParameter(
                    f"colormap '{colormap_name[:40]}' is unknown; for example {', '.join(named_colormaps()[:8])}"
                ) from None
        token = f"expr={';'.join(e.source for e in expressions)}|rescale={stretches}|cmap={colormap_name}"
        return Styling(RenderSpec(expressions, stretches, colormap), token)

    name = query.get("layer") or DEFAULT_LAYER
    layer = layers.get(name)
    if layer is None:
        raise NotFound(f"unknown layer '{name[:60]}'; see /layers")
    if collection not in layer.collections:
        raise InvalidParameter(f"layer {name} does not apply to {collection} products")
    missing = sorted(layer.spec.bands - set(bands))
    if missing:
        raise InvalidParameter(f"layer {name} needs band {', '.join(missing)}, which {subject} lacks")
    spec = layer.spec
    if rescale:
        spec = RenderSpec(
            spec.expressions, _rescale(rescale, len(spec.expressions)), spec.colormap, spec.value_transform
        )
    return Styling(spec, f"layer={name}|rescale={rescale}")
