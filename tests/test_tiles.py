"""Tiles over HTTP through the ASGI app, checked pixel by pixel against rasterio + numpy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from styles import STYLES_DIR
from tests.helpers import COG_ID, SAFE_L2A_ID, WEB_MERCATOR, centre_tile, decode, highlight, ndvi_palette, tile_samples
from tiler.app import create_app
from tiler.settings import Settings


def band_path(shared_data: Path, client, product_id: str, band: str) -> Path:
    from tiler.catalog import MemoryCatalog

    return MemoryCatalog([shared_data]).resolve(product_id).bands[band].path


@pytest.fixture(scope="module")
def cog(real_app, shared_data):
    from starlette.testclient import TestClient

    client = TestClient(real_app)
    meta = client.get(f"/products/{COG_ID}").json()
    paths = {b: band_path(shared_data, client, COG_ID, b) for b in ("B02", "B03", "B04", "B08")}
    return meta, paths


def test_true_color_pixels_match_numpy(real_client, cog) -> None:
    meta, paths = cog
    z, x, y = centre_tile(meta, 12)
    response = real_client.get(f"/tiles/{z}/{x}/{y}.png", params={"product": COG_ID, "layer": "TRUE_COLOR"})
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    rgba = decode(response.content)
    safe = np.ones(rgba.shape[:2], dtype=bool)
    expected = []
    for band in ("B04", "B03", "B02"):
        dn, ok = tile_samples(paths[band], z, x, y)
        safe &= ok & (dn > 0)
        expected.append(highlight(dn / 10000))  # baseline 02.14: no offset
    assert safe.sum() > 10000
    for channel, values in enumerate(expected):
        assert np.abs(rgba[..., channel][safe].astype(int) - values[safe]).max() <= 1
    assert (rgba[..., 3][safe] == 255).all()


def test_ndvi_pixels_match_numpy(real_client, cog) -> None:
    meta, paths = cog
    z, x, y = centre_tile(meta, 12)
    response = real_client.get(f"/tiles/{z}/{x}/{y}.png", params={"product": COG_ID, "layer": "NDVI"})
    rgba = decode(response.content)
    b04, ok4 = tile_samples(paths["B04"], z, x, y)
    b08, ok8 = tile_samples(paths["B08"], z, x, y)
    ndvi = (b08 - b04) / (b08 + b04)
    expected = ndvi_palette(ndvi, STYLES_DIR / "NDVI.toml")
    # Stay off the palette's bounds, where float32 and float64 may round to different sides.
    bounds = np.array(
        [
            -0.5,
            -0.2,
            -0.1,
            0,
            0.025,
            0.05,
            0.075,
            0.1,
            0.125,
            0.15,
            0.175,
            0.2,
            0.25,
            0.3,
            0.35,
            0.4,
            0.45,
            0.5,
            0.55,
            0.6,
        ]
    )
    clear = np.min(np.abs(ndvi[..., None] - bounds), axis=-1) > 1e-4
    safe = ok4 & ok8 & (b04 > 0) & (b08 > 0) & clear
    assert safe.sum() > 10000
    assert (rgba[..., :3][safe] == expected[safe]).all()


def test_baseline_offset_is_applied(real_client, shared_data) -> None:
    """T29UNU is baseline 04.00: reflectance = (DN - 1000) / 10000."""
    meta = real_client.get(f"/products/{SAFE_L2A_ID}").json()
    west, south, east, north = meta["bounds"]
    # A tile well inside the swath (the product's east part is outside it).
    t = WEB_MERCATOR.tile(west + 0.25 * (east - west), south + 0.5 * (north - south), 12)
    response = real_client.get(f"/tiles/12/{t.x}/{t.y}.png", params={"product": SAFE_L2A_ID, "layer": "TRUE_COLOR"})
    rgba = decode(response.content)
    index_paths = {b: band_path(shared_data, real_client, SAFE_L2A_ID, b) for b in ("B04", "B03", "B02")}
    safe = np.ones(rgba.shape[:2], dtype=bool)
    for channel, band in enumerate(("B04", "B03", "B02")):
        dn, ok = tile_samples(index_paths[band], 12, t.x, t.y)
        safe &= ok & (dn > 0)
        expected = highlight(np.maximum(dn - 1000, 0) / 10000)
        assert np.abs(rgba[..., channel][safe].astype(int) - expected[safe]).max() <= 1
    assert safe.sum() > 5000


def test_nodata_and_outside_are_transparent(real_client) -> None:
    meta = real_client.get(f"/products/{SAFE_L2A_ID}").json()
    west, south, east, north = meta["bounds"]
    # The north-east corner of T29UNU lies outside the swath: DN 0 in every band.
    t = WEB_MERCATOR.tile(east - 0.03 * (east - west), north - 0.03 * (north - south), 11)
    rgba = decode(real_client.get(f"/tiles/11/{t.x}/{t.y}.png", params={"product": SAFE_L2A_ID}).content)
    assert (rgba[..., 3] == 0).all()
    # A tile far away from the product.
    far = WEB_MERCATOR.tile(100.0, -40.0, 11)
    for fmt in ("png", "webp"):
        response = real_client.get(f"/tiles/11/{far.x}/{far.y}.{fmt}", params={"product": SAFE_L2A_ID})
        assert response.status_code == 200
        assert (decode(response.content)[..., 3] == 0).all()
    jpeg = real_client.get(f"/tiles/11/{far.x}/{far.y}.jpg", params={"product": SAFE_L2A_ID})
    assert jpeg.headers["content-type"] == "image/jpeg"
    assert decode(jpeg.content)[..., :3].max() <= 8  # black, within JPEG noise


def test_partial_tile_is_transparent_exactly_where_data_is_missing(real_client, shared_data) -> None:
    meta = real_client.get(f"/products/{SAFE_L2A_ID}").json()
    west, south, east, north = meta["bounds"]
    # A tile on the swath edge holds both data and nodata.
    for fx in np.linspace(0.4, 0.95, 12):
        t = WEB_MERCATOR.tile(west + fx * (east - west), south + 0.5 * (north - south), 11)
        dn, ok = tile_samples(band_path(shared_data, real_client, SAFE_L2A_ID, "B04"), 11, t.x, t.y)
        if 0.2 < (dn > 0).mean() < 0.8:
            break
    else:
        pytest.fail("no tile on the swath edge found")
    rgba = decode(
        real_client.get(f"/tiles/11/{t.x}/{t.y}.png", params={"product": SAFE_L2A_ID, "layer": "TRUE_COLOR"}).content
    )
    assert ((rgba[..., 3] > 0) == (dn > 0))[ok].mean() > 0.99


def test_every_layer_renders_a_non_empty_tile(demo_client, demo_archive) -> None:
    _, products = demo_archive
    layers = demo_client.get("/layers").json()["layers"]
    assert {layer["name"] for layer in layers} >= {
        "TRUE_COLOR",
        "TRUE_COLOR_SIMPLE",
        "FALSE_COLOR",
        "FALSE_COLOR_URBAN",
        "SWIR",
        "NDVI",
        "NDWI",
        "MOISTURE_INDEX",
        "SCL",
    }
    l2a = next(p for p in products if p.collection == "sentinel-2-l2a" and p.layout == "safe")
    meta = demo_client.get(f"/products/{l2a.id}").json()
    z, x, y = centre_tile(meta, 16)
    for layer in (layer for layer in layers if "sentinel-2-l2a" in layer["collections"]):
        response = demo_client.get(f"/tiles/{z}/{x}/{y}.png", params={"product": l2a.id, "layer": layer["name"]})
        assert response.status_code == 200, (layer["name"], response.text)
        rgba = decode(response.content)
        visible = rgba[..., 3] > 0
        assert visible.mean() > 0.5, layer["name"]
        assert len(np.unique(rgba[visible][:, :3], axis=0)) > 2, f"{layer['name']} is uniform"


def test_twenty_metre_bands_land_on_the_same_ground(demo_client, demo_archive) -> None:
    """B11 (20 m), B09 (60 m) and B04 (10 m) each match their own file at the same tile pixels."""
    root, products = demo_archive
    l2a = next(p for p in products if p.collection == "sentinel-2-l2a" and p.layout == "safe")
    meta = demo_client.get(f"/products/{l2a.id}").json()
    z, x, y = centre_tile(meta, 14)
    from tiler.catalog import MemoryCatalog

    product = MemoryCatalog([root]).resolve(l2a.id)
    assert {product.bands[b].resolution for b in ("B04", "B11", "B09")} == {10, 20, 60}
    offset = product.bands["B04"].offset / product.bands["B04"].scale  # in DN
    for band in ("B04", "B11", "B09"):
        response = demo_client.get(
            f"/tiles/{z}/{x}/{y}.png", params={"product": l2a.id, "expression": band, "rescale": "0,1"}
        )
        grey = decode(response.content)[..., 0].astype(int)
        dn, ok = tile_samples(product.bands[band].path, z, x, y)
        ok &= dn > 0
        expected = np.round(np.clip((dn + offset) / 10000, 0, 1) * 255)
        assert ok.sum() > 1000
        assert np.abs(grey[ok] - expected[ok]).max() <= 1, band


@pytest.mark.parametrize(
    "path, params, status",
    [
        ("/tiles/25/0/0.png", {}, 400),
        ("/tiles/3/8/0.png", {}, 400),
        ("/tiles/3/0/8.png", {}, 400),
        ("/tiles/3/0/0.gif", {}, 400),
        ("/tiles/3/0/0.png", {"tilesize": "300"}, 400),
        ("/tiles/3/0/0.png", {"tms": "NoSuchGrid"}, 400),
        ("/tiles/-1/0/0.png", {}, 400),
        ("/tiles/99999999999999999999/0/0.png", {}, 400),
        ("/tiles/0/0/" + "9" * 5000 + ".png", {}, 400),  # more digits than Python's int() takes
    ],
)
def test_bad_tile_addresses_get_4xx(real_client, path, params, status) -> None:
    response = real_client.get(path, params={"product": COG_ID, **params})
    assert response.status_code == status
    if status == 400:
        assert response.json()["detail"]


def test_world_crs84_quad_and_512_tiles(real_client, cog) -> None:
    meta, _ = cog
    west, south, east, north = meta["bounds"]
    import morecantile

    tms = morecantile.tms.get("WorldCRS84Quad")
    t = tms.tile((west + east) / 2, (south + north) / 2, 9)
    response = real_client.get(
        f"/tiles/9/{t.x}/{t.y}.png", params={"product": COG_ID, "tms": "WorldCRS84Quad", "tilesize": 512}
    )
    assert response.status_code == 200
    rgba = decode(response.content)
    assert rgba.shape == (512, 512, 4) and rgba[..., 3].mean() > 0


@pytest.mark.parametrize(
    "params, status, words",
    [
        ({"product": "../../etc/passwd"}, 400, ".."),
        ({"product": "%2e%2e%2f%2e%2e%2fetc"}, 400, ".."),
        ({"product": "/vsicurl/http://example.com/a.tif"}, 400, "URL"),
        ({"product": "/etc/passwd"}, 400, "data root"),
        ({"product": "S2B_MSIL2A_20200921T112119_N0214_R037_T30UUA_20200921T132441"}, 404, "unknown product"),
        ({}, 400, "product is required"),
        ({"product": COG_ID, "layer": "NO_SUCH"}, 404, "unknown layer"),
        ({"product": COG_ID, "expression": "__import__('os').system('id')"}, 400, "expression"),
        ({"product": COG_ID, "expression": "B04.__class__"}, 400, "attribute"),
        ({"product": COG_ID, "expression": "B99 * 2"}, 400, "B99"),
        ({"product": COG_ID, "expression": "B04;B03"}, 400, "expression"),
        ({"product": COG_ID, "expression": "B04", "rescale": "1,0"}, 400, "rescale"),
        ({"product": COG_ID, "expression": "B04", "colormap": "nope"}, 400, "colormap"),
    ],
)
def test_bad_requests_get_clear_errors(real_client, cog, params, status, words) -> None:
    meta, _ = cog
    z, x, y = centre_tile(meta, 10)
    response = real_client.get(f"/tiles/{z}/{x}/{y}.png", params=params)
    assert response.status_code == status, response.text
    assert words.lower() in response.json()["detail"].lower()
    assert "Traceback" not in response.text


def test_user_band_math_matches_numpy(real_client, cog) -> None:
    meta, paths = cog
    z, x, y = centre_tile(meta, 12)
    response = real_client.get(
        f"/tiles/{z}/{x}/{y}.png",
        params={"product": COG_ID, "expression": "(B08-B04)/(B08+B04)", "rescale": "-0.2,0.6"},
    )
    grey = decode(response.content)[..., 0].astype(int)
    b04, ok4 = tile_samples(paths["B04"], z, x, y)
    b08, ok8 = tile_samples(paths["B08"], z, x, y)
    expected = np.round(np.clip(((b08 - b04) / (b08 + b04) + 0.2) / 0.8, 0, 1) * 255)
    ok = ok4 & ok8 & (b04 > 0)
    assert np.abs(grey[ok] - expected[ok]).max() <= 1


def test_division_by_zero_is_transparent(real_client, cog) -> None:
    meta, _ = cog
    z, x, y = centre_tile(meta, 12)
    response = real_client.get(f"/tiles/{z}/{x}/{y}.png", params={"product": COG_ID, "expression": "B04/(B04-B04)"})
    assert response.status_code == 200
    assert (decode(response.content)[..., 3] == 0).all()


def test_three_expressions_and_a_colormap(real_client, cog) -> None:
    meta, _ = cog
    z, x, y = centre_tile(meta, 12)
    rgb = real_client.get(
        f"/tiles/{z}/{x}/{y}.webp", params={"product": COG_ID, "expression": "B04;B03;B02", "rescale": "0,0.4"}
    )
    assert rgb.status_code == 200 and rgb.headers["content-type"] == "image/webp"
    cmap = real_client.get(
        f"/tiles/{z}/{x}/{y}.png",
        params={"product": COG_ID, "expression": "(B08-B04)/(B08+B04)", "rescale": "-1,1", "colormap": "viridis"},
    )
    rgba = decode(cmap.content)
    assert cmap.status_code == 200 and len(np.unique(rgba[..., :3].reshape(-1, 3), axis=0)) > 5


def test_etag_and_not_modified(real_client, cog) -> None:
    meta, _ = cog
    z, x, y = centre_tile(meta, 11)
    first = real_client.get(f"/tiles/{z}/{x}/{y}.png", params={"product": COG_ID, "layer": "SWIR"})
    etag = first.headers["etag"]
    assert "max-age" in first.headers["cache-control"]
    second = real_client.get(
        f"/tiles/{z}/{x}/{y}.png", params={"product": COG_ID, "layer": "SWIR"}, headers={"If-None-Match": etag}
    )
    assert second.status_code == 304 and second.content == b"" and second.headers["etag"] == etag
    other = real_client.get(
        f"/tiles/{z}/{x}/{y}.png", params={"product": COG_ID, "layer": "SWIR"}, headers={"If-None-Match": '"x"'}
    )
    assert other.status_code == 200 and other.content == first.content


def test_a_cache_hit_touches_neither_disk_nor_renderer(real_settings, monkeypatch) -> None:
    from starlette.testclient import TestClient

    import tiler.pipeline.run

    client = TestClient(create_app(real_settings))
    meta = client.get(f"/products/{COG_ID}").json()
    z, x, y = centre_tile(meta, 11)
    url, params = f"/tiles/{z}/{x}/{y}.png", {"product": COG_ID, "layer": "FALSE_COLOR"}
    first = client.get(url, params=params)
    assert first.headers["x-cache"] == "miss"

    def forbidden(*args, **kwargs):
        raise AssertionError("a cache hit must not read or render")

    monkeypatch.setattr(tiler.pipeline.run, "read_part", forbidden)
    monkeypatch.setattr(tiler.pipeline.run, "render", forbidden)
    monkeypatch.setattr(tiler.pipeline.run, "encode", forbidden)
    second = client.get(url, params=params)
    assert second.status_code == 200 and second.headers["x-cache"] == "hit"
    assert second.content == first.content


def test_cache_is_bounded_in_bytes(real_settings) -> None:
    from starlette.testclient import TestClient

    app = create_app(Settings(data_roots=real_settings.data_roots, cache_bytes=150_000))
    client = TestClient(app)
    meta = client.get(f"/products/{COG_ID}").json()
    z, x, y = centre_tile(meta, 12)
    for dx in range(-2, 3):
        client.get(f"/tiles/{z}/{x + dx}/{y}.png", params={"product": COG_ID})
    cache = app.state.services.cache
    assert 0 < cache.current_bytes <= 150_000
