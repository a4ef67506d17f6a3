"""Sentinel-1 GRD end to end: the two real samples (IW DV, and SM with VH alone, both in AWS's
sentinel-s1-l1c layout, placed by GCPs), a SAFE with a calibration XML made here around the real
IW pixels, and the demo archive's two passes. Pixels are checked against an independent warp of
the whole measurement file through its GCPs (tests.helpers.gcp_warp) and EO Browser's formulas."""

from __future__ import annotations

import json
import math
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import morecantile
import numpy as np
import pytest
import rasterio
from shapely.geometry import Point, shape
from starlette.testclient import TestClient

from tests.helpers import (
    S1_IW_ID,
    S1_IW_REL,
    S1_SCALE,
    S1_SM_ID,
    S1_SM_REL,
    WEB_MERCATOR,
    decibel_grey,
    decode,
    gcp_warp,
    source_pixel,
    uncalibrated_intensity,
)
from tiler.app import create_app
from tiler.catalog import MemoryCatalog
from tiler.settings import Settings

MAX_MEAN_DIFF = 8  # grey levels, the bound


@pytest.fixture(scope="module")
def iw(shared_data) -> Path:
    return shared_data / S1_IW_REL


@pytest.fixture(scope="module")
def sm(shared_data) -> Path:
    return shared_data / S1_SM_REL


def _tile(lon: float, lat: float, z: int) -> morecantile.Tile:
    return WEB_MERCATOR.tile(lon, lat, z)


def _bounds(tile: morecantile.Tile) -> tuple[float, float, float, float]:
    return tuple(WEB_MERCATOR.xy_bounds(tile))  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------
# Products and their metadata


def test_samples_are_sentinel1_products_with_their_metadata(real_client) -> None:
    iw = real_client.get(f"/products/{S1_IW_ID}").json()
    assert iw["collection"] == "sentinel-1-grd" and iw["platform"] == "sentinel-1a"
    assert iw["datetime"] == "2018-07-16T00:40:42Z" and iw["processing_baseline"] == "002.91"
    assert sorted(iw["bands"]) == ["VH", "VV"] and iw["crs"] == "EPSG:4326"
    props = iw["properties"]
    assert props["sar:instrument_mode"] == "IW" and props["sar:polarizations"] == ["VV", "VH"]
    # Lines run southwards: a descending pass (00:40 UTC is 05:50 local time over India, as S1's are).
    assert props["sat:orbit_state"] == "descending"
    assert props["sat:absolute_orbit"] == 22812 and props["sat:relative_orbit"] == (22812 - 73) % 175 + 1
    # No calibration XML in the sample: the metadata says what the values are, and that they are not gamma0.
    assert props["s1:calibration"] == "none" and "not gamma0" in props["s1:values"]
    assert "700" in props["s1:values"] and math.isclose(S1_SCALE, 1 / 700**2)

    sm = real_client.get(f"/products/{S1_SM_ID}").json()
    assert sm["properties"]["sar:instrument_mode"] == "SM" and sm["properties"]["s1:beam"] == "S1"
    # productInfo.json lists a VV file that the archive copy lacks: VH alone is served.
    assert list(sm["bands"]) == ["VH"] and sm["properties"]["sar:polarizations"] == ["VH"]
    assert sm["properties"]["sat:orbit_state"] == "descending"


@pytest.mark.parametrize("rel", [S1_IW_REL, S1_SM_REL])
def test_bounds_and_footprint_come_from_the_gcps(real_client, shared_data, rel) -> None:
    folder = shared_data / rel
    info = json.loads((folder / "productInfo.json").read_text())
    meta = real_client.get(f"/products/{info['id']}").json()
    measurement = next((folder / "measurement").glob("*.tiff"))
    with rasterio.open(measurement) as src:
        gcps, _ = src.gcps
    lon, lat = [g.x for g in gcps], [g.y for g in gcps]
    assert meta["bounds"] == pytest.approx([min(lon), min(lat), max(lon), max(lat)])
    footprint = shape(meta["footprint"])
    # Every GCP lies in the footprint (the hull, simplified within a metre).
    assert all(footprint.buffer(2e-5).contains(Point(x, y)) for x, y in zip(lon, lat, strict=True))
    # ESA's own footprint (productInfo.json) has the same corners, within 0.01 degrees.
    rings = shape(info["footprint"])
    corners = [Point(c) for polygon in getattr(rings, "geoms", [rings]) for c in polygon.exterior.coords]
    assert all(footprint.exterior.distance(corner) < 0.01 for corner in corners)


