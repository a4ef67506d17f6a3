"""The contract every catalog backend keeps (tiler.catalog.Catalog): the same tests, run against each
backend (in memory, SQLite, and pgSTAC on a real PostgreSQL 15 with PostGIS started by the tests)
over archives whose products' times, cloud cover, places and collections the test wrote itself, and
over the real samples. A new backend joins by adding a factory to BACKENDS. The updating tests run
on the backends that update (UPDATABLE)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import datetime
from pathlib import Path

import psycopg
import pytest
from shapely.geometry import shape
from starlette.testclient import TestClient

from tests.helpers import COG_ID, COG_REL, SAFE_L2A_ID, SAFE_REL, WEB_MERCATOR, decode, write_product
from tiler.app import create_app
from tiler.catalog import MemoryCatalog, SqliteCatalog
from tiler.catalog.pgstac import PgstacCatalog
from tiler.catalog.records import product_from_json, product_to_json
from tiler.collections import builtin_collections
from tiler.errors import NotFound, UnsafeReference
from tiler.params import mosaic_query
from tiler.pipeline.run import mosaic_products
from tiler.settings import Settings

# name, time, cloud cover, x offset (in 2 km steps: products 0-3 side by side), collection
WRITTEN = [
    ("M0", "2021-01-10T10:00:00Z", 5.0, 0, "sentinel-2-l2a"),
    ("M1", "2021-02-11T10:00:00Z", 50.0, 1, "sentinel-2-l2a"),
    ("M2", "2021-03-12T10:00:00Z", None, 2, "sentinel-2-l2a"),
    ("M3", "2021-01-13T10:00:00Z", 5.0, 3, "sentinel-2-l2a"),
    ("M4", "2021-02-14T10:00:00Z", 50.0, 0, "sentinel-2-l2a"),
    ("M5", "2021-03-15T10:00:00Z", 1.0, 1, "sentinel-2-l1c"),
    ("M6", "2021-01-16T10:00:00Z", 20.0, 2, "sentinel-2-l2a"),
    ("M7", "2021-02-17T10:00:00Z", 5.0, 3, "sentinel-2-l2a"),
]


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("contract") / "data"
    for name, when, cloud, column, collection in WRITTEN:
        write_product(root, name, when=when, cloud_cover=cloud, ulx=700_000.0 + column * 2000, collection=collection)
    return root


def _memory(root: Path, tmp: Path):
    return MemoryCatalog([root])


def _sqlite(root: Path, tmp: Path):
    catalog = SqliteCatalog(tmp / "catalog.sqlite", [root])
    catalog.update()
    return catalog


def _pgstac(root: Path, tmp: Path, url: str):
    catalog = PgstacCatalog(url, [root])
    catalog.update()
    return catalog


BACKENDS = {"memory": _memory, "sqlite": _sqlite, "pgstac": _pgstac}
UPDATABLE = ["sqlite", "pgstac"]


def _open(kind: str, root: Path, tmp: Path, request):
    if kind == "pgstac":
        return _pgstac(root, tmp, request.getfixturevalue("postgres").new_database())
    return BACKENDS[kind](root, tmp)


@pytest.fixture(scope="module", params=sorted(BACKENDS))
def catalog(request, archive, tmp_path_factory):
    catalog = _open(request.param, archive, tmp_path_factory.mktemp(request.param), request)
    yield catalog
    if isinstance(catalog, PgstacCatalog):
        catalog.close()


def _expected(order: str = "mostRecent", **filters) -> list[str]:
    """The written products that match, in `order`: an independent reading of the contract."""
    rows = [(name, _time(when), cloud, collection) for name, when, cloud, _, collection in WRITTEN]
    if "collection" in filters:
        rows = [r for r in rows if r[3] == filters["collection"]]
    if "max_cloud" in filters:
        rows = [r for r in rows if r[2] is not None and r[2] <= filters["max_cloud"]]
    if "start" in filters:
        rows = [r for r in rows if r[1] >= filters["start"]]
    if "end" in filters:
        rows = [r for r in rows if r[1] <= filters["end"]]
    if order == "mostRecent":
        rows.sort(key=lambda r: r[1], reverse=True)
    elif order == "leastRecent":
        rows.sort(key=lambda r: r[1])
    else:  # leastCC: products without a cloud cover last, then the newest first
        rows.sort(key=lambda r: (r[2] is None, r[2] or 0.0, -r[1].timestamp()))
    return [r[0] for r in rows]


def test_every_product_is_listed_newest_first(catalog) -> None:
    assert len(catalog) == len(WRITTEN)
    assert [p.id for p in catalog] == _expected()


def test_products_resolve_by_id_path_and_eodata_path(catalog, archive) -> None:
    assert catalog.resolve("M3").id == "M3"
    assert catalog.resolve("/eodata/M3").id == "M3"
    assert catalog.resolve(str(archive / "M3")).id == "M3"
    with pytest.raises(NotFound):
        catalog.resolve("M99")
    with pytest.raises(UnsafeReference):
        catalog.resolve("../M3")
    with pytest.raises(UnsafeReference):
        catalog.resolve("/etc/passwd")


@pytest.mark.parametrize("order", ["mostRecent", "leastRecent", "leastCC"])
@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"max_cloud": 10.0},
        {"collection": "sentinel-2-l2a"},
        {"collection": "sentinel-2-l1c"},
        {"start": _time("2021-02-01T00:00:00Z"), "end": _time("2021-02-28T23:59:59Z")},
        {"start": _time("2021-02-11T10:00:00Z")},
    ],
)
def test_search_filters_and_orders(catalog, order, filters) -> None:
    result = catalog.search(order=order, limit=100, **filters)
    expected = _expected(order, **filters)
    assert [p.id for p in result.products] == expected and result.total == len(expected)


def test_search_pages(catalog) -> None:
    everything = _expected()
    pages = [catalog.search(limit=3, offset=offset) for offset in (0, 3, 6)]
    assert [p.id for page in pages for p in page.products] == everything
    assert {page.total for page in pages} == {len(everything)}


def test_search_by_place(catalog) -> None:
    """Columns 0..3 lie side by side: a box inside column 1 meets its products and no others."""
    west, south, east, north = catalog.resolve("M1").bounds_wgs84
    inner = (west + (east - west) * 0.4, south + 0.001, east - (east - west) * 0.4, north - 0.001)
    found = catalog.search(bbox=inner, limit=100)
    assert sorted(p.id for p in found.products) == ["M1", "M5"]
    assert catalog.search(bbox=(-10.0, -10.0, -9.0, -9.0)).total == 0


def test_mosaics_select_through_search(catalog) -> None:
    west, south, east, north = catalog.resolve("M0").bounds_wgs84
    query = mosaic_query({"time": "2021-01/2021-02", "priority": "leastCC"}, builtin_collections())
    chosen = mosaic_products(catalog, query, (west, south, east, north), 10)
    assert [p.id for p in chosen] == ["M0", "M4"]  # the L2A products of column 0 in Jan-Feb, clearest first


def test_the_version_is_a_stable_token(catalog) -> None:
    assert isinstance(catalog.version, str) and catalog.version == catalog.version


# ---------------------------------------------------------------------------------------------
# The real samples, combined filters, roots and updates


class Backend:
    """One backend's storage for a test (a SQLite file, a database), opened over any roots."""

    def __init__(self, kind: str, where: Path, url: str | None) -> None:
        self.kind, self.where, self.url = kind, where, url
        self.opened: list = []

    def open(self, roots: list[Path], *, update: bool = True):
        if self.kind == "memory":
            return MemoryCatalog(roots)
        if self.kind == "sqlite":
            catalog = SqliteCatalog(self.where / "catalog.sqlite", roots)
        else:
            catalog = PgstacCatalog(self.url, roots)
            self.opened.append(catalog)
        if update:
            catalog.update()
        return catalog

    def settings(self, roots: list[Path]) -> Settings:
        catalog = self.url if self.kind == "pgstac" else self.where / "catalog.sqlite"
        return Settings(data_roots=tuple(roots), catalog=catalog)

    def age_records(self) -> None:
        """Mark the stored records as written by an older eo-tiler (another record format)."""
        if self.kind == "sqlite":
            with sqlite3.connect(self.where / "catalog.sqlite") as db:
                db.execute("UPDATE meta SET value = '0' WHERE name = 'format'")
        else:
            with psycopg.connect(self.url) as conn:
                conn.execute("UPDATE eo_tiler.meta SET value = '0' WHERE name = 'format'")

    def close(self) -> None:
        for catalog in self.opened:
            catalog.close()


