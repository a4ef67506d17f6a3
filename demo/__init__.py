"""Synthetic demo archive: Sentinel-2 products, a Landsat 8 product and two Sentinel-1 products on
the same ground, and static maps around them.

``generate_archive(root)`` writes small products that have the same structure as real ones (SAFE
folders with JPEG 2000 bands and ESA metadata, an Element84 "sentinel-cogs" COG product with a STAC
item, and a USGS Landsat folder with its MTL), so the same readers handle them, two Sentinel-1 GRD
products (`demo.sentinel1`: one descending in AWS's sentinel-s1-l1c layout, one ascending SAFE with
calibration XML), placed by GCPs over products 1 and 2, and the static maps of ``demo.maps``
(Copernicus DEM tiles, an ESA WorldCover tile, a CORINE raster):

1. L2A SAFE, baseline 02.14, EPSG:32632, 2020-09-21, a corner outside the swath (DN 0).
2. L2A SAFE, baseline 04.00 (DN = reflectance * 10000 + 1000), EPSG:32632, 2022-06-15,
   east of product 1, overlapping it by about 10 % of its width.
3. L1C SAFE, baseline 02.14, EPSG:32632, 2020-09-16, the same grid as product 1,
   top-of-atmosphere values (hazier), all 13 bands including B10, no SCL.
4. L2A COGs + STAC item, EPSG:32633, 2020-09-19, east of product 2, across the UTM 32/33 border.
5. Landsat 8 Collection 2 Level-2 in the USGS layout (SR_B1..SR_B7, ST_B10, QA_PIXEL, MTL.txt;
   `demo/landsat.py`), EPSG:32632, 2020-09-23, product 1's ground at 30 m, its own clouds.
6. A time series: L2A COGs of one tile (32UPA, EPSG:32632, south of product 1 with a gap) on six
   dates from April to August 2023, the crops greening from June; clouds cover much of two dates
   (2023-05-13 and 2023-07-02) and a little of a third, the others are clear. Statistics,
   time-lapses and their tests use it.
7. Sentinel-1 GRD IW, descending, AWS sentinel-s1-l1c layout, uncalibrated, 2020-09-20, and
8. Sentinel-1 GRD IW, ascending, SAFE with calibration XML, 2020-09-22 (`demo/sentinel1.py`): both
   placed by GCPs over the ground of products 1 and 2, 10 m pixels, speckled.
9. Copernicus DEM GLO-90 tiles N51E011 and N51E012 (meeting at 12 degrees east), GLO-30 N50E011,
   ESA WorldCover 2021 N51E009, CORINE Land Cover 2018 (EPSG:3035): see demo/maps.py.

All of them show ONE landscape that is a function of geographic position (lon/lat): the
pixel centres of every grid are transformed to lon/lat and the landscape is evaluated there,
so overlapping products show the same ground in the same place (clouds differ per date).
The landscape is laid out in units of the product width (``size`` * 10 m) from an anchor at
the upper-left corner of product 1, so a small test archive (size=120, 1.2 km products) still
holds a lake, a river, fields, forest and a town. Within one archive it is consistent.

Notes for readers of the files:
- DN 0 is nodata everywhere. The JP2 files carry no nodata tag (like ESA's); the COGs have
  nodata=0 (SCL.tif too). Reflectance = (DN + offset) / 10000, offset -1000 only for the
  baseline 04.00 product (BOA_ADD_OFFSET in its MTD_MSIL2A.xml).
- IMAGE_FILE lists exactly the files written (no TCI/AOT/WVP). GDAL's SENTINEL2 driver opens the
  MTD files but adds AOT/WVP/TCI bands to its subdatasets that do not exist on disk.
- SCL exists at 20 m and 60 m. Cloud cover = % of SCL 8/9/10 among the non-zero 20 m SCL pixels
  (for the L1C product the same classification, not written as a file).
- The STAC item has the 13 data assets only; hrefs are the remote https URLs of the
  sentinel-cogs bucket and must be mapped to the local files by basename. Its proj:shape and
  proj:transform describe the local rasters.
- DemoProduct.datetime is PRODUCT_START_TIME for SAFE products and the STAC datetime for the COG.
- Output is byte-for-byte reproducible for a given size.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import Affine
from rasterio.warp import transform as warp_transform

from demo import landsat, sentinel1
from tiler.collections import builtin_collections

__all__ = ["GENERATOR_VERSION", "MANIFEST_NAME", "DemoProduct", "generate_archive"]

GENERATOR_VERSION = 5  # 2: the Landsat product; 3: the Sentinel-2 time series; 4: the Sentinel-1 products; 5: the maps
MANIFEST_NAME = "demo-manifest.json"

Progress = Callable[[str], None]


@dataclass(frozen=True)
class DemoProduct:
    id: str  # SAFE name without ".SAFE"; for the COG product the product_uri without ".SAFE"
    path: Path  # the .SAFE folder, or the COG folder (Sentinel-1: the product folder); a map's file
    collection: str  # "sentinel-2-l2a", "sentinel-2-l1c", "landsat-c2-l2", "sentinel-1-grd" or a map's (demo.maps)
    layout: str  # "safe", "cog" or "usgs-landsat"; Sentinel-1: "safe" or "sentinel-s1-l1c"; maps: "named-files"
    epsg: int  # Sentinel-1: 4326, its GCPs'
    bounds: tuple[float, float, float, float]  # native CRS, of the 10 m grid (Sentinel-1: its GCPs')
    datetime: str  # ISO 8601 UTC, exactly as in the metadata (PRODUCT_START_TIME / STAC datetime)
    # Percent, computed from the generated cloud mask (SCL 8, 9, 10 at 20 m); None for radar.
    cloud_cover: float | None
    baseline: str  # "02.14" or "04.00"; "" for Landsat and the maps; Sentinel-1: the IPF version


# --------------------------------------------------------------------------------------
# Bands
# --------------------------------------------------------------------------------------

# band_id order of the ESA metadata (0..12)
# The band tables come from the Sentinel-2 collection file (tiler/collections/sentinel-2.toml).
_L1C = builtin_collections()["sentinel-2-l1c"]
_L2A = builtin_collections()["sentinel-2-l2a"]
# In the MTD's band_id order, as ESA writes its per-band lists.
BANDS = tuple(sorted(_L1C.bands, key=lambda name: _L1C.bands[name].band_index or 0))
_BI = {b: i for i, b in enumerate(BANDS)}
NATIVE_RES = {name: int(band.resolution) for c in (_L1C, _L2A) for name, band in c.bands.items()}
# physicalBand, MIN, MAX, CENTRAL wavelength (nm), as in the real MTD_MSIL2A.xml
_WAVE = {
    "B01": ("B1", 412, 456, 442.7),
    "B02": ("B2", 456, 533, 492.7),
    "B03": ("B3", 538, 583, 559.8),
    "B04": ("B4", 646, 684, 664.6),
    "B05": ("B5", 695, 714, 704.1),
    "B06": ("B6", 731, 749, 740.5),
    "B07": ("B7", 769, 797, 782.8),
    "B08": ("B8", 760, 907, 832.8),
    "B8A": ("B8A", 837, 881, 864.7),
    "B09": ("B9", 932, 958, 945.1),
    "B10": ("B10", 1337, 1412, 1373.5),
    "B11": ("B11", 1539, 1682, 1613.7),
    "B12": ("B12", 2078, 2320, 2202.4),
}
_SOLAR_IRRADIANCE = {
    "S2A": (
        1884.69,
        1959.66,
        1823.24,
        1512.06,
        1424.64,
        1287.61,
        1162.08,
        1041.63,
        955.32,
        812.92,
        367.15,
        245.59,
        85.25,
    ),
    "S2B": (
        1874.30,
        1959.75,
        1824.93,
        1512.79,
        1425.78,
        1291.13,
        1175.57,
        1041.28,
        953.93,
        817.58,
        365.41,
        247.08,
        87.75,
    ),
}
_PHYSICAL_GAINS = (
    4.10589348,
    3.75167664,
    4.17821228,
    4.50978749,
    5.19090354,
    4.85492584,
    4.51619442,
    6.13591171,
    5.1160038,
    8.49525017,
    54.83199041,
    35.15974393,
    106.2130944,
)

# STAC eo:bands of the COG items: description, centre wavelength and width (µm), as sentinel-cogs writes them.
_STAC_BANDS = {
    "B01": ("Coastal aerosol (band 1)", 0.443, 0.027),
    "B02": ("Blue (band 2)", 0.49, 0.098),
    "B03": ("Green (band 3)", 0.56, 0.045),
    "B04": ("Red (band 4)", 0.665, 0.038),
    "B05": ("Red edge 1 (band 5)", 0.704, 0.019),
    "B06": ("Red edge 2 (band 6)", 0.74, 0.018),
    "B07": ("Red edge 3 (band 7)", 0.783, 0.028),
    "B08": ("NIR 1 (band 8)", 0.842, 0.145),
    "B8A": ("NIR 2 (band 8A)", 0.865, 0.033),
    "B09": ("NIR 3 (band 9)", 0.945, 0.026),
    "B11": ("SWIR 1 (band 11)", 1.61, 0.143),
    "B12": ("SWIR 2 (band 12)", 2.19, 0.242),
}

# Which (band, resolution) each layout holds
_L2A_SAFE_FILES = {
    10: ("B02", "B03", "B04", "B08"),
    20: ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B8A", "B11", "B12", "SCL"),
    60: ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B8A", "B09", "B11", "B12", "SCL"),
}
_L1C_ORDER = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B09", "B10", "B11", "B12", "B8A")
_COG_BANDS = tuple(name for name, band in _L2A.bands.items() if not band.is_class)

# --------------------------------------------------------------------------------------
# Spectra (surface reflectance), order of BANDS: B01 B02 B03 B04 B05 B06 B07 B08 B8A B09 B10 B11 B12
# --------------------------------------------------------------------------------------

WATER, FOREST, CROP, GRASS, SOIL, URBAN = range(6)
_GROUND_SCL = np.array([6, 4, 4, 4, 5, 5], dtype=np.uint8)

_S = {
    "water_clear": [0.055, 0.048, 0.042, 0.022, 0.016, 0.011, 0.009, 0.007, 0.006, 0.004, 0.001, 0.004, 0.003],
    "water_turbid": [0.065, 0.062, 0.074, 0.052, 0.038, 0.020, 0.016, 0.013, 0.011, 0.007, 0.001, 0.006, 0.004],
    "conifer": [0.022, 0.020, 0.038, 0.020, 0.060, 0.170, 0.215, 0.240, 0.250, 0.200, 0.001, 0.120, 0.055],
    "deciduous": [0.028, 0.028, 0.055, 0.030, 0.085, 0.250, 0.320, 0.350, 0.365, 0.290, 0.001, 0.170, 0.075],
    "crop_sparse": [0.050, 0.050, 0.080, 0.068, 0.125, 0.215, 0.255, 0.280, 0.290, 0.240, 0.002, 0.240, 0.140],
    "crop_dense": [0.032, 0.030, 0.068, 0.034, 0.100, 0.300, 0.390, 0.430, 0.445, 0.360, 0.002, 0.195, 0.085],
    "grass_dry": [0.045, 0.045, 0.075, 0.060, 0.115, 0.220, 0.270, 0.300, 0.310, 0.255, 0.002, 0.230, 0.125],
    "grass_lush": [0.035, 0.035, 0.070, 0.040, 0.105, 0.270, 0.340, 0.370, 0.385, 0.310, 0.002, 0.205, 0.100],
    "soil_moist": [0.065, 0.070, 0.090, 0.110, 0.130, 0.145, 0.155, 0.170, 0.180, 0.170, 0.002, 0.230, 0.190],
    "soil_dry": [0.095, 0.105, 0.140, 0.180, 0.210, 0.230, 0.240, 0.260, 0.270, 0.250, 0.003, 0.330, 0.280],
    "asphalt": [0.075, 0.072, 0.078, 0.082, 0.086, 0.090, 0.092, 0.095, 0.096, 0.092, 0.002, 0.105, 0.095],
    "concrete": [0.130, 0.135, 0.145, 0.155, 0.160, 0.165, 0.170, 0.175, 0.178, 0.170, 0.003, 0.200, 0.180],
    "roof_red": [0.070, 0.070, 0.080, 0.140, 0.165, 0.180, 0.190, 0.200, 0.205, 0.190, 0.002, 0.240, 0.200],
    "cloud": [0.800, 0.800, 0.790, 0.780, 0.780, 0.770, 0.770, 0.760, 0.750, 0.700, 0.060, 0.520, 0.360],
    "cirrus": [0.300, 0.290, 0.280, 0.270, 0.270, 0.260, 0.260, 0.260, 0.260, 0.240, 0.280, 0.200, 0.150],
}
_SPECTRA = {k: np.array(v, dtype=np.float32) for k, v in _S.items()}
# per class: endmember A, B (mixed in by t1) and C (mixed in by t2)
_TA = np.stack(
    [
        _SPECTRA["water_clear"],
        _SPECTRA["conifer"],
        _SPECTRA["crop_sparse"],
        _SPECTRA["grass_dry"],
        _SPECTRA["soil_moist"],
        _SPECTRA["asphalt"],
    ]
)
_TB = np.stack(
    [
        _SPECTRA["water_turbid"],
        _SPECTRA["deciduous"],
        _SPECTRA["crop_dense"],
        _SPECTRA["grass_lush"],
        _SPECTRA["soil_dry"],
        _SPECTRA["concrete"],
    ]
)
_TC = np.stack(
    [
        _SPECTRA["water_clear"],
        _SPECTRA["conifer"],
        _SPECTRA["crop_sparse"],
        _SPECTRA["grass_dry"],
        _SPECTRA["soil_moist"],
        _SPECTRA["roof_red"],
    ]
)
# and D (mixed in by t3): gardens and street trees in towns
_TD = np.stack(
    [
        _SPECTRA["water_clear"],
        _SPECTRA["conifer"],
        _SPECTRA["crop_sparse"],
        _SPECTRA["grass_dry"],
        _SPECTRA["soil_moist"],
        _SPECTRA["grass_lush"],
    ]
)
# top of atmosphere (L1C): toa = boa * T + P * haze
_TOA_T = np.array([0.85, 0.88, 0.91, 0.93, 0.94, 0.95, 0.955, 0.96, 0.96, 0.62, 1.0, 0.97, 0.96], dtype=np.float32)
_TOA_P = np.array(
    [0.080, 0.060, 0.040, 0.026, 0.022, 0.018, 0.016, 0.014, 0.013, 0.010, 0.0, 0.005, 0.002], dtype=np.float32
)

# --------------------------------------------------------------------------------------
# Deterministic value noise
# --------------------------------------------------------------------------------------


def _hash(ix: np.ndarray, iy: np.ndarray, seed: int) -> np.ndarray:
    h = ix.astype(np.uint32) * np.uint32(0x9E3779B1)
    h ^= iy.astype(np.uint32) * np.uint32(0x85EBCA77)
    h += np.uint32(seed & 0xFFFFFFFF)
    h ^= h >> np.uint32(15)
    h *= np.uint32(0x2C1B3C6D)
    h ^= h >> np.uint32(12)
    h *= np.uint32(0x297A2D39)
    h ^= h >> np.uint32(15)
    return h


def _hash01(ix: np.ndarray, iy: np.ndarray, seed: int) -> np.ndarray:
    return (_hash(ix, iy, seed) >> np.uint32(8)).astype(np.float32) * np.float32(1.0 / 16777216.0)


def _value_noise(x: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """Smooth lattice value noise in [0, 1)."""
    xf = np.floor(x)
    yf = np.floor(y)
    fx = x - xf
    fy = y - yf
    ix = xf.astype(np.int32)
    iy = yf.astype(np.int32)
    sx = fx * fx * (3.0 - 2.0 * fx)
    sy = fy * fy * (3.0 - 2.0 * fy)
    a = _hash01(ix, iy, seed)
    ix1 = ix + 1
    b = _hash01(ix1, iy, seed)
    iy += 1
    c = _hash01(ix, iy, seed)
    d = _hash01(ix1, iy, seed)
    return a + (b - a) * sx + (c - a) * sy + (a - b - c + d) * (sx * sy)


def _fbm(u, v, seed: int, freq: float, octaves: int, size: int, gain: float = 0.5) -> np.ndarray:
    """Fractal value noise, roughly in [-1, 1] (mean 0). Octaves finer than ~3 pixels are dropped."""
    total = np.zeros(np.shape(u), dtype=np.float32)
    norm = 0.0
    amp = 1.0
    f = freq
    for o in range(octaves):
        if o > 0 and f > size / 3.0:
            break
        ang = 0.61 + 1.93 * o + 0.37 * (seed % 7)
        c, s = math.cos(ang) * f, math.sin(ang) * f
        x = u * np.float32(c) - v * np.float32(s) + np.float32(17.31 * o + 3.7)
        y = u * np.float32(s) + v * np.float32(c) + np.float32(-11.83 * o + 5.1)
        total += np.float32(amp) * _value_noise(x, y, seed * 131 + o * 1013)
        norm += amp
        amp *= gain
        f *= 2.03
    total *= np.float32(2.0 / norm)
    total -= np.float32(1.0)
    return total


def _smooth(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - np.float32(e0)) * np.float32(1.0 / (e1 - e0)), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


# --------------------------------------------------------------------------------------
# Landscape and clouds, as functions of (u, v): east/north distance from the anchor in units
# of the product width L (u = 0..1, v = -1..0 is product 1)
# --------------------------------------------------------------------------------------

_LAND_SEED = 20200921


def _river_centre(u: np.ndarray) -> np.ndarray:
    n = _value_noise(u * np.float32(3.1) + np.float32(7.7), np.full_like(u, 0.37), _LAND_SEED + 5) - 0.5
    return (
        -0.55 + 0.13 * np.sin(2 * np.pi * u / 1.1 + 0.4) + 0.05 * np.sin(2 * np.pi * u / 0.43 + 2.1) + 0.09 * n
    ).astype(np.float32)


def _town_texture(u, v, urban_d, is_urban, t1, t2, t3, m, fine) -> None:
    """Street grid, buildings (grey / red roofs), gardens and an industrial area, set in place."""
    S = _LAND_SEED
    uu, vv, dd = u[is_urban], v[is_urban], urban_d[is_urban]
    c, s = math.cos(0.25), math.sin(0.25)
    gu = uu * np.float32(c) - vv * np.float32(s)
    gv = uu * np.float32(s) + vv * np.float32(c)
    bu, bv = gu / np.float32(0.011), gv / np.float32(0.011)
    fu, fv = bu - np.floor(bu), bv - np.floor(bv)
    street = (np.minimum(fu, 1 - fu) < 0.08) | (np.minimum(fv, 1 - fv) < 0.08)
    industrial = (uu > 2.45) & (vv < -0.46) & (vv > -0.75)
    cell = np.where(industrial, np.float32(0.008), np.float32(0.0036))
    ci, cj = np.floor(gu / cell).astype(np.int32), np.floor(gv / cell).astype(np.int32)
    hb, hr, hg = _hash01(ci, cj, S + 40), _hash01(ci, cj, S + 41), _hash01(ci, cj, S + 42)
    centre = dd < 0.4
    building = hb < np.where(centre | industrial, 0.8, 0.55)
    a1 = np.where(building, 0.15 + 0.85 * hr, 0.3)
    a1 = np.where(industrial & building, 0.6 + 0.4 * hr, a1)
    a2 = np.where(building & ~industrial & (hg < np.where(centre, 0.3, 0.55)), 0.85, 0.0)
    a3 = np.where(building, 0.0, np.where(centre | industrial, 0.12, 0.75))
    a1 = np.where(street, 0.05, a1)
    a2 = np.where(street, 0.0, a2)
    a3 = np.where(street, 0.0, a3)
    t1[is_urban] = a1 * (1.0 - a2 - a3)
    t2[is_urban] = a2
    t3[is_urban] = a3
    m[is_urban] = 1.0 + 0.1 * fine[is_urban]


def _by_rows(
    fn: Callable[..., dict[str, np.ndarray]], u: np.ndarray, v: np.ndarray, *args, rows: int = 128
) -> dict[str, np.ndarray]:
    """Apply a pointwise field function to blocks of rows (bounds the memory of temporaries)."""
    out: dict[str, np.ndarray] = {}
    for r0 in range(0, u.shape[0], rows):
        part = fn(u[r0 : r0 + rows], v[r0 : r0 + rows], *args)
        for k, a in part.items():
            if k not in out:
                out[k] = np.empty(u.shape, dtype=a.dtype)
            out[k][r0 : r0 + rows] = a
    return out


def _landscape(u: np.ndarray, v: np.ndarray, size: int, season: str) -> dict[str, np.ndarray]:
    """Ground class and mixing parameters per pixel. Class map does not depend on the date."""
    return _by_rows(_landscape_rows, u, v, size, season)


def _landscape_rows(u: np.ndarray, v: np.ndarray, size: int, season: str) -> dict[str, np.ndarray]:
    S = _LAND_SEED
    shape = u.shape
    cls = np.full(shape, CROP, dtype=np.uint8)
    t1 = np.zeros(shape, dtype=np.float32)
    t2 = np.zeros(shape, dtype=np.float32)
    t3 = np.zeros(shape, dtype=np.float32)
    m = np.ones(shape, dtype=np.float32)
    fine = _fbm(u, v, S + 1, 40.0, 3, size)  # fine texture, shared by all classes

    # ---- fields: two parcel systems with different orientation, brick-like rows
    system = _fbm(u, v, S + 2, 1.3, 2, size)
    grass_t = np.zeros(shape, dtype=np.float32)
    for k, (theta, cw, ch) in enumerate(((0.30, 0.052, 0.034), (-0.45, 0.040, 0.058))):
        c, s = math.cos(theta), math.sin(theta)
        pu = (u * np.float32(c) - v * np.float32(s)) / np.float32(cw)
        pv = (u * np.float32(s) + v * np.float32(c)) / np.float32(ch)
        row = np.floor(pv).astype(np.int32)
        col = np.floor(pu + _hash01(row, np.zeros_like(row), S + 10 + k)).astype(np.int32)
        h0 = _hash01(col, row, S + 20 + k)
        h1 = _hash01(col, row, S + 30 + k)
        sel = system > 0 if k == 0 else system <= 0
        p_cls = np.where(h0 < 0.45, CROP, np.where(h0 < 0.70, SOIL, np.where(h0 < 0.85, GRASS, CROP)))
        patch = np.where(h0 < 0.45, 0.25 + 0.75 * h1, np.where(h0 >= 0.85, 0.25 * h1, h1)).astype(np.float32)
        cls[sel] = p_cls[sel].astype(np.uint8)
        grass_t[sel] = patch[sel]
    is_crop = cls == CROP
    g = grass_t + np.float32(0.08) * fine
    if season == "summer":
        g = np.where(is_crop, g + 0.3, g)
    t1[:] = np.clip(g, 0.0, 1.0)
    m[:] = 1.0 + 0.05 * fine

    # ---- floodplain meadows along the river
    # river centre sampled on a fixed 1/1024 grid in u: the same at every pixel, however the input is cut
    k0, k1 = math.floor(float(u.min()) * 1024) - 2, math.ceil(float(u.max()) * 1024) + 3
    us = (np.arange(k0, k1, dtype=np.float64) / 1024).astype(np.float32)
    vc = _river_centre(us)
    slope = np.gradient(vc, us)
    rv = np.interp(u, us, vc).astype(np.float32)
    rs = np.interp(u, us, slope).astype(np.float32)
    dist_river = np.abs(v - rv) / np.sqrt(1.0 + rs * rs)
    flood = dist_river < 0.045 + 0.02 * fine
    cls[flood] = GRASS
    t1[flood] = np.clip(0.7 + 0.3 * fine[flood], 0, 1)

    # ---- forest (large forest north-east of product 1, riparian forest along the river)
    forest = _fbm(u, v, S + 3, 2.2, 5, size)
    forest += 0.55 * np.exp(-((u - 0.78) ** 2 + (v + 0.12) ** 2) / 0.02)
    forest += 0.35 * np.exp(-((u - 2.05) ** 2 + (v + 0.15) ** 2) / 0.008)
    forest += 0.25 * np.exp(-((dist_river / 0.06) ** 2)) * (np.sin(u * 9.0) > 0.2)
    is_forest = forest > 0.33
    cls[is_forest] = FOREST
    kind = _fbm(u, v, S + 4, 5.0, 2, size)
    t1[is_forest] = np.clip(0.5 + 0.8 * kind[is_forest], 0, 1)
    m[is_forest] = 0.9 + 0.2 * fine[is_forest] + 0.05 * (forest[is_forest] - 0.33)

    # ---- towns and villages (urban with parks)
    towns = (
        (1.36, -0.36, 0.17),
        (2.42, -0.42, 0.22),
        (0.16, -0.80, 0.05),
        (0.68, -0.10, 0.06),
        (1.10, -0.86, 0.05),
        (2.10, -0.95, 0.05),
        (0.52, -0.92, 0.04),
        (1.72, -0.08, 0.045),
    )
    tn = _fbm(u, v, S + 6, 6.0, 3, size)
    urban_d = np.full(shape, 9.0, dtype=np.float32)
    for cu, cv, r in towns:
        urban_d = np.minimum(urban_d, np.hypot(u - cu, v - cv) / np.float32(r))
    urban_d += 0.45 * tn
    is_urban = urban_d < 1.0
    park = _fbm(u, v, S + 7, 14.0, 2, size)
    is_park = is_urban & (park > 0.45) & (urban_d > 0.3)
    is_urban &= ~is_park
    cls[is_park] = GRASS
    t1[is_park] = np.clip(0.75 + 0.25 * fine[is_park], 0, 1)
    cls[is_urban] = URBAN
    _town_texture(u, v, urban_d, is_urban, t1, t2, t3, m, fine)

    # ---- motorway (a straight band, visible at full size)
    ax, ay, bx, by = -0.2, -0.18, 3.0, -1.05
    dx, dy = bx - ax, by - ay
    road = np.abs((u - ax) * dy - (v - ay) * dx) / math.hypot(dx, dy) < 0.0035
    cls[road & ~is_forest] = URBAN
    road &= cls == URBAN
    t1[road] = 0.1
    t2[road] = 0.0
    t3[road] = 0.0

    # ---- water: river and lakes (highest priority)
    river_w = 0.018 * (1.0 + 0.25 * np.sin(u * 5.3 + 1.0)) + 0.004 * fine
    is_river = dist_river < river_w / 2
    lake_noise = _fbm(u, v, S + 11, 6.0, 3, size)
    is_lake = np.zeros(shape, dtype=bool)
    lake_t = np.zeros(shape, dtype=np.float32)  # turbid/shallow near the shore
    # (centre u, v, semi-axes a, b, rotation, superellipse exponent)
    lakes = (
        (0.33, -0.30, 0.13, 0.09, 0.45, 2.0),
        (2.46, -0.86, 0.07, 0.05, 0.2, 4.0),
        (2.63, -0.47, 0.05, 0.08, -0.3, 4.0),
        (1.60, -0.20, 0.035, 0.028, 0.0, 2.0),
    )
    for cu, cv, a, b, rot, p in lakes:
        c, s = math.cos(rot), math.sin(rot)
        x = ((u - cu) * c + (v - cv) * s) / a
        y = (-(u - cu) * s + (v - cv) * c) / b
        d = (np.abs(x) ** p + np.abs(y) ** p) ** (1.0 / p)
        inside = d + 0.22 * lake_noise < 1.0
        lake_t[inside] = np.clip(0.05 + 0.8 * (d[inside] + 0.22 * lake_noise[inside]) ** 6, 0, 1)
        is_lake |= inside
    water = is_river | is_lake
    cls[water] = WATER
    t1[is_lake] = np.clip(lake_t[is_lake] + 0.1 * fine[is_lake], 0, 1)
    t1[is_river] = np.clip(0.75 + 0.2 * fine[is_river], 0, 1)
    t2[water] = 0.0
    t3[water] = 0.0
    m[water] = 1.0 + 0.03 * fine[water]
    return {"cls": cls, "t1": t1, "t2": t2, "t3": t3, "m": m}


@dataclass(frozen=True)
class _Weather:
    seed: int
    cloud_threshold: float  # higher: fewer cumulus
    cirrus_threshold: float  # higher: less cirrus (> 1: none)
    cirrus_angle: float
    sun_azimuth: float  # degrees from north
    shadow_dist: float  # cloud-to-shadow distance, in product widths
    haze: float = 1.0  # L1C path radiance factor


def _cloud_alpha(u, v, w: _Weather, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Opacity (0..1) and brightness of cumulus."""
    d = _fbm(u, v, w.seed, 6.0, 5, size, gain=0.55)
    d += np.float32(0.4) * _fbm(u, v, w.seed + 1, 1.2, 2, size)
    d -= np.float32(w.cloud_threshold)
    alpha = _smooth(0.0, 0.14, d)
    bright = 0.82 + 0.18 * _smooth(0.05, 0.4, d)
    return alpha, bright


