"""Landsat (landsat-c2-l2, landsat-c2-l1) on the real samples, through HTTP: indexing from the USGS
layout (MTL and STAC items), tiles of every layer checked against rasterio + numpy, mosaics with
the QA_PIXEL cloud mask, WMS/WMTS, feature info, legends, band math, and broken products."""

from __future__ import annotations

import logging
import math
import shutil
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import morecantile
import numpy as np
import pytest
from starlette.testclient import TestClient

from styles import STYLES_DIR
from tests.helpers import (
    LANDSAT_L1_ID,
    LANDSAT_L1_REL,
    LANDSAT_L2_ID,
    LANDSAT_L2_REL,
    LANDSAT_L2_SOUTH_ID,
    LANDSAT_L2_SOUTH_REL,
    WEB_MERCATOR,
    decode,
    highlight,
    mtl_values,
    ndvi_palette,
    sample,
    tile_samples,
)
from tiler.app import create_app
from tiler.catalog import MemoryCatalog
from tiler.catalog.sqlite import SqliteCatalog
from tiler.settings import Settings
from tiler.sources.landsat import read_mtl

LAYERS = ("TRUE_COLOR", "FALSE_COLOR", "FALSE_COLOR_URBAN", "NDVI", "NDWI", "THERMAL", "QA")
LANDSAT_STYLES = STYLES_DIR / "landsat"
# QA_PIXEL bits (Collection 2)
FILL, DILATED, CIRRUS, CLOUD, SHADOW, SNOW, CLEAR, WATER = range(8)


def l2_file(shared: Path, suffix: str) -> Path:
    return shared / LANDSAT_L2_REL / f"{LANDSAT_L2_ID}_{suffix}"


def l1_file(shared: Path, suffix: str) -> Path:
    return shared / LANDSAT_L1_REL / f"{LANDSAT_L1_ID}_{suffix}"


def inner_tile(client, product_id: str, z: int, at: tuple[float, float] = (0.5, 0.5)) -> morecantile.Tile:
    west, south, east, north = client.get(f"/products/{product_id}").json()["bounds"]
    return WEB_MERCATOR.tile(west + at[0] * (east - west), south + at[1] * (north - south), z)


def get_tile(client, t: morecantile.Tile, **params) -> np.ndarray:
    response = client.get(f"/tiles/{t.z}/{t.x}/{t.y}.png", params=params)
    assert response.status_code == 200, response.text
    return decode(response.content)


def ramp(values: np.ndarray, layer_file: Path) -> np.ndarray:
    """A ramp colour map written out with numpy: linear between the file's stops, clamped."""
    stops = tomllib.loads(layer_file.read_text())["colormap"]["stops"]
    xs = np.array([v for v, _ in stops])
    colours = np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for _, c in stops], dtype=float)
    return np.stack([np.round(np.interp(values, xs, colours[:, c])) for c in range(3)], axis=-1)


def bit(codes: np.ndarray, n: int) -> np.ndarray:
    return (codes.astype(np.int64) >> n & 1).astype(bool)


def qa_colours(flags: dict[str, np.ndarray], rgb: list[np.ndarray]) -> np.ndarray:
    """EO Browser's QA script, by precedence: water, snow, cloud, dilated cloud, shadow, cirrus,
    fill, then clear pixels in true colour (1000 * reflectance as bytes), else black."""
    shape = rgb[0].shape
    out = np.zeros((*shape, 3))
    true_colour = np.stack([np.clip(np.round(v / 0.255 * 255), 0, 255) for v in rgb], axis=-1)
    order = [
        ("water", (0, 0, 204)),
        ("snow", (255, 0, 255)),
        ("cloud", (225, 225, 225)),
        ("dilated", (175, 175, 175)),
        ("shadow", (153, 102, 51)),
        ("cirrus", (102, 255, 255)),
        ("fill", (255, 0, 0)),
    ]
    done = np.zeros(shape, dtype=bool)
    for name, colour in order:
        here = flags[name] & ~done
        out[here] = colour
        done |= here
    clear = flags["clear"] & ~done
    out[clear] = true_colour[clear]
    return out


# ---------------------------------------------------------------------------------------------
# Indexing


