"""GeoTIFF, cloud-optimised (GDAL's COG driver: tiled, internal overviews, DEFLATE), of a job's
grid: the values of a layer (`values_bands` says which type, no-data and descriptions each band
gets) or the picture as RGBA."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import rasterio
import shapely
from pyproj import CRS as ProjCRS
from pyproj import Transformer
from rasterio.enums import ColorInterp
from rasterio.features import geometry_mask
from rasterio.io import MemoryFile
from rasterio.transform import from_bounds
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from tiler.collections import Band
from tiler.pipeline.job import Grid

MEDIA_TYPE = "image/tiff"
# Class codes as uint8 keep 255 for "no data"; larger codes take uint16 and 65535.
_CLASS_NODATA = {np.dtype("uint8"): 255, np.dtype("uint16"): 65535}


@dataclass(frozen=True)
class ValueBand:
    """One band of a values GeoTIFF: float32 with NaN for no data, or class codes."""

    description: str
    dtype: np.dtype
    nodata: float
    unit: str = ""


def value_band(expression: str, bands: Mapping[str, Band]) -> ValueBand:
    """A plain class band keeps its codes (uint8 where they fit); anything else is float32."""
    band = bands.get(expression)
    if band is not None and band.is_class:
        largest = max((entry.value for entry in band.classes), default=0)
        dtype = np.dtype("uint8") if largest < 255 else np.dtype("uint16")
        return ValueBand(f"{band.name}: {band.title}", dtype, _CLASS_NODATA[dtype], "class")
    if band is not None:
        return ValueBand(f"{band.name}: {band.title}", np.dtype("float32"), float("nan"), band.unit or band.kind)
    return ValueBand(expression, np.dtype("float32"), float("nan"))


def _profile(grid: Grid, count: int, dtype: np.dtype, nodata: float | None) -> dict:
    transform = from_bounds(*grid.bounds, grid.width, grid.height)
    return _cog(grid.width, grid.height, count, dtype, grid.rasterio_crs, transform, nodata)


def _cog(width: int, height: int, count: int, dtype: np.dtype, crs, transform, nodata: float | None) -> dict:
    predictor = 3 if dtype.kind == "f" else 2
    return {
        "driver": "COG", "width": width, "height": height, "count": count, "dtype": dtype.name, "crs": crs,
        "transform": transform, "nodata": nodata, "COMPRESS": "DEFLATE", "PREDICTOR": predictor, "BLOCKSIZE": 256,
    }  # fmt: skip


def encode_values(values: Sequence[np.ndarray], valid: np.ndarray, bands: Sequence[ValueBand], grid: Grid) -> bytes:
    """Values (one float array per band) where `valid`, each band's no-data elsewhere. Bands share one
    type: float32 unless every band is a class band."""
    dtype = np.dtype("float32") if any(b.dtype.kind == "f" for b in bands) else max(b.dtype for b in bands)
    nodata = float("nan") if dtype.kind == "f" else _CLASS_NODATA[dtype]
    stack = np.empty((len(values), grid.height, grid.width), dtype=dtype)
    for i, value in enumerate(values):
        shown = valid & np.isfinite(value)
        stack[i] = np.where(shown, value, nodata).astype(dtype)
    memory = MemoryFile()
    with rasterio.Env(), memory.open(**_profile(grid, len(bands), dtype, nodata)) as dst:
        dst.write(stack)
        for i, band in enumerate(bands, start=1):
            dst.set_band_description(i, band.description)
            dst.set_band_unit(i, band.unit)
        dst.scales = (1.0,) * len(bands)  # physical values already: no scaling to undo
        dst.offsets = (0.0,) * len(bands)
    with memory:
        return memory.read()


def encode_rgba(rgba: np.ndarray, grid: Grid) -> bytes:
    """The picture: uint8 red, green, blue and alpha bands."""
    stack = np.moveaxis(rgba, -1, 0)
    memory = MemoryFile()
    with rasterio.Env(), memory.open(**_profile(grid, 4, np.dtype("uint8"), None)) as dst:
        dst.write(stack)
        dst.colorinterp = (ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha)
    with memory:
        return memory.read()


def clip(content: bytes, geometry: BaseGeometry, crs: str) -> bytes:
    """A GeoTIFF of this module with the pixels whose centres lie outside `geometry` (in `crs`) made
    no-data (transparent, for a picture)."""
    with MemoryFile(content) as source, source.open() as src:
        data = src.read()
        transformer = Transformer.from_crs(
            ProjCRS.from_user_input(crs), ProjCRS.from_wkt(src.crs.to_wkt()), always_xy=True
        )
        shape_ = shapely.transform(
            shapely.segmentize(geometry, _segment(geometry)), transformer.transform, interleaved=False
        )
        outside = geometry_mask([mapping(shape_)], (src.height, src.width), src.transform)
        rgba = src.colorinterp[-1] == ColorInterp.alpha
        if rgba:
            data[:, outside] = 0
        else:
            data[:, outside] = src.nodata
        nodata = None if rgba else src.nodata
        profile = _cog(src.width, src.height, src.count, np.dtype(src.dtypes[0]), src.crs, src.transform, nodata)
        descriptions, units, colorinterp = src.descriptions, src.units, src.colorinterp
    memory = MemoryFile()
    with rasterio.Env(), memory.open(**profile) as dst:
        dst.write(data)
        for i, (description, unit) in enumerate(zip(descriptions, units), start=1):
            dst.set_band_description(i, description or "")
            dst.set_band_unit(i, unit or "")
        dst.colorinterp = colorinterp
        if not rgba:
            dst.scales = (1.0,) * len(descriptions)
            dst.offsets = (0.0,) * len(descriptions)
    with memory:
        return memory.read()


def _segment(geometry: BaseGeometry) -> float:
    """Vertex spacing that keeps a reprojected outline on the ground: a hundredth of its extent."""
    minx, miny, maxx, maxy = geometry.bounds
    return max(maxx - minx, maxy - miny, 1e-9) / 100
