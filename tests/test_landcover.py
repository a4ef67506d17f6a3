"""Land cover through HTTP: the real ESA WorldCover 2020 and 2021 tiles of São Tomé and the CORINE
raster of Guadeloupe (EPSG:4559, grid codes). Class pixels are checked against the files read with
rasterio and the class tables read from the collection files here; class bands are never blended."""

from __future__ import annotations

import tomllib

import numpy as np
import pytest
import rasterio
from pyproj import Transformer

from styles import load_layers
from tests.helpers import REPO, WEB_MERCATOR, class_rgb, decode, getmap, pixel_centres, sample
from tiler.collections import builtin_collections

WC_2020 = "esa-worldcover-2020-v100-N00E006/ESA_WorldCover_10m_2020_v100_N00E006_Map.tif"
WC_2021 = "esa-worldcover-2021-v200-N00E006/ESA_WorldCover_10m_2021_v200_N00E006_Map.tif"
WC_2021_ID = "ESA_WorldCover_10m_2021_v200_N00E006"
CLC = "clc-2018-v2020-20u1-FR-GLP/U2018_CLC2018_V2020_20u1_FR_GLP.tif"
CLC_ID = "U2018_CLC2018_V2020_20u1_FR_GLP"
COLLECTIONS = REPO / "tiler" / "collections"


def _table(file_name: str, band: str) -> dict[int, tuple[str, str, str | None]]:
    """value -> (label, colour, code) as the collection file writes them."""
    raw = tomllib.loads((COLLECTIONS / file_name).read_text())["bands"][band]["classes"]
    return {entry[0]: (entry[1], entry[2], entry[3] if len(entry) == 4 else None) for entry in raw}


WORLDCOVER = _table("esa-worldcover.toml", "Map")
CORINE = _table("corine-land-cover.toml", "CLC")


def _colours(table) -> dict[int, str]:
    return {value: colour for value, (_, colour, _) in table.items()}


def _feature_info(client, layer: str, lon: float, lat: float, fmt: str = "application/json", **extra):
    d = 0.0005
    return client.get(
        "/wms",
        params={
            "SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetFeatureInfo", "LAYERS": layer, "QUERY_LAYERS": layer,
            "CRS": "CRS:84", "BBOX": f"{lon - d},{lat - d},{lon + d},{lat + d}", "WIDTH": 11, "HEIGHT": 11,
            "I": 5, "J": 5, "STYLES": "", "INFO_FORMAT": fmt, **extra,
        },
    )  # fmt: skip


def test_worldcover_tiles_are_indexed_from_their_stac_items(real_client) -> None:
    found = real_client.get("/search", params={"collection": "esa-worldcover"}).json()["features"]
    assert [f["id"] for f in found] == [WC_2021_ID, "ESA_WorldCover_10m_2020_v100_N00E006"]
    assert [f["properties"]["datetime"] for f in found] == ["2021-01-01T00:00:00Z", "2020-01-01T00:00:00Z"]
    assert found[0]["properties"]["grid:code"] == "ESAWORLDCOVER-N00E006"
    product = real_client.get(f"/products/{WC_2021_ID}").json()
    assert product["collection"] == "esa-worldcover" and product["tile"] == "N00E006"


def test_worldcover_map_tile_shows_the_classes_in_esas_colours(real_client, shared_data) -> None:
    tile = WEB_MERCATOR.tile(6.62, 0.3, 13)
    response = real_client.get(f"/tiles/{tile.z}/{tile.x}/{tile.y}.png", params={"product": WC_2021_ID})
    rgba = decode(response.content)  # the collection's default layer, WORLDCOVER_MAP
    xs, ys = pixel_centres(tuple(WEB_MERCATOR.xy_bounds(tile)), 256, 256)
    codes, safe = sample(shared_data / WC_2021, xs, ys, "EPSG:3857")
    expected, known = class_rgb(codes, _colours(WORLDCOVER))
    check = safe & known
    assert check.mean() > 0.3 and len(np.unique(codes[check])) >= 3
    assert np.abs(rgba[..., :3][check] - expected[check]).mean() <= 8
    assert (rgba[..., 3][safe & (codes == 0)] == 0).all()  # nodata stays transparent