def test_each_landsat_product_is_found_once_with_its_metadata(real_client, shared_data) -> None:
    products = real_client.get("/products").json()["products"]
    landsat = {p["id"]: p for p in products if p["id"].startswith("LC08")}
    assert sorted(landsat) == sorted([LANDSAT_L2_ID, LANDSAT_L2_SOUTH_ID, LANDSAT_L1_ID])
    assert len([p for p in products if p["id"].startswith("LC08")]) == 3  # SR and ST items and MTL: one product
    l2, south, l1 = landsat[LANDSAT_L2_ID], landsat[LANDSAT_L2_SOUTH_ID], landsat[LANDSAT_L1_ID]
    assert (l2["collection"], south["collection"], l1["collection"]) == ("landsat-c2-l2",) * 2 + ("landsat-c2-l1",)
    # The MTL is the authority: the scene centre time, the cloud cover, WRS path and row.
    mtl = mtl_values(l2_file(shared_data, "MTL.txt"))
    assert l2["datetime"].startswith(f"{mtl['DATE_ACQUIRED']}T{mtl['SCENE_CENTER_TIME'][:8]}")
    assert l2["cloud_cover"] == float(mtl["CLOUD_COVER"]) == 81.02
    assert (l2["tile"], south["tile"], l1["tile"]) == ("008059", "001062", "016037")
    assert (l2["platform"], l2["processing_level"], l1["processing_level"]) == ("landsat-8", "L2SP", "L1TP")
    assert l1["cloud_cover"] == 26.7 and l1["datetime"].startswith("2017-08-13T15:54:15")
    # The footprint is the STAC item's tilted scene outline, not the grid's corners.
    import json

    item = json.loads(l2_file(shared_data, "SR_stac.json").read_text())
    assert l2["footprint"] == item["geometry"]
    assert set(l2["bands"]) == {"B01", "B02", "B03", "B04", "B05", "B06", "B07", "B10", "BQA"}
    assert set(l1["bands"]) == {f"B{n:02d}" for n in range(1, 12)} | {"BQA"}
    # Bands are at the downsampled files' own pixel size (444.8 m x 453.6 m: the first).
    assert l2["bands"]["B04"]["resolution"] == pytest.approx(444.785, abs=0.01)
    assert l1["bands"]["B08"]["resolution"] == 450 and l1["bands"]["B04"]["resolution"] == 900


def test_search_and_stac_items(real_client) -> None:
    found = real_client.get("/search", params={"collection": "landsat-c2-l2"}).json()
    assert [f["id"] for f in found["features"]] == [LANDSAT_L2_SOUTH_ID, LANDSAT_L2_ID]  # newest first
    item = found["features"][1]
    assert item["properties"]["grid:code"] == "WRS2-008059"
    assert item["properties"]["eo:cloud_cover"] == 81.02 and item["properties"]["constellation"] == "landsat"
    by_place = real_client.get("/search", params={"bbox": "-75.5,1,-75,1.5", "maxcc": "90"}).json()
    assert [f["id"] for f in by_place["features"]] == [LANDSAT_L2_ID]
    assert real_client.get("/search", params={"bbox": "-75.5,1,-75,1.5", "maxcc": "80"}).json()["features"] == []
    l1 = real_client.get("/search", params={"collection": "landsat-c2-l1", "datetime": "2017-08"}).json()
    assert [f["id"] for f in l1["features"]] == [LANDSAT_L1_ID]
    # The product is known by its Landsat scene ID too.
    assert real_client.get("/products/LC80080592019335LGN00").json()["id"] == LANDSAT_L2_ID


def test_the_three_mtl_forms_read_alike(shared_data) -> None:
    txt, js, xml = (read_mtl(l2_file(shared_data, f"MTL.{ext}")) for ext in ("txt", "json", "xml"))
    for group, key in [
        ("LEVEL2_SURFACE_REFLECTANCE_PARAMETERS", "REFLECTANCE_MULT_BAND_4"),
        ("LEVEL2_SURFACE_REFLECTANCE_PARAMETERS", "REFLECTANCE_ADD_BAND_4"),
        ("LEVEL2_SURFACE_TEMPERATURE_PARAMETERS", "TEMPERATURE_MULT_BAND_ST_B10"),
        ("IMAGE_ATTRIBUTES", "CLOUD_COVER"),
        ("IMAGE_ATTRIBUTES", "WRS_PATH"),
    ]:
        assert float(txt[group][key]) == float(js[group][key]) == float(xml[group][key])
    assert txt["IMAGE_ATTRIBUTES"]["DATE_ACQUIRED"] == js["IMAGE_ATTRIBUTES"]["DATE_ACQUIRED"] == "2019-12-01"


