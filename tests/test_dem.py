"""The Copernicus DEM through HTTP: the real GLO-30 tile of São Tomé and the polar GLO-90 tile, and the
demo archive's adjacent GLO-90 tiles. Pixels are checked against EO Browser's ramps and ESRI's
hillshade computed here from the files with rasterio and numpy; tiles and product borders must join
without a seam."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import morecantile
import numpy as np
import pytest
import rasterio
from pyproj import Transformer
from rasterio.transform import from_origin
from starlette.testclient import TestClient

from tests.helpers import (
    EARTH_RADIUS,
    GLO30,
    GLO90_POLAR,
    REPO,
    WEB_MERCATOR,
    bilinear,
    decode,
    esri_hillshade,
    geographic_spacing,
    getmap,
    pixel_centres,
    ramp_rgb,
    sample,
)
from tiler.app import create_app
from tiler.catalog import MemoryCatalog
from tiler.settings import Settings

GLO30_ID = "Copernicus_DSM_COG_10_N00_00_E006_00_DEM"
POLAR_ID = "Copernicus_DSM_COG_30_S90_00_W164_00_DEM"
CRS84 = morecantile.tms.get("WorldCRS84Quad")
STYLES = REPO / "styles" / "dem"


def _window(path: Path, col: int, row: int, width: int, height: int) -> tuple[np.ndarray, tuple, rasterio.Affine]:
    """Heights of a block of pixels, one more on each side, and the block's bounds (pixel edges)."""
    with rasterio.open(path) as src:
        heights = src.read(1, window=((row - 1, row + height + 1), (col - 1, col + width + 1))).astype(float)
        left, top = src.transform * (col, row)
        right, bottom = src.transform * (col + width, row + height)
        return heights, (left, bottom, right, top), src.transform


def _shade_levels(heights: np.ndarray, transform, top_row_lat: float) -> np.ndarray:
    """ESRI's hillshade of a geographic block (with its margin) as grey levels."""
    lats = top_row_lat - np.arange(heights.shape[0] - 2) * abs(transform.e)
    dx, dy = geographic_spacing(lats, transform.a, abs(transform.e))
    return np.round(esri_hillshade(heights, dx, dy) * 255)


def test_the_tiles_are_indexed_by_their_own_names(real_client) -> None:
    glo30 = real_client.get(f"/products/{GLO30_ID}").json()
    polar = real_client.get(f"/products/{POLAR_ID}").json()
    assert (glo30["collection"], polar["collection"]) == ("cop-dem-glo-30", "cop-dem-glo-90")
    assert glo30["tile"] == "N00_00_E006_00" and glo30["datetime"] == "2021-01-01T00:00:00Z"
    # Pixel-is-point: the bounds run half a pixel past the degree lines.
    assert glo30["bounds"] == pytest.approx([6 - 0.5 / 3600, 0.5 / 3600, 7 - 0.5 / 3600, 1 + 0.5 / 3600])
    assert polar["bounds"][1] == pytest.approx(-90 + 1.5 / 3600)
    assert glo30["bands"]["DEM"]["resolution"] == pytest.approx(30.92, abs=0.01)  # 1 arc-second of latitude
    found = real_client.get("/search", params={"collection": "cop-dem-glo-90"}).json()["features"]
    assert [f["id"] for f in found] == [POLAR_ID] and found[0]["properties"]["grid:code"] == "CDEM-S90_00_W164_00"


@pytest.mark.parametrize("layer", ["COLOR", "TOPOGRAPHIC", "GRAYSCALE"])
def test_height_ramps_match_eo_browsers_over_the_island(real_client, shared_data, layer) -> None:
    tile = WEB_MERCATOR.tile(6.6, 0.22, 12)
    response = real_client.get(f"/tiles/{tile.z}/{tile.x}/{tile.y}.png", params={"product": GLO30_ID, "layer": layer})
    rgba = decode(response.content)
    xs, ys = pixel_centres(tuple(WEB_MERCATOR.xy_bounds(tile)), 256, 256)
    heights, safe = sample(shared_data / GLO30, xs, ys, "EPSG:3857")
    assert (rgba[..., 3] == 255).all() and safe.mean() > 0.3
    expected = ramp_rgb(heights, STYLES / f"{layer}.toml")
    assert np.abs(rgba[..., :3][safe] - expected[safe]).mean() <= 8
    assert heights.max() > 1000  # the tile holds the mountains, not just the sea


def test_band_math_sees_metres(real_client, shared_data) -> None:
    tile = WEB_MERCATOR.tile(6.6, 0.22, 12)
    query = {"product": GLO30_ID, "expression": "DEM", "rescale": "0,2000"}
    rgba = decode(real_client.get(f"/tiles/{tile.z}/{tile.x}/{tile.y}.png", params=query).content)
    xs, ys = pixel_centres(tuple(WEB_MERCATOR.xy_bounds(tile)), 256, 256)
    heights, safe = sample(shared_data / GLO30, xs, ys, "EPSG:3857")
    assert np.abs(rgba[..., 0][safe] - np.round(np.clip(heights[safe] / 2000, 0, 1) * 255)).mean() <= 8


