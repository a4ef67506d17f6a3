"""Parsing a GetMap (and the map part of GetFeatureInfo) once into a typed `MapRequest`.

Parameter names are case-insensitive (the caller lowercases them); messages name them in capitals,
as WMS writes them. Every problem is a domain error with its WMS meaning (`tiler.errors`), which
`tiler.http.errors` turns into the exception report of the request's version.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from tiler import params
from tiler.crs import clip_to_domain
from tiler.errors import (
    InvalidCRS,
    InvalidFormat,
    InvalidParameter,
    LayerNotDefined,
    MissingTime,
    StyleNotDefined,
    TooLarge,
)
from tiler.http.errors import ImageFrame
from tiler.ogc.common import IMAGE_FORMATS, is_supported, northing_first, rasterio_code, to_rasterio
from tiler.ogc.layers import OgcLayer, find_layer

RESAMPLING = {"NEAREST": "nearest", "BILINEAR": "bilinear", "BICUBIC": "cubic"}
# The vendor parameters of a map that pick its products (Sentinel Hub's, and CLOUDMASK).
MOSAIC_PARAMETERS = ("time", "maxcc", "priority", "cloudmask")
MOSAIC_LABELS = {name: name.upper() for name in MOSAIC_PARAMETERS}
STYLE_PARAMETERS = ("expression", "rescale", "colormap")
_EXCEPTION_FORMATS = {"SE_INIMAGE": "INIMAGE", "INIMAGE": "INIMAGE", "SE_BLANK": "BLANK", "BLANK": "BLANK"}


@dataclass(frozen=True)
class MapRequest:
    version: str
    layers: tuple[OgcLayer, ...]
    crs_code: str
    bbox: tuple[float, float, float, float]  # x/y order, in crs_code
    width: int
    height: int
    fmt: str
    media_type: str
    transparent: bool
    bgcolor: tuple[int, int, int]
    mosaic_params: tuple[tuple[str, str], ...]  # time, maxcc, priority, cloudmask
    product: str | None
    upsampling: str
    downsampling: str
    quality: int
    gain: float
    gamma: float
    style_query: tuple[tuple[str, str], ...] = ()  # expression, rescale, colormap

    @property
    def opaque(self) -> bool:
        return not self.transparent or self.fmt == "jpg"


def _bgcolor(text: str | None) -> tuple[int, int, int]:
    if not text:
        return (255, 255, 255)
    match = re.fullmatch(r"(?:0x|#)?([0-9a-fA-F]{6})", text)
    if not match:
        raise InvalidParameter(f"BGCOLOR '{text[:20]}' must be 0xRRGGBB", "BGCOLOR")
    value = int(match[1], 16)
    return (value >> 16 & 255, value >> 8 & 255, value & 255)


def image_frame(query: Mapping[str, str], max_size: int) -> ImageFrame | None:
    """The frame of an INIMAGE/BLANK exception, or None for XML exceptions or a request too broken
    to draw one."""
    exceptions = _EXCEPTION_FORMATS.get(query.get("exceptions", "XML").upper().rsplit(".", 1)[-1])
    if exceptions is None:
        return None
    media = query.get("format", "")
    try:
        width, height = int(query.get("width", "")), int(query.get("height", ""))
        frame = ImageFrame(
            width,
            height,
            IMAGE_FORMATS[media],
            media,
            params.boolean(query, "transparent"),
            _bgcolor(query.get("bgcolor")),
            exceptions,
        )
    except (ValueError, KeyError, InvalidParameter):
        return None
    return frame if 0 < width <= max_size and 0 < height <= max_size else None


def _size(query: Mapping[str, str], crs_code: str, bbox, max_size: int) -> tuple[int, int]:
    if query.get("resx") or query.get("resy"):
        resx = _resolution(params.required(query, "resx", "RESX"), "RESX", crs_code, bbox)
        resy = _resolution(params.required(query, "resy", "RESY"), "RESY", crs_code, bbox)
        columns, rows = (bbox[2] - bbox[0]) / resx, (bbox[3] - bbox[1]) / resy
        if not (columns <= max_size and rows <= max_size):  # also catches an overflow to inf
            raise TooLarge(f"BBOX / RESX and RESY give more than {max_size} pixels a side", "RESX")
        width, height = math.ceil(columns), math.ceil(rows)
    else:
        width, height = params.integer(query, "width", label="WIDTH"), params.integer(query, "height", label="HEIGHT")
    if width < 1 or height < 1:
        raise InvalidParameter("WIDTH and HEIGHT must be at least 1", "WIDTH")
    # Checked before any pixel buffer exists.
    if width > max_size or height > max_size:
        raise TooLarge(f"WIDTH and HEIGHT must not exceed {max_size}", "WIDTH")
    return width, height


def _resolution(text: str, label: str, crs_code: str, bbox) -> float:
    """RESX/RESY in CRS units, or in metres with an `m` suffix (Sentinel Hub's `10m`)."""
    metres = text.lower().endswith("m")
    try:
        value = float(text[:-1] if metres else text)
    except ValueError:
        raise InvalidParameter(f"{label} must be a number, optionally with 'm'", label) from None
    if not (math.isfinite(value) and value > 0):
        raise InvalidParameter(f"{label} must be positive", label)
    if metres and to_rasterio(crs_code).is_geographic:
        # Degrees per metre at the bbox's middle latitude.
        lat = math.radians((bbox[1] + bbox[3]) / 2)
        value = value / (111_320 * (math.cos(lat) if label == "RESX" else 1))
    return value


def _layers(query: Mapping[str, str], layers: Mapping[str, OgcLayer], default_collection: str) -> list[OgcLayer]:
    chosen = []
    for name in params.required(query, "layers", "LAYERS").split(","):
        layer = find_layer(layers, name.strip(), default_collection)
        if layer is None:
            raise LayerNotDefined(f"layer '{name[:80]}' is not defined", "LAYERS")
        chosen.append(layer)
    styles = query.get("styles", "")
    if styles.strip(","):
        style_names = styles.split(",")
        if len(style_names) != len(chosen):
            raise StyleNotDefined("STYLES must list one style per layer, or be empty", "STYLES")
        for style_name in style_names:
            if style_name not in ("", "default"):
                raise StyleNotDefined(f"style '{style_name[:40]}' is not defined", "STYLES")
    return chosen


def parse_map_request(
    query: Mapping[str, str],
    version: str,
    layers: Mapping[str, OgcLayer],
    default_collection: str,
    max_size: int,
    time_required: bool,
) -> MapRequest:
    chosen = _layers(query, layers, default_collection)
    crs_key = "crs" if version == "1.3.0" else "srs"
    crs_code = params.required(query, crs_key, crs_key.upper()).upper()
    if not is_supported(crs_code):
        raise InvalidCRS(f"{crs_key.upper()} '{crs_code[:40]}' is not supported", crs_key.upper())
    bbox = params.numbers(params.required(query, "bbox", "BBOX"), "BBOX", 4)
    if version == "1.3.0" and northing_first(crs_code):
        bbox = (bbox[1], bbox[0], bbox[3], bbox[2])
    if bbox[0] >= bbox[2] or bbox[1] >= bbox[3]:
        raise InvalidParameter("BBOX must have minx < maxx and miny < maxy", "BBOX")
    if clip_to_domain(bbox, rasterio_code(crs_code)) is None:  # type: ignore[arg-type]
        raise InvalidParameter(f"BBOX lies outside the area where {crs_code} is defined", "BBOX")
    media = params.required(query, "format", "FORMAT")
    fmt = IMAGE_FORMATS.get(media)
    if fmt is None:
        raise InvalidFormat(f"FORMAT '{media[:40]}' is not offered; use {', '.join(IMAGE_FORMATS)}", "FORMAT")
    width, height = _size(query, crs_code, bbox, max_size)
    if time_required and not query.get("time"):
        raise MissingTime("TIME is required: this server advertises no default time", "TIME")
    upsampling = RESAMPLING.get(query.get("upsampling", "NEAREST").upper())
    downsampling = RESAMPLING.get(query.get("downsampling", "NEAREST").upper())
    if upsampling is None or downsampling is None:
        raise InvalidParameter(f"UPSAMPLING and DOWNSAMPLING take {', '.join(RESAMPLING)}", "UPSAMPLING")
    quality = int(params.number(query, "quality", 90, label="QUALITY"))
    if not 1 <= quality <= 100:
        raise InvalidParameter("QUALITY must be between 1 and 100", "QUALITY")
    gain, gamma = params.number(query, "gain", 1.0, label="GAIN"), params.number(query, "gamma", 1.0, label="GAMMA")
    if gain < 0 or gamma <= 0:
        raise InvalidParameter("GAIN must not be negative and GAMMA must be positive", "GAIN")
    return MapRequest(
        version=version,
        layers=tuple(chosen),
        crs_code=crs_code,
        bbox=bbox,  # type: ignore[arg-type]
        width=width,
        height=height,
        fmt=fmt,
        media_type=media,
        transparent=params.boolean(query, "transparent", label="TRANSPARENT"),
        bgcolor=_bgcolor(query.get("bgcolor")),
        mosaic_params=tuple((k, query[k]) for k in MOSAIC_PARAMETERS if query.get(k)),
        product=query.get("product") or None,
        upsampling=upsampling,
        downsampling=downsampling,
        quality=quality,
        gain=gain,
        gamma=gamma,
        style_query=tuple((k, query[k]) for k in STYLE_PARAMETERS if query.get(k)),
    )
