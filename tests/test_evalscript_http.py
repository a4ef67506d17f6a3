"""Evalscripts through HTTP on the real samples: `evalscript=` on tiles, previews, TileJSON, WMS and
WMTS, `styles/*.js` layers, units, mosaics, and every refusal as a clear 4xx (or 503 for time)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import morecantile
import numpy as np
import pytest
import rasterio
from starlette.testclient import TestClient

from renderers.evalscript import compile_evalscript, render_evalscript
from styles import LayerError, load_layers
from tests.helpers import (
    COG_ID,
    EVALSCRIPTS,
    LANDSAT_L1_ID,
    LANDSAT_L2_ID,
    LAYER_SCRIPTS,
    S1_IW_ID,
    S1_SM_ID,
    SAFE_L2A_ID,
    WEB_MERCATOR,
    centre_tile,
    decode,
    evalscript_param,
    highlight,
    tile_samples,
)
from tiler.app import create_app
from tiler.collections import builtin_collections
from tiler.settings import Settings

L1C_SOURCE = "s2-l1c-jp2-crop-T33UUU-20170216/IMG_DATA"
L1C_ID = "S2A_MSIL1C_20170216T102101_T33UUU"
GLO30_ID = "Copernicus_DSM_COG_10_N00_00_E006_00_DEM"
POLAR_ID = "Copernicus_DSM_COG_30_S90_00_W164_00_DEM"  # GLO-90, 89-90 degrees south
WC_2020_ID = "ESA_WorldCover_10m_2020_v100_N00E006"
WC_2021_ID = "ESA_WorldCover_10m_2021_v200_N00E006"
CLC_ID = "U2018_CLC2018_V2020_20u1_FR_GLP"
# The zoom of the tiles each sample is checked at: finer than its bands, inside its extent (Sentinel-1:
# 200 m pixels; GLO-30: 31 m; the polar GLO-90 tile: 3 by 30 arc-seconds; WorldCover: 9.3 m; CORINE: 100 m).
ZOOMS = {
    COG_ID: 12, SAFE_L2A_ID: 11, L1C_ID: 14, LANDSAT_L2_ID: 9, LANDSAT_L1_ID: 9, S1_IW_ID: 11, S1_SM_ID: 11,
    GLO30_ID: 13, POLAR_ID: 10, WC_2020_ID: 15, WC_2021_ID: 15, CLC_ID: 12,
}  # fmt: skip
# The tile's point where the product's centre is no good: open sea in the SM swath (VH almost all
# below -20 dB), in the DEM (one height) and in CORINE, no data in WorldCover (87 % of its tile).
# SM: Mahé; GLO-30: São Tomé's west coast, sea, the shore (a few heights below 0) and slopes to
# 700 m; WorldCover: São Tomé town, 7 of the classes in 2021 and 8 in 2020; CORINE: Marie-Galante,
# every level-1 group (each at least 3.6 % of the tile).
PLACES = {
    S1_SM_ID: (55.46, -4.65), GLO30_ID: (6.48, 0.2), WC_2020_ID: (6.718, 0.357), WC_2021_ID: (6.718, 0.357),
    CLC_ID: (-61.3, 15.92),
}  # fmt: skip
# The polar DEM tile lies beyond Web Mercator's 85.06 degrees: its tiles there are empty.
TILE_MATRIX_SETS = {POLAR_ID: "WorldCRS84Quad"}
FEATURE_SCRIPTS = sorted(p.name for p in EVALSCRIPTS.glob("*.js") if p.name != "language_tour.js")  # 16 bands


def v3(body: str, inputs: str = '["B04", "dataMask"]', output: str = "{ bands: 1 }", top: str = "") -> str:
    return (
        f"//VERSION=3\nfunction setup() {{\n  return {{ input: {inputs}, output: {output} }};\n}}\n{top}\n"
        f"function evaluatePixel(s, scenes, inputMetadata) {{\n  {body}\n}}\n"
    )


@pytest.fixture(scope="module")
def l1c_root(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real L1C crop of 33UUU (the only sample with B10) as a band folder of GeoTIFFs, the same
    pixels, so the catalog finds it as an L1C product."""
    root = tmp_path_factory.mktemp("l1c")
    folder = root / L1C_ID
    folder.mkdir()
    for source in sorted((shared_data / L1C_SOURCE).glob("*.jp2")):
        with rasterio.open(source) as src:
            profile = {**src.profile, "driver": "GTiff", "nodata": 0}
            with rasterio.open(folder / f"{source.stem.rsplit('_', 1)[1]}.tif", "w", **profile) as dst:
                dst.write(src.read())
    return root


@pytest.fixture(scope="module")
def clients(real_app, shared_data: Path, l1c_root: Path) -> dict[str, TestClient]:
    """`toml`: the built-in layers; `js`: the same names from tests/evalscripts/layers/*.js, each over
    the real samples and the L1C copy."""
    apps = {
        "toml": create_app(Settings(data_roots=(shared_data, l1c_root))),
        "js": create_app(Settings(data_roots=(shared_data, l1c_root), layer_dirs=(LAYER_SCRIPTS,))),
    }
    return {name: TestClient(app, raise_server_exceptions=False) for name, app in apps.items()}


