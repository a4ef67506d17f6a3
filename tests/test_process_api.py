"""POST /process, Sentinel Hub's Process API: the same pictures as the GET routes with the script in a
JSON body, and a clear 4xx for every request it does not take."""

from __future__ import annotations

import numpy as np
import pytest
from rasterio.warp import transform_bounds

from tests.helpers import COG_ID, LAYER_SCRIPTS, decode, evalscript_param
from tiler.settings import Settings

MERCATOR = "http://www.opengis.net/def/crs/EPSG/0/3857"
GRADIENT = (LAYER_SCRIPTS.parent / "gradient_several_outputs.js").read_text()


@pytest.fixture(scope="module")
def area(real_app) -> tuple[float, float, float, float]:
    """A quarter of the 29RKH product, lon/lat."""
    west, south, east, north = real_app.state.services.catalog.resolve(COG_ID).bounds_wgs84
    return west, south, (west + east) / 2, (south + north) / 2


def body(script: str, area, **changes) -> dict:
    """A Process API request for `script` over `area` (a mosaic of February 2020), with `changes`:
    dotted paths to values (None removes the member)."""
    request = {
        "input": {
            "bounds": {
                "bbox": list(transform_bounds("EPSG:4326", "EPSG:3857", *area)),
                "properties": {"crs": MERCATOR},
            },
            "data": [
                {
                    "type": "sentinel-2-l2a",
                    "dataFilter": {
                        "timeRange": {"from": "2020-02-01T00:00:00Z", "to": "2020-02-29T23:59:59Z"},
                        "maxCloudCoverage": 50,
                        "mosaickingOrder": "leastCC",
                    },
                }
            ],
        },
        "output": {"width": 300, "responses": [{"identifier": "default", "format": {"type": "image/png"}}]},
        "evalscript": script,
    }
    for path, value in changes.items():
        *parents, last = path.split(".")
        node = request
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if value is None:
            del node[last]
        else:
            node[last] = value
    return request


def test_a_mosaic_by_post_is_the_preview_by_get(real_client, area) -> None:
    script = (LAYER_SCRIPTS / "TRUE_COLOR.js").read_text()
    posted = real_client.post("/process", json=body(script, area))
    assert posted.status_code == 200, posted.text
    assert posted.headers["content-type"] == "image/png"
    preview = real_client.get(
        "/preview.png",
        params={
            "collection": "sentinel-2-l2a", "time": "2020-02-01T00:00:00Z/2020-02-29T23:59:59Z", "maxcc": 50,
            "priority": "leastCC", "bbox": ",".join(map(str, area)), "width": 300, "evalscript": evalscript_param(script),
        },
    )  # fmt: skip
    assert preview.status_code == 200, preview.text
    np.testing.assert_array_equal(decode(posted.content), decode(preview.content))
    assert (decode(posted.content)[..., 3] == 255).mean() > 0.9


def test_one_product_in_its_own_extent_is_its_preview(real_client, area) -> None:
    script = (LAYER_SCRIPTS / "NDWI.js").read_text()
    request = body(script, area, **{"input.bounds": None, "output.width": 200})
    request["input"]["data"][0]["product"] = COG_ID
    posted = real_client.post("/process", json=request)
    preview = real_client.get("/preview.png", params={"product": COG_ID, "width": 200, "layer": "NDWI"})
    assert posted.status_code == 200, posted.text
    difference = np.abs(decode(posted.content).astype(int) - decode(preview.content).astype(int))
    assert difference.max() <= 1


def test_another_output_of_the_script_by_its_identifier(real_client, area) -> None:
    index = real_client.post("/process", json=body(GRADIENT, area, **{"output.responses.0.identifier": "index"}))
    alone = (
        '//VERSION=3\nfunction setup() { return { input: ["B02", "B03", "B8A"], output: { bands: 1, sampleType: "FLOAT32" } }; }\n'
        "function evaluatePixel(px) { return [px.B02 / (1 - (px.B02 + px.B03 + px.B8A) / 3)]; }\n"
    )
    expected = real_client.post("/process", json=body(alone, area))
    assert index.status_code == 200, index.text
    np.testing.assert_array_equal(decode(index.content), decode(expected.content))
    default = real_client.post("/process", json=body(GRADIENT, area))
    assert not np.array_equal(decode(default.content), decode(index.content))


def test_jpeg_and_a_size_given_by_height(real_client, area) -> None:
    request = body((LAYER_SCRIPTS / "TRUE_COLOR.js").read_text(), area, **{"output.width": None, "output.height": 120})
    request["output"]["responses"][0]["format"]["type"] = "image/jpeg"
    response = real_client.post("/process", json=request)
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    assert decode(response.content).shape[0] == 120