def test_search_by_orbit_direction(real_client) -> None:
    found = real_client.get("/search", params={"collection": "sentinel-1-grd", "orbit": "descending"}).json()
    assert {f["id"] for f in found["features"]} == {S1_IW_ID, S1_SM_ID}
    item = next(f for f in found["features"] if f["id"] == S1_IW_ID)
    assert item["properties"]["sat:orbit_state"] == "descending"
    assert item["properties"]["sar:instrument_mode"] == "IW"
    # The IPF version under the STAC processing extension's name, not Sentinel-2's baseline.
    assert item["properties"]["processing:version"] == "002.91" and "s2:processing_baseline" not in item["properties"]
    assert real_client.get("/search", params={"orbit": "ascending"}).json()["numberMatched"] == 0
    bad = real_client.get("/search", params={"orbit": "sideways"})
    assert bad.status_code == 400 and "orbit" in bad.json()["detail"]
    s2 = real_client.get("/search", params={"orbit": "ascending", "collection": "sentinel-2-l2a"})
    assert s2.status_code == 400 and "sentinel-2-l2a" in s2.json()["detail"]


# ---------------------------------------------------------------------------------------------
# Pixels: the GCP warp


# (sample, band, lon, lat, zoom): the middle of each swath, and tiles on its corners and edges
# (the first GCP corner, the far side); the samples' pixels are 200 m, zoom 10 about that.
PLACES = [
    ("iw", "VV", 76.9, 10.2, 10),
    ("iw", "VV", 76.9, 10.2, 12),
    ("iw", "VH", 77.3, 10.5, 11),
    ("iw", "VV", 78.2, 10.73, 11),
    ("iw", "VV", 75.61, 9.69, 12),
    ("iw", "VH", 77.88, 9.24, 12),
    ("iw", "VV", 76.2, 11.1, 13),
    ("sm", "VH", 55.35, -4.7, 10),
    ("sm", "VH", 55.86, -4.03, 12),
    ("sm", "VH", 54.84, -5.34, 11),
]


@pytest.mark.parametrize("sample, band, lon, lat, z", PLACES)
def test_tiles_match_an_independent_gcp_warp(real_client, iw, sm, sample, band, lon, lat, z) -> None:
    folder, product = (iw, S1_IW_ID) if sample == "iw" else (sm, S1_SM_ID)
    path = next((folder / "measurement").glob(f"*-{band.lower()}.tiff"))
    tile = _tile(lon, lat, z)
    response = real_client.get(f"/tiles/{z}/{tile.x}/{tile.y}.png", params={"product": product, "layer": f"{band}_DB"})
    assert response.status_code == 200, response.text
    rgba = decode(response.content)
    expected = gcp_warp(uncalibrated_intensity(path), path, _bounds(tile), "EPSG:3857")
    shown, reference = rgba[..., 3] > 0, ~np.isnan(expected)
    assert reference.any() and (shown == reference).mean() > 0.99
    both = shown & reference
    grey = decibel_grey(expected[both])
    assert np.abs(rgba[..., 0][both].astype(float) - grey).mean() <= MAX_MEAN_DIFF
    assert (rgba[..., 0] == rgba[..., 1]).all() and (rgba[..., 1] == rgba[..., 2]).all()


def test_neighbouring_tiles_meet_without_a_seam(real_client, iw) -> None:
    """Two tiles side by side equal the two halves of one 512 px tile of the level above."""
    path = iw / "measurement" / "iw-vv.tiff"
    parent = _tile(76.9, 10.2, 11)
    big = real_client.get(
        f"/tiles/{parent.z}/{parent.x}/{parent.y}.png",
        params={"product": S1_IW_ID, "layer": "VV_LINEAR", "tilesize": 512},
    )
    halves = [
        decode(
            real_client.get(
                f"/tiles/{parent.z + 1}/{2 * parent.x + dx}/{2 * parent.y}.png",
                params={"product": S1_IW_ID, "layer": "VV_LINEAR"},
            ).content
        )
        for dx in (0, 1)
    ]
    joined = np.concatenate(halves, axis=1)
    top = decode(big.content)[:256]
    expected = gcp_warp(uncalibrated_intensity(path), path, _bounds(parent), "EPSG:3857", 512)[:256]
    reference = np.round(np.clip(2 * expected, 0, 1) * 255)
    ok = ~np.isnan(reference)
    for image in (joined, top):
        assert np.abs(image[..., 0][ok].astype(float) - reference[ok]).mean() <= MAX_MEAN_DIFF
    # Along the seam the two tiles continue each other as the big tile does.
    seam = np.abs(joined[:, 255, 0].astype(int) - joined[:, 256, 0].astype(int)).mean()
    inside = np.abs(top[:, 255, 0].astype(int) - top[:, 256, 0].astype(int)).mean()
    assert seam <= inside + MAX_MEAN_DIFF