def test_class_bands_are_never_interpolated(real_client) -> None:
    palette = {tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)) for c in _colours(WORLDCOVER).values()}
    for zoom_box in ("6.60,0.28,6.64,0.32", "6.4,0.0,6.8,0.4"):  # finer and coarser than the 10 m pixels
        response = getmap(
            real_client, LAYERS="esa-worldcover:WORLDCOVER_MAP", CRS="CRS:84", BBOX=zoom_box, WIDTH=300, HEIGHT=300,
            UPSAMPLING="BILINEAR", DOWNSAMPLING="BICUBIC", TRANSPARENT="TRUE",
        )  # fmt: skip
        rgba = decode(response.content)
        shown = {tuple(c) for c in rgba[..., :3][rgba[..., 3] == 255]}
        assert shown and shown <= palette, zoom_box
        assert len(shown) >= 3


def test_a_worldcover_mosaic_puts_the_newest_year_on_top(real_client) -> None:
    tile = WEB_MERCATOR.tile(6.62, 0.3, 12)
    url = f"/tiles/{tile.z}/{tile.x}/{tile.y}.png"
    newest = decode(real_client.get(url, params={"collection": "esa-worldcover"}).content)
    oldest = decode(real_client.get(url, params={"collection": "esa-worldcover", "priority": "leastRecent"}).content)
    per_year = {
        year: decode(real_client.get(url, params={"product": product}).content)
        for year, product in ((2021, WC_2021_ID), (2020, "ESA_WorldCover_10m_2020_v100_N00E006"))
    }
    np.testing.assert_array_equal(newest, per_year[2021])
    np.testing.assert_array_equal(oldest, per_year[2020])
    assert (newest != oldest).any(axis=-1).mean() > 0.01  # the years differ


def test_worldcover_feature_info_names_the_class(real_client, shared_data) -> None:
    lon, lat = 6.62, 0.3
    code, _ = sample(shared_data / WC_2021, np.array([lon]), np.array([lat]), "OGC:CRS84")
    answer = _feature_info(real_client, "esa-worldcover:WORLDCOVER_MAP", lon, lat, PRODUCT=WC_2021_ID).json()
    entry = answer["layers"][0]["products"][0]
    assert entry["map"] == {"class": int(code[0]), "value": int(code[0]), "name": WORLDCOVER[int(code[0])][0]}


def test_corine_preview_on_its_own_grid_is_the_raster_in_clc_colours(real_client, shared_data) -> None:
    """Guadeloupe in EPSG:4559, its origin off whole metres: the preview of 1063 pixels lies on the
    file's own grid, so every pixel is one grid code drawn in its colour."""
    response = real_client.get("/preview.png", params={"product": CLC_ID, "width": 1063})
    rgba = decode(response.content)
    with rasterio.open(shared_data / CLC) as src:
        codes = src.read(1)
    assert rgba.shape[:2] == codes.shape
    expected, known = class_rgb(codes, _colours(CORINE))
    assert (rgba[..., 3] == np.where(known & (codes != 0), 255, 0)).all()  # 0: outside the mapped area
    assert np.abs(rgba[..., :3][known] - expected[known]).mean() <= 1
    assert len(np.unique(codes[known])) >= 20


def test_corine_web_mercator_tile(real_client, shared_data) -> None:
    tile = WEB_MERCATOR.tile(-61.6, 16.2, 11)
    rgba = decode(real_client.get(f"/tiles/{tile.z}/{tile.x}/{tile.y}.png", params={"product": CLC_ID}).content)
    xs, ys = pixel_centres(tuple(WEB_MERCATOR.xy_bounds(tile)), 256, 256)
    codes, safe = sample(shared_data / CLC, xs, ys, "EPSG:3857")
    expected, known = class_rgb(codes, _colours(CORINE))
    check = safe & known
    assert check.mean() > 0.2 and np.abs(rgba[..., :3][check] - expected[check]).mean() <= 8


