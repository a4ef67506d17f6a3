"""/statistics against independent computations: the band files read with rasterio, the polygon
rasterised with rasterio.features (pixel centres inside), the statistics with numpy. On the demo time
series (grids that coincide with the files' own, so every pixel is exact) and on the real samples."""

from __future__ import annotations

import csv
import io
import math

import numpy as np
import pytest
import shapely
from pyproj import Geod, Transformer
from rasterio.transform import from_origin
from shapely.geometry import mapping, shape

from tests.helpers import (
    COG_ID,
    COG_REL,
    SCL_CLOUDS,
    assert_statistics,
    demo_series,
    demo_variant,
    evalscript_param,
    expected_statistics,
    inside_mask,
    ndvi,
    read_band,
    reflectance,
    sample,
)

SERIES_OFFSET = -1000  # baseline 05.09: BOA_ADD_OFFSET


def _polygon(bounds, crs: str | None = None) -> dict:
    """An irregular pentagon well inside `bounds`, with vertices between pixel edges."""
    x0, y0, x1, y1 = bounds
    w, h = x1 - x0, y1 - y0
    ring = [(0.13, 0.11), (0.83, 0.17), (0.91, 0.62), (0.44, 0.93), (0.07, 0.58), (0.13, 0.11)]
    return {"type": "Polygon", "coordinates": [[[x0 + a * w + 0.37, y0 + b * h + 0.21] for a, b in ring]]}


def _series_arrays(product):
    """NDVI at 10 m, where B04 and B08 have data, and the SCL repeated onto the 10 m grid."""
    b04, transform, _ = read_band(product.path / "B04.tif")
    b08, _, _ = read_band(product.path / "B08.tif")
    scl, _, _ = read_band(product.path / "SCL.tif")
    value = ndvi(reflectance(b08, SERIES_OFFSET), reflectance(b04, SERIES_OFFSET))
    return value, (b04 != 0) & (b08 != 0), np.repeat(np.repeat(scl, 2, axis=0), 2, axis=1), transform