def test_false_color_and_sar_urban_follow_eo_browser(real_client, iw) -> None:
    tile = _tile(75.95, 10.0, 11)  # calm water behind the coast (VV / VH over 25), and land
    bounds = _bounds(tile)
    vv = gcp_warp(
        uncalibrated_intensity(iw / "measurement" / "iw-vv.tiff"),
        iw / "measurement" / "iw-vv.tiff",
        bounds,
        "EPSG:3857",
    )
    vh = gcp_warp(
        uncalibrated_intensity(iw / "measurement" / "iw-vh.tiff"),
        iw / "measurement" / "iw-vh.tiff",
        bounds,
        "EPSG:3857",
    )
    ok = ~np.isnan(vv) & ~np.isnan(vh)
    water = vv / vh > 25
    false_colour = [
        np.where(water, vv, 3 * vv),
        np.where(water, 8 * vv, 1.1 * vv + 8.75 * vh),
        np.where(water, 0.5 + 3 * vv + 2000 * vh, 1.75 * vh),
    ]
    urban = [(5.5 * vh > 0.5).astype(float), vv, 8 * vh]
    for layer, channels in (("FALSE_COLOR", false_colour), ("SAR_URBAN", urban)):
        response = real_client.get(
            f"/tiles/{tile.z}/{tile.x}/{tile.y}.png", params={"product": S1_IW_ID, "layer": layer}
        )
        assert response.status_code == 200, response.text
        rgba = decode(response.content)
        for index, channel in enumerate(channels):
            expected = np.round(np.clip(channel, 0, 1) * 255)
            assert np.abs(rgba[..., index][ok].astype(float) - expected[ok]).mean() <= MAX_MEAN_DIFF, layer
    assert water[ok].mean() > 0.05  # the tile holds water, drawn by the water rule


def test_band_math_on_polarisations_in_linear_power(real_client, iw) -> None:
    tile = _tile(77.0, 10.4, 11)
    bounds = _bounds(tile)
    vv = gcp_warp(
        uncalibrated_intensity(iw / "measurement" / "iw-vv.tiff"),
        iw / "measurement" / "iw-vv.tiff",
        bounds,
        "EPSG:3857",
    )
    vh = gcp_warp(
        uncalibrated_intensity(iw / "measurement" / "iw-vh.tiff"),
        iw / "measurement" / "iw-vh.tiff",
        bounds,
        "EPSG:3857",
    )
    response = real_client.get(
        f"/tiles/{tile.z}/{tile.x}/{tile.y}.png",
        params={"product": S1_IW_ID, "expression": "VV / VH", "rescale": "0,10"},
    )
    assert response.status_code == 200, response.text
    rgba = decode(response.content)
    ok = ~np.isnan(vv) & ~np.isnan(vh) & (rgba[..., 3] > 0)
    expected = np.round(np.clip(vv / vh / 10, 0, 1) * 255)
    assert ok.mean() > 0.9 and np.abs(rgba[..., 0][ok].astype(float) - expected[ok]).mean() <= MAX_MEAN_DIFF


def test_preview_and_tilejson_of_a_gcp_product(real_client) -> None:
    preview = real_client.get("/preview.png", params={"product": S1_IW_ID, "layer": "VV_DB", "width": 300})
    assert preview.status_code == 200
    rgba = decode(preview.content)
    assert 0.5 < (rgba[..., 3] > 0).mean() < 0.95  # the rotated swath inside its bounds
    tilejson = real_client.get("/tilejson.json", params={"product": S1_IW_ID, "layer": "VV_DB"}).json()
    meta = real_client.get(f"/products/{S1_IW_ID}").json()
    assert tilejson["bounds"] == pytest.approx(meta["bounds"])
    assert 8 <= tilejson["maxzoom"] <= 11 and tilejson["minzoom"] <= tilejson["maxzoom"]
    assert "2018" in tilejson["attribution"]
    # A product lacking VV still has a default layer it can draw: the first by name (VH_DB).
    default = real_client.get("/preview.png", params={"product": S1_SM_ID, "width": 200})
    assert default.status_code == 200 and (decode(default.content)[..., 3] > 0).mean() > 0.3


# ---------------------------------------------------------------------------------------------
# Polarisations a product lacks


