"""What WMS and WMTS share: case-insensitive parameters, the advertised CRSs with their axis
order, service URLs behind proxies, and the OGC layer list (one named layer per style and collection)."""

from __future__ import annotations

import json
import math
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache

from pyproj import CRS as ProjCRS
from pyproj import Transformer
from rasterio.crs import CRS
from starlette.requests import Request
from starlette.responses import Response

from styles import Layer
from tiler.products import Product

# Advertised CRSs: the usual web and European ones, and every WGS84 UTM zone.
CRS_CODES: tuple[str, ...] = (
    "CRS:84",
    "EPSG:4326",
    "EPSG:3857",
    "EPSG:4258",
    "EPSG:3035",
    "EPSG:25832",
    "EPSG:25833",
    *(f"EPSG:{code}" for code in range(32601, 32661)),
    *(f"EPSG:{code}" for code in range(32701, 32761)),
)
IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}
COLLECTION_TITLES = {"sentinel-2-l2a": "Sentinel-2 L2A", "sentinel-2-l1c": "Sentinel-2 L1C"}
DEFAULT_COLLECTION = "sentinel-2-l2a"
XLINK_NS = "http://www.w3.org/1999/xlink"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
OWS_NS = "http://www.opengis.net/ows/1.1"
ET.register_namespace("xlink", XLINK_NS)
ET.register_namespace("xsi", XSI_NS)
ET.register_namespace("ows", OWS_NS)
_XML_PROLOG = b'<?xml version="1.0" encoding="UTF-8"?>\n'


def wms_exception(message: str, code: str | None, version: str) -> tuple[bytes, str]:
    """A WMS ServiceExceptionReport of `version` and its media type."""
    if version == "1.1.1":
        root = ET.Element("ServiceExceptionReport", version="1.1.1")
        media_type = "application/vnd.ogc.se_xml"
    else:
        root = ET.Element(
            "ServiceExceptionReport",
            {
                "version": "1.3.0",
                "xmlns": "http://www.opengis.net/ogc",
                f"{{{XSI_NS}}}schemaLocation": "http://www.opengis.net/ogc http://schemas.opengis.net/wms/1.3.0/exceptions_1_3_0.xsd",
            },
        )
        media_type = "text/xml"
    ET.SubElement(root, "ServiceException", {"code": code} if code else {}).text = message
    return _XML_PROLOG + ET.tostring(root), media_type


def ows_exception(message: str, code: str, locator: str | None = None) -> bytes:
    """An OWS Common 1.1 ExceptionReport, as WMTS 1.0.0 answers errors."""
    root = ET.Element(f"{{{OWS_NS}}}ExceptionReport", version="1.1.0")
    attrs = {"exceptionCode": code} | ({"locator": locator} if locator else {})
    node = ET.SubElement(root, f"{{{OWS_NS}}}Exception", attrs)
    ET.SubElement(node, f"{{{OWS_NS}}}ExceptionText").text = message
    return _XML_PROLOG + ET.tostring(root)


def error_response(path: str, status: int, detail: str, headers: Mapping[str, str] | None = None) -> Response:
    """An error from middleware (no key, over quota, query too long) in the form the route's
    clients read: an OGC exception report on /wms and /wmts, JSON elsewhere."""
    if path.startswith("/wmts"):
        return Response(ows_exception(detail, "NoApplicableCode"), status, headers, "application/xml")
    if path.startswith("/wms"):
        body, media_type = wms_exception(detail, None, "1.3.0")
        return Response(body, status, headers, media_type)
    return Response(json.dumps({"detail": detail}), status, headers, "application/json")


def lower_keys(params: Iterable[tuple[str, str]]) -> dict[str, str]:
    """OGC parameter names are case-insensitive, values are not. The first occurrence wins."""
    result: dict[str, str] = {}
    for key, value in params:
        result.setdefault(key.lower(), value)
    return result