def test_hillshade_on_the_native_grid_matches_esri(real_client, shared_data) -> None:
    """A map exactly on the file's own pixels: the shade of every pixel from its eight neighbours."""
    heights, (left, bottom, right, top), transform = _window(shared_data / GLO30, 1700, 2300, 300, 200)
    response = getmap(
        real_client, LAYERS="cop-dem-glo-30:HILLSHADE", CRS="CRS:84", BBOX=f"{left},{bottom},{right},{top}",
        WIDTH=300, HEIGHT=200, PRODUCT=GLO30_ID, TRANSPARENT="TRUE",
    )  # fmt: skip
    rgba = decode(response.content)
    expected = _shade_levels(heights, transform, top - abs(transform.e) / 2)
    assert (rgba[..., 3] == 255).all()
    assert np.abs(rgba[..., 0] - expected).mean() <= 1 and np.abs(rgba[..., 0] - expected).max() <= 8
    assert expected.std() > 20  # real relief, not flat sea


def test_polar_tile_shades_true_slopes_in_lon_lat(real_client, shared_data) -> None:
    """Pixels 30 by 3 arc-seconds near the pole, about 16 m wide and 93 m tall: the same relief
    lit with square pixels would look ten times as steep east-west."""
    heights, (left, bottom, right, top), transform = _window(shared_data / GLO90_POLAR, 20, 300, 80, 400)
    expected = _shade_levels(heights, transform, top - abs(transform.e) / 2)
    for crs, bbox in (("CRS:84", f"{left},{bottom},{right},{top}"), ("EPSG:4326", f"{bottom},{left},{top},{right}")):
        response = getmap(
            real_client, LAYERS="cop-dem-glo-90:HILLSHADE", CRS=crs, BBOX=bbox, WIDTH=80, HEIGHT=400,
            PRODUCT=POLAR_ID, TRANSPARENT="TRUE",
        )  # fmt: skip
        rgba = decode(response.content)
        assert (rgba[..., 3] == 255).all(), crs
        assert np.abs(rgba[..., 0] - expected).mean() <= 1, crs
    square = np.round(esri_hillshade(heights, np.full(400, 93.0), 93.0) * 255)
    assert np.abs(square - expected).mean() > 5


def test_polar_tile_in_world_crs84_quad_and_outside_web_mercator(real_client, shared_data) -> None:
    tile = CRS84.tile(-163.5, -89.5, 8)
    response = real_client.get(
        f"/tiles/{tile.z}/{tile.x}/{tile.y}.png",
        params={"product": POLAR_ID, "layer": "COLOR", "tms": "WorldCRS84Quad"},
    )
    rgba = decode(response.content)
    xs, ys = pixel_centres(tuple(CRS84.xy_bounds(tile)), 256, 256)
    heights, safe = sample(shared_data / GLO90_POLAR, xs, ys, "OGC:CRS84")
    assert safe.sum() > 1000 and (rgba[..., 3][safe] == 255).all()
    assert np.abs(rgba[..., :3][safe] - ramp_rgb(heights, STYLES / "COLOR.toml")[safe]).mean() <= 8
    # Web Mercator ends at 85.06 degrees: its TileJSON is refused with the way out, its tiles are empty.
    refused = real_client.get("/tilejson.json", params={"product": POLAR_ID})
    assert refused.status_code == 400 and "tms=WorldCRS84Quad" in refused.json()["detail"]
    tilejson = real_client.get("/tilejson.json", params={"product": POLAR_ID, "tms": "WorldCRS84Quad"}).json()
    assert tilejson["bounds"][1] < -89.9 and tilejson["maxzoom"] >= 8
    for z, x, y in ((0, 0, 0), (2, 0, 3), (5, 5, 31)):
        empty = real_client.get(f"/tiles/{z}/{x}/{y}.png", params={"product": POLAR_ID, "layer": "HILLSHADE"})
        assert empty.status_code == 200 and (decode(empty.content)[..., 3] == 0).all()
    south = getmap(
        real_client, LAYERS="cop-dem-glo-90:HILLSHADE", CRS="EPSG:3857", WIDTH=64, HEIGHT=64, TRANSPARENT="TRUE",
        BBOX="-18300000,-20037508.34,-18100000,-19900000",
    )  # fmt: skip
    assert south.status_code == 200 and (decode(south.content)[..., 3] == 0).all()
    assert real_client.get(f"/preview.png?product={POLAR_ID}&layer=HILLSHADE&width=120").status_code == 200