def _backend(request, tmp_path: Path) -> Backend:
    url = request.getfixturevalue("postgres").new_database() if request.param == "pgstac" else None
    return Backend(request.param, tmp_path, url)


@pytest.fixture(params=sorted(BACKENDS))
def backend(request, tmp_path):
    b = _backend(request, tmp_path)
    yield b
    b.close()


@pytest.fixture(params=UPDATABLE)
def updatable(request, tmp_path):
    b = _backend(request, tmp_path)
    yield b
    b.close()


@pytest.fixture(scope="module", params=sorted(BACKENDS))
def real_catalog(request, shared_data, tmp_path_factory):
    b = _backend(request, tmp_path_factory.mktemp("real"))
    yield b.open([shared_data])
    b.close()


# ---------------------------------------------------------------------------------------------
# Resolution


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


def test_absolute_paths_inside_a_root_resolve(real_catalog, shared_data) -> None:
    assert real_catalog.resolve(str(shared_data / SAFE_REL)).id == SAFE_L2A_ID


@pytest.mark.parametrize(
    "reference", ["../etc/passwd", "%252e%252e%252fetc", "/vsicurl/http://x/a.tif", "/etc/passwd", ""]
)
def test_unsafe_references_are_refused(real_catalog, reference) -> None:
    with pytest.raises(UnsafeReference):
        real_catalog.resolve(reference)


