"""The demo archive's static maps: Copernicus DEM tiles, an ESA WorldCover tile and a CORINE Land
Cover raster, laid out as their providers' buckets lay them out, around the Sentinel-2 products
(12 degrees east, 51 north).

- `Copernicus_DSM_COG_30_N51_00_E011_00_DEM` and `..._E012_00_DEM` (GLO-90): two adjacent tiles,
  1 x 1 degree, their columns 1.5 times as wide as their rows, as the DEM's are between 50 and 60
  degrees (`size` rows, 2/3 `size` columns: at the default size of 1200 exactly GLO-90's 3 x 4.5
  arc-second grid);
  float32 metres, pixel-is-point (bounds half a pixel beyond the degree lines), no nodata tag.
- `Copernicus_DSM_COG_10_N50_00_E011_00_DEM` (GLO-30): the tile south of the first, on the same
  grid (at the default size 3 x coarser than GLO-30's 1 arc-second).
- `ESA_WorldCover_10m_2021_v200_N51E009_Map.tif`: 3 x 3 degrees, `size` pixels a side, uint8
  classes, nodata 0 (sea: none here).
- `U2018_CLC2018_V2020_20u1.tif`: CORINE in EPSG:3035 at 100 m, `size` pixels a side, grid codes
  1-44; 0 outside the mapped area (a strip along its east edge).

Heights and classes are functions of lon/lat, so tiles that meet show the same ground on both
sides of their border, and the land cover follows the relief: a lake with a marshy shore beside
the Sentinel-2 products, forest on the hills, bare rock on the highest tops.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from pyproj import Transformer
from rasterio.transform import Affine

from demo import _fbm, _smooth

_SEED = 20210101
_NO_DROP = 10**9  # every octave, whatever the raster's size: overlapping rasters agree


@dataclass(frozen=True)
class MapProduct:
    id: str
    relpath: Path  # the file, below the archive root
    collection: str
    epsg: int
    bounds: tuple[float, float, float, float]  # native CRS
    datetime: str


_LAKE = (12.03, 51.02, 1.2)  # lon, lat, radius in km: a lake beside the Sentinel-2 products
_LAKE_LEVEL = 300.0


def _lake_km(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Distance from the lake's centre in kilometres (flat-earth, close enough at this size)."""
    return np.hypot((lon - _LAKE[0]) * 111.32 * math.cos(math.radians(_LAKE[1])), (lat - _LAKE[1]) * 111.32)