# ---------------------------------------------------------------------------------------------
# Tiles against numpy


def l2_reflectance(shared: Path, band: int, t: morecantile.Tile) -> tuple[np.ndarray, np.ndarray]:
    dn, ok = tile_samples(l2_file(shared, f"SR_B{band}.TIF"), t.z, t.x, t.y)
    return dn * 2.75e-5 - 0.2, ok & (dn > 0)


def test_level2_true_color_matches_numpy(real_client, shared_data) -> None:
    t = inner_tile(real_client, LANDSAT_L2_ID, 10)
    rgba = get_tile(real_client, t, product=LANDSAT_L2_ID, layer="TRUE_COLOR")
    safe = np.ones(rgba.shape[:2], dtype=bool)
    expected = []
    for band in (4, 3, 2):
        reflectance, ok = l2_reflectance(shared_data, band, t)
        safe &= ok
        expected.append(highlight(reflectance))
    assert safe.sum() > 20000
    for channel, values in enumerate(expected):
        diff = np.abs(rgba[..., channel][safe].astype(int) - values[safe])
        assert diff.mean() <= 8 and diff.max() <= 1
    assert (rgba[..., 3][safe] == 255).all()


def test_level2_south_of_the_equator_in_a_northern_zone(real_client, shared_data) -> None:
    # Negative northings, non-square pixels (600.08 m x 600.85 m).
    t = inner_tile(real_client, LANDSAT_L2_SOUTH_ID, 10, (0.4, 0.6))
    rgba = get_tile(real_client, t, product=LANDSAT_L2_SOUTH_ID, layer="FALSE_COLOR")
    safe = np.ones(rgba.shape[:2], dtype=bool)
    for channel, band in enumerate((5, 4, 3)):
        dn, ok = tile_samples(
            shared_data / LANDSAT_L2_SOUTH_REL / f"{LANDSAT_L2_SOUTH_ID}_SR_B{band}.TIF", 10, t.x, t.y
        )
        safe &= ok & (dn > 0)
        expected = highlight(dn * 2.75e-5 - 0.2)
        diff = np.abs(rgba[..., channel][safe].astype(int) - expected[safe])
        assert diff.mean() <= 8 and diff.max() <= 1
    assert safe.sum() > 20000


def test_level2_ndvi_and_urban_false_colour_match_numpy(real_client, shared_data) -> None:
    t = inner_tile(real_client, LANDSAT_L2_ID, 10, (0.3, 0.6))
    red, ok4 = l2_reflectance(shared_data, 4, t)
    nir, ok5 = l2_reflectance(shared_data, 5, t)
    ndvi = (nir - red) / (nir + red)
    expected = ndvi_palette(ndvi, LANDSAT_STYLES / "NDVI.toml")
    steps = tomllib.loads((LANDSAT_STYLES / "NDVI.toml").read_text())["colormap"]["steps"]
    clear = np.min(np.abs(ndvi[..., None] - np.array([b for b, _ in steps])), axis=-1) > 1e-4
    safe = ok4 & ok5 & clear & np.isfinite(ndvi)
    rgba = get_tile(real_client, t, product=LANDSAT_L2_ID, layer="NDVI")
    assert safe.sum() > 20000
    assert np.abs(rgba[..., :3][safe].astype(int) - expected[safe]).mean() <= 1

    urban = get_tile(real_client, t, product=LANDSAT_L2_ID, layer="FALSE_COLOR_URBAN")
    for channel, band in enumerate((7, 6, 4)):
        reflectance, ok = l2_reflectance(shared_data, band, t)
        values = np.clip(np.round(2.5 * reflectance * 255), 0, 255)  # EO Browser: 2.5 * [B07, B06, B04]
        assert np.abs(urban[..., channel][ok & safe].astype(int) - values[ok & safe]).max() <= 1


