"""What is SQLite's own in the catalog: its R*Tree, `eo-tiler index` as a real process, and the
benchmark. The contract every backend keeps is in test_catalog_contract.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import write_product
from tiler.catalog.sqlite import SqliteCatalog


@pytest.fixture(scope="module")
def real_catalog(shared_data: Path, tmp_path_factory) -> SqliteCatalog:
    catalog = SqliteCatalog(tmp_path_factory.mktemp("real") / "catalog.sqlite", [shared_data])
    catalog.update()
    return catalog


def test_sqlite_has_the_rtree_module(real_catalog) -> None:
    assert real_catalog.spatial_index == "rtree"


@pytest.mark.parametrize("backend", ["sqlite", "pgstac"])
def test_index_command(tmp_path, demo_archive, request, backend) -> None:
    """`eo-tiler index` in a process of its own; on an empty PostgreSQL database it creates
    pgSTAC's schema (pypgstac's migrations) first."""
    _, products = demo_archive
    root = tmp_path / "data"
    shutil.copytree(next(p for p in products if p.layout == "cog").path, root / "cog")
    write_product(root, "BROKEN", when="2021-01-01T00:00:00Z", cloud_cover=1.0)
    (root / "BROKEN" / "item.json").write_text("{")
    if backend == "sqlite":
        catalog = str(tmp_path / "c.sqlite")
    else:
        catalog = request.getfixturevalue("postgres").empty_database()
    env = {**os.environ, "EO_TILER_CATALOG": catalog}
    command = [sys.executable, "-m", "tiler.cli", "index", str(root)]
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert "1 added, 0 changed, 0 removed, 0 unchanged, 1 unreadable; 1 products" in result.stdout
    assert "BROKEN" in result.stderr and "reading" in result.stderr  # the report and the progress bar
    again = subprocess.run(command, capture_output=True, text=True, env=env)
    assert "0 added, 0 changed, 0 removed, 1 unchanged" in again.stdout
    missing = subprocess.run([*command[:-1], str(tmp_path / "nope")], capture_output=True, text=True, env=env)
    assert missing.returncode != 0 and "not found" in missing.stderr


def test_the_benchmark_runs_on_a_small_catalog(capsys, pgstac_url) -> None:
    """bench/catalog_bench.py (100,000 products by default) stays runnable on both backends; here 2,000."""
    import importlib.util

    from tests.helpers import REPO

    spec = importlib.util.spec_from_file_location("catalog_bench", REPO / "bench" / "catalog_bench.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.main(["--count", "2000", "--repeat", "3", "--pgstac", pgstac_url])
    output = capsys.readouterr().out
    assert "SQLite: 2000 products inserted" in output and "pgSTAC: 2000 products inserted" in output
    assert "| case | SQLite median | SQLite p95 | pgSTAC median | pgSTAC p95 |" in output
    assert "| search: z12 tile, month, maxcc 30, L2A, leastCC (mosaic) |" in output


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
