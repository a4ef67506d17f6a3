"""Requests at the edges of what a parameter can hold, each of which once answered 500: boxes
whose aspect is no number, areas beyond Web Mercator or the UTM zones, instants that a time zone
moves out of Python's range, JSON nested deeper than the parser goes, bin ranges wider than a
float, geometries spanning the globe, unknown EPSG codes. Each must be a clear 4xx."""

from __future__ import annotations

import pytest
from rasterio.io import MemoryFile

SCRIPT = (
    "//VERSION=3\nfunction setup(){return {input:['B04'],output:{bands:1}}}\nfunction evaluatePixel(s){return [s.B04]}"
)
MERCATOR_URI = "http://www.opengis.net/def/crs/EPSG/0/3857"


def _process(client, bbox, output, crs=MERCATOR_URI):
    body = {
        "input": {"bounds": {"bbox": bbox, "properties": {"crs": crs}}, "data": [{"type": "sentinel-2-l2a"}]},
        "output": output,
        "evalscript": SCRIPT,
    }
    return client.post("/process", json=body)


@pytest.mark.parametrize(
    ("bbox", "output", "status"),
    [
        ([-1e308, 0, 1e308, 1], {"height": 10}, 400),  # a width past the float range
        ([0, -1e308, 1, 1e308], {}, 400),
        ([0, 0, 1e-300, 1], {"width": 10}, 413),  # a sane aspect, an absurd height
    ],
)
def test_process_boxes_whose_aspect_is_no_number(demo_client, bbox, output, status) -> None:
    response = _process(demo_client, bbox, output)
    assert response.status_code == status, response.text


def test_process_with_an_epsg_code_proj_does_not_know(demo_client) -> None:
    response = _process(demo_client, [0, 0, 1, 1], {}, "http://www.opengis.net/def/crs/EPSG/0/99999")
    assert response.status_code == 400 and "EPSG:99999" in response.json()["detail"]


@pytest.mark.parametrize("route", ["/preview.png", "/timelapse.gif"])
@pytest.mark.parametrize("bbox", ["11,86,12,89", "11,-89,12,-86"])
def test_mosaic_areas_beyond_web_mercator(demo_client, route, bbox) -> None:
    response = demo_client.get(route, params={"collection": "sentinel-2-l2a", "bbox": bbox, "time": "2023"})
    assert response.status_code == 400 and "outside Web Mercator" in response.json()["detail"]


def test_a_crop_beyond_the_utm_zones_is_drawn_in_ups(demo_client) -> None:
    response = demo_client.get(
        "/crop.tif", params={"collection": "sentinel-2-l2a", "bbox": "-180,89,180,90", "width": 64}
    )
    assert response.status_code == 200, response.text
    with MemoryFile(response.content) as memory, memory.open() as src:
        assert src.crs.to_epsg() == 32661


@pytest.mark.parametrize(
    ("route", "params"),
    [
        ("/search", {"datetime": "0001-01-01T00:00:00+14:00"}),
        ("/search", {"datetime": "9999-12-31T23:59:59-14:00"}),
        ("/stac/search", {"datetime": "0001-01-01T00:00:00+14:00"}),
        ("/stac/search", {"datetime": "9999-12-31T23:59:59-14:00"}),
    ],
)
def test_instants_a_time_zone_moves_out_of_range(demo_client, route, params) -> None:
    assert demo_client.get(route, params=params).status_code == 400


def test_a_stac_post_search_with_such_an_instant(demo_client) -> None:
    response = demo_client.post("/stac/search", json={"datetime": "9999-12-31T23:59:59-01:00"})
    assert response.status_code == 400


@pytest.mark.parametrize("route", ["/stac/search", "/statistics", "/crop.tif", "/process"])
@pytest.mark.parametrize("body", [b"[" * 100_000, b'{"geometry": ' + b"[" * 100_000])
def test_json_nested_deeper_than_the_parser_goes(demo_client, route, body) -> None:
    response = demo_client.post(route, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400 and "not JSON" in response.json()["detail"]


def test_a_stac_search_body_is_bounded(demo_client) -> None:
    response = demo_client.post("/stac/search", content=b" " * 2_000_000)
    assert response.status_code == 413


def test_a_bin_range_wider_than_a_float(demo_client) -> None:
    query = {"lon": "11.97", "lat": "50.985", "bins": "5", "binrange": "-1e308,1e308", "time": "2023"}
    response = demo_client.get("/statistics", params=query)
    assert response.status_code == 400 and "binrange" in response.json()["detail"]


def test_a_geometry_spanning_the_globe(demo_client) -> None:
    ring = [[-180, -85], [180, -85], [180, 85], [-180, 85], [-180, -85]]
    body = {"geometry": {"type": "Polygon", "coordinates": [ring]}, "resolution": 100000, "time": "2023"}
    response = demo_client.post("/statistics", json=body)
    assert response.status_code == 400 and "globe" in response.json()["detail"]