def test_level2_thermal_is_kelvin_through_eo_browsers_ramp(real_client, shared_data) -> None:
    t = inner_tile(real_client, LANDSAT_L2_ID, 10, (0.6, 0.4))
    dn, ok = tile_samples(l2_file(shared_data, "ST_B10.TIF"), t.z, t.x, t.y)
    kelvin = dn * 0.00341802 + 149.0
    safe = ok & (dn > 0)
    rgba = get_tile(real_client, t, product=LANDSAT_L2_ID, layer="THERMAL")
    expected = ramp(kelvin, LANDSAT_STYLES / "THERMAL.toml")
    assert safe.sum() > 20000 and 230 < np.median(kelvin[safe]) < 320
    assert np.abs(rgba[..., :3][safe].astype(int) - expected[safe]).max() <= 1


def test_level2_qa_layer_decodes_qa_pixel(real_client, shared_data) -> None:
    t = inner_tile(real_client, LANDSAT_L2_ID, 10, (0.5, 0.5))
    qa, ok = tile_samples(l2_file(shared_data, "QA_PIXEL.TIF"), t.z, t.x, t.y)
    rgb, valid = [], ok & (qa != 1)
    for band in (4, 3, 2):
        reflectance, band_ok = l2_reflectance(shared_data, band, t)
        rgb.append(reflectance)
        valid &= band_ok
    flags = {
        "water": bit(qa, WATER), "snow": bit(qa, SNOW), "cloud": bit(qa, CLOUD), "dilated": bit(qa, DILATED),
        "shadow": bit(qa, SHADOW), "cirrus": bit(qa, CIRRUS), "fill": bit(qa, FILL), "clear": bit(qa, CLEAR),
    }  # fmt: skip
    expected = qa_colours(flags, rgb)
    rgba = get_tile(real_client, t, product=LANDSAT_L2_ID, layer="QA")
    assert valid.sum() > 20000
    # The sample's QA holds cloud, dilated cloud, shadow and clear pixels here.
    assert flags["cloud"][valid].any() and flags["clear"][valid].any() and flags["shadow"][valid].any()
    assert np.abs(rgba[..., :3][valid].astype(int) - expected[valid]).max() <= 1
    assert (rgba[..., 3][valid] == 255).all()


def l1_toa(shared: Path, band: int, t: morecantile.Tile) -> tuple[np.ndarray, np.ndarray]:
    """Top-of-atmosphere reflectance, corrected for the sun's elevation, from the MTL's factors."""
    mtl = mtl_values(l1_file(shared, "MTL.txt"))
    dn, ok = tile_samples(l1_file(shared, f"B{band}.TIF"), t.z, t.x, t.y)
    mult, add = float(mtl[f"REFLECTANCE_MULT_BAND_{band}"]), float(mtl[f"REFLECTANCE_ADD_BAND_{band}"])
    return (mult * dn + add) / math.sin(math.radians(float(mtl["SUN_ELEVATION"]))), ok & (dn > 0)


def test_level1_true_color_is_toa_reflectance_from_the_mtl(real_client, shared_data) -> None:
    t = inner_tile(real_client, LANDSAT_L1_ID, 9)
    rgba = get_tile(real_client, t, product=LANDSAT_L1_ID, layer="TRUE_COLOR")
    safe = np.ones(rgba.shape[:2], dtype=bool)
    for channel, band in enumerate((4, 3, 2)):
        toa, ok = l1_toa(shared_data, band, t)
        safe &= ok
        diff = np.abs(rgba[..., channel][safe].astype(int) - highlight(toa)[safe])
        assert diff.mean() <= 8 and diff.max() <= 1
    assert safe.sum() > 20000


