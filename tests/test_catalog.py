"""The SQLite catalog: incremental updates, unreadable products, every ID form, the roots filter,
the version token in mosaic cache keys, and `eo-tiler index` as a real process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.helpers import COG_ID, COG_REL, SAFE_L2A_ID, SAFE_REL, WEB_MERCATOR, decode, write_product
from tiler.app import create_app
from tiler.catalog import MemoryCatalog
from tiler.catalog.sqlite import SqliteCatalog, product_from_json, product_to_json
from tiler.errors import NotFound, UnsafeReference
from tiler.settings import Settings


@pytest.fixture(scope="module")
def real_catalog(shared_data: Path, tmp_path_factory) -> SqliteCatalog:
    catalog = SqliteCatalog(tmp_path_factory.mktemp("real") / "catalog.sqlite", [shared_data])
    catalog.update()
    return catalog


def test_sqlite_has_the_rtree_module(real_catalog) -> None:
    assert real_catalog.spatial_index == "rtree"


@pytest.mark.parametrize(
    "reference, expected",
    [
        (SAFE_L2A_ID, SAFE_L2A_ID),
        (SAFE_L2A_ID + ".SAFE", SAFE_L2A_ID),
        (SAFE_REL, SAFE_L2A_ID),
        ("/eodata/" + SAFE_REL, SAFE_L2A_ID),
        (COG_ID, COG_ID),
        (COG_ID + ".SAFE", COG_ID),
        ("S2A_29RKH_20200219_0_L2A", COG_ID),
        (COG_REL, COG_ID),
        ("/eodata/" + COG_REL + "/", COG_ID),
    ],
)
def test_every_id_form_resolves(real_catalog, reference, expected) -> None:
    assert real_catalog.resolve(reference).id == expected


@pytest.mark.parametrize(
    "reference", ["../etc/passwd", "%252e%252e%252fetc", "/vsicurl/http://x/a.tif", "/etc/passwd", ""]
)
def test_unsafe_references_are_refused(real_catalog, reference) -> None:
    with pytest.raises(UnsafeReference):
        real_catalog.resolve(reference)


def test_products_survive_the_round_trip_through_rows(real_catalog, shared_data) -> None:
    """What the catalog returns equals what the parsers read from disk."""
    from_disk = {p.id: p for p in MemoryCatalog([shared_data])}
    assert {p.id for p in real_catalog} == set(from_disk)
    for product in real_catalog:
        assert product == from_disk[product.id]
        assert product_from_json(product_to_json(product)) == product


def test_real_data_is_searchable(real_catalog) -> None:
    ireland = real_catalog.search(bbox=(-9.0, 52.5, -8.5, 53.0))
    assert [p.id for p in ireland.products] == [SAFE_L2A_ID] and ireland.total == 1
    clear = real_catalog.search(max_cloud=10, limit=100).products
    assert COG_ID in [p.id for p in clear] and SAFE_L2A_ID not in [p.id for p in clear]
    assert all(p.cloud_cover is not None and p.cloud_cover <= 10 for p in clear)
    assert real_catalog.search(collection="sentinel-2-l1c").total == 0


def test_update_finds_new_changed_and_removed_products(tmp_path) -> None:
    root = tmp_path / "data"
    for i in range(3):
        write_product(root, f"A{i}", when=f"2021-0{i + 1}-10T10:00:00Z", cloud_cover=10.0 * i)
    catalog = SqliteCatalog(tmp_path / "c.sqlite", [root])
    assert not catalog.indexed
    first = catalog.update()
    assert (first.added, first.changed, first.removed, first.unchanged, first.failed) == (3, 0, 0, 0, [])
    assert catalog.indexed and len(catalog) == 3
    version = catalog.version

    again = catalog.update()
    assert (again.added, again.unchanged) == (0, 3) and catalog.version == version

    write_product(root, "A3", when="2021-04-10T10:00:00Z", cloud_cover=5.0)
    item = root / "A1" / "item.json"
    data = json.loads(item.read_text())
    data["properties"]["eo:cloud_cover"] = 99.0
    item.write_text(json.dumps(data, indent=1))  # another size: seen as changed whatever the clock
    shutil.rmtree(root / "A2")
    report = catalog.update()
    assert (report.added, report.changed, report.removed, report.unchanged) == (1, 1, 1, 1)
    assert catalog.version != version
    assert sorted(p.id for p in catalog) == ["A0", "A1", "A3"]
    assert catalog.resolve("A1").cloud_cover == 99.0
    assert [p.id for p in catalog.search(max_cloud=50).products] == ["A3", "A0"]
    with pytest.raises(NotFound):
        catalog.resolve("A2")


def test_unreadable_metadata_is_reported_and_skipped(tmp_path, demo_archive) -> None:
    _, products = demo_archive
    root = tmp_path / "data"
    safe = next(p for p in products if p.layout == "safe")
    cog = next(p for p in products if p.layout == "cog")
    shutil.copytree(safe.path, root / safe.path.name)
    shutil.copytree(cog.path, root / "cog")
    write_product(root, "GOOD", when="2021-01-01T00:00:00Z", cloud_cover=1.0)
    mtd = root / safe.path.name / "MTD_MSIL2A.xml"
    mtd.write_bytes(mtd.read_bytes()[:2000])  # truncated XML
    item = next((root / "cog").glob("*.json"))
    item.write_text(item.read_text()[:500])  # truncated JSON
    catalog = SqliteCatalog(tmp_path / "c.sqlite", [root])
    report = catalog.update()
    assert [p.id for p in catalog] == ["GOOD"]
    reasons = dict(report.failed)
    assert len(reasons) == 2
    assert "not valid XML" in reasons[str(root / safe.path.name)]
    assert "not readable JSON" in reasons[str(item)]
    # Fixed later: picked up by the next update.
    shutil.copy(safe.path / "MTD_MSIL2A.xml", mtd)
    assert catalog.update().added == 1 and len(catalog) == 2


def test_the_catalog_only_answers_for_its_roots(tmp_path) -> None:
    write_product(tmp_path / "a", "IN_A", when="2021-01-01T00:00:00Z", cloud_cover=1.0)
    write_product(tmp_path / "b", "IN_B", when="2021-01-01T00:00:00Z", cloud_cover=1.0)
    path = tmp_path / "c.sqlite"
    SqliteCatalog(path, [tmp_path / "a", tmp_path / "b"]).update()
    only_a = SqliteCatalog(path, [tmp_path / "a"])
    assert [p.id for p in only_a] == ["IN_A"] and only_a.search().total == 1
    with pytest.raises(NotFound):
        only_a.resolve("IN_B")


def test_an_index_update_is_never_served_from_a_stale_mosaic_cache(tmp_path) -> None:
    root = tmp_path / "data"
    write_product(root, "OLD", when="2021-06-01T10:00:00Z", cloud_cover=1.0, b04=1100)
    app = create_app(Settings(data_roots=(root,), catalog=tmp_path / "c.sqlite"))
    assert (tmp_path / "c.sqlite").is_file()  # built on first start
    client = TestClient(app)
    catalog = app.state.services.catalog
    west, south, east, north = catalog.resolve("OLD").bounds_wgs84
    tile = WEB_MERCATOR.tile((west + east) / 2, (south + north) / 2, 16)
    url = f"/tiles/16/{tile.x}/{tile.y}.png"
    params = {"time": "2021-06", "expression": "B04", "rescale": "0.1,0.15"}
    first = client.get(url, params=params)
    assert client.get(url, params=params).headers["x-cache"] == "hit"
    write_product(root, "NEW", when="2021-06-20T10:00:00Z", cloud_cover=1.0, b04=1300)
    catalog.update()  # as `eo-tiler index` would, from another process
    after = client.get(url, params=params)
    assert after.headers["x-cache"] == "miss"
    assert decode(first.content)[128, 128, 0] == 51 and decode(after.content)[128, 128, 0] == 153


def test_index_command(tmp_path, demo_archive) -> None:
    _, products = demo_archive
    root = tmp_path / "data"
    shutil.copytree(next(p for p in products if p.layout == "cog").path, root / "cog")
    write_product(root, "BROKEN", when="2021-01-01T00:00:00Z", cloud_cover=1.0)
    (root / "BROKEN" / "item.json").write_text("{")
    env = {**os.environ, "EO_TILER_CATALOG": str(tmp_path / "c.sqlite")}
    command = [sys.executable, "-m", "tiler.cli", "index", str(root)]
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert "1 added, 0 changed, 0 removed, 0 unchanged, 1 unreadable; 1 products" in result.stdout
    assert "BROKEN" in result.stderr and "reading" in result.stderr  # the report and the progress bar
    again = subprocess.run(command, capture_output=True, text=True, env=env)
    assert "0 added, 0 changed, 0 removed, 1 unchanged" in again.stdout
    missing = subprocess.run([*command[:-1], str(tmp_path / "nope")], capture_output=True, text=True, env=env)
    assert missing.returncode != 0 and "not found" in missing.stderr


def test_the_benchmark_runs_on_a_small_catalog(capsys) -> None:
    """bench/catalog_bench.py (100,000 products by default) stays runnable; here 2,000."""
    import importlib.util

    from tests.helpers import REPO

    spec = importlib.util.spec_from_file_location("catalog_bench", REPO / "bench" / "catalog_bench.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.main(["--count", "2000", "--repeat", "3"])
    output = capsys.readouterr().out
    assert "2000 products inserted" in output and "search: z12 tile" in output


def test_the_memory_backend_answers_like_sqlite(tmp_path) -> None:
    """`create_app(settings, catalog=MemoryCatalog(...))` serves through MemoryCatalog: same answers."""
    from tiler.catalog import MemoryCatalog

    root = tmp_path / "data"
    for i in range(8):
        write_product(root, f"M{i}", when=f"2021-0{1 + i % 3}-1{i}T10:00:00Z", cloud_cover=[5.0, 50.0, None][i % 3],
                      ulx=700_000.0 + (i % 4) * 2000, collection="sentinel-2-l1c" if i == 5 else "sentinel-2-l2a")  # fmt: skip
    sqlite = SqliteCatalog(tmp_path / "c.sqlite", [root])
    sqlite.update()
    memory = MemoryCatalog([root])
    west, south, east, north = sqlite.resolve("M1").bounds_wgs84
    for order in ("mostRecent", "leastRecent", "leastCC"):
        for kwargs in ({}, {"max_cloud": 10.0}, {"collection": "sentinel-2-l2a"}, {"bbox": (west, south, east, north)},
                       {"start": sqlite.resolve("M3").datetime, "limit": 3, "offset": 1}):  # fmt: skip
            expected = sqlite.search(order=order, **kwargs)
            got = memory.search(order=order, **kwargs)
            assert [p.id for p in got.products] == [p.id for p in expected.products], (order, kwargs)
            assert got.total == expected.total


def test_records_of_an_older_form_are_read_again(tmp_path) -> None:
    """A catalog file written by an earlier eo-tiler (another record format) is rebuilt, not misread."""
    import sqlite3

    from tiler.catalog import open_catalog

    root = tmp_path / "data"
    write_product(root, "OLD", when="2021-01-01T00:00:00Z", cloud_cover=1.0)
    path = tmp_path / "c.sqlite"
    first = open_catalog(path, [root])
    assert [p.id for p in first] == ["OLD"]
    first.close()
    with sqlite3.connect(path) as db:  # as an older release left it
        db.execute("UPDATE meta SET value = '1' WHERE name = 'format'")
        db.execute('UPDATE products SET data = \'{"id": "OLD", "offsets": {}}\'')
    again = open_catalog(path, [root])
    assert [p.id for p in again] == ["OLD"] and again.resolve("OLD").bands["B04"].scale == 1e-4
