"""Mosaics over HTTP: which product each pixel comes from, for every priority, maxcc and cloud
mask, computed independently from the generated products' own arrays; UTM zone borders; the
products a tile opens; time intervals."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import morecantile
import numpy as np
import pytest
from rasterio.warp import transform
from starlette.testclient import TestClient

import tiler.reading.mosaic
from tests.helpers import WEB_MERCATOR, decode, pixel_centres, write_product
from tiler import params
from tiler.app import create_app
from tiler.collections import builtin_collections
from tiler.errors import InvalidParameter
from tiler.pipeline.run import mosaic_products
from tiler.settings import Settings

SIZE, RES, ULX, ULY, EPSG = 64, 10.0, 700_000.0, 5_660_000.0, 32632
H = SIZE // 2
CLOUDS = (3, 8, 9, 10)


def quadrant(name: str) -> tuple[slice, slice]:
    rows = slice(0, H) if name[0] == "T" else slice(H, SIZE)
    cols = slice(0, H) if name[1] == "L" else slice(H, SIZE)
    return rows, cols


def scl_with(**patches: int) -> np.ndarray:
    scl = np.full((SIZE, SIZE), 4, dtype=np.uint8)
    for name, value in patches.items():
        scl[quadrant(name)] = value
    return scl


# name, date, cloud cover, B04 DN (identifies the product), SCL, collection
PRODUCTS = {
    "P1": ("2020-06-05T10:00:00Z", 40.0, 1100, scl_with(TL=9, BL=3), "sentinel-2-l2a"),
    "P2": ("2020-06-15T10:00:00Z", 10.0, 1200, scl_with(TR=8), "sentinel-2-l2a"),
    "P3": ("2020-06-25T10:00:00Z", 25.0, 1300, scl_with(BL=10, BR=0), "sentinel-2-l2a"),
    "P4": ("2020-07-10T10:00:00Z", 5.0, 1400, scl_with(), "sentinel-2-l2a"),
    "P5_L1C": ("2020-06-20T10:00:00Z", 1.0, 1500, None, "sentinel-2-l1c"),
}
JUNE = ("P1", "P2", "P3")


def b04_of(name: str) -> np.ndarray:
    _, _, dn, scl, _ = PRODUCTS[name]
    b04 = np.full((SIZE, SIZE), dn, dtype=np.uint16)
    if scl is not None:
        b04[scl == 0] = 0  # P3's bottom-right quadrant lies outside its swath
    return b04


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("mosaic")
    for name, (when, cloud, _, scl, collection) in PRODUCTS.items():
        write_product(root, name, when=when, cloud_cover=cloud, b04=b04_of(name), scl=scl, collection=collection)
    # Far away, in June: must never be opened for tiles over the others.
    write_product(root, "FAR", when="2020-06-28T10:00:00Z", cloud_cover=0.0, ulx=300_000.0, b04=1600, scl=scl_with())
    return root


@pytest.fixture(scope="module")
def app(archive, tmp_path_factory):
    return create_app(Settings(data_roots=(archive,), catalog=tmp_path_factory.mktemp("db") / "catalog.sqlite"))


@pytest.fixture()
def client(app) -> TestClient:
    return TestClient(app, raise_server_exceptions=False)


def product_tile(z: int) -> morecantile.Tile:
    (lon,), (lat,) = transform(f"EPSG:{EPSG}", "EPSG:4326", [ULX + SIZE * RES / 2], [ULY - SIZE * RES / 2])
    return WEB_MERCATOR.tile(lon, lat, z)


def grid_position(tile: morecantile.Tile) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row and column of the product pixel under each tile pixel, and where that is unambiguous."""
    xs, ys = pixel_centres(tuple(WEB_MERCATOR.xy_bounds(tile)), 256, 256)
    px, py = transform("EPSG:3857", f"EPSG:{EPSG}", xs.ravel().tolist(), ys.ravel().tolist())
    col_f = (np.array(px) - ULX) / RES
    row_f = (ULY - np.array(py)) / RES
    col, row = np.floor(col_f).astype(int), np.floor(row_f).astype(int)
    inside = (col >= 0) & (row >= 0) & (col < SIZE) & (row < SIZE)
    safe = inside & (np.abs(col_f - col - 0.5) < 0.3) & (np.abs(row_f - row - 0.5) < 0.3)
    shape = xs.shape
    return np.clip(row, 0, SIZE - 1).reshape(shape), np.clip(col, 0, SIZE - 1).reshape(shape), safe.reshape(shape)