@pytest.fixture(scope="module")
def products(clients) -> dict[str, dict]:
    return {pid: clients["toml"].get(f"/products/{pid}").json() for pid in ZOOMS}


def tile_url(meta: dict) -> str:
    """The sample's tile: at the centre of its bounds, or at its point of PLACES, in Web Mercator or
    in its tile matrix set (then given by `tile_query`)."""
    pid, z = meta["id"], ZOOMS[meta["id"]]
    if pid in PLACES or pid in TILE_MATRIX_SETS:
        west, south, east, north = meta["bounds"]
        lon, lat = PLACES.get(pid, ((west + east) / 2, (south + north) / 2))
        t = morecantile.tms.get(TILE_MATRIX_SETS.get(pid, "WebMercatorQuad")).tile(lon, lat, z)
        z, x, y = t.z, t.x, t.y
    else:
        z, x, y = centre_tile(meta, z)
    return f"/tiles/{z}/{x}/{y}.png"


def tile_query(meta: dict) -> dict[str, str]:
    return {"tms": TILE_MATRIX_SETS[meta["id"]]} if meta["id"] in TILE_MATRIX_SETS else {}


def assert_same_picture(actual: np.ndarray, expected: np.ndarray, drawn: float = 0.5) -> None:
    difference = np.abs(actual.astype(int) - expected.astype(int))
    assert difference.max() <= 1, f"{(difference > 1).sum()} channel values differ by more than 1"
    assert (actual[..., 3] > 0).mean() > drawn  # most of the tile is drawn (or the share given)


# ---------------------------------------------------------------------------------------------
# Pixels


TOML_LAYERS = load_layers(builtin_collections())
SCRIPT_LAYERS = load_layers(builtin_collections(), LAYER_SCRIPTS)
# The layers that cannot be evalscripts: each pixel of a hillshade is lit by the slope its eight
# neighbours give, and an evalscript's evaluatePixel sees one pixel. Such layers read a margin of
# neighbours around the map (`spec.margin`), which the test below requires of each of them.
NEEDS_NEIGHBOURS = {("HILLSHADE", "cop-dem-glo-30"), ("HILLSHADE", "cop-dem-glo-90")}
# The samples each layer is drawn on: every collection with layers in styles/.
LAYER_SAMPLES = (
    (COG_ID, "sentinel-2-l2a"),
    (SAFE_L2A_ID, "sentinel-2-l2a"),
    (L1C_ID, "sentinel-2-l1c"),
    (LANDSAT_L2_ID, "landsat-c2-l2"),
    (LANDSAT_L1_ID, "landsat-c2-l1"),
    (S1_IW_ID, "sentinel-1-grd"),
    (S1_SM_ID, "sentinel-1-grd"),
    (GLO30_ID, "cop-dem-glo-30"),
    (POLAR_ID, "cop-dem-glo-90"),
    (WC_2020_ID, "esa-worldcover"),
    (WC_2021_ID, "esa-worldcover"),
    (CLC_ID, "corine-land-cover"),
)
# The samples that lack some bands of their collection, and the bands they have (each is checked
# against /products): a layer is drawn on a sample that has its bands. The IW sample is VV and VH,
# the SM sample VH alone (its VV file is missing upstream).
SAMPLE_BANDS = {S1_IW_ID: {"VV", "VH"}, S1_SM_ID: {"VH"}}
LAYER_CASES = [
    (layer.name, pid, collection)
    for layer in TOML_LAYERS
    for pid, collection in LAYER_SAMPLES
    if collection in layer.collections
    and (layer.name, collection) not in NEEDS_NEIGHBOURS
    and layer.bands <= SAMPLE_BANDS.get(pid, layer.bands)
]
# No real product here has HH or HV (SOURCES.md found none: both Sentinel-1 samples are VV/VH
# products): the HH and HV layers' scripts are drawn only by the engine, against their TOML layers,
# on synthetic bands through both paths (test_evalscript_layers.py's
# test_script_draws_the_toml_layer_on_synthetic_bands, which takes every layer of Sentinel-1, the
# DEM and the land-cover collections).
NO_REAL_SAMPLE = {(name, "sentinel-1-grd") for name in ("HH_DB", "HV_DB", "HH_LINEAR", "HV_LINEAR")}
# CORINE's level-1 layers leave every class but their group's transparent: in the sample's tile
# each group covers at least 3 % (wetlands 4.3 %, artificial surfaces 3.6 %), not most of it.
LEAST_DRAWN = {
    name: 0.03
    for name in ("CORINE_ARTIFICIAL", "CORINE_AGRICULTURAL", "CORINE_FOREST", "CORINE_WETLANDS", "CORINE_WATER")
}