def test_level1_ndvi_and_brightness_temperature(real_client, shared_data) -> None:
    t = inner_tile(real_client, LANDSAT_L1_ID, 9, (0.4, 0.5))
    red, ok4 = l1_toa(shared_data, 4, t)
    nir, ok5 = l1_toa(shared_data, 5, t)
    ndvi = (nir - red) / (nir + red)
    steps = tomllib.loads((LANDSAT_STYLES / "NDVI.toml").read_text())["colormap"]["steps"]
    safe = ok4 & ok5 & (np.min(np.abs(ndvi[..., None] - np.array([b for b, _ in steps])), axis=-1) > 1e-4)
    rgba = get_tile(real_client, t, product=LANDSAT_L1_ID, layer="NDVI")
    assert np.abs(rgba[..., :3][safe].astype(int) - ndvi_palette(ndvi, LANDSAT_STYLES / "NDVI.toml")[safe]).mean() <= 1

    mtl = mtl_values(l1_file(shared_data, "MTL.txt"))
    dn, ok = tile_samples(l1_file(shared_data, "B10.TIF"), t.z, t.x, t.y)
    radiance = float(mtl["RADIANCE_MULT_BAND_10"]) * dn + float(mtl["RADIANCE_ADD_BAND_10"])
    kelvin = float(mtl["K2_CONSTANT_BAND_10"]) / np.log(float(mtl["K1_CONSTANT_BAND_10"]) / radiance + 1)
    safe = ok & (dn > 0)
    thermal = get_tile(real_client, t, product=LANDSAT_L1_ID, layer="THERMAL")
    assert safe.sum() > 20000 and 270 < np.median(kelvin[safe]) < 320  # North Carolina in August
    assert np.abs(thermal[..., :3][safe].astype(int) - ramp(kelvin, LANDSAT_STYLES / "THERMAL.toml")[safe]).max() <= 1


def test_collection_1_bqa_is_read_as_qa_pixel(real_client, shared_data) -> None:
    t = inner_tile(real_client, LANDSAT_L1_ID, 9)
    bqa, ok = tile_samples(l1_file(shared_data, "BQA.TIF"), t.z, t.x, t.y)
    codes = bqa.astype(np.int64)
    high = {name: (codes >> shift & 3) == 3 for name, shift in (("shadow", 7), ("snow", 9), ("cirrus", 11))}
    none = np.zeros(codes.shape, dtype=bool)
    flags = {
        "water": none, "dilated": none, "cloud": bit(codes, 4), "fill": bit(codes, 0),
        "clear": ~bit(codes, 0) & ~bit(codes, 4), **high,
    }  # fmt: skip
    rgb, valid = [], ok & (bqa != 1)
    for band in (4, 3, 2):
        toa, band_ok = l1_toa(shared_data, band, t)
        rgb.append(toa)
        valid &= band_ok
    rgba = get_tile(real_client, t, product=LANDSAT_L1_ID, layer="QA")
    assert valid.sum() > 20000 and flags["cloud"][valid].any() and flags["clear"][valid].any()
    assert np.abs(rgba[..., :3][valid].astype(int) - qa_colours(flags, rgb)[valid]).max() <= 1
    # Band math sees the translated bits: bit 3 is Collection 2's cloud, Collection 1's bit 4.
    cloud = get_tile(real_client, t, product=LANDSAT_L1_ID, expression="bit(BQA, 3)", rescale="0,1")
    assert (cloud[..., 0][valid] == np.where(flags["cloud"], 255, 0)[valid]).all()


@pytest.mark.parametrize("product", [LANDSAT_L2_ID, LANDSAT_L1_ID])
def test_every_layer_previews_and_tilejson(real_client, product) -> None:
    for layer in LAYERS:
        response = real_client.get("/preview.png", params={"product": product, "layer": layer, "width": 128})
        assert response.status_code == 200, (layer, response.text)
        assert decode(response.content)[..., 3].any()
    tilejson = real_client.get("/tilejson.json", params={"product": product}).json()
    assert tilejson["bounds"] == pytest.approx(real_client.get(f"/products/{product}").json()["bounds"])
    assert "landsat" in tilejson["attribution"].lower() or "u.s. geological survey" in tilejson["attribution"].lower()


def test_band_math_on_physical_values(real_client, shared_data) -> None:
    t = inner_tile(real_client, LANDSAT_L2_ID, 10, (0.6, 0.4))
    dn, ok = tile_samples(l2_file(shared_data, "ST_B10.TIF"), t.z, t.x, t.y)
    grey = get_tile(real_client, t, product=LANDSAT_L2_ID, expression="B10 - 273.15", rescale="0,40")
    expected = np.clip(np.round((dn * 0.00341802 + 149.0 - 273.15) / 40 * 255), 0, 255)
    safe = ok & (dn > 0)
    assert np.abs(grey[..., 0][safe].astype(int) - expected[safe]).max() <= 1
    red, ok4 = l2_reflectance(shared_data, 4, t)
    swir, ok7 = l2_reflectance(shared_data, 7, t)
    ratio = get_tile(real_client, t, product=LANDSAT_L2_ID, expression="B07 / B04", rescale="0,2")
    both = ok4 & ok7 & (red > 0.01)
    expected = np.clip(np.round(swir / red / 2 * 255), 0, 255)
    assert np.abs(ratio[..., 0][both].astype(int) - expected[both]).max() <= 1
    unknown = real_client.get(f"/tiles/10/{t.x}/{t.y}.png", params={"product": LANDSAT_L2_ID, "expression": "B08"})
    assert unknown.status_code == 400 and "B08" in unknown.json()["detail"]