def _weather(u: np.ndarray, v: np.ndarray, w: _Weather, size: int) -> dict[str, np.ndarray]:
    """Cumulus opacity/brightness, cloud shadow, cirrus opacity and haze per pixel for one date."""
    return _by_rows(_weather_rows, u, v, w, size)


def _weather_rows(u: np.ndarray, v: np.ndarray, w: _Weather, size: int) -> dict[str, np.ndarray]:
    a, cb = _cloud_alpha(u, v, w, size)
    az = math.radians(w.sun_azimuth)
    du, dv = w.shadow_dist * math.sin(az), w.shadow_dist * math.cos(az)
    s, _ = _cloud_alpha(u + np.float32(du), v + np.float32(dv), w, size)
    if w.cirrus_threshold < 1.0:
        c, sn = math.cos(w.cirrus_angle), math.sin(w.cirrus_angle)
        ru = (u * np.float32(c) + v * np.float32(sn)) * np.float32(0.35)
        rv = (-u * np.float32(sn) + v * np.float32(c)) * np.float32(1.8)
        ci = _fbm(ru, rv, w.seed + 2, 3.0, 4, size)
        ac = np.float32(0.32) * _smooth(w.cirrus_threshold, w.cirrus_threshold + 0.3, ci)
    else:
        ac = np.zeros_like(a)
    haze = 1.0 + 0.25 * _fbm(u, v, w.seed + 3, 1.5, 2, size)
    return {"a": a, "cb": cb, "s": s, "ac": ac, "haze": haze}


