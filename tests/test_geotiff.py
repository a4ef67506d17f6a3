"""GeoTIFF downloads (/crop.tif, /preview.tif, WMS FORMAT=image/tiff) read back with rasterio and
compared with the band files: values, types, no-data, descriptions, CRS, the COG layout."""

from __future__ import annotations

import io

import numpy as np
import pytest
import rasterio
from PIL import Image
from rasterio.io import MemoryFile

from tests.helpers import (
    COG_ID,
    COG_REL,
    demo_series,
    demo_variant,
    evalscript_param,
    inside_mask,
    ndvi,
    pixel_centres,
    read_band,
    reflectance,
    sample,
)


def _read(content: bytes):
    with MemoryFile(content) as memory, memory.open() as src:
        return src.read(), src.profile, src.descriptions, src.tags(ns="IMAGE_STRUCTURE"), src.colorinterp, src.scales


def _box(transform, dx0, dy0, dx1, dy1):
    """A box in the file's CRS, offsets from its upper-left corner in metres."""
    return (transform.c + dx0, transform.f - dy1, transform.c + dx1, transform.f - dy0)


def test_crop_of_an_index_is_float32_values(real_client, shared_data):
    folder = shared_data / COG_REL
    _, transform, crs = read_band(folder / "B04.tif")
    box = _box(transform, 10_000, 10_000, 40_000, 30_000)
    response = real_client.get(
        "/crop.tif",
        params={"product": COG_ID, "layer": "NDVI", "bbox": ",".join(map(str, box)), "crs": crs.to_string(),
                "resolution": 100},
    )  # fmt: skip
    assert response.status_code == 200 and response.headers["content-type"] == "image/tiff"
    data, profile, descriptions, structure, _, scales = _read(response.content)
    assert profile["crs"] == crs and profile["dtype"] == "float32" and np.isnan(profile["nodata"])
    assert structure["LAYOUT"] == "COG" and descriptions == ("(B08 - B04) / (B08 + B04)",) and scales == (1.0,)
    assert (profile["width"], profile["height"]) == (300, 200)
    xs, ys = pixel_centres(box, 300, 200)
    red, safe = sample(folder / "B04.tif", xs, ys, crs.to_string())
    nir, _ = sample(folder / "B08.tif", xs, ys, crs.to_string())
    assert safe.all()
    expected = ndvi(reflectance(nir), reflectance(red))
    has_data = (red != 0) & (nir != 0)
    np.testing.assert_allclose(data[0][has_data], expected[has_data], rtol=1e-6)
    assert np.isnan(data[0][~has_data]).all()


# An EO Browser-style index script: a picture, the values EO Browser charts, and a mask that drops water.
INDEX_SCRIPT = """//VERSION=3
function setup() {
  return {
    input: ["B04", "B08", "dataMask"],
    output: [
      { id: "default", bands: 4 },
      { id: "eobrowserStats", bands: 1, sampleType: "FLOAT32" },
      { id: "dataMask", bands: 1 },
    ],
  };
}
function evaluatePixel(s) {
  const ndvi = (s.B08 - s.B04) / (s.B08 + s.B04);
  return { default: [ndvi, ndvi, ndvi, s.dataMask], eobrowserStats: [ndvi], dataMask: [s.dataMask * (ndvi > -0.5)] };
}
"""


