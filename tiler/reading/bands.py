"""Reading band files onto one output grid, as physical values (reflectance, class codes, metres...)
plus a validity mask."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass

import numpy as np
import rasterio
from affine import Affine
from rasterio._err import CPLE_BaseError  # GDAL's own errors; rasterio exports no public name for them
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.io import DatasetReader
from rasterio.transform import from_bounds as from_bounds_transform
from rasterio.warp import reproject, transform_bounds
from rasterio.windows import Window, from_bounds

from tiler.errors import NotFound, ProductUnreadable
from tiler.limits import Deadline
from tiler.products import BandAsset, Product
from tiler.reading import jpeg2000
from tiler.reading.datasets import DatasetPool


@dataclass(frozen=True)
class BandStack:
    arrays: dict[str, np.ndarray]  # float32 physical values; class codes for class bands
    valid: np.ndarray  # bool, True where every band read has data


def read_part(
    product: Product,
    band_names: Iterable[str],
    bounds: tuple[float, float, float, float],
    crs: CRS,
    width: int,
    height: int,
    *,
    gdal_options: Mapping[str, str | int],
    resampling: str = "nearest",
    deadline: Deadline | None = None,
    datasets: DatasetPool | None = None,
) -> BandStack:
    """Read `band_names` of `product` over `bounds` (in `crs`) into `width` x `height` pixels.

    20 m and 60 m bands are warped onto the same output grid as the 10 m bands, so every array
    covers the same ground pixel for pixel. Overviews are used when the output is coarser.
    With `datasets`, band files stay open between calls (and keep their decoded blocks).
    """
    names = sorted(set(band_names))
    missing = [n for n in names if n not in product.bands]
    if missing:
        raise NotFound(f"product {product.id} has no band {', '.join(missing)}")
    arrays: dict[str, np.ndarray] = {}
    valid = np.ones((height, width), dtype=bool)
    read_by_path: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    with rasterio.Env(**gdal_options):
        for name in names:
            band = product.bands[name]
            key = str(band.path)
            if key not in read_by_path:
                if deadline is not None:
                    deadline.check()
                # Class codes must never be blended with their neighbours.
                method = "nearest" if band.is_class else resampling
                try:
                    with _open(datasets, key) as dataset:
                        read_by_path[key] = _read_warped(
                            dataset,
                            bounds,
                            crs,
                            width,
                            height,
                            Resampling[method],
                            band.nodata,
                            datasets,
                            band.is_class,
                        )
                except (rasterio.errors.RasterioError, CPLE_BaseError, OSError) as exc:
                    raise ProductUnreadable(f"cannot read band {name} of {product.id}: {exc}", product.id) from exc
            dn, band_valid = read_by_path[key]
            valid &= band_valid
            arrays[name] = _to_physical(band, dn)
    return BandStack(arrays, valid)


def _read_warped(
    dataset: DatasetReader,
    bounds,
    crs: CRS,
    width: int,
    height: int,
    resampling: Resampling,
    nodata: float | None,
    datasets: DatasetPool | None = None,
    classes: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """One band on the output grid, and where it has data. The source window under the output is
    read once, at the resolution the output needs (GDAL takes it from the overviews and keeps the
    decoded blocks in its cache for the next request), then warped in memory. A warped VRT over the
    file would decode the overview blocks again on every request.

    With a `nodata` DN, the output keeps the file's type and that DN marks where nothing is; without
    one (every DN is data), the output is float32 and NaN marks the area outside the file."""
    if nodata is None:
        dst = np.full((height, width), np.nan, dtype=np.float32)
    else:
        dst = np.full((height, width), nodata, dtype=dataset.dtypes[0])
    src_bounds = _source_bounds(dataset, bounds, crs)
    if src_bounds is None:
        return dst, np.zeros((height, width), dtype=bool)
    window = from_bounds(*src_bounds, transform=dataset.transform)
    # Whole source pixels, one more on each side for the resampling, inside the file.
    col0, row0 = max(0, math.floor(window.col_off) - 1), max(0, math.floor(window.row_off) - 1)
    col1 = min(dataset.width, math.ceil(window.col_off + window.width) + 1)
    row1 = min(dataset.height, math.ceil(window.row_off + window.height) + 1)
    if col0 >= col1 or row0 >= row1:
        return dst, np.zeros((height, width), dtype=bool)
    window = Window(col0, row0, col1 - col0, row1 - row0)
    # Source pixels per output pixel; read no finer than that (never coarser than the file).
    factor = max(
        1.0,
        min(
            (src_bounds[2] - src_bounds[0]) / width / dataset.res[0],
            (src_bounds[3] - src_bounds[1]) / height / dataset.res[1],
        ),
    )
    if classes and dataset.driver == "JP2OpenJPEG":
        # JPEG 2000's reduced resolutions are wavelet averages: they invent class codes (in ESA's SCL at a
        # quarter resolution, 4.7 % of the pixels hold a class absent from their 4 x 4 pixels). Read class
        # bands at full resolution (ESA's 20 m SCL: 0.16 s once, then GDAL's cache) and pick by nearest.
        factor = 1.0
    if factor < 2 and _decode_area_first(dataset, window, datasets):
        data = jpeg2000.read_window(dataset.name, window)
        src_transform = dataset.window_transform(window)
    else:
        shape = (max(1, math.ceil(window.height / factor)), max(1, math.ceil(window.width / factor)))
        data = dataset.read(1, window=window, out_shape=shape, resampling=resampling)
        src_transform = dataset.window_transform(window) * Affine.scale(
            window.width / shape[1], window.height / shape[0]
        )
    reproject(
        data, dst, src_transform=src_transform, src_crs=dataset.crs, src_nodata=nodata,
        dst_transform=from_bounds_transform(*bounds, width, height), dst_crs=crs,
        dst_nodata=np.nan if nodata is None else nodata, resampling=resampling,
    )  # fmt: skip
    return dst, ~np.isnan(dst) if nodata is None else dst != nodata


def _finite_box(box) -> bool:
    return all(math.isfinite(v) for v in box) and box[0] < box[2] and box[1] < box[3]


def _source_bounds(dataset: DatasetReader, bounds, crs: CRS) -> tuple[float, float, float, float] | None:
    """The output's bounds in the file's CRS, or None where they do not meet the file. The output's
    grid lies inside its CRS's domain (tiler.crs), but a world-wide box still has no image in a UTM
    zone's CRS (PROJ gives NaN): then only the part of the output over the file is transformed, as
    the file's own bounds are always sane to transform."""
    direct = transform_bounds(crs, dataset.crs, *bounds, densify_pts=21)
    if _finite_box(direct):
        return direct
    file_in_output = transform_bounds(dataset.crs, crs, *dataset.bounds, densify_pts=21)
    if _finite_box(file_in_output):
        bounds = (
            max(bounds[0], file_in_output[0]),
            max(bounds[1], file_in_output[1]),
            min(bounds[2], file_in_output[2]),
            min(bounds[3], file_in_output[3]),
        )
        if not _finite_box(bounds):
            return None
    src_bounds = transform_bounds(crs, dataset.crs, *bounds, densify_pts=21)
    return src_bounds if _finite_box(src_bounds) else None


