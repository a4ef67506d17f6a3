"""Mosaics: several products composited onto one output grid in Sentinel Hub's mosaicking order.

Each output pixel comes from the first product, in the order given, with valid data there (and,
with a cloud mask, not masked as cloud in that product). Products are read through `read_part`,
which warps any product onto the output grid, so products in different UTM zones land on one
tile without seams.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

import numpy as np
from rasterio.crs import CRS

from tiler.collections import CloudMask
from tiler.errors import NotFound, ProductUnreadable
from tiler.limits import Deadline
from tiler.products import Product
from tiler.reading.bands import BandStack, read_part
from tiler.reading.datasets import DatasetPool

log = logging.getLogger(__name__)


def read_mosaic(
    products: Iterable[Product],
    band_names: Iterable[str],
    bounds: tuple[float, float, float, float],
    crs: CRS,
    width: int,
    height: int,
    *,
    gdal_options: Mapping[str, str | int],
    cloud_mask: CloudMask | None = None,
    deadline: Deadline | None = None,
    resampling: str = "nearest",
    datasets: DatasetPool | None = None,
) -> BandStack:
    """Composite `band_names` of `products` (in priority order) onto one grid: first valid pixel
    wins. Stops reading as soon as every pixel is filled. With `cloud_mask`, pixels it marks count
    as invalid in products that have its band, and the stack tells where only clouds were seen. Products lacking a band, or whose files cannot be
    read, are logged and skipped, so one broken product does not blank a whole area. `deadline` is
    checked before each band read (see tiler.limits); `datasets` keeps files open."""
    names = sorted(set(band_names))
    arrays = {name: np.zeros((height, width), dtype=np.float32) for name in names}
    filled = np.zeros((height, width), dtype=bool)
    seen = np.zeros((height, width), dtype=bool)  # where any product has data, clouds or not
    for product in products:
        mask_band = cloud_mask.band if cloud_mask is not None and cloud_mask.band in product.bands else None
        try:
            stack = read_part(
                product,
                [*names, mask_band] if mask_band else names,
                bounds,
                crs,
                width,
                height,
                gdal_options=gdal_options,
                deadline=deadline,
                resampling=resampling,
                datasets=datasets,
            )
        except (NotFound, ProductUnreadable) as exc:
            log.error("mosaic: skipping product %s: %s", product.id, exc)
            continue
        take = stack.valid & ~filled
        seen |= stack.valid
        if mask_band is not None and cloud_mask is not None:
            take &= ~_clouded(stack.arrays[mask_band], cloud_mask)
        for name in names:
            arrays[name][take] = stack.arrays[name][take]
        filled |= take
        if filled.all():
            break
    return BandStack(arrays, filled, seen & ~filled if cloud_mask is not None else None)


def _clouded(codes: np.ndarray, rule: CloudMask) -> np.ndarray:
    """Where a class or bit-flag band's codes meet the cloud-mask rule."""
    if rule.bits:
        whole = np.where(np.isfinite(codes), codes, 0).astype(np.int64)
        return (whole & rule.bit_mask) != 0
    return np.isin(codes, rule.classes)
