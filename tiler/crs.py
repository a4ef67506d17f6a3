"""Coordinate reference systems by code, parsed once per process (rasterio takes microseconds to
parse a code, morecantile's `rasterio_crs` a quarter of a millisecond)."""

from __future__ import annotations

from functools import lru_cache

from rasterio.crs import CRS


@lru_cache(maxsize=512)
def crs_from_code(code: str) -> CRS:
    """A rasterio CRS from an authority code (`EPSG:3857`, `OGC:CRS84`) or WKT."""
    return CRS.from_user_input(code)
