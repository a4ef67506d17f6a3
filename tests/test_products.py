"""Product discovery and resolution: every ID form, metadata, and references that must be refused."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.helpers import COG_ID, COG_REL, COG_STAC_ID, SAFE_L2A_ID, SAFE_REL
from tiler.catalog import MemoryCatalog
from tiler.errors import NotFound, UnsafeReference
from tiler.products import check_reference


@pytest.fixture(scope="module")
def index(shared_data: Path) -> MemoryCatalog:
    return MemoryCatalog([shared_data])


@pytest.mark.parametrize(
    "reference, expected",
    [
        (SAFE_L2A_ID, SAFE_L2A_ID),
        (SAFE_L2A_ID + ".SAFE", SAFE_L2A_ID),
        (SAFE_REL, SAFE_L2A_ID),
        (SAFE_REL + "/", SAFE_L2A_ID),
        ("/eodata/" + SAFE_REL, SAFE_L2A_ID),
        (COG_ID, COG_ID),
        (COG_ID + ".SAFE", COG_ID),
        (COG_STAC_ID, COG_ID),
        (COG_REL, COG_ID),
        ("/eodata/" + COG_REL, COG_ID),
    ],
)
def test_every_id_form_resolves(index: MemoryCatalog, reference: str, expected: str) -> None:
    assert index.resolve(reference).id == expected


def test_absolute_path_inside_a_root_resolves(index: MemoryCatalog, shared_data: Path) -> None:
    assert index.resolve(str(shared_data / SAFE_REL)).id == SAFE_L2A_ID


def test_safe_metadata_comes_from_the_mtd(index: MemoryCatalog) -> None:
    product = index.resolve(SAFE_L2A_ID)
    assert product.collection == "sentinel-2-l2a"
    assert product.platform == "sentinel-2a"
    assert product.processing_baseline == "04.00"
    assert product.datetime.isoformat().startswith("2022-10-05T11:54:11")
    assert product.cloud_cover == pytest.approx(59.769726)
    assert (product.bands["B04"].scale, product.bands["B04"].offset) == (1e-4, -0.1)  # (DN - 1000) / 10000
    assert product.crs.to_epsg() == 32629
    ring = product.footprint["coordinates"][0]
    assert ring[0] == ring[-1]
    # lon/lat order: western Ireland
    assert all(-11 < lon < -6 and 51 < lat < 54 for lon, lat in ring)


def test_safe_bands_are_taken_from_disk_at_their_finest_resolution(index: MemoryCatalog) -> None:
    bands = index.resolve(SAFE_L2A_ID).bands
    assert bands["SCL"].resolution == 20 and bands["SCL"].path.name.endswith("_SCL_20m.jp2")
    assert bands["B04"].resolution == 60  # the 10 m file is listed in the MTD but not on disk
    # B08 exists only in the metadata: the narrow NIR band B8A stands in for it.
    assert bands["B08"].source_band == "B8A"


def test_stac_item_maps_remote_hrefs_to_local_files(index: MemoryCatalog, shared_data: Path) -> None:
    product = index.resolve(COG_ID)
    assert product.cloud_cover == pytest.approx(4.051854)
    assert product.processing_baseline == "02.14" and product.bands["B04"].offset == 0
    assert product.bands["B04"].path == (shared_data / COG_REL / "B04.tif").resolve()
    # The files are 10x downsampled; the resolution comes from the raster, not the item.
    assert product.bands["B04"].resolution == pytest.approx(100)
    assert product.bands["B11"].resolution == pytest.approx(200)


@pytest.mark.parametrize(
    "reference",
    [
        "../etc/passwd",
        "s2-l2a-safe-T29UNU-20221005/../../etc",
        "%2e%2e/%2e%2e/etc/passwd",
        "%252e%252e%252fetc",
        "/vsicurl/http://example.com/x.tif",
        "vsizip//tmp/x.zip",
        "https://example.com/B04.tif",
        "/etc/passwd",
        "/eodata/../etc/passwd",
        "a\x00b",
        "..\\..\\windows",
        "",
    ],
)
def test_unsafe_references_are_refused(index: MemoryCatalog, reference: str) -> None:
    with pytest.raises(UnsafeReference):
        index.resolve(reference)


def test_unknown_product_is_not_found(index: MemoryCatalog) -> None:
    with pytest.raises(NotFound):
        index.resolve("S2B_MSIL2A_20200921T112119_N0214_R037_T30UUA_20200921T132441")


def test_check_reference_keeps_plain_ids() -> None:
    assert check_reference(SAFE_L2A_ID + "/") == SAFE_L2A_ID


def test_symlinks_leaving_the_root_are_not_indexed(tmp_path: Path, shared_data: Path) -> None:
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    cog = shared_data / COG_REL
    # A product folder inside the root whose band files are symlinks to files outside it.
    shutil.copytree(cog, outside / "S2A_29RKH_20200219_0_L2A")
    product_dir = root / "S2A_29RKH_20200219_0_L2A"
    product_dir.mkdir(parents=True)
    for f in (outside / "S2A_29RKH_20200219_0_L2A").iterdir():
        os.symlink(f, product_dir / f.name)
    # And a symlinked folder pointing out of the root.
    os.symlink(outside, root / "escape")
    index = MemoryCatalog([root])
    assert len(index) == 0


def test_demo_archive_id_forms(demo_archive) -> None:
    """The generated archive lies in CODE-DE's date tree and the sentinel-cogs tree."""
    root, products = demo_archive
    index = MemoryCatalog([root])
    assert len(index) == len(products)
    for product in products:
        relative = product.path.relative_to(root).as_posix()
        for reference in (product.id, relative, "/eodata/" + relative, str(product.path)):
            assert index.resolve(reference).id == product.id, reference
        if product.layout == "safe":
            assert relative.startswith(("Sentinel-2/MSI/L2A/", "Sentinel-2/MSI/L1C/", "Sentinel-1/SAR/GRD/"))
            assert index.resolve(product.id + ".SAFE").id == product.id
    l1c = index.resolve(next(p.id for p in products if p.collection == "sentinel-2-l1c"))
    assert l1c.collection == "sentinel-2-l1c" and "SCL" not in l1c.bands and l1c.bands["B04"].resolution == 10
