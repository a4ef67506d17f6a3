"""Collections as data: the built-in Sentinel-2 file, the validation of collection files, a user's
own collection file served without code, and layers checked against the collections they name."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from styles import LayerError, load_layers
from tests.helpers import decode, write_product
from tiler.app import create_app
from tiler.collections import CollectionError, builtin_collections, load_collections
from tiler.settings import settings_from_env

SENTINEL_2 = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12")


def test_the_built_in_sentinel_2_collections() -> None:
    collections = builtin_collections()
    l2a, l1c = collections["sentinel-2-l2a"], collections["sentinel-2-l1c"]
    assert collections.default is l2a
    assert set(l1c.bands) == set(SENTINEL_2) and set(l2a.bands) == set(SENTINEL_2) - {"B10"} | {"SCL"}
    # Native resolutions, as ESA gives them.
    assert {name for name, band in l1c.bands.items() if band.resolution == 10} == {"B02", "B03", "B04", "B08"}
    assert {name for name, band in l1c.bands.items() if band.resolution == 60} == {"B01", "B09", "B10"}
    # The MTD's band_id order, and the DN conversion: reflectance = DN / 10000, clamped at 0.
    assert [b for b in sorted(l1c.bands, key=lambda n: l1c.bands[n].band_index)] == list(SENTINEL_2)
    assert all((b.scale, b.offset, b.nodata, b.minimum) == (1e-4, 0.0, 0, 0.0) for b in l1c.bands.values())
    scl = l2a.bands["SCL"]
    assert scl.is_class and (scl.scale, scl.minimum) == (1.0, None) and scl.class_label(6) == "Water"
    assert l2a.cloud_mask is not None and l2a.cloud_mask.classes == (3, 8, 9, 10) and l1c.cloud_mask is None
    assert l2a.bands["B08"].substitute == "B8A"
    assert l2a.band_for_stac_key("nir08").name == "B8A" and l2a.band_for_stac_key("b04").name == "B04"
    assert l2a.attribution_for(2021) == "Contains modified Copernicus Sentinel data 2021"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mine.toml"
    path.write_text(text)
    return path


MINIMAL = """
[bands.RED]
resolution = 30
kind = "reflectance"
[[collection]]
id = "my-sensor"
title = "My sensor"
default_layer = "GREY"
layouts = ["band-folder"]
"""


@pytest.mark.parametrize(
    "change, words",
    [
        (('kind = "reflectance"', 'kind = "colour"'), "kind must be one of"),
        (("resolution = 30", "resolution = -1"), "resolution"),
        (("resolution = 30", "resolution = 30\nwavelenght = 5"), "unknown keys ['wavelenght']"),
        (('layouts = ["band-folder"]', "layouts = []"), "layouts"),
        (('default_layer = "GREY"', ""), "default_layer is required"),
        (('id = "my-sensor"', 'id = "my-sensor"\nbands = ["RED", "NIR"]'), "['NIR'] are not in the file's band table"),
        (("resolution = 30", 'resolution = 30\nsubstitute = "NIR"'), "substitute NIR is not among its bands"),
        (("[bands.RED]", '[bands."1RED"]'), "a band name is a letter"),
        (('kind = "reflectance"', 'kind = "reflectance"\nclasses = [[1, "a", "#000000"]]'), "only class bands"),
        (('id = "my-sensor"', 'id = "my-sensor"\ncloud_mask = { band = "RED", classes = [1] }'), "cloud_mask"),
        (('id = "my-sensor"', 'id = "sentinel-2-l2a"'), "defined twice"),
        (('layouts = ["band-folder"]', 'layouts = ["named-files"]'), "named-files layout needs a file_pattern"),
        (('id = "my-sensor"', "id = 'my-sensor'\nfile_pattern = '^(?P<band>RED)\\.tif$'"), "(?P<product>...) group"),
        (
            ('id = "my-sensor"', "id = 'my-sensor'\nfile_pattern = '^(?P<product>x)(?P<when>\\d+)\\.tif$'"),
            "unknown groups ['when']",
        ),
        (('id = "my-sensor"', "id = 'my-sensor'\nfile_pattern = '^(?P<product>x'"), "no regular expression"),
        (
            (
                "[[collection]]",
                '[bands.NIR]\nresolution = 30\nkind = "reflectance"\n[[collection]]\nfile_pattern = "(?P<product>.+)[.]tif"',
            ),
            "needs a (?P<band>...) group",
        ),
        (('id = "my-sensor"', 'id = "my-sensor"\ndatetime = "yesterday"'), "datetime must be an ISO 8601"),
        (('kind = "reflectance"', 'kind = "class"\nclasses = [[1, "a", "#000000", 111]]'), "each class is"),
    ],
)
def test_broken_collection_files_stop_the_start_up_with_the_reason(tmp_path, change, words) -> None:
    old, new = change
    with pytest.raises(CollectionError, match=None) as caught:
        load_collections(extra=[_write(tmp_path, MINIMAL.replace(old, new))])
    assert words in str(caught.value) and "mine.toml" in str(caught.value)


def test_the_built_in_landsat_collections() -> None:
    collections = builtin_collections()
    l2, l1 = collections["landsat-c2-l2"], collections["landsat-c2-l1"]
    assert collections.default.id == "sentinel-2-l2a"
    assert set(l2.bands) == {"B01", "B02", "B03", "B04", "B05", "B06", "B07", "B10", "BQA"}
    assert set(l1.bands) == set(l2.bands) | {"B08", "B09", "B11"}
    b04, b10, qa = l2.bands["B04"], l2.bands["B10"], l2.bands["BQA"]
    assert (b04.scale, b04.offset, b04.nodata, b04.minimum) == (2.75e-5, -0.2, 0, None)
    assert (b10.scale, b10.offset, b10.unit, b10.kind) == (0.00341802, 149.0, "K", "physical")
    assert qa.is_bits and qa.is_class and (qa.scale, qa.nodata) == (1.0, 1)
    assert qa.flag_labels(0b10001000) == ["Cloud", "Water"]
    assert l2.cloud_mask is not None and l2.cloud_mask.bits == (1, 2, 3, 4) and l2.cloud_mask.bit_mask == 0b11110
    assert l2.band_for_stac_key("SR_B5").name == "B05" and l1.band_for_stac_key("B8").name == "B08"
    assert l1.band_for_stac_key("QA_PIXEL").name == l1.band_for_stac_key("BQA").name == "BQA"
    assert (l2.grid, collections["sentinel-2-l2a"].grid) == ("WRS2", "MGRS")


BITS = """
[bands.RED]
resolution = 30
kind = "reflectance"
[bands.QA]
resolution = 30
kind = "bits"
flags = [[0, "fill"], [3, "cloud"]]
[[collection]]
id = "my-sensor"
title = "My sensor"
default_layer = "GREY"
layouts = ["band-folder"]
cloud_mask = { band = "QA", bits = [3] }
"""


@pytest.mark.parametrize(
    "change, words",
    [
        (('kind = "reflectance"', 'kind = "reflectance"\nflags = [[1, "x"]]'), "only bit-flag bands"),
        (('flags = [[0, "fill"], [3, "cloud"]]', 'flags = [[0, "fill"], [0, "cloud"]]'), "flag bits must be unique"),
        (('flags = [[0, "fill"], [3, "cloud"]]', 'flags = [[24, "fill"]]'), "a bit is a whole number from 0 to 23"),
        (("bits = [3]", "classes = [3]"), "needs `bits`, not `classes`"),
        (('band = "QA"', 'band = "RED"'), "one of its class or bit-flag bands"),
        (('flags = [[0, "fill"], [3, "cloud"]]', "bit_remap = [[1, 2, 0]]"), "a value within it"),
        (
            ('flags = [[0, "fill"], [3, "cloud"]]', "bit_remap = [[1, 1]]"),
            "bit_remap must be a list of [mask, value, bit]",
        ),
    ],
)
def test_broken_bit_flag_bands_are_refused(tmp_path, change, words) -> None:
    old, new = change
    with pytest.raises(CollectionError) as caught:
        load_collections(extra=[_write(tmp_path, BITS.replace(old, new))])
    assert words in str(caught.value)
    (mine,) = [c for c in load_collections(extra=[_write(tmp_path, BITS)]).values() if c.id == "my-sensor"]
    assert mine.cloud_mask is not None and mine.cloud_mask.bits == (3,)


def test_a_collection_file_of_ones_own_serves_its_products_without_code(tmp_path) -> None:
    """A folder of band files described only by a collection file, with a layer of its own."""
    mine = _write(
        tmp_path,
        """
