"""Tests of the synthetic demo archive (tiler/demo.py), on a small archive (size=120)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.warp import transform as warp_transform

import demo
from demo import DemoProduct, generate_archive
from tests.helpers import mtl_values

SIZE = 120
# four Sentinel-2 products, a Landsat one, a Sentinel-2 time series of six dates over one tile, and
# two Sentinel-1 passes, and five static maps (DEM tiles, WorldCover, CORINE)
MAPS = 5
PRODUCTS = 13 + MAPS
REPO = Path(__file__).resolve().parents[1]
COG_ASSETS = {
    "coastal": "B01",
    "blue": "B02",
    "green": "B03",
    "red": "B04",
    "rededge1": "B05",
    "rededge2": "B06",
    "rededge3": "B07",
    "nir": "B08",
    "nir08": "B8A",
    "nir09": "B09",
    "swir16": "B11",
    "swir22": "B12",
    "scl": "SCL",
}
NATIVE = {
    "B01": 60,
    "B02": 10,
    "B03": 10,
    "B04": 10,
    "B05": 20,
    "B06": 20,
    "B07": 20,
    "B08": 10,
    "B8A": 20,
    "B09": 60,
    "B10": 60,
    "B11": 20,
    "B12": 20,
    "SCL": 20,
}


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> tuple[Path, list[DemoProduct]]:
    root = tmp_path_factory.mktemp("demo-archive")
    return root, generate_archive(root, size=SIZE)


@pytest.fixture(scope="module")
def products(archive) -> dict[str, DemoProduct]:
    _, prods = archive
    safe_l2a = [p for p in prods if p.layout == "safe" and p.collection == "sentinel-2-l2a"]
    return {
        "p1": next(p for p in safe_l2a if p.baseline == "02.14"),
        "p2": next(p for p in safe_l2a if p.baseline == "04.00"),
        "p3": next(p for p in prods if p.collection == "sentinel-2-l1c"),
        "p4": next(p for p in prods if p.layout == "cog"),
    }


@pytest.fixture(scope="module")
def landsat_product(archive) -> DemoProduct:
    _, prods = archive
    return next(p for p in prods if p.layout == "usgs-landsat")


# ---------------------------------------------------------------------------- helpers


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find(root: ET.Element, path: str) -> list[ET.Element]:
    """Elements along a path of local names (the top-level children carry the n1: namespace)."""
    nodes = [root]
    for name in path.split("/"):
        nodes = [c for n in nodes for c in n if _local(c.tag) == name]
    return nodes


def _text(root: ET.Element, path: str) -> str:
    found = _find(root, path)
    assert found, f"missing {path}"
    return (found[0].text or "").strip()


def _mtd(p: DemoProduct) -> ET.Element:
    name = "MTD_MSIL2A.xml" if p.collection == "sentinel-2-l2a" else "MTD_MSIL1C.xml"
    return ET.parse(p.path / name).getroot()


def _band_file(p: DemoProduct, band: str, res: int | None = None) -> Path:
    if p.layout == "cog":
        return p.path / f"{band}.tif"
    if p.collection == "sentinel-2-l1c":
        (f,) = p.path.glob(f"GRANULE/*/IMG_DATA/*_{band}.jp2")
        return f
    res = res or NATIVE[band]
    (f,) = p.path.glob(f"GRANULE/*/IMG_DATA/R{res}m/*_{band}_{res}m.jp2")
    return f


def _read(p: DemoProduct, band: str, res: int | None = None) -> np.ndarray:
    with rasterio.open(_band_file(p, band, res)) as ds:
        return ds.read(1)


def _reflectance(p: DemoProduct, band: str, res: int | None = None) -> np.ndarray:
    dn = _read(p, band, res).astype(np.float64)
    offset = -1000.0 if p.baseline >= "04.00" else 0.0
    out = (dn + offset) / 10000.0
    out[dn == 0] = np.nan
    return out


def _scl20(p: DemoProduct) -> np.ndarray:
    return _read(p, "SCL", 20)


def _all_rasters(p: DemoProduct) -> list[Path]:
    return sorted(p.path.rglob("*.jp2")) + sorted(p.path.rglob("*.tif"))


def _res_of(p: DemoProduct, f: Path) -> int:
    stem = f.stem
    if p.layout == "safe" and p.collection == "sentinel-2-l2a":
        return int(stem.rsplit("_", 1)[1].rstrip("m"))
    band = stem.rsplit("_", 1)[-1] if p.layout == "safe" else stem
    return NATIVE[band]


# ---------------------------------------------------------------------------- archive


def test_products_overview(products):
    p1, p2, p3, p4 = (products[k] for k in ("p1", "p2", "p3", "p4"))
    assert (p1.epsg, p2.epsg, p3.epsg, p4.epsg) == (32632, 32632, 32632, 32633)
    assert (p1.layout, p2.layout, p3.layout, p4.layout) == ("safe", "safe", "safe", "cog")
    assert p3.collection == "sentinel-2-l1c" and p3.baseline == "02.14"
    assert p1.datetime.startswith("2020-09-21T") and p2.datetime.startswith("2022-06-15T")
    assert p3.datetime.startswith("2020-09-16T") and p4.datetime.startswith("2020-09-19T")
    assert p1.id == "S2B_MSIL2A_20200921T103649_N0214_R008_T32UPB_20200921T132441"
    assert "_N0400_" in p2.id and "_MSIL1C_" in p3.id and "_T33U" in p4.id
    assert p1.path.name == p1.id + ".SAFE"
    assert p1.path.as_posix().endswith(f"Sentinel-2/MSI/L2A/2020/09/21/{p1.id}.SAFE")
    assert p2.path.as_posix().endswith(f"Sentinel-2/MSI/L2A/2022/06/15/{p2.id}.SAFE")
    assert p3.path.as_posix().endswith(f"Sentinel-2/MSI/L1C/2020/09/16/{p3.id}.SAFE")
    sq = p4.id.split("_")[5][4:]  # "T33UUS" -> "US"
    assert p4.path.as_posix().endswith(
        f"sentinel-cogs/sentinel-s2-l2a-cogs/33/U/{sq}/2020/9/S2A_33U{sq}_20200919_0_L2A"
    )
    for p in products.values():
        w = p.bounds[2] - p.bounds[0]
        assert w == p.bounds[3] - p.bounds[1] == SIZE * 10
        assert 0.0 < p.cloud_cover < 60.0
    # product 3 covers product 1; product 2 overlaps product 1 by about 10 % of the width
    assert p3.bounds == p1.bounds
    overlap = p1.bounds[2] - p2.bounds[0]
    assert p2.bounds[1] == p1.bounds[1] and 0.05 * SIZE * 10 <= overlap <= 0.15 * SIZE * 10


def test_products_are_near_the_zone_border(products):
    for p in products.values():
        left, bottom, right, top = p.bounds
        lon, lat = warp_transform(f"EPSG:{p.epsg}", "EPSG:4326", [left, right], [bottom, top])
        assert all(11.4 < x < 12.6 for x in lon) and all(50.8 < y < 51.2 for y in lat)


def test_every_raster_opens_with_right_grid(products):
    for p in products.values():
        files = _all_rasters(p)
        assert files
        left, _, _, top = p.bounds
        for f in files:
            res = _res_of(p, f)
            with rasterio.open(f) as ds:
                assert ds.crs.to_epsg() == p.epsg, f
                assert ds.width == ds.height == SIZE * 10 // res, f
                assert tuple(ds.transform)[:6] == (res, 0.0, left, 0.0, -res, top), f
                assert ds.count == 1
                assert ds.dtypes[0] == ("uint8" if "SCL" in f.name else "uint16"), f
                if f.suffix == ".jp2":
                    assert ds.driver == "JP2OpenJPEG" and ds.nodata is None
                    assert ds.tags(ns="IMAGE_STRUCTURE").get("COMPRESSION_REVERSIBILITY") == "LOSSLESS"
                else:
                    assert ds.driver == "GTiff" and ds.nodata == 0
                    assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
                    assert ds.profile["tiled"] and ds.profile["compress"] == "deflate"
                    assert ds.block_shapes[0][0] in (256, 512)
                    assert ds.overviews(1), f
                a = ds.read(1, out_shape=(max(1, ds.height // 4), max(1, ds.width // 4)))
                assert a.any()


def test_safe_l2a_layout(products):
    for key in ("p1", "p2"):
        p = products[key]
        (granule,) = (p.path / "GRANULE").iterdir()
        assert granule.name.startswith("L2A_T32U") and (granule / "MTD_TL.xml").is_file()
        names = {f.name.split("_", 2)[2] for f in (granule / "IMG_DATA").rglob("*.jp2")}
        assert {"B02_10m.jp2", "B03_10m.jp2", "B04_10m.jp2", "B08_10m.jp2"} <= names
        for b in ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B8A", "B11", "B12", "SCL"):
            assert f"{b}_20m.jp2" in names
        for b in ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B8A", "B09", "B11", "B12", "SCL"):
            assert f"{b}_60m.jp2" in names
        tile = p.id.split("_")[5]
        sensing = p.id.split("_")[2]
        assert all(f.name.startswith(f"{tile}_{sensing}_") for f in (granule / "IMG_DATA").rglob("*.jp2"))


def test_l1c_layout(products):
    p = products["p3"]
    (granule,) = (p.path / "GRANULE").iterdir()
    assert granule.name.startswith("L1C_T32UPB_A")
    files = sorted(f.name for f in (granule / "IMG_DATA").glob("*.jp2"))
    bands = sorted(f.rsplit("_", 1)[1][:-4] for f in files)
    assert bands == sorted(NATIVE.keys() - {"SCL"})
    assert not list(p.path.rglob("*SCL*"))
    for f in (granule / "IMG_DATA").glob("*.jp2"):
        band = f.stem.rsplit("_", 1)[1]
        with rasterio.open(f) as ds:
            assert ds.res == (NATIVE[band], NATIVE[band])


def test_product_metadata(products):
    for key in ("p1", "p2", "p3"):
        p = products[key]
        root = _mtd(p)
        l2a = p.collection == "sentinel-2-l2a"
        assert (
            root.tag
            == "{https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-%s.xsd}Level-%s_User_Product"
            % (("2A", "2A") if l2a else ("1C", "1C"))
        )
        info = "General_Info/Product_Info/"
        assert _text(root, info + "PRODUCT_URI") == p.id + ".SAFE"
        assert _text(root, info + "PRODUCT_START_TIME") == p.datetime
        assert _text(root, info + "PRODUCT_STOP_TIME")
        assert _text(root, info + "GENERATION_TIME")
        assert _text(root, info + "PROCESSING_LEVEL") == ("Level-2A" if l2a else "Level-1C")
        assert _text(root, info + "PRODUCT_TYPE") == ("S2MSI2A" if l2a else "S2MSI1C")
        assert _text(root, info + "PROCESSING_BASELINE") == p.baseline
        assert _text(root, info + "Datatake/SPACECRAFT_NAME") == "Sentinel-2" + p.id[2]
        files = [e.text for e in _find(root, info + "Product_Organisation/Granule_List/Granule/IMAGE_FILE")]
        assert len(files) == (27 if l2a else 13)
        for f in files:
            assert not f.endswith(".jp2") and f.startswith("GRANULE/")
            assert (p.path / (f + ".jp2")).is_file(), f
        chars = "General_Info/Product_Image_Characteristics/"
        special = {
            _text(e, "SPECIAL_VALUE_TEXT"): _text(e, "SPECIAL_VALUE_INDEX")
            for e in _find(root, chars + "Special_Values")
        }
        assert special == {"NODATA": "0", "SATURATED": "65535"}
        if l2a:
            assert _text(root, chars + "QUANTIFICATION_VALUES_LIST/BOA_QUANTIFICATION_VALUE") == "10000"
            offsets = _find(root, chars + "BOA_ADD_OFFSET_VALUES_LIST/BOA_ADD_OFFSET")
            if p.baseline == "04.00":
                assert [(e.get("band_id"), e.text) for e in offsets] == [(str(i), "-1000") for i in range(13)]
            else:
                assert offsets == []
        else:
            assert _text(root, chars + "QUANTIFICATION_VALUE") == "10000"
            assert not [e for e in root.iter() if _local(e.tag) == "RADIO_ADD_OFFSET"]
        spectral = _find(root, chars + "Spectral_Information_List/Spectral_Information")
        assert [e.get("bandId") for e in spectral] == [str(i) for i in range(13)]
        assert [e.get("physicalBand") for e in spectral] == [
            "B1",
            "B2",
            "B3",
            "B4",
            "B5",
            "B6",
            "B7",
            "B8",
            "B8A",
            "B9",
            "B10",
            "B11",
            "B12",
        ]
        cloud = float(_text(root, "Quality_Indicators_Info/Cloud_Coverage_Assessment"))
        assert cloud == pytest.approx(p.cloud_cover, abs=1e-6)
        # footprint: lat lon pairs, lat first, closed ring
        pos = [
            float(x)
            for x in _text(
                root, "Geometric_Info/Product_Footprint/Product_Footprint/Global_Footprint/EXT_POS_LIST"
            ).split()
        ]
        assert len(pos) % 2 == 0 and len(pos) >= 10
        lats, lons = pos[0::2], pos[1::2]
        assert all(50.5 < y < 51.5 for y in lats) and all(11.0 < x < 13.0 for x in lons)
        assert (lats[0], lons[0]) == (lats[-1], lons[-1])
        # ... computed from the raster extent
        left, bottom, right, top = p.bounds
        xs, ys = warp_transform("EPSG:4326", f"EPSG:{p.epsg}", lons, lats)
        assert min(xs) == pytest.approx(left, abs=0.5) and max(xs) == pytest.approx(right, abs=0.5)
        assert min(ys) == pytest.approx(bottom, abs=0.5) and max(ys) == pytest.approx(top, abs=0.5)


def test_tile_metadata(products):
    for key in ("p1", "p2", "p3"):
        p = products[key]
        (mtd,) = p.path.glob("GRANULE/*/MTD_TL.xml")
        root = ET.parse(mtd).getroot()
        assert _local(root.tag) == ("Level-2A_Tile_ID" if key != "p3" else "Level-1C_Tile_ID")
        geo = "Geometric_Info/Tile_Geocoding/"
        assert _text(root, geo + "HORIZONTAL_CS_CODE") == f"EPSG:{p.epsg}"
        assert _text(root, geo + "HORIZONTAL_CS_NAME") == f"WGS84 / UTM zone {p.epsg - 32600}N"
        assert _text(root, "General_Info/SENSING_TIME").startswith(p.datetime[:10])
        sizes = {
            e.get("resolution"): (int(_text(e, "NROWS")), int(_text(e, "NCOLS"))) for e in _find(root, geo + "Size")
        }
        assert sizes == {"10": (SIZE, SIZE), "20": (SIZE // 2, SIZE // 2), "60": (SIZE // 6, SIZE // 6)}
        for e in _find(root, geo + "Geoposition"):
            r = int(e.get("resolution"))
            assert (float(_text(e, "ULX")), float(_text(e, "ULY"))) == (p.bounds[0], p.bounds[3])
            assert (int(_text(e, "XDIM")), int(_text(e, "YDIM"))) == (r, -r)


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_gdal_sentinel2_driver_reads_the_safe_products(products):
    for key in ("p1", "p2", "p3"):
        p = products[key]
        with rasterio.open(next(p.path.glob("MTD_MSIL*.xml"))) as ds:
            assert ds.driver == "SENTINEL2"
            sub = [s for s in ds.subdatasets if ":10m:" in s]
        assert sub
        with rasterio.open(sub[0]) as ds:
            assert ds.crs.to_epsg() == p.epsg and ds.width == SIZE
            assert (ds.transform.c, ds.transform.f) == (p.bounds[0], p.bounds[3])
            assert ds.tags()["PROCESSING_BASELINE"] == p.baseline


def test_stac_item(products):
    p = products["p4"]
    (item_file,) = p.path.glob("*.json")
    assert item_file.stem == p.path.name
    item = json.loads(item_file.read_text())
    assert item["type"] == "Feature" and item["stac_version"] == "1.0.0" and item["id"] == p.path.name
    assert item["collection"] == "sentinel-2-l2a"
    props = item["properties"]
    assert props["datetime"] == p.datetime
    assert props["platform"] == "sentinel-2a"
    assert props["proj:epsg"] == 32633
    assert props["s2:processing_baseline"] == "02.14"
    assert props["s2:product_uri"] == p.id + ".SAFE"
    assert props["eo:cloud_cover"] == pytest.approx(p.cloud_cover, abs=1e-6)
    assert set(item["assets"]) == set(COG_ASSETS)
    for key, band in COG_ASSETS.items():
        asset = item["assets"][key]
        href = asset["href"]
        assert href.startswith("https://sentinel-cogs.s3.us-west-2.amazonaws.com/sentinel-s2-l2a-cogs/33/U/")
        assert href.endswith(f"/{p.path.name}/{band}.tif")
        local = p.path / href.rsplit("/", 1)[1]
        assert local.is_file()
        with rasterio.open(local) as ds:
            assert asset["proj:shape"] == [ds.height, ds.width]
            assert asset["proj:transform"] == list(ds.transform)[:6]
        if band != "SCL":
            assert asset["eo:bands"][0]["name"] == key
            assert asset["raster:bands"][0]["scale"] == 0.0001
    ring = item["geometry"]["coordinates"][0]
    assert item["geometry"]["type"] == "Polygon" and ring[0] == ring[-1] and len(ring) >= 5
    assert all(11.0 < lon < 13.0 and 50.5 < lat < 51.5 for lon, lat in ring)
    lons = [c[0] for c in ring]
    lats = [c[1] for c in ring]
    assert item["bbox"] == [min(lons), min(lats), max(lons), max(lats)]


# ---------------------------------------------------------------------------- pixels


def test_nodata_corner_of_product_1(products):
    for key in ("p1", "p3"):
        p = products[key]
        for f in _all_rasters(p):
            with rasterio.open(f) as ds:
                a = ds.read(1)
            assert a[-1, 0] == 0, f  # south-west corner outside the swath
            assert a[0, -1] != 0, f
            assert (a == 0).mean() > 0.05
    for key in ("p2", "p4"):
        assert _read(products[key], "B04").min() > 0


def test_offset_of_baseline_0400(products):
    p1, p2 = products["p1"], products["p2"]
    b04 = _read(p2, "B04")
    assert b04[b04 > 0].min() > 1000
    assert (_read(p1, "B04") < 1000).mean() > 0.3
    # in the overlap, clear soil/urban/water pixels have the same reflectance once the offset is applied
    n = SIZE // 2
    shift = round((p2.bounds[0] - p1.bounds[0]) / 20)
    s1, s2 = _scl20(p1)[:, shift:], _scl20(p2)[:, : n - shift]
    r1, r2 = _reflectance(p1, "B04", 20)[:, shift:], _reflectance(p2, "B04", 20)[:, : n - shift]
    same = (s1 == s2) & np.isin(s1, (5, 6))
    assert same.sum() >= 3
    assert np.nanmedian(np.abs(r1[same] - r2[same])) < 0.01
    dn1 = _read(p1, "B04", 20)[:, shift:].astype(float)
    dn2 = _read(p2, "B04", 20)[:, : n - shift].astype(float)
    assert np.median(dn2[same] - dn1[same]) == pytest.approx(1000, abs=100)


@pytest.mark.parametrize("key", ["p1", "p2", "p4"])
def test_ndvi_and_cloud_brightness_follow_scl(products, key):
    p = products[key]
    scl = np.repeat(np.repeat(_scl20(p), 2, axis=0), 2, axis=1)
    red, nir, blue = _reflectance(p, "B04"), _reflectance(p, "B08"), _reflectance(p, "B02")
    ndvi = (nir - red) / (nir + red)
    assert (scl == 4).sum() > 100 and (scl == 6).sum() > 10, np.unique(scl)
    assert np.nanmean(ndvi[scl == 4]) > 0.5
    assert np.nanmean(ndvi[scl == 6]) < 0.0
    assert np.nanmean(ndvi[scl == 5]) < 0.35
    clouds = np.isin(scl, (8, 9))
    assert clouds.sum() > 10
    assert np.nanmean(blue[clouds]) > 0.3
    assert np.nanmean(blue[np.isin(scl, (4, 5, 6))]) < 0.12
    if (scl == 3).any():  # cloud shadows are darker than the clear ground
        assert np.nanmean(nir[scl == 3]) < np.nanmean(nir[np.isin(scl, (4, 5))])


def test_l1c_is_top_of_atmosphere(products):
    p1, p3 = products["p1"], products["p3"]
    s1 = np.repeat(np.repeat(_scl20(p1), 2, axis=0), 2, axis=1)
    b10 = _read(p3, "B10").astype(float) / 10000
    assert np.nanmax(b10) > 0.03  # cirrus / clouds show in the cirrus band
    assert np.median(b10[b10 > 0]) < 0.01
    # clear in both: TOA blue brighter than surface blue (haze)
    toa = _reflectance(p3, "B02")
    boa = _reflectance(p1, "B02")
    clear = np.isin(s1, (4, 5, 6)) & (toa < 0.2)
    assert clear.sum() > 100
    assert np.nanmedian(toa[clear] - boa[clear]) > 0.02


def test_overlap_shows_the_same_ground(products):
    p1, p2 = products["p1"], products["p2"]
    n = SIZE // 2
    shift = round((p2.bounds[0] - p1.bounds[0]) / 20)
    assert 0 < shift < n
    s1, s2 = _scl20(p1)[:, shift:], _scl20(p2)[:, : n - shift]
    both_clear = np.isin(s1, (4, 5, 6)) & np.isin(s2, (4, 5, 6))
    assert both_clear.sum() >= 20
    assert np.array_equal(s1[both_clear], s2[both_clear])


def test_overlap_across_the_utm_zones(products):
    p2, p4 = products["p2"], products["p4"]
    s2, s4 = _scl20(p2), _scl20(p4)
    rows, cols = np.mgrid[1 : s4.shape[0] - 1, 1 : s4.shape[1] - 1]
    xs = p4.bounds[0] + (cols + 0.5) * 20
    ys = p4.bounds[3] - (rows + 0.5) * 20
    x2, y2 = warp_transform("EPSG:32633", "EPSG:32632", xs.ravel(), ys.ravel())
    c2 = np.floor((np.array(x2) - p2.bounds[0]) / 20).astype(int)
    r2 = np.floor((p2.bounds[3] - np.array(y2)) / 20).astype(int)
    inside = (c2 >= 1) & (c2 < s2.shape[1] - 1) & (r2 >= 1) & (r2 < s2.shape[0] - 1)
    assert inside.sum() > 50  # the COG product (zone 33) overlaps product 2 (zone 32)
    rr, cc, r2, c2 = rows.ravel()[inside], cols.ravel()[inside], r2[inside], c2[inside]

    def uniform(s, r, c):  # 3x3 neighbourhood of one clear class: away from class edges
        win = np.stack([s[r + dr, c + dc] for dr in (-1, 0, 1) for dc in (-1, 0, 1)])
        return (win == win[4]).all(axis=0) & np.isin(win[4], (4, 5, 6))

    ok = uniform(s4, rr, cc) & uniform(s2, r2, c2)
    assert ok.sum() >= 10
    assert (s4[rr[ok], cc[ok]] == s2[r2[ok], c2[ok]]).mean() >= 0.95


def test_cloud_cover_matches_scl(products):
    for key in ("p1", "p2", "p4"):
        p = products[key]
        scl = _scl20(p)
        valid = scl != 0
        expected = 100.0 * np.isin(scl, (8, 9, 10)).sum() / valid.sum()
        assert p.cloud_cover == pytest.approx(expected, abs=1e-4)
    cc = [products[k].cloud_cover for k in ("p1", "p2", "p3", "p4")]
    assert len(set(cc)) == 4  # clouds differ per date


def test_time_series_over_one_tile(archive):
    """Product 5: one tile, six dates, cloudy on some; its cloud cover is that of its own SCL."""
    _, prods = archive
    series = [p for p in prods if "_T32UPA_" in p.id]
    assert len(series) == 6 and len({p.bounds for p in series}) == 1
    assert [p.datetime[:10] for p in series] == sorted(p.datetime[:10] for p in series)
    assert series[0].datetime.startswith("2023-04-18") and series[-1].datetime.startswith("2023-08-21")
    cover = {}
    for p in series:
        with rasterio.open(p.path / "SCL.tif") as src:
            scl = src.read(1)
        assert p.cloud_cover == pytest.approx(100.0 * np.isin(scl, (8, 9, 10)).mean(), abs=1e-4)
        cover[p.datetime[:10]] = p.cloud_cover
    assert cover["2023-05-13"] > 50 and cover["2023-07-02"] > 25
    assert sum(c == 0 for c in cover.values()) >= 3  # clear dates beside the cloudy ones
    # Apart from the series, no product meets its tile: mosaics elsewhere stay as they were.
    _west, south, east, north = series[0].bounds
    others = [p for p in prods if p not in series and p.epsg == series[0].epsg]
    assert all(o.bounds[1] >= north or o.bounds[3] <= south or o.bounds[0] >= east for o in others)


def test_clouds_differ_between_dates(products):
    p1, p2 = products["p1"], products["p2"]
    n = SIZE // 2
    shift = round((p2.bounds[0] - p1.bounds[0]) / 20)
    c1 = np.isin(_scl20(p1), (8, 9))
    c2 = np.isin(_scl20(p2), (8, 9))
    assert not np.array_equal(c1[:, shift:], c2[:, : n - shift]) or not c1.any()


# ---------------------------------------------------------------------------- behaviour


def test_second_call_does_not_regenerate(archive, capsys):
    root, prods = archive
    manifest = root / demo.MANIFEST_NAME
    band = _band_file(prods[0], "B04")
    before = (manifest.stat().st_mtime_ns, band.stat().st_mtime_ns)
    again = generate_archive(root, size=SIZE)
    assert again == prods
    assert (manifest.stat().st_mtime_ns, band.stat().st_mtime_ns) == before
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    data = json.loads(manifest.read_text())
    assert data["size"] == SIZE and data["generator_version"] == demo.GENERATOR_VERSION


def test_other_size_or_force_regenerates(tmp_path):
    messages: list[str] = []
    first = generate_archive(tmp_path, size=24, progress=messages.append)
    assert messages and [p.layout for p in first].count("named-files") == MAPS and len(first) == PRODUCTS
    band = _band_file(first[0], "B04")
    mtime = band.stat().st_mtime_ns
    second = generate_archive(tmp_path, size=36)
    with rasterio.open(_band_file(second[0], "B04")) as ds:
        assert ds.width == 36
    assert json.loads((tmp_path / demo.MANIFEST_NAME).read_text())["size"] == 36
    os.utime(band, ns=(mtime, mtime))
    third = generate_archive(tmp_path, size=36, force=True)
    assert third == second
    assert _band_file(third[0], "B04").stat().st_mtime_ns != mtime
    with pytest.raises(ValueError):
        generate_archive(tmp_path / "bad", size=100)


def test_interrupted_run_regenerates(tmp_path):
    prods = generate_archive(tmp_path, size=24)
    (tmp_path / demo.MANIFEST_NAME).unlink()  # as if interrupted before the manifest was written
    band = _band_file(prods[0], "B04")
    os.utime(band, ns=(1, 1))
    assert generate_archive(tmp_path, size=24) == prods
    assert _band_file(prods[0], "B04").stat().st_mtime_ns != 1


def test_jp2_has_resolution_levels(tmp_path):
    grid = demo._Grid(32632, 688980, 5660040, 600)
    a = (np.arange(600 * 600, dtype=np.uint32).reshape(600, 600) % 3000 + 1).astype(np.uint16)
    demo._write_jp2(tmp_path / "x.jp2", a, grid, 10)
    with rasterio.open(tmp_path / "x.jp2") as ds:
        assert ds.overviews(1)[:2] == [2, 4]
        assert np.array_equal(ds.read(1), a)  # lossless


def test_cli(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    res = subprocess.run(
        [sys.executable, "-m", "demo", str(tmp_path / "a"), "--size", "24"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "a" / demo.MANIFEST_NAME).is_file()
    assert len(res.stdout.strip().splitlines()) == PRODUCTS


# ---------------------------------------------------------------------------- Landsat


def test_landsat_product_in_the_usgs_layout(products, landsat_product):
    p, p1 = landsat_product, products["p1"]
    assert p.collection == "landsat-c2-l2" and p.id == demo.LANDSAT_ID and p.bounds == p1.bounds
    names = sorted(f.name.removeprefix(p.id + "_") for f in p.path.iterdir())
    assert names == [
        "MTL.txt", "QA_PIXEL.TIF", "SR_B1.TIF", "SR_B2.TIF", "SR_B3.TIF", "SR_B4.TIF", "SR_B5.TIF", "SR_B6.TIF",
        "SR_B7.TIF", "ST_B10.TIF",
    ]  # fmt: skip
    mtl = mtl_values(p.path / f"{p.id}_MTL.txt")
    assert mtl["LANDSAT_PRODUCT_ID"] == p.id and float(mtl["CLOUD_COVER"]) == pytest.approx(p.cloud_cover, abs=0.01)
    assert (float(mtl["REFLECTANCE_MULT_BAND_4"]), float(mtl["REFLECTANCE_ADD_BAND_4"])) == (2.75e-5, -0.2)
    assert f"{mtl['DATE_ACQUIRED']}T{mtl['SCENE_CENTER_TIME'][:15]}" == p.datetime[:26]
    with rasterio.open(p.path / f"{p.id}_QA_PIXEL.TIF") as ds:
        qa = ds.read(1).astype(np.int64)
        assert ds.nodata is None and ds.res == (30.0, 30.0) and ds.crs.to_epsg() == 32632
    with rasterio.open(p.path / f"{p.id}_SR_B4.TIF") as ds:
        dn = ds.read(1)
        assert ds.nodata == 0
    fill = qa == 1
    assert fill.any() and (dn[fill] == 0).all() and (dn[~fill] > 0).all()  # the south-west corner
    cloudy = (qa & 0b1110) != 0
    assert float(mtl["CLOUD_COVER"]) == pytest.approx(100 * cloudy[~fill].mean(), abs=0.01)
    assert ((qa >> 6 & 1) == ((qa & 0b1010) == 0))[~fill].all()  # clear: neither cloud nor dilated cloud
    # The same ground as product 1: where neither sees a cloud, red reflectances agree.
    landsat_red = dn * 2.75e-5 - 0.2
    s2_red = _reflectance(p1, "B04", 10).reshape(dn.shape[0], 3, dn.shape[1], 3).mean(axis=(1, 3))
    s2_clear = np.isin(_scl20(p1).repeat(2, axis=0).repeat(2, axis=1)[::3, ::3], (4, 5, 6))
    both = s2_clear & (qa == 1 << 6) & np.isfinite(s2_red)
    assert both.sum() > 100 and np.median(np.abs(landsat_red[both] - s2_red[both])) < 0.01


# ---------------------------------------------------------------------------- static maps (demo/maps.py)


@pytest.fixture(scope="module")
def maps(archive) -> dict[str, DemoProduct]:
    _, prods = archive
    return {p.id: p for p in prods if p.layout == "named-files"}


def test_the_maps_lie_as_their_providers_lay_them_out(archive, maps):
    root, _ = archive
    assert {p.id: p.collection for p in maps.values()} == {
        "Copernicus_DSM_COG_30_N51_00_E011_00_DEM": "cop-dem-glo-90",
        "Copernicus_DSM_COG_30_N51_00_E012_00_DEM": "cop-dem-glo-90",
        "Copernicus_DSM_COG_10_N50_00_E011_00_DEM": "cop-dem-glo-30",
        "ESA_WorldCover_10m_2021_v200_N51E009": "esa-worldcover",
        "U2018_CLC2018_V2020_20u1": "corine-land-cover",
    }
    dem = maps["Copernicus_DSM_COG_30_N51_00_E011_00_DEM"]
    assert dem.path.relative_to(root).as_posix() == f"Copernicus-DEM/GLO-90/{dem.id}/{dem.id}.tif"
    worldcover = maps["ESA_WorldCover_10m_2021_v200_N51E009"].path
    assert (
        worldcover.relative_to(root).as_posix()
        == "ESA-WorldCover/v200/2021/map/ESA_WorldCover_10m_2021_v200_N51E009_Map.tif"
    )
    from tiler.catalog import MemoryCatalog

    indexed = {p.id: p.collection for p in MemoryCatalog([root]) if p.id in maps}
    assert indexed == {p.id: p.collection for p in maps.values()}


def test_dem_tiles_are_copernicus_cogs_that_meet_at_twelve_degrees(maps):
    west, east = (maps[f"Copernicus_DSM_COG_30_N51_00_E0{lon}_00_DEM"] for lon in (11, 12))
    rows, cols = SIZE, SIZE * 2 // 3
    for tile, lon0 in ((west, 11), (east, 12)):
        with rasterio.open(tile.path) as ds:
            assert (ds.width, ds.height, ds.dtypes[0], ds.nodata) == (cols, rows, "float32", None)
            assert ds.tags()["AREA_OR_POINT"] == "Point" and ds.crs.to_epsg() == 4326
            # Pixel centres on the degree lines: the bounds lie half a pixel north-west of them.
            assert ds.bounds.left == pytest.approx(lon0 - 0.5 / cols) and ds.bounds.top == pytest.approx(
                52 + 0.5 / rows
            )
            heights = ds.read(1)
            lon = lon0 + np.arange(cols) / cols
            lat = 52 - np.arange(rows) / rows
            expected = demo.maps.heights(*np.meshgrid(lon, lat))
            np.testing.assert_allclose(heights, expected, atol=1e-3)
            assert heights.min() >= 150 and heights.max() <= 1150 and heights.std() > 50
    assert west.bounds[2] == pytest.approx(east.bounds[0])  # side by side: no gap, no overlap


def test_land_cover_follows_the_ground(maps):
    with rasterio.open(maps["ESA_WorldCover_10m_2021_v200_N51E009"].path) as ds:
        classes = ds.read(1)
        assert ds.nodata == 0 and ds.bounds == (9.0, 51.0, 12.0, 54.0) and ds.width == SIZE
    assert set(np.unique(classes)) <= {10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 100} and len(np.unique(classes)) >= 4
    with rasterio.open(maps["U2018_CLC2018_V2020_20u1"].path) as ds:
        codes = ds.read(1)
        assert ds.crs.to_epsg() == 3035 and ds.res == (100.0, 100.0) and ds.nodata is None
    strip = max(1, SIZE // 10)
    assert (codes[:, -strip:] == 0).all() and (codes[:, :-strip] != 0).all()  # outside the mapped area
    present = set(np.unique(codes[:, :-strip]).tolist())
    assert present <= set(range(1, 45)) and {41, 35, 12, 23} <= present  # lake, shore, fields, forest