# ---------------------------------------------------------------------------------------------
# Mosaics


def test_mosaic_cloud_mask_removes_qa_pixel_clouds(real_client, shared_data) -> None:
    t = inner_tile(real_client, LANDSAT_L2_ID, 10, (0.5, 0.5))
    common = {"collection": "landsat-c2-l2", "layer": "TRUE_COLOR", "time": "2019-12"}
    plain = get_tile(real_client, t, **common)
    masked = get_tile(real_client, t, **common, cloudmask="true")
    qa, ok = tile_samples(l2_file(shared_data, "QA_PIXEL.TIF"), t.z, t.x, t.y)
    _, data = l2_reflectance(shared_data, 4, t)
    cloudy = (qa.astype(np.int64) & 0b11110) != 0  # dilated cloud, cirrus, cloud, shadow
    inside = ok & data & (qa != 1)
    assert cloudy[inside].any() and (~cloudy)[inside].any()
    assert (masked[..., 3][inside & cloudy] == 0).all()
    assert (masked[inside & ~cloudy] == plain[inside & ~cloudy]).all()
    assert (plain[..., 3][inside] == 255).all()


def test_mosaic_max_cloud_cover(real_client) -> None:
    t = inner_tile(real_client, LANDSAT_L2_ID, 10)
    common = {"collection": "landsat-c2-l2", "layer": "NDVI"}
    assert get_tile(real_client, t, **common, maxcc="90")[..., 3].any()
    assert not get_tile(real_client, t, **common, maxcc="80")[..., 3].any()  # the scene has 81 %


# ---------------------------------------------------------------------------------------------
# OGC


def test_wms_and_wmts_capabilities_list_every_landsat_layer(real_client) -> None:
    wms = real_client.get("/wms", params={"SERVICE": "WMS", "REQUEST": "GetCapabilities", "VERSION": "1.3.0"})
    names = {el.text for el in ET.fromstring(wms.content).iter("{http://www.opengis.net/wms}Name")}
    wmts = real_client.get("/wmts", params={"SERVICE": "WMTS", "REQUEST": "GetCapabilities"}).text
    for collection in ("landsat-c2-l2", "landsat-c2-l1"):
        for layer in LAYERS:
            assert f"{collection}:{layer}" in names
            assert f">{collection}:{layer}<" in wmts


def test_wms_getmap_of_a_landsat_layer(real_client) -> None:
    response = real_client.get(
        "/wms",
        params={
            "SERVICE": "WMS", "REQUEST": "GetMap", "VERSION": "1.3.0", "LAYERS": "landsat-c2-l1:THERMAL",
            "STYLES": "", "CRS": "CRS:84", "BBOX": "-80.5,33,-79.5,33.5", "WIDTH": 64, "HEIGHT": 32,
            "FORMAT": "image/png",
        },
    )  # fmt: skip
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert decode(response.content)[..., 3].all()


