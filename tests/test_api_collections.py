"""Every collection everywhere, over the demo archive (Sentinel-2, Landsat, Sentinel-1, the DEM tiles,
WorldCover, CORINE; the demo has no Landsat Level-1 product):
`/collections` with bands, layers and extents, `/search` and mosaics per collection, one WMS and
WMTS layer per collection and style, and every layer drawing a tile of its collection."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest

from tests.helpers import WEB_MERCATOR, decode

WMS = "{http://www.opengis.net/wms}"
WMTS = "{http://www.opengis.net/wmts/1.0}"
OWS = "{http://www.opengis.net/ows/1.1}"
EXPECTED_PRODUCTS = {
    "sentinel-2-l2a": 9,  # three products and the six dates of the time series
    "sentinel-2-l1c": 1,
    "cop-dem-glo-30": 1,
    "cop-dem-glo-90": 2,
    "esa-worldcover": 1,
    "corine-land-cover": 1,
    "landsat-c2-l2": 1,
    "landsat-c2-l1": 0,
    "sentinel-1-grd": 2,
}


@pytest.fixture(scope="module")
def listing(demo_app) -> dict[str, dict]:
    from starlette.testclient import TestClient

    return {c["id"]: c for c in TestClient(demo_app).get("/collections").json()["collections"]}


def test_collections_list_bands_layers_and_extents(demo_client, demo_archive, listing) -> None:
    _, products = demo_archive
    assert {cid: c["products"] for cid, c in listing.items()} == EXPECTED_PRODUCTS
    layers = demo_client.get("/layers").json()["layers"]
    for cid, collection in listing.items():
        own = [layer["name"] for layer in layers if cid in layer["collections"]]
        assert [layer["name"] for layer in collection["layers"]] == own and collection["default_layer"] in own
        mine = [p for p in products if p.collection == cid]
        detail = demo_client.get(f"/collections/{cid}").json()
        assert detail == collection
        if not mine:
            assert collection["extent"] is None  # nothing indexed: no extent to say
            continue
        times = sorted(p.datetime for p in mine)
        interval = collection["extent"]["temporal"]["interval"][0]
        assert interval[0][:19] == times[0][:19] and interval[1][:19] == times[-1][:19]
    dem = listing["cop-dem-glo-90"]
    assert dem["bands"] == [
        {"name": "DEM", "title": "Height above the EGM2008 geoid", "kind": "physical", "unit": "m",
         "resolution": 90.0, "nodata": None, "scale": 1.0, "offset": 0.0},
    ]  # fmt: skip
    # The two GLO-90 tiles, 11 to 13 degrees east, half a pixel past the degree lines.
    west, south, east, north = dem["extent"]["spatial"]["bbox"][0]
    assert (round(west), round(south), round(east), round(north)) == (11, 51, 13, 52)
    assert listing["sentinel-2-l2a"]["default"] and listing["sentinel-2-l2a"]["cloud_mask"]
    assert not listing["corine-land-cover"]["cloud_mask"]
    clc = listing["corine-land-cover"]["bands"][0]
    assert clc["classes"][22] == {"value": 23, "label": "Broad-leaved forest", "colour": "#80ff00", "code": "311"}
    assert demo_client.get("/collections/no-such-thing").status_code == 404


def test_each_collections_links_search_and_mosaic(demo_client, listing) -> None:
    for cid, collection in listing.items():
        links = {link["rel"]: link["href"].replace("http://testserver", "") for link in collection["links"]}
        found = demo_client.get(links["items"]).json()
        assert found["numberMatched"] == EXPECTED_PRODUCTS[cid]
        if not EXPECTED_PRODUCTS[cid]:
            assert found["features"] == []
            continue
        assert {f["collection"] for f in found["features"]} == {cid}
        tilejson = demo_client.get(links["tilejson"]).json()
        assert tilejson["name"] == f"{cid} mosaic"
        west, south, east, north = collection["extent"]["spatial"]["bbox"][0]
        tile = WEB_MERCATOR.tile((west + east) / 2, (south + north) / 2, 13)
        mosaic = demo_client.get(f"/tiles/{tile.z}/{tile.x}/{tile.y}.png", params={"collection": cid})
        assert mosaic.status_code == 200, (cid, mosaic.text)
        assert (decode(mosaic.content)[..., 3] == 255).mean() > 0.05, cid


def test_every_layer_draws_its_collection(demo_client, listing) -> None:
    """A mosaic preview of each collection's extent in each of its layers: something drawn, and more
    than one colour, but for a layer of one class group (CORINE's wetlands are one marsh here)."""
    bands = {
        (layer["name"], cid): layer["bands"]
        for layer in demo_client.get("/layers").json()["layers"]
        for cid in layer["collections"]
    }
    for cid, collection in listing.items():
        if not collection["products"]:
            continue
        box = ",".join(str(v) for v in collection["extent"]["spatial"]["bbox"][0])
        kinds = {band["name"]: band["kind"] for band in collection["bands"]}
        for layer in collection["layers"]:
            query = {"collection": cid, "layer": layer["name"], "bbox": box, "width": 256}
            response = demo_client.get("/preview.png", params=query)
            if layer["name"][:2] in ("HH", "HV"):  # the demo's Sentinel-1 passes are VV+VH
                assert response.status_code == 404 and "no product here has H" in response.json()["detail"]
                continue
            assert response.status_code == 200, (cid, layer["name"], response.text)
            rgba = decode(response.content)
            visible = rgba[..., 3] > 0
            assert visible.mean() > 0.01, (cid, layer["name"])
            if any(kinds[band] != "class" for band in bands[layer["name"], cid]):
                assert len(np.unique(rgba[visible][:, :3], axis=0)) >= 2, f"{cid}:{layer['name']} is uniform"


def test_wms_and_wmts_offer_one_layer_per_collection_and_style(demo_client, listing) -> None:
    expected = {f"{cid}:{layer['name']}" for cid, c in listing.items() if c["products"] for layer in c["layers"]}
    wms = ET.fromstring(demo_client.get("/wms", params={"SERVICE": "WMS", "REQUEST": "GetCapabilities"}).content)
    named = {node.find(f"{WMS}Name").text for node in wms.iter(f"{WMS}Layer") if node.find(f"{WMS}Name") is not None}
    assert named == expected and "cop-dem-glo-90:HILLSHADE" in named and "corine-land-cover:CORINE_WETLANDS" in named
    groups = [
        g.find(f"{WMS}Title").text for g in wms.find(f"{WMS}Capability").find(f"{WMS}Layer").findall(f"{WMS}Layer")
    ]
    assert sorted(groups) == sorted(c["title"] for c in listing.values() if c["products"])
    wmts = ET.fromstring(demo_client.get("/wmts/1.0.0/WMTSCapabilities.xml").content)
    identifiers = {layer.find(f"{OWS}Identifier").text for layer in wmts.iter(f"{WMTS}Layer")}
    assert identifiers == expected
    dem = next(
        layer for layer in wmts.iter(f"{WMTS}Layer") if layer.find(f"{OWS}Identifier").text == "cop-dem-glo-90:COLOR"
    )
    lower = dem.find(f"{OWS}WGS84BoundingBox").find(f"{OWS}LowerCorner").text.split()
    assert [round(float(v)) for v in lower] == [11, 51]
    template = dem.find(f"{WMTS}ResourceURL").get("template").replace("http://testserver", "")
    tile = WEB_MERCATOR.tile(12.0, 51.5, 10)
    url = (
        template.replace("{Time}", "2021-01-01").replace("{TileMatrixSet}", "WebMercatorQuad")
        .replace("{TileMatrix}", str(tile.z)).replace("{TileRow}", str(tile.y)).replace("{TileCol}", str(tile.x))
    )  # fmt: skip
    response = demo_client.get(url)
    assert response.status_code == 200 and (decode(response.content)[..., 3] == 255).all()