def _decode_area_first(dataset: DatasetReader, window: Window, datasets: DatasetPool | None) -> bool:
    """Whether to decode this full-resolution window of a JPEG 2000 file by area (see tiler/jpeg2000.py):
    yes for a small window, unless every codestream tile under it was touched lately (then GDAL decodes
    and keeps them)."""
    if dataset.driver != "JP2OpenJPEG" or not jpeg2000.available():
        return False
    block_h, block_w = dataset.block_shapes[0]
    if window.width * window.height > block_h * block_w / 8:
        return False  # an area decode wins for small windows (160 px: 25 vs 80 ms), not near a tile's size
    if datasets is None:  # the file is closed after this read: nothing decoded now would be kept
        return True
    rows = range(int(window.row_off) // block_h, (int(window.row_off) + int(window.height) - 1) // block_h + 1)
    cols = range(int(window.col_off) // block_w, (int(window.col_off) + int(window.width) - 1) // block_w + 1)
    return datasets.touched_blocks.touch((dataset.name, r, c) for r in rows for c in cols)


def _open(datasets: DatasetPool | None, path: str) -> AbstractContextManager:
    return datasets.open(path) if datasets is not None else rasterio.open(path)


def _to_physical(band: BandAsset, dn: np.ndarray) -> np.ndarray:
    if band.is_class:
        return dn.astype(np.float32)
    # DN * scale + offset, computed as (DN + offset / scale) / (1 / scale): for Sentinel-2 that is
    # (DN - 1000) / 10000, the archive's own quotient to the last bit (a product by 0.0001 is not).
    values = (dn.astype(np.float32) + np.float32(band.offset / band.scale)) / np.float32(1 / band.scale)
    if band.minimum is not None:
        np.maximum(values, band.minimum, out=values)
    return values