def _classify(a, ac, s, ground_cls, valid) -> np.ndarray:
    scl = _GROUND_SCL[ground_cls]
    scl = np.where(s >= 0.5, np.uint8(3), scl)
    scl = np.where(ac >= 0.1, np.uint8(10), scl)
    scl = np.where(a >= 0.3, np.uint8(8), scl)
    scl = np.where(a >= 0.75, np.uint8(9), scl)
    scl = np.where(valid, scl, np.uint8(0))
    return scl.astype(np.uint8)


# --------------------------------------------------------------------------------------
# Products
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Grid:
    epsg: int
    ulx: int
    uly: int
    size: int  # pixels at 10 m

    def transform(self, res: int) -> Affine:
        return Affine(res, 0.0, self.ulx, 0.0, -res, self.uly)

    def n(self, res: int) -> int:
        return self.size * 10 // res

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        w = self.size * 10
        return (float(self.ulx), float(self.uly - w), float(self.ulx + w), float(self.uly))


@dataclass(frozen=True)
class _Spec:
    key: str
    level: str  # "L2A" / "L1C"
    layout: str  # "safe" / "cog"
    platform: str  # "S2A" / "S2B"
    start: datetime  # sensing start (product name time)
    discriminator: datetime  # generation time
    baseline: str
    rel_orbit: int
    abs_orbit: int
    tile: str  # e.g. "32UPB"
    grid: _Grid
    weather: _Weather
    season: str
    sun_zenith: float
    nodata_corner: bool
    centre: str  # processing centre in ids

    @property
    def nbase(self) -> str:
        return "N" + self.baseline.replace(".", "")

    @property
    def name(self) -> str:
        return (
            f"{self.platform}_MSI{self.level}_{_ts(self.start)}_{self.nbase}_R{self.rel_orbit:03d}"
            f"_T{self.tile}_{_ts(self.discriminator)}"
        )

    @property
    def collection(self) -> str:
        return "sentinel-2-l2a" if self.level == "L2A" else "sentinel-2-l1c"

    @property
    def datastrip_start(self) -> datetime:
        return self.start + timedelta(seconds=3)

    @property
    def sensing_time(self) -> datetime:
        return self.start + timedelta(minutes=2, seconds=38, microseconds=581767)

    def relpath(self) -> Path:
        if self.layout == "cog":
            zone, band, sq = self.tile[:2], self.tile[2], self.tile[3:]
            return (
                Path("sentinel-cogs")
                / "sentinel-s2-l2a-cogs"
                / zone
                / band
                / sq
                / str(self.start.year)
                / str(self.start.month)
                / self.cog_id
            )
        d = self.start
        return Path("Sentinel-2") / "MSI" / self.level / f"{d:%Y}" / f"{d:%m}" / f"{d:%d}" / (self.name + ".SAFE")

    @property
    def cog_id(self) -> str:
        return f"{self.platform}_{self.tile}_{self.start:%Y%m%d}_0_{self.level}"


