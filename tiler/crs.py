"""Coordinate reference systems by code, parsed once per process (rasterio takes microseconds to
parse a code, morecantile's `rasterio_crs` a quarter of a millisecond), and the domain of each:
where its coordinates are safe to hand to a transformation."""

from __future__ import annotations

import math
from functools import lru_cache

from pyproj import CRS as ProjCRS
from pyproj import Transformer
from rasterio.crs import CRS


@lru_cache(maxsize=512)
def crs_from_code(code: str) -> CRS:
    """A rasterio CRS from an authority code (`EPSG:3857`, `OGC:CRS84`) or WKT."""
    return CRS.from_user_input(code)


# How far beyond its area of use a projected CRS is still drawn: EPSG:25832 (6-12°E) serves all of
# Germany (to 15°E), and WMS clients ask for whole continents in UTM at low zooms.
# Latitudes are widened up to 84° only: Mercator's y grows without bound towards the poles.
_WIDEN_LONGITUDE = 15.0
_WIDEN_LATITUDE = 10.0
_WIDEN_LATITUDE_TO = 84.0
BBox = tuple[float, float, float, float]


@lru_cache(maxsize=512)
def crs_domain(code: str) -> BBox | None:
    """Where coordinates of `code` mean something, as minx, miny, maxx, maxy in its own x/y units:
    the whole world for geographic CRSs, the area of use widened for projected ones. Boxes are
    clipped to it before any transformation sees them: PROJ's inverse Web Mercator of y = 1e30 never
    returns, and projections far outside their area give values that mean nothing. None for a CRS
    without an area of use (every finite box is then taken as it is)."""
    crs = ProjCRS.from_user_input(code)
    if crs.is_geographic:
        return (-180.0, -90.0, 180.0, 90.0)
    area = crs.area_of_use
    if area is None:
        return None
    to_crs = Transformer.from_crs("OGC:CRS84", crs, always_xy=True)
    margin = max(_WIDEN_LONGITUDE, area.east - area.west)
    widened = (
        max(-180.0, area.west - margin),
        min(area.south, max(-_WIDEN_LATITUDE_TO, area.south - _WIDEN_LATITUDE)),
        min(180.0, area.east + margin),
        max(area.north, min(_WIDEN_LATITUDE_TO, area.north + _WIDEN_LATITUDE)),
    )
    for west, south, east, north in (widened, (area.west, area.south, area.east, area.north)):
        box = to_crs.transform_bounds(west, south, east, north, densify_pts=21)
        if all(math.isfinite(v) for v in box) and box[0] < box[2] and box[1] < box[3]:
            return box
    return None


def clip_to_domain(bounds: BBox, code: str) -> BBox | None:
    """`bounds` cut to the CRS's domain; None when they do not meet it (or are not a finite box)."""
    if not all(math.isfinite(v) for v in bounds) or bounds[0] >= bounds[2] or bounds[1] >= bounds[3]:
        return None
    domain = crs_domain(code)
    if domain is None:
        return bounds
    clipped = (
        max(bounds[0], domain[0]),
        max(bounds[1], domain[1]),
        min(bounds[2], domain[2]),
        min(bounds[3], domain[3]),
    )
    return clipped if clipped[0] < clipped[2] and clipped[1] < clipped[3] else None