def test_one_product_exact_over_the_pixels_inside(demo_client, demo_archive):
    product = demo_series(demo_archive[1])[0]
    geometry = _polygon(product.bounds)
    edges = [-1, -0.2, 0, 0.3, 0.6, 1]
    response = demo_client.post(
        "/statistics",
        json={"geometry": geometry, "crs": "EPSG:32632", "product": product.id, "layer": "NDVI",
              "resolution": 10, "percentiles": [5, 50, 95], "bins": edges},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    answer = response.json()
    value, data, _, transform = _series_arrays(product)
    inside = inside_mask(geometry, value.shape, transform)
    assert answer["pixels"] == inside.sum() > 1000
    (interval,) = answer["intervals"]
    assert interval["products"] == [product.id] and answer["outputs"] == ["NDVI"]
    got = interval["outputs"]["NDVI"]
    valid = inside & data & np.isfinite(value)
    assert_statistics(got, expected_statistics(value[valid], (5, 50, 95), edges))
    assert got["nodata"] == inside.sum() - valid.sum() and got["cloud"] == 0


def test_an_evalscript_gives_its_eobrowserstats_output_masked_by_its_datamask(demo_client, demo_archive):
    product = demo_series(demo_archive[1])[0]
    geometry = _polygon(product.bounds)
    script = """//VERSION=3
function setup() {
  return { input: ["B04", "B08", "dataMask"], output: [{ id: "default", bands: 3 },
    { id: "eobrowserStats", bands: 1, sampleType: "FLOAT32" }, { id: "dataMask", bands: 1 }] };
}
function evaluatePixel(s) {
  const ndvi = index(s.B08, s.B04);
  return { default: [ndvi, ndvi, ndvi], eobrowserStats: [ndvi], dataMask: [s.dataMask && ndvi < 0.81234 ? 1 : 0] };
}
"""
    response = demo_client.post(
        "/statistics",
        json={"geometry": geometry, "crs": "EPSG:32632", "product": product.id, "evalscript": evalscript_param(script),
              "resolution": 10, "percentiles": [5, 50, 95]},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["outputs"] == ["eobrowserStats"]
    value, data, _, transform = _series_arrays(product)
    inside = inside_mask(geometry, value.shape, transform)
    valid = inside & data & np.isfinite(value) & (value < 0.81234)  # off the ratios of whole DN
    got = answer["intervals"][0]["outputs"]["eobrowserStats"]
    assert_statistics(got, expected_statistics(value[valid], (5, 50, 95)))
    assert got["nodata"] == inside.sum() - valid.sum() and valid.sum() > 1000


def test_time_series_with_the_cloud_mask_per_acquisition(demo_client, demo_archive):
    series = demo_series(demo_archive[1])
    geometry = _polygon(series[0].bounds)
    response = demo_client.post(
        "/statistics",
        json={"geometry": geometry, "crs": "EPSG:32632", "collection": "sentinel-2-l2a", "time": "2023",
              "layer": "NDVI", "cloudmask": True, "resolution": 10, "percentiles": [50]},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    intervals = response.json()["intervals"]
    assert [i["products"] for i in intervals] == [[p.id] for p in series]
    clouded = 0
    for product, interval in zip(series, intervals):
        value, data, scl, transform = _series_arrays(product)
        inside = inside_mask(geometry, value.shape, transform)
        cloud = inside & data & np.isin(scl, SCL_CLOUDS)
        valid = inside & data & (scl != 0) & ~np.isin(scl, SCL_CLOUDS) & np.isfinite(value)
        got = interval["outputs"]["NDVI"]
        assert interval["from"] == interval["to"] == product.datetime.replace(".605767Z", ".605767Z")
        assert got["cloud"] == cloud.sum() and got["valid"] + got["nodata"] + got["cloud"] == inside.sum()
        assert_statistics(got, expected_statistics(value[valid], (50,)))
        clouded += got["cloud"] > 0
    assert clouded >= 2  # the demo's cloudy dates are seen as such


def test_monthly_intervals_mosaic_the_most_recent_first(demo_client, demo_archive):
    series = demo_series(demo_archive[1])
    geometry = _polygon(series[0].bounds)
    body = {"geometry": geometry, "crs": "EPSG:32632", "time": "2023-07", "layer": "NDVI", "cloudmask": True,
            "interval": "month", "resolution": 10}  # fmt: skip
    (july,) = demo_client.post("/statistics", json=body).json()["intervals"]
    first, second = [p for p in series if p.datetime.startswith("2023-07")][::-1]  # newest first
    assert july["products"] == [first.id, second.id]
    assert (july["from"], july["to"]) == ("2023-07-01T00:00:00Z", "2023-07-31T23:59:59.999999Z")
    value = np.full((120, 120), np.nan, dtype=np.float32)
    filled = np.zeros(value.shape, dtype=bool)
    seen = np.zeros(value.shape, dtype=bool)
    for product in (first, second):
        v, data, scl, transform = _series_arrays(product)
        clear = data & (scl != 0) & ~np.isin(scl, SCL_CLOUDS) & ~filled
        value[clear] = v[clear]
        filled |= clear
        seen |= data & (scl != 0)
    inside = inside_mask(geometry, value.shape, transform)
    got = july["outputs"]["NDVI"]
    assert got["cloud"] == (inside & seen & ~filled).sum()
    assert_statistics(got, expected_statistics(value[inside & filled & np.isfinite(value)]))


def test_maxcc_leaves_out_cloudy_dates_and_csv_matches_json(demo_client, demo_archive):
    series = demo_series(demo_archive[1])
    geometry = _polygon(series[0].bounds)
    body = {"geometry": geometry, "crs": "EPSG:32632", "time": "2023", "layer": "NDVI", "maxcc": 50,
            "percentiles": [10, 90], "resolution": 20}  # fmt: skip
    answer = demo_client.post("/statistics", json=body).json()
    kept = [p.id for p in series if p.cloud_cover <= 50]
    assert len(kept) < len(series) and [i["products"][0] for i in answer["intervals"]] == kept
    as_csv = demo_client.post("/statistics", json={**body, "format": "csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert len(rows) == len(kept)
    for row, interval in zip(rows, answer["intervals"]):
        got = interval["outputs"]["NDVI"]
        assert row["from"] == interval["from"] and row["output"] == "NDVI" and row["products"] == kept.pop(0)
        assert int(row["valid"]) == got["valid"] and float(row["mean"]) == got["mean"]
        assert float(row["p90"]) == got["percentiles"]["90"]


def test_a_point_is_the_pixel_under_it(demo_client, demo_archive):
    product = demo_series(demo_archive[1])[0]
    value, _data, _, transform = _series_arrays(product)
    row, col = 37, 81
    x, y = transform @ (col + 0.5, row + 0.5)
    point = {"type": "Point", "coordinates": [x, y]}
    answer = demo_client.post("/statistics", json={"geometry": point, "crs": "EPSG:32632", "product": product.id,
                                                   "layer": "NDVI"}).json()  # fmt: skip
    got = answer["intervals"][0]["outputs"]["NDVI"]
    assert answer["pixels"] == 1 and got["valid"] == 1 and got["mean"] == pytest.approx(float(value[row, col]))
    # The same point by GET, in lon/lat: one pixel of the point's neighbourhood.
    (lon,), (lat,) = Transformer.from_crs("EPSG:32632", "EPSG:4326", always_xy=True).transform([x], [y])
    by_get = demo_client.get("/statistics", params={"lon": lon, "lat": lat, "product": product.id, "layer": "NDVI"})
    near = value[row - 1 : row + 2, col - 1 : col + 2].ravel()
    mean = by_get.json()["intervals"][0]["outputs"]["NDVI"]["mean"]
    assert np.isclose(near, mean, rtol=1e-6).any()


def test_real_cog_sample_on_a_grid_of_the_chosen_resolution(real_client, shared_data):
    """29RKH at 100 m: the grid's edges lie on multiples of 100 m, 20 m off the file's, so each
    grid pixel's centre lies well inside one file pixel."""
    folder = shared_data / COG_REL
    _b04, transform, crs = read_band(folder / "B04.tif")
    bounds = (transform.c + 20_000, transform.f - 60_000, transform.c + 55_000, transform.f - 20_000)
    geometry = _polygon(bounds)
    edges = [0, 0.05, 0.1, 0.2, 0.5]
    body = {"geometry": geometry, "crs": crs.to_string(), "product": COG_ID, "expression": "(B08-B04)/(B08+B04)",
            "resolution": 100, "percentiles": [25, 75], "bins": edges}  # fmt: skip
    answer = real_client.post("/statistics", json=body).json()
    left, _bottom, _right, top = answer["bounds"]
    assert left % 100 == 0 and top % 100 == 0 and answer["crs"] == crs.to_string()
    grid = from_origin(left, top, 100, 100)
    inside = inside_mask(geometry, (answer["height"], answer["width"]), grid)
    cols, rows = np.meshgrid(np.arange(answer["width"]) + 0.5, np.arange(answer["height"]) + 0.5)
    xs, ys = left + cols * 100, top - rows * 100
    red, safe = sample(folder / "B04.tif", xs, ys, crs.to_string())
    nir, _ = sample(folder / "B08.tif", xs, ys, crs.to_string())
    assert safe[inside].all()
    value = ndvi(reflectance(nir), reflectance(red))
    valid = inside & (red != 0) & (nir != 0) & np.isfinite(value)
    got = answer["intervals"][0]["outputs"]["(B08-B04)/(B08+B04)"]
    assert_statistics(got, expected_statistics(value[valid], (25, 75), edges))


def test_real_safe_sample_with_its_baseline_offset(real_client, shared_data):
    """T29UNU (baseline 04.00, JPEG 2000 at 60 m, origin on the 60 m lattice): B8A stands for B08."""
    folder = next((shared_data / "s2-l2a-safe-T29UNU-20221005").rglob("R60m"))
    red_file, nir_file = next(folder.glob("*_B04_60m.jp2")), next(folder.glob("*_B8A_60m.jp2"))
    red, transform, _crs = read_band(red_file)
    nir, _, _ = read_band(nir_file)
    bounds = (transform.c + 30_000, transform.f - 60_000, transform.c + 60_000, transform.f - 30_000)
    geometry = _polygon(bounds)
    body = {"geometry": geometry, "crs": "EPSG:32629", "product": "S2A_MSIL2A_20221005T115411_N0400_R023_T29UNU_20221005T164454",
            "expression": "B8A-B04", "resolution": 60, "percentiles": [50]}  # fmt: skip
    got = real_client.post("/statistics", json=body).json()["intervals"][0]["outputs"]["B8A-B04"]
    inside = inside_mask(geometry, red.shape, transform)
    value = reflectance(nir, -1000) - reflectance(red, -1000)
    valid = inside & (red != 0) & (nir != 0)
    assert valid.sum() > 1000
    assert_statistics(got, expected_statistics(value[valid], (50,)))


def test_a_geometry_in_degrees_is_measured_on_an_equal_area_grid(real_client, shared_data):
    """A polygon of about 40 km across in lon/lat: the pixels inside cover its geodesic area, and the
    statistics are those of the file pixels under their centres."""
    folder = shared_data / COG_REL
    _, transform, crs = read_band(folder / "B04.tif")
    to_lonlat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform
    box = (transform.c + 20_000, transform.f - 80_000, transform.c + 70_000, transform.f - 30_000)
    geometry = mapping(shapely.transform(shape(_polygon(box)), to_lonlat, interleaved=False))
    answer = real_client.post("/statistics", json={"geometry": geometry, "product": COG_ID, "layer": "NDVI",
                                                   "resolution": 200}).json()  # fmt: skip
    area, _ = Geod(ellps="WGS84").geometry_area_perimeter(shapely.segmentize(shape(geometry), 0.001))
    assert answer["pixels"] * 200**2 == pytest.approx(abs(area), rel=0.01)
    assert "+proj=laea" in answer["crs"]
    left, _, _, top = answer["bounds"]
    to_grid = Transformer.from_crs("EPSG:4326", answer["crs"], always_xy=True).transform
    projected = mapping(shapely.transform(shapely.segmentize(shape(geometry), 0.001), to_grid, interleaved=False))
    inside = inside_mask(projected, (answer["height"], answer["width"]), from_origin(left, top, 200, 200))
    assert abs(int(inside.sum()) - answer["pixels"]) <= answer["pixels"] * 0.002
    cols, rows = np.meshgrid(np.arange(answer["width"]) + 0.5, np.arange(answer["height"]) + 0.5)
    red, _ = sample(folder / "B04.tif", left + cols * 200, top - rows * 200, answer["crs"])
    nir, _ = sample(folder / "B08.tif", left + cols * 200, top - rows * 200, answer["crs"])
    value = ndvi(reflectance(nir), reflectance(red))
    expected = value[inside & (red != 0) & (nir != 0)]
    got = answer["intervals"][0]["outputs"]["NDVI"]
    assert got["valid"] == pytest.approx(expected.size, rel=0.005)
    assert got["mean"] == pytest.approx(float(expected.mean()), abs=2e-3)


# ---------------------------------------------------------------------------------------------
# Limits and bad input


def test_over_the_pixel_limit_says_by_how_much(demo_app, demo_archive):
    series = demo_series(demo_archive[1])
    client = demo_variant(demo_app, demo_archive, max_statistics_pixels=5000)
    body = {"geometry": _polygon(series[0].bounds), "crs": "EPSG:32632", "time": "2023", "resolution": 10}
    response = client.post("/statistics", json=body)
    assert response.status_code == 413
    detail = response.json()["detail"]
    width = math.ceil((series[0].bounds[0] + 0.91 * 1200 + 0.37) / 10) - math.floor(
        (series[0].bounds[0] + 0.07 * 1200) / 10
    )
    assert f"{width} x" in detail and "6 interval(s)" in detail and "times the limit of 5,000" in detail
    # At the resolution it proposes, the request fits.
    coarser = float(detail.split("resolution of at least ")[1].split(",")[0])
    assert client.post("/statistics", json={**body, "resolution": coarser}).status_code == 200


def test_too_many_products_says_so(demo_app, demo_archive):
    series = demo_series(demo_archive[1])
    client = demo_variant(demo_app, demo_archive, max_analysis_products=3)
    response = client.post("/statistics", json={"geometry": _polygon(series[0].bounds), "crs": "EPSG:32632"})
    assert response.status_code == 413 and "more than 3 products" in response.json()["detail"]


def test_past_the_analysis_deadline_is_503(demo_app, demo_archive):
    series = demo_series(demo_archive[1])
    client = demo_variant(demo_app, demo_archive, analysis_timeout=1e-9)
    response = client.post("/statistics", json={"geometry": _polygon(series[0].bounds), "crs": "EPSG:32632"})
    assert response.status_code == 503 and response.headers["retry-after"] and "limit" in response.json()["detail"]


BOWTIE = {"type": "Polygon", "coordinates": [[[11.9, 50.9], [12.0, 51.0], [12.0, 50.9], [11.9, 51.0], [11.9, 50.9]]]}


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"geometry": BOWTIE}, 400, "not valid"),
        ({"geometry": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}}, 400, "Point, Polygon"),
        ({"geometry": {"type": "Polygon", "coordinates": "x"}}, 400, "not valid GeoJSON"),
        ({"geometry": {"type": "Point", "coordinates": [200, 0]}}, 400, "-180..180"),
        ({"geometry": {"type": "Point", "coordinates": [12, 51]}, "crs": "EPSG:1"}, 400, "crs"),
        ({"geometry": {"type": "Point", "coordinates": [12, 51]}, "interval": "year"}, 400, "interval"),
        ({"geometry": {"type": "Point", "coordinates": [12, 51]}, "percentiles": [120]}, 400, "percentiles"),
        ({"geometry": {"type": "Point", "coordinates": [12, 51]}, "bins": [1, 0]}, 400, "increase"),
        ({"geometry": {"type": "Point", "coordinates": [12, 51]}, "resolution": -5}, 400, "positive"),
        ({"geometry": {"type": "Point", "coordinates": [12, 51]}, "layer": "NOPE"}, 404, "unknown layer"),
        ({"geometry": {"type": "Point", "coordinates": [12, 51]}, "expression": "B99"}, 400, "expression"),
        ({"geometry": {"type": "Point", "coordinates": [12, 51]}, "product": "x", "cloudmask": True}, 400, "cloudmask"),
        ({"geometry": {"type": "Point", "coordinates": [12, 51]}, "format": "xml"}, 400, "json or csv"),
        ({"geometry": {"type": "Point", "coordinates": [12, 51]}, "time": "yesterday"}, 400, "not a date"),
        ({"crs": {"nested": 1}}, 400, "crs must be"),
        ({}, 400, "geometry"),
    ],
)
def test_bad_requests_are_told_why(demo_client, body, status, words):
    response = demo_client.post("/statistics", json=body)
    assert response.status_code == status and words in response.json()["detail"], response.text