[bands.B04]
resolution = 10
kind = "reflectance"
nodata = 0
scale = 0.001
offset = -0.5
[bands.B03]
resolution = 10
kind = "reflectance"
nodata = 0
[bands.B02]
resolution = 10
kind = "reflectance"
nodata = 0
[bands.B08]
resolution = 10
kind = "reflectance"
nodata = 0
[[collection]]
id = "my-sensor"
title = "My sensor"
default_layer = "TRUE_COLOR"
layouts = ["band-folder"]
name_patterns = ["MINE"]
""",
    )
    styles = tmp_path / "styles"
    (styles / "mine").mkdir(parents=True)
    # The name Sentinel-2's true colour has: one layer of that name per collection.
    (styles / "mine" / "TRUE_COLOR.toml").write_text(
        'title = "Red"\ncollections = ["my-sensor"]\nexpression = "B04"\nstretch = { kind = "linear", min = 0, max = 1 }\n'
    )
    root = tmp_path / "data"
    folder = write_product(root, "MINE_20210105", when="2021-01-05T10:00:00Z", cloud_cover=None, b04=1200)
    (folder / "item.json").unlink()  # a bare band folder: no metadata at all
    collections = load_collections(extra=[mine])
    assert load_layers(collections, styles).get("TRUE_COLOR", "my-sensor").collections == ("my-sensor",)
    settings = settings_from_env(
        {"EO_TILER_DATA": str(root), "EO_TILER_COLLECTIONS": str(mine), "EO_TILER_LAYERS": str(styles)},
        catalog=tmp_path / "c.sqlite",
    )
    client = TestClient(create_app(settings))
    listed = [layer for layer in client.get("/layers").json()["layers"] if layer["name"] == "TRUE_COLOR"]
    assert sorted(c for layer in listed for c in layer["collections"]) == [
        "landsat-c2-l1", "landsat-c2-l2", "my-sensor", "sentinel-2-l1c", "sentinel-2-l2a",
    ]  # fmt: skip
    product = client.get("/products/MINE_20210105").json()
    assert product["collection"] == "my-sensor"
    west, south, east, north = product["bounds"]
    from tests.helpers import WEB_MERCATOR

    t = WEB_MERCATOR.tile((west + east) / 2, (south + north) / 2, 16)
    response = client.get(f"/tiles/{t.z}/{t.x}/{t.y}.png", params={"product": "MINE_20210105"})
    assert response.status_code == 200
    rgba = decode(response.content)
    # The collection's own conversion: 1200 * 0.001 - 0.5 = 0.7, drawn linearly over 0..1.
    assert rgba[128, 128].tolist() == [round(0.7 * 255)] * 3 + [255]


def test_layers_are_checked_against_the_collections_they_name(tmp_path) -> None:
    collections = builtin_collections()
    styles = tmp_path / "styles"
    styles.mkdir()
    (styles / "CIRRUS.toml").write_text(
        'collections = ["sentinel-2-l2a", "sentinel-2-l1c"]\nexpression = "B10"\n'
        '[colormap]\ntype = "ramp"\nstops = [[0, "#000000"], [1, "#ffffff"]]\n'
    )
    with pytest.raises(LayerError, match="CIRRUS.toml.*B10"):  # L2A has no B10
        load_layers(collections, styles)
    (styles / "CIRRUS.toml").write_text('collections = ["sentinel-3-olci"]\nexpression = "B10"\n')
    with pytest.raises(LayerError, match="not configured"):
        load_layers(collections, styles)
    (styles / "CIRRUS.toml").write_text('collections = ["sentinel-2-l1c"]\nexpression = "B10"\n')
    assert load_layers(collections, styles).get("CIRRUS", "sentinel-2-l1c").spec.bands == {"B10"}


def test_the_scl_layer_takes_its_classes_from_the_collection() -> None:
    collections = builtin_collections()
    classes = load_layers(collections).get("SCL", "sentinel-2-l2a").spec.colormap.classes  # type: ignore[union-attr]
    expected = [(e.value, e.label, e.colour) for e in collections["sentinel-2-l2a"].bands["SCL"].classes]
    assert list(classes) == expected and (4, "Vegetation", (0, 160, 0)) in classes


def test_sentinel_1_and_sentinel_2_each_have_their_false_colour() -> None:
    layers = load_layers(builtin_collections())
    s2, s1 = layers.get("FALSE_COLOR", "sentinel-2-l2a"), layers.get("FALSE_COLOR", "sentinel-1-grd")
    assert s2 is not None and s2.spec.bands == {"B08", "B04", "B03"}
    assert s1 is not None and s1.spec.bands == {"VV", "VH"} and s1.collections == ("sentinel-1-grd",)
    assert len(layers.named("FALSE_COLOR")) >= 2 and layers.get("VV_DB", "sentinel-2-l2a") is None
    assert {layer.name for layer in layers.for_collection("sentinel-1-grd")} == {
        f"{p}_{kind}" for p in ("VV", "VH", "HH", "HV") for kind in ("DB", "LINEAR")
    } | {"FALSE_COLOR", "SAR_URBAN"}


def test_a_layer_of_another_collection_is_refused_by_name(real_client) -> None:
    from tests.helpers import COG_ID

    response = real_client.get("/preview.png", params={"product": COG_ID, "layer": "VV_DB"})
    assert response.status_code == 400 and "does not apply to sentinel-2-l2a" in response.json()["detail"]
    assert real_client.get("/preview.png", params={"product": COG_ID, "layer": "NOPE"}).status_code == 404


def test_the_built_in_dem_and_land_cover_collections() -> None:
    collections = builtin_collections()
    glo30, glo90 = collections["cop-dem-glo-30"], collections["cop-dem-glo-90"]
    dem = glo30.bands["DEM"]
    assert (dem.kind, dem.unit, dem.nodata, dem.scale, dem.resolution) == ("physical", "m", None, 1.0, 30)
    assert glo90.bands["DEM"].resolution == 90 and glo30.datetime is not None and glo30.datetime.year == 2021
    name = "Copernicus_DSM_COG_10_N00_00_E006_00_DEM.tif"
    assert glo30.file_pattern.match(name)["tile"] == "N00_00_E006_00"  # type: ignore[union-attr, index]
    assert glo90.file_pattern.match(name) is None  # type: ignore[union-attr]
    worldcover = collections["esa-worldcover"].bands["Map"]
    assert worldcover.is_class and worldcover.nodata == 0 and worldcover.class_label(95) == "Mangroves"
    clc = collections["corine-land-cover"].bands["CLC"]
    assert len(clc.classes) == 45 and clc.nodata == 0
    first, last = clc.class_entry(1), clc.class_entry(48)
    assert first is not None and first.display == "111 Continuous urban fabric" and first.colour == (230, 0, 77)
    assert last is not None and (last.code, last.label) == ("999", "NODATA")
    # CLC codes rise with the grid codes, group by group (1xx artificial ... 5xx water).
    codes = [int(e.code) for e in clc.classes if e.code and e.value <= 44]  # type: ignore[arg-type]
    assert codes == sorted(codes) and codes[0] == 111 and codes[-1] == 523


def test_a_deployments_own_collection_comes_first_where_layouts_ask(tmp_path) -> None:
    mine = _write(tmp_path, MINIMAL.replace('layouts = ["band-folder"]', 'layouts = ["stac-item"]'))
    collections = load_collections(extra=[mine])
    assert [c.id for c in collections.with_layout("stac-item")][:2] == ["my-sensor", "esa-worldcover"]
    assert list(collections)[-1] == "my-sensor" and collections.default.id == "sentinel-2-l2a"
    assert not collections["my-sensor"].builtin and collections["sentinel-2-l2a"].builtin
