"""WMS 1.1.1 / 1.3.0 through the ASGI app: one test per line of the conformance reference
(../shared/reference/wms-conformance.md), every exception code, and the vendor parameters."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from rasterio.warp import transform_bounds

from tests.helpers import decode, pixel_centres, sample
from tiler.app import create_app
from tiler.settings import Settings

WMS = "{http://www.opengis.net/wms}"
OGC = "{http://www.opengis.net/ogc}"


@pytest.fixture(scope="module")
def demo(demo_app, demo_archive):
    """Products of the demo archive by role, with their WGS84 bounds."""
    from starlette.testclient import TestClient

    _, products = demo_archive
    meta = {p["id"]: p for p in TestClient(demo_app).get("/products").json()["products"]}
    l2a = [p for p in products if p.collection == "sentinel-2-l2a"]
    first = next(p for p in l2a if p.baseline == "02.14" and p.layout == "safe")
    second = next(p for p in l2a if p.baseline == "04.00")
    return {"first": first, "second": second, "meta": meta}


def inner_bbox(bounds, fraction=0.3):
    """A lon/lat box in the middle of `bounds`."""
    w, s, e, n = bounds
    dx, dy = (e - w) * fraction, (n - s) * fraction
    return (w + dx, s + dy, e - dx, n - dy)


def getmap(client, version="1.3.0", **params):
    query = {"SERVICE": "WMS", "REQUEST": "GetMap", "VERSION": version, "STYLES": "", "FORMAT": "image/png", **params}
    return client.get("/wms", params={k: v for k, v in query.items() if v is not None})


def exception_code(response) -> str | None:
    root = ET.fromstring(response.content)
    assert root.tag.endswith("ServiceExceptionReport")
    node = next(iter(root))
    return node.get("code")


def lonlat(box) -> str:
    return ",".join(map(str, box))


def latlon(box) -> str:
    w, s, e, n = box
    return f"{s},{w},{n},{e}"


# ---------------------------------------------------------------- requests


def test_getmap_works_without_service(demo_client, demo) -> None:
    box = inner_bbox(demo["meta"][demo["first"].id]["bounds"])
    response = getmap(
        demo_client, SERVICE=None, LAYERS="TRUE_COLOR", CRS="CRS:84", BBOX=lonlat(box), WIDTH=64, HEIGHT=64
    )
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"


def test_getmap_without_version_is_an_exception(demo_client, demo) -> None:
    box = inner_bbox(demo["meta"][demo["first"].id]["bounds"])
    response = getmap(demo_client, VERSION=None, LAYERS="TRUE_COLOR", CRS="CRS:84", BBOX=lonlat(box), WIDTH=8, HEIGHT=8)
    assert response.headers["content-type"].startswith("text/xml")
    assert "VERSION" in response.text


def test_parameter_names_are_case_insensitive_values_are_not(demo_client, demo) -> None:
    box = inner_bbox(demo["meta"][demo["first"].id]["bounds"])
    mixed = demo_client.get(
        "/wms",
        params={
            "sErViCe": "WMS",
            "rEqUeSt": "GetMap",
            "VeRsIoN": "1.3.0",
            "LaYeRs": "TRUE_COLOR",
            "StYlEs": "",
            "cRs": "CRS:84",
            "bBoX": lonlat(box),
            "WiDtH": "16",
            "hEiGhT": "16",
            "FoRmAt": "image/png",
            "unknown_vendor_thing": "ignored",
        },
    )
    assert mixed.status_code == 200 and mixed.headers["content-type"] == "image/png"
    wrong_case_value = getmap(demo_client, LAYERS="true_color", CRS="CRS:84", BBOX=lonlat(box), WIDTH=8, HEIGHT=8)
    assert exception_code(wrong_case_value) == "LayerNotDefined"
    wrong_format_case = getmap(
        demo_client, LAYERS="TRUE_COLOR", CRS="CRS:84", BBOX=lonlat(box), WIDTH=8, HEIGHT=8, FORMAT="IMAGE/PNG"
    )
    assert exception_code(wrong_format_case) == "InvalidFormat"


def test_percent_escapes_and_plus_are_decoded(demo_client, demo) -> None:
    box = inner_bbox(demo["meta"][demo["first"].id]["bounds"])
    url = (
        "/wms?SERVICE=WMS&REQUEST=GetMap&VERSION=1.3.0&LAYERS=sentinel-2-l2a%3ATRUE_COLOR&STYLES=&CRS=CRS%3A84"
        f"&BBOX={'%2C'.join(map(str, box))}&WIDTH=8&HEIGHT=8&FORMAT=image%2Fpng&TIME=2020-01-01%2F2023-01-01"
    )
    assert demo_client.get(url).headers["content-type"] == "image/png"
    gfi = (
        "/wms?SERVICE=WMS&REQUEST=GetFeatureInfo&VERSION=1.3.0&LAYERS=NDVI&QUERY_LAYERS=NDVI&STYLES=&CRS=CRS%3A84"
        f"&BBOX={'%2C'.join(map(str, box))}&WIDTH=8&HEIGHT=8&I=1&J=1"
    )
    assert demo_client.get(gfi + "&INFO_FORMAT=text%2Fplain").headers["content-type"].startswith("text/plain")
    # '+' is a space: "text/plain " is not an offered format.
    assert exception_code(demo_client.get(gfi + "&INFO_FORMAT=text/plain+")) == "InvalidFormat"


@pytest.mark.parametrize(
    "requested, expected",
    [
        (None, "1.3.0"),
        ("100.0.0", "1.3.0"),
        ("1.3.0", "1.3.0"),
        ("1.2.0", "1.1.1"),
        ("1.1.1", "1.1.1"),
        ("0.0.0", "1.1.1"),
    ],
)
def test_version_negotiation(demo_client, requested, expected) -> None:
    params = {"SERVICE": "WMS", "REQUEST": "GetCapabilities"} | ({"VERSION": requested} if requested else {})
    root = ET.fromstring(demo_client.get("/wms", params=params).content)
    assert root.get("version") == expected


def test_update_sequence(demo_client) -> None:
    caps = ET.fromstring(demo_client.get("/wms", params={"SERVICE": "WMS", "REQUEST": "GetCapabilities"}).content)
    current = caps.get("updateSequence")
    same = demo_client.get("/wms", params={"SERVICE": "WMS", "REQUEST": "GetCapabilities", "UPDATESEQUENCE": current})
    assert exception_code(same) == "CurrentUpdateSequence"
    newer = demo_client.get(
        "/wms", params={"SERVICE": "WMS", "REQUEST": "GetCapabilities", "UPDATESEQUENCE": str(int(current) + 1)}
    )
    assert exception_code(newer) == "InvalidUpdateSequence"
    older = demo_client.get("/wms", params={"SERVICE": "WMS", "REQUEST": "GetCapabilities", "UPDATESEQUENCE": "0"})
    assert ET.fromstring(older.content).tag == f"{WMS}WMS_Capabilities"


def test_unknown_operation(demo_client) -> None:
    response = demo_client.get("/wms", params={"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetCoffee"})
    assert exception_code(response) == "OperationNotSupported"


# ---------------------------------------------------------------- capabilities


def test_capabilities_130(demo_client, demo) -> None:
    response = demo_client.get(
        "/wms", params={"SERVICE": "WMS", "REQUEST": "GetCapabilities", "VERSION": "1.3.0", "FORMAT": "image/png"}
    )
    assert response.headers["content-type"].startswith("text/xml")  # even with an odd FORMAT
    root = ET.fromstring(response.content)
    assert root.tag == f"{WMS}WMS_Capabilities" and root.get("version") == "1.3.0"
    assert root.find(f"{WMS}Service/{WMS}Name").text == "WMS"
    request = root.find(f"{WMS}Capability/{WMS}Request")
    assert [f.text for f in request.findall(f"{WMS}GetMap/{WMS}Format")] == [
        "image/png",
        "image/jpeg",
        "image/webp",
        "image/tiff",
    ]
    assert request.find("{http://www.opengis.net/sld}GetLegendGraphic") is not None
    href = request.find(f"{WMS}GetMap/{WMS}DCPType/{WMS}HTTP/{WMS}Get/{WMS}OnlineResource").get(
        "{http://www.w3.org/1999/xlink}href"
    )
    assert href == "http://testserver/wms?"
    top = root.find(f"{WMS}Capability/{WMS}Layer")
    crs_list = [c.text for c in top.findall(f"{WMS}CRS")]
    for code in (
        "EPSG:4326",
        "CRS:84",
        "EPSG:3857",
        "EPSG:4258",
        "EPSG:3035",
        "EPSG:25832",
        "EPSG:25833",
        "EPSG:32601",
        "EPSG:32660",
        "EPSG:32701",
        "EPSG:32760",
    ):
        assert code in crs_list
    named = [layer for layer in root.iter(f"{WMS}Layer") if layer.find(f"{WMS}Name") is not None]
    names = {layer.find(f"{WMS}Name").text for layer in named}
    assert {"sentinel-2-l2a:TRUE_COLOR", "sentinel-2-l2a:SCL", "sentinel-2-l1c:NDVI"} <= names
    assert "sentinel-2-l1c:SCL" not in names  # SCL exists for L2A only
    for layer in named:
        assert layer.get("queryable") == "1"
        geo = layer.find(f"{WMS}EX_GeographicBoundingBox")
        west, east = float(geo.find(f"{WMS}westBoundLongitude").text), float(geo.find(f"{WMS}eastBoundLongitude").text)
        south, north = (
            float(geo.find(f"{WMS}southBoundLatitude").text),
            float(geo.find(f"{WMS}northBoundLatitude").text),
        )
        assert west < east and south < north
        boxes = {b.get("CRS"): b for b in layer.findall(f"{WMS}BoundingBox")}
        assert set(boxes) == set(crs_list)
        for box in boxes.values():
            assert float(box.get("minx")) < float(box.get("maxx")) and float(box.get("miny")) < float(box.get("maxy"))
        # EPSG:4326 boxes are latitude first in 1.3.0.
        assert float(boxes["EPSG:4326"].get("minx")) == pytest.approx(south)
        dimension = layer.find(f"{WMS}Dimension")
        assert dimension.get("name") == "time" and dimension.get("units") == "ISO8601"
        for value in dimension.text.split(","):
            assert len(value) == 10 and value[4] == "-" and value[7] == "-"
        style = layer.find(f"{WMS}Style")
        assert style.find(f"{WMS}Name").text == "default"
        legend_href = style.find(f"{WMS}LegendURL/{WMS}OnlineResource").get("{http://www.w3.org/1999/xlink}href")
        legend = demo_client.get(legend_href.replace("http://testserver", ""))
        assert legend.headers["content-type"] == "image/png"
    l2a = next(layer for layer in named if layer.find(f"{WMS}Name").text == "sentinel-2-l2a:TRUE_COLOR")
    dates = l2a.find(f"{WMS}Dimension").text.split(",")
    assert "2020-09-21" in dates and "2022-06-15" in dates


def test_capabilities_111(demo_client) -> None:
    response = demo_client.get("/wms", params={"SERVICE": "WMS", "REQUEST": "GetCapabilities", "VERSION": "1.1.1"})
    assert response.headers["content-type"].startswith("application/vnd.ogc.wms_xml")
    root = ET.fromstring(response.content)
    assert root.tag == "WMT_MS_Capabilities" and root.get("version") == "1.1.1"
    top = root.find("Capability/Layer")
    assert "EPSG:4326" in [s.text for s in top.findall("SRS")]
    assert top.find("Dimension").get("name") == "time"
    layer = next(layer for layer in root.iter("Layer") if layer.find("Name") is not None)
    assert layer.find("LatLonBoundingBox") is not None
    assert layer.find("Extent").get("name") == "time"
    box = next(b for b in layer.findall("BoundingBox") if b.get("SRS") == "EPSG:4326")
    latlon_box = layer.find("LatLonBoundingBox")
    assert float(box.get("minx")) == pytest.approx(float(latlon_box.get("minx")))  # lon first in 1.1.1
    assert [f.text for f in root.findall("Capability/Exception/Format")] == [
        "application/vnd.ogc.se_xml",
        "application/vnd.ogc.se_inimage",
        "application/vnd.ogc.se_blank",
    ]


def test_online_resource_respects_proxy_headers(demo_client) -> None:
    response = demo_client.get(
        "/wms",
        params={"SERVICE": "WMS", "REQUEST": "GetCapabilities"},
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "maps.example.org", "X-Forwarded-Prefix": "/eo"},
    )
    assert 'xlink:href="https://maps.example.org/eo/wms?"' in response.text


# ---------------------------------------------------------------- GetMap


@pytest.mark.parametrize("size", [(8, 5), (1024, 768), (4096, 16)])
def test_output_has_exactly_the_requested_size(demo_client, demo, size) -> None:
    box = inner_bbox(demo["meta"][demo["first"].id]["bounds"])
    response = getmap(demo_client, LAYERS="TRUE_COLOR", CRS="CRS:84", BBOX=lonlat(box), WIDTH=size[0], HEIGHT=size[1])
    assert decode(response.content).shape[:2] == (size[1], size[0])


def test_crs84_pixels_are_georeferenced_to_1e4_degrees(demo_client, demo) -> None:
    """Each output pixel shows the source pixel under its centre: the B04 grey of a CRS:84 GetMap
    equals an independent lookup in the band file at the pixel-centre coordinates."""
    product = demo["first"]
    box = inner_bbox(demo["meta"][product.id]["bounds"], 0.2)
    width, height = 120, 90
    response = getmap(
        demo_client,
        LAYERS="TRUE_COLOR",
        CRS="CRS:84",
        BBOX=lonlat(box),
        WIDTH=width,
        HEIGHT=height,
        PRODUCT=product.id,
        EXPRESSION="B04",
        RESCALE="0,1",
        TRANSPARENT="TRUE",
    )
    grey = decode(response.content)[..., 0].astype(int)
    band = next((product.path / "GRANULE").glob("*/IMG_DATA/R10m/*_B04_10m.jp2"))
    xs, ys = pixel_centres(box, width, height)
    dn, safe = sample(band, xs, ys, "OGC:CRS84")
    safe &= dn > 0
    expected = np.round(np.clip(dn / 10000, 0, 1) * 255)
    assert safe.sum() > 1000
    assert np.abs(grey[safe] - expected[safe]).max() <= 1


def test_axis_order_forms_give_the_same_picture(demo_client, demo) -> None:
    box = inner_bbox(demo["meta"][demo["first"].id]["bounds"])
    common = {"LAYERS": "TRUE_COLOR", "WIDTH": 64, "HEIGHT": 48, "TIME": "2020-09-21"}
    pictures = [
        getmap(demo_client, "1.3.0", CRS="EPSG:4326", BBOX=latlon(box), **common),
        getmap(demo_client, "1.3.0", CRS="CRS:84", BBOX=lonlat(box), **common),
        getmap(demo_client, "1.1.1", SRS="EPSG:4326", BBOX=lonlat(box), **common),
        getmap(demo_client, "1.3.0", CRS="EPSG:4258", BBOX=latlon(box), **common),
        getmap(demo_client, "1.1.1", SRS="EPSG:4258", BBOX=lonlat(box), **common),
    ]
    images = [decode(p.content) for p in pictures]
    assert images[0][..., :3].std() > 5
    for image in images[1:]:
        assert np.array_equal(image, images[0])


def test_etrs89_utm_and_laea_areas(demo_client, demo) -> None:
    """EPSG:25832 (x/y) and EPSG:3035 (northing first in 1.3.0) draw the area they are given."""
    box = inner_bbox(demo["meta"][demo["first"].id]["bounds"])
    for code in ("EPSG:25832", "EPSG:32632", "EPSG:3035", "EPSG:3857"):
        x0, y0, x1, y1 = transform_bounds("EPSG:4326", code, *box)
        bbox_130 = f"{y0},{x0},{y1},{x1}" if code == "EPSG:3035" else f"{x0},{y0},{x1},{y1}"
        new = getmap(
            demo_client, "1.3.0", LAYERS="TRUE_COLOR", CRS=code, BBOX=bbox_130, WIDTH=50, HEIGHT=50, TIME="2020-09-21"
        )
        old = getmap(
            demo_client,
            "1.1.1",
            LAYERS="TRUE_COLOR",
            SRS=code,
            BBOX=f"{x0},{y0},{x1},{y1}",
            WIDTH=50,
            HEIGHT=50,
            TIME="2020-09-21",
        )
        a, b = decode(new.content), decode(old.content)
        assert np.array_equal(a, b), code
        assert (a[..., 3] == 255).all() and a[..., :3].std() > 5, code


def test_bbox_must_be_ordered(demo_client) -> None:
    response = getmap(demo_client, LAYERS="TRUE_COLOR", CRS="CRS:84", BBOX="12,51,11,52", WIDTH=8, HEIGHT=8)
    assert "BBOX" in response.text and exception_code(response) is None


def test_bbox_without_data_is_an_empty_image(demo_client) -> None:
    transparent = getmap(
        demo_client, LAYERS="TRUE_COLOR", CRS="CRS:84", BBOX="-60,-30,-59,-29", WIDTH=16, HEIGHT=16, TRANSPARENT="TRUE"
    )
    assert (decode(transparent.content)[..., 3] == 0).all()
    white = getmap(demo_client, LAYERS="TRUE_COLOR", CRS="CRS:84", BBOX="-60,-30,-59,-29", WIDTH=16, HEIGHT=16)
    assert (decode(white.content) == 255).all()


def test_exception_codes_for_bad_getmaps(demo_client) -> None:
    ok = {"LAYERS": "TRUE_COLOR", "CRS": "CRS:84", "BBOX": "11,50,12,51", "WIDTH": 8, "HEIGHT": 8}
    assert exception_code(getmap(demo_client, **{**ok, "CRS": "EPSG:99999"})) == "InvalidCRS"
    assert exception_code(getmap(demo_client, "1.1.1", **{**ok, "CRS": None, "SRS": "EPSG:99999"})) == "InvalidSRS"
    assert exception_code(getmap(demo_client, **{**ok, "FORMAT": "image/gif"})) == "InvalidFormat"
    assert exception_code(getmap(demo_client, **{**ok, "LAYERS": "TRUE_COLOR,NOPE"})) == "LayerNotDefined"
    assert exception_code(getmap(demo_client, **{**ok, "LAYERS": "NOPE,TRUE_COLOR"})) == "LayerNotDefined"
    assert exception_code(getmap(demo_client, **{**ok, "STYLES": "fancy"})) == "StyleNotDefined"
    assert exception_code(getmap(demo_client, **{**ok, "TIME": "yesterday"})) == "InvalidDimensionValue"
    assert exception_code(getmap(demo_client, **{**ok, "TIME": "2021-01-01/2020-01-01"})) == "InvalidDimensionValue"
    for styles in ("", ",", "default"):
        layers = "TRUE_COLOR,NDVI" if styles == "," else "TRUE_COLOR"
        assert getmap(demo_client, **{**ok, "LAYERS": layers, "STYLES": styles}).headers["content-type"] == "image/png"


def test_missing_time_without_a_default(demo_archive) -> None:
    from starlette.testclient import TestClient

    root, _ = demo_archive
    client = TestClient(create_app(Settings(data_roots=(root,), wms_time_default=False)))
    caps = client.get("/wms", params={"SERVICE": "WMS", "REQUEST": "GetCapabilities"}).text
    assert 'default="' not in caps
    response = getmap(client, LAYERS="TRUE_COLOR", CRS="CRS:84", BBOX="11,50,12,51", WIDTH=8, HEIGHT=8)
    assert exception_code(response) == "MissingDimensionValue"
    assert (
        getmap(
            client, LAYERS="TRUE_COLOR", CRS="CRS:84", BBOX="11,50,12,51", WIDTH=8, HEIGHT=8, TIME="2020-09-21"
        ).status_code
        == 200
    )


def test_size_limit_refuses_before_drawing(demo_client, monkeypatch) -> None:
    import tiler.pipeline.run

    monkeypatch.setattr(tiler.pipeline.run, "_draw", lambda *a, **k: pytest.fail("must not draw"))
    response = getmap(demo_client, LAYERS="TRUE_COLOR", CRS="CRS:84", BBOX="11,50,12,51", WIDTH=100000, HEIGHT=100000)
    assert "4096" in response.text and response.headers["content-type"].startswith("text/xml")
    assert getmap(demo_client, LAYERS="TRUE_COLOR", CRS="CRS:84", BBOX="11,50,12,51", WIDTH=4097, HEIGHT=10).text.count(
        "4096"
    )


def test_not_transparent_fills_with_bgcolor(demo_client, demo) -> None:
    w, s, e, n = demo["meta"][demo["first"].id]["bounds"]
    # Half of this box lies west of every product.
    box = (w - (e - w), s, w + (e - w) * 0.5, n)
    for params, expected in (({}, (255, 255, 255)), ({"BGCOLOR": "0x00FF00"}, (0, 255, 0))):
        image = decode(
            getmap(
                demo_client, LAYERS="TRUE_COLOR", CRS="CRS:84", BBOX=lonlat(box), WIDTH=40, HEIGHT=20, **params
            ).content
        )
        assert (image[..., 3] == 255).all()
        assert (image[:, :5, :3] == expected).all()
    transparent = decode(
        getmap(
            demo_client, LAYERS="TRUE_COLOR", CRS="CRS:84", BBOX=lonlat(box), WIDTH=40, HEIGHT=20, TRANSPARENT="TRUE"
        ).content
    )
    assert (transparent[:, :5, 3] == 0).all() and (transparent[:, -5:, 3] > 0).any()


# ---------------------------------------------------------------- exceptions


def test_exception_formats(demo_client) -> None:
    bad = {"LAYERS": "NOPE", "CRS": "CRS:84", "BBOX": "11,50,12,51", "WIDTH": 60, "HEIGHT": 40}
    xml_130 = getmap(demo_client, **bad)
    assert xml_130.headers["content-type"].startswith("text/xml")
    assert ET.fromstring(xml_130.content).get("version") == "1.3.0"
    xml_111 = getmap(demo_client, "1.1.1", **{**bad, "CRS": None, "SRS": "EPSG:4326"})
    assert xml_111.headers["content-type"].startswith("application/vnd.ogc.se_xml")
    assert ET.fromstring(xml_111.content).get("version") == "1.1.1"
    inimage = getmap(demo_client, EXCEPTIONS="INIMAGE", **bad)
    image = decode(inimage.content)
    assert inimage.headers["content-type"] == "image/png" and image.shape == (40, 60, 4)
    assert (image[..., 0] > image[..., 1] + 100).any()  # red message text on white
    inimage_111 = getmap(
        demo_client,
        "1.1.1",
        EXCEPTIONS="application/vnd.ogc.se_inimage",
        FORMAT="image/jpeg",
        **{**bad, "CRS": None, "SRS": "EPSG:4326"},
    )
    assert inimage_111.headers["content-type"] == "image/jpeg"
    red = decode(getmap(demo_client, EXCEPTIONS="BLANK", BGCOLOR="0xFF0000", TRANSPARENT="FALSE", **bad).content)
    assert (red == (255, 0, 0, 255)).all()
    clear = decode(getmap(demo_client, EXCEPTIONS="BLANK", BGCOLOR="0xFF0000", TRANSPARENT="TRUE", **bad).content)
    assert (clear[..., 3] == 0).all()


# ---------------------------------------------------------------- vendor parameters


def test_several_layers_are_drawn_in_order(demo_client, demo) -> None:
    box = inner_bbox(demo["meta"][demo["first"].id]["bounds"])
    common = {
        "CRS": "CRS:84",
        "BBOX": lonlat(box),
        "WIDTH": 40,
        "HEIGHT": 40,
        "TIME": "2020-09-21",
        "TRANSPARENT": "TRUE",
    }
    scl = decode(getmap(demo_client, LAYERS="SCL", **common).content)
    both = decode(getmap(demo_client, LAYERS="TRUE_COLOR,SCL", **common).content)
    reverse = decode(getmap(demo_client, LAYERS="SCL,TRUE_COLOR", **common).content)
    true_color = decode(getmap(demo_client, LAYERS="TRUE_COLOR", **common).content)
    opaque = scl[..., 3] == 255
    assert opaque.mean() > 0.5
    assert np.array_equal(both[opaque], scl[opaque])
    assert np.array_equal(reverse[opaque], true_color[opaque])


def test_resx_resy_in_metres(demo_client, demo) -> None:
    box = inner_bbox(demo["meta"][demo["first"].id]["bounds"])
    x0, y0, _, _ = transform_bounds("EPSG:4326", "EPSG:32632", *box)
    response = getmap(
        demo_client,
        LAYERS="TRUE_COLOR",
        CRS="EPSG:32632",
        BBOX=f"{x0},{y0},{x0 + 200},{y0 + 100}",
        RESX="10m",
        RESY="10m",
    )
    assert decode(response.content).shape[:2] == (10, 20)
    degrees = getmap(demo_client, LAYERS="TRUE_COLOR", CRS="CRS:84", BBOX=lonlat(box), RESX="20m", RESY="20m")
    height, width = decode(degrees.content).shape[:2]
    assert width > 2 and height > 2


def test_maxcc_priority_and_product(demo_client, demo) -> None:
    first, second = demo["first"], demo["second"]
    a, b = demo["meta"][first.id]["bounds"], demo["meta"][second.id]["bounds"]
    overlap = (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))
    common = {
        "LAYERS": "TRUE_COLOR",
        "CRS": "CRS:84",
        "BBOX": lonlat(overlap),
        "WIDTH": 20,
        "HEIGHT": 40,
        "TRANSPARENT": "TRUE",
    }
    newest = decode(getmap(demo_client, **common).content)
    oldest = decode(getmap(demo_client, PRIORITY="leastRecent", **common).content)
    only_second = decode(getmap(demo_client, PRODUCT=second.id, **common).content)
    only_first = decode(getmap(demo_client, PRODUCT=first.id, **common).content)
    both = (only_first[..., 3] == 255) & (only_second[..., 3] == 255)
    assert both.mean() > 0.5
    assert np.array_equal(newest[both], only_second[both])  # 2022 is the most recent
    assert np.array_equal(oldest[both], only_first[both])
    clouds = sorted([first.cloud_cover, second.cloud_cover])
    limited = decode(getmap(demo_client, MAXCC=str((clouds[0] + clouds[1]) / 2), **common).content)
    least_cloudy = only_first if first.cloud_cover < second.cloud_cover else only_second
    assert np.array_equal(limited[both], least_cloudy[both])
    assert (decode(getmap(demo_client, MAXCC="0", **common).content)[..., 3] == 0).all()
    bad_product = getmap(demo_client, PRODUCT="../etc", **common)
    assert ".." in bad_product.text


def test_quality_gain_gamma_and_resampling(demo_client, demo) -> None:
    box = inner_bbox(demo["meta"][demo["first"].id]["bounds"], 0.45)
    common = {
        "LAYERS": "TRUE_COLOR",
        "CRS": "CRS:84",
        "BBOX": lonlat(box),
        "WIDTH": 200,
        "HEIGHT": 200,
        "TIME": "2020-09-21",
    }
    small = getmap(demo_client, FORMAT="image/jpeg", QUALITY="10", **common)
    large = getmap(demo_client, FORMAT="image/jpeg", QUALITY="95", **common)
    assert len(small.content) < len(large.content)
    plain = decode(getmap(demo_client, **common).content)[..., :3].astype(float)
    brighter = decode(getmap(demo_client, GAIN="1.5", **common).content)[..., :3].astype(float)
    gamma = decode(getmap(demo_client, GAMMA="2", **common).content)[..., :3].astype(float)
    assert brighter.mean() > plain.mean() * 1.3 and gamma.mean() > plain.mean()
    expected = np.round(255 * np.clip(1.5 * plain / 255, 0, 1))
    assert np.abs(brighter - expected).max() <= 1
    bilinear = decode(getmap(demo_client, UPSAMPLING="BILINEAR", **common).content)[..., :3].astype(float)
    assert not np.array_equal(bilinear, plain)
    # Nearest keeps the blocks of the 10 m pixels; bilinear smooths them.
    assert len(np.unique(bilinear.reshape(-1, 3), axis=0)) > len(np.unique(plain.reshape(-1, 3), axis=0))
    assert "UPSAMPLING" in getmap(demo_client, UPSAMPLING="FANCY", **common).text


def test_expression_rescale_colormap(demo_client, demo) -> None:
    box = inner_bbox(demo["meta"][demo["first"].id]["bounds"])
    common = {
        "LAYERS": "TRUE_COLOR",
        "CRS": "CRS:84",
        "BBOX": lonlat(box),
        "WIDTH": 32,
        "HEIGHT": 32,
        "TIME": "2020-09-21",
    }
    ndvi = decode(
        getmap(demo_client, EXPRESSION="(B08-B04)/(B08+B04)", RESCALE="-1,1", COLORMAP="viridis", **common).content
    )
    assert len(np.unique(ndvi.reshape(-1, 4), axis=0)) > 5
    refused = getmap(demo_client, EXPRESSION="__import__('os')", **common)
    assert exception_code(refused) is None and "expression" in refused.text


# ---------------------------------------------------------------- GetFeatureInfo


def getfeatureinfo(client, version="1.3.0", **params):
    query = {"SERVICE": "WMS", "REQUEST": "GetFeatureInfo", "VERSION": version, "STYLES": "", **params}
    return client.get("/wms", params={k: v for k, v in query.items() if v is not None})


def test_feature_info_lists_the_stack_with_values(demo_client, demo) -> None:
    first, second = demo["first"], demo["second"]
    a, b = demo["meta"][first.id]["bounds"], demo["meta"][second.id]["bounds"]
    overlap = (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))
    response = getfeatureinfo(
        demo_client,
        LAYERS="NDVI",
        QUERY_LAYERS="NDVI",
        CRS="CRS:84",
        BBOX=lonlat(overlap),
        WIDTH=11,
        HEIGHT=11,
        I=5,
        J=5,
        INFO_FORMAT="application/json",
    )
    info = response.json()["layers"][0]
    assert info["layer"] == "sentinel-2-l2a:NDVI"
    products = info["products"]
    assert [p["product"] for p in products] == [second.id, first.id]  # most recent first
    lon, lat = info["lon"], info["lat"]
    for entry, product in zip(products, (second, first), strict=True):
        offset = -1000 if product.baseline == "04.00" else 0
        values = {}
        for band in ("B04", "B08"):
            path = next((product.path / "GRANULE").glob(f"*/IMG_DATA/R10m/*_{band}_10m.jp2"))
            dn, _ = sample(path, np.array([lon]), np.array([lat]), "OGC:CRS84")
            values[band] = max(dn[0] + offset, 0) / 10000
            assert entry["bands"][band] == pytest.approx(values[band], abs=1e-4)
        ndvi = (values["B08"] - values["B04"]) / (values["B08"] + values["B04"])
        assert entry["value"][0] == pytest.approx(ndvi, abs=1e-4)
        assert entry["datetime"].startswith(product.datetime[:10])
        assert isinstance(entry["scl"]["name"], str) and 0 <= entry["scl"]["class"] <= 11


@pytest.mark.parametrize("info_format", ["text/plain", "text/html", "text/xml", "application/json"])
def test_feature_info_formats(demo_client, demo, info_format) -> None:
    box = inner_bbox(demo["meta"][demo["first"].id]["bounds"])
    response = getfeatureinfo(
        demo_client,
        "1.1.1",
        LAYERS="SCL",
        QUERY_LAYERS="SCL",
        SRS="EPSG:4326",
        BBOX=lonlat(box),
        WIDTH=10,
        HEIGHT=10,
        X=5,
        Y=5,
        INFO_FORMAT=info_format,
        TIME="2020-09-21",
    )
    assert response.headers["content-type"].startswith(info_format)
    assert demo["first"].id in response.text
    if info_format == "text/xml":
        assert ET.fromstring(response.content).find("Layer/Product/SCL") is not None


def test_feature_info_exceptions(demo_client) -> None:
    common = {
        "LAYERS": "NDVI",
        "QUERY_LAYERS": "NDVI",
        "CRS": "CRS:84",
        "BBOX": "11,50,12,51",
        "WIDTH": 10,
        "HEIGHT": 10,
        "I": 3,
        "J": 3,
    }
    assert exception_code(getfeatureinfo(demo_client, INFO_FORMAT="image/png", **common)) == "InvalidFormat"
    assert (
        exception_code(getfeatureinfo(demo_client, INFO_FORMAT="text/plain", **{**common, "I": 10})) == "InvalidPoint"
    )
    assert (
        exception_code(getfeatureinfo(demo_client, INFO_FORMAT="text/plain", **{**common, "J": -1})) == "InvalidPoint"
    )
    assert (
        exception_code(getfeatureinfo(demo_client, INFO_FORMAT="text/plain", **{**common, "QUERY_LAYERS": "SCL"}))
        == "LayerNotQueryable"
    )
    assert (
        exception_code(getfeatureinfo(demo_client, INFO_FORMAT="text/plain", **{**common, "QUERY_LAYERS": "NOPE"}))
        == "LayerNotDefined"
    )
    missing = getfeatureinfo(demo_client, INFO_FORMAT="text/plain", **{**common, "QUERY_LAYERS": None})
    assert "QUERY_LAYERS" in missing.text


# ---------------------------------------------------------------- GetLegendGraphic


def test_legend_graphics(demo_client) -> None:
    def legend(layer):
        response = demo_client.get(
            "/wms",
            params={
                "SERVICE": "WMS",
                "REQUEST": "GetLegendGraphic",
                "VERSION": "1.3.0",
                "FORMAT": "image/png",
                "LAYER": layer,
            },
        )
        assert response.headers["content-type"] == "image/png"
        return decode(response.content)

    scl = legend("SCL")
    colours = {tuple(c) for c in scl[..., :3].reshape(-1, 3)}
    assert {(0, 160, 0), (0, 0, 255), (100, 200, 255)} <= colours  # vegetation, water, cirrus swatches
    ndvi = legend("sentinel-2-l2a:NDVI")
    assert len({tuple(c) for c in ndvi[..., :3].reshape(-1, 3)}) > 15  # a stepped ramp
    assert (ndvi[..., :3] == (0, 69, 0)).all(-1).any()  # the top colour, [0, 0.27, 0]
    unknown = demo_client.get(
        "/wms", params={"SERVICE": "WMS", "REQUEST": "GetLegendGraphic", "VERSION": "1.3.0", "LAYER": "NOPE"}
    )
    assert exception_code(unknown) == "LayerNotDefined"


# ---------------------------------------------------------------- limits and keys, the OGC way


def test_middleware_errors_are_ogc_exceptions(demo_archive, tmp_path) -> None:
    from starlette.testclient import TestClient

    root, _ = demo_archive
    client = TestClient(
        create_app(
            Settings(data_roots=(root,), catalog=tmp_path / "c.sqlite", api_keys=("secret",), max_query_length=300)
        )
    )
    no_key = client.get("/wms", params={"SERVICE": "WMS", "REQUEST": "GetCapabilities"})
    assert no_key.status_code == 401 and ET.fromstring(no_key.content).tag == f"{OGC}ServiceExceptionReport"
    wmts = client.get("/wmts", params={"SERVICE": "WMTS", "REQUEST": "GetCapabilities"})
    assert (
        wmts.status_code == 401 and ET.fromstring(wmts.content).tag == "{http://www.opengis.net/ows/1.1}ExceptionReport"
    )
    too_long = client.get("/wms", params={"SERVICE": "WMS", "REQUEST": "GetMap", "LAYERS": "X" * 400})
    assert too_long.status_code == 414 and "ServiceExceptionReport" in too_long.text
    with_key = client.get("/wms", params={"SERVICE": "WMS", "REQUEST": "GetCapabilities", "key": "secret"})
    assert with_key.status_code == 200 and "WMS_Capabilities" in with_key.text
    assert client.get("/tiles/1/0/0.png").headers["content-type"] == "application/json"


def test_render_deadline_on_getmap(demo_archive, demo, tmp_path, monkeypatch) -> None:
    import threading

    from starlette.testclient import TestClient

    import tiler.pipeline.run

    root, _ = demo_archive
    release = threading.Event()
    calls = []

    def stuck(*args, **kwargs):
        calls.append(1)
        release.wait(10)
        raise AssertionError("abandoned render must not be used")

    monkeypatch.setattr(tiler.pipeline.run, "read_mosaic", stuck)
    client = TestClient(create_app(Settings(data_roots=(root,), catalog=tmp_path / "c.sqlite", render_timeout=0.5)))
    box = inner_bbox(demo["meta"][demo["first"].id]["bounds"])
    try:
        response = getmap(client, LAYERS="TRUE_COLOR", CRS="CRS:84", BBOX=lonlat(box), WIDTH=16, HEIGHT=16)
    finally:
        release.set()
    assert response.status_code == 503 and response.headers["retry-after"]
    assert "longer than the limit" in response.text and calls


def test_cloudmask_lets_a_clearer_product_show_through(demo_client, demo) -> None:
    """Where the newest product has cloud (SCL 8-10) or shadow (3), CLOUDMASK draws the next one."""
    first, second = demo["first"], demo["second"]
    a, b = demo["meta"][first.id]["bounds"], demo["meta"][second.id]["bounds"]
    overlap = (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))
    common = {"CRS": "CRS:84", "BBOX": lonlat(overlap), "WIDTH": 24, "HEIGHT": 48, "TRANSPARENT": "TRUE"}
    scl_new = decode(getmap(demo_client, LAYERS="SCL", PRODUCT=second.id, **common).content)
    cloud_colours = np.array([[100, 50, 0], [192, 192, 192], [255, 255, 255], [100, 200, 255]])
    cloudy = (scl_new[..., None, :3] == cloud_colours).all(-1).any(-1) & (scl_new[..., 3] == 255)
    masked = decode(getmap(demo_client, LAYERS="SCL", CLOUDMASK="TRUE", **common).content)
    plain = decode(getmap(demo_client, LAYERS="SCL", **common).content)
    assert cloudy.sum() > 10
    assert np.array_equal(plain[cloudy], scl_new[cloudy])
    # Under the newest product's clouds the older product shows through: fewer cloud pixels remain.
    still_cloudy = (masked[cloudy][..., None, :3] == cloud_colours).all(-1).any(-1)
    assert still_cloudy.mean() < 0.5
    assert exception_code(getmap(demo_client, LAYERS="sentinel-2-l1c:TRUE_COLOR", CLOUDMASK="TRUE", **common)) is None


def test_layers_are_drawn_over_each_other_and_over_the_background(demo_client, demo) -> None:
    # The westernmost Sentinel-2 product's west edge: no L2A product lies beyond it.
    sentinel_2 = (m for m in demo["meta"].values() if m["collection"] == "sentinel-2-l2a")
    west, south, east, north = min((m["bounds"] for m in sentinel_2), key=lambda b: b[0])
    # Half on the product, half beside it: each layer is transparent there.
    box = f"{west - (east - west) * 0.3},{south + (north - south) * 0.3},{west + (east - west) * 0.3},{north - (north - south) * 0.3}"
    common = {"CRS": "CRS:84", "BBOX": box, "WIDTH": 64, "HEIGHT": 48, "TRANSPARENT": "TRUE"}
    bottom = decode(getmap(demo_client, LAYERS="TRUE_COLOR", **common).content)
    top = decode(getmap(demo_client, LAYERS="NDVI", **common).content)
    both = decode(getmap(demo_client, LAYERS="TRUE_COLOR,NDVI", STYLES=",", **common).content)
    assert (top[..., 3] == 0).any() and (top[..., 3] == 255).any() and set(np.unique(top[..., 3])) <= {0, 255}
    np.testing.assert_array_equal(both, np.where(top[..., 3:4] == 255, top, bottom))
    red = decode(
        getmap(demo_client, LAYERS="TRUE_COLOR", **{**common, "TRANSPARENT": "FALSE", "BGCOLOR": "0xFF1020"}).content
    )
    np.testing.assert_array_equal(
        red, np.where(bottom[..., 3:4] == 255, bottom, np.array([255, 16, 32, 255], np.uint8))
    )


def test_over_keeps_straight_alpha() -> None:
    from renderers.composite import over as _over

    top = np.array([[[200, 100, 0, 128], [10, 20, 30, 0], [1, 2, 3, 255]]], np.uint8)
    bottom = np.array([[[0, 0, 200, 255], [40, 50, 60, 77], [9, 9, 9, 0]]], np.uint8)
    t, b = top / 255.0, bottom / 255.0
    alpha = t[..., 3:] + b[..., 3:] * (1 - t[..., 3:])
    rgb = (t[..., :3] * t[..., 3:] + b[..., :3] * b[..., 3:] * (1 - t[..., 3:])) / alpha
    expected = np.round(np.concatenate([rgb, alpha], -1) * 255).astype(np.uint8)
    np.testing.assert_array_equal(_over(top, bottom), expected)
    assert _over(top, bottom)[0, 1].tolist() == [40, 50, 60, 77]  # a transparent top leaves the bottom as it was


def test_getmap_has_validators_answers_304_and_records_its_stages(demo_archive, demo, tmp_path) -> None:
    """GetMap goes through the same pipeline as tiles: ETag, Cache-Control, 304, X-Cache and stage timings."""
    from starlette.testclient import TestClient

    root, _ = demo_archive
    client = TestClient(create_app(Settings(data_roots=(root,), catalog=tmp_path / "c.sqlite")))
    box = inner_bbox(demo["meta"][demo["first"].id]["bounds"])
    params = {"LAYERS": "sentinel-2-l2a:NDVI", "CRS": "CRS:84", "BBOX": lonlat(box), "WIDTH": 64, "HEIGHT": 48}
    first = getmap(client, **params)
    assert first.status_code == 200 and first.headers["x-cache"] == "miss"
    etag = first.headers["etag"]
    assert etag.startswith('"') and "max-age=" in first.headers["cache-control"]
    again = getmap(client, **params)
    assert again.headers["x-cache"] == "hit" and again.headers["etag"] == etag and again.content == first.content
    unchanged = client.get(
        "/wms",
        params={
            "SERVICE": "WMS",
            "REQUEST": "GetMap",
            "VERSION": "1.3.0",
            "STYLES": "",
            "FORMAT": "image/png",
            **params,
        },
        headers={"If-None-Match": etag},
    )
    assert unchanged.status_code == 304 and unchanged.content == b""
    metrics = client.get("/metrics").text
    for stage in ("resolve", "select", "read", "evaluate", "encode"):
        assert f'eo_tiler_render_stage_seconds_count{{stage="{stage}"}}' in metrics
    assert 'eo_tiler_requests_total{route="/wms",status="304"} 1.0' in metrics