def heights(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Metres above the geoid: hills and valleys from 150 to 1150 m, ridges a few kilometres apart,
    sloping down to a lake at 300 m."""
    u, v = (lon - 11.0) * 20, (lat - 50.0) * 20
    relief = (_fbm(u.astype(np.float32), v.astype(np.float32), _SEED, 0.5, 5, _NO_DROP) + 1) / 2
    hills = 150 + 1000 * np.clip(relief, 0, 1) ** 1.5
    shore = _smooth(2.5 * _LAKE[2], _LAKE[2], _lake_km(lon, lat).astype(np.float32))
    return (hills * (1 - shore) + _LAKE_LEVEL * shore).astype(np.float32)


def _fields(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Height, a vegetation and a settlement field (each in about [-1, 1]), the lake's distance."""
    u, v = ((lon - 11.0) * 20).astype(np.float32), ((lat - 50.0) * 20).astype(np.float32)
    return (
        heights(lon, lat),
        _fbm(u, v, _SEED + 1, 0.9, 4, _NO_DROP),
        _fbm(u, v, _SEED + 2, 1.6, 3, _NO_DROP),
        _lake_km(lon, lat),
    )


def worldcover_classes(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    height, vegetation, settlement, lake = _fields(lon, lat)
    classes = np.full(height.shape, 40, dtype=np.uint8)  # cropland
    classes[vegetation > -0.15] = 30  # grassland
    classes[(vegetation > 0.15) | (height > 750)] = 10  # tree cover
    classes[(vegetation < -0.45) & (height > 400)] = 20  # shrubland
    classes[settlement > 0.55] = 50  # built-up
    classes[lake < 1.5 * _LAKE[2]] = 90  # herbaceous wetland
    classes[lake < _LAKE[2]] = 80  # permanent water
    classes[(height > 820) & (vegetation < 0)] = 60  # bare rock on the highest tops
    return classes


def corine_codes(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """CLC grid codes of the same ground: 41 water bodies, 35 inland marshes, 23-25 forests, 12
    arable land, 18 pastures, 21 agriculture with natural vegetation, 1-3 urban fabric and
    industry, 32 sparse vegetation."""
    height, vegetation, settlement, lake = _fields(lon, lat)
    codes = np.full(height.shape, 12, dtype=np.uint8)
    codes[vegetation > -0.15] = 18
    forest = (vegetation > 0.15) | (height > 750)
    codes[forest] = 23
    codes[forest & (height > 650)] = 25
    codes[forest & (height > 800)] = 24
    codes[settlement > 0.55] = 2
    codes[settlement > 0.7] = 1
    codes[(settlement > 0.55) & (vegetation < -0.4)] = 3
    codes[(vegetation < -0.3) & (settlement < 0)] = 21  # agriculture with natural vegetation
    codes[lake < 1.5 * _LAKE[2]] = 35
    codes[lake < _LAKE[2]] = 41
    codes[(height > 820) & (vegetation < 0)] = 32
    return codes


def _write(path: Path, data: np.ndarray, crs: str, transform: Affine, nodata: float | None, **tags: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = data.shape
    overviews = sum(1 for k in range(1, 6) if max(width, height) / 2**k >= 64)
    resampling = "average" if data.dtype.kind == "f" else "mode"  # class codes are never averaged
    with rasterio.open(
        path, "w", driver="COG", width=width, height=height, count=1, dtype=data.dtype.name, crs=crs,
        transform=transform, nodata=nodata, COMPRESS="DEFLATE", PREDICTOR="YES", BLOCKSIZE=512,
        OVERVIEW_COUNT=overviews, RESAMPLING=resampling,
    ) as dst:  # fmt: skip
        dst.write(data, 1)
        dst.update_tags(**tags)


def _dem_tile(root: Path, resolution_code: str, collection: str, lat0: int, lon0: int, size: int) -> MapProduct:
    rows, cols = size, size * 2 // 3  # columns thinned by 1.5 between 50 and 60 degrees
    dx, dy = 1 / cols, 1 / rows
    name = f"Copernicus_DSM_COG_{resolution_code}_N{lat0:02d}_00_E{lon0:03d}_00_DEM"
    # Pixel-is-point: centres on the degree lines, the first at the tile's north-west corner.
    lon = lon0 + np.arange(cols) * dx
    lat = lat0 + 1 - np.arange(rows) * dy
    grid_lon, grid_lat = np.meshgrid(lon, lat)
    transform = Affine(dx, 0, lon0 - dx / 2, 0, -dy, lat0 + 1 + dy / 2)
    path = root / "Copernicus-DEM" / collection.removeprefix("cop-dem-").upper() / name / f"{name}.tif"
    _write(path, heights(grid_lon, grid_lat), "EPSG:4326", transform, None, AREA_OR_POINT="Point")
    bounds = (lon0 - dx / 2, lat0 + dy / 2, lon0 + 1 - dx / 2, lat0 + 1 + dy / 2)
    return MapProduct(name, path.relative_to(root), collection, 4326, bounds, "2021-01-01T00:00:00Z")


def _worldcover(root: Path, size: int) -> MapProduct:
    lat0, lon0 = 51, 9
    step = 3 / size
    centres = (np.arange(size) + 0.5) * step
    grid_lon, grid_lat = np.meshgrid(lon0 + centres, lat0 + 3 - centres)
    name = f"ESA_WorldCover_10m_2021_v200_N{lat0:02d}E{lon0:03d}"
    path = root / "ESA-WorldCover" / "v200" / "2021" / "map" / f"{name}_Map.tif"
    transform = Affine(step, 0, lon0, 0, -step, lat0 + 3)
    _write(path, worldcover_classes(grid_lon, grid_lat), "EPSG:4326", transform, 0)
    return MapProduct(
        name, path.relative_to(root), "esa-worldcover", 4326, (lon0, lat0, lon0 + 3, lat0 + 3), "2021-01-01T00:00:00Z"
    )


def _corine(root: Path, size: int) -> MapProduct:
    to_laea = Transformer.from_crs("EPSG:4326", "EPSG:3035", always_xy=True)
    x, y = to_laea.transform(12.0, 51.0)
    half = size * 100 / 2
    left, top = math.floor((x - half) / 100) * 100, math.floor((y + half) / 100) * 100
    centres = (np.arange(size) + 0.5) * 100
    gx, gy = np.meshgrid(left + centres, top - centres)
    lon, lat = Transformer.from_crs("EPSG:3035", "EPSG:4326", always_xy=True).transform(gx, gy)
    codes = corine_codes(lon, lat)
    codes[:, size - max(1, size // 10) :] = 0  # outside the mapped area
    name = "U2018_CLC2018_V2020_20u1"
    path = root / "CLMS" / "CORINE" / f"{name}.tif"
    _write(path, codes, "EPSG:3035", Affine(100, 0, left, 0, -100, top), None)
    bounds = (float(left), float(top - size * 100), float(left + size * 100), float(top))
    return MapProduct(name, path.relative_to(root), "corine-land-cover", 3035, bounds, "2018-01-01T00:00:00Z")


def write_maps(root: Path, size: int) -> list[MapProduct]:
    """Write the static maps under `root`; `size` scales their pixel counts (see the module)."""
    return [
        _dem_tile(root, "30", "cop-dem-glo-90", 51, 11, size),
        _dem_tile(root, "30", "cop-dem-glo-90", 51, 12, size),
        _dem_tile(root, "10", "cop-dem-glo-30", 50, 11, size),
        _worldcover(root, size),
        _corine(root, size),
    ]