@pytest.mark.parametrize("z", [12, 14])
def test_hillshade_tiles_join_without_a_seam(real_client, z) -> None:
    """Two tiles side by side against one map over both: each tile's edge pixels see their
    neighbours in the next tile, so the border shows nothing the map does not."""
    left = WEB_MERCATOR.tile(6.62, 0.25, z)
    right = morecantile.Tile(left.x + 1, left.y, z)
    tiles = [
        decode(
            real_client.get(f"/tiles/{z}/{t.x}/{t.y}.png", params={"product": GLO30_ID, "layer": "HILLSHADE"}).content
        )
        for t in (left, right)
    ]
    a, b = WEB_MERCATOR.xy_bounds(left), WEB_MERCATOR.xy_bounds(right)
    whole = decode(
        getmap(
            real_client, LAYERS="cop-dem-glo-30:HILLSHADE", CRS="EPSG:3857", BBOX=f"{a.left},{a.bottom},{b.right},{b.top}",
            WIDTH=512, HEIGHT=256, PRODUCT=GLO30_ID, TRANSPARENT="TRUE",
        ).content
    )  # fmt: skip
    joined = np.concatenate(tiles, axis=1).astype(int)
    assert (joined[..., 3] == 255).all()
    assert np.abs(joined[..., 0] - whole[..., 0]).mean() <= 0.5
    steps = np.abs(np.diff(joined[..., 0], axis=1)).mean(axis=0)
    assert steps[255] <= np.percentile(steps, 95)  # the border column pair is no edge


def _demo_dem(demo_archive, tile: str) -> Path:
    _, products = demo_archive
    return next(p.path for p in products if p.id == f"Copernicus_DSM_COG_30_{tile}_DEM")


def test_a_mosaic_of_adjacent_tiles_shades_across_their_border(demo_client, demo_archive) -> None:
    """The demo's GLO-90 tiles N51E011 and N51E012 meet at 12 degrees east; a map on their pixel
    grid across that line is ESRI's hillshade of the two files put side by side."""
    west_file, east_file = _demo_dem(demo_archive, "N51_00_E011_00"), _demo_dem(demo_archive, "N51_00_E012_00")
    with rasterio.open(west_file) as w, rasterio.open(east_file) as e:
        both = np.concatenate([w.read(1), e.read(1)], axis=1).astype(float)
        transform, columns = w.transform, w.width
    rows = slice(40, 81)  # 39 rows of map, one of margin above and below
    cols = slice(columns - 21, columns + 21)
    left, top = transform * (cols.start + 1, rows.start + 1)
    right, bottom = transform * (cols.stop - 1, rows.stop - 1)
    response = getmap(
        demo_client, LAYERS="cop-dem-glo-90:HILLSHADE", CRS="CRS:84", BBOX=f"{left},{bottom},{right},{top}",
        WIDTH=40, HEIGHT=39, TRANSPARENT="TRUE",
    )  # fmt: skip
    rgba = decode(response.content)
    expected = _shade_levels(both[rows, cols], transform, top - abs(transform.e) / 2)
    assert (rgba[..., 3] == 255).all()  # no gap between the files
    assert np.abs(rgba[..., 0] - expected).mean() <= 1 and np.abs(rgba[..., 0] - expected).max() <= 8


def test_a_web_mercator_mosaic_tile_across_the_border_matches_an_independent_render(demo_client, demo_archive) -> None:
    """The whole pipeline written out again for a tile across 12 degrees east: heights interpolated
    bilinearly from both files at the tile's pixel centres (one pixel of margin), shaded by ESRI's
    formula with Web Mercator's ground spacing."""
    west_file, east_file = _demo_dem(demo_archive, "N51_00_E011_00"), _demo_dem(demo_archive, "N51_00_E012_00")
    with rasterio.open(west_file) as w, rasterio.open(east_file) as e:
        both = np.concatenate([w.read(1), e.read(1)], axis=1).astype(float)
        transform = w.transform
    tile = WEB_MERCATOR.tile(12.0, 51.5, 12)
    b = WEB_MERCATOR.xy_bounds(tile)
    size = (b.right - b.left) / 256
    xs, ys = pixel_centres((b.left - size, b.bottom - size, b.right + size, b.top + size), 258, 258)
    lon, lat = Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True).transform(xs, ys)
    first_lon, first_lat = transform * (0.5, 0.5)
    heights = bilinear(both, (lon - first_lon) / transform.a, (first_lat - lat) / abs(transform.e))
    # A Web Mercator metre is cos(latitude) metres on the ground (on a sphere of the mean radius).
    ground = size * np.cos(np.radians(lat[1:-1, 0])) * EARTH_RADIUS / 6_378_137
    expected = np.round(esri_hillshade(heights, ground, ground) * 255)
    response = demo_client.get(
        f"/tiles/{tile.z}/{tile.x}/{tile.y}.png", params={"collection": "cop-dem-glo-90", "layer": "HILLSHADE"}
    )
    rgba = decode(response.content)
    assert (rgba[..., 3] == 255).all()
    error = np.abs(rgba[..., 0] - expected)
    assert error.mean() <= 1
    # The files meet half a pixel west of 12 degrees; warped one by one, the columns there would be
    # flat strips, 30 grey levels off.
    edge = int(np.argmin(np.abs(lon[1, 1:-1] - (12.0 - transform.a / 2))))
    assert 20 < edge < 236 and error.mean(axis=0).max() <= 2