def test_bodies_that_are_no_json_object_or_too_large(demo_client):
    assert demo_client.post("/statistics", content=b"{nope").status_code == 400
    assert demo_client.post("/statistics", json=[1, 2]).status_code == 400
    huge = b'{"geometry": "' + b"x" * 1_100_000 + b'"}'
    response = demo_client.post("/statistics", content=huge)
    assert response.status_code == 413 and "1,000,000 bytes" in response.json()["detail"]
    assert demo_client.get("/statistics", params={"lon": "abc", "lat": 1}).status_code == 400


def test_absurd_coordinates_are_refused_not_crashed_on(demo_client):
    huge = {"type": "Polygon", "coordinates": [[[-1e308, -1e308], [1e308, -1e308], [1e308, 1e308], [-1e308, -1e308]]]}
    for path in ("/statistics", "/crop.tif"):
        response = demo_client.post(path, json={"geometry": huge, "crs": "EPSG:32632"})
        assert response.status_code in (400, 413) and "detail" in response.json(), (path, response.text)
    beyond = {"type": "Polygon", "coordinates": [[[0, 0], [4e7, 0], [4e7, 4e7], [0, 0]]]}  # past UTM 32's domain
    response = demo_client.post("/statistics", json={"geometry": beyond, "crs": "EPSG:32632"})
    assert response.status_code == 400 and "beyond the area" in response.json()["detail"]
    wide = {"type": "Polygon", "coordinates": [[[0, 1e6], [2e6, 1e6], [2e6, 3e6], [0, 1e6]]]}
    response = demo_client.post("/statistics", json={"geometry": wide, "crs": "EPSG:32632", "resolution": 1})
    assert response.status_code == 413 and "times the limit" in response.json()["detail"]
    crop = demo_client.get(
        "/crop.tif", params={"bbox": "0,1000000,2000000,3000000", "crs": "EPSG:32632", "resolution": 0.001}
    )
    assert crop.status_code == 413 and "times the limit" in crop.json()["detail"]


def test_a_collections_property_filter_selects_the_intervals(demo_client) -> None:
    """orbit= (a product property) chooses which Sentinel-1 passes are measured, as on mosaics."""
    query = {"lon": "11.99", "lat": "51.0", "collection": "sentinel-1-grd", "expression": "VV", "time": "2020"}
    both = demo_client.get("/statistics", params=query).json()["intervals"]
    ascending = demo_client.get("/statistics", params={**query, "orbit": "ascending"}).json()["intervals"]
    assert len(both) == 2 and [i["from"][:10] for i in ascending] == ["2020-09-22"]