def expected_source(order: list[str], cloudmask: bool) -> np.ndarray:
    """Per product pixel: the B04 DN of the first product in `order` with data there (0: none)."""
    out = np.zeros((SIZE, SIZE), dtype=np.uint16)
    for name in order:
        b04, scl = b04_of(name), PRODUCTS[name][3]
        usable = (b04 > 0) & (out == 0)
        if cloudmask and scl is not None:
            usable &= ~np.isin(scl, CLOUDS)
        out[usable] = b04[usable]
    return out


def ordered(priority: str, maxcc: float, names=JUNE) -> list[str]:
    kept = [n for n in names if PRODUCTS[n][1] <= maxcc]
    if priority == "mostRecent":
        return sorted(kept, key=lambda n: PRODUCTS[n][0], reverse=True)
    if priority == "leastRecent":
        return sorted(kept, key=lambda n: PRODUCTS[n][0])
    return sorted(kept, key=lambda n: PRODUCTS[n][1])


def grey(dn: np.ndarray) -> np.ndarray:
    """expression=B04&rescale=0.1,0.15: reflectance 0.11, 0.12, 0.13 -> 51, 102, 153."""
    return np.round(np.clip((dn / 10000 - 0.1) / 0.05, 0, 1) * 255)


@pytest.mark.parametrize("priority", ["mostRecent", "leastRecent", "leastCC"])
@pytest.mark.parametrize("maxcc", [100, 30, 20])
@pytest.mark.parametrize("cloudmask", [False, True])
def test_each_pixel_comes_from_the_first_valid_product(client, priority, maxcc, cloudmask) -> None:
    tile = product_tile(16)
    response = client.get(
        f"/tiles/{tile.z}/{tile.x}/{tile.y}.png",
        params={
            "collection": "sentinel-2-l2a", "time": "2020-06", "maxcc": maxcc, "priority": priority,
            "cloudmask": str(cloudmask).lower(), "expression": "B04", "rescale": "0.1,0.15",
        },
    )  # fmt: skip
    assert response.status_code == 200, response.text
    rgba = decode(response.content)
    row, col, safe = grid_position(tile)
    source = expected_source(ordered(priority, maxcc), cloudmask)[row, col]
    assert safe.sum() > 20_000
    assert ((rgba[..., 3] == 255) == (source > 0))[safe].all()
    shown = safe & (source > 0)
    assert shown.any() and (rgba[..., 0][shown] == grey(source[shown])).all()


def test_quadrants_by_hand(client) -> None:
    """The same rules, written out for the product's own grid: mostRecent over June."""
    plain = expected_source(["P3", "P2", "P1"], cloudmask=False)
    assert (plain[quadrant("TL")] == 1300).all() and (plain[quadrant("BR")] == 1200).all()  # P3 has no data in BR
    masked = expected_source(["P3", "P2", "P1"], cloudmask=True)
    assert (masked[quadrant("BL")] == 1200).all()  # P3's cirrus -> P2
    assert (masked[quadrant("TR")] == 1300).all()
    least_recent = expected_source(["P1", "P2", "P3"], cloudmask=True)
    assert (least_recent[quadrant("TL")] == 1200).all()  # P1's cloud -> P2
    assert (least_recent[quadrant("BL")] == 1200).all()  # P1's cloud shadow -> P2


def test_read_mosaic_on_the_products_own_grid(archive, app) -> None:
    catalog = app.state.services.catalog
    query = params.mosaic_query({"time": "2020-06", "priority": "leastCC", "cloudmask": "true"}, builtin_collections())
    (west, south, east, north) = catalog.resolve("P1").bounds_wgs84
    products = mosaic_products(catalog, query, (west, south, east, north), 10)
    assert [p.id for p in products] == ["P2", "P3", "P1"]
    bounds = (ULX, ULY - SIZE * RES, ULX + SIZE * RES, ULY)
    stack = tiler.reading.mosaic.read_mosaic(
        products, ["B04"], bounds, f"EPSG:{EPSG}", SIZE, SIZE, gdal_options={}, cloud_mask=query.cloud_mask
    )
    expected = expected_source(["P2", "P3", "P1"], cloudmask=True)
    assert (stack.valid == (expected > 0)).all()
    assert np.allclose(stack.arrays["B04"][stack.valid], expected[stack.valid] / 10000)


def test_l1c_mosaic_and_its_cloud_mask(client) -> None:
    tile = product_tile(16)
    params = {"collection": "sentinel-2-l1c", "time": "2020-06", "expression": "B04", "rescale": "0.1,0.15"}
    response = client.get(f"/tiles/{tile.z}/{tile.x}/{tile.y}.png", params=params)
    rgba = decode(response.content)
    _, _, safe = grid_position(tile)
    assert (rgba[..., 0][safe] == 255).all()  # only P5_L1C (B04 0.15)
    refused = client.get(f"/tiles/{tile.z}/{tile.x}/{tile.y}.png", params=params | {"cloudmask": "true"})
    assert refused.status_code == 400 and "cloudmask" in refused.json()["detail"]