def test_the_fixture_holds_every_layer_as_an_evalscript() -> None:
    """tests/evalscripts/layers/ (landsat/, sentinel-1/, dem/, worldcover/ and corine/ for those
    collections) has a script for every layer of styles/ but those that need neighbours."""
    every = {(layer.name, c) for layer in TOML_LAYERS for c in layer.collections}
    scripted = {(layer.name, c) for layer in SCRIPT_LAYERS for c in layer.collections}
    assert every - NEEDS_NEIGHBOURS == scripted
    # Exactly the layers that read neighbours are left out, and each of them does.
    with_margin = {(layer.name, c) for layer in TOML_LAYERS for c in layer.collections if layer.spec.margin > 0}
    assert with_margin == NEEDS_NEIGHBOURS
    assert all(layer.script is not None for layer in SCRIPT_LAYERS)
    assert {c for _, c in every} == {c for _, c in LAYER_SAMPLES}


def test_every_script_is_drawn_on_a_real_sample_or_else_on_synthetic_bands(clients, products) -> None:
    scripted = {(layer.name, c) for layer in SCRIPT_LAYERS for c in layer.collections}
    on_samples = {(name, collection) for name, _, collection in LAYER_CASES}
    assert on_samples | NO_REAL_SAMPLE == scripted and not on_samples & NO_REAL_SAMPLE
    for pid, bands in SAMPLE_BANDS.items():
        assert set(products[pid]["bands"]) == bands, pid
    # Every Sentinel-1 product of the samples is one of LAYER_SAMPLES, and none has HH or HV.
    found = clients["toml"].get("/search", params={"collection": "sentinel-1-grd", "limit": 100}).json()["features"]
    assert {f["id"] for f in found} == {pid for pid, c in LAYER_SAMPLES if c == "sentinel-1-grd"}
    assert all(not {"HH", "HV"} & set(f["properties"]["sar:polarizations"]) for f in found)


@pytest.mark.parametrize(("name", "product", "collection"), LAYER_CASES)
def test_every_layer_as_an_evalscript_draws_the_toml_layers_tile(clients, products, name, product, collection) -> None:
    """The same name as a styles/*.js layer and as evalscript= of that file: the TOML layer's pixels within 1."""
    url, query = tile_url(products[product]), {**tile_query(products[product]), "product": product}
    expected = decode(clients["toml"].get(url, params={**query, "layer": name}).content)
    as_layer = clients["js"].get(url, params={**query, "layer": name})
    assert as_layer.status_code == 200, as_layer.text
    layer = SCRIPT_LAYERS.get(name, collection)
    assert layer is not None and layer.script is not None
    as_parameter = clients["toml"].get(url, params={**query, "evalscript": evalscript_param(layer.script.text)})
    assert as_parameter.status_code == 200, as_parameter.text
    assert_same_picture(decode(as_layer.content), expected, LEAST_DRAWN.get(name, 0.5))
    np.testing.assert_array_equal(decode(as_parameter.content), decode(as_layer.content))


def independent_bands(client, product: str, bands, z: int, x: int, y: int):
    """The tile's bands read with rasterio at the pixel centres (nearest), physical as the product's
    metadata says, the mask of pixels with data, and where every band's source pixel is unambiguous."""
    services = client.app.state.services
    assets = services.catalog.resolve(product).bands
    values, valid, safe = {}, np.ones((256, 256), bool), np.ones((256, 256), bool)
    for band in bands:
        asset = assets[band]
        dn, ok = tile_samples(asset.path, z, x, y)
        valid &= dn != 0
        safe &= ok
        if asset.is_class:
            values[band] = dn.astype(np.float32)
        else:
            physical = (dn.astype(np.float32) + np.float32(asset.offset / asset.scale)) / np.float32(1 / asset.scale)
            values[band] = np.maximum(physical, np.float32(asset.minimum or 0))
    return values, valid, safe


@pytest.mark.parametrize("name", FEATURE_SCRIPTS)
def test_each_feature_script_draws_through_http_what_the_engine_draws_from_the_files(clients, products, name) -> None:
    """The twelve reference scripts' features, each in a test script of our own: the tile route's
    pixels equal the engine's drawing of the bands read straight from the files (the engine itself
    is checked against numpy in test_evalscript_features.py)."""
    text = (EVALSCRIPTS / name).read_text()
    script = compile_evalscript(text)
    product = L1C_ID if "B10" in script.bands else COG_ID
    z, x, y = centre_tile(products[product], ZOOMS[product])
    response = clients["toml"].get(
        f"/tiles/{z}/{x}/{y}.png", params={"product": product, "evalscript": evalscript_param(text)}
    )
    assert response.status_code == 200, response.text
    bands, valid, safe = independent_bands(clients["toml"], product, script.bands, z, x, y)
    expected = render_evalscript(script, bands, valid, timeout=30)
    actual = decode(response.content)
    assert safe.sum() > 2000  # pixels where every band's source pixel is unambiguous
    difference = np.abs(actual.astype(int) - expected.astype(int))[safe]
    assert difference.max() <= 1, f"{(difference > 1).sum()} channel values differ by more than 1"