def _ts(d: datetime) -> str:
    return d.strftime("%Y%m%dT%H%M%S")


def _iso_ms(d: datetime) -> str:
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"


def _iso_us(d: datetime) -> str:
    return d.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _utc(year: int, month: int, day: int, hour: int, minute: int, second: int, microsecond: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=UTC)


# local metres per degree at ~51°N (only used to lay products out and to scale the landscape)
_LAT_REF = 51.0
_M_PER_DEG_LAT = (
    111132.954 - 559.822 * math.cos(2 * math.radians(_LAT_REF)) + 1.175 * math.cos(4 * math.radians(_LAT_REF))
)
_M_PER_DEG_LON = 111412.84 * math.cos(math.radians(_LAT_REF)) - 93.5 * math.cos(3 * math.radians(_LAT_REF))


def _xy(src: int, dst: int, x, y):
    xs, ys = warp_transform(f"EPSG:{src}", f"EPSG:{dst}", list(np.atleast_1d(x)), list(np.atleast_1d(y)))
    return xs, ys


def _snap(value: float, ending: int | None) -> int:
    """Snap to the 60 m grid; with ``ending``, to a value ending in it (like 499980 / 5900040)."""
    if ending is None:
        return round(value / 60.0) * 60
    base = round(value / 1000.0)
    cands = [(base + k) * 1000 + ending for k in range(-4, 5)]
    cands = [c for c in cands if c % 60 == 0]
    return min(cands, key=lambda c: abs(c - value))


def _layout(size: int) -> tuple[list[_Spec], tuple[float, float, float]]:
    """Product specs and the landscape frame (anchor lon, anchor lat, L in metres)."""
    L = size * 10.0
    # product 1: 12.0°E at ~1.85 product widths east of its west edge, centred on 51°N
    lon_t = 12.0 - 1.85 * L / _M_PER_DEG_LON
    lat_t = 51.0 + 0.5 * L / _M_PER_DEG_LAT
    (x1,), (y1,) = _xy(4326, 32632, lon_t, lat_t)
    lattice = 0.25 * L >= 3000
    g1 = _Grid(32632, _snap(x1, 980 if lattice else None), _snap(y1, 40 if lattice else None), size)
    g2 = _Grid(32632, g1.ulx + _snap(0.9 * L, None), g1.uly, size)
    (lo4,), (la4,) = _xy(32632, 4326, g2.ulx + 0.9 * L, g2.uly - 0.15 * L)
    (x4,), (y4,) = _xy(4326, 32633, lo4, la4)
    g4 = _Grid(32633, _snap(x4, None), _snap(y4, None), size)
    (lon0,), (lat0,) = _xy(32632, 4326, g1.ulx, g1.uly)

    p1 = _Spec(
        "p1",
        "L2A",
        "safe",
        "S2B",
        _utc(2020, 9, 21, 10, 36, 49, 24000),
        _utc(2020, 9, 21, 13, 24, 41),
        "02.14",
        8,
        18284,
        "32UPB",
        g1,
        _Weather(
            seed=921, cloud_threshold=0.10, cirrus_threshold=0.27, cirrus_angle=0.5, sun_azimuth=164.0, shadow_dist=0.07
        ),
        "autumn",
        54.3,
        True,
        "VGS2",
    )
    p2 = _Spec(
        "p2",
        "L2A",
        "safe",
        "S2B",
        _utc(2022, 6, 15, 10, 36, 29, 24000),
        _utc(2022, 6, 15, 13, 52, 26),
        "04.00",
        8,
        27293,
        "32UQB",
        g2,
        _Weather(
            seed=615, cloud_threshold=0.40, cirrus_threshold=9.0, cirrus_angle=0.0, sun_azimuth=152.0, shadow_dist=0.035
        ),
        "summer",
        30.8,
        False,
        "2BPS",
    )
    p3 = _Spec(
        "p3",
        "L1C",
        "safe",
        "S2A",
        _utc(2020, 9, 16, 10, 30, 31, 24000),
        _utc(2020, 9, 16, 12, 41, 8),
        "02.14",
        8,
        27322,
        "32UPB",
        g1,
        _Weather(
            seed=916,
            cloud_threshold=0.36,
            cirrus_threshold=0.28,
            cirrus_angle=-0.7,
            sun_azimuth=161.0,
            shadow_dist=0.065,
            haze=1.3,
        ),
        "autumn",
        52.4,
        True,
        "MPS_",
    )
    p4 = _Spec(
        "p4",
        "L2A",
        "cog",
        "S2A",
        _utc(2020, 9, 19, 10, 10, 31, 24000),
        _utc(2020, 9, 19, 13, 2, 1),
        "02.14",
        51,
        27365,
        "33UUS",
        g4,
        _Weather(
            seed=919,
            cloud_threshold=0.45,
            cirrus_threshold=0.56,
            cirrus_angle=1.1,
            sun_azimuth=158.0,
            shadow_dist=0.065,
        ),
        "autumn",
        53.6,
        False,
        "MPS_",
    )
    g5 = _Grid(32632, g1.ulx, g1.uly - _snap(1.2 * L, None), size)
    return [p1, p2, p3, p4, *_series(g5)], (lon0, lat0, L)


# (month, day, cumulus threshold (lower: more cloud), season) of the time series over one tile
_SERIES = (
    (4, 18, 0.9, "autumn"),
    (5, 13, -0.15, "autumn"),
    (6, 7, 0.9, "summer"),
    (7, 2, 0.0, "summer"),
    (7, 27, 0.45, "summer"),
    (8, 21, 0.9, "summer"),
)


def _series(grid: _Grid) -> list[_Spec]:
    """Product 6: one tile on several dates, clouds on some (see the module docstring)."""
    specs = []
    for number, (month, day, clouds, season) in enumerate(_SERIES):
        platform = ("S2A", "S2B")[number % 2]
        start = _utc(2023, month, day, 10, 36, 29, 24000)
        weather = _Weather(
            seed=2023_00 + month * 31 + day,
            cloud_threshold=clouds,
            cirrus_threshold=9.0,
            cirrus_angle=0.0,
            sun_azimuth=150.0,
            shadow_dist=0.04,
        )
        specs.append(
            _Spec(
                f"p5-{month:02d}{day:02d}", "L2A", "cog", platform, start, start + timedelta(hours=3), "05.09",
                8, 30_000 + number * 357, "32UPA", grid, weather, season, 40.0, False, "MPS_",
            )
        )  # fmt: skip
    return specs


# --------------------------------------------------------------------------------------
# Rendering one product
# --------------------------------------------------------------------------------------


