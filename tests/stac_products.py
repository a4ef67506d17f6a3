"""Tiny generated products for catalog and mosaic tests: band GeoTIFFs plus a STAC item, with
pixel values chosen by the test so that every output pixel tells which product it came from."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin
from rasterio.warp import transform

Pattern = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (lon, lat) of pixel centres -> DN


def pixel_lonlat(epsg: int, ulx: float, uly: float, size: int, res: float) -> tuple[np.ndarray, np.ndarray]:
    xs = ulx + (np.arange(size) + 0.5) * res
    ys = uly - (np.arange(size) + 0.5) * res
    gx, gy = np.meshgrid(xs, ys)
    lon, lat = transform(f"EPSG:{epsg}", "EPSG:4326", gx.ravel().tolist(), gy.ravel().tolist())
    return np.array(lon).reshape(size, size), np.array(lat).reshape(size, size)


def write_product(
    root: Path,
    name: str,
    *,
    when: str,
    cloud_cover: float | None,
    epsg: int = 32632,
    ulx: float = 700_000.0,
    uly: float = 5_660_000.0,
    size: int = 64,
    res: float = 10.0,
    b04: int | np.ndarray | Pattern = 1000,
    scl: np.ndarray | None = None,
    collection: str = "sentinel-2-l2a",
) -> Path:
    """A product folder `root/name` with B02, B03, B04, B08 (and SCL when given) and `item.json`.
    B04 is a constant, an array, or a function of lon/lat; the other bands are constant."""
    folder = root / name
    folder.mkdir(parents=True)
    profile = {
        "driver": "GTiff", "width": size, "height": size, "count": 1, "crs": f"EPSG:{epsg}",
        "transform": from_origin(ulx, uly, res, res), "nodata": 0,
    }  # fmt: skip
    if callable(b04):
        b04 = b04(*pixel_lonlat(epsg, ulx, uly, size, res))
    bands = {"B02": 500, "B03": 600, "B04": b04, "B08": 3000}
    for band, value in bands.items():
        data = np.broadcast_to(np.asarray(value, dtype=np.uint16), (size, size))
        with rasterio.open(folder / f"{band}.tif", "w", dtype="uint16", **profile) as dst:
            dst.write(data, 1)
    if scl is not None:
        with rasterio.open(folder / "SCL.tif", "w", dtype="uint8", **profile) as dst:
            dst.write(scl.astype(np.uint8), 1)
    right, bottom = ulx + size * res, uly - size * res
    lon, lat = transform(f"EPSG:{epsg}", "EPSG:4326", [ulx, right, right, ulx, ulx], [uly, uly, bottom, bottom, uly])
    keys = {"B02": "blue", "B03": "green", "B04": "red", "B08": "nir", "SCL": "scl"}
    assets = {
        keys[b]: {"href": f"https://example.com/bucket/{name}/{b}.tif"}
        for b in (*bands, *(["SCL"] if scl is not None else []))
    }
    properties: dict = {"datetime": when, "platform": "sentinel-2a"}
    properties["s2:product_type"] = "S2MSI2A" if collection == "sentinel-2-l2a" else "S2MSI1C"
    if cloud_cover is not None:
        properties["eo:cloud_cover"] = cloud_cover
    item = {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": name,
        "geometry": {"type": "Polygon", "coordinates": [[list(p) for p in zip(lon, lat)]]},
        "properties": properties,
        "assets": assets,
    }
    (folder / "item.json").write_text(json.dumps(item))
    return folder