def test_only_footprints_meeting_the_tile_are_opened(client, monkeypatch) -> None:
    catalog = client.app.state.services.catalog
    tile = product_tile(16)
    whole_year = params.mosaic_query({"time": "2020"}, builtin_collections())
    chosen = mosaic_products(catalog, whole_year, tuple(WEB_MERCATOR.bounds(tile)), 10)
    # FAR is in 2020 too, but elsewhere; P5 is L1C.
    assert [p.id for p in chosen] == ["P4", "P3", "P2", "P1"]

    opened: list[str] = []
    real = tiler.reading.mosaic.read_part

    def spy(product, *args, **kwargs):
        opened.append(product.id)
        return real(product, *args, **kwargs)

    monkeypatch.setattr(tiler.reading.mosaic, "read_part", spy)
    url = f"/tiles/{tile.z}/{tile.x}/{tile.y}.png"
    assert client.get(url, params={"time": "2020-06", "cloudmask": "true"}).status_code == 200
    # P3 leaves its cirrus and empty quadrants open, P2 fills them: P1 is never read.
    assert opened == ["P3", "P2"]
    opened.clear()
    client.get(url, params={"time": "2020-06", "priority": "leastRecent"})
    assert opened == ["P1"]  # it covers the whole tile


def test_the_cap_on_products_per_tile_reads_only_the_first(archive, tmp_path, monkeypatch) -> None:
    app = create_app(Settings(data_roots=(archive,), catalog=tmp_path / "c.sqlite", max_mosaic_products=1))
    opened: list[str] = []
    real = tiler.reading.mosaic.read_part
    monkeypatch.setattr(tiler.reading.mosaic, "read_part", lambda p, *a, **k: opened.append(p.id) or real(p, *a, **k))
    tile = product_tile(16)
    params = {"time": "2020-06", "expression": "B04", "rescale": "0.1,0.15"}
    rgba = decode(TestClient(app).get(f"/tiles/{tile.z}/{tile.x}/{tile.y}.png", params=params).content)
    assert opened == ["P3"]
    row, col, safe = grid_position(tile)
    source = expected_source(["P3"], cloudmask=False)[row, col]
    assert ((rgba[..., 3] == 255) == (source > 0))[safe].all()  # P3's empty quadrant stays empty


def test_tiles_across_a_utm_zone_border_join_without_gap_or_shift(tmp_path) -> None:
    """A lon/lat checkerboard written into a 32N and a 33N product that meet at 12 E."""
    cell = 0.0005  # degrees: about 35 m east-west, 55 m north-south; pixels are 10 m

    def checker(lon, lat):
        return np.where((np.floor(lon / cell) + np.floor(lat / cell)) % 2 == 0, 1100, 1300)

    (x32,), (y32,) = transform("EPSG:4326", "EPSG:32632", [11.994], [51.004])
    (x33,), (y33,) = transform("EPSG:4326", "EPSG:32633", [11.9995], [51.004])
    write_product(tmp_path / "data", "WEST", when="2021-05-01T10:00:00Z", cloud_cover=1.0, epsg=32632,
                  ulx=round(x32), uly=round(y32), size=90, b04=checker)  # fmt: skip
    write_product(tmp_path / "data", "EAST", when="2021-05-02T10:00:00Z", cloud_cover=1.0, epsg=32633,
                  ulx=round(x33), uly=round(y33), size=90, b04=checker)  # fmt: skip
    app = create_app(Settings(data_roots=(tmp_path / "data",), catalog=tmp_path / "c.sqlite"))
    tile = WEB_MERCATOR.tile(12.0, 51.0, 16)
    west, _south, east, _north = WEB_MERCATOR.bounds(tile)
    assert west < 12.0 < east
    response = TestClient(app).get(
        f"/tiles/16/{tile.x}/{tile.y}.png", params={"time": "2021-05", "expression": "B04", "rescale": "0.1,0.15"}
    )
    rgba = decode(response.content)
    assert (rgba[..., 3] == 255).all()  # no gap along the border
    xs, ys = pixel_centres(tuple(WEB_MERCATOR.xy_bounds(tile)), 256, 256)
    lon, lat = transform("EPSG:3857", "EPSG:4326", xs.ravel().tolist(), ys.ravel().tolist())
    lon, lat = np.array(lon).reshape(xs.shape), np.array(lat).reshape(xs.shape)
    # Away from cell edges by more than a source pixel, the value is the checkerboard's there.
    clear = (np.abs(lon / cell - np.round(lon / cell)) * cell > 0.00016) & (
        np.abs(lat / cell - np.round(lat / cell)) * cell > 0.00011
    )
    expected = grey(checker(lon, lat))
    for side in (lon < 12.0, lon > 12.0):
        assert (clear & side).sum() > 5000
        assert (rgba[..., 0][clear & side] == expected[clear & side]).all()


