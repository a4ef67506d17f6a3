"""Real WMS clients against a server on loopback: OWSLib, GDAL's WMS driver and headless QGIS."""

from __future__ import annotations

import httpx
import morecantile
import numpy as np
import pytest
import rasterio
from owslib.wms import WebMapService

from tests.helpers import decode


@pytest.fixture(scope="module")
def l2a(demo_archive):
    _, products = demo_archive
    return next(
        p for p in products if p.collection == "sentinel-2-l2a" and p.layout == "safe" and p.baseline == "02.14"
    )


@pytest.mark.parametrize("version", ["1.1.1", "1.3.0"])
def test_owslib_reads_capabilities_map_and_feature_info(demo_server, l2a, version) -> None:
    wms = WebMapService(f"{demo_server}/wms", version=version, timeout=30)
    assert wms.identification.title == "eo-tiler"
    assert "sentinel-2-l2a:TRUE_COLOR" in wms.contents and "sentinel-2-l1c:NDVI" in wms.contents
    layer = wms["sentinel-2-l2a:NDVI"]
    assert "EPSG:25832" in layer.crsOptions
    assert "2020-09-21" in layer.timepositions
    west, south, east, north = layer.boundingBoxWGS84
    assert west < east and south < north
    # A box over the product the feature info must find (the layer's box holds others too).
    west, south, east, north = httpx.get(f"{demo_server}/products/{l2a.id}").json()["bounds"]
    box = (
        west + (east - west) * 0.1,
        south + (north - south) * 0.4,
        west + (east - west) * 0.3,
        south + (north - south) * 0.6,
    )
    srs = "CRS:84" if version == "1.3.0" else "EPSG:4326"
    image = wms.getmap(
        layers=["sentinel-2-l2a:NDVI"],
        styles=[""],
        srs=srs,
        bbox=box,
        size=(64, 48),
        format="image/png",
        transparent=True,
        time="2020-09-21",
    )
    pixels = decode(image.read())
    assert pixels.shape == (48, 64, 4) and pixels[..., 3].mean() > 0
    info = wms.getfeatureinfo(
        layers=["sentinel-2-l2a:NDVI"],
        query_layers=["sentinel-2-l2a:NDVI"],
        srs=srs,
        bbox=box,
        size=(64, 48),
        format="image/png",
        info_format="application/json",
        xy=(32, 24),
        styles=[""],
    )
    body = info.read().decode()
    assert l2a.id in body and '"value"' in body


def test_gdal_wms_driver_matches_the_tile_route(demo_server, demo_client, l2a) -> None:
    """GDAL reads a georeferenced image through WMS whose pixels equal the XYZ tile of the same area."""
    meta = demo_client.get(f"/products/{l2a.id}").json()
    west, south, east, north = meta["bounds"]
    tms = morecantile.tms.get("WebMercatorQuad")
    tile = tms.tile((west + east) / 2, (south + north) / 2, 16)
    x0, y0, x1, y1 = tms.xy_bounds(tile)
    description = f"""<GDAL_WMS>
  <Service name="WMS">
    <Version>1.3.0</Version>
    <ServerUrl>{demo_server}/wms?PRODUCT={l2a.id}&amp;</ServerUrl>
    <CRS>EPSG:3857</CRS>
    <ImageFormat>image/png</ImageFormat>
    <Layers>sentinel-2-l2a:TRUE_COLOR</Layers>
    <Transparent>TRUE</Transparent>
  </Service>
  <DataWindow>
    <UpperLeftX>{x0}</UpperLeftX><UpperLeftY>{y1}</UpperLeftY>
    <LowerRightX>{x1}</LowerRightX><LowerRightY>{y0}</LowerRightY>
    <SizeX>256</SizeX><SizeY>256</SizeY>
  </DataWindow>
  <BandsCount>4</BandsCount>
  <BlockSizeX>256</BlockSizeX><BlockSizeY>256</BlockSizeY>
</GDAL_WMS>"""
    with rasterio.Env(GDAL_HTTP_TIMEOUT="30"), rasterio.open(description) as src:
        assert src.crs.to_epsg() == 3857
        assert src.bounds.left == pytest.approx(x0) and src.bounds.top == pytest.approx(y1)
        via_gdal = np.moveaxis(src.read(), 0, -1)
    via_tiles = decode(
        demo_client.get(
            f"/tiles/{tile.z}/{tile.x}/{tile.y}.png", params={"product": l2a.id, "layer": "TRUE_COLOR"}
        ).content
    )
    assert via_gdal[..., 3].mean() > 200
    assert np.array_equal(via_gdal, via_tiles)


@pytest.mark.qgis
def test_qgis_opens_the_wms_layer_and_draws_the_same_map(demo_server, demo_client, l2a, tmp_path) -> None:
    """Headless QGIS (Debian's python3-qgis) reads the capabilities, finds the layer valid in
    EPSG:25832, and renders a map whose pixels match our own GetMap of the same box."""
    import json
    import subprocess
    from pathlib import Path

    from rasterio.warp import transform_bounds

    meta = demo_client.get(f"/products/{l2a.id}").json()
    west, south, east, north = meta["bounds"]
    inner = (
        west + (east - west) * 0.2,
        south + (north - south) * 0.2,
        west + (east - west) * 0.8,
        south + (north - south) * 0.8,
    )
    x0, y0, x1, y1 = transform_bounds("EPSG:4326", "EPSG:25832", *inner)
    out = tmp_path / "qgis.png"
    script = Path(__file__).with_name("qgis_client.py")
    run = subprocess.run(
        ["/usr/bin/python3", str(script), f"{demo_server}/wms", "sentinel-2-l2a:TRUE_COLOR", "EPSG:25832",
         str(x0), str(y0), str(x1), str(y1), "200", "200", str(out)],
        capture_output=True, text=True, timeout=120, env={"QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["valid"], result
    assert result["crs"] == "EPSG:25832"
    ex0, ey0, ex1, ey1 = result["extent"]
    assert ex0 <= x0 and ey0 <= y0 and x1 <= ex1 and y1 <= ey1  # the layer's extent covers the product
    via_qgis = decode(out.read_bytes())[..., :3].astype(int)
    ours = demo_client.get(
        "/wms",
        params={"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": "sentinel-2-l2a:TRUE_COLOR", "STYLES": "",
                "CRS": "EPSG:25832", "BBOX": f"{x0},{y0},{x1},{y1}", "WIDTH": 200, "HEIGHT": 200, "FORMAT": "image/png",
                "TRANSPARENT": "TRUE"},
    )  # fmt: skip
    rgba = decode(ours.content)
    opaque = rgba[..., 3] == 255
    assert opaque.mean() > 0.9 and via_qgis.shape == (200, 200, 3)
    difference = np.abs(via_qgis[opaque] - rgba[..., :3][opaque].astype(int))
    assert np.median(difference) <= 2 and via_qgis.std() > 5
