"""WMTS 1.0.0: capabilities (KVP and RESTful), GetTile through the XYZ tile pipeline and cache,
OWS exceptions, and OWSLib's WMTS client against a server on loopback."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import morecantile
import numpy as np
import pytest
from owslib.wmts import WebMapTileService

from tests.helpers import decode

WMTS = "{http://www.opengis.net/wmts/1.0}"
OWS = "{http://www.opengis.net/ows/1.1}"


@pytest.fixture(scope="module")
def centre_tile(demo_app, demo_archive):
    from starlette.testclient import TestClient

    _, products = demo_archive
    first = next(
        p for p in products if p.collection == "sentinel-2-l2a" and p.layout == "safe" and p.baseline == "02.14"
    )
    west, south, east, north = TestClient(demo_app).get(f"/products/{first.id}").json()["bounds"]
    return morecantile.tms.get("WebMercatorQuad").tile((west + east) / 2, (south + north) / 2, 16)


def test_capabilities_kvp_and_rest(demo_client) -> None:
    kvp = demo_client.get("/wmts", params={"SERVICE": "WMTS", "REQUEST": "GetCapabilities"})
    rest = demo_client.get("/wmts/1.0.0/WMTSCapabilities.xml")
    assert kvp.status_code == rest.status_code == 200
    assert kvp.content == rest.content
    root = ET.fromstring(rest.content)
    assert root.tag == f"{WMTS}Capabilities" and root.get("version") == "1.0.0"
    layers = {layer.find(f"{OWS}Identifier").text: layer for layer in root.iter(f"{WMTS}Layer")}
    assert "sentinel-2-l2a:NDVI" in layers and "sentinel-2-l1c:TRUE_COLOR" in layers
    layer = layers["sentinel-2-l2a:TRUE_COLOR"]
    assert {link.find(f"{WMTS}TileMatrixSet").text for link in layer.findall(f"{WMTS}TileMatrixSetLink")} == {
        "WebMercatorQuad",
        "WorldCRS84Quad",
    }
    dimension = layer.find(f"{WMTS}Dimension")
    assert dimension.find(f"{OWS}Identifier").text == "Time"
    values = [v.text for v in dimension.findall(f"{WMTS}Value")]
    assert "2020-09-21" in values and dimension.find(f"{WMTS}Default").text in values
    template = layer.find(f"{WMTS}ResourceURL").get("template")
    assert template.startswith("http://testserver/wmts/1.0.0/sentinel-2-l2a:TRUE_COLOR/default/{Time}/{TileMatrixSet}/")
    sets = {s.find(f"{OWS}Identifier").text: s for s in root.find(f"{WMTS}Contents").findall(f"{WMTS}TileMatrixSet")}
    mercator = sets["WebMercatorQuad"]
    assert mercator.find(f"{OWS}SupportedCRS").text == "urn:ogc:def:crs:EPSG::3857"
    assert mercator.find(f"{WMTS}WellKnownScaleSet").text == "urn:ogc:def:wkss:OGC:1.0:GoogleMapsCompatible"
    first = mercator.find(f"{WMTS}TileMatrix")
    assert first.find(f"{WMTS}MatrixWidth").text == "1"
    assert float(first.find(f"{WMTS}ScaleDenominator").text) == pytest.approx(559082264.0287178)
    assert sets["WorldCRS84Quad"].find(f"{OWS}SupportedCRS").text == "urn:ogc:def:crs:OGC:1.3:CRS84"


def test_get_tile_kvp_and_rest_share_the_tile_pipeline(demo_client, centre_tile) -> None:
    t = centre_tile
    xyz = demo_client.get(
        f"/tiles/{t.z}/{t.x}/{t.y}.png", params={"collection": "sentinel-2-l2a", "layer": "NDVI", "time": "2020-09-21"}
    )
    kvp = demo_client.get(
        "/wmts",
        params={
            "SERVICE": "WMTS",
            "REQUEST": "GetTile",
            "VERSION": "1.0.0",
            "LAYER": "sentinel-2-l2a:NDVI",
            "STYLE": "default",
            "FORMAT": "image/png",
            "TILEMATRIXSET": "WebMercatorQuad",
            "TILEMATRIX": t.z,
            "TILEROW": t.y,
            "TILECOL": t.x,
            "TIME": "2020-09-21",
        },
    )
    rest = demo_client.get(f"/wmts/1.0.0/sentinel-2-l2a:NDVI/default/2020-09-21/WebMercatorQuad/{t.z}/{t.y}/{t.x}.png")
    assert xyz.headers["x-cache"] == "miss"
    assert kvp.headers["x-cache"] == rest.headers["x-cache"] == "hit"  # the XYZ tile's cache entry
    assert kvp.content == rest.content == xyz.content
    assert decode(kvp.content)[..., 3].mean() > 100


def test_get_tile_errors(demo_client) -> None:
    base = {
        "SERVICE": "WMTS",
        "REQUEST": "GetTile",
        "VERSION": "1.0.0",
        "LAYER": "sentinel-2-l2a:NDVI",
        "STYLE": "default",
        "FORMAT": "image/png",
        "TILEMATRIXSET": "WebMercatorQuad",
        "TILEMATRIX": 3,
        "TILEROW": 2,
        "TILECOL": 4,
    }

    def code(response):
        node = ET.fromstring(response.content).find(f"{OWS}Exception")
        return response.status_code, node.get("exceptionCode"), node.get("locator")

    assert code(demo_client.get("/wmts", params={**base, "TILEROW": 8})) == (400, "TileOutOfRange", "TILEROW")
    assert code(demo_client.get("/wmts", params={**base, "TILEMATRIX": 40})) == (400, "TileOutOfRange", "TILEMATRIX")
    assert code(demo_client.get("/wmts", params={**base, "LAYER": "NOPE"})) == (400, "InvalidParameterValue", "LAYER")
    assert code(demo_client.get("/wmts", params={**base, "FORMAT": "image/gif"})) == (
        400,
        "InvalidParameterValue",
        "FORMAT",
    )
    assert code(demo_client.get("/wmts", params={**base, "TILEMATRIXSET": "Nope"})) == (
        400,
        "InvalidParameterValue",
        "TILEMATRIXSET",
    )
    assert code(demo_client.get("/wmts", params={**base, "REQUEST": "GetFeatureInfo"})) == (
        501,
        "OperationNotSupported",
        "REQUEST",
    )
    assert code(demo_client.get("/wmts", params={"SERVICE": "WMTS"})) == (400, "MissingParameterValue", "REQUEST")
    # PRODUCT= of another collection than the layer's, as WMS GetMap refuses it.
    s2 = demo_client.get("/search", params={"collection": "sentinel-2-l2a"}).json()["features"][0]["id"]
    other = {**base, "LAYER": "landsat-c2-l2:NDVI", "PRODUCT": s2}
    assert code(demo_client.get("/wmts", params=other)) == (400, "InvalidParameterValue", "PRODUCT")
    assert code(demo_client.get("/wmts", params={**base, "TIME": "never"}))[:2] == (400, "InvalidParameterValue")


def test_owslib_wmts_client_reads_a_tile(demo_server, centre_tile) -> None:
    t = centre_tile
    service = WebMapTileService(f"{demo_server}/wmts/1.0.0/WMTSCapabilities.xml")
    assert "sentinel-2-l2a:TRUE_COLOR" in service.contents
    assert "WebMercatorQuad" in service.tilematrixsets
    tile = service.gettile(
        layer="sentinel-2-l2a:TRUE_COLOR",
        tilematrixset="WebMercatorQuad",
        tilematrix=str(t.z),
        row=t.y,
        column=t.x,
        format="image/png",
    )
    image = decode(tile.read())
    assert image.shape == (256, 256, 4) and image[..., 3].mean() > 100 and image[..., :3].std() > 3
    assert np.any(image[..., 3] == 255)


def test_a_gettile_and_its_xyz_tile_are_one_cache_entry(demo_app, centre_tile) -> None:
    """GetTile builds the very job of the XYZ tile it equals: the second of the two is a cache hit."""
    from starlette.testclient import TestClient

    client = TestClient(demo_app)
    t = centre_tile
    wmts = client.get(
        f"/wmts/1.0.0/sentinel-2-l2a:MOISTURE_INDEX/default/2020-09-21/WebMercatorQuad/{t.z}/{t.y}/{t.x}.png"
    )
    xyz = client.get(
        f"/tiles/{t.z}/{t.x}/{t.y}.png",
        params={"layer": "MOISTURE_INDEX", "collection": "sentinel-2-l2a", "time": "2020-09-21/2020-09-21"},
    )
    assert wmts.status_code == xyz.status_code == 200
    assert (wmts.headers["x-cache"], xyz.headers["x-cache"]) == ("miss", "hit")
    assert wmts.content == xyz.content and wmts.headers["etag"] == xyz.headers["etag"]