def test_mosaic_tilejson_and_preview(client) -> None:
    params = {"collection": "sentinel-2-l2a", "time": "2020-06", "layer": "TRUE_COLOR"}
    tilejson = client.get("/tilejson.json", params=params | {"bbox": "11.8,51.0,11.9,51.1"}).json()
    assert tilejson["tiles"][0].endswith("time=2020-06&layer=TRUE_COLOR&bbox=11.8%2C51.0%2C11.9%2C51.1")
    assert tilejson["bounds"] == [11.8, 51.0, 11.9, 51.1] and tilejson["maxzoom"] == 14
    bounds = client.app.state.services.catalog.resolve("P1").bounds_wgs84
    bbox = ",".join(map(str, bounds))
    preview = client.get("/preview.png", params=params | {"bbox": bbox, "width": 100})
    assert preview.status_code == 200
    rgba = decode(preview.content)
    assert rgba.shape[1] == 100 and (rgba[..., 3] == 255).mean() > 0.9
    missing = client.get("/preview.png", params=params)
    assert missing.status_code == 400 and "bbox" in missing.json()["detail"]


@pytest.mark.parametrize(
    "params, words",
    [
        ({"time": "2020-13"}, "time"),
        ({"time": "2020-06-30/2020-06-01"}, "time"),
        ({"time": "2020-06", "maxcc": "101"}, "maxcc"),
        ({"time": "2020-06", "maxcc": "few"}, "maxcc"),
        ({"time": "2020-06", "priority": "best"}, "priority"),
        ({"time": "2020-06", "cloudmask": "maybe"}, "cloudmask"),
        ({"collection": "sentinel-9-grd"}, "collection"),
        ({"collection": "sentinel-2-l1c", "layer": "SCL"}, "SCL"),
        ({"time": "2020-06", "expression": "B04.__class__"}, "expression"),
        ({}, "product is required"),
    ],
)
def test_bad_mosaic_parameters_get_400_naming_them(client, params, words) -> None:
    tile = product_tile(14)
    response = client.get(f"/tiles/{tile.z}/{tile.x}/{tile.y}.png", params=params)
    assert response.status_code == 400, response.text
    assert words.lower() in response.json()["detail"].lower()


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    "raw, start, end",
    [
        ("2020-06-01/2020-06-30", utc(2020, 6, 1), utc(2020, 6, 30, 23, 59, 59, 999999)),
        ("2020-06", utc(2020, 6, 1), utc(2020, 6, 30, 23, 59, 59, 999999)),
        ("2020-06/2020-08", utc(2020, 6, 1), utc(2020, 8, 31, 23, 59, 59, 999999)),
        ("2020-12", utc(2020, 12, 1), utc(2020, 12, 31, 23, 59, 59, 999999)),
        ("2020", utc(2020, 1, 1), utc(2020, 12, 31, 23, 59, 59, 999999)),
        ("2020-06-15", utc(2020, 6, 15), utc(2020, 6, 15, 23, 59, 59, 999999)),
        ("2020-06-15T10:00:00Z", utc(2020, 6, 15, 10), utc(2020, 6, 15, 10)),
        ("2020-06-15T12:00:00+02:00/..", utc(2020, 6, 15, 10), None),
        ("../2020-06", None, utc(2020, 6, 30, 23, 59, 59, 999999)),
        (None, None, None),
    ],
)
def test_time_intervals(raw, start, end) -> None:
    assert params.interval(raw, "time") == (start, end)


@pytest.mark.parametrize("raw", ["2020-6", "2020-06-31", "a/b", "2020/2021/2022", "2021/2020"])
def test_bad_time_intervals(raw) -> None:
    with pytest.raises(InvalidParameter, match="^time"):
        params.interval(raw, "time")


def test_a_mosaic_past_its_deadline_stops_rather_than_skipping_products(app) -> None:
    """A render deadline is not a broken product: read_mosaic gives up instead of trying the next one."""
    from tiler.errors import RenderTimeout
    from tiler.limits import Deadline

    products = [app.state.services.catalog.resolve(name) for name in JUNE]
    bounds = (ULX, ULY - SIZE * RES, ULX + SIZE * RES, ULY)
    with pytest.raises(RenderTimeout):
        tiler.reading.mosaic.read_mosaic(
            products, ["B04"], bounds, f"EPSG:{EPSG}", SIZE, SIZE, gdal_options={}, deadline=Deadline(1e-9)
        )
