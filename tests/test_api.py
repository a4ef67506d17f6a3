"""TileJSON, previews, product metadata, layer list and the map page, over HTTP."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import numpy as np
import rasterio
from rasterio.enums import Resampling

from tests.helpers import COG_ID, SAFE_L2A_ID, WEB_MERCATOR, decode


def test_tilejson_fields_and_template(real_client) -> None:
    response = real_client.get("/tilejson.json", params={"product": COG_ID, "layer": "NDVI", "tilesize": 256})
    assert response.status_code == 200
    tj = response.json()
    assert tj["tilejson"] == "3.0.0"
    meta = real_client.get(f"/products/{COG_ID}").json()
    assert tj["bounds"] == meta["bounds"]
    west, south, east, north = tj["bounds"]
    lon, lat, zoom = tj["center"]
    assert west < lon < east and south < lat < north
    # 100 m pixels at 25 degrees north: finest zoom ~ 11, whole tile in one 256 tile ~ 7.
    assert 0 <= tj["minzoom"] <= zoom <= tj["maxzoom"]
    assert tj["maxzoom"] in (10, 11) and tj["minzoom"] in (6, 7)
    template = tj["tiles"][0]
    assert "{z}/{x}/{y}.png" in template
    query = parse_qs(urlsplit(template).query)
    assert query == {"product": [COG_ID], "layer": ["NDVI"], "tilesize": ["256"]}
    t = WEB_MERCATOR.tile(lon, lat, tj["maxzoom"])
    url = template.format(z=t.z, x=t.x, y=t.y)
    tile = real_client.get(url)
    assert tile.status_code == 200 and decode(tile.content)[..., 3].mean() > 0


def test_tilejson_format_and_errors(real_client) -> None:
    tj = real_client.get("/tilejson.json", params={"product": COG_ID, "format": "webp"}).json()
    assert ".webp?" in tj["tiles"][0] and "format" not in tj["tiles"][0]
    assert real_client.get("/tilejson.json", params={"product": "nope"}).status_code == 404
    bad = real_client.get("/tilejson.json", params={"product": COG_ID, "expression": "open('x')"})
    assert bad.status_code == 400


def test_preview_covers_the_whole_product(real_client) -> None:
    response = real_client.get("/preview.png", params={"product": COG_ID, "width": 300})
    assert response.status_code == 200
    rgba = decode(response.content)
    # 29RKH is a square tile without nodata: every pixel is drawn.
    assert rgba.shape == (300, 300, 4)
    assert (rgba[..., 3] == 255).all()
    for corner in (rgba[:20, :20], rgba[:20, -20:], rgba[-20:, :20], rgba[-20:, -20:]):
        assert corner[..., :3].std() > 0


def test_preview_mask_matches_the_data(real_client, shared_data) -> None:
    from tiler.catalog import MemoryCatalog

    width = 200
    rgba = decode(real_client.get("/preview.png", params={"product": SAFE_L2A_ID, "width": width}).content)
    path = MemoryCatalog([shared_data]).resolve(SAFE_L2A_ID).bands["B04"].path
    with rasterio.open(path) as src:
        dn = src.read(1, out_shape=(width, width), resampling=Resampling.nearest)
    drawn = rgba[..., 3] > 0
    assert rgba.shape[:2] == dn.shape
    assert (drawn == (dn > 0)).mean() > 0.98
    assert 0.3 < drawn.mean() < 0.9  # the swath edge cuts the product


def test_preview_limits(real_client) -> None:
    assert real_client.get("/preview.png", params={"product": COG_ID, "width": 4096}).status_code == 413
    assert real_client.get("/preview.png", params={"product": COG_ID, "width": 0}).status_code == 400
    assert real_client.get("/preview.png", params={"product": COG_ID, "width": "abc"}).status_code == 400
    jpeg = real_client.get("/preview.jpg", params={"product": COG_ID, "width": 64, "layer": "SCL"})
    assert jpeg.status_code == 200 and jpeg.headers["content-type"] == "image/jpeg"


def test_product_metadata(real_client) -> None:
    meta = real_client.get(f"/products/{SAFE_L2A_ID}.SAFE").json()
    assert meta["id"] == SAFE_L2A_ID
    assert meta["collection"] == "sentinel-2-l2a"
    assert meta["platform"] == "sentinel-2a"
    assert meta["datetime"].startswith("2022-10-05T11:54:11")
    assert abs(meta["cloud_cover"] - 59.77) < 0.01
    west, south, east, north = meta["bounds"]
    assert -9.1 < west < east < -7.2 and 52.1 < south < north < 53.3
    assert meta["bands"]["B04"] == {"resolution": 60.0}
    assert meta["bands"]["SCL"] == {"resolution": 20.0}
    assert meta["bands"]["B08"]["source"] == "B8A"
    assert meta["links"]["tilejson"].endswith(f"/tilejson.json?product={SAFE_L2A_ID}")
    assert real_client.get(meta["links"]["preview"]).status_code == 200
    assert real_client.get("/products/nope").status_code == 404
    assert real_client.get("/products/..%2F..%2Fetc%2Fpasswd").status_code == 400


def test_product_list_and_layers(real_client) -> None:
    products = real_client.get("/products").json()["products"]
    ids = [p["id"] for p in products]
    # The shared samples grow over time: check the two this suite knows, and the order of all.
    assert {SAFE_L2A_ID, COG_ID} <= set(ids)
    dates = [p["datetime"] for p in products]
    assert dates == sorted(dates, reverse=True)  # newest first
    listed = real_client.get("/layers").json()["layers"]
    layers = {layer["name"]: layer for layer in listed if "sentinel-2-l2a" in layer["collections"]}
    assert layers["NDVI"]["expressions"] == ["(B08 - B04) / (B08 + B04)"]
    assert layers["TRUE_COLOR"]["bands"] == ["B02", "B03", "B04"]
    assert layers["SCL"]["collections"] == ["sentinel-2-l2a"]
    # A name may stand for a layer of each family: Landsat's NDVI reads its own near infrared.
    landsat = {layer["name"]: layer for layer in listed if "landsat-c2-l2" in layer["collections"]}
    assert landsat["NDVI"]["expressions"] == ["(B05 - B04) / (B05 + B04)"]
    assert landsat["QA"]["collections"] == ["landsat-c2-l2", "landsat-c2-l1"]


def test_layer_not_for_this_collection(demo_client, demo_archive) -> None:
    _, products = demo_archive
    l1c = next(p for p in products if p.collection == "sentinel-2-l1c")
    response = demo_client.get("/tiles/10/0/0.png", params={"product": l1c.id, "layer": "SCL"})
    assert response.status_code == 400 and "sentinel-2-l1c" in response.json()["detail"]


def test_old_and_new_baselines_look_alike(demo_client, demo_archive) -> None:
    """Demo products of baseline 02.14 and 04.00 show the same ground: where they overlap and both
    are clear, their TRUE_COLOR pixels agree although the newer one stores DN + 1000."""
    _, products = demo_archive
    old = next(p for p in products if p.baseline == "02.14" and p.layout == "safe" and p.collection == "sentinel-2-l2a")
    new = next(p for p in products if p.baseline == "04.00")
    a, b = (demo_client.get(f"/products/{p.id}").json()["bounds"] for p in (old, new))
    overlap = (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))
    assert overlap[0] < overlap[2] and overlap[1] < overlap[3]
    t = WEB_MERCATOR.tile((overlap[0] + overlap[2]) / 2, (overlap[1] + overlap[3]) / 2, 14)
    images = []
    for p in (old, new):
        response = demo_client.get(f"/tiles/14/{t.x}/{t.y}.png", params={"product": p.id, "layer": "TRUE_COLOR"})
        scl = demo_client.get(f"/tiles/14/{t.x}/{t.y}.png", params={"product": p.id, "layer": "SCL"})
        images.append((decode(response.content), decode(scl.content)))
    (rgb_old, scl_old), (rgb_new, scl_new) = images
    clear_colours = np.array([[0, 160, 0], [255, 230, 90], [0, 0, 255]])  # vegetation, soil, water
    clear = np.ones(rgb_old.shape[:2], dtype=bool)
    for scl in (scl_old, scl_new):
        clear &= (scl[..., 3] > 0) & (scl[..., None, :3] == clear_colours).all(-1).any(-1)
    assert clear.sum() > 100
    difference = np.abs(rgb_old[..., :3].astype(int) - rgb_new[..., :3].astype(int))[clear]
    assert np.median(difference) <= 12
