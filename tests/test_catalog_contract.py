"""The contract every catalog backend keeps (tiler.catalog.Catalog): the same tests, run against each
backend over one generated archive whose products' times, cloud cover, places and collections the
test wrote itself. A new backend joins by adding a factory to BACKENDS."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from tests.helpers import write_product
from tiler.catalog import MemoryCatalog, SqliteCatalog
from tiler.collections import builtin_collections
from tiler.errors import NotFound, UnsafeReference
from tiler.params import mosaic_query
from tiler.pipeline.run import mosaic_products

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


BACKENDS = {"memory": _memory, "sqlite": _sqlite}


@pytest.fixture(scope="module", params=sorted(BACKENDS))
def catalog(request, archive, tmp_path_factory):
    return BACKENDS[request.param](archive, tmp_path_factory.mktemp(request.param))


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
