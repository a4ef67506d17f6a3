"""Joined mosaics: products of one grid (the Copernicus DEM's degree tiles) read as one raster.

`read_mosaic` warps each product onto the output grid by itself, then takes the first valid pixel.
Interpolating there is blind at a product's edge: between the last pixel centre of one tile and the
first of the next, each tile sees only its own side, so bilinear heights flatten into a strip and a
hillshade shows a line along every degree. `read_joined` puts the products' files side by side in a
virtual raster (a GDAL VRT, the first product on top) and warps that once, so every output pixel
is interpolated from the source pixels around it, whichever file holds them.

It joins only what lines up: every product in one CRS with one pixel size per band, on one pixel
lattice. Otherwise it answers None and the caller composites product by product.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

import numpy as np
import rasterio
from affine import Affine
from rasterio._err import CPLE_BaseError  # GDAL's own errors; rasterio exports no public name for them
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.io import MemoryFile

from tiler.errors import ProductUnreadable
from tiler.limits import Deadline
from tiler.products import BandAsset, Product
from tiler.reading.bands import BandStack, _read_warped, _to_physical
from tiler.reading.datasets import DatasetPool

_LATTICE = 1e-6  # offsets between files, in pixels, that still count as one lattice


@dataclass(frozen=True)
class _File:
    band: BandAsset
    transform: Affine
    width: int
    height: int
    dtype: str


def _describe(band: BandAsset, datasets: DatasetPool | None) -> tuple[_File, CRS]:
    opener = datasets.open(str(band.path)) if datasets is not None else rasterio.open(band.path)
    with opener as src:
        return _File(band, src.transform, src.width, src.height, src.dtypes[0]), src.crs


def _vrt(files: Sequence[_File], crs: CRS) -> str | None:
    """The XML of a VRT holding `files` (the first on top), or None when they are not on one lattice."""
    first = files[0].transform
    if first.b or first.d or any(f.transform[:2] != first[:2] or f.transform[3:5] != first[3:5] for f in files):
        return None  # rotated, or pixel sizes that differ
    res_x, res_y = first.a, first.e
    left = min(f.transform.c for f in files)
    top = max(f.transform.f for f in files) if res_y < 0 else min(f.transform.f for f in files)
    offsets = [((f.transform.c - left) / res_x, (f.transform.f - top) / res_y) for f in files]
    if any(abs(x - round(x)) > _LATTICE or abs(y - round(y)) > _LATTICE for x, y in offsets):
        return None
    width = max(round(x) + f.width for (x, _), f in zip(offsets, files))
    height = max(round(y) + f.height for (_, y), f in zip(offsets, files))
    nodata = files[0].band.nodata
    dtype = files[0].dtype
    if nodata is None and np.dtype(dtype).kind != "f":
        return None  # no value would mark the gaps between files
    fill = "nan" if nodata is None else repr(nodata)
    kind = "SimpleSource" if nodata is None else "ComplexSource"
    sources = []
    for (x, y), f in reversed(list(zip(offsets, files))):  # drawn in order: the first product last, on top
        sources.append(
            f'<{kind}><SourceFilename relativeToVRT="0">{escape(str(f.band.path))}</SourceFilename>'
            f"<SourceBand>1</SourceBand>"
            f'<SrcRect xOff="0" yOff="0" xSize="{f.width}" ySize="{f.height}"/>'
            f'<DstRect xOff="{round(x)}" yOff="{round(y)}" xSize="{f.width}" ySize="{f.height}"/>'
            + ("" if nodata is None else f"<NODATA>{fill}</NODATA>")
            + f"</{kind}>"
        )
    return (
        f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}">'
        f"<SRS>{escape(crs.to_wkt())}</SRS>"
        f"<GeoTransform>{left!r}, {res_x!r}, 0, {top!r}, 0, {res_y!r}</GeoTransform>"
        f'<VRTRasterBand dataType="{_GDAL_TYPES[dtype]}" band="1"><NoDataValue>{fill}</NoDataValue>'
        + "".join(sources)
        + "</VRTRasterBand></VRTDataset>"
    )


_GDAL_TYPES = {
    "uint8": "Byte",
    "int8": "Int8",
    "uint16": "UInt16",
    "int16": "Int16",
    "uint32": "UInt32",
    "int32": "Int32",
    "float32": "Float32",
    "float64": "Float64",
}


def read_joined(
    products: Iterable[Product],
    band_names: Iterable[str],
    bounds: tuple[float, float, float, float],
    crs: CRS,
    width: int,
    height: int,
    *,
    gdal_options: Mapping[str, str | int],
    resampling: str,
    deadline: Deadline | None = None,
    datasets: DatasetPool | None = None,
) -> BandStack | None:
    """`band_names` of `products` (in priority order) joined into one raster per band and warped
    onto the output grid; None when they do not line up (see the module)."""
    products = list(products)
    names = sorted(set(band_names))
    if not products or any(name not in p.bands for p in products for name in names):
        return None
    for name in names:
        if len({(b.scale, b.offset, b.nodata, b.minimum, b.is_class) for b in (p.bands[name] for p in products)}) > 1:
            return None  # one band converted differently in different products: not one raster
    arrays: dict[str, np.ndarray] = {}
    valid = np.ones((height, width), dtype=bool)
    with rasterio.Env(**gdal_options):
        for name in names:
            if deadline is not None:
                deadline.check()
            try:
                described = [_describe(p.bands[name], datasets) for p in products]
                crss = {c for _, c in described}
                xml = _vrt([f for f, _ in described], described[0][1]) if len(crss) == 1 else None
                if xml is None:
                    return None
                band = products[0].bands[name]
                method = Resampling["nearest" if band.is_class else resampling]
                with MemoryFile(xml.encode(), ext=".vrt") as memory, memory.open() as joined:
                    dn, band_valid = _read_warped(joined, bounds, crs, width, height, method, band.nodata)
            except (rasterio.errors.RasterioError, CPLE_BaseError, OSError) as exc:
                ids = ", ".join(p.id for p in products)
                raise ProductUnreadable(f"cannot read band {name} of the mosaic of {ids}: {exc}") from exc
            valid &= band_valid
            arrays[name] = _to_physical(band, dn)
    return BandStack(arrays, valid)