def test_crop_of_an_evalscript_is_its_statistics_output(real_client, shared_data):
    folder = shared_data / COG_REL
    _, transform, crs = read_band(folder / "B04.tif")
    box = _box(transform, 10_000, 10_000, 40_000, 30_000)
    response = real_client.get(
        "/crop.tif",
        params={"product": COG_ID, "evalscript": evalscript_param(INDEX_SCRIPT), "bbox": ",".join(map(str, box)),
                "crs": crs.to_string(), "resolution": 100},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    data, profile, descriptions, _, _, _ = _read(response.content)
    assert profile["dtype"] == "float32" and descriptions == ("eobrowserStats",)
    xs, ys = pixel_centres(box, 300, 200)
    red, _ = sample(folder / "B04.tif", xs, ys, crs.to_string())
    nir, _ = sample(folder / "B08.tif", xs, ys, crs.to_string())
    expected = ndvi(reflectance(nir), reflectance(red))
    kept = (red != 0) & (nir != 0) & (expected > -0.5)  # the script's dataMask output
    np.testing.assert_allclose(data[0][kept], expected[kept], rtol=1e-6)
    assert np.isnan(data[0][~kept]).all()
    simple = real_client.get(
        "/crop.tif",
        params={"product": COG_ID, "evalscript": evalscript_param("return [B04];"), "bbox": ",".join(map(str, box)),
                "crs": crs.to_string(), "resolution": 100},
    )  # fmt: skip
    assert simple.status_code == 400 and "VERSION=3" in simple.json()["detail"]


def test_crop_of_true_colour_is_reflectance_and_of_classes_is_uint8(real_client, shared_data):
    folder = shared_data / COG_REL
    _, transform, crs = read_band(folder / "B04.tif")
    box = _box(transform, 50_000, 50_000, 70_000, 62_000)
    query = {"product": COG_ID, "bbox": ",".join(map(str, box)), "crs": crs.to_string(), "resolution": 100}
    rgb, profile, descriptions, *_ = _read(
        real_client.get("/crop.tif", params={**query, "layer": "TRUE_COLOR"}).content
    )
    assert profile["count"] == 3 and descriptions[0].startswith("B04: Red")
    xs, ys = pixel_centres(box, profile["width"], profile["height"])
    for band, values in zip(("B04", "B03", "B02"), rgb):
        dn, _ = sample(folder / f"{band}.tif", xs, ys, crs.to_string())
        np.testing.assert_array_equal(values[dn != 0], reflectance(dn)[dn != 0])
    scl, profile, descriptions, *_ = _read(real_client.get("/crop.tif", params={**query, "layer": "SCL"}).content)
    assert profile["dtype"] == "uint8" and profile["nodata"] == 255 and descriptions[0].startswith("SCL")
    codes, _ = sample(folder / "SCL.tif", xs, ys, crs.to_string())
    np.testing.assert_array_equal(scl[0][codes != 0], codes[codes != 0])
    assert (scl[0][codes == 0] == 255).all()


def test_visual_is_the_picture_as_rgba_like_the_png(real_client, shared_data):
    folder = shared_data / COG_REL
    _, transform, crs = read_band(folder / "B04.tif")
    box = _box(transform, 10_000, 10_000, 30_000, 30_000)
    bbox = ",".join(map(str, box))
    query = {"product": COG_ID, "layer": "NDVI", "bbox": bbox, "crs": crs.to_string(), "width": 200}
    data, profile, _, _, colorinterp, _ = _read(
        real_client.get("/crop.tif", params={**query, "visual": "true"}).content
    )
    assert profile["dtype"] == "uint8" and profile["count"] == 4 and colorinterp[-1].name == "alpha"
    png = real_client.get(
        "/wms",
        params={"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": "sentinel-2-l2a:NDVI",
                "CRS": crs.to_string(), "BBOX": bbox, "WIDTH": 200, "HEIGHT": 200, "FORMAT": "image/png",
                "TRANSPARENT": "TRUE", "PRODUCT": COG_ID},
    )  # fmt: skip
    picture = np.asarray(Image.open(io.BytesIO(png.content)).convert("RGBA"))
    np.testing.assert_array_equal(np.moveaxis(data, 0, -1), picture)


def test_wms_getmap_tiff_gives_the_same_values_as_the_crop(real_client, shared_data):
    folder = shared_data / COG_REL
    _, transform, crs = read_band(folder / "B04.tif")
    box = _box(transform, 10_000, 10_000, 30_000, 30_000)
    bbox = ",".join(map(str, box))
    wms = {"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": "sentinel-2-l2a:NDVI",
           "CRS": crs.to_string(), "BBOX": bbox, "WIDTH": 100, "HEIGHT": 100, "FORMAT": "image/tiff", "PRODUCT": COG_ID}  # fmt: skip
    response = real_client.get("/wms", params=wms)
    assert response.headers["content-type"] == "image/tiff"
    crop = real_client.get(
        "/crop.tif", params={"product": COG_ID, "layer": "NDVI", "bbox": bbox, "crs": crs.to_string(), "width": 100}
    )
    np.testing.assert_array_equal(_read(response.content)[0], _read(crop.content)[0])
    two = real_client.get("/wms", params={**wms, "LAYERS": "sentinel-2-l2a:NDVI,sentinel-2-l2a:SCL"})
    assert b"one layer" in two.content
    capabilities = real_client.get("/wms", params={"SERVICE": "WMS", "REQUEST": "GetCapabilities"}).text
    assert "<Format>image/tiff</Format>" in capabilities


def test_preview_tif_covers_the_product_in_its_crs(real_client):
    response = real_client.get("/preview.tif", params={"product": COG_ID, "layer": "NDVI", "width": 256})
    data, profile, *_ = _read(response.content)
    product = real_client.get(f"/products/{COG_ID}").json()
    assert profile["crs"].to_string() == product["crs"] and (profile["width"], profile["height"]) == (256, 256)
    assert profile["dtype"] == "float32" and np.isfinite(data).mean() > 0.5


def test_a_geometry_crop_leaves_pixels_outside_it_empty(demo_client, demo_archive):
    product = demo_series(demo_archive[1])[0]
    x0, y0, x1, y1 = product.bounds
    triangle = {
        "type": "Polygon",
        "coordinates": [[[x0 + 100, y0 + 100], [x1 - 100, y0 + 100], [x0 + 600, y1 - 100], [x0 + 100, y0 + 100]]],
    }
    response = demo_client.post(
        "/crop.tif", json={"geometry": triangle, "crs": "EPSG:32632", "product": product.id, "layer": "NDVI"}
    )
    assert response.status_code == 200, response.text
    data, profile, *_ = _read(response.content)
    with rasterio.open(product.path / "B04.tif") as src:
        window = src.window(
            *profile["transform"] * (0, profile["height"]), *profile["transform"] * (profile["width"], 0)
        )
        red = src.read(1, window=window)
    with rasterio.open(product.path / "B08.tif") as src:
        nir = src.read(1, window=window)
    inside = inside_mask(triangle, data[0].shape, profile["transform"])
    expected = ndvi(reflectance(nir, -1000), reflectance(red, -1000))
    np.testing.assert_array_equal(data[0][inside], expected[inside])
    assert np.isnan(data[0][~inside]).all() and inside.mean() > 0.3


def test_crop_limits_and_bad_requests(demo_app, demo_archive, demo_client):
    product = demo_series(demo_archive[1])[0]
    bbox = ",".join(map(str, product.bounds))
    small = demo_variant(demo_app, demo_archive, max_crop_pixels=1000)
    over = small.get("/crop.tif", params={"product": product.id, "bbox": bbox, "crs": "EPSG:32632"})
    assert over.status_code == 413 and "120 x 120 px (14,400), 14.4 times the limit of 1,000" in over.json()["detail"]
    cases = [
        ("/crop.png", {"bbox": bbox, "crs": "EPSG:32632"}, 400),
        ("/crop.tif", {"crs": "EPSG:32632"}, 400),
        ("/crop.tif", {"bbox": "1,2,3", "crs": "EPSG:32632"}, 400),
        ("/crop.tif", {"bbox": bbox, "crs": "EPSG:32632", "out_crs": "nope"}, 400),
        ("/crop.tif", {"bbox": "11.9,50.9,12,51", "out_crs": "EPSG:4326"}, 400),
        ("/crop.tif", {"bbox": bbox, "crs": "EPSG:32632", "product": "missing"}, 404),
    ]
    for path, query, status in cases:
        response = demo_client.get(path, params=query)
        assert response.status_code == status, (path, query, response.text)
        assert "detail" in response.json()


@pytest.mark.parametrize("ext", ["tif", "tiff"])
def test_a_mosaic_crop_in_lonlat_lands_in_a_utm_zone(demo_client, demo_archive, ext):
    product = demo_series(demo_archive[1])[-1]
    bounds = demo_client.get(f"/products/{product.id}").json()["bounds"]
    west, south, east, north = bounds
    box = f"{west + 0.003},{south + 0.003},{east - 0.003},{north - 0.003}"
    response = demo_client.get(f"/crop.{ext}", params={"bbox": box, "time": "2023-08", "layer": "NDVI"})
    data, profile, *_ = _read(response.content)
    assert profile["crs"].to_epsg() == 32632 and profile["transform"].a == 10
    assert np.isfinite(data).all()