def test_standard_base64_and_an_unescaped_plus_decode_too(clients, products) -> None:
    text = (LAYER_SCRIPTS / "TRUE_COLOR.js").read_text() + "\n// ??>>" * 40  # '+' and '/' in standard base64
    standard = evalscript_param(text, urlsafe=False)
    assert "+" in standard and "/" in standard
    url = tile_url(products[COG_ID])
    pictures = []
    for raw in (standard, standard.replace("+", " "), evalscript_param(text)):
        response = clients["toml"].get(url, params={"product": COG_ID, "evalscript": raw})
        assert response.status_code == 200, response.text
        pictures.append(decode(response.content))
    np.testing.assert_array_equal(pictures[0], pictures[1])
    np.testing.assert_array_equal(pictures[0], pictures[2])


def test_true_colour_evalscript_matches_numpy_on_a_baseline_04_product(clients, products) -> None:
    """29UNU has BOA_ADD_OFFSET -1000: REFLECTANCE inputs see (DN - 1000) / 10000."""
    meta = products[SAFE_L2A_ID]
    west, south, east, north = meta["bounds"]
    t = WEB_MERCATOR.tile(west + 0.25 * (east - west), south + 0.5 * (north - south), 12)
    text = (LAYER_SCRIPTS / "TRUE_COLOR.js").read_text()
    response = clients["toml"].get(
        f"/tiles/12/{t.x}/{t.y}.png", params={"product": SAFE_L2A_ID, "evalscript": evalscript_param(text)}
    )
    rgba = decode(response.content)
    assets = clients["toml"].app.state.services.catalog.resolve(SAFE_L2A_ID).bands
    safe = np.ones(rgba.shape[:2], bool)
    for channel, band in enumerate(("B04", "B03", "B02")):
        dn, ok = tile_samples(assets[band].path, 12, t.x, t.y)
        safe &= ok & (dn > 0)
        expected = highlight(np.maximum(dn - 1000, 0) / 10000)
        assert np.abs(rgba[..., channel][safe].astype(int) - expected[safe]).max() <= 1
    assert safe.sum() > 5000 and (rgba[..., 3][safe] == 255).all()


def pixel_info(client, product: str, layer: str, script: str, band: str, minimum: float) -> tuple[dict, dict]:
    """GetFeatureInfo of one source pixel of `band` (its DN over `minimum`, in the middle rows of the
    file's left half) drawn as a 1 x 1 WMS map with `script`: the entry, and every band's DN there."""
    assets = client.app.state.services.catalog.resolve(product).bands
    with rasterio.open(assets[band].path) as src:
        top_row, left_col = src.height // 2, src.width // 4
        data = src.read(1, window=((top_row, top_row + 64), (left_col, left_col + 64)))
        row, col = np.argwhere(data > minimum)[0] + (top_row, left_col)
        left, top = src.transform * (col, row)
        right, bottom = src.transform * (col + 1, row + 1)
        crs, grid = src.crs.to_string(), src.transform
    dns = {}
    for name, asset in assets.items():
        with rasterio.open(asset.path) as src:
            if src.transform == grid:  # the bands on the same pixels
                dns[name] = int(src.read(1, window=((row, row + 1), (col, col + 1)))[0, 0])
    response = client.get(
        "/wms",
        params={
            "SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetFeatureInfo", "CRS": crs,
            "BBOX": f"{left},{bottom},{right},{top}", "WIDTH": 1, "HEIGHT": 1, "I": 0, "J": 0,
            "LAYERS": layer, "QUERY_LAYERS": layer, "INFO_FORMAT": "application/json", "PRODUCT": product,
            "EVALSCRIPT": evalscript_param(script),
        },
    )  # fmt: skip
    return response.json()["layers"][0]["products"][0], dns


@pytest.mark.parametrize(("product", "offset"), [(SAFE_L2A_ID, 1000), (COG_ID, 0)])
def test_dn_units_and_normalization_factor_in_feature_info(clients, product, offset) -> None:
    """DN inputs are the collection's digital numbers (the baseline offset left out, as Sentinel Hub's
    harmonizeValues does): one source pixel as a 1 x 1 WMS map, its values by GetFeatureInfo."""
    script = v3(
        "return [s.B04, s.B03, inputMetadata.normalizationFactor, s.dataMask];",
        inputs='[{ bands: ["B04"], units: "DN" }, { bands: ["B03", "dataMask"] }]',
        output='{ bands: 4, sampleType: "FLOAT32" }',
    )
    entry, dns = pixel_info(clients["toml"], product, "sentinel-2-l2a:TRUE_COLOR", script, "B04", offset + 100)
    assert entry["value"] == [dns["B04"] - offset, entry["bands"]["B03"], 0.0001, 1.0]
    assert entry["bands"]["B04"] == round((dns["B04"] - offset) / 10000, 5)