def test_a_missing_polarisation_is_a_clear_error_everywhere(real_client, sm) -> None:
    tile = _tile(55.35, -4.7, 11)
    path = f"/tiles/{tile.z}/{tile.x}/{tile.y}.png"
    for response in (
        real_client.get(path, params={"product": S1_SM_ID, "layer": "VV_DB"}),
        real_client.get(path, params={"product": S1_SM_ID, "expression": "VV * 2"}),
        real_client.get("/preview.png", params={"product": S1_SM_ID, "layer": "FALSE_COLOR"}),
    ):
        assert response.status_code == 400 and "VV" in response.json()["detail"], response.text
    # A mosaic over the SM swath alone: no product there has VV.
    mosaic = real_client.get(path, params={"collection": "sentinel-1-grd", "layer": "VV_DB"})
    assert mosaic.status_code == 404 and "VV" in mosaic.json()["detail"]
    assert real_client.get(path, params={"collection": "sentinel-1-grd", "layer": "VH_DB"}).status_code == 200

    west, south, east, north = _bounds(tile)
    wms = {
        "SERVICE": "WMS", "REQUEST": "GetMap", "VERSION": "1.3.0", "LAYERS": "sentinel-1-grd:VV_DB", "STYLES": "",
        "CRS": "EPSG:3857", "BBOX": f"{west},{south},{east},{north}", "WIDTH": 256, "HEIGHT": 256,
        "FORMAT": "image/png",
    }  # fmt: skip
    for extra in ({"PRODUCT": S1_SM_ID}, {}):
        response = real_client.get("/wms", params=wms | extra)
        root = ET.fromstring(response.content)
        assert root.tag.endswith("ServiceExceptionReport") and "VV" in "".join(root.itertext()), extra
    wmts = {
        "SERVICE": "WMTS", "REQUEST": "GetTile", "VERSION": "1.0.0", "LAYER": "sentinel-1-grd:VV_DB",
        "STYLE": "default", "FORMAT": "image/png", "TILEMATRIXSET": "WebMercatorQuad",
        "TILEMATRIX": tile.z, "TILEROW": tile.y, "TILECOL": tile.x,
    }  # fmt: skip
    for extra in ({"PRODUCT": S1_SM_ID}, {}):
        response = real_client.get("/wmts", params=wmts | extra)
        assert response.status_code in (400, 404) and b"VV" in response.content, extra


# ---------------------------------------------------------------------------------------------
# WMS and WMTS


def test_ogc_layers_per_collection_and_style(real_client) -> None:
    capabilities = real_client.get("/wms", params={"SERVICE": "WMS", "REQUEST": "GetCapabilities"}).text
    for name in ("VV_DB", "VH_DB", "VV_LINEAR", "VH_LINEAR", "FALSE_COLOR", "SAR_URBAN"):
        assert f"<Name>sentinel-1-grd:{name}</Name>" in capabilities
    assert "<Name>sentinel-2-l2a:FALSE_COLOR</Name>" in capabilities
    wmts = real_client.get("/wmts", params={"SERVICE": "WMTS", "REQUEST": "GetCapabilities"}).text
    assert "sentinel-1-grd:FALSE_COLOR" in wmts and "sentinel-2-l2a:FALSE_COLOR" in wmts
    # One name, two layers: each collection draws its own.
    listed = real_client.get("/layers").json()["layers"]
    false_colour = {tuple(layer["collections"]): layer for layer in listed if layer["name"] == "FALSE_COLOR"}
    assert false_colour[("sentinel-2-l2a", "sentinel-2-l1c")]["bands"] == ["B03", "B04", "B08"]
    assert false_colour[("sentinel-1-grd",)]["bands"] == ["VH", "VV"]


def test_getmap_and_feature_info_give_linear_and_decibel_values(real_client, iw) -> None:
    tile = _tile(76.9, 10.2, 11)
    west, south, east, north = _bounds(tile)
    query = {
        "SERVICE": "WMS", "VERSION": "1.3.0", "LAYERS": "sentinel-1-grd:VV_DB", "STYLES": "", "CRS": "EPSG:3857",
        "BBOX": f"{west},{south},{east},{north}", "WIDTH": 256, "HEIGHT": 256, "FORMAT": "image/png",
        "PRODUCT": S1_IW_ID,
    }  # fmt: skip
    getmap = real_client.get("/wms", params=query | {"REQUEST": "GetMap"})
    assert getmap.status_code == 200 and getmap.headers["content-type"] == "image/png"
    xyz = real_client.get(f"/tiles/{tile.z}/{tile.x}/{tile.y}.png", params={"product": S1_IW_ID, "layer": "VV_DB"})
    assert np.array_equal(decode(getmap.content), decode(xyz.content))
    checked = 0
    vv_path = iw / "measurement" / "iw-vv.tiff"
    with rasterio.open(vv_path) as src:
        dn = src.read(1).astype(float)
    for i, j in ((40, 50), (128, 128), (200, 90), (17, 230)):
        info = real_client.get(
            "/wms",
            params=query | {"REQUEST": "GetFeatureInfo", "QUERY_LAYERS": "sentinel-1-grd:VV_DB", "I": i, "J": j,
                            "INFO_FORMAT": "application/json"},
        )  # fmt: skip
        layer = info.json()["layers"][0]
        entry = layer["products"][0]
        row, col, inside = source_pixel(vv_path, layer["lon"], layer["lat"])
        if not inside:
            continue
        vv = entry["bands"]["VV"]
        assert vv == pytest.approx(dn[row, col] ** 2 * S1_SCALE, abs=1e-5)  # linear power
        assert set(entry["bands"]) == {"VV", "VH"}
        assert entry["value"][0] == pytest.approx(10 * math.log10(vv), abs=1e-3)  # the layer's value: dB
        checked += 1
    assert checked >= 2
    legend = real_client.get(
        "/wms", params={"SERVICE": "WMS", "REQUEST": "GetLegendGraphic", "LAYER": "sentinel-1-grd:VV_DB"}
    )
    assert legend.status_code == 200 and legend.headers["content-type"] == "image/png"


