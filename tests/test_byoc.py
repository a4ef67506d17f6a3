"""Bring your own collection: COGs described only by a collection file of the test's own (as Sentinel
Hub's BYOC) are served without code, whether their names say what they hold (the named-files
layout) or a STAC item maps its asset keys to bands. The real WorldCover and GLO-30 samples stand
in for a deployment's data; the test's file wins over the built-in collection that also knows them."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import numpy as np
import pytest
from starlette.testclient import TestClient

from styles import LayerError, load_layers
from tests.helpers import GLO30, WEB_MERCATOR, class_rgb, decode, pixel_centres, sample
from tiler.app import create_app
from tiler.collections import load_collections
from tiler.settings import settings_from_env

WC_2021 = "esa-worldcover-2021-v200-N00E006/ESA_WorldCover_10m_2021_v200_N00E006_Map.tif"
WC_ITEM = "esa-worldcover-2021-v200-N00E006/ESA_WorldCover_10m_2021_v200_N00E006.json"
WC_ID = "ESA_WorldCover_10m_2021_v200_N00E006"
# The test's own labels (German), ESA's colours.
CLASSES = {
    10: ("Baumbestand", "#006400"),
    20: ("Buschland", "#ffbb22"),
    30: ("Grasland", "#ffff4c"),
    40: ("Ackerland", "#f096ff"),
    50: ("Bebaut", "#fa0000"),
    60: ("Kahl oder spärlich bewachsen", "#b4b4b4"),
    80: ("Gewässer", "#0064c8"),
    90: ("Krautiges Feuchtgebiet", "#0096a0"),
    95: ("Mangroven", "#00cf75"),
}
CLASS_TABLE = ",\n".join(f'  [{v}, "{label}", "{colour}"]' for v, (label, colour) in CLASSES.items())


def _serve(tmp_path: Path, root: Path, collection_file: str, layers: dict[str, str]) -> TestClient:
    mine = tmp_path / "mine.toml"
    mine.write_text(textwrap.dedent(collection_file))
    styles = tmp_path / "styles" / "mine"
    styles.mkdir(parents=True)
    for name, text in layers.items():
        (styles / f"{name}.toml").write_text(textwrap.dedent(text))
    settings = settings_from_env(
        {"EO_TILER_DATA": str(root), "EO_TILER_COLLECTIONS": str(mine), "EO_TILER_LAYERS": str(styles.parent)},
        catalog=tmp_path / "catalog.sqlite",
    )
    return TestClient(create_app(settings), raise_server_exceptions=False)


CLASS_LAYER = """
    title = "Land cover classes"
    collections = ["{collection}"]
    expression = "{band}"
    [colormap]
    type = "classes"
