"""OGC WMS 1.1.1 and 1.3.0 at /wms: GetCapabilities, GetMap, GetFeatureInfo, GetLegendGraphic.

Requests are parsed once into typed values (`MapRequest`); every problem becomes a `WmsError`
with the standard exception code, rendered as a ServiceExceptionReport of the request's version
(or drawn into the image for EXCEPTIONS=INIMAGE / BLANK). Pixels come from the same reading and
rendering pipeline as the tile routes.
"""

from __future__ import annotations

import html
import json
import logging
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from renderers import Classes, ExpressionError, encode, evaluate_values, render
from renderers.legend import legend
from tiler.errors import InvalidParameter, ProductUnreadable, TilerError, Unavailable
from tiler.ogc.common import (
    CRS_CODES,
    IMAGE_FORMATS,
    XLINK_NS,
    XSI_NS,
    OgcLayer,
    bounds_in,
    find_layer,
    is_supported,
    lower_keys,
    northing_first,
    service_base,
    to_rasterio,
    wms_exception,
)
from tiler.params import Styling, styling, styling_for
from tiler.pipeline.limits import Deadline
from tiler.products import Product
from tiler.reading.bands import read_part
from tiler.reading.mosaic import COLLECTION_BANDS, MosaicQuery, parse_mosaic_query, read_mosaic, select_products

log = logging.getLogger(__name__)

VERSIONS = ("1.1.1", "1.3.0")
INFO_FORMATS = ("text/plain", "application/json", "text/html", "text/xml")
RESAMPLING = {"NEAREST": "nearest", "BILINEAR": "bilinear", "BICUBIC": "cubic"}
WMS_NS = "http://www.opengis.net/wms"
SLD_NS = "http://www.opengis.net/sld"
ET.register_namespace("xlink", XLINK_NS)
ET.register_namespace("xsi", XSI_NS)
ET.register_namespace("sld", SLD_NS)


class WmsError(Exception):
    """A WMS service exception; `code` is one of the standard codes or None."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


def _version_tuple(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in text.split("."))
    except ValueError:
        raise WmsError(f"VERSION '{text[:20]}' is not a version number") from None


def negotiate(requested: str | None) -> str:
    """GetCapabilities version negotiation: the highest supported not above the request, or the lowest."""
    if not requested:
        return VERSIONS[-1]
    wanted = _version_tuple(requested)
    lower = [v for v in VERSIONS if _version_tuple(v) <= wanted]
    return lower[-1] if lower else VERSIONS[0]


# --------------------------------------------------------------------------------------------
# Exceptions


def exception_report(error: WmsError, version: str) -> Response:
    # WMS 1.1.1/1.3.0 deliver exceptions as documents with HTTP 200, as OGC servers and clients
    # do; only failures of the server itself (5xx) say so in the status too (see `_report`).
    body, media_type = wms_exception(str(error), error.code, version)
    return Response(body, media_type=media_type)


def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=12)


@dataclass(frozen=True)
class ImageFrame:
    """What an INIMAGE/BLANK exception needs, taken from a GetMap that may be invalid otherwise."""

    width: int
    height: int
    fmt: str
    media_type: str
    transparent: bool
    bgcolor: tuple[int, int, int]
    exceptions: str


def image_frame(params: Mapping[str, str], max_size: int) -> ImageFrame | None:
    """The exception image's frame, or None when the request is too broken to draw one."""
    exceptions = params.get("exceptions", "XML").upper().rsplit(".", 1)[-1]
    exceptions = {"SE_INIMAGE": "INIMAGE", "INIMAGE": "INIMAGE", "SE_BLANK": "BLANK", "BLANK": "BLANK"}.get(
        exceptions, "XML"
    )
    media = params.get("format", "")
    try:
        width, height = int(params.get("width", "")), int(params.get("height", ""))
        frame = ImageFrame(
            width,
            height,
            IMAGE_FORMATS[media],
            media,
            _bool(params, "transparent"),
            _parse_bgcolor(params.get("bgcolor")),
            exceptions,
        )
    except (ValueError, KeyError, WmsError):
        return None
    return frame if 0 < width <= max_size and 0 < height <= max_size else None