def test_dn_units_of_a_landsat_level_1_scene_are_its_own(clients) -> None:
    """Landsat Level-1 factors differ from scene to scene: DN are the file's, for TOA reflectance and
    for the brightness temperature of a thermal band alike."""
    script = v3(
        "return [s.B04, s.B10, s.dataMask];",
        inputs='[{ bands: ["B04", "B10"], units: "DN" }, "dataMask"]',
        output='{ bands: 3, sampleType: "FLOAT32" }',
    )
    entry, dns = pixel_info(clients["toml"], LANDSAT_L1_ID, "landsat-c2-l1:TRUE_COLOR", script, "B04", 5000)
    assert entry["value"] == [dns["B04"], dns["B10"], 1.0]
    assert 200 < entry["bands"]["B10"] < 350  # the band itself is a temperature in kelvin


def test_a_mosaic_draws_an_evalscript_as_it_draws_the_layer(clients, products) -> None:
    url = tile_url(products[COG_ID])
    mosaic = {"collection": "sentinel-2-l2a", "time": "2020-02", "cloudmask": "true"}
    expected = clients["toml"].get(url, params={**mosaic, "layer": "NDVI"})
    script = evalscript_param((LAYER_SCRIPTS / "NDVI.js").read_text())
    actual = clients["toml"].get(url, params={**mosaic, "evalscript": script})
    assert actual.status_code == 200, actual.text
    assert_same_picture(decode(actual.content), decode(expected.content))
    # The cloud mask took the clouds out of both.
    assert ((decode(actual.content)[..., 3] == 0) == (decode(expected.content)[..., 3] == 0)).all()


def test_preview_of_a_product(clients) -> None:
    script = evalscript_param((LAYER_SCRIPTS / "SWIR.js").read_text())
    response = clients["toml"].get("/preview.png", params={"product": COG_ID, "width": 300, "evalscript": script})
    expected = clients["toml"].get("/preview.png", params={"product": COG_ID, "width": 300, "layer": "SWIR"})
    assert response.status_code == 200, response.text
    assert_same_picture(decode(response.content), decode(expected.content))


def test_tilejson_keeps_the_evalscript_in_its_tile_urls(clients, products) -> None:
    script = evalscript_param((LAYER_SCRIPTS / "TRUE_COLOR.js").read_text())
    tilejson = clients["toml"].get("/tilejson.json", params={"product": COG_ID, "evalscript": script}).json()
    template = tilejson["tiles"][0]
    assert f"evalscript={script}" in template
    z, x, y = centre_tile(products[COG_ID], 12)
    from_template = clients["toml"].get(template.format(z=z, x=x, y=y).removeprefix("http://testserver"))
    direct = clients["toml"].get(f"/tiles/{z}/{x}/{y}.png", params={"product": COG_ID, "evalscript": script})
    assert from_template.status_code == 200
    assert from_template.content == direct.content
    broken = clients["toml"].get(
        "/tilejson.json", params={"product": COG_ID, "evalscript": evalscript_param("return [B04 +];")}
    )
    assert broken.status_code == 400 and "line 1, column" in broken.json()["detail"]


def wms_map(client, product: str, bounds, **extra: str):
    return client.get(
        "/wms",
        params={
            "SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "CRS": "EPSG:3857",
            "BBOX": ",".join(map(repr, bounds)), "WIDTH": 256, "HEIGHT": 256, "FORMAT": "image/png",
            "TRANSPARENT": "true", "PRODUCT": product, **extra,
        },
    )  # fmt: skip


@pytest.mark.parametrize("name", ["EVALSCRIPT", "evalscript"])
def test_wms_getmap_draws_the_evalscript_over_the_named_layer(clients, products, name) -> None:
    z, x, y = centre_tile(products[COG_ID], 12)
    bounds = tuple(WEB_MERCATOR.xy_bounds(x, y, z))
    script = evalscript_param((LAYER_SCRIPTS / "NDVI.js").read_text())
    drawn = wms_map(clients["toml"], COG_ID, bounds, LAYERS="sentinel-2-l2a:TRUE_COLOR", **{name: script})
    layer = wms_map(clients["toml"], COG_ID, bounds, LAYERS="sentinel-2-l2a:NDVI")
    assert drawn.headers["content-type"] == "image/png", drawn.text
    assert_same_picture(decode(drawn.content), decode(layer.content))
    tile = clients["toml"].get(f"/tiles/{z}/{x}/{y}.png", params={"product": COG_ID, "evalscript": script})
    np.testing.assert_array_equal(decode(drawn.content), decode(tile.content))


