"""Reading band files onto one output grid, as reflectances (or class codes) plus a validity mask."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass

import numpy as np
import rasterio
from rasterio._err import CPLE_BaseError  # GDAL's own errors; rasterio exports no public name for them
from rasterio.crs import CRS
from rio_tiler.errors import RioTilerError
from rio_tiler.io import Reader

from tiler.datasets import DatasetPool
from tiler.errors import NotFound, ProductUnreadable
from tiler.limits import Deadline
from tiler.products import Product

# DN 0 is "no data" in every Sentinel-2 band file; JP2 files carry no nodata tag to say so.
NODATA = 0


@dataclass(frozen=True)
class BandStack:
    arrays: dict[str, np.ndarray]  # float32; reflectance for spectral bands, class codes for SCL
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
                method = "nearest" if band.is_class_band else resampling
                try:
                    with _open(datasets, key) as dataset, Reader(key, dataset=dataset) as src:
                        image = src.part(
                            bounds,
                            dst_crs=crs,
                            bounds_crs=crs,
                            width=width,
                            height=height,
                            indexes=1,
                            nodata=NODATA,
                            resampling_method=method,
                            reproject_method=method,
                        )
                except (rasterio.errors.RasterioError, CPLE_BaseError, RioTilerError, OSError) as exc:
                    raise ProductUnreadable(f"cannot read band {name} of {product.id}: {exc}", product.id) from exc
                read_by_path[key] = (image.array.data[0], ~image.array.mask[0])
            dn, band_valid = read_by_path[key]
            valid &= band_valid
            arrays[name] = _to_physical(product, name, dn)
    return BandStack(arrays, valid)


def _open(datasets: DatasetPool | None, path: str) -> AbstractContextManager:
    return datasets.open(path) if datasets is not None else rasterio.open(path)


def _to_physical(product: Product, name: str, dn: np.ndarray) -> np.ndarray:
    if product.bands[name].is_class_band:
        return dn.astype(np.float32)
    offset = product.offsets.get(product.bands[name].source_band, 0.0)
    # Like Sentinel Hub, harmonise baselines and clamp the negatives the offset can produce.
    reflectance = (dn.astype(np.float32) + np.float32(offset)) / np.float32(product.quantification)
    return np.maximum(reflectance, 0, out=reflectance)
