"""Geometries onto pixel grids. A request's geometry (GeoJSON Point, Polygon or MultiPolygon, in
WGS84 or in a `crs` it names) becomes an `Area`: a grid at the chosen resolution and the mask of
the pixels whose centres fall inside the geometry (GDAL's rasterisation rule, `all_touched=False`).

A geometry in degrees is measured on a Lambert azimuthal equal-area grid centred on it: every pixel
then covers the same ground, so a mean over pixels is a mean over area however far the geometry
reaches. A geometry in a projected CRS is measured on that CRS's own grid (units of that CRS).
Grid edges lie on multiples of the resolution, so equal requests give equal grids.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import shapely
from pyproj import CRS as ProjCRS
from pyproj import Transformer
from rasterio.errors import CRSError
from rasterio.features import geometry_mask
from rasterio.transform import from_origin
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from tiler.crs import crs_domain, crs_from_code
from tiler.errors import InvalidCRS, InvalidParameter, TooLarge
from tiler.pipeline.job import BBox, Grid

GEOMETRY_TYPES = ("Point", "Polygon", "MultiPolygon")
WGS84 = "EPSG:4326"
# Degrees between vertices of a WGS84 geometry before it is projected: edges follow the ground.
_DENSIFY_DEGREES = 0.01
# Beyond any limit a setting could sensibly have: numbers this large are refused before they are used.
_MAX_GRID_PIXELS = 1e15


@dataclass(frozen=True)
class Area:
    """A geometry on a grid: `inside` is True for the pixels measured."""

    geometry: BaseGeometry  # in the grid's CRS
    geographic: BBox  # the geometry's WGS84 bounds, for the catalog
    grid: Grid
    resolution: float  # grid units (metres unless the request's CRS has other units)
    is_point: bool

    @cached_property
    def inside(self) -> np.ndarray:
        if self.is_point:  # the one pixel under the point
            return np.ones((1, 1), dtype=bool)
        left, _, _, top = self.grid.bounds
        transform = from_origin(left, top, self.resolution, self.resolution)
        shape_ = (self.grid.height, self.grid.width)
        return geometry_mask([mapping(self.geometry)], shape_, transform, invert=True)

    @property
    def pixel_count(self) -> int:
        return int(self.inside.sum())


_CRS_CODE = re.compile(r"(?:EPSG|ESRI|IGNF):\d{1,7}|OGC:CRS84|CRS:84", re.IGNORECASE)


def parse_geometry(raw: Any, crs_code: str | None) -> tuple[BaseGeometry, str]:
    """A GeoJSON geometry (or a Feature holding one) in `crs_code` (WGS84 lon/lat when None), checked."""
    if isinstance(raw, Mapping) and raw.get("type") == "Feature":
        raw = raw.get("geometry")
    if not isinstance(raw, Mapping) or raw.get("type") not in GEOMETRY_TYPES:
        raise InvalidParameter(f"geometry must be a GeoJSON {', '.join(GEOMETRY_TYPES)}", "geometry")
    try:
        geometry = shape(raw)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, shapely.errors.ShapelyError):
        raise InvalidParameter("geometry: its coordinates are not valid GeoJSON", "geometry") from None
    coords = shapely.get_coordinates(geometry)
    if geometry.is_empty or not np.isfinite(coords).all():
        raise InvalidParameter("geometry must have finite coordinates", "geometry")
    if not geometry.is_valid:
        raise InvalidParameter(f"geometry is not valid: {explain_validity(geometry)[:80]}", "geometry")
    code = crs_code or WGS84
    # Authority codes only: PROJ strings and WKT from a request would reach PROJ's parser unchecked.
    if not _CRS_CODE.fullmatch(code):
        raise InvalidCRS(f"crs must be an authority code such as EPSG:25832, not '{code[:40]}'", "crs")
    try:
        crs = crs_from_code(code)
    except CRSError:
        raise InvalidCRS(f"crs '{code[:40]}' is not a coordinate reference system", "crs") from None
    if crs.is_geographic:
        lon, lat = coords[:, 0], coords[:, 1]
        if not ((np.abs(lon) <= 180) & (np.abs(lat) <= 90)).all():
            raise InvalidParameter("geometry: longitudes must lie in -180..180 and latitudes in -90..90", "geometry")
    elif (domain := crs_domain(code)) is not None:
        west, south, east, north = geometry.bounds
        if not (domain[0] <= west and east <= domain[2] and domain[1] <= south and north <= domain[3]):
            # Outside the CRS's domain a transformation means nothing, or never returns (tiler.crs).
            raise InvalidParameter(f"geometry lies beyond the area where {code} is defined", "geometry")
    return geometry, code


def _equal_area_crs(geometry: BaseGeometry) -> str:
    centre = geometry.centroid
    # Rounded: the CRS is part of the grid, and so of cache keys and equal answers.
    return f"+proj=laea +lat_0={centre.y:.4f} +lon_0={centre.x:.4f} +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs"


def _reproject(geometry: BaseGeometry, source: str, target: str) -> BaseGeometry:
    transformer = Transformer.from_crs(ProjCRS.from_user_input(source), ProjCRS.from_user_input(target), always_xy=True)
    return shapely.transform(geometry, transformer.transform, interleaved=False)


def make_area(geometry: BaseGeometry, crs_code: str, resolution: float) -> Area:
    """The grid a geometry is measured on (see the module docstring) at `resolution`."""
    source_crs = crs_from_code(crs_code)
    if source_crs.is_geographic:
        lonlat = _reproject(geometry, crs_code, WGS84) if crs_code != WGS84 else geometry
        grid_crs = _equal_area_crs(lonlat)
        projected = _reproject(shapely.segmentize(lonlat, _DENSIFY_DEGREES), WGS84, grid_crs)
        if not np.isfinite(projected.bounds).all():  # the far side of the globe from its centre
            raise InvalidParameter("the geometry spans too much of the globe for one equal-area grid", "geometry")
    else:
        grid_crs = crs_code
        projected = geometry
        minx, miny, maxx, maxy = geometry.bounds
        extent = max(maxx - minx, maxy - miny)
        if not math.isfinite(extent) or (extent / resolution) ** 2 > _MAX_GRID_PIXELS:
            raise TooLarge(
                f"the geometry spans more than {_MAX_GRID_PIXELS:.0e} pixels at {resolution:g}: far too large"
            )
        # Vertices close enough that the outline in lon/lat (what the catalog is asked for) follows it.
        lonlat = _reproject(shapely.segmentize(geometry, max(extent / 100, resolution * 10)), crs_code, WGS84)
        if not np.isfinite(lonlat.bounds).all():
            raise InvalidParameter(f"the geometry lies outside the area where {crs_code[:40]} is defined", "geometry")
    is_point = projected.geom_type == "Point"
    minx, miny, maxx, maxy = projected.bounds
    left, bottom = math.floor(minx / resolution) * resolution, math.floor(miny / resolution) * resolution
    right = max(left + resolution, math.ceil(maxx / resolution) * resolution)
    top = max(bottom + resolution, math.ceil(maxy / resolution) * resolution)
    if is_point:
        right, top = left + resolution, bottom + resolution
    columns, rows = (right - left) / resolution, (top - bottom) / resolution
    if not (math.isfinite(columns) and math.isfinite(rows)) or columns * rows > _MAX_GRID_PIXELS:
        raise TooLarge(f"the geometry spans more than {_MAX_GRID_PIXELS:.0e} pixels at {resolution:g}: far too large")
    width, height = round(columns), round(rows)
    geographic: BBox = lonlat.bounds
    if is_point:  # a box of the pixel, so the catalog finds the products under it
        geographic = _reproject(shapely.box(left, bottom, right, top), grid_crs, WGS84).bounds
    grid = Grid((left, bottom, right, top), grid_crs, width, height, geographic=lambda: geographic)
    return Area(projected, geographic, grid, resolution, is_point)