def test_wms_and_wmts_report_a_refused_script_in_their_own_form(clients, products) -> None:
    z, x, y = centre_tile(products[COG_ID], 12)
    bounds = tuple(WEB_MERCATOR.xy_bounds(x, y, z))
    broken = evalscript_param(v3("return [s.B04 *];"))
    report = wms_map(clients["toml"], COG_ID, bounds, LAYERS="sentinel-2-l2a:TRUE_COLOR", EVALSCRIPT=broken)
    message = ET.fromstring(report.content).find("{http://www.opengis.net/ogc}ServiceException").text
    assert "syntax error: line 7, column" in message
    wmts = clients["toml"].get(
        "/wmts",
        params={
            "SERVICE": "WMTS", "REQUEST": "GetTile", "VERSION": "1.0.0", "LAYER": "sentinel-2-l2a:TRUE_COLOR",
            "STYLE": "default", "FORMAT": "image/png", "TILEMATRIXSET": "WebMercatorQuad", "TILEMATRIX": z,
            "TILEROW": y, "TILECOL": x, "PRODUCT": COG_ID, "EVALSCRIPT": broken,
        },
    )  # fmt: skip
    assert wmts.status_code == 400
    exception = ET.fromstring(wmts.content).find("{http://www.opengis.net/ows/1.1}Exception")
    assert exception.get("locator") == "evalscript" and "line 7" in exception.findtext("{*}ExceptionText")


def test_wmts_gettile_draws_the_evalscript_like_the_xyz_tile(clients, products) -> None:
    z, x, y = centre_tile(products[COG_ID], 12)
    script = evalscript_param((LAYER_SCRIPTS / "MOISTURE_INDEX.js").read_text())
    wmts = clients["toml"].get(
        "/wmts",
        params={
            "SERVICE": "WMTS", "REQUEST": "GetTile", "VERSION": "1.0.0", "LAYER": "sentinel-2-l2a:TRUE_COLOR",
            "STYLE": "default", "FORMAT": "image/png", "TILEMATRIXSET": "WebMercatorQuad", "TILEMATRIX": z,
            "TILEROW": y, "TILECOL": x, "PRODUCT": COG_ID, "EVALSCRIPT": script,
        },
    )  # fmt: skip
    xyz = clients["toml"].get(f"/tiles/{z}/{x}/{y}.png", params={"product": COG_ID, "evalscript": script})
    assert wmts.status_code == 200 and wmts.content == xyz.content


# ---------------------------------------------------------------------------------------------
# Refusals


@pytest.mark.parametrize(
    ("script", "words"),
    [
        (v3("return [s.B04 +];"), ["syntax error: line 7, column"]),
        (v3("return [undefinedFunction(s.B04)];"), ["ReferenceError", "undefinedFunction", "line 7"]),
        (v3("return [s.B04.foo.bar];"), ["TypeError", "line 7"]),
        (v3("return [s.B10];", inputs='["B10"]'), ["B10", "lacks"]),
        ("return [B04 * B10];", ["B10", "lacks"]),
        (v3("return [s.B04];", output="{ bands: 5 }"), ["5 bands", "RGBA"]),
        ("//VERSION=2\nreturn [B04];", ["VERSION=2"]),
        (v3("return [0];", inputs='["B04"], mosaicking: "ORBIT"'), ["ORBIT", "array of samples", "scenes' metadata"]),
        (v3("return [0];", inputs='["B04"], mosaicking: "TILE"'), ["TILE", "array of samples", "scenes' metadata"]),
        (v3("return [s.B04];", inputs='[{ bands: ["B04"], units: "RADIANCE" }]'), ["units", "RADIANCE"]),
        ("", ["base64"]),
    ],
)
def test_a_refused_script_is_a_400_with_the_engines_message(clients, products, script, words) -> None:
    raw = evalscript_param(script) if script else "!!not base64!!"
    response = clients["toml"].get(tile_url(products[COG_ID]), params={"product": COG_ID, "evalscript": raw})
    assert response.status_code == 400, response.text
    detail = response.json()["detail"]
    assert all(word in detail for word in words), detail


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"evalscript": evalscript_param("return [B04];"), "expression": "B04"}, ["leave out expression"]),
        ({"evalscript": evalscript_param("return [B04];"), "rescale": "0,1"}, ["leave out"]),
        ({"evalscript": "abcde"}, ["base64"]),
    ],
)
def test_evalscript_does_not_mix_with_band_math(clients, products, params, words) -> None:
    response = clients["toml"].get(tile_url(products[COG_ID]), params={"product": COG_ID, **params})
    assert response.status_code == 400
    assert all(word in response.json()["detail"] for word in words)


def test_a_script_that_is_not_utf8_is_refused(clients, products) -> None:
    import base64

    raw = base64.b64encode(b"return [B04]; // \xff\xfe").decode()
    response = clients["toml"].get(tile_url(products[COG_ID]), params={"product": COG_ID, "evalscript": raw})
    assert response.status_code == 400 and "UTF-8" in response.json()["detail"]


# ---------------------------------------------------------------------------------------------
# Hostile scripts: refused or stopped in time, and the app serves on


@pytest.fixture(scope="module")
def strict(real_app, shared_data: Path) -> TestClient:
    """An app with a short render deadline, over the session's catalog."""
    app = create_app(Settings(data_roots=(shared_data,), render_timeout=3.0), catalog=real_app.state.services.catalog)
    return TestClient(app, raise_server_exceptions=False)