def service_base(request: Request) -> str:
    """The server's public base URL, as the client sees it (also behind a reverse proxy)."""
    headers = request.headers
    proto = headers.get("x-forwarded-proto", request.url.scheme).split(",")[0].strip()
    host = headers.get("x-forwarded-host", headers.get("host", request.url.netloc)).split(",")[0].strip()
    prefix = headers.get("x-forwarded-prefix", "").split(",")[0].strip().rstrip("/")
    return f"{proto}://{host}{prefix}"


@cache
def _proj(code: str) -> ProjCRS:
    return ProjCRS.from_user_input("OGC:CRS84" if code == "CRS:84" else code)


def is_supported(code: str) -> bool:
    return code.upper() in CRS_CODES


def to_rasterio(code: str) -> CRS:
    return CRS.from_user_input("OGC:CRS84" if code.upper() == "CRS:84" else code.upper())


def northing_first(code: str) -> bool:
    """True where the CRS's official axis order starts with latitude/northing (EPSG:4326, 3035...)."""
    return _proj(code.upper()).axis_info[0].direction in ("north", "south")


@lru_cache(maxsize=4096)
def bounds_in(code: str, west: float, south: float, east: float, north: float) -> tuple[float, float, float, float]:
    """WGS84 bounds in another CRS (x/y order). Where the CRS cannot hold them (a UTM zone far
    from the data, where the projection is undefined), the CRS's own area of use stands in."""
    transformer = Transformer.from_crs("OGC:CRS84", _proj(code), always_xy=True)
    area = _proj(code).area_of_use
    if area is None or (
        area.west - 3 <= west and east <= area.east + 3 and area.south - 3 <= south and north <= area.north + 3
    ):
        box = transformer.transform_bounds(west, south, east, north, densify_pts=21)
        if all(math.isfinite(v) for v in box):
            return box
    return transformer.transform_bounds(area.west, area.south, area.east, area.north, densify_pts=21)


@dataclass(frozen=True)
class OgcLayer:
    name: str  # "<collection>:<STYLE>"
    collection: str
    style: Layer
    bounds_wgs84: tuple[float, float, float, float]
    dates: tuple[str, ...]  # YYYY-MM-DD, ascending

    @property
    def title(self) -> str:
        return f"{self.style.title} ({COLLECTION_TITLES.get(self.collection, self.collection)})"


def ogc_layers(products: Iterable[Product], styles: Mapping[str, Layer]) -> dict[str, OgcLayer]:
    """One named layer per style and per collection present in the catalog."""
    extents: dict[str, list[float]] = {}
    dates: dict[str, set[str]] = {}
    for product in products:
        w, s, e, n = product.bounds_wgs84
        box = extents.setdefault(product.collection, [w, s, e, n])
        box[:] = [min(box[0], w), min(box[1], s), max(box[2], e), max(box[3], n)]
        dates.setdefault(product.collection, set()).add(product.datetime.date().isoformat())
    layers = {}
    for collection in sorted(extents):
        for style in styles.values():
            if collection in style.collections:
                name = f"{collection}:{style.name}"
                layers[name] = OgcLayer(
                    name,
                    collection,
                    style,
                    tuple(extents[collection]),
                    tuple(sorted(dates[collection])),  # type: ignore[arg-type]
                )
    return layers


class OgcLayerCache:
    """The OGC layer list, rebuilt only when the catalog's version changes (listing it walks the
    whole catalog). Owned by the app; threads share it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version: str | None = None
        self._layers: dict[str, OgcLayer] = {}

    def get(self, catalog, styles: Mapping[str, Layer]) -> dict[str, OgcLayer]:
        version = catalog.version
        with self._lock:
            if version != self._version:
                self._layers, self._version = ogc_layers(catalog, styles), version
            return self._layers


def find_layer(layers: Mapping[str, OgcLayer], name: str) -> OgcLayer | None:
    """A layer by its full name, or by the bare style name Sentinel Hub clients send (L2A first)."""
    if name in layers:
        return layers[name]
    bare = [layer for layer in layers.values() if layer.style.name == name]
    bare.sort(key=lambda layer: layer.collection != DEFAULT_COLLECTION)
    return bare[0] if bare else None
