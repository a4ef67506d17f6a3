"""Real WMS/WMTS clients against a server on loopback: OWSLib and GDAL's WMS driver."""

from __future__ import annotations

import io

import morecantile
import numpy as np
import pytest
import rasterio
from owslib.wms import WebMapService

from tests.pixels import decode


@pytest.fixture(scope="module")
def l2a(demo_archive):
    _, products = demo_archive
    return next(p for p in products if p.collection == "sentinel-2-l2a" and p.layout == "safe" and p.baseline == "02.14")


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
    box = (west + (east - west) * 0.1, south + (north - south) * 0.4, west + (east - west) * 0.3, south + (north - south) * 0.6)
    srs = "CRS:84" if version == "1.3.0" else "EPSG:4326"
    image = wms.getmap(layers=["sentinel-2-l2a:NDVI"], styles=[""], srs=srs, bbox=box, size=(64, 48), format="image/png", transparent=True, time="2020-09-21")
    pixels = decode(image.read())
    assert pixels.shape == (48, 64, 4) and pixels[..., 3].mean() > 0
    info = wms.getfeatureinfo(
        layers=["sentinel-2-l2a:NDVI"], query_layers=["sentinel-2-l2a:NDVI"], srs=srs, bbox=box, size=(64, 48),
        format="image/png", info_format="application/json", xy=(32, 24), styles=[""],
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
    via_tiles = decode(demo_client.get(f"/tiles/{tile.z}/{tile.x}/{tile.y}.png", params={"product": l2a.id, "layer": "TRUE_COLOR"}).content)
    assert via_gdal[..., 3].mean() > 200
    assert np.array_equal(via_gdal, via_tiles)
