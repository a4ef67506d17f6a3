"""What WMS and WMTS share: case-insensitive parameters, the advertised CRSs with their axis order,
and service URLs behind proxies. The OGC layer list is in `tiler.ogc.layers`."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from functools import cache, lru_cache

from pyproj import CRS as ProjCRS
from pyproj import Transformer
from rasterio.crs import CRS
from starlette.requests import Request

from tiler.crs import crs_from_code

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
# GetMap also draws GeoTIFFs: a layer's values, or with VISUAL=true its picture (tiler.pipeline.geotiff).
MAP_FORMATS = {**IMAGE_FORMATS, "image/tiff": "tiff"}
XLINK_NS = "http://www.w3.org/1999/xlink"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
ET.register_namespace("xlink", XLINK_NS)
ET.register_namespace("xsi", XSI_NS)


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


def rasterio_code(code: str) -> str:
    """An advertised CRS code as rasterio writes it (WMS's CRS:84 is OGC:CRS84)."""
    return "OGC:CRS84" if code.upper() == "CRS:84" else code.upper()


def to_rasterio(code: str) -> CRS:
    return crs_from_code(rasterio_code(code))


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
        if all(math.isfinite(v) for v in box) or area is None:
            return box
    return transformer.transform_bounds(area.west, area.south, area.east, area.north, densify_pts=21)