def _uv(grid: _Grid, frame: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Geographic position of every 10 m pixel centre (lon, lat) and landscape coordinates (u, v)."""
    n = grid.size
    xs = grid.ulx + (np.arange(n, dtype=np.float64) + 0.5) * 10.0
    ys = grid.uly - (np.arange(n, dtype=np.float64) + 0.5) * 10.0
    lon = np.empty((n, n), dtype=np.float64)
    lat = np.empty((n, n), dtype=np.float64)
    step = max(1, 100_000 // n)  # rows per call: warp returns Python lists, keep them short
    for r0 in range(0, n, step):
        r1 = min(n, r0 + step)
        X = np.broadcast_to(xs[None, :], (r1 - r0, n)).ravel()
        Y = np.broadcast_to(ys[r0:r1, None], (r1 - r0, n)).ravel()
        lo, la = warp_transform(f"EPSG:{grid.epsg}", "EPSG:4326", X, Y)
        lon[r0:r1] = np.asarray(lo, dtype=np.float64).reshape(r1 - r0, n)
        lat[r0:r1] = np.asarray(la, dtype=np.float64).reshape(r1 - r0, n)
    lon0, lat0, L = frame
    u = ((lon - lon0) * (_M_PER_DEG_LON / L)).astype(np.float32)
    v = ((lat - lat0) * (_M_PER_DEG_LAT / L)).astype(np.float32)
    return lon, lat, u, v


def _corner_line() -> tuple[float, float, float, float]:
    """Swath edge cutting the south-west corner, in normalised (col, row) coordinates 0..1."""
    return (0.0, 0.58, 0.34, 1.0)


def _valid_mask(n: int, corner: bool) -> np.ndarray:
    if not corner:
        return np.ones((n, n), dtype=bool)
    x0, y0, x1, y1 = _corner_line()
    c = (np.arange(n, dtype=np.float32) + 0.5) / n
    cx = c[None, :]
    cy = c[:, None]
    # nodata below/left of the line from (x0, y0) to (x1, y1)
    return (cy - y0) * (x1 - x0) - (cx - x0) * (y1 - y0) <= 0


def _block(a: np.ndarray, f: int, how: str = "mean") -> np.ndarray:
    if f == 1:
        return a
    n = a.shape[0] // f
    r = a.reshape(n, f, n, f)
    if how == "mean":
        return r.mean(axis=(1, 3), dtype=np.float32)
    if how == "all":
        return np.asarray(r.all(axis=(1, 3)))
    raise ValueError(how)


def _majority(cls: np.ndarray, f: int, nclasses: int = 6) -> np.ndarray:
    if f == 1:
        return cls
    n = cls.shape[0] // f
    counts = np.stack([(cls == k).reshape(n, f, n, f).sum(axis=(1, 3), dtype=np.int16) for k in range(nclasses)])
    return counts.argmax(axis=0).astype(np.uint8)


class _Scene:
    """All per-pixel fields of one product at 10 m, and their aggregates."""

    def __init__(self, spec: _Spec, land: dict[str, np.ndarray], wx: dict[str, np.ndarray], valid: np.ndarray):
        self.spec = spec
        self.land = land
        self.wx = wx
        self.valid = valid
        self._shade = 1.0 - 0.6 * wx["s"]
        self._cache: dict = {}

    def reflectance(self, band: str) -> np.ndarray:
        b = _BI[band]
        lw, wx = self.land, self.wx
        cls = lw["cls"]
        if band == "B10":  # cirrus band: only high clouds (and a little water vapour) show
            return (0.0015 + 0.0025 * wx["haze"] + 0.30 * wx["ac"] + 0.05 * wx["a"] * wx["cb"]).astype(np.float32)
        A = _TA[:, b][cls]
        B = _TB[:, b][cls]
        C = _TC[:, b][cls]
        D = _TD[:, b][cls]
        g = (A + lw["t1"] * (B - A) + lw["t2"] * (C - A) + lw["t3"] * (D - A)) * lw["m"]
        g *= self._shade
        ac = wx["ac"]
        g = g * (1.0 - ac) + ac * _SPECTRA["cirrus"][b]
        a = wx["a"]
        g = g * (1.0 - a) + a * (_SPECTRA["cloud"][b] * wx["cb"])
        if self.spec.level == "L1C":
            g = g * _TOA_T[b] + _TOA_P[b] * self.spec.weather.haze * wx["haze"]
        return g.astype(np.float32)

    def scl(self, res: int) -> np.ndarray:
        key = ("scl", res)
        if key not in self._cache:
            f = res // 10
            self._cache[key] = _classify(
                _block(self.wx["a"], f),
                _block(self.wx["ac"], f),
                _block(self.wx["s"], f),
                _majority(self.land["cls"], f),
                self.valid_at(res),
            )
        return self._cache[key]

    def valid_at(self, res: int) -> np.ndarray:
        return _block(self.valid, res // 10, "all")

    def dn(self, refl10: np.ndarray, res: int) -> np.ndarray:
        r = _block(refl10, res // 10)
        offset = 1000 if self.spec.baseline >= "04.00" else 0
        dn = np.clip(np.rint(r * 10000.0) + offset, 1, 65534).astype(np.uint16)
        dn[~self.valid_at(res)] = 0
        return dn


def _jp2_resolutions(n: int) -> int:
    return 1 + min(5, sum(1 for k in range(1, 12) if n / 2**k >= 8))


def _write_jp2(path: Path, arr: np.ndarray, grid: _Grid, res: int) -> None:
    n = arr.shape[0]
    block = {10: 1024, 20: 640, 60: 192}.get(res, 1024)
    profile = dict(
        driver="JP2OpenJPEG",
        width=n,
        height=n,
        count=1,
        dtype=arr.dtype.name,
        crs=f"EPSG:{grid.epsg}",
        transform=grid.transform(res),
    )
    opts = dict(QUALITY=100, REVERSIBLE="YES", RESOLUTIONS=_jp2_resolutions(n))
    if n > block:  # codestream tiles like the real products (1024 / 640 / 192 px)
        opts.update(BLOCKXSIZE=block, BLOCKYSIZE=block)
    with rasterio.open(path, "w", **profile, **opts) as dst:
        dst.write(arr, 1)


def _write_cog(path: Path, arr: np.ndarray, grid: _Grid, res: int, resampling: str) -> None:
    n = arr.shape[0]
    profile = dict(
        driver="COG",
        width=n,
        height=n,
        count=1,
        dtype=arr.dtype.name,
        crs=f"EPSG:{grid.epsg}",
        transform=grid.transform(res),
        nodata=0,
    )
    ovr = min(5, sum(1 for k in range(1, 12) if n / 2**k >= 8))
    with rasterio.open(
        path,
        "w",
        **profile,
        BLOCKSIZE=512 if n > 512 else 256,
        COMPRESS="DEFLATE",
        PREDICTOR="YES",
        OVERVIEW_COUNT=ovr,
        RESAMPLING=resampling,
    ) as dst:
        dst.write(arr, 1)


def _percentages(scl: np.ndarray) -> dict[int, float]:
    total = scl.size
    valid = int(np.count_nonzero(scl))
    counts = np.bincount(scl.ravel(), minlength=12)
    out = {0: 100.0 * counts[0] / total}
    for k in range(1, 12):
        out[k] = 100.0 * counts[k] / valid if valid else 0.0
    return out


def _cloud_cover(scl: np.ndarray) -> float:
    p = _percentages(scl)
    return round(p[8] + p[9] + p[10], 6)


def _footprint_lonlat(spec: _Spec) -> list[tuple[float, float]]:
    """Valid-data outline (clockwise from the north-west corner, closed) in lon/lat."""
    g = spec.grid
    w = g.size * 10.0
    if spec.nodata_corner:
        x0, y0, x1, y1 = _corner_line()
        ring = [(0, 0), (1, 0), (1, 1), (x1, y1), (x0, y0), (0, 0)]
    else:
        ring = [(0, 0), (1, 0), (1, 1), (0, 1), (0, 0)]
    pts: list[tuple[float, float]] = []
    for (ax, ay), (bx, by) in zip(ring[:-1], ring[1:]):  # densify: follows the curvature between zones
        for t in np.linspace(0, 1, 4, endpoint=False):
            pts.append((ax + (bx - ax) * t, ay + (by - ay) * t))
    pts.append(ring[-1])
    xs = [g.ulx + px * w for px, _ in pts]
    ys = [g.uly - py * w for _, py in pts]
    lon, lat = _xy(g.epsg, 4326, xs, ys)
    return list(zip(lon, lat))


# --------------------------------------------------------------------------------------
# Metadata
# --------------------------------------------------------------------------------------


def _spectral_information(b: str) -> str:
    pb, lo, hi, centre = _WAVE[b]
    nvals = hi - lo + 1
    x = np.linspace(0.0, 1.0, nvals)
    resp = np.clip(np.minimum(x, 1 - x) * 8.0, 0.0, 1.0) * (0.85 + 0.15 * np.cos(x * 9.0) ** 2)
    resp = resp / resp.max()
    vals = " ".join(f"{r:.6g}" for r in resp)
    return f"""        <Spectral_Information bandId="{_BI[b]}" physicalBand="{pb}">
          <RESOLUTION>{NATIVE_RES[b]}</RESOLUTION>
          <Wavelength>
            <MIN unit="nm">{lo}</MIN>
            <MAX unit="nm">{hi}</MAX>
            <CENTRAL unit="nm">{centre}</CENTRAL>
          </Wavelength>
          <Spectral_Response>
            <STEP unit="nm">1</STEP>
            <VALUES>{vals}</VALUES>
          </Spectral_Response>
        </Spectral_Information>
"""


_SCL_NAMES = (
    "SC_NODATA",
    "SC_SATURATED_DEFECTIVE",
    "SC_DARK_FEATURE_SHADOW",
    "SC_CLOUD_SHADOW",
    "SC_VEGETATION",
    "SC_NOT_VEGETATED",
    "SC_WATER",
    "SC_UNCLASSIFIED",
    "SC_CLOUD_MEDIUM_PROBA",
    "SC_CLOUD_HIGH_PROBA",
    "SC_THIN_CIRRUS",
    "SC_SNOW_ICE",
)


def _granule_dir(spec: _Spec) -> str:
    return f"{spec.level}_T{spec.tile}_A{spec.abs_orbit:06d}_{_ts(spec.datastrip_start)}"


def _ids(spec: _Spec) -> dict[str, str]:
    nb = "N" + spec.baseline
    gen = _ts(spec.discriminator)
    return {
        "datastrip": f"{spec.platform}_OPER_MSI_{spec.level}_DS_{spec.centre}_{gen}_S{_ts(spec.datastrip_start)}_{nb}",
        "granule": f"{spec.platform}_OPER_MSI_{spec.level}_TL_{spec.centre}_{gen}_A{spec.abs_orbit:06d}_T{spec.tile}_{nb}",
        "l1c_granule": (
            f"{spec.platform}_OPER_MSI_L1C_TL_{spec.centre}_{_ts(spec.discriminator - timedelta(minutes=42))}"
            f"_A{spec.abs_orbit:06d}_T{spec.tile}_{nb}"
        ),
        "datatake": f"G{spec.platform}_{_ts(spec.start)}_{spec.abs_orbit:06d}_{nb}",
    }


def _product_mtd(
    spec: _Spec,
    image_files: list[str],
    footprint: list[tuple[float, float]],
    cloud: float,
    qi: dict[int, float] | None,
    land_cloud: float,
) -> str:
    l2a = spec.level == "L2A"
    ids = _ids(spec)
    root = "Level-2A_User_Product" if l2a else "Level-1C_User_Product"
    xsd = "User_Product_Level-2A.xsd" if l2a else "User_Product_Level-1C.xsd"
    start = _iso_ms(spec.start)
    files = "\n".join(f"                        <IMAGE_FILE>{f}</IMAGE_FILE>" for f in image_files)
    doi = ""
    if spec.baseline >= "04.00":
        doi = "S2_-znk9xsj" if l2a else "S2_-742ikth"
        doi = f"\n            <PRODUCT_DOI>https://doi.org/10.5270/{doi}</PRODUCT_DOI>"
    if l2a:
        quant = """            <QUANTIFICATION_VALUES_LIST>
                <BOA_QUANTIFICATION_VALUE unit="none">10000</BOA_QUANTIFICATION_VALUE>
                <AOT_QUANTIFICATION_VALUE unit="none">1000.0</AOT_QUANTIFICATION_VALUE>
                <WVP_QUANTIFICATION_VALUE unit="cm">1000.0</WVP_QUANTIFICATION_VALUE>
            </QUANTIFICATION_VALUES_LIST>
"""
        if spec.baseline >= "04.00":
            quant += (
                "            <BOA_ADD_OFFSET_VALUES_LIST>\n"
                + "".join(f'        <BOA_ADD_OFFSET band_id="{i}">-1000</BOA_ADD_OFFSET>\n' for i in range(13))
                + "      </BOA_ADD_OFFSET_VALUES_LIST>\n"
            )
    else:
        quant = '            <QUANTIFICATION_VALUE unit="none">10000</QUANTIFICATION_VALUE>\n'
        if spec.baseline >= "04.00":
            quant += (
                "            <Radiometric_Offset_List>\n"
                + "".join(
                    f'                <RADIO_ADD_OFFSET band_id="{i}">-1000</RADIO_ADD_OFFSET>\n' for i in range(13)
                )
                + "            </Radiometric_Offset_List>\n"
            )
    doy = spec.start.timetuple().tm_yday
    u_factor = 1.0 / (1 - 0.01672 * math.cos(math.radians(0.9856 * (doy - 4)))) ** 2
    irr = "".join(
        f'          <SOLAR_IRRADIANCE bandId="{i}" unit="W/m²/µm">{e}</SOLAR_IRRADIANCE>\n'
        for i, e in enumerate(_SOLAR_IRRADIANCE[spec.platform])
    )
    spectral = "".join(_spectral_information(b) for b in BANDS)
    gains = "".join(
        f'            <PHYSICAL_GAINS bandId="{i}">{g}</PHYSICAL_GAINS>\n' for i, g in enumerate(_PHYSICAL_GAINS)
    )
    scl_list = ""
    if l2a:
        scl_list = (
            "            <Scene_Classification_List>\n"
            + "".join(
                f"""                <Scene_Classification_ID>
                    <SCENE_CLASSIFICATION_TEXT>{name}</SCENE_CLASSIFICATION_TEXT>
                    <SCENE_CLASSIFICATION_INDEX>{i}</SCENE_CLASSIFICATION_INDEX>
                </Scene_Classification_ID>
"""
                for i, name in enumerate(_SCL_NAMES)
            )
            + "            </Scene_Classification_List>\n"
        )
    pos = " ".join(f"{lat!r} {lon!r}" for lon, lat in footprint) + " "
    checks = ["FORMAT_CORRECTNESS", "GENERAL_QUALITY", "GEOMETRIC_QUALITY"]
    checks += ["L2A_QUALITY"] if l2a else []
    checks += ["RADIOMETRIC_QUALITY", "SENSOR_QUALITY"]
    checks_xml = "".join(f'                <quality_check checkType="{c}">PASSED</quality_check>\n' for c in checks)
    if l2a and qi is not None:
        content_qi = f"""        <Image_Content_QI>
            <CLOUDY_PIXEL_OVER_LAND_PERCENTAGE>{land_cloud:.6f}</CLOUDY_PIXEL_OVER_LAND_PERCENTAGE>
            <NODATA_PIXEL_PERCENTAGE>{qi[0]:.6f}</NODATA_PIXEL_PERCENTAGE>
            <SATURATED_DEFECTIVE_PIXEL_PERCENTAGE>{qi[1]:.6f}</SATURATED_DEFECTIVE_PIXEL_PERCENTAGE>
            <DARK_FEATURES_PERCENTAGE>{qi[2]:.6f}</DARK_FEATURES_PERCENTAGE>
            <CLOUD_SHADOW_PERCENTAGE>{qi[3]:.6f}</CLOUD_SHADOW_PERCENTAGE>
            <VEGETATION_PERCENTAGE>{qi[4]:.6f}</VEGETATION_PERCENTAGE>
            <NOT_VEGETATED_PERCENTAGE>{qi[5]:.6f}</NOT_VEGETATED_PERCENTAGE>
            <WATER_PERCENTAGE>{qi[6]:.6f}</WATER_PERCENTAGE>
            <UNCLASSIFIED_PERCENTAGE>{qi[7]:.6f}</UNCLASSIFIED_PERCENTAGE>
            <MEDIUM_PROBA_CLOUDS_PERCENTAGE>{qi[8]:.6f}</MEDIUM_PROBA_CLOUDS_PERCENTAGE>
            <HIGH_PROBA_CLOUDS_PERCENTAGE>{qi[9]:.6f}</HIGH_PROBA_CLOUDS_PERCENTAGE>
            <THIN_CIRRUS_PERCENTAGE>{qi[10]:.6f}</THIN_CIRRUS_PERCENTAGE>
            <SNOW_ICE_PERCENTAGE>{qi[11]:.6f}</SNOW_ICE_PERCENTAGE>
            <RADIATIVE_TRANSFER_ACCURACY>0.0</RADIATIVE_TRANSFER_ACCURACY>
            <WATER_VAPOUR_RETRIEVAL_ACCURACY>0.0</WATER_VAPOUR_RETRIEVAL_ACCURACY>
            <AOT_RETRIEVAL_ACCURACY>0.0</AOT_RETRIEVAL_ACCURACY>
            <AOT_RETRIEVAL_METHOD>SEN2COR_DDV</AOT_RETRIEVAL_METHOD>
            <GRANULE_MEAN_AOT>0.112</GRANULE_MEAN_AOT>
            <GRANULE_MEAN_WV>1.52</GRANULE_MEAN_WV>
            <OZONE_SOURCE>AUX_ECMWFT</OZONE_SOURCE>
            <OZONE_VALUE>298.4</OZONE_VALUE>
        </Image_Content_QI>
"""
    else:
        content_qi = ""
    aux = """        <PRODUCTION_DEM_TYPE>CopernicusDEM90</PRODUCTION_DEM_TYPE>
        <IERS_BULLETIN_FILENAME>None</IERS_BULLETIN_FILENAME>
"""
    return f"""<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<n1:{root} xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/{xsd}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="https://psd-14.sentinel2.eo.esa.int/PSD/{xsd}">
    <!-- Synthetic demo product generated by eo-tiler (tiler/demo.py); not real Sentinel-2 data. -->
    <n1:General_Info>
        <Product_Info>
            <PRODUCT_START_TIME>{start}</PRODUCT_START_TIME>
            <PRODUCT_STOP_TIME>{start}</PRODUCT_STOP_TIME>
            <PRODUCT_URI>{spec.name}.SAFE</PRODUCT_URI>
            <PROCESSING_LEVEL>Level-{spec.level[1:]}</PROCESSING_LEVEL>
            <PRODUCT_TYPE>S2MSI{spec.level[1:]}</PRODUCT_TYPE>
            <PROCESSING_BASELINE>{spec.baseline}</PROCESSING_BASELINE>{doi}
            <GENERATION_TIME>{_iso_us(spec.discriminator)}</GENERATION_TIME>
            <PREVIEW_IMAGE_URL>Not applicable</PREVIEW_IMAGE_URL>
            <PREVIEW_GEO_INFO>Not applicable</PREVIEW_GEO_INFO>
            <Datatake datatakeIdentifier="{ids["datatake"]}">
      <SPACECRAFT_NAME>Sentinel-2{spec.platform[-1]}</SPACECRAFT_NAME>
      <DATATAKE_TYPE>INS-NOBS</DATATAKE_TYPE>
      <DATATAKE_SENSING_START>{start}</DATATAKE_SENSING_START>
      <SENSING_ORBIT_NUMBER>{spec.rel_orbit}</SENSING_ORBIT_NUMBER>
      <SENSING_ORBIT_DIRECTION>DESCENDING</SENSING_ORBIT_DIRECTION>
    </Datatake>
<Query_Options completeSingleTile="true">
<PRODUCT_FORMAT>SAFE_COMPACT</PRODUCT_FORMAT>
</Query_Options>
<Product_Organisation>
                <Granule_List>
                    <Granule datastripIdentifier="{ids["datastrip"]}" granuleIdentifier="{ids["granule"]}" imageFormat="JPEG2000">
{files}
                    </Granule>
                </Granule_List>
</Product_Organisation>
        </Product_Info>
        <Product_Image_Characteristics>
            <Special_Values>
                <SPECIAL_VALUE_TEXT>NODATA</SPECIAL_VALUE_TEXT>
                <SPECIAL_VALUE_INDEX>0</SPECIAL_VALUE_INDEX>
            </Special_Values>
            <Special_Values>
                <SPECIAL_VALUE_TEXT>SATURATED</SPECIAL_VALUE_TEXT>
                <SPECIAL_VALUE_INDEX>65535</SPECIAL_VALUE_INDEX>
            </Special_Values>
            <Image_Display_Order>
                <RED_CHANNEL>3</RED_CHANNEL>
                <GREEN_CHANNEL>2</GREEN_CHANNEL>
                <BLUE_CHANNEL>1</BLUE_CHANNEL>
            </Image_Display_Order>
{quant}            <Reflectance_Conversion>
        <U>{u_factor!r}</U>
        <Solar_Irradiance_List>
{irr}        </Solar_Irradiance_List>
      </Reflectance_Conversion>
            <Spectral_Information_List>
{spectral}      </Spectral_Information_List>
{gains}            <REFERENCE_BAND>3</REFERENCE_BAND>
{scl_list}        </Product_Image_Characteristics>
    </n1:General_Info>
    <n1:Geometric_Info>
        <Product_Footprint>
            <Product_Footprint>
                <Global_Footprint>
                    <EXT_POS_LIST>{pos}</EXT_POS_LIST>
                </Global_Footprint>
            </Product_Footprint>
            <RASTER_CS_TYPE>POINT</RASTER_CS_TYPE>
            <PIXEL_ORIGIN>1</PIXEL_ORIGIN>
        </Product_Footprint>
        <Coordinate_Reference_System>
            <GEO_TABLES version="1">EPSG</GEO_TABLES>
            <HORIZONTAL_CS_TYPE>GEOGRAPHIC</HORIZONTAL_CS_TYPE>
        </Coordinate_Reference_System>
    </n1:Geometric_Info>
    <n1:Auxiliary_Data_Info>
{aux}    </n1:Auxiliary_Data_Info>
    <n1:Quality_Indicators_Info>
        <Cloud_Coverage_Assessment>{cloud:.6f}</Cloud_Coverage_Assessment>
        <Technical_Quality_Assessment>
            <DEGRADED_ANC_DATA_PERCENTAGE>0.0</DEGRADED_ANC_DATA_PERCENTAGE>
            <DEGRADED_MSI_DATA_PERCENTAGE>0</DEGRADED_MSI_DATA_PERCENTAGE>
        </Technical_Quality_Assessment>
        <Quality_Control_Checks>
            <Quality_Inspections>
{checks_xml}            </Quality_Inspections>
            <Failed_Inspections/>
        </Quality_Control_Checks>
{content_qi}    </n1:Quality_Indicators_Info>
</n1:{root}>
"""


def _tile_mtd(spec: _Spec, cloud: float, nodata_pct: float) -> str:
    l2a = spec.level == "L2A"
    ids = _ids(spec)
    g = spec.grid
    root = "Level-2A_Tile_ID" if l2a else "Level-1C_Tile_ID"
    xsd = "S2_PDI_Level-2A_Tile_Metadata.xsd" if l2a else "S2_PDI_Level-1C_Tile_Metadata.xsd"
    zone = g.epsg - 32600
    sizes = "".join(
        f"""      <Size resolution="{r}">
        <NROWS>{g.n(r)}</NROWS>
        <NCOLS>{g.n(r)}</NCOLS>
      </Size>
"""
        for r in (10, 20, 60)
    )
    geopos = "".join(
        f"""      <Geoposition resolution="{r}">
        <ULX>{g.ulx}</ULX>
        <ULY>{g.uly}</ULY>
        <XDIM>{r}</XDIM>
        <YDIM>-{r}</YDIM>
      </Geoposition>
"""
        for r in (10, 20, 60)
    )
    l1c_id = f'\n    <L1C_TILE_ID metadataLevel="Brief">{ids["l1c_granule"]}</L1C_TILE_ID>' if l2a else ""
    return f"""<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<n1:{root} xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/{xsd}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="https://psd-14.sentinel2.eo.esa.int/PSD/{xsd}">
  <!-- Synthetic demo product generated by eo-tiler (tiler/demo.py); not real Sentinel-2 data. -->
  <n1:General_Info>{l1c_id}
    <TILE_ID metadataLevel="Brief">{ids["granule"]}</TILE_ID>
    <DATASTRIP_ID metadataLevel="Standard">{ids["datastrip"]}</DATASTRIP_ID>
    <DOWNLINK_PRIORITY metadataLevel="Standard">NOMINAL</DOWNLINK_PRIORITY>
    <SENSING_TIME metadataLevel="Standard">{_iso_us(spec.sensing_time)}</SENSING_TIME>
    <Archiving_Info metadataLevel="Expertise">
      <ARCHIVING_CENTRE>{spec.centre.rstrip("_")}</ARCHIVING_CENTRE>
      <ARCHIVING_TIME>{_iso_us(spec.discriminator + timedelta(minutes=31))}</ARCHIVING_TIME>
    </Archiving_Info>
  </n1:General_Info>
  <n1:Geometric_Info>
    <Tile_Geocoding metadataLevel="Brief">
      <HORIZONTAL_CS_NAME>WGS84 / UTM zone {zone}N</HORIZONTAL_CS_NAME>
      <HORIZONTAL_CS_CODE>EPSG:{g.epsg}</HORIZONTAL_CS_CODE>
{sizes}{geopos}    </Tile_Geocoding>
    <Tile_Angles metadataLevel="Standard">
      <Mean_Sun_Angle>
        <ZENITH_ANGLE unit="deg">{spec.sun_zenith}</ZENITH_ANGLE>
        <AZIMUTH_ANGLE unit="deg">{spec.weather.sun_azimuth}</AZIMUTH_ANGLE>
      </Mean_Sun_Angle>
    </Tile_Angles>
  </n1:Geometric_Info>
  <n1:Quality_Indicators_Info metadataLevel="Standard">
    <Image_Content_QI>
      <CLOUDY_PIXEL_PERCENTAGE>{cloud:.6f}</CLOUDY_PIXEL_PERCENTAGE>
      <DEGRADED_MSI_DATA_PERCENTAGE>0.000000</DEGRADED_MSI_DATA_PERCENTAGE>
      <NODATA_PIXEL_PERCENTAGE>{nodata_pct:.6f}</NODATA_PIXEL_PERCENTAGE>
    </Image_Content_QI>
  </n1:Quality_Indicators_Info>
</n1:{root}>
"""


def _stac_item(
    spec: _Spec, footprint: list[tuple[float, float]], cloud: float, qi: dict[int, float], land_cloud: float
) -> dict:
    g = spec.grid
    zone, band, sq = spec.tile[:2], spec.tile[2], spec.tile[3:]
    s3 = f"sentinel-s2-l2a-cogs/{zone}/{band}/{sq}/{spec.start.year}/{spec.start.month}/{spec.cog_id}"
    http = f"https://sentinel-cogs.s3.us-west-2.amazonaws.com/{s3}"
    ids = _ids(spec)
    assets: dict[str, dict] = {}
    for b in _COG_BANDS:
        key, common = _L2A.bands[b].stac_keys[0], _L2A.bands[b].common_name
        desc, cw, fwhm = _STAC_BANDS[b]
        res = NATIVE_RES[b]
        assets[key] = {
            "href": f"{http}/{b}.tif",
            "type": "image/tiff; application=geotiff; profile=cloud-optimized",
            "title": f"{desc} - {res}m",
            "eo:bands": [
                {
                    "name": key,
                    "common_name": common,
                    "description": desc,
                    "center_wavelength": cw,
                    "full_width_half_max": fwhm,
                }
            ],
            "gsd": res,
            "proj:shape": [g.n(res), g.n(res)],
            "proj:transform": [res, 0, g.ulx, 0, -res, g.uly],
            "raster:bands": [
                {
                    "nodata": 0,
                    "data_type": "uint16",
                    "bits_per_sample": 15,
                    "spatial_resolution": res,
                    "scale": 0.0001,
                    "offset": 0,
                }
            ],
            "roles": ["data", "reflectance"],
        }
    assets["scl"] = {
        "href": f"{http}/SCL.tif",
        "type": "image/tiff; application=geotiff; profile=cloud-optimized",
        "title": "Scene classification map (SCL)",
        "proj:shape": [g.n(20), g.n(20)],
        "proj:transform": [20, 0, g.ulx, 0, -20, g.uly],
        "raster:bands": [{"nodata": 0, "data_type": "uint8", "spatial_resolution": 20}],
        "roles": ["data", "reflectance"],
    }
    assets = dict(sorted(assets.items()))
    ring = [[lon, lat] for lon, lat in footprint]
    lons = [p[0] for p in ring]
    lats = [p[1] for p in ring]
    props = {
        "created": _iso_us(spec.discriminator + timedelta(hours=3)),
        "platform": f"sentinel-2{spec.platform[-1].lower()}",
        "constellation": "sentinel-2",
        "instruments": ["msi"],
        "eo:cloud_cover": cloud,
        "proj:epsg": g.epsg,
        "mgrs:utm_zone": int(zone),
        "mgrs:latitude_band": band,
        "mgrs:grid_square": sq,
        "grid:code": f"MGRS-{spec.tile}",
        "view:sun_azimuth": spec.weather.sun_azimuth,
        "view:sun_elevation": 90.0 - spec.sun_zenith,
        "s2:degraded_msi_data_percentage": 0,
        "s2:nodata_pixel_percentage": round(qi[0], 6),
        "s2:saturated_defective_pixel_percentage": round(qi[1], 6),
        "s2:dark_features_percentage": round(qi[2], 6),
        "s2:cloud_shadow_percentage": round(qi[3], 6),
        "s2:vegetation_percentage": round(qi[4], 6),
        "s2:not_vegetated_percentage": round(qi[5], 6),
        "s2:water_percentage": round(qi[6], 6),
        "s2:unclassified_percentage": round(qi[7], 6),
        "s2:medium_proba_clouds_percentage": round(qi[8], 6),
        "s2:high_proba_clouds_percentage": round(qi[9], 6),
        "s2:thin_cirrus_percentage": round(qi[10], 6),
        "s2:snow_ice_percentage": round(qi[11], 6),
        "s2:product_type": "S2MSI2A",
        "s2:processing_baseline": spec.baseline,
        "s2:product_uri": f"{spec.name}.SAFE",
        "s2:generation_time": _iso_us(spec.discriminator),
        "s2:datatake_id": ids["datatake"],
        "s2:datatake_type": "INS-NOBS",
        "s2:datastrip_id": ids["datastrip"],
        "s2:granule_id": ids["granule"],
        "s2:reflectance_conversion_factor": 1.0,
        "datetime": _iso_us(spec.sensing_time),
        "s2:sequence": "0",
        "earthsearch:s3_path": f"s3://sentinel-cogs/{s3}",
        "earthsearch:payload_id": "demo/synthetic-eo-tiler",
        "earthsearch:boa_offset_applied": False,
        "processing:software": {"eo-tiler-demo": str(GENERATOR_VERSION)},
        "updated": _iso_us(spec.discriminator + timedelta(days=30)),
    }
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": spec.cog_id,
        "properties": props,
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "links": [
            {"rel": "self", "href": f"s3://sentinel-cogs/{s3}/{spec.cog_id}.json", "type": "application/json"},
            {"rel": "canonical", "href": f"s3://sentinel-cogs/{s3}/{spec.cog_id}.json", "type": "application/json"},
            {"rel": "license", "href": "https://sentinel.esa.int/documents/247904/690755/Sentinel_Data_Legal_Notice"},
        ],
        "assets": assets,
        "bbox": [min(lons), min(lats), max(lons), max(lats)],
        "stac_extensions": [
            "https://stac-extensions.github.io/mgrs/v1.0.0/schema.json",
            "https://stac-extensions.github.io/view/v1.0.0/schema.json",
            "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
            "https://stac-extensions.github.io/eo/v1.0.0/schema.json",
            "https://stac-extensions.github.io/grid/v1.0.0/schema.json",
            "https://stac-extensions.github.io/processing/v1.1.0/schema.json",
            "https://stac-extensions.github.io/projection/v1.0.0/schema.json",
        ],
        "collection": "sentinel-2-l2a",
    }


# --------------------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------------------


def _land_cloud(scene: _Scene, res: int = 20) -> float:
    scl = scene.scl(res)
    land = (_majority(scene.land["cls"], res // 10) != WATER) & (scl != 0)
    n = int(np.count_nonzero(land))
    return 100.0 * int(np.count_nonzero(land & np.isin(scl, (8, 9, 10)))) / n if n else 0.0


def _write_safe(spec: _Spec, scene: _Scene, out: Path) -> float:
    g = spec.grid
    granule = _granule_dir(spec)
    img = out / "GRANULE" / granule / "IMG_DATA"
    sensing = _ts(spec.start)
    image_files: list[str] = []
    if spec.level == "L2A":
        plan: dict[str, list[int]] = {}
        for res, names in _L2A_SAFE_FILES.items():
            for b in names:
                plan.setdefault(b, []).append(res)
        for res in (10, 20, 60):
            (img / f"R{res}m").mkdir(parents=True, exist_ok=True)
        for b in BANDS:
            if b not in plan:
                continue
            refl = scene.reflectance(b)
            for res in plan[b]:
                _write_jp2(img / f"R{res}m" / f"T{spec.tile}_{sensing}_{b}_{res}m.jp2", scene.dn(refl, res), g, res)
            del refl
        for res in (20, 60):
            _write_jp2(img / f"R{res}m" / f"T{spec.tile}_{sensing}_SCL_{res}m.jp2", scene.scl(res), g, res)
        for res in (10, 20, 60):
            for b in _L2A_SAFE_FILES[res]:
                image_files.append(f"GRANULE/{granule}/IMG_DATA/R{res}m/T{spec.tile}_{sensing}_{b}_{res}m")
    else:
        img.mkdir(parents=True, exist_ok=True)
        for b in BANDS:
            res = NATIVE_RES[b]
            _write_jp2(img / f"T{spec.tile}_{sensing}_{b}.jp2", scene.dn(scene.reflectance(b), res), g, res)
        image_files = [f"GRANULE/{granule}/IMG_DATA/T{spec.tile}_{sensing}_{b}" for b in _L1C_ORDER]
    scl20 = scene.scl(20)
    cloud = _cloud_cover(scl20)
    qi = _percentages(scl20)
    fp = _footprint_lonlat(spec)
    (out / "GRANULE" / granule / "QI_DATA").mkdir(parents=True, exist_ok=True)
    (out / "AUX_DATA").mkdir(exist_ok=True)
    (out / "DATASTRIP").mkdir(exist_ok=True)
    (out / "HTML").mkdir(exist_ok=True)
    (out / "rep_info").mkdir(exist_ok=True)
    (out / "GRANULE" / granule / "MTD_TL.xml").write_text(_tile_mtd(spec, cloud, qi[0]), encoding="utf-8")
    mtd = _product_mtd(spec, image_files, fp, cloud, qi if spec.level == "L2A" else None, _land_cloud(scene))
    (out / f"MTD_MSI{spec.level}.xml").write_text(mtd, encoding="utf-8")
    return cloud


def _write_cog_product(spec: _Spec, scene: _Scene, out: Path) -> float:
    g = spec.grid
    out.mkdir(parents=True, exist_ok=True)
    for b in _COG_BANDS:
        res = NATIVE_RES[b]
        _write_cog(out / f"{b}.tif", scene.dn(scene.reflectance(b), res), g, res, "AVERAGE")
    scl20 = scene.scl(20)
    _write_cog(out / "SCL.tif", scl20, g, 20, "NEAREST")
    cloud = _cloud_cover(scl20)
    item = _stac_item(spec, _footprint_lonlat(spec), cloud, _percentages(scl20), _land_cloud(scene))
    (out / f"{spec.cog_id}.json").write_text(json.dumps(item, indent=1), encoding="utf-8")
    return cloud


def _product_record(spec: _Spec, path: Path, cloud: float) -> DemoProduct:
    if spec.layout == "cog":
        dt = _iso_us(spec.sensing_time)
    else:
        dt = _iso_ms(spec.start)
    return DemoProduct(
        id=spec.name,
        path=path,
        collection=spec.collection,
        layout=spec.layout,
        epsg=spec.grid.epsg,
        bounds=spec.grid.bounds,
        datetime=dt,
        cloud_cover=cloud,
        baseline=spec.baseline,
    )


# --------------------------------------------------------------------------------------
# Landsat
# --------------------------------------------------------------------------------------

LANDSAT_ID = "LC08_L2SP_193025_20200923_20200930_02_T1"
_LANDSAT_ACQUIRED = _utc(2020, 9, 23, 10, 4, 51, 861099)
_LANDSAT_WEATHER = _Weather(
    seed=923, cloud_threshold=0.30, cirrus_threshold=0.45, cirrus_angle=0.2, sun_azimuth=158.0, shadow_dist=0.06
)
# The Sentinel-2 band each OLI band is drawn from (the nearest in wavelength).
_OLI_FROM_MSI = {"B01": "B01", "B02": "B02", "B03": "B03", "B04": "B04", "B05": "B8A", "B06": "B11", "B07": "B12"}
# Surface temperature of each ground class on a mild September morning (WATER ... URBAN), kelvin.
_GROUND_KELVIN = np.array([287.0, 291.0, 295.0, 293.0, 299.0, 302.0], dtype=np.float32)
_LANDSAT_RES = 30


def _landsat_relpath() -> Path:
    return Path("Landsat/collection02/level-2/standard/oli-tirs/2020/193/025") / LANDSAT_ID


def _landsat_scene(spec: _Spec, frame: tuple[float, float, float], size: int) -> landsat.Scene:
    """Product 1's ground (`spec` is its grid and season) seen by OLI/TIRS at 30 m under its own clouds."""
    grid = spec.grid
    _, _, u, v = _uv(grid, frame)
    wx = _weather(u, v, _LANDSAT_WEATHER, size)
    land = _landscape(u, v, size, spec.season)
    scene = _Scene(spec, land, wx, _valid_mask(size, spec.nodata_corner))
    f = _LANDSAT_RES // 10
    values = {oli: _block(scene.reflectance(msi), f) for oli, msi in _OLI_FROM_MSI.items()}
    cumulus, cirrus, shadow = (_block(wx[k], f) for k in ("a", "ac", "s"))
    ground = _majority(land["cls"], f)
    values["B10"] = _GROUND_KELVIN[ground] * (1 - cumulus) + 258.0 * cumulus - 4.0 * shadow
    flags = {
        landsat.CLOUD: cumulus >= 0.5,
        landsat.DILATED_CLOUD: (cumulus >= 0.2) & (cumulus < 0.5),
        landsat.CIRRUS: cirrus >= 0.1,
        landsat.CLOUD_SHADOW: (shadow >= 0.5) & (cumulus < 0.5),
        landsat.WATER: ground == WATER,
    }
    flags[landsat.CLEAR] = ~(flags[landsat.CLOUD] | flags[landsat.DILATED_CLOUD])
    qa = np.zeros(ground.shape, dtype=np.uint16)
    for bit, where in flags.items():
        qa[where] |= np.uint16(1 << bit)
    qa[~scene.valid_at(_LANDSAT_RES)] = 1 << landsat.FILL
    left, bottom, right, top = grid.bounds
    lon, lat = warp_transform(f"EPSG:{grid.epsg}", "EPSG:4326", [left, right, left, right], [top, top, bottom, bottom])
    return landsat.Scene(
        product_id=LANDSAT_ID,
        epsg=grid.epsg,
        ulx=float(grid.ulx),
        uly=float(grid.uly),
        resolution=float(_LANDSAT_RES),
        acquired=_LANDSAT_ACQUIRED,
        values=values,
        qa=qa,
        sun_elevation=37.4,
        corners_lonlat=tuple(zip(lon, lat, strict=True)),
    )


def _write_landsat(spec: _Spec, frame: tuple[float, float, float], size: int, root: Path) -> DemoProduct:
    out = root / _landsat_relpath()
    scene = _landsat_scene(spec, frame, size)
    tmp = out.with_name(f"{out.name}.partial-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    landsat.write_product(tmp, scene, generated=_utc(2020, 9, 30, 2, 11, 40))
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    return DemoProduct(
        id=LANDSAT_ID,
        path=out,
        collection="landsat-c2-l2",
        layout="usgs-landsat",
        epsg=spec.grid.epsg,
        bounds=spec.grid.bounds,
        datetime=_iso_us(_LANDSAT_ACQUIRED),
        cloud_cover=scene.cloud_cover,
        baseline="",
    )


# --------------------------------------------------------------------------------------
# Archive
# --------------------------------------------------------------------------------------


def _load_manifest(root: Path, size: int) -> list[DemoProduct] | None:
    try:
        data = json.loads((root / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if data.get("generator_version") != GENERATOR_VERSION or data.get("size") != size:
        return None
    try:
        products = [
            DemoProduct(**{**p, "path": root / p["path"], "bounds": tuple(p["bounds"])}) for p in data["products"]
        ]
    except (KeyError, TypeError):
        return None
    if not all(p.path.exists() for p in products):
        return None
    return products


def _write_sentinel1(root: Path, size: int, frame: tuple[float, float, float], say: Progress) -> list[DemoProduct]:
    """The Sentinel-1 products over products 1 and 2, their pixels from the same landscape."""
    lon0, lat0, L = frame

    def ground(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        u = ((lon - lon0) * (_M_PER_DEG_LON / L)).astype(np.float32)
        v = ((lat - lat0) * (_M_PER_DEG_LAT / L)).astype(np.float32)
        return _landscape(u, v, size, "autumn")["cls"]

    centre = (lon0 + 1.0 * L / _M_PER_DEG_LON, lat0 - 0.5 * L / _M_PER_DEG_LAT)
    records = []
    for p in sentinel1.passes(size, centre):
        out = root / p.relpath()
        say(f"generating {p.name} (Sentinel-1 GRD, {p.orbit_state}, {p.layout})")
        tmp = out.with_name(f"{out.name}.partial-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        sentinel1.write_product(p, tmp, ground)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
        records.append(
            DemoProduct(
                id=p.name,
                path=out,
                collection=sentinel1.COLLECTION.id,
                layout=p.layout,
                epsg=4326,
                bounds=sentinel1.bounds(p),
                datetime=f"{p.start:%Y-%m-%dT%H:%M:%S}Z",
                cloud_cover=None,
                baseline="003.20",
            )
        )
    return records


def generate_archive(
    root: Path, *, size: int = 1200, force: bool = False, progress: Progress | None = None
) -> list[DemoProduct]:
    """Write the synthetic demo archive under ``root`` and return its products.

    Idempotent: if ``root/demo-manifest.json`` was written by this generator version for the
    same ``size`` (and the product folders exist), the products are returned from it without
    regenerating, unless ``force``. The manifest is written last.
    """
    root = Path(root)
    if size < 12 or size % 6:
        raise ValueError(f"size must be a positive multiple of 6 (>= 12), got {size}")
    say = progress or (lambda msg: None)
    if not force:
        existing = _load_manifest(root, size)
        if existing is not None:
            say(f"demo archive up to date in {root}")
            return existing
    t0 = time.perf_counter()
    root.mkdir(parents=True, exist_ok=True)
    (root / MANIFEST_NAME).unlink(missing_ok=True)
    specs, frame = _layout(size)
    records: dict[str, DemoProduct] = {}
    cache: dict = {}
    # products 1 and 3 share grid and season: render them one after the other, keep one landscape
    for spec in sorted(specs, key=lambda sp: (sp.grid != specs[0].grid, sp.key)):
        t = time.perf_counter()
        out = root / spec.relpath()
        say(f"generating {spec.name} ({spec.level}, {spec.layout}, EPSG:{spec.grid.epsg})")
        gkey = (spec.grid, spec.season)
        if gkey not in cache:
            cache.clear()
            _, _, u, v = _uv(spec.grid, frame)
            cache[gkey] = (u, v, _landscape(u, v, size, spec.season))
        u, v, land = cache[gkey]
        scene = _Scene(spec, land, _weather(u, v, spec.weather, size), _valid_mask(size, spec.nodata_corner))
        if out.parent.is_dir():  # leftovers of this product from an interrupted run
            for old in out.parent.glob(out.name + ".partial-*"):
                shutil.rmtree(old, ignore_errors=True)
        tmp = out.with_name(f"{out.name}.partial-{os.getpid()}")
        tmp.mkdir(parents=True)
        cloud = _write_safe(spec, scene, tmp) if spec.layout == "safe" else _write_cog_product(spec, scene, tmp)
        del scene
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
        records[spec.key] = _product_record(spec, out, cloud)
        say(f"  done in {time.perf_counter() - t:.1f} s, cloud cover {cloud:.2f} %")
    cache.clear()
    say(f"generating {LANDSAT_ID} (Landsat 8 L2, usgs-landsat, EPSG:{specs[0].grid.epsg})")
    products = [*(records[spec.key] for spec in specs), _write_landsat(specs[0], frame, size, root)]
    products += _write_sentinel1(root, size, frame, say)
    # Imported here: demo.maps draws its landscapes with this module's noise.
    from demo.maps import write_maps

    say("generating the DEM tiles, WorldCover and CORINE")
    for m in write_maps(root, size):
        products.append(
            DemoProduct(m.id, root / m.relpath, m.collection, "named-files", m.epsg, m.bounds, m.datetime, None, "")
        )
    manifest = {
        "generator": "eo-tiler demo (tiler/demo.py)",
        "generator_version": GENERATOR_VERSION,
        "size": size,
        "note": "Synthetic data for demos and tests; not real Sentinel-2, Landsat or Sentinel-1 measurements.",
        "products": [
            {**asdict(p), "path": p.path.relative_to(root).as_posix(), "bounds": list(p.bounds)} for p in products
        ],
    }
    tmp_manifest = root / f"{MANIFEST_NAME}.{os.getpid()}.tmp"
    tmp_manifest.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    os.replace(tmp_manifest, root / MANIFEST_NAME)
    say(f"demo archive written to {root} in {time.perf_counter() - t0:.1f} s")
    return products


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo", description="Generate the synthetic demo archive.")
    parser.add_argument("root", type=Path, help="archive folder")
    parser.add_argument("--size", type=int, default=1200, help="10 m raster width in pixels (multiple of 6)")
    parser.add_argument("--force", action="store_true", help="regenerate even if the manifest is up to date")
    args = parser.parse_args(argv)
    products = generate_archive(
        args.root, size=args.size, force=args.force, progress=lambda m: print(m, file=sys.stderr)
    )
    for p in products:
        cloud = "" if p.cloud_cover is None else f"  cloud {p.cloud_cover:.2f} %"
        print(f"{p.id}  {p.layout}  EPSG:{p.epsg}  {p.datetime}{cloud}  {p.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