# ---------------------------------------------------------------------------------------------
# Calibration


def _lut_value(line: np.ndarray, pixel: np.ndarray) -> np.ndarray:
    """The test's gamma LUT: bilinear in (line, pixel) over the whole image, so that bilinear
    interpolation between its vectors is exact and the reference needs none."""
    return 400.0 + 0.05 * pixel + 0.03 * line + 1e-5 * line * pixel


def _write_calibrated_safe(root: Path, iw: Path) -> tuple[Path, tuple[int, int]]:
    """A SAFE around the real IW pixels and GCPs: ESA's file names, a manifest (ascending, to
    tell it from the original), annotations saying the image was twice the file's size (as a
    downsampled archive copy would), and calibration XMLs with the LUT above in those lines and pixels."""
    name = "S1A_IW_GRDH_1SDV_20180716T004042_20180716T004107_022812_02792A_C0DE"
    safe = root / f"{name}.SAFE"
    (safe / "measurement").mkdir(parents=True)
    (safe / "annotation" / "calibration").mkdir(parents=True)
    with rasterio.open(iw / "measurement" / "iw-vv.tiff") as src:
        height, width = src.height, src.width
    lines, samples = 2 * height, 2 * width
    vector_lines = [*range(0, lines, 400), lines - 1]
    pixels = [*range(0, samples, 300), samples - 1]
    for number, pol in ((1, "vv"), (2, "vh")):
        stem = f"s1a-iw-grd-{pol}-20180716t004042-20180716t004107-022812-02792a-00{number}"
        shutil.copy(iw / "measurement" / f"iw-{pol}.tiff", safe / "measurement" / f"{stem}.tiff")
        (safe / "annotation" / f"{stem}.xml").write_text(
            "<product><imageAnnotation><imageInformation>"
            f"<numberOfSamples>{samples}</numberOfSamples><numberOfLines>{lines}</numberOfLines>"
            "</imageInformation></imageAnnotation></product>"
        )
        vectors = "".join(
            f"<calibrationVector><line>{line}</line><pixel count='{len(pixels)}'>{' '.join(map(str, pixels))}</pixel>"
            + "".join(
                f"<{lut}>{' '.join(str(factor * float(_lut_value(np.float64(line), np.float64(p)))) for p in pixels)}</{lut}>"
                for lut, factor in (("sigmaNought", 1.1), ("betaNought", 0.9), ("gamma", 1.0))
            )
            + "</calibrationVector>"
            for line in vector_lines
        )
        (safe / "annotation" / "calibration" / f"calibration-{stem}.xml").write_text(
            f"<calibration><calibrationVectorList count='{len(vector_lines)}'>{vectors}</calibrationVectorList></calibration>"
        )
    (safe / "manifest.safe").write_text(
        '<xfdu:XFDU xmlns:xfdu="urn:ccsds:schema:xfdu:1" xmlns:safe="http://www.esa.int/safe/sentinel-1.0" '
        'xmlns:s1="http://www.esa.int/safe/sentinel-1.0/sentinel-1"><metadataSection>'
        "<safe:startTime>2018-07-16T00:40:42.500000</safe:startTime><safe:number>A</safe:number>"
        '<safe:orbitNumber type="start">22812</safe:orbitNumber>'
        '<safe:relativeOrbitNumber type="start">165</safe:relativeOrbitNumber>'
        "<s1:pass>ASCENDING</s1:pass><productType>GRD</productType>"
        '<safe:software name="Sentinel-1 IPF" version="002.91"/>'
        "</metadataSection></xfdu:XFDU>"
    )
    return safe, (lines, samples)


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory, iw):
    root = tmp_path_factory.mktemp("s1-safe")
    safe, image = _write_calibrated_safe(root, iw)
    app = create_app(Settings(data_roots=(root,)), catalog=MemoryCatalog([root]))
    return TestClient(app, raise_server_exceptions=False), safe, image