def _exception_image(error: WmsError, frame: ImageFrame) -> Response:
    transparent = frame.transparent and frame.fmt != "jpg"
    image = Image.new("RGBA", (frame.width, frame.height), (*frame.bgcolor, 0 if transparent else 255))
    if frame.exceptions == "INIMAGE":
        ImageDraw.Draw(image).multiline_text(
            (5, 5), _wrap(str(error), frame.width), fill=(200, 0, 0, 255), font=_font()
        )
    return Response(encode(np.asarray(image), frame.fmt), media_type=frame.media_type)


def _wrap(text: str, width: int) -> str:
    per_line = max(10, width // 7)
    return "\n".join(text[i : i + per_line] for i in range(0, len(text), per_line))


# --------------------------------------------------------------------------------------------
# Request parsing


@dataclass(frozen=True)
class MapRequest:
    """A parsed GetMap (and the map part of GetFeatureInfo)."""

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
    mosaic_params: tuple[tuple[str, str], ...]  # time, maxcc, priority, cloudmask for tiler.mosaic
    product: str | None
    upsampling: str
    downsampling: str
    quality: int
    gain: float
    gamma: float
    style_query: tuple[tuple[str, str], ...] = ()  # expression, rescale, colormap


def _require(params: Mapping[str, str], name: str) -> str:
    value = params.get(name)
    if value is None or value == "":
        raise WmsError(f"missing parameter {name.upper()}")
    return value


def _int(params: Mapping[str, str], name: str) -> int:
    text = _require(params, name)
    try:
        return int(text)
    except ValueError:
        raise WmsError(f"{name.upper()} must be an integer, not '{text[:20]}'") from None


def _float(params: Mapping[str, str], name: str, default: float) -> float:
    text = params.get(name)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise WmsError(f"{name.upper()} must be a number, not '{text[:20]}'") from None
    if not math.isfinite(value):
        raise WmsError(f"{name.upper()} must be finite")
    return value


def _bool(params: Mapping[str, str], name: str) -> bool:
    text = params.get(name, "FALSE").upper()
    if text not in ("TRUE", "FALSE"):
        raise WmsError(f"{name.upper()} must be TRUE or FALSE")
    return text == "TRUE"


def _parse_bgcolor(text: str | None) -> tuple[int, int, int]:
    if not text:
        return (255, 255, 255)
    match = re.fullmatch(r"(?:0x|#)?([0-9a-fA-F]{6})", text)
    if not match:
        raise WmsError(f"BGCOLOR '{text[:20]}' must be 0xRRGGBB")
    value = int(match[1], 16)
    return (value >> 16 & 255, value >> 8 & 255, value & 255)


def _parse_size(params: Mapping[str, str], crs_code: str, bbox, max_size: int) -> tuple[int, int]:
    if params.get("resx") or params.get("resy"):
        resx = _resolution(_require(params, "resx"), "RESX", crs_code, bbox)
        resy = _resolution(_require(params, "resy"), "RESY", crs_code, bbox)
        width = math.ceil((bbox[2] - bbox[0]) / resx)
        height = math.ceil((bbox[3] - bbox[1]) / resy)
    else:
        width, height = _int(params, "width"), _int(params, "height")
    if width < 1 or height < 1:
        raise WmsError("WIDTH and HEIGHT must be at least 1")
    # Checked before any pixel buffer exists.
    if width > max_size or height > max_size:
        raise WmsError(f"WIDTH and HEIGHT must not exceed {max_size}")
    return width, height


def _resolution(text: str, name: str, crs_code: str, bbox) -> float:
    """RESX/RESY in CRS units, or in metres with an `m` suffix (Sentinel Hub's `10m`)."""
    metres = text.lower().endswith("m")
    try:
        value = float(text[:-1] if metres else text)
    except ValueError:
        raise WmsError(f"{name} must be a number, optionally with 'm'") from None
    if not (math.isfinite(value) and value > 0):
        raise WmsError(f"{name} must be positive")
    if metres and to_rasterio(crs_code).is_geographic:
        # Degrees per metre at the bbox's middle latitude.
        lat = math.radians((bbox[1] + bbox[3]) / 2)
        value = value / (111_320 * (math.cos(lat) if name == "RESX" else 1))
    return value


def parse_map_request(
    params: Mapping[str, str], version: str, layers: Mapping[str, OgcLayer], max_size: int, time_required: bool
) -> MapRequest:
    names = [n for n in _require(params, "layers").split(",")]
    chosen = []
    for name in names:
        layer = find_layer(layers, name.strip())
        if layer is None:
            raise WmsError(f"layer '{name[:80]}' is not defined", "LayerNotDefined")
        chosen.append(layer)
    styles = params.get("styles", "")
    if styles.strip(","):
        style_names = styles.split(",")
        if len(style_names) != len(chosen):
            raise WmsError("STYLES must list one style per layer, or be empty", "StyleNotDefined")
        for style_name in style_names:
            if style_name not in ("", "default"):
                raise WmsError(f"style '{style_name[:40]}' is not defined", "StyleNotDefined")
    crs_key = "crs" if version == "1.3.0" else "srs"
    crs_code = _require(params, crs_key).upper()
    if not is_supported(crs_code):
        code = "InvalidCRS" if version == "1.3.0" else "InvalidSRS"
        raise WmsError(f"{crs_key.upper()} '{crs_code[:40]}' is not supported", code)
    try:
        bbox = tuple(float(v) for v in _require(params, "bbox").split(","))
    except ValueError:
        raise WmsError("BBOX must be four numbers") from None
    if len(bbox) != 4 or not all(math.isfinite(v) for v in bbox):
        raise WmsError("BBOX must be four finite numbers")
    if version == "1.3.0" and northing_first(crs_code):
        bbox = (bbox[1], bbox[0], bbox[3], bbox[2])
    if bbox[0] >= bbox[2] or bbox[1] >= bbox[3]:
        raise WmsError("BBOX must have minx < maxx and miny < maxy")
    media = _require(params, "format")
    fmt = IMAGE_FORMATS.get(media)
    if fmt is None:
        raise WmsError(f"FORMAT '{media[:40]}' is not offered; use {', '.join(IMAGE_FORMATS)}", "InvalidFormat")
    width, height = _parse_size(params, crs_code, bbox, max_size)
    if time_required and not params.get("time"):
        raise WmsError("TIME is required: this server advertises no default time", "MissingDimensionValue")
    mosaic_params = tuple((k, params[k]) for k in ("time", "maxcc", "priority", "cloudmask") if params.get(k))
    for layer in chosen:
        mosaic_query(mosaic_params, layer)  # refuse bad values now, before any reading
    upsampling = RESAMPLING.get(params.get("upsampling", "NEAREST").upper())
    downsampling = RESAMPLING.get(params.get("downsampling", "NEAREST").upper())
    if upsampling is None or downsampling is None:
        raise WmsError(f"UPSAMPLING and DOWNSAMPLING take {', '.join(RESAMPLING)}")
    quality = int(_float(params, "quality", 90))
    if not 1 <= quality <= 100:
        raise WmsError("QUALITY must be between 1 and 100")
    gain, gamma = _float(params, "gain", 1.0), _float(params, "gamma", 1.0)
    if gain < 0 or gamma <= 0:
        raise WmsError("GAIN must not be negative and GAMMA must be positive")
    return MapRequest(
        version=version,
        layers=tuple(chosen),
        crs_code=crs_code,
        bbox=bbox,  # type: ignore[arg-type]
        width=width,
        height=height,
        fmt=fmt,
        media_type=media,
        transparent=_bool(params, "transparent"),
        bgcolor=_parse_bgcolor(params.get("bgcolor")),
        mosaic_params=mosaic_params,
        product=params.get("product") or None,
        upsampling=upsampling,
        downsampling=downsampling,
        quality=quality,
        gain=gain,
        gamma=gamma,
        style_query=tuple((k, params[k]) for k in ("expression", "rescale", "colormap") if params.get(k)),
    )


# --------------------------------------------------------------------------------------------
# Drawing


def _bbox_wgs84(req: MapRequest) -> tuple[float, float, float, float]:
    from rasterio.warp import transform_bounds

    return tuple(transform_bounds(to_rasterio(req.crs_code), "EPSG:4326", *req.bbox, densify_pts=21))  # type: ignore[return-value]


def mosaic_query(mosaic_params: tuple[tuple[str, str], ...], layer: OgcLayer) -> MosaicQuery:
    """Sentinel Hub's TIME, MAXCC, PRIORITY and our CLOUDMASK for one layer's collection."""
    try:
        return parse_mosaic_query({**dict(mosaic_params), "collection": layer.collection})
    except InvalidParameter as exc:
        code = "InvalidDimensionValue" if str(exc).startswith("time") else None
        raise WmsError(str(exc), code) from None


def product_stack(services, layer: OgcLayer, req: MapRequest, area_wgs84) -> list[Product]:
    """The products drawn for `layer` over an area, first one on top (the mosaicking order)."""
    if req.product:
        product = services.index.resolve(req.product)
        if product.collection != layer.collection:
            raise WmsError(
                f"PRODUCT {product.id} is not in {layer.collection}; layer {layer.name} draws that collection"
            )
        return [product]
    return select_products(
        services.index, mosaic_query(req.mosaic_params, layer), area_wgs84, services.settings.max_mosaic_products
    )


def _resampling(req: MapRequest, product: Product) -> str:
    crs = to_rasterio(req.crs_code)
    pixel = (req.bbox[2] - req.bbox[0]) / req.width
    if crs.is_geographic:
        pixel *= 111_320 * math.cos(math.radians((req.bbox[1] + req.bbox[3]) / 2))
    return req.upsampling if pixel < product.finest_band.resolution else req.downsampling


def _layer_styling(services, layer: OgcLayer, req: MapRequest, product: Product | None = None) -> Styling:
    """The layer's drawing (or the request's EXPRESSION), checked against one product's bands or
    against the bands every product of the layer's collection has."""
    query = {"layer": layer.style.name, **dict(req.style_query)}
    try:
        if product is not None:
            return styling(query, product, services.layers, services.settings)
        bands = COLLECTION_BANDS[layer.collection]
        return styling_for(
            query, bands, layer.collection, f"a {layer.collection} mosaic", services.layers, services.settings
        )
    except (TilerError, ExpressionError) as exc:
        raise WmsError(str(exc)) from None


def draw_map(services, req: MapRequest, deadline: Deadline) -> np.ndarray:
    """The RGBA picture of a GetMap: each layer over the ones before it, then GAIN/GAMMA and the background."""
    area = _bbox_wgs84(req)
    crs = to_rasterio(req.crs_code)
    canvas: np.ndarray | None = None  # the layers drawn so far, uint8 RGBA
    for layer in req.layers:
        products = product_stack(services, layer, req, area)
        style = _layer_styling(services, layer, req, products[0] if req.product else None)
        if not products:
            continue
        stack = read_mosaic(
            products, style.spec.bands, req.bbox, crs, req.width, req.height,
            gdal_options=services.settings.gdal, cloudmask=mosaic_query(req.mosaic_params, layer).cloudmask,
            deadline=deadline, resampling=_resampling(req, products[0]), datasets=services.datasets,
        )  # fmt: skip
        deadline.check()
        rgba = render(style.spec, stack.arrays, stack.valid)
        canvas = rgba if canvas is None else _over(rgba, canvas)
    if canvas is None:
        canvas = np.zeros((req.height, req.width, 4), dtype=np.uint8)
    opaque = not req.transparent or req.fmt == "jpg"
    if req.gain == 1 and req.gamma == 1 and not opaque:
        return canvas  # as drawn: no float copy (16 bytes a pixel, 16 MiB for a 1024 x 1024 map)
    picture = canvas.astype(np.float32)
    if req.gain != 1 or req.gamma != 1:
        # Sentinel Hub's GAIN multiplies the output, GAMMA brightens (>1) or darkens (<1) it.
        picture[..., :3] = 255 * np.clip(req.gain * picture[..., :3] / 255, 0, 1) ** (1 / req.gamma)
    if opaque:
        alpha = picture[..., 3:4] / 255
        picture[..., :3] = picture[..., :3] * alpha + np.array(req.bgcolor, dtype=np.float32) * (1 - alpha)
        picture[..., 3] = 255
    return np.round(picture).astype(np.uint8)


def _over(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """`top` over `bottom`: Porter-Duff "over" on uint8 RGBA with straight (not premultiplied) alpha."""
    t, b = top.astype(np.float32) / 255, bottom.astype(np.float32) / 255
    top_alpha, bottom_alpha = t[..., 3:4], b[..., 3:4] * (1 - t[..., 3:4])
    alpha = top_alpha + bottom_alpha
    rgb = np.divide(
        t[..., :3] * top_alpha + b[..., :3] * bottom_alpha, alpha, out=np.zeros_like(t[..., :3]), where=alpha > 0
    )
    return np.round(np.concatenate([rgb, alpha], axis=-1) * 255).astype(np.uint8)


# --------------------------------------------------------------------------------------------
# Operations


def get_map(services, req: MapRequest, catalog_token: str) -> Response:
    key = ("wms", catalog_token, req)
    image, hit = services.cache.get_or_render(
        key,
        lambda: services.renders.run(
            lambda deadline: (encode(draw_map(services, req, deadline), req.fmt, quality=req.quality), req.media_type),
            req.width * req.height,
        ),
    )
    return Response(image.content, media_type=image.media_type, headers={"X-Cache": "hit" if hit else "miss"})


def _point_stacks(services, req: MapRequest, i: int, j: int):
    """For each queried layer, every product in the stack at pixel (i, j) with its values there."""
    x = req.bbox[0] + (i + 0.5) * (req.bbox[2] - req.bbox[0]) / req.width
    y = req.bbox[3] - (j + 0.5) * (req.bbox[3] - req.bbox[1]) / req.height
    half_x = (req.bbox[2] - req.bbox[0]) / req.width / 2
    half_y = (req.bbox[3] - req.bbox[1]) / req.height / 2
    pixel = (x - half_x, y - half_y, x + half_x, y + half_y)
    crs = to_rasterio(req.crs_code)
    from rasterio.warp import transform

    lon, lat = (c[0] for c in transform(crs, "EPSG:4326", [x], [y]))
    point_area = (lon - 1e-9, lat - 1e-9, lon + 1e-9, lat + 1e-9)
    scl_names = {value: label for value, label, _ in _scl_classes(services)}
    for layer in req.layers:
        entries = []
        for product in product_stack(services, layer, req, point_area):
            style = _layer_styling(services, layer, req, product)
            bands = sorted(set(product.bands) | set(style.spec.bands))
            stack = read_part(
                product, bands, pixel, crs, 1, 1, gdal_options=services.settings.gdal, datasets=services.datasets
            )
            if not stack.valid[0, 0]:
                continue
            values = {b: round(float(stack.arrays[b][0, 0]), 5) for b in bands if b != "SCL"}
            layer_values = [float(v[0, 0]) for v in evaluate_values(style.spec, stack.arrays, stack.valid)]
            entry = {
                "product": product.id,
                "datetime": product.datetime.isoformat().replace("+00:00", "Z"),
                "cloud_cover": product.cloud_cover,
                "bands": values,
                "value": [round(v, 5) if math.isfinite(v) else None for v in layer_values],
            }
            if "SCL" in stack.arrays:
                scl = int(stack.arrays["SCL"][0, 0])
                entry["scl"] = {"class": scl, "name": scl_names.get(scl, "unknown")}
            entries.append(entry)
        yield layer, entries, (lon, lat)


def _scl_classes(services) -> tuple:
    scl = services.layers.get("SCL")
    return scl.spec.colormap.classes if scl and isinstance(scl.spec.colormap, Classes) else ()


def get_feature_info(services, params: Mapping[str, str], req: MapRequest) -> Response:
    query_names = _require(params, "query_layers").split(",")
    requested = {layer.name for layer in req.layers}
    queried = []
    for name in query_names:
        layer = find_layer({layer.name: layer for layer in _all_layers(services).values()}, name.strip())
        if layer is None:
            raise WmsError(f"layer '{name[:80]}' is not defined", "LayerNotDefined")
        if layer.name not in requested:
            raise WmsError(f"layer '{name[:80]}' is not among LAYERS, so it cannot be queried", "LayerNotQueryable")
        queried.append(layer)
    info_format = _require(params, "info_format")
    if info_format not in INFO_FORMATS:
        raise WmsError(
            f"INFO_FORMAT '{info_format[:40]}' is not offered; use {', '.join(INFO_FORMATS)}", "InvalidFormat"
        )
    i_key, j_key = ("i", "j") if req.version == "1.3.0" else ("x", "y")
    i, j = _int(params, i_key), _int(params, j_key)
    if not (0 <= i < req.width and 0 <= j < req.height):
        raise WmsError(
            f"{i_key.upper()}/{j_key.upper()} ({i}, {j}) lies outside the {req.width}x{req.height} map", "InvalidPoint"
        )
    feature_count = int(_float(params, "feature_count", 50))
    query = replace(req, layers=tuple(queried))
    results = [
        {"layer": layer.name, "lon": round(lon, 7), "lat": round(lat, 7), "products": entries[: max(feature_count, 1)]}
        for layer, entries, (lon, lat) in _point_stacks(services, query, i, j)
    ]
    return Response(_format_info(results, info_format), media_type=info_format)


def _format_info(results: list[dict], info_format: str) -> str:
    if info_format == "application/json":
        return json.dumps({"type": "FeatureInfo", "layers": results}, indent=1)
    if info_format == "text/xml":
        root = ET.Element("FeatureInfoResponse")
        for result in results:
            layer = ET.SubElement(root, "Layer", name=result["layer"], lon=str(result["lon"]), lat=str(result["lat"]))
            for entry in result["products"]:
                node = ET.SubElement(layer, "Product", id=entry["product"], datetime=entry["datetime"])
                for band, value in entry["bands"].items():
                    ET.SubElement(node, "Band", name=band).text = str(value)
                ET.SubElement(node, "Value").text = ",".join(str(v) for v in entry["value"])
                if "scl" in entry:
                    ET.SubElement(node, "SCL", {"class": str(entry["scl"]["class"])}).text = entry["scl"]["name"]
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
    lines = []
    for result in results:
        lines.append(f"Layer {result['layer']} at lon {result['lon']}, lat {result['lat']}")
        if not result["products"]:
            lines.append("  no data here")
        for entry in result["products"]:
            lines.append(f"  {entry['datetime'][:10]} {entry['product']}")
            lines.append("    value: " + ", ".join(str(v) for v in entry["value"]))
            if "scl" in entry:
                lines.append(f"    SCL: {entry['scl']['class']} {entry['scl']['name']}")
            lines.append("    " + " ".join(f"{b}={v}" for b, v in entry["bands"].items()))
    if info_format == "text/html":
        return "<html><body><pre>" + html.escape("\n".join(lines)) + "</pre></body></html>"
    return "\n".join(lines) + "\n"


def get_legend_graphic(services, params: Mapping[str, str]) -> Response:
    name = _require(params, "layer")
    layer = find_layer(_all_layers(services), name)
    if layer is None:
        raise WmsError(f"layer '{name[:80]}' is not defined", "LayerNotDefined")
    if params.get("style", "") not in ("", "default"):
        raise WmsError(f"style '{params['style'][:40]}' is not defined", "StyleNotDefined")
    media = params.get("format", "image/png")
    fmt = IMAGE_FORMATS.get(media)
    if fmt is None:
        raise WmsError(f"FORMAT '{media[:40]}' is not offered", "InvalidFormat")
    image = legend(layer.style.spec, layer.title, layer.style.value_range)
    return Response(encode(image, fmt), media_type=media)


def _all_layers(services) -> dict[str, OgcLayer]:
    return services.ogc_layers.get(services.index, services.layers)


# --------------------------------------------------------------------------------------------
# Capabilities


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    node = ET.SubElement(parent, tag, attrs)
    if text is not None:
        node.text = text
    return node


def _online(parent: ET.Element, href: str) -> None:
    _sub(parent, "OnlineResource", **{f"{{{XLINK_NS}}}type": "simple", f"{{{XLINK_NS}}}href": href})


def _operation(parent: ET.Element, tag: str, formats: tuple[str, ...], href: str) -> None:
    op = _sub(parent, tag)
    for fmt in formats:
        _sub(op, "Format", fmt)
    get = _sub(_sub(_sub(op, "DCPType"), "HTTP"), "Get")
    _online(get, href)


def _fmt(value: float) -> str:
    return f"{value:.8g}"


def _bounding_boxes(node: ET.Element, version: str, bounds: tuple[float, float, float, float]) -> None:
    crs_attr = "CRS" if version == "1.3.0" else "SRS"
    for code in CRS_CODES:
        if version == "1.1.1" and code == "CRS:84":
            continue
        x0, y0, x1, y1 = bounds if code in ("CRS:84", "EPSG:4326") else bounds_in(code, *bounds)
        if version == "1.3.0" and northing_first(code):
            x0, y0, x1, y1 = y0, x0, y1, x1
        _sub(
            node,
            "BoundingBox",
            **{crs_attr: code, "minx": _fmt(x0), "miny": _fmt(y0), "maxx": _fmt(x1), "maxy": _fmt(y1)},
        )


def _geographic(node: ET.Element, version: str, bounds: tuple[float, float, float, float]) -> None:
    west, south, east, north = bounds
    if version == "1.3.0":
        box = _sub(node, "EX_GeographicBoundingBox")
        for tag, value in (
            ("westBoundLongitude", west),
            ("eastBoundLongitude", east),
            ("southBoundLatitude", south),
            ("northBoundLatitude", north),
        ):
            _sub(box, tag, _fmt(value))
    else:
        _sub(node, "LatLonBoundingBox", minx=_fmt(west), miny=_fmt(south), maxx=_fmt(east), maxy=_fmt(north))


def _time_dimension(node: ET.Element, version: str, dates: tuple[str, ...], with_default: bool) -> None:
    # The default is the whole archive: a mosaic of everything, newest on top.
    attrs = {"name": "time", "nearestValue": "0"}
    if with_default:
        attrs["default"] = f"{dates[0]}/{dates[-1]}" if len(dates) > 1 else dates[0]
    if version == "1.3.0":
        _sub(node, "Dimension", ",".join(dates), units="ISO8601", **attrs)
    else:
        _sub(node, "Extent", ",".join(dates), **attrs)


def capabilities(services, request: Request, version: str, update_sequence: str, max_size: int) -> Response:
    base = service_base(request)
    href = f"{base}/wms?"
    layers = _all_layers(services)
    if version == "1.3.0":
        root = ET.Element(
            "WMS_Capabilities",
            {
                "version": version,
                "updateSequence": update_sequence,
                "xmlns": WMS_NS,
                f"{{{XSI_NS}}}schemaLocation": f"{WMS_NS} http://schemas.opengis.net/wms/1.3.0/capabilities_1_3_0.xsd "
                f"{SLD_NS} http://schemas.opengis.net/sld/1.1.0/sld_capabilities.xsd",
            },
        )
    else:
        root = ET.Element("WMT_MS_Capabilities", version=version, updateSequence=update_sequence)
    service = _sub(root, "Service")
    _sub(service, "Name", "WMS" if version == "1.3.0" else "OGC:WMS")
    _sub(service, "Title", "eo-tiler")
    _sub(
        service,
        "Abstract",
        "Copernicus Sentinel-2 layers: true and false colour, indices and scene classification, mosaicked by date and cloud cover.",
    )
    _online(service, href)
    _sub(service, "Fees", "none")
    _sub(service, "AccessConstraints", "none")
    if version == "1.3.0":
        _sub(service, "MaxWidth", str(max_size))
        _sub(service, "MaxHeight", str(max_size))

    capability = _sub(root, "Capability")
    ops = _sub(capability, "Request")
    caps_format = "text/xml" if version == "1.3.0" else "application/vnd.ogc.wms_xml"
    _operation(ops, "GetCapabilities", (caps_format,), href)
    _operation(ops, "GetMap", tuple(IMAGE_FORMATS), href)
    _operation(ops, "GetFeatureInfo", INFO_FORMATS, href)
    _operation(ops, f"{{{SLD_NS}}}GetLegendGraphic" if version == "1.3.0" else "GetLegendGraphic", ("image/png",), href)
    exceptions = _sub(capability, "Exception")
    formats = (
        ("XML", "INIMAGE", "BLANK")
        if version == "1.3.0"
        else ("application/vnd.ogc.se_xml", "application/vnd.ogc.se_inimage", "application/vnd.ogc.se_blank")
    )
    for fmt in formats:
        _sub(exceptions, "Format", fmt)

    root_layer = _sub(capability, "Layer")
    _sub(root_layer, "Title", "eo-tiler")
    crs_tag = "CRS" if version == "1.3.0" else "SRS"
    for code in CRS_CODES:
        if version == "1.3.0" or code != "CRS:84":
            _sub(root_layer, crs_tag, code)
    all_bounds = _union([layer.bounds_wgs84 for layer in layers.values()]) or (-180.0, -90.0, 180.0, 90.0)
    _geographic(root_layer, version, all_bounds)
    if version == "1.1.1":
        _sub(root_layer, "Dimension", name="time", units="ISO8601")
    for collection in sorted({layer.collection for layer in layers.values()}):
        members = [layer for layer in layers.values() if layer.collection == collection]
        group = _sub(root_layer, "Layer")
        _sub(group, "Title", members[0].title.split("(")[-1].rstrip(")"))
        _geographic(group, version, members[0].bounds_wgs84)
        for layer in members:
            node = _sub(group, "Layer", queryable="1")
            _sub(node, "Name", layer.name)
            _sub(node, "Title", layer.title)
            _sub(node, "Abstract", layer.style.description)
            _geographic(node, version, layer.bounds_wgs84)
            _bounding_boxes(node, version, layer.bounds_wgs84)
            _time_dimension(node, version, layer.dates, services.settings.wms_time_default)
            style = _sub(node, "Style")
            _sub(style, "Name", "default")
            _sub(style, "Title", layer.style.title)
            legend_node = _sub(style, "LegendURL", width="220", height="60")
            _sub(legend_node, "Format", "image/png")
            legend_href = (
                f"{href}SERVICE=WMS&REQUEST=GetLegendGraphic&VERSION={version}&FORMAT=image/png&LAYER={layer.name}"
            )
            _online(legend_node, legend_href)
    prolog = b'<?xml version="1.0" encoding="UTF-8"?>\n'
    if version == "1.1.1":
        prolog += (
            b'<!DOCTYPE WMT_MS_Capabilities SYSTEM "http://schemas.opengis.net/wms/1.1.1/WMS_MS_Capabilities.dtd">\n'
        )
    return Response(prolog + ET.tostring(root), media_type=caps_format if version == "1.1.1" else "text/xml")


def _union(boxes: list[tuple[float, float, float, float]]) -> tuple[float, float, float, float] | None:
    if not boxes:
        return None
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


# --------------------------------------------------------------------------------------------
# The endpoint


def wms(request: Request) -> Response:
    services = request.app.state.services
    params = lower_keys(request.query_params.multi_items())
    operation = params.get("request", "")
    version = params.get("version") or params.get("wmtver") or ""
    report_version = version if version in VERSIONS else VERSIONS[-1]
    update_sequence = services.index.version
    max_size = services.settings.max_image_size
    frame = image_frame(params, max_size) if operation.lower() in ("getmap", "map") else None
    try:
        if operation.lower() == "getcapabilities":
            if params.get("service", "WMS").upper() != "WMS":
                raise WmsError("SERVICE must be WMS")
            version = negotiate(version)
            report_version = version
            wanted = params.get("updatesequence")
            if wanted:
                if wanted == update_sequence:
                    raise WmsError("the capabilities have not changed", "CurrentUpdateSequence")
                if wanted.isdigit() and update_sequence.isdigit() and int(wanted) > int(update_sequence):
                    raise WmsError("UPDATESEQUENCE is newer than the server's", "InvalidUpdateSequence")
            return capabilities(services, request, version, update_sequence, max_size)
        if operation.lower() in ("getmap", "map", "getfeatureinfo", "feature_info"):
            if not version:
                raise WmsError("VERSION is required")
            if version not in VERSIONS:
                raise WmsError(f"VERSION {version[:20]} is not supported; use 1.1.1 or 1.3.0")
            map_params = params
            if operation.lower() in ("getfeatureinfo", "feature_info") and "format" not in params:
                map_params = {**params, "format": "image/png"}
            map_request = parse_map_request(
                map_params, version, _all_layers(services), max_size, not services.settings.wms_time_default
            )
            if operation.lower() in ("getmap", "map"):
                return get_map(services, map_request, update_sequence)
            return get_feature_info(services, params, map_request)
        if operation.lower() == "getlegendgraphic":
            return get_legend_graphic(services, params)
        raise WmsError(f"REQUEST '{operation[:40]}' is not supported", "OperationNotSupported")
    except WmsError as error:
        return _report(error, report_version, frame)
    except Unavailable as exc:
        return _report(WmsError(str(exc)), report_version, frame, 503, {"Retry-After": "5"})
    except ProductUnreadable as exc:
        log.error("product unreadable on WMS %s: %s", operation, exc)
        return _report(WmsError("a product could not be read; see the server log"), report_version, frame, 500)
    except (TilerError, ExpressionError) as exc:
        return _report(WmsError(str(exc)), report_version, frame)
    except Exception:
        log.exception("unexpected error on WMS %s", operation)
        return _report(WmsError("internal error; see the server log"), report_version, frame, 500)


def _report(
    error: WmsError, version: str, frame: ImageFrame | None, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    if frame is not None and frame.exceptions in ("INIMAGE", "BLANK"):
        response = _exception_image(error, frame)
    else:
        response = exception_report(error, version)
    response.status_code = status
    response.headers.update(headers or {})
    return response


routes = [Route("/wms", wms)]
