"""What the tests share, in one place: the real samples they know, independent expectations for
tile pixels (computed with rasterio and numpy only, plus EO Browser's formulas written out again by
hand), tiny generated products whose pixels tell which product they came from, and small HTTP aids.
Test modules import from here, never from one another."""

from __future__ import annotations

import base64
import http.client
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import httpx
import morecantile
import numpy as np
import rasterio
import uvicorn
from PIL import Image
from rasterio.enums import Resampling
from rasterio.transform import GCPTransformer, from_bounds, from_origin
from rasterio.warp import reproject, transform
from starlette.testclient import TestClient

from tiler.app import create_app
from tiler.settings import Settings

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("EO_TILER_SHARED_DATA", REPO.parent / "shared" / "data"))

SAFE_L2A_ID = "S2A_MSIL2A_20221005T115411_N0400_R023_T29UNU_20221005T164454"
COG_ID = "S2A_MSIL2A_20200219T112111_N0214_R037_T29RKH_20200219T123947"
COG_STAC_ID = "S2A_29RKH_20200219_0_L2A"
SAFE_REL = f"s2-l2a-safe-T29UNU-20221005/{SAFE_L2A_ID}.SAFE"
COG_REL = "s2-l2a-cogs-29RKH-20200219/sentinel-cogs/sentinel-s2-l2a-cogs/29/R/KH/2020/2/S2A_29RKH_20200219_0_L2A"

# Landsat: Collection 2 Level-2 (flat USGS files; and the usgs-landsat tree, negative northing), and
# Collection 1 Level-1.
LANDSAT_L2_ID = "LC08_L2SP_008059_20191201_20200825_02_T1"
LANDSAT_L2_REL = "landsat8-l2sp-008059-20191201"
LANDSAT_L2_SOUTH_ID = "LC08_L2SP_001062_20201031_20201106_02_T2"
LANDSAT_L2_SOUTH_REL = (
    "landsat8-c2l2sp-001062-20201031/usgs-landsat/collection02/level-2/standard/oli-tirs/2020/001/062/"
    + LANDSAT_L2_SOUTH_ID
)
LANDSAT_L1_ID = "LC08_L1TP_016037_20170813_20170814_01_RT"
LANDSAT_L1_REL = "landsat8-l1tp-016037-20170813/landsat-pds/c1/L8/016/037/" + LANDSAT_L1_ID


# ---------------------------------------------------------------------------------------------
# Pixels

WEB_MERCATOR = morecantile.tms.get("WebMercatorQuad")


def decode(content: bytes) -> np.ndarray:
    """PNG/WebP/JPEG bytes to an HxWx4 uint8 array."""
    return np.asarray(Image.open(io.BytesIO(content)).convert("RGBA"))