@pytest.mark.parametrize(
    "layer, first, last",
    [
        ("CORINE_ARTIFICIAL", 1, 11),
        ("CORINE_AGRICULTURAL", 12, 22),
        ("CORINE_FOREST", 23, 34),
        ("CORINE_WETLANDS", 35, 39),
        ("CORINE_WATER", 40, 44),
    ],
)
def test_each_level_1_group_shows_its_classes_only(real_client, shared_data, layer, first, last) -> None:
    rgba = decode(real_client.get("/preview.png", params={"product": CLC_ID, "layer": layer, "width": 1063}).content)
    with rasterio.open(shared_data / CLC) as src:
        codes = src.read(1)
    group = (codes >= first) & (codes <= last)
    assert group.any() and (rgba[..., 3] == np.where(group, 255, 0)).all()
    expected, _ = class_rgb(codes, _colours(CORINE))
    assert (rgba[..., :3][group] == expected[group]).all()
    # Its CLC codes all start with the group's digit.
    digits = {CORINE[v][2][0] for v in range(first, last + 1)}
    assert len(digits) == 1


def test_corine_legends_show_clc_codes_and_swatches(real_client) -> None:
    layers = load_layers(builtin_collections())
    water = layers.get("CORINE_WATER", "corine-land-cover").spec.colormap
    assert water.keys == ("511", "512", "521", "522", "523")  # type: ignore[union-attr]
    full = layers.get("CORINE_LAND_COVER", "corine-land-cover").spec.colormap
    assert len(full.classes) == 45 and full.keys[0] == "111" and full.keys[-1] == "999"  # type: ignore[union-attr]
    response = real_client.get(
        "/wms",
        params={
            "SERVICE": "WMS",
            "REQUEST": "GetLegendGraphic",
            "VERSION": "1.3.0",
            "LAYER": "corine-land-cover:CORINE_WATER",
        },
    )
    legend = decode(response.content)
    colours = {tuple(c) for c in legend[..., :3].reshape(-1, 3)}
    swatches = {tuple(int(CORINE[v][1][i : i + 2], 16) for i in (1, 3, 5)) for v in range(40, 45)}
    assert swatches <= colours
    worldcover = decode(
        real_client.get(
            "/wms",
            params={
                "SERVICE": "WMS",
                "REQUEST": "GetLegendGraphic",
                "VERSION": "1.3.0",
                "LAYER": "esa-worldcover:WORLDCOVER_MAP",
            },
        ).content
    )
    assert {(0, 100, 0), (250, 0, 0), (0, 100, 200)} <= {tuple(c) for c in worldcover[..., :3].reshape(-1, 3)}


def test_corine_feature_info_gives_the_clc_code_and_name(real_client, shared_data) -> None:
    with rasterio.open(shared_data / CLC) as src:
        codes = src.read(1)
        # The centre of a pixel deep inside broad-leaved forest (grid code 23, CLC 311): all of its
        # 5 x 5 neighbours are forest too.
        forest = np.lib.stride_tricks.sliding_window_view(codes == 23, (5, 5)).all(axis=(2, 3))
        rows, cols = np.nonzero(forest)
        row, col = rows[len(rows) // 2] + 2, cols[len(cols) // 2] + 2
        x, y = src.transform * (col + 0.5, row + 0.5)
    lon, lat = Transformer.from_crs("EPSG:4559", "EPSG:4326", always_xy=True).transform(x, y)
    entry = _feature_info(real_client, "corine-land-cover:CORINE_LAND_COVER", lon, lat).json()["layers"][0]["products"][
        0
    ]
    assert entry["product"] == CLC_ID
    assert entry["clc"] == {"class": 311, "value": 23, "name": "Broad-leaved forest"}
    text = _feature_info(real_client, "corine-land-cover:CORINE_LAND_COVER", lon, lat, fmt="text/plain").text
    assert "CLC: 311 Broad-leaved forest (raster value 23)" in text
    xml = _feature_info(real_client, "corine-land-cover:CORINE_LAND_COVER", lon, lat, fmt="text/xml").text
    assert '<CLC class="311" value="23">Broad-leaved forest</CLC>' in xml


def test_band_math_sees_class_codes(real_client, shared_data) -> None:
    query = {"product": CLC_ID, "width": 1063, "expression": "CLC", "rescale": "0,51"}
    rgba = decode(real_client.get("/preview.png", params=query).content)
    with rasterio.open(shared_data / CLC) as src:
        codes = src.read(1)
    mapped = codes != 0
    assert (rgba[..., 0][mapped] == np.round(codes[mapped] / 51 * 255)).all()