def test_unknown_products_are_not_found(real_catalog) -> None:
    with pytest.raises(NotFound):
        real_catalog.resolve("S2A_MSIL2A_20990101T000000_N0500_R001_T99XXX_20990101T000000")


def test_products_survive_the_round_trip(real_catalog, shared_data) -> None:
    """What the catalog returns equals what the parsers read from disk, newest first."""
    from_disk = {p.id: p for p in MemoryCatalog([shared_data])}
    listed = list(real_catalog)
    assert len(real_catalog) == len(from_disk) == len(listed)
    assert [p.id for p in listed] == [
        p.id for p in sorted(from_disk.values(), key=lambda p: (-p.datetime.timestamp(), p.id))
    ]
    for product in listed:
        assert product == from_disk[product.id]
        assert product_from_json(product_to_json(product)) == product


def test_real_data_is_searchable(real_catalog) -> None:
    ireland = real_catalog.search(bbox=(-9.0, 52.5, -8.5, 53.0))
    assert [p.id for p in ireland.products] == [SAFE_L2A_ID] and ireland.total == 1
    clear = real_catalog.search(max_cloud=10, limit=100).products
    assert COG_ID in [p.id for p in clear] and SAFE_L2A_ID not in [p.id for p in clear]
    assert all(p.cloud_cover is not None and p.cloud_cover <= 10 for p in clear)
    assert real_catalog.search(collection="sentinel-2-l1c").total == 0


# ---------------------------------------------------------------------------------------------
# Search: filters, orders and pages against the products' own metadata