HOSTILE = [
    (v3("while (true) {}\n  return [0];"), 503, []),  # the engine's deadline or the render pool's
    (v3("return [0];", top="while (true) {}"), 503, ["deadline"]),
    (v3("var a = [];\n  while (true) a.push(new Array(1e6).fill(s.B04));\n  return [0];"), 400, ["256 MiB"]),
    (v3("let big = 'x';\n  while (true) big = big + big;\n  return [0];"), 400, ["RangeError"]),
    (v3("return [this.constructor.constructor('return 1')()];"), 400, ["Code generation from strings"]),
    (v3("return [eval('s.B04')];"), 400, ["Code generation from strings"]),
    (v3("return [Function('return 1')()];"), 400, ["Code generation from strings"]),
    (v3("return [require('fs') ? 1 : 0];"), 400, ["ReferenceError", "require"]),
    (v3("return [process.exit(1)];"), 400, ["ReferenceError", "process"]),
    (v3("return [fetch('http://127.0.0.1/') ? 1 : 0];"), 400, ["ReferenceError", "fetch"]),
]


@pytest.mark.parametrize(("script", "status", "words"), HOSTILE)
def test_hostile_scripts_get_their_status_and_the_app_serves_on(strict, products, script, status, words) -> None:
    url = tile_url(products[COG_ID])
    response = strict.get(url, params={"product": COG_ID, "evalscript": evalscript_param(script)})
    assert response.status_code == status, response.text
    assert all(word.lower() in response.json()["detail"].lower() for word in words), response.json()["detail"]
    if status == 503:
        assert response.headers["retry-after"]
    after = strict.get(url, params={"product": COG_ID, "layer": "TRUE_COLOR", "tilesize": 512})
    assert after.status_code == 200 and decode(after.content)[..., 3].max() == 255


def test_prototype_pollution_stays_in_its_own_script(strict, products) -> None:
    url = tile_url(products[COG_ID])
    true_colour = evalscript_param((LAYER_SCRIPTS / "TRUE_COLOR.js").read_text())
    before = strict.get(url, params={"product": COG_ID, "evalscript": true_colour}).status_code == 200
    polluter = v3(
        "return [0.5];",
        top="Array.prototype.map = function () { return [1, 1, 1, 1]; };\n"
        "Object.prototype.B04 = 1;\nMath.min = function () { return 1; };\n"
        "HighlightCompressVisualizer.prototype.process = function () { return 1; };",
    )
    assert strict.get(url, params={"product": COG_ID, "evalscript": evalscript_param(polluter)}).status_code == 200
    # A fresh render (another size) of the first script after the second ran: the layer's pixels.
    after = strict.get(url, params={"product": COG_ID, "evalscript": true_colour, "tilesize": 512})
    layer = strict.get(url, params={"product": COG_ID, "layer": "TRUE_COLOR", "tilesize": 512})
    assert after.status_code == 200 and before
    assert_same_picture(decode(after.content), decode(layer.content))


# ---------------------------------------------------------------------------------------------
# Layers written as evalscripts


def test_script_layers_are_listed_in_layers_and_the_capabilities(clients) -> None:
    layers = clients["js"].get("/layers").json()["layers"]
    needs_neighbours = {name for name, _ in NEEDS_NEIGHBOURS}  # still the TOML layers
    assert {p.stem for p in LAYER_SCRIPTS.rglob("*.js")} | needs_neighbours == {layer["name"] for layer in layers}
    assert {layer["name"] for layer in layers if not layer["evalscript"]} == needs_neighbours
    listing = {layer["name"]: layer for layer in layers if "sentinel-2-l2a" in layer["collections"]}
    assert listing["NDVI"]["title"] == "NDVI (evalscript)" and listing["NDVI"]["bands"] == ["B04", "B08"]
    assert listing["SCL"]["collections"] == ["sentinel-2-l2a"]
    wms = ET.fromstring(clients["js"].get("/wms", params={"SERVICE": "WMS", "REQUEST": "GetCapabilities"}).content)
    names = {node.text: node for node in wms.iter("{http://www.opengis.net/wms}Name")}
    assert {"sentinel-2-l2a:NDVI", "sentinel-2-l2a:SCL", "sentinel-2-l1c:TRUE_COLOR"} <= set(names)
    titles = [node.text for node in wms.iter("{http://www.opengis.net/wms}Title")]
    assert "NDVI (evalscript) (Sentinel-2 L2A)" in titles
    wmts = clients["js"].get("/wmts/1.0.0/WMTSCapabilities.xml").text
    assert "sentinel-2-l1c:FALSE_COLOR_URBAN" in wmts and "False color (urban) (evalscript)" in wmts
    legend = clients["js"].get(
        "/wms",
        params={"SERVICE": "WMS", "REQUEST": "GetLegendGraphic", "LAYER": "sentinel-2-l2a:NDVI", "FORMAT": "image/png"},
    )
    assert legend.headers["content-type"] == "image/png" and decode(legend.content).shape[1] > 50


