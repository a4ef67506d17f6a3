"""GET /search: STAC ItemCollection pages, filters checked against the generated products' own
metadata, paging links, bad parameters, and the real sample data."""

from __future__ import annotations

from datetime import datetime

import pytest
from rasterio.warp import transform
from starlette.testclient import TestClient

from tests.helpers import COG_ID, SAFE_L2A_ID, decode, write_product
from tiler.app import create_app
from tiler.settings import Settings

# 24 products on a 6 x 4 grid of 1 km squares, a day apart, cloud cover 0..92 %; every fifth L1C.
PRODUCTS = [
    {
        "id": f"S{i:02d}",
        "ulx": 700_000.0 + (i % 6) * 1000,
        "uly": 5_660_000.0 - (i // 6) * 1000,
        "when": f"2021-{1 + i // 10:02d}-{1 + i % 10:02d}T10:00:00Z",
        "cloud": float((i * 4) % 93),
        "collection": "sentinel-2-l1c" if i % 5 == 4 else "sentinel-2-l2a",
    }
    for i in range(24)
]


@pytest.fixture(scope="module")
def client(tmp_path_factory) -> TestClient:
    root = tmp_path_factory.mktemp("search")
    for p in PRODUCTS:
        write_product(root, p["id"], when=p["when"], cloud_cover=p["cloud"], ulx=p["ulx"], uly=p["uly"],
                      size=20, res=50.0, collection=p["collection"])  # fmt: skip
    app = create_app(Settings(data_roots=(root,), catalog=tmp_path_factory.mktemp("db") / "c.sqlite"))
    return TestClient(app, raise_server_exceptions=False)


def around_centre(p: dict, half: float = 0.0005) -> tuple[float, float, float, float]:
    (lon,), (lat,) = transform("EPSG:32632", "EPSG:4326", [p["ulx"] + 500], [p["uly"] - 500])
    return lon - half, lat - half, lon + half, lat + half


def newest_first(products) -> list[str]:
    return [p["id"] for p in sorted(products, key=lambda p: p["when"], reverse=True)]


def test_pages_cover_every_product_once_newest_first(client) -> None:
    ids, url, pages = [], "/search?limit=10", 0
    while url:
        page = client.get(url).json()
        pages += 1
        assert page["type"] == "FeatureCollection" and page["numberMatched"] == 24
        assert page["numberReturned"] == len(page["features"]) <= 10
        ids += [f["id"] for f in page["features"]]
        url = next((link["href"] for link in page["links"] if link["rel"] == "next"), None)
        if pages > 1:
            assert any(link["rel"] == "prev" for link in page["links"])
    assert pages == 3 and ids == newest_first(PRODUCTS)


def test_page_beyond_the_end_is_empty(client) -> None:
    page = client.get("/search", params={"limit": 10, "page": 4}).json()
    assert page["features"] == [] and page["numberMatched"] == 24


@pytest.mark.parametrize(
    "params, keep",
    [
        ({"collection": "sentinel-2-l1c"}, lambda p: p["collection"] == "sentinel-2-l1c"),
        ({"maxcc": "30"}, lambda p: p["cloud"] <= 30),
        ({"datetime": "2021-02"}, lambda p: p["when"].startswith("2021-02")),
        ({"datetime": "2021-01-03/2021-01-05"}, lambda p: "2021-01-03" <= p["when"][:10] <= "2021-01-05"),
        ({"datetime": "2021-03-01/.."}, lambda p: p["when"] >= "2021-03"),
        # A small box around the centre of square 8 (row 1, column 2) meets only that square.
        ({"bbox": ",".join(map(str, around_centre(PRODUCTS[8])))}, lambda p: p["id"] == "S08"),
        ({"bbox": "11,50,13,52"}, lambda p: True),
        (
            {"collection": "sentinel-2-l2a", "maxcc": "50", "datetime": "2021-01/2021-02"},
            lambda p: p["collection"] == "sentinel-2-l2a" and p["cloud"] <= 50 and p["when"] < "2021-03",
        ),
    ],
)
def test_filters_match_the_metadata(client, params, keep) -> None:
    page = client.get("/search", params={**params, "limit": 100}).json()
    expected = newest_first([p for p in PRODUCTS if keep(p)])
    assert expected and [f["id"] for f in page["features"]] == expected
    assert page["numberMatched"] == len(expected)


def test_items_carry_metadata_and_working_links(client) -> None:
    feature = client.get("/search", params={"limit": 1}).json()["features"][0]
    source = next(p for p in PRODUCTS if p["id"] == feature["id"])
    assert feature["type"] == "Feature" and feature["collection"] == source["collection"]
    assert feature["properties"]["eo:cloud_cover"] == source["cloud"]
    assert (
        datetime.fromisoformat(feature["properties"]["datetime"].replace("Z", "+00:00")).isoformat()[:19]
        == source["when"][:19]
    )
    assert feature["geometry"]["type"] == "Polygon" and len(feature["bbox"]) == 4
    thumbnail = client.get(feature["assets"]["thumbnail"]["href"])
    assert thumbnail.status_code == 200 and decode(thumbnail.content).shape[1] == 256
    assert client.get(feature["assets"]["tilejson"]["href"]).json()["tilejson"] == "3.0.0"
    assert client.get(feature["assets"]["metadata"]["href"]).json()["id"] == feature["id"]


@pytest.mark.parametrize(
    "params, name",
    [
        ({"bbox": "1,2,3"}, "bbox"),
        ({"bbox": "10,50,9,51"}, "bbox"),
        ({"bbox": "a,b,c,d"}, "bbox"),
        ({"bbox": "0,-91,1,0"}, "bbox"),
        ({"datetime": "yesterday"}, "datetime"),
        ({"datetime": "2021-02/2021-01"}, "datetime"),
        ({"maxcc": "-1"}, "maxcc"),
        ({"limit": "0"}, "limit"),
        ({"limit": "5000"}, "limit"),
        ({"page": "0"}, "page"),
        ({"page": "x"}, "page"),
        ({"collection": "landsat-8"}, "collection"),
    ],
)
def test_bad_parameters_get_400_naming_them(client, params, name) -> None:
    response = client.get("/search", params=params)
    assert response.status_code == 400
    assert response.json()["detail"].startswith(name)


def test_real_data_is_indexed_and_searched(real_client) -> None:
    everything = real_client.get("/search", params={"collection": "sentinel-2-l2a"}).json()
    ids = [f["id"] for f in everything["features"]]
    assert {SAFE_L2A_ID, COG_ID} <= set(ids) and ids.index(SAFE_L2A_ID) < ids.index(COG_ID)  # newest first
    t29rkh = real_client.get("/search", params={"bbox": "-12,24.5,-11.5,25", "datetime": "2020-02"}).json()
    assert [f["id"] for f in t29rkh["features"]] == [COG_ID]
    assert t29rkh["features"][0]["properties"]["eo:cloud_cover"] == pytest.approx(4.051854)
    assert real_client.get("/search", params={"maxcc": "50", "datetime": "2022"}).json()["numberMatched"] == 0
