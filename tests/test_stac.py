"""/stac, the STAC API, over both catalog backends (SQLite and pgSTAC) on the demo archive, served
by a real uvicorn: stac-api-validator's conformance checks, pystac-client against /search, and
the STAC meaning of its parameters."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest
from pystac_client import Client
from shapely.geometry import box, shape

from tests.helpers import REPO, serve
from tiler.app import create_app
from tiler.settings import Settings

# Around the demo archive (near 12 E, 51 N); every product's footprint meets it.
ARCHIVE_AREA = (11.9, 50.95, 12.1, 51.05)


@pytest.fixture(scope="module", params=["sqlite", "pgstac"])
def stac_server(request, demo_archive, tmp_path_factory):
    root, _ = demo_archive
    if request.param == "sqlite":
        catalog = tmp_path_factory.mktemp("stac") / "catalog.sqlite"
    else:
        catalog = request.getfixturevalue("postgres").new_database()
    app = create_app(Settings(data_roots=(root,), catalog=catalog))
    with serve(app) as url:
        yield url
    if request.param == "pgstac":
        app.state.services.catalog.close()


@pytest.mark.slow
def test_the_stac_api_validator_passes(stac_server) -> None:
    """stac-api-validator (PyPI) with the classes /stac conforms to, pagination included."""
    command = [
        sys.executable, str(REPO / "tests" / "stac_validator_offline.py"),
        "--root-url", f"{stac_server}/stac",
        "--conformance", "core", "--conformance", "collections",
        "--conformance", "features", "--conformance", "item-search",
        "--collection", "sentinel-2-l2a",
        "--geometry", json.dumps({"type": "Polygon", "coordinates": [list(box(*ARCHIVE_AREA).exterior.coords)]}),
        "--validate-pagination",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    assert "errors: none" in report.lower() or "Errors: none" in report, report


def _search_ids(base: str, params: dict) -> list[str]:
    """Every page of /search, in order."""
    ids, url = [], f"{base}/search"
    query: dict | None = params | {"limit": 2}
    while url:
        page = httpx.get(url, params=query).json()
        ids += [f["id"] for f in page["features"]]
        url = next((link["href"] for link in page["links"] if link["rel"] == "next"), None)
        query = None
    return ids


@pytest.mark.parametrize(
    "stac_query, search_query",
    [
        ({}, {}),
        ({"collections": ["sentinel-2-l2a"]}, {"collection": "sentinel-2-l2a"}),
        (
            {"collections": ["sentinel-2-l1c"], "bbox": ARCHIVE_AREA},
            {"collection": "sentinel-2-l1c", "bbox": ",".join(map(str, ARCHIVE_AREA))},
        ),
        ({"datetime": "2020-09-01T00:00:00Z/2020-09-30T23:59:59Z"}, {"datetime": "2020-09"}),
        ({"datetime": "2020-09-17T00:00:00Z/.."}, {"datetime": "2020-09-17T00:00:00Z/.."}),
    ],
)
def test_pystac_client_finds_what_search_finds(stac_server, stac_query, search_query) -> None:
    client = Client.open(f"{stac_server}/stac")
    found = [item.id for item in client.search(**stac_query, limit=2).items()]  # two per page: paging too
    assert found == _search_ids(stac_server, search_query)
    assert found  # every query here matches something


def test_items_link_back_and_validate_their_shape(stac_server) -> None:
    client = Client.open(f"{stac_server}/stac")
    collection = client.get_collection("sentinel-2-l2a")
    items = list(collection.get_items())
    assert items and all(item.collection_id == "sentinel-2-l2a" for item in items)
    first = items[0]
    fetched = httpx.get(f"{stac_server}/stac/collections/sentinel-2-l2a/items/{first.id}")
    assert fetched.status_code == 200 and fetched.headers["content-type"].startswith("application/geo+json")
    assert fetched.json()["id"] == first.id and fetched.json()["properties"]["datetime"]
    tilejson = next(link for link in fetched.json()["links"] if link["rel"] == "tilejson")
    assert httpx.get(tilejson["href"]).json()["tiles"]
    elsewhere = httpx.get(f"{stac_server}/stac/collections/sentinel-2-l1c/items/{first.id}")
    assert elsewhere.status_code == 404
    assert httpx.get(f"{stac_server}/stac/collections/sentinel-3/items").status_code == 404


def test_intersects_means_the_geometry(stac_server) -> None:
    everything = httpx.get(f"{stac_server}/stac/search", params={"limit": 100}).json()["features"]
    footprint = shape(everything[0]["geometry"])
    west, south, east, north = footprint.bounds
    # A UTM square is a tilted quadrilateral in degrees: some corners of its bounding box lie outside it.
    corners = [(x, y) for x in (west + 1e-7, east - 1e-7) for y in (south + 1e-7, north - 1e-7)]
    outside = next(c for c in corners if not footprint.intersects(shape({"type": "Point", "coordinates": c})))
    inside = footprint.representative_point().coords[0]
    for point in (outside, inside):
        geometry = {"type": "Point", "coordinates": list(point)}
        got = httpx.post(f"{stac_server}/stac/search", json={"intersects": geometry, "limit": 100}).json()
        want = [f["id"] for f in everything if shape(f["geometry"]).intersects(shape(geometry))]
        assert [f["id"] for f in got["features"]] == want
        assert (everything[0]["id"] in want) == (point == inside)
        assert "numberMatched" not in got  # a spatial search cannot count without reading all


@pytest.mark.parametrize(
    "params, words",
    [
        ({"datetime": "2020-09"}, "RFC 3339"),
        ({"datetime": "2020-09-20T00:00:00Z/2020-09-10T00:00:00Z"}, "start is after the end"),
        ({"datetime": "../.."}, "at most one side open"),
        ({"bbox": "12,51,11,50"}, "south is north"),
        ({"bbox": "1,2,3"}, "4 numbers"),
        ({"bbox": "0,0,1,1", "intersects": json.dumps({"type": "Point", "coordinates": [0, 0]})}, "not both"),
        ({"intersects": '{"type": "Circle"}'}, "GeoJSON geometry"),
        ({"limit": "0"}, "positive integer"),
        ({"limit": "ten"}, "positive integer"),
        ({"token": "../1"}, "token"),
        ({"sortby": "-datetime"}, "not supported"),
        ({"ids": ",".join(f"x{i}" for i in range(101))}, "at most 100"),
    ],
)
def test_bad_parameters_get_400_naming_them(stac_server, params, words) -> None:
    response = httpx.get(f"{stac_server}/stac/search", params=params)
    assert response.status_code == 400 and words in response.json()["detail"], response.text


def test_bad_post_bodies_get_400(stac_server) -> None:
    for body in (b"{", b"[1, 2]", json.dumps({"bbox": "0,0,1,1"}).encode(), json.dumps({"limit": [5]}).encode()):
        response = httpx.post(f"{stac_server}/stac/search", content=body, headers={"content-type": "application/json"})
        assert response.status_code == 400, (body, response.text)


def test_limits_above_the_maximum_are_lowered(stac_server) -> None:
    response = httpx.get(f"{stac_server}/stac/search", params={"limit": 1_000_000})
    assert response.status_code == 200 and response.json()["numberReturned"] == response.json()["numberMatched"]