def test_a_script_layer_through_wms_and_wmts(clients, products) -> None:
    z, x, y = centre_tile(products[COG_ID], 12)
    bounds = tuple(WEB_MERCATOR.xy_bounds(x, y, z))
    js = wms_map(clients["js"], COG_ID, bounds, LAYERS="sentinel-2-l2a:FALSE_COLOR")
    toml = wms_map(clients["toml"], COG_ID, bounds, LAYERS="sentinel-2-l2a:FALSE_COLOR")
    assert_same_picture(decode(js.content), decode(toml.content))
    tile = clients["js"].get(
        f"/wmts/1.0.0/sentinel-2-l2a:SCL/default/2020-02-19/WebMercatorQuad/{z}/{y}/{x}.png", params={"PRODUCT": COG_ID}
    )
    expected = clients["toml"].get(f"/tiles/{z}/{x}/{y}.png", params={"product": COG_ID, "layer": "SCL"})
    assert tile.status_code == 200, tile.text
    assert_same_picture(decode(tile.content), decode(expected.content))


def test_feature_info_of_a_script_layer_gives_its_output(clients, products) -> None:
    z, x, y = centre_tile(products[COG_ID], 12)
    bounds = WEB_MERCATOR.xy_bounds(x, y, z)
    info = clients["js"].get(
        "/wms",
        params={
            "SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetFeatureInfo", "CRS": "EPSG:3857",
            "BBOX": ",".join(map(repr, bounds)), "WIDTH": 256, "HEIGHT": 256, "I": 128, "J": 128,
            "LAYERS": "sentinel-2-l2a:TRUE_COLOR", "QUERY_LAYERS": "sentinel-2-l2a:TRUE_COLOR",
            "INFO_FORMAT": "application/json", "PRODUCT": COG_ID,
        },
    ).json()  # fmt: skip
    entry = info["layers"][0]["products"][0]
    expected = np.array([entry["bands"][b] for b in ("B04", "B03", "B02")]) / 0.4
    # EO Browser's highlight compression: linear to 0.92, then the flatter line to (2, 1).
    expected = np.clip(np.where(expected < 0.92, expected, 0.92 + (expected - 0.92) * 0.08 / 1.08), 0, 1)
    assert entry["value"][:3] == pytest.approx(list(expected), abs=1e-4) and entry["value"][3] == 1.0


def layer_file(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


HEADER = '/*\ntitle = "T"\ndescription = "D"\ncollections = ["sentinel-2-l2a"]\n*/\n'


@pytest.mark.parametrize(
    ("name", "text", "words"),
    [
        ("BROKEN.js", "//VERSION=3\n" + HEADER + "function setup( {", ["BROKEN.js", "syntax error: line 7"]),
        ("NO_HEADER.js", v3("return [s.B04];"), ["NO_HEADER.js", "header"]),
        (
            "B10.js",
            "//VERSION=3\n" + HEADER + v3("return [s.B10];", inputs='["B10"]')[12:],
            ["B10.js", "B10", "sentinel-2-l2a"],
        ),
        ("ORBIT.js", HEADER + v3("return [0];", inputs='["B04"], mosaicking: "ORBIT"'), ["ORBIT.js", "ORBIT"]),
        (
            "ELSEWHERE.js",
            HEADER.replace("sentinel-2-l2a", "landsat-9") + "return [B04];",
            ["ELSEWHERE.js", "landsat-9"],
        ),
        (
            "EXTRA.js",
            HEADER.replace('title = "T"', 'title = "T"\nbands = ["B04"]') + "return [B04];",
            ["EXTRA.js", "bands"],
        ),
    ],
)
def test_a_broken_script_layer_stops_the_start_up_with_its_name(tmp_path: Path, name, text, words) -> None:
    layer_file(tmp_path, name, text)
    with pytest.raises(LayerError) as info:
        load_layers(builtin_collections(), tmp_path)
    assert all(word in str(info.value) for word in words), str(info.value)


def test_a_toml_and_a_script_layer_of_one_name_in_one_folder_clash(tmp_path: Path) -> None:
    layer_file(tmp_path, "TWICE.js", HEADER + "return [B04];")
    layer_file(tmp_path, "TWICE.toml", 'title = "T"\ncollections = ["sentinel-2-l2a"]\nexpression = "B04"\n')
    with pytest.raises(LayerError, match="also defined"):
        load_layers(builtin_collections(), tmp_path)


def test_a_simple_script_layer_with_its_header_after_the_version_line(tmp_path: Path) -> None:
    layer_file(tmp_path, "GREY.js", "//VERSION=3\n" + HEADER + "return [B04 * 2.5, dataMask];")
    layer = load_layers(builtin_collections(), tmp_path).get("GREY", "sentinel-2-l2a")
    assert layer is not None and layer.bands == {"B04"} and layer.script is not None and layer.spec is None
    assert json.loads(json.dumps(layer.to_json()))["evalscript"] is True