def test_feature_info_gives_the_height_in_metres(real_client, shared_data) -> None:
    lon, lat = 6.61, 0.21
    d = 0.001
    query = {
        "SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetFeatureInfo", "LAYERS": "cop-dem-glo-30:COLOR",
        "QUERY_LAYERS": "cop-dem-glo-30:COLOR", "CRS": "CRS:84", "BBOX": f"{lon - d},{lat - d},{lon + d},{lat + d}",
        "WIDTH": 101, "HEIGHT": 101, "I": 50, "J": 50, "STYLES": "",
    }  # fmt: skip
    answer = real_client.get("/wms", params={**query, "INFO_FORMAT": "application/json"}).json()
    entry = answer["layers"][0]["products"][0]
    expected, _ = sample(shared_data / GLO30, np.array([lon]), np.array([lat]), "OGC:CRS84")
    assert entry["product"] == GLO30_ID and entry["units"] == {"DEM": "m"}
    assert entry["bands"]["DEM"] == pytest.approx(float(expected[0]), abs=1e-3) and entry["bands"]["DEM"] > 100
    text = real_client.get("/wms", params={**query, "INFO_FORMAT": "text/plain"}).text
    assert f"DEM={entry['bands']['DEM']} m" in text


def test_dem_tiles_without_data_or_outside_the_root_are_reported_and_skipped(shared_data, tmp_path, caplog) -> None:
    root = tmp_path / "dem"
    good = root / GLO30_ID / f"{GLO30_ID}.tif"
    good.parent.mkdir(parents=True)
    shutil.copy(shared_data / GLO30, good)

    def tile(name: str, data: np.ndarray, nodata: float | None = None) -> None:
        path = root / name / f"{name}.tif"
        path.parent.mkdir()
        profile = {"driver": "GTiff", "width": 36, "height": 36, "count": 1, "dtype": "float32", "crs": "EPSG:4326"}
        with rasterio.open(path, "w", **profile, transform=from_origin(10, 11, 1 / 36, 1 / 36), nodata=nodata) as dst:
            dst.write(data.astype(np.float32), 1)

    tile("Copernicus_DSM_COG_10_N10_00_E010_00_DEM", np.full((36, 36), np.nan))  # nothing but NaN
    tile("Copernicus_DSM_COG_10_N11_00_E010_00_DEM", np.full((36, 36), -32767.0), nodata=-32767)  # all voids
    truncated = root / "Copernicus_DSM_COG_10_N12_00_E010_00_DEM" / "Copernicus_DSM_COG_10_N12_00_E010_00_DEM.tif"
    truncated.parent.mkdir()
    truncated.write_bytes(good.read_bytes()[:5000])
    # A tile's name on a link to a file outside the data root: never indexed, never read.
    outside = root / "Copernicus_DSM_COG_10_N20_00_E010_00_DEM" / "Copernicus_DSM_COG_10_N20_00_E010_00_DEM.tif"
    outside.parent.mkdir()
    outside.symlink_to(shared_data / GLO30)
    caplog.set_level(logging.WARNING)
    index = MemoryCatalog([root])
    assert [p.id for p in index] == [GLO30_ID]
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert f"skipping {outside}: it resolves outside its data root" in logged
    assert "N10_00_E010_00_DEM.tif holds no data" in logged and "N11_00_E010_00_DEM.tif holds no data" in logged
    assert "N12_00_E010_00_DEM" in logged
    # A tile that has data and a nodata tag of its own keeps it: its voids are no data, not heights.
    tile("Copernicus_DSM_COG_10_N13_00_E010_00_DEM", np.where(np.eye(36) > 0, -32767.0, 5.0), nodata=-32767)
    voids = next(p for p in MemoryCatalog([root]) if "N13" in p.id)
    assert voids.bands["DEM"].nodata == -32767
    client = TestClient(create_app(Settings(data_roots=(root,)), catalog=MemoryCatalog([root])))
    preview = decode(client.get("/preview.png", params={"product": voids.id, "layer": "COLOR", "width": 36}).content)
    assert (preview[..., 3][np.eye(36) > 0] == 0).all() and (preview[..., 3][np.eye(36) == 0] == 255).all()
