"""The demo archive's Landsat 8 Collection 2 Level-2 product, in the USGS layout: `<id>_SR_B1.TIF` ...
`_SR_B7.TIF`, `_ST_B10.TIF`, `_QA_PIXEL.TIF` and `_MTL.txt` (ODL, the groups and keys USGS writes
that a reader needs). `write_product` takes the physical values (reflectance, kelvin, QA_PIXEL
codes) and stores them as USGS does, with the Level-2 scale and offset of the collection file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import Affine

from tiler.collections import builtin_collections

_L2 = builtin_collections()["landsat-c2-l2"]
# Landsat band -> the USGS file suffix that holds it.
FILES = {"B01": "SR_B1", "B02": "SR_B2", "B03": "SR_B3", "B04": "SR_B4", "B05": "SR_B5", "B06": "SR_B6"}
FILES |= {"B07": "SR_B7", "B10": "ST_B10", "BQA": "QA_PIXEL"}
# QA_PIXEL bits
FILL, DILATED_CLOUD, CIRRUS, CLOUD, CLOUD_SHADOW, SNOW, CLEAR, WATER = range(8)


@dataclass(frozen=True)
class Scene:
    """One acquisition on a north-up grid: physical values per band, where there is data."""

    product_id: str
    epsg: int
    ulx: float
    uly: float
    resolution: float  # metres
    acquired: datetime
    values: dict[str, np.ndarray]  # B01..B07 reflectance, B10 kelvin
    qa: np.ndarray  # QA_PIXEL codes; FILL alone where there is no data
    sun_elevation: float
    corners_lonlat: tuple[tuple[float, float], ...]  # UL, UR, LL, LR

    @property
    def valid(self) -> np.ndarray:
        return self.qa != 1 << FILL

    @property
    def cloud_cover(self) -> float:
        cloudy = (self.qa & (1 << CLOUD | 1 << DILATED_CLOUD | 1 << CIRRUS)) != 0
        return round(100.0 * float(cloudy[self.valid].mean()), 2) if self.valid.any() else 0.0


def _dn(band: str, values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    spec = _L2.bands[band]
    dn = np.clip(np.rint((values - spec.offset) / spec.scale), 1, 65535).astype(np.uint16)
    dn[~valid] = 0  # fill
    return dn


def _write_tif(path: Path, data: np.ndarray, scene: Scene, nodata: int | None) -> None:
    height, width = data.shape
    transform = Affine(scene.resolution, 0.0, scene.ulx, 0.0, -scene.resolution, scene.uly)
    profile = dict(driver="GTiff", width=width, height=height, count=1, dtype="uint16", crs=f"EPSG:{scene.epsg}")
    with rasterio.open(path, "w", **profile, transform=transform, nodata=nodata, tiled=True, compress="deflate") as dst:
        dst.write(data, 1)
        dst.update_tags(AREA_OR_POINT="Point")  # as USGS's own files say


def _mtl(scene: Scene, generated: datetime) -> str:
    pid = scene.product_id
    height, width = scene.qa.shape
    path, row = pid.split("_")[2][:3], pid.split("_")[2][3:]
    (ul_lon, ul_lat), (ur_lon, ur_lat), (ll_lon, ll_lat), (lr_lon, lr_lat) = scene.corners_lonlat
    files = "\n".join(
        f'    FILE_NAME_BAND_{"ST_B10" if band == "B10" else int(band[1:])} = "{pid}_{suffix}.TIF"'
        for band, suffix in FILES.items()
        if band != "BQA"
    )
    b10 = _L2.bands["B10"]
    reflectance = "\n".join(
        f"    REFLECTANCE_MULT_BAND_{n} = {_L2.bands[f'B0{n}'].scale:.2e}\n"
        f"    REFLECTANCE_ADD_BAND_{n} = {_L2.bands[f'B0{n}'].offset}"
        for n in range(1, 8)
    )
    return f"""GROUP = LANDSAT_METADATA_FILE
  GROUP = PRODUCT_CONTENTS
    ORIGIN = "Synthetic eo-tiler demo data, not a USGS product"
    LANDSAT_PRODUCT_ID = "{pid}"
    PROCESSING_LEVEL = "L2SP"
    COLLECTION_NUMBER = 02
    COLLECTION_CATEGORY = "T1"
    OUTPUT_FORMAT = "GEOTIFF"
{files}
    FILE_NAME_QUALITY_L1_PIXEL = "{pid}_QA_PIXEL.TIF"
    FILE_NAME_METADATA_ODL = "{pid}_MTL.txt"
  END_GROUP = PRODUCT_CONTENTS
  GROUP = IMAGE_ATTRIBUTES
    SPACECRAFT_ID = "LANDSAT_8"
    SENSOR_ID = "OLI_TIRS"
    WRS_TYPE = 2
    WRS_PATH = {int(path)}
    WRS_ROW = {int(row)}
    DATE_ACQUIRED = {scene.acquired:%Y-%m-%d}
    SCENE_CENTER_TIME = "{scene.acquired:%H:%M:%S.%f}0Z"
    CLOUD_COVER = {scene.cloud_cover:.2f}
    CLOUD_COVER_LAND = {scene.cloud_cover:.2f}
    SUN_ELEVATION = {scene.sun_elevation:.8f}
  END_GROUP = IMAGE_ATTRIBUTES
  GROUP = PROJECTION_ATTRIBUTES
    MAP_PROJECTION = "UTM"
    DATUM = "WGS84"
    UTM_ZONE = {scene.epsg % 100}
    GRID_CELL_SIZE_REFLECTIVE = {scene.resolution:.2f}
    GRID_CELL_SIZE_THERMAL = {scene.resolution:.2f}
    REFLECTIVE_LINES = {height}
    REFLECTIVE_SAMPLES = {width}
    CORNER_UL_LAT_PRODUCT = {ul_lat:.5f}
    CORNER_UL_LON_PRODUCT = {ul_lon:.5f}
    CORNER_UR_LAT_PRODUCT = {ur_lat:.5f}
    CORNER_UR_LON_PRODUCT = {ur_lon:.5f}
    CORNER_LL_LAT_PRODUCT = {ll_lat:.5f}
    CORNER_LL_LON_PRODUCT = {ll_lon:.5f}
    CORNER_LR_LAT_PRODUCT = {lr_lat:.5f}
    CORNER_LR_LON_PRODUCT = {lr_lon:.5f}
  END_GROUP = PROJECTION_ATTRIBUTES
  GROUP = LEVEL2_PROCESSING_RECORD
    LANDSAT_PRODUCT_ID = "{pid}"
    PROCESSING_LEVEL = "L2SP"
    DATE_PRODUCT_GENERATED = {generated:%Y-%m-%dT%H:%M:%SZ}
  END_GROUP = LEVEL2_PROCESSING_RECORD
  GROUP = LEVEL2_SURFACE_REFLECTANCE_PARAMETERS
{reflectance}
  END_GROUP = LEVEL2_SURFACE_REFLECTANCE_PARAMETERS
  GROUP = LEVEL2_SURFACE_TEMPERATURE_PARAMETERS
    TEMPERATURE_MULT_BAND_ST_B10 = {b10.scale}
    TEMPERATURE_ADD_BAND_ST_B10 = {b10.offset}
  END_GROUP = LEVEL2_SURFACE_TEMPERATURE_PARAMETERS
END_GROUP = LANDSAT_METADATA_FILE
END
"""


def write_product(out: Path, scene: Scene, generated: datetime) -> None:
    """The product's files in folder `out` (created)."""
    out.mkdir(parents=True, exist_ok=True)
    valid = scene.valid
    for band, suffix in FILES.items():
        path = out / f"{scene.product_id}_{suffix}.TIF"
        if band == "BQA":
            _write_tif(path, scene.qa.astype(np.uint16), scene, None)  # QA_PIXEL has no nodata tag
        else:
            _write_tif(path, _dn(band, scene.values[band], valid), scene, 0)
    (out / f"{scene.product_id}_MTL.txt").write_text(_mtl(scene, generated), encoding="utf-8")
