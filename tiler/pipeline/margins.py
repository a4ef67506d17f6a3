"""Margins: what a layer whose pixels depend on their neighbours (a hillshade) reads around the output.

A styling with `spec.margin` > 0 is read on `widen(grid, margin)`: the same pixels, that many more on
each side, so a pixel at a tile's edge sees the same neighbours as in the next tile and tiles join
without a seam. `ground_spacing` gives the renderer the ground distance between neighbouring pixel
centres of that grid in metres, row by row: pixels of a geographic grid narrow towards the poles,
Web Mercator's shrink on the ground by the cosine of the latitude.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from pyproj import Geod, Transformer

from tiler.pipeline.job import Grid

_GEOD = Geod(ellps="WGS84")


def widen(grid: Grid, margin: int) -> Grid:
    """`grid` with `margin` more pixels of the same size on every side."""
    left, bottom, right, top = grid.bounds
    pixel_x, pixel_y = (right - left) / grid.width, (top - bottom) / grid.height
    bounds = (left - margin * pixel_x, bottom - margin * pixel_y, right + margin * pixel_x, top + margin * pixel_y)
    return Grid(bounds, grid.crs, grid.width + 2 * margin, grid.height + 2 * margin)


@lru_cache(maxsize=64)
def _to_lonlat(crs: str) -> Transformer:
    return Transformer.from_crs(crs, "EPSG:4326", always_xy=True)


def ground_spacing(grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """(dx, dy), each an H x 1 float64 array: metres on the WGS84 ellipsoid from the pixel centres of
    each row to their east and their south neighbours, measured at the grid's middle column (along a
    row of a tile they vary by less than a part in a thousand in the CRSs served). NaN where a
    centre lies outside its CRS's domain."""
    left, bottom, right, top = grid.bounds
    pixel_x, pixel_y = (right - left) / grid.width, (top - bottom) / grid.height
    x = np.full(grid.height, left + (grid.width // 2 + 0.5) * pixel_x)
    y = top - (np.arange(grid.height) + 0.5) * pixel_y
    to_lonlat = _to_lonlat(grid.crs)
    lon, lat = to_lonlat.transform(x, y)
    east_lon, east_lat = to_lonlat.transform(x + pixel_x, y)
    south_lon, south_lat = to_lonlat.transform(x, y - pixel_y)
    with np.errstate(invalid="ignore"):
        # A margin row of a whole-world grid may lie beyond a pole: measure it at the pole.
        lat, east_lat, south_lat = (np.clip(v, -90.0, 90.0) for v in (lat, east_lat, south_lat))
        dx = _GEOD.inv(lon, lat, east_lon, east_lat)[2]
        dy = _GEOD.inv(lon, lat, south_lon, south_lat)[2]
    return np.asarray(dx, dtype=np.float64)[:, None], np.asarray(dy, dtype=np.float64)[:, None]