"""


def _class_tile_matches(client: TestClient, product: str, path: Path) -> None:
    tile = WEB_MERCATOR.tile(6.62, 0.3, 13)
    rgba = decode(client.get(f"/tiles/{tile.z}/{tile.x}/{tile.y}.png", params={"product": product}).content)
    xs, ys = pixel_centres(tuple(WEB_MERCATOR.xy_bounds(tile)), 256, 256)
    codes, safe = sample(path, xs, ys, "EPSG:3857")
    expected, known = class_rgb(codes, {v: colour for v, (_, colour) in CLASSES.items()})
    assert (safe & known).mean() > 0.3
    assert np.abs(rgba[..., :3][safe & known] - expected[safe & known]).mean() <= 8


def _class_at(client: TestClient, layer: str, lon: float, lat: float) -> dict:
    d = 0.0005
    answer = client.get(
        "/wms",
        params={
            "SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetFeatureInfo", "LAYERS": layer, "QUERY_LAYERS": layer,
            "CRS": "CRS:84", "BBOX": f"{lon - d},{lat - d},{lon + d},{lat + d}", "WIDTH": 11, "HEIGHT": 11,
            "I": 5, "J": 5, "STYLES": "", "INFO_FORMAT": "application/json",
        },
    ).json()  # fmt: skip
    return answer["layers"][0]["products"][0]


def test_a_folder_of_cogs_named_as_the_collection_file_says(shared_data, tmp_path) -> None:
    """ESA's bucket keeps every tile flat in one folder, named ..._<tile>_Map.tif: the test's file
    says so with a pattern, and calls the band LandCover."""
    root = tmp_path / "data" / "v200" / "2021" / "map"
    root.mkdir(parents=True)
    shutil.copy(shared_data / WC_2021, root)
    client = _serve(
        tmp_path,
        tmp_path / "data",
        rf"""
        [bands.LandCover]
        title = "Bodenbedeckung"
        resolution = 10
        kind = "class"
        nodata = 0
        classes = [
        {CLASS_TABLE}
        ]
        [[collection]]
        id = "my-landcover"
        title = "My land cover"
        attribution = "ESA WorldCover {{year}}"
        layouts = ["named-files"]
        file_pattern = '^(?P<product>ESA_WorldCover_10m_(?P<year>\d{{4}})_v\d{{3}}_(?P<tile>[NS]\d{{2}}[EW]\d{{3}}))_Map\.tif$'
        default_layer = "CLASSES"
        """,
        {"CLASSES": CLASS_LAYER.format(collection="my-landcover", band="LandCover")},
    )
    product = client.get(f"/products/{WC_ID}").json()
    assert product["collection"] == "my-landcover"  # not the built-in esa-worldcover, whose pattern matches too
    assert product["tile"] == "N00E006" and product["datetime"] == "2021-01-01T00:00:00Z"
    assert list(product["bands"]) == ["LandCover"]
    _class_tile_matches(client, WC_ID, shared_data / WC_2021)
    lon, lat = 6.62, 0.3
    code, _ = sample(shared_data / WC_2021, np.array([lon]), np.array([lat]), "OGC:CRS84")
    entry = _class_at(client, "my-landcover:CLASSES", lon, lat)
    assert entry["landcover"] == {"class": int(code[0]), "value": int(code[0]), "name": CLASSES[int(code[0])][0]}
    listed = {c["id"]: c for c in client.get("/collections").json()["collections"]}
    mine = listed["my-landcover"]
    assert mine["products"] == 1 and [b["name"] for b in mine["bands"]] == ["LandCover"]
    assert mine["bands"][0]["classes"][0] == {"value": 10, "label": "Baumbestand", "colour": "#006400"}
    assert listed["esa-worldcover"]["products"] == 0
    capabilities = client.get("/wms", params={"SERVICE": "WMS", "REQUEST": "GetCapabilities"}).text
    assert "<Name>my-landcover:CLASSES</Name>" in capabilities
    assert client.get("/tilejson.json", params={"product": WC_ID}).json()["attribution"] == "ESA WorldCover 2021"


def test_a_stac_item_whose_asset_keys_the_collection_file_maps(shared_data, tmp_path) -> None:
    root = tmp_path / "data" / "tile"
    root.mkdir(parents=True)
    shutil.copy(shared_data / WC_2021, root)
    # The item as the deployment's own STAC collection holds it: under its collection's id.
    item = json.loads((shared_data / WC_ITEM).read_text())
    (root / Path(WC_ITEM).name).write_text(json.dumps(item | {"collection": "my-stac-landcover"}))
    client = _serve(
        tmp_path,
        tmp_path / "data",
        f"""
        [bands.LC]
        resolution = 10
        kind = "class"
        stac_keys = ["map"]
        nodata = 0
        classes = [
        {CLASS_TABLE}
        ]
        [[collection]]
        id = "my-stac-landcover"
        title = "My STAC land cover"
        layouts = ["stac-item"]
        default_layer = "CLASSES"
        """,
        {"CLASSES": CLASS_LAYER.format(collection="my-stac-landcover", band="LC")},
    )
    product = client.get(f"/products/{WC_ID}").json()
    assert product["collection"] == "my-stac-landcover" and list(product["bands"]) == ["LC"]
    # The item's own footprint (the land of São Tomé), its period's start as the time.
    assert product["footprint"]["type"] == "Polygon" and product["datetime"] == "2021-01-01T00:00:00Z"
    _class_tile_matches(client, WC_ID, shared_data / WC_2021)


def test_scale_offset_and_nodata_of_ones_own(shared_data, tmp_path) -> None:
    """The GLO-30 tile as heights in feet above a datum 10 m lower, its sea (0) as no data."""
    name = "Copernicus_DSM_COG_10_N00_00_E006_00_DEM"
    folder = tmp_path / "data" / "heights"
    folder.mkdir(parents=True)
    shutil.copy(shared_data / GLO30, folder / "island_N00E006_height.tif")
    client = _serve(
        tmp_path,
        tmp_path / "data",
        r"""
        [bands.H]
        resolution = 30
        kind = "physical"
        unit = "ft"
        scale = 3.28084
        offset = 32.8084
        nodata = 0
        [[collection]]
        id = "my-heights"
        title = "Heights in feet"
        layouts = ["named-files"]
        file_pattern = '^(?P<product>island_(?P<tile>N\d\dE\d{3}))_height\.tif$'
        datetime = 2024-05-01T00:00:00Z
        default_layer = "FEET"
        """,
        {
            "FEET": 'collections = ["my-heights"]\nexpression = "H"\nstretch = { kind = "linear", min = 0, max = 6500 }\n'
        },
    )
    product = client.get("/products/island_N00E006").json()
    assert product["collection"] == "my-heights" and product["datetime"] == "2024-05-01T00:00:00Z"
    assert name not in {p["id"] for p in client.get("/products").json()["products"]}
    lon, lat = 6.61, 0.21
    metres, _ = sample(folder / "island_N00E006_height.tif", np.array([lon]), np.array([lat]), "OGC:CRS84")
    entry = _class_at(client, "my-heights:FEET", lon, lat)
    assert entry["bands"]["H"] == pytest.approx(metres[0] * 3.28084 + 32.8084, abs=0.01) and entry["units"] == {
        "H": "ft"
    }
    tile = WEB_MERCATOR.tile(6.45, 0.2, 12)  # the west coast: land and sea
    rgba = decode(client.get(f"/tiles/{tile.z}/{tile.x}/{tile.y}.png", params={"product": "island_N00E006"}).content)
    xs, ys = pixel_centres(tuple(WEB_MERCATOR.xy_bounds(tile)), 256, 256)
    heights, safe = sample(folder / "island_N00E006_height.tif", xs, ys, "EPSG:3857")
    sea, land = safe & (heights == 0), safe & (heights != 0)
    # Nearest neighbours of a read at 1.2 source pixels per tile pixel: a coastal pixel may take its
    # neighbour's value, so most (not all) sea pixels are no data.
    assert sea.mean() > 0.05 and land.mean() > 0.05
    assert (rgba[..., 3][sea] == 0).mean() > 0.95 and (rgba[..., 3][land] == 255).mean() > 0.95
    land &= rgba[..., 3] == 255
    feet = np.round(np.clip((heights * 3.28084 + 32.8084) / 6500, 0, 1) * 255)
    assert np.abs(rgba[..., 0][land] - feet[land]).mean() <= 8


def test_a_class_band_without_a_class_table(shared_data, tmp_path) -> None:
    """Codes without names: they are served as codes, and a layer that would colour them by the
    table the file lacks stops the start-up with its name."""
    root = tmp_path / "data"
    root.mkdir()
    shutil.copy(shared_data / WC_2021, root)
    mine = tmp_path / "codes.toml"
    mine.write_text(
        textwrap.dedent(r"""
        [bands.Code]
        resolution = 10
        kind = "class"
        nodata = 0
        [[collection]]
        id = "codes-only"
        title = "Codes only"
        layouts = ["named-files"]
        file_pattern = '^(?P<product>ESA_WorldCover_10m_\d{4}_v200_N00E006)_Map\.tif$'
        default_layer = "GREY"
        """)
    )
    styles = tmp_path / "styles"
    styles.mkdir()
    (styles / "CLASSES.toml").write_text(
        'collections = ["codes-only"]\nexpression = "Code"\n[colormap]\ntype = "classes"\n'
    )
    collections = load_collections(extra=[mine])
    with pytest.raises(LayerError, match="CLASSES.toml.*class band"):
        load_layers(collections, extra=[styles])
    (styles / "CLASSES.toml").unlink()
    (styles / "GREY.toml").write_text('collections = ["codes-only"]\nexpression = "Code / 100"\n')
    client = TestClient(
        create_app(
            settings_from_env(
                {"EO_TILER_DATA": str(root), "EO_TILER_COLLECTIONS": str(mine), "EO_TILER_LAYERS": str(styles)},
                catalog=tmp_path / "c.sqlite",
            )
        ),
        raise_server_exceptions=False,
    )
    lon, lat = 6.62, 0.3
    code, _ = sample(root / Path(WC_2021).name, np.array([lon]), np.array([lat]), "OGC:CRS84")
    entry = _class_at(client, "codes-only:GREY", lon, lat)
    assert entry["code"] == {"class": int(code[0]), "value": int(code[0]), "name": "unknown"}
    unknown_layer = client.get("/tiles/12/2123/2044.png", params={"product": WC_ID, "layer": "CLASSES"})
    assert unknown_layer.status_code == 404 and "unknown layer" in unknown_layer.json()["detail"]