def test_feature_info_gives_reflectance_kelvin_and_qa_flags(real_client, shared_data) -> None:
    lon, lat = -75.2, 1.3
    half = 0.01
    response = real_client.get(
        "/wms",
        params={
            "SERVICE": "WMS", "REQUEST": "GetFeatureInfo", "VERSION": "1.3.0", "STYLES": "",
            "LAYERS": "landsat-c2-l2:THERMAL", "QUERY_LAYERS": "landsat-c2-l2:THERMAL", "CRS": "CRS:84",
            "BBOX": f"{lon - half},{lat - half},{lon + half},{lat + half}", "WIDTH": 11, "HEIGHT": 11,
            "I": 5, "J": 5, "INFO_FORMAT": "application/json",
        },
    )  # fmt: skip
    (layer,) = response.json()["layers"]
    (entry,) = layer["products"]
    assert entry["product"] == LANDSAT_L2_ID
    at = (np.array([layer["lon"]]), np.array([layer["lat"]]))
    for band in (2, 4, 5):
        dn, _ = sample(l2_file(shared_data, f"SR_B{band}.TIF"), *at, "OGC:CRS84")
        assert entry["bands"][f"B0{band}"] == pytest.approx(dn[0] * 2.75e-5 - 0.2, abs=1e-4)
    dn, _ = sample(l2_file(shared_data, "ST_B10.TIF"), *at, "OGC:CRS84")
    assert entry["bands"]["B10"] == pytest.approx(dn[0] * 0.00341802 + 149.0, abs=1e-3)
    assert entry["value"] == [pytest.approx(entry["bands"]["B10"], abs=1e-3)]
    qa, _ = sample(l2_file(shared_data, "QA_PIXEL.TIF"), *at, "OGC:CRS84")
    names = ["Fill", "Dilated cloud", "Cirrus", "Cloud", "Cloud shadow", "Snow", "Clear", "Water"]
    assert entry["bqa"] == {"code": int(qa[0]), "flags": [n for i, n in enumerate(names) if int(qa[0]) >> i & 1]}
    text = real_client.get("/wms", params=dict(response.request.url.params) | {"INFO_FORMAT": "text/plain"}).text
    assert f"BQA: {int(qa[0])}" in text
    xml = real_client.get("/wms", params=dict(response.request.url.params) | {"INFO_FORMAT": "text/xml"})
    (node,) = ET.fromstring(xml.content).iter("BQA")
    assert node.get("code") == str(int(qa[0])) and node.text == ", ".join(entry["bqa"]["flags"])


def test_legends(real_client) -> None:
    def legend(layer: str) -> np.ndarray:
        response = real_client.get(
            "/wms", params={"SERVICE": "WMS", "REQUEST": "GetLegendGraphic", "VERSION": "1.3.0", "LAYER": layer}
        )
        assert response.status_code == 200 and response.headers["content-type"] == "image/png"
        return decode(response.content)[..., :3].reshape(-1, 3)

    qa = {tuple(c) for c in legend("landsat-c2-l2:QA")}
    assert {(0, 0, 204), (255, 0, 255), (225, 225, 225), (153, 102, 51), (102, 255, 255)} <= qa
    thermal = legend("landsat-c2-l1:THERMAL").astype(int)
    for end in ((0x00, 0x3D, 0x99), (0x3D, 0x02, 0x00)):  # the ramp's two ends, 223 K and 373 K
        assert np.abs(thermal - end).max(axis=1).min() <= 3


# ---------------------------------------------------------------------------------------------
# Partial and broken products


def copy_product(source: Path, target: Path, product_id: str, suffixes: list[str]) -> Path:
    target.mkdir(parents=True)
    for suffix in suffixes:
        shutil.copy(source / f"{product_id}_{suffix}", target / f"{product_id}_{suffix}")
    return target


L2_FILES = ["SR_B2.TIF", "SR_B3.TIF", "SR_B4.TIF", "SR_B5.TIF", "ST_B10.TIF", "QA_PIXEL.TIF"]


def test_level2_without_mtl_factors_or_mtl_falls_back_to_the_collection(tmp_path, shared_data, caplog) -> None:
    source = shared_data / LANDSAT_L2_REL
    no_factors = copy_product(source, tmp_path / "no-factors", LANDSAT_L2_ID, L2_FILES)
    text = (source / f"{LANDSAT_L2_ID}_MTL.txt").read_text()
    text = "\n".join(line for line in text.splitlines() if "_MULT_BAND" not in line and "_ADD_BAND" not in line)
    (no_factors / f"{LANDSAT_L2_ID}_MTL.txt").write_text(text)
    items_only = copy_product(source, tmp_path / "items-only", LANDSAT_L2_ID, [*L2_FILES, "SR_stac.json"])
    for root in (no_factors, items_only):
        with caplog.at_level(logging.WARNING):
            (product,) = list(MemoryCatalog([root]))
        assert product.id == LANDSAT_L2_ID and product.cloud_cover == 81.02
        assert (product.bands["B04"].scale, product.bands["B04"].offset) == (2.75e-5, -0.2)
        assert (product.bands["B10"].scale, product.bands["B10"].offset) == (0.00341802, 149.0)
    assert "gives no scale and offset for B04" in caplog.text
    (items,) = list(MemoryCatalog([items_only]))
    assert items.datetime.date().isoformat() == "2019-12-01" and items.tile == "008059"