def _gamma0(path: Path, image: tuple[int, int]) -> np.ndarray:
    """DN² / A² with A at each file pixel's centre, in the annotation's lines and pixels."""
    with rasterio.open(path) as src:
        dn = src.read(1).astype(np.float64)
    rows, cols = np.meshgrid(np.arange(dn.shape[0]), np.arange(dn.shape[1]), indexing="ij")
    line = (rows + 0.5) * image[0] / dn.shape[0] - 0.5
    pixel = (cols + 0.5) * image[1] / dn.shape[1] - 0.5
    return np.where(dn == 0, np.nan, dn**2 / _lut_value(line, pixel) ** 2)


def test_a_safe_with_calibration_xml_shows_gamma0(calibrated) -> None:
    client, safe, image = calibrated
    name = safe.name.removesuffix(".SAFE")
    meta = client.get(f"/products/{name}").json()
    assert meta["properties"]["s1:calibration"] == "gamma0" and "calibrated" in meta["properties"]["s1:values"]
    assert meta["properties"]["sat:orbit_state"] == "ascending"  # the manifest's word, not the GCPs'
    assert meta["properties"]["sat:relative_orbit"] == 165 and meta["processing_baseline"] == "002.91"
    assert client.get(f"/products/{safe.name}").json()["id"] == name  # by its folder name too
    vv_path = next((safe / "measurement").glob("*-vv-*.tiff"))
    gamma0 = _gamma0(vv_path, image)
    for lon, lat, z in ((76.9, 10.2, 11), (78.2, 10.73, 12), (75.9, 10.3, 10)):
        tile = _tile(lon, lat, z)
        response = client.get(f"/tiles/{z}/{tile.x}/{tile.y}.png", params={"product": name, "layer": "VV_LINEAR"})
        rgba = decode(response.content)
        expected = gcp_warp(gamma0, vv_path, _bounds(tile), "EPSG:3857")
        ok = ~np.isnan(expected) & (rgba[..., 3] > 0)
        assert ok.mean() > 0.3
        grey = np.round(np.clip(2 * expected, 0, 1) * 255)
        assert np.abs(rgba[..., 0][ok].astype(float) - grey[ok]).mean() <= MAX_MEAN_DIFF
    # Point values: GetFeatureInfo's VV is DN² / A² of the pixel under the point.
    tile = _tile(76.9, 10.2, 11)
    west, south, east, north = _bounds(tile)
    checked = 0
    for i, j in ((30, 40), (130, 120), (220, 200)):
        info = client.get(
            "/wms",
            params={"SERVICE": "WMS", "REQUEST": "GetFeatureInfo", "VERSION": "1.3.0", "LAYERS": "sentinel-1-grd:VV_DB",
                    "QUERY_LAYERS": "sentinel-1-grd:VV_DB", "STYLES": "", "CRS": "EPSG:3857",
                    "BBOX": f"{west},{south},{east},{north}", "WIDTH": 256, "HEIGHT": 256, "I": i, "J": j,
                    "INFO_FORMAT": "application/json", "PRODUCT": name},
        ).json()["layers"][0]  # fmt: skip
        row, col, inside = source_pixel(vv_path, info["lon"], info["lat"])
        if inside:
            assert info["products"][0]["bands"]["VV"] == pytest.approx(gamma0[row, col], abs=2e-5)
            checked += 1
    assert checked >= 2