# 30 products: 5 columns of 2 km squares, three months, cloud cover 0..90 % or none; every 7th L1C.
GRID = [
    {
        "id": f"G{i:02d}",
        "ulx": 700_000.0 + (i % 5) * 2000,
        "uly": 5_660_000.0 - (i // 10) * 2000,
        "when": f"2021-{1 + i % 3:02d}-{10 + i // 3:02d}T10:{i:02d}:00Z",
        "cloud": None if i % 8 == 3 else float((i * 37) % 91),
        "collection": "sentinel-2-l1c" if i % 7 == 6 else "sentinel-2-l2a",
    }
    for i in range(30)
]
# Products sharing one instant: ties are broken by ID in every order.
GRID += [dict(GRID[4], id="G90"), dict(GRID[4], id="G91", cloud=GRID[4]["cloud"])]


@pytest.fixture(scope="module")
def grid_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("grid")
    for p in GRID:
        write_product(root, p["id"], when=p["when"], cloud_cover=p["cloud"], ulx=p["ulx"], uly=p["uly"],
                      size=20, res=100.0, collection=p["collection"])  # fmt: skip
    return root


def _bounds(root: Path, name: str) -> tuple[float, float, float, float]:
    return shape(json.loads((root / name / "item.json").read_text())["geometry"]).bounds


def expected(root: Path, *, bbox=None, start=None, end=None, max_cloud=None, collection=None, order="mostRecent"):
    """IDs in `order` of the GRID products matching the filters, written out from the table."""

    def when(p) -> datetime:
        return datetime.fromisoformat(p["when"].replace("Z", "+00:00"))

    def meets(p) -> bool:
        west, south, east, north = _bounds(root, p["id"])
        return not (west > bbox[2] or east < bbox[0] or south > bbox[3] or north < bbox[1])

    found = [
        p
        for p in GRID
        if (bbox is None or meets(p))
        and (start is None or when(p) >= start)
        and (end is None or when(p) <= end)
        and (max_cloud is None or (p["cloud"] is not None and p["cloud"] <= max_cloud))
        and (collection is None or p["collection"] == collection)
    ]
    keys = {
        "mostRecent": lambda p: (-when(p).timestamp(), p["id"]),
        "leastRecent": lambda p: (when(p).timestamp(), p["id"]),
        "leastCC": lambda p: (p["cloud"] is None, p["cloud"] or 0.0, -when(p).timestamp(), p["id"]),
    }
    return [p["id"] for p in sorted(found, key=keys[order])]


def _queries(root: Path) -> list[dict]:
    west, south, _, _ = _bounds(root, "G16")  # second row, second column (rows run south)
    _, _, east, north = _bounds(root, "G08")  # first row, fourth column
    january = datetime.fromisoformat("2021-01-01T00:00:00+00:00"), datetime.fromisoformat("2021-01-31T23:59:59+00:00")
    instant = datetime.fromisoformat(GRID[4]["when"].replace("Z", "+00:00"))
    return [
        {},
        {"max_cloud": 40.0},
        {"max_cloud": 0.0},
        {"collection": "sentinel-2-l1c"},
        {"collection": "sentinel-2-l2a", "max_cloud": 60.0},
        {"bbox": (west + 0.001, south + 0.001, east - 0.001, north - 0.001)},
        {"bbox": (10.0, 40.0, 10.5, 40.5)},  # nowhere near
        {"start": january[0], "end": january[1]},
        {"start": instant, "end": instant},  # both ends inclusive
        {"start": instant},
        {"end": instant},
        {"bbox": (west, south, east, north), "start": january[0], "max_cloud": 80.0, "collection": "sentinel-2-l2a"},
    ]


@pytest.mark.parametrize("order", ["mostRecent", "leastRecent", "leastCC"])
def test_search_combines_filters_and_breaks_ties_by_id(backend, grid_root, order) -> None:
    catalog = backend.open([grid_root])
    for query in _queries(grid_root):
        want = expected(grid_root, order=order, **query)
        result = catalog.search(order=order, limit=100, **query)
        assert [p.id for p in result.products] == want, query
        assert result.total == len(want), query


def test_an_unknown_order_is_refused(backend, grid_root) -> None:
    with pytest.raises(ValueError, match="order must be one of"):
        backend.open([grid_root]).search(order="random")


def test_the_catalog_only_answers_for_its_roots(backend, tmp_path) -> None:
    write_product(tmp_path / "a", "IN_A", when="2021-01-01T00:00:00Z", cloud_cover=1.0)
    write_product(tmp_path / "b", "IN_B", when="2021-01-02T00:00:00Z", cloud_cover=1.0, ulx=710_000.0)
    both = backend.open([tmp_path / "a", tmp_path / "b"])
    assert len(both) == 2
    only_a = backend.open([tmp_path / "a"], update=False)
    assert [p.id for p in only_a] == ["IN_A"] and only_a.search().total == 1 and len(only_a) == 1
    assert only_a.resolve("IN_A").id == "IN_A"
    with pytest.raises(NotFound):
        only_a.resolve("IN_B")


# ---------------------------------------------------------------------------------------------
# Updates


def test_update_finds_new_changed_and_removed_products(updatable, tmp_path) -> None:
    root = tmp_path / "data"
    for i in range(3):
        write_product(root, f"A{i}", when=f"2021-0{i + 1}-10T10:00:00Z", cloud_cover=10.0 * i)
    catalog = updatable.open([root], update=False)
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


def test_a_product_whose_id_changes_leaves_no_trace_of_the_old_one(updatable, tmp_path) -> None:
    root = tmp_path / "data"
    write_product(root, "OLD_ID", when="2021-01-10T10:00:00Z", cloud_cover=1.0)
    catalog = updatable.open([root])
    item = root / "OLD_ID" / "item.json"
    item.write_text(item.read_text().replace('"id": "OLD_ID"', '"id": "NEW_ID_AT_LAST"'))
    assert catalog.update().changed == 1
    assert [p.id for p in catalog] == ["NEW_ID_AT_LAST"] and catalog.search().total == 1
    assert catalog.resolve("OLD_ID").id == "NEW_ID_AT_LAST"  # the folder's path, which did not move
    assert catalog.resolve("NEW_ID_AT_LAST").path == root / "OLD_ID"


def test_duplicate_ids_keep_the_first_product(updatable, tmp_path) -> None:
    root = tmp_path / "data"
    write_product(root / "one", "TWIN", when="2021-01-10T10:00:00Z", cloud_cover=1.0)
    write_product(root / "two", "TWIN", when="2021-02-10T10:00:00Z", cloud_cover=2.0)
    catalog = updatable.open([root], update=False)
    report = catalog.update()
    assert report.added == 1 and len(report.failed) == 1 and "duplicate of product TWIN" in report.failed[0][1]
    assert len(catalog) == 1 and catalog.search().total == 1


def test_unreadable_metadata_is_reported_and_skipped(updatable, tmp_path, demo_archive) -> None:
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
    catalog = updatable.open([root], update=False)
    report = catalog.update()
    assert [p.id for p in catalog] == ["GOOD"]
    reasons = dict(report.failed)
    assert len(reasons) == 2
    assert "not valid XML" in reasons[str(root / safe.path.name)]
    assert "not readable JSON" in reasons[str(item)]
    # Fixed later: picked up by the next update.
    shutil.copy(safe.path / "MTD_MSIL2A.xml", mtd)
    assert catalog.update().added == 1 and len(catalog) == 2
    # Broken again: the product it was is gone, not served stale.
    mtd.write_bytes(mtd.read_bytes()[:2000])
    assert catalog.update().removed == 1 and [p.id for p in catalog] == ["GOOD"]


def test_an_index_update_is_never_served_from_a_stale_mosaic_cache(updatable, tmp_path) -> None:
    root = tmp_path / "data"
    write_product(root, "OLD", when="2021-06-01T10:00:00Z", cloud_cover=1.0, b04=1100)
    app = create_app(updatable.settings([root]))
    client = TestClient(app)
    catalog = app.state.services.catalog
    updatable.opened.append(catalog)
    assert catalog.indexed  # built on first start
    west, south, east, north = catalog.resolve("OLD").bounds_wgs84
    tile = WEB_MERCATOR.tile((west + east) / 2, (south + north) / 2, 16)
    url = f"/tiles/16/{tile.x}/{tile.y}.png"
    params = {"time": "2021-06", "expression": "B04", "rescale": "0.1,0.15"}
    first = client.get(url, params=params)
    assert client.get(url, params=params).headers["x-cache"] == "hit"
    write_product(root, "NEW", when="2021-06-20T10:00:00Z", cloud_cover=1.0, b04=1300)
    updatable.open([root])  # as `eo-tiler index` would, from another process
    after = client.get(url, params=params)
    assert after.headers["x-cache"] == "miss"
    assert decode(first.content)[128, 128, 0] == 51 and decode(after.content)[128, 128, 0] == 153


def test_records_of_an_older_format_are_read_again(updatable, tmp_path) -> None:
    root = tmp_path / "data"
    write_product(root, "R1", when="2021-01-10T10:00:00Z", cloud_cover=1.0)
    catalog = updatable.open([root])
    updatable.age_records()
    again = updatable.open([root], update=False)
    assert not again.indexed  # `serve` rebuilds it
    report = again.update()
    assert (report.added, report.unchanged) == (1, 0) and again.indexed and [p.id for p in again] == ["R1"]
    assert catalog.resolve("R1").id == "R1"