def pixel_centres(bounds: tuple[float, float, float, float], width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    left, bottom, right, top = bounds
    cols, rows = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    return left + cols * (right - left) / width, top - rows * (top - bottom) / height


def sample(path: Path, xs: np.ndarray, ys: np.ndarray, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """DN of the source pixel under each point, and a mask of points safely inside a source pixel
    (at least a fifth of a pixel from its edges), where nearest-neighbour resampling is unambiguous."""
    with rasterio.open(path) as src:
        sx, sy = transform(crs, src.crs, xs.ravel().tolist(), ys.ravel().tolist())
        inverse = ~src.transform
        sx, sy = np.array(sx), np.array(sy)
        col_f = inverse.a * sx + inverse.b * sy + inverse.c
        row_f = inverse.d * sx + inverse.e * sy + inverse.f
        col, row = np.floor(col_f).astype(int), np.floor(row_f).astype(int)
        inside = (col >= 0) & (row >= 0) & (col < src.width) & (row < src.height)
        frac_c, frac_r = col_f - col, row_f - row
        safe = inside & (frac_c > 0.2) & (frac_c < 0.8) & (frac_r > 0.2) & (frac_r < 0.8)
        data = src.read(1)
        dn = np.zeros(col.shape, dtype=np.float64)
        dn[inside] = data[row[inside], col[inside]]
    return dn.reshape(xs.shape), safe.reshape(xs.shape)


def tile_samples(path: Path, z: int, x: int, y: int, size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    bounds = WEB_MERCATOR.xy_bounds(morecantile.Tile(x, y, z))
    xs, ys = pixel_centres(tuple(bounds), size, size)
    return sample(path, xs, ys, "EPSG:3857")


def highlight(v: np.ndarray, vmax: float = 0.4) -> np.ndarray:
    x = v / vmax
    y = np.where(x < 0.92, x, 0.92 + (x - 0.92) * 0.08 / 1.08)
    return np.round(np.clip(y, 0, 1) * 255)


def ndvi_palette(ndvi: np.ndarray, layer_file: Path) -> np.ndarray:
    """EO Browser's stepped NDVI colours, from the bounds in the layer file."""
    import tomllib

    spec = tomllib.loads(layer_file.read_text())["colormap"]
    bounds = np.array([b for b, _ in spec["steps"]])
    colours = np.array([c for _, c in spec["steps"]] + [spec["default"]])
    index = np.searchsorted(bounds, ndvi, side="right")  # first bound with value < bound
    return np.round(colours[index] * 255)


def mtl_values(path: Path) -> dict[str, str]:
    """`KEY = VALUE` lines of a Landsat MTL (ODL text), read with a regular expression: the tests'
    own reading, independent of the parser's. Later groups repeat some keys: the first one wins."""
    import re

    values: dict[str, str] = {}
    for key, value in re.findall(r"^\s*(\w+) = (.+?)\s*$", path.read_text(), flags=re.MULTILINE):
        values.setdefault(key, value.strip('"'))
    return values


# ---------------------------------------------------------------------------------------------
# Evalscripts

EVALSCRIPTS = REPO / "tests" / "evalscripts"
LAYER_SCRIPTS = EVALSCRIPTS / "layers"  # every layer of styles/ written as an evalscript, with its header


def evalscript_param(text: str, urlsafe: bool = True) -> str:
    """A script as the `evalscript` parameter takes it: its UTF-8 in base64, URL-safe without padding
    (as EO Browser writes it) or standard."""
    data = text.encode()
    return base64.urlsafe_b64encode(data).decode().rstrip("=") if urlsafe else base64.b64encode(data).decode()


def staircase_scripts(leaves: int = 2048) -> tuple[str, str]:
    """A long evalscript and a short one that draw the same picture: B04 in DN, two DN a grey level,
    in `leaves` levels. The long one is a balanced tree of nested ternaries, as the collection's tree
    models are written; its thresholds lie between whole DN, so both decide every pixel alike."""
    head = '//VERSION=3\nfunction setup() {\n  return { input: [{ bands: ["B04"], units: "DN" }], output: { bands: 1 } };\n}\n'

    def tree(low: int, high: int) -> str:  # leaves low..high-1
        if high - low == 1:
            return repr(low / (leaves - 1))
        middle = (low + high) // 2
        return f"(s.B04 < {2 * middle - 0.5} ? {tree(low, middle)} : {tree(middle, high)})"

    long = f"{head}function evaluatePixel(s) {{\n  return [{tree(0, leaves)}];\n}}\n"
    short = f"{head}function evaluatePixel(s) {{\n  return [Math.min(Math.floor(s.B04 / 2), {leaves - 1}) / {leaves - 1}];\n}}\n"
    return long, short


# ---------------------------------------------------------------------------------------------
# Generated products

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


# ---------------------------------------------------------------------------------------------
# Tiles, apps and ports


def centre_tile(product_json: dict, z: int) -> tuple[int, int, int]:
    """The z/x/y of the Web Mercator tile at the centre of a product's JSON bounds."""
    west, south, east, north = product_json["bounds"]
    t = WEB_MERCATOR.tile((west + east) / 2, (south + north) / 2, z)
    return t.z, t.x, t.y


def centre_tile_url(product, z: int = 14) -> str:
    west, south, east, north = product.bounds_wgs84
    t = WEB_MERCATOR.tile((west + east) / 2, (south + north) / 2, z)
    return f"/tiles/{t.z}/{t.x}/{t.y}.png"


def demo_variant(demo_app, demo_archive, **settings) -> TestClient:
    """An app over the demo archive with other settings; the session's catalog is reused."""
    root, _ = demo_archive
    app = create_app(Settings(data_roots=(root,), **settings), catalog=demo_app.state.services.catalog)
    return TestClient(app, raise_server_exceptions=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------------------
# Sentinel-1: the real GRD samples, and an independent GCP warp

S1_IW_ID = "S1A_IW_GRDH_1SDV_20180716T004042_20180716T004107_022812_02792A_FD5B"
S1_SM_ID = "S1A_S1_GRDH_1SDV_20230809T020729_20230809T020754_049792_05FCE6_1175"
S1_IW_REL = f"s1-grd-iw-dv-20180716/sentinel-s1-l1c/GRD/2018/7/16/IW/DV/{S1_IW_ID}"
S1_SM_REL = f"s1-grd-sm-dv-20230809/sentinel-s1-l1c/GRD/2023/8/9/S1/DV/{S1_SM_ID}"
# The sentinel-1 collection's display scaling of uncalibrated DN, from its file.
S1_SCALE = tomllib.loads((REPO / "tiler" / "collections" / "sentinel-1.toml").read_text())["defaults"]["scale"]


def gcp_warp(
    values: np.ndarray, path: Path, bounds: tuple[float, float, float, float], crs: str, size: int = 256
) -> np.ndarray:
    """`values` (float, NaN for no data: the whole measurement file's pixels) warped onto a grid in
    one go by GDAL's thin-plate spline through every GCP of the file at `path`: no windows, no
    reduced resolutions, no approximation by parts. NaN where nothing lands."""
    with rasterio.open(path) as src:
        gcps, gcp_crs = src.gcps
    out = np.full((size, size), np.nan, dtype=np.float32)
    reproject(
        values.astype(np.float32), out, gcps=gcps, src_crs=gcp_crs, src_nodata=np.nan,
        dst_transform=from_bounds(*bounds, size, size), dst_crs=crs, dst_nodata=np.nan,
        resampling=Resampling.nearest, SRC_METHOD="GCP_TPS",
    )  # fmt: skip
    return out


def uncalibrated_intensity(path: Path) -> np.ndarray:
    """DN² times the collection's display scaling, NaN where DN is 0 (the swath edges)."""
    with rasterio.open(path) as src:
        dn = src.read(1).astype(np.float64)
    return np.where(dn == 0, np.nan, dn * dn * S1_SCALE)


def decibel_grey(v: np.ndarray) -> np.ndarray:
    """EO Browser's decibel gamma0 layer, as its script writes it: max(0, ln(v) * 0.21714724095 + 1)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.round(np.clip(np.log(v) * 0.21714724095 + 1, 0, 1) * 255)


def source_pixel(path: Path, lon: float, lat: float) -> tuple[int, int, bool]:
    """(row, col) of the file pixel under a point by the GCPs' thin-plate spline, and whether the
    point lies well inside that pixel (a fifth of a pixel from its edges)."""
    with rasterio.open(path) as src:
        gcps, _ = src.gcps
    with GCPTransformer(gcps, tps=True) as spline:
        row, col = spline.rowcol([lon], [lat], op=float)
    r, c = float(row[0]), float(col[0])
    inside = all(0.2 < f - np.floor(f) < 0.8 for f in (r, c))
    return int(np.floor(r)), int(np.floor(c)), inside


# ---------------------------------------------------------------------------------------------
# Analysis: independent expectations from the band files (tests of /statistics, /crop, time-lapses)

SCL_CLOUDS = (3, 8, 9, 10)  # Sentinel Hub's cloud mask: shadows, medium and high probability, cirrus


def demo_series(products) -> list:
    """The demo archive's time series over one tile (product 5), oldest first."""
    return sorted((p for p in products if "_T32UPA_" in p.id), key=lambda p: p.datetime)


def read_band(path: Path) -> tuple[np.ndarray, rasterio.Affine, rasterio.crs.CRS]:
    with rasterio.open(path) as src:
        return src.read(1), src.transform, src.crs


def reflectance(dn: np.ndarray, offset: float = 0.0) -> np.ndarray:
    """ESA's rule written out: (DN + BOA_ADD_OFFSET) / 10000 in float32, negatives clamped to 0."""
    return np.maximum((dn.astype(np.float32) + np.float32(offset)) / np.float32(10000), np.float32(0))


def ndvi(nir: np.ndarray, red: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return (nir - red) / (nir + red)


def inside_mask(geometry: dict, shape: tuple[int, int], transform) -> np.ndarray:
    """Pixels whose centres fall inside a GeoJSON geometry (GDAL's rule), by rasterio alone."""
    from rasterio.features import rasterize

    return rasterize([(geometry, 1)], out_shape=shape, transform=transform, fill=0, dtype="uint8").astype(bool)


def expected_statistics(values: np.ndarray, percentiles=(), edges=None) -> dict:
    """What /statistics should say of these valid values, by numpy alone."""
    v = values.astype(np.float64)
    answer = {"valid": int(v.size), "mean": v.mean(), "min": v.min(), "max": v.max(), "stdev": v.std()}
    if percentiles:
        answer["percentiles"] = {f"{p:g}": float(np.percentile(v, p)) for p in percentiles}
    if edges is not None:
        answer["histogram"] = np.histogram(v, bins=np.asarray(edges))[0].tolist()
    return answer


def assert_statistics(got: dict, expected: dict) -> None:
    import pytest

    assert got["valid"] == expected["valid"]
    for key in ("mean", "min", "max", "stdev"):
        assert got[key] == pytest.approx(expected[key], rel=1e-6, abs=1e-7), key
    for p, value in expected.get("percentiles", {}).items():
        assert got["percentiles"][p] == pytest.approx(value, rel=1e-6, abs=1e-7), p
    if "histogram" in expected:
        assert got["histogram"]["counts"] == expected["histogram"]


def start_server(args: list[str], env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """`eo-tiler <args>` as a process of its own on a free port, once its /healthz answers. Its output
    goes to a file, not a pipe: a pipe nobody drains fills up with access-log lines and then blocks
    the server's event loop on its next write."""
    port = free_port()
    output = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (read and closed by stop_server)
    process = subprocess.Popen(
        [sys.executable, "-m", "tiler.cli", *args, "--port", str(port)],
        stdout=output,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    process.output = output  # type: ignore[attr-defined]
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(stop_server(process))
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return process, base
        except httpx.TransportError:
            time.sleep(0.2)  # polling for the port to open, with a deadline
    process.kill()
    raise AssertionError("server did not start")


def stop_server(process: subprocess.Popen) -> str:
    """SIGTERM, then what the server printed."""
    process.terminate()
    process.wait(timeout=30)
    output = process.output  # type: ignore[attr-defined]
    output.seek(0)
    return output.read()


def long_get(base: str, path: str, params: dict[str, str]) -> tuple[int, bytes]:
    """A GET through the standard library's client, (status, body): httpx refuses queries over 64 KiB
    on its own, and scripts in a URL are longer."""
    address = urlsplit(base)
    connection = http.client.HTTPConnection(address.hostname or "127.0.0.1", address.port, timeout=60)
    try:
        connection.request("GET", f"{path}?{urlencode(params)}")
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def wait_for(condition: Callable[[], object], what: str, limit: float = 60) -> None:
    """Poll `condition` until it holds; fail after `limit` seconds."""
    end = time.monotonic() + limit
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def refused(base: str) -> bool:
    """Whether the server at `base` refuses connections (stopped, or not yet listening)."""
    try:
        httpx.get(base + "/healthz", timeout=2)
    except httpx.ConnectError:
        return True
    return False


@contextmanager
def serve(app):
    """`app` served by uvicorn on a free loopback port in a thread, for real HTTP clients."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)  # uvicorn has no start event to wait on
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


# ---------------------------------------------------------------------------------------------
# Heights and classes: EO Browser's ramps, ESRI's hillshade and bilinear heights, written out again

EARTH_RADIUS = 6_371_008.8  # metres, the mean radius: a sphere is close enough for a test's spacing
GLO30 = (
    "cop-dem-glo30-cog-N00E006/Copernicus_DSM_COG_10_N00_00_E006_00_DEM/Copernicus_DSM_COG_10_N00_00_E006_00_DEM.tif"
)
GLO90_POLAR = (
    "cop-dem-glo90-cog-S90W164/Copernicus_DSM_COG_30_S90_00_W164_00_DEM/Copernicus_DSM_COG_30_S90_00_W164_00_DEM.tif"
)


def ramp_rgb(values: np.ndarray, layer_file: Path) -> np.ndarray:
    """A layer file's colour ramp over `values`: linear between its stops, clamped at both ends."""
    import tomllib

    stops = tomllib.loads(layer_file.read_text())["colormap"]["stops"]
    xs = np.array([float(v) for v, _ in stops])
    colours = np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for _, c in stops], dtype=float)
    return np.round(np.stack([np.interp(values, xs, colours[:, k]) for k in range(3)], axis=-1))


def class_rgb(codes: np.ndarray, table: dict[int, str]) -> tuple[np.ndarray, np.ndarray]:
    """Colours of class codes from a {code: '#rrggbb'} table, and where a code has one."""
    rgb = np.zeros((*codes.shape, 3))
    known = np.zeros(codes.shape, dtype=bool)
    for code, colour in table.items():
        here = codes == code
        rgb[here] = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
        known |= here
    return rgb, known


def esri_hillshade(z: np.ndarray, dx: np.ndarray, dy: float | np.ndarray, azimuth=315.0, altitude=45.0) -> np.ndarray:
    """ESRI's "How Hillshade works" on the inner pixels of `z` (rows north to south), 0..1: the
    neighbours a-i of each pixel, dz/dx and dz/dy over its row's cell width `dx` (one per inner
    row) and height `dy`, then slope, aspect and the sun's zenith and azimuth."""
    a, b, c = z[:-2, :-2], z[:-2, 1:-1], z[:-2, 2:]
    d, f = z[1:-1, :-2], z[1:-1, 2:]
    g, h, i = z[2:, :-2], z[2:, 1:-1], z[2:, 2:]
    dx = np.asarray(dx, dtype=float).reshape(-1, 1)
    dy = np.asarray(dy, dtype=float).reshape(-1, 1)
    dz_dx = ((c + 2 * f + i) - (a + 2 * d + g)) / (8 * dx)
    dz_dy = ((g + 2 * h + i) - (a + 2 * b + c)) / (8 * dy)
    slope = np.arctan(np.hypot(dz_dx, dz_dy))
    aspect = np.arctan2(dz_dy, -dz_dx)
    aspect = np.where(aspect < 0, aspect + 2 * np.pi, aspect)
    zenith = np.radians(90 - altitude)
    azimuth_math = np.radians((360 - azimuth + 90) % 360)
    shade = np.cos(zenith) * np.cos(slope) + np.sin(zenith) * np.sin(slope) * np.cos(azimuth_math - aspect)
    return np.clip(shade, 0, 1)


def geographic_spacing(lat: np.ndarray, res_lon: float, res_lat: float) -> tuple[np.ndarray, float]:
    """Ground metres of a geographic pixel (`res_*` degrees) at latitudes `lat`, on a sphere."""
    return EARTH_RADIUS * np.radians(res_lon) * np.cos(np.radians(lat)), EARTH_RADIUS * np.radians(res_lat)


def bilinear(array: np.ndarray, cols: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """`array` interpolated at fractional pixel-centre coordinates (0 = the first centre); NaN
    outside the outermost centres."""
    c0, r0 = np.floor(cols).astype(int), np.floor(rows).astype(int)
    inside = (c0 >= 0) & (r0 >= 0) & (c0 + 1 < array.shape[1]) & (r0 + 1 < array.shape[0])
    c0, r0 = np.clip(c0, 0, array.shape[1] - 2), np.clip(r0, 0, array.shape[0] - 2)
    fc, fr = cols - c0, rows - r0
    top = array[r0, c0] * (1 - fc) + array[r0, c0 + 1] * fc
    bottom = array[r0 + 1, c0] * (1 - fc) + array[r0 + 1, c0 + 1] * fc
    return np.where(inside, top * (1 - fr) + bottom * fr, np.nan)


def getmap(client: TestClient, version: str = "1.3.0", **params):
    query = {"SERVICE": "WMS", "REQUEST": "GetMap", "VERSION": version, "STYLES": "", "FORMAT": "image/png", **params}
    return client.get("/wms", params={k: v for k, v in query.items() if v is not None})