@pytest.mark.parametrize(
    ("changes", "status", "words"),
    [
        ({"evalscript": None}, 400, ["evalscript is required"]),
        ({"evalscript": 3}, 400, ["body.evalscript must be a string"]),
        ({"evalscript": "return [B04 +];"}, 400, ["syntax error: line 1, column"]),
        ({"evalscript": "return [B10];"}, 400, ["B10", "a sentinel-2-l2a mosaic lacks"]),
        ({"input.data.0.type": "landsat-9"}, 400, ["input.data[0].type", "landsat-9"]),
        ({"input.data": []}, 400, ["exactly one data source"]),
        ({"input.data.0.dataFilter.maxCloudCoverage": 150}, 400, ["maxCloudCoverage", "0 to 100"]),
        ({"input.data.0.dataFilter.mosaickingOrder": "newest"}, 400, ["mosaickingOrder", "mostRecent"]),
        ({"input.data.0.dataFilter.timeRange.from": "yesterday"}, 400, ["timeRange", "not a date"]),
        ({"input.bounds.bbox": [1, 2, 3]}, 400, ["four numbers"]),
        ({"input.bounds.bbox": [3, 2, 1, 4]}, 400, ["minx < maxx"]),
        ({"input.bounds": None}, 400, ["input.bounds.bbox is required"]),
        ({"input.bounds.geometry": {"type": "Point", "coordinates": [0, 0]}}, 400, ["geometry is not supported"]),
        ({"input.bounds.properties.crs": "EPSG:3857"}, 400, ["OGC CRS URI"]),
        ({"output.width": 100_000}, 413, ["output.width", "4096"]),
        ({"output.responses": [{}, {}]}, 400, ["one response"]),
        ({"output.responses.0.format.type": "image/tiff"}, 400, ["image/tiff", "image/png"]),
        ({"output.responses.0.identifier": "nothing"}, 400, ["no output 'nothing'"]),
        ({"input.data.0.processing": {"upsampling": "LANCZOS"}}, 400, ["upsampling", "BILINEAR"]),
    ],
)
def test_requests_it_does_not_take_get_a_clear_4xx(real_client, area, changes, status, words) -> None:
    response = real_client.post("/process", json=body((LAYER_SCRIPTS / "TRUE_COLOR.js").read_text(), area, **changes))
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert all(word in detail for word in words), detail


def test_orbit_and_tile_mosaicking_name_what_they_need(real_client, area) -> None:
    for mosaicking in ("ORBIT", "TILE"):
        script = (
            f'//VERSION=3\nfunction setup() {{ return {{ input: ["B04"], output: {{ bands: 1 }}, mosaicking: "{mosaicking}" }}; }}\n'
            "function evaluatePixel(samples, scenes) { return [samples[0].B04]; }\n"
        )
        response = real_client.post("/process", json=body(script, area))
        assert response.status_code == 400
        detail = response.json()["detail"]
        assert mosaicking in detail and "array of samples per pixel" in detail and "scenes' metadata" in detail


def test_a_body_that_is_not_json_or_too_long(real_settings, real_app, real_client, area) -> None:
    from starlette.testclient import TestClient

    from tiler.app import create_app

    assert real_client.post("/process", content=b"{not json").status_code == 400
    assert real_client.post("/process", content=b"[" * 100_000).status_code == 400  # nesting past the parser's stack
    small = create_app(
        Settings(data_roots=real_settings.data_roots, max_evalscript_length=1000),
        catalog=real_app.state.services.catalog,
    )
    client = TestClient(small, raise_server_exceptions=False)
    refused = client.post("/process", content=b" " * 100_000, headers={"content-type": "application/json"})
    assert refused.status_code == 413 and "body is longer" in refused.json()["detail"]
    too_long = client.post("/process", json=body("// " + "x" * 2000, area))
    assert too_long.status_code == 400 and "longer than 1000 characters" in too_long.json()["detail"]


def test_a_script_past_the_deadline_is_a_503(real_settings, real_app, area) -> None:
    from starlette.testclient import TestClient

    from tiler.app import create_app

    app = create_app(
        Settings(data_roots=real_settings.data_roots, render_timeout=2.0), catalog=real_app.state.services.catalog
    )
    client = TestClient(app, raise_server_exceptions=False)
    looping = (
        '//VERSION=3\nfunction setup() { return { input: ["B04"], output: { bands: 1 } }; }\n'
        "function evaluatePixel(s) { while (true) {} }\n"
    )
    response = client.post("/process", json=body(looping, area))
    assert response.status_code == 503 and response.headers["retry-after"]
    assert client.post("/process", json=body((LAYER_SCRIPTS / "TRUE_COLOR.js").read_text(), area)).status_code == 200