@pytest.mark.parametrize("lut, factor", [("sigmaNought", 1.1), ("betaNought", 0.9), ("gamma", 1.0)])
def test_calibration_luts_against_numpy(calibrated, lut, factor) -> None:
    """sigma0, beta0 and gamma0 from their LUTs, at fractional lines and pixels, against the
    analytic LUT the XML was written from."""
    from tiler.products import BandAsset, Calibration
    from tiler.reading.calibration import intensity

    _, safe, image = calibrated
    xml = next((safe / "annotation" / "calibration").glob("calibration-*-vv-*.xml"))
    band = BandAsset("VV", Path("unused"), 10.0, "VV", squared=True, calibration=Calibration(str(xml), lut, image))
    rng = np.random.default_rng(1)
    dn = rng.integers(1, 3000, size=(7, 9)).astype(np.uint16)
    rows, cols = np.linspace(0, 836, 7), np.linspace(3.25, 1270.5, 9)
    file_size = (image[0] // 2, image[1] // 2)
    got = intensity(band, dn, rows, cols, file_size)
    line = (rows[:, None] + 0.5) * 2 - 0.5
    pixel = (cols[None, :] + 0.5) * 2 - 0.5
    expected = dn.astype(float) ** 2 / (factor * _lut_value(line, pixel)) ** 2
    assert np.allclose(got, expected, rtol=1e-5)


# ---------------------------------------------------------------------------------------------
# Mosaics by orbit direction: the demo archive's two passes over the same ground


@pytest.fixture(scope="module")
def passes(demo_archive):
    _, products = demo_archive
    radar = [p for p in products if p.collection == "sentinel-1-grd"]
    by_layout = {p.layout: p for p in radar}
    return by_layout["safe"], by_layout["sentinel-s1-l1c"]  # ascending, descending


def test_demo_passes_are_indexed_with_their_orbits(demo_client, passes) -> None:
    ascending, descending = passes
    up = demo_client.get(f"/products/{ascending.id}").json()["properties"]
    down = demo_client.get(f"/products/{descending.id}").json()["properties"]
    assert up["sat:orbit_state"] == "ascending" and up["s1:calibration"] == "gamma0"
    assert down["sat:orbit_state"] == "descending" and down["s1:calibration"] == "none"


def test_mosaics_by_orbit_direction(demo_client, passes) -> None:
    ascending, descending = passes
    west, south, east, north = (
        max(ascending.bounds[0], descending.bounds[0]),
        max(ascending.bounds[1], descending.bounds[1]),
        min(ascending.bounds[2], descending.bounds[2]),
        min(ascending.bounds[3], descending.bounds[3]),
    )
    tile = _tile((west + east) / 2, (south + north) / 2, 15)
    path = f"/tiles/{tile.z}/{tile.x}/{tile.y}.png"

    def image(**params) -> np.ndarray:
        response = demo_client.get(path, params={"layer": "VV_DB", **params})
        assert response.status_code == 200, response.text
        return decode(response.content)

    up, down = image(product=ascending.id), image(product=descending.id)
    assert not np.array_equal(up, down)
    assert np.array_equal(image(collection="sentinel-1-grd", orbit="ascending"), up)
    assert np.array_equal(image(collection="sentinel-1-grd", orbit="DESCENDING"), down)
    assert np.array_equal(image(collection="sentinel-1-grd"), up)  # the newest pass first
    bad = demo_client.get(path, params={"collection": "sentinel-1-grd", "orbit": "north"})
    assert bad.status_code == 400 and "orbit" in bad.json()["detail"]
    s2 = demo_client.get(path, params={"collection": "sentinel-2-l2a", "orbit": "ascending"})
    assert s2.status_code == 400

    bbox = ",".join(map(str, _bounds(tile)))
    wms = {
        "SERVICE": "WMS", "REQUEST": "GetMap", "VERSION": "1.3.0", "LAYERS": "sentinel-1-grd:VV_DB", "STYLES": "",
        "CRS": "EPSG:3857", "BBOX": bbox, "WIDTH": 256, "HEIGHT": 256, "FORMAT": "image/png", "TIME": "2020-09",
    }  # fmt: skip
    assert np.array_equal(decode(demo_client.get("/wms", params=wms | {"ORBIT": "descending"}).content), down)
    assert np.array_equal(decode(demo_client.get("/wms", params=wms | {"ORBIT": "ascending"}).content), up)
    wmts = {
        "SERVICE": "WMTS", "REQUEST": "GetTile", "VERSION": "1.0.0", "LAYER": "sentinel-1-grd:VV_DB",
        "STYLE": "default", "FORMAT": "image/png", "TILEMATRIXSET": "WebMercatorQuad",
        "TILEMATRIX": tile.z, "TILEROW": tile.y, "TILECOL": tile.x,
    }  # fmt: skip
    assert np.array_equal(decode(demo_client.get("/wmts", params=wmts | {"ORBIT": "descending"}).content), down)


def test_a_changed_pass_is_searched_by_its_new_orbit(tmp_path) -> None:
    """SQLite keeps the properties it filters on beside the record: they follow a product's change."""
    import os

    from demo import sentinel1
    from tiler.catalog import SqliteCatalog

    root = tmp_path / "data"
    ascending = next(p for p in sentinel1.passes(60, (20.0, 10.0)) if p.layout == "safe")
    folder = root / ascending.relpath()
    sentinel1.write_product(ascending, folder, lambda lon, lat: np.zeros(lon.shape, dtype=np.uint8))
    catalog = SqliteCatalog(tmp_path / "c.sqlite", [root])
    catalog.update()
    assert catalog.search(properties={"sat:orbit_state": "ascending"}).total == 1
    manifest = folder / "manifest.safe"
    manifest.write_text(manifest.read_text().replace("ASCENDING", "DESCENDING"))
    os.utime(manifest, ns=(1, 1))  # a new signature whatever the clock's resolution
    report = catalog.update()
    assert report.changed == 1
    assert catalog.search(properties={"sat:orbit_state": "ascending"}).total == 0
    assert [p.id for p in catalog.search(properties={"sat:orbit_state": "descending"}).products] == [ascending.name]


def test_an_ew_dual_horizontal_product(tmp_path) -> None:
    """EW mode, HH and HV (the polar and sea-ice products), in both layouts: HH/HV layers draw
    them, the VV/VH ones name what is missing."""
    import dataclasses

    from demo import sentinel1

    root = tmp_path / "data"
    for p in sentinel1.passes(60, (-40.0, 70.0)):
        ew = dataclasses.replace(p, mode="EW", dual="DH")
        sentinel1.write_product(ew, root / ew.relpath(), lambda lon, lat: np.full(lon.shape, 2, dtype=np.uint8))
    client = TestClient(create_app(Settings(data_roots=(root,)), catalog=MemoryCatalog([root])))
    products = client.get("/products").json()["products"]
    assert len(products) == 2
    for product in products:
        assert "_EW_GRDM_1SDH_" in product["id"] and sorted(product["bands"]) == ["HH", "HV"]
        assert product["properties"]["sar:instrument_mode"] == "EW"
        assert product["properties"]["sar:polarizations"] == ["HH", "HV"]
        west, south, east, north = product["bounds"]
        tile = _tile((west + east) / 2, (south + north) / 2, 17)
        path = f"/tiles/{tile.z}/{tile.x}/{tile.y}.png"
        default = client.get(path, params={"product": product["id"]})  # HH_DB: VV_DB needs VV
        assert default.status_code == 200 and (decode(default.content)[..., 3] > 0).mean() > 0.9
        crop = -10.0  # dB, the demo's crop field (class 2) the ground here is made of
        grey = decode(client.get(path, params={"product": product["id"], "layer": "HH_DB"}).content)[..., 0]
        # Speckle around crop's -10 dB: its median grey is (-10 + 20) / 20 of white, give or take.
        assert abs(np.median(grey) - (crop + 20) / 20 * 255) < 20
        missing = client.get(path, params={"product": product["id"], "layer": "FALSE_COLOR"})
        assert missing.status_code == 400 and "VH, VV" in missing.json()["detail"]


def test_broken_sentinel1_products_are_reported_at_indexing(tmp_path, iw) -> None:
    from tiler.catalog import SqliteCatalog

    root = tmp_path / "data"
    good, _ = _write_calibrated_safe(root, iw)
    broken_lut = root / "broken-lut" / good.name.replace("C0DE", "BAD1")
    shutil.copytree(good, broken_lut)
    xml = next((broken_lut / "annotation" / "calibration").glob("*-vv-*.xml"))
    xml.write_text(xml.read_text()[:200])  # a truncated calibration XML
    no_pixels = root / "no-pixels" / good.name.replace("C0DE", "BAD2")
    shutil.copytree(good, no_pixels)
    shutil.rmtree(no_pixels / "measurement")  # metadata, no measurement files
    catalog = SqliteCatalog(tmp_path / "c.sqlite", [root])
    report = catalog.update()
    assert [p.id for p in catalog] == [good.name.removesuffix(".SAFE")]
    failed = {Path(path).name: reason for path, reason in report.failed}
    assert "calibration" in failed[broken_lut.name] and "measurement" in failed[no_pixels.name]


def test_a_broken_annotation_skips_its_product_not_the_index(tmp_path, iw) -> None:
    """An AWS-layout product whose annotation XML is truncated: reported and skipped at indexing
    (its pass is read from the annotation), while the rest of the root is indexed."""
    from tiler.catalog import SqliteCatalog

    root = tmp_path / "data"
    copy = root / iw.relative_to(iw.parents[7])
    shutil.copytree(iw, copy)
    (copy / "annotation").mkdir(exist_ok=True)
    (copy / "annotation" / "iw-vv.xml").write_text("<product><adsHeader><pass>Desc")
    good = root / "other" / iw.name
    shutil.copytree(iw, good)
    catalog = SqliteCatalog(tmp_path / "c.sqlite", [root])
    report = catalog.update()
    assert [Path(path).name for path, _ in report.failed] == [copy.name]
    assert "not valid XML" in report.failed[0][1] and len(catalog) == 1