def test_a_broken_mtl_txt_gives_way_to_the_json(tmp_path, shared_data) -> None:
    source = shared_data / LANDSAT_L2_REL
    root = copy_product(source, tmp_path / "p", LANDSAT_L2_ID, [*L2_FILES, "MTL.json"])
    (root / f"{LANDSAT_L2_ID}_MTL.txt").write_text('GROUP = LANDSAT_METADATA_FILE\n  X = "unterminated\n')
    (product,) = list(MemoryCatalog([root]))
    assert product.cloud_cover == 81.02 and product.datetime.hour == 15


def test_bad_products_are_reported_and_skipped_at_indexing(tmp_path, shared_data) -> None:
    l1 = shared_data / LANDSAT_L1_REL
    root = tmp_path / "root"
    no_factors = copy_product(l1, root / "l1-no-factors", LANDSAT_L1_ID, ["B4.TIF", "B3.TIF", "B2.TIF", "BQA.TIF"])
    text = (l1 / f"{LANDSAT_L1_ID}_MTL.txt").read_text()
    (no_factors / f"{LANDSAT_L1_ID}_MTL.txt").write_text(
        "\n".join(line for line in text.splitlines() if "REFLECTANCE_" not in line and "RADIANCE_" not in line)
    )
    other = copy_product(l1, root / "l1-other", LANDSAT_L1_ID, ["B4.TIF", "MTL.txt"])
    (other / f"{LANDSAT_L1_ID}_MTL.txt").write_text(text.replace(f'"{LANDSAT_L1_ID}"', '"LC08_L1TP_016037_X"'))
    garbage = copy_product(l1, root / "l1-garbage", LANDSAT_L1_ID, ["B4.TIF"])
    (garbage / f"{LANDSAT_L1_ID}_MTL.txt").write_bytes(b"\xff\xfe\x00not an mtl")
    catalog = SqliteCatalog(tmp_path / "catalog.sqlite", [root])
    report = catalog.update()
    failed = dict(report.failed)
    assert len(catalog) == 0 and len(failed) == 3
    assert "no spectral band" in failed[str(no_factors)]
    assert "describes another product" in failed[str(other)]
    assert "MTL" in failed[str(garbage)]


def test_a_missing_band_gives_a_clear_400(tmp_path, shared_data) -> None:
    source = shared_data / LANDSAT_L2_REL
    files = [f for f in L2_FILES if f != "SR_B5.TIF"] + ["MTL.txt", "SR_stac.json"]
    root = copy_product(source, tmp_path / "p", LANDSAT_L2_ID, files)
    client = TestClient(create_app(Settings(data_roots=(root,)), catalog=MemoryCatalog([root])))
    t = inner_tile(client, LANDSAT_L2_ID, 10)
    ndvi = client.get(f"/tiles/10/{t.x}/{t.y}.png", params={"product": LANDSAT_L2_ID, "layer": "NDVI"})
    assert ndvi.status_code == 400 and "needs band B05" in ndvi.json()["detail"]
    assert client.get(f"/tiles/10/{t.x}/{t.y}.png", params={"product": LANDSAT_L2_ID}).status_code == 200


def test_wmts_get_tile_with_the_cloud_mask_equals_the_xyz_mosaic(real_client) -> None:
    t = inner_tile(real_client, LANDSAT_L2_ID, 10)
    wmts = real_client.get(
        "/wmts",
        params={
            "SERVICE": "WMTS", "REQUEST": "GetTile", "VERSION": "1.0.0", "LAYER": "landsat-c2-l2:TRUE_COLOR",
            "STYLE": "default", "FORMAT": "image/png", "TILEMATRIXSET": "WebMercatorQuad", "TILEMATRIX": "10",
            "TILEROW": str(t.y), "TILECOL": str(t.x), "CLOUDMASK": "true", "TIME": "2019-12-01",
        },
    )  # fmt: skip
    assert wmts.status_code == 200, wmts.text
    xyz = get_tile(real_client, t, collection="landsat-c2-l2", layer="TRUE_COLOR", cloudmask="true", time="2019-12-01")
    assert (decode(wmts.content) == xyz).all() and xyz[..., 3].any() and not xyz[..., 3].all()
