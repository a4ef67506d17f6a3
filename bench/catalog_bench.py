"""Catalog benchmark: index time and query times of each catalog backend, on generated metadata
(no pixels): `.venv/bin/python bench/catalog_bench.py [--count N] [--db PATH] [--pgstac URL]`.

Products sit on a grid of 110 km tiles over Europe (like MGRS tiles), revisited every few days
from 2017 to 2024, with random cloud cover; one in five is L1C. SQLite always runs; with
`--pgstac postgresql://...` (an empty database, or one only this benchmark uses: it is filled,
not cleared) pgSTAC runs too, on the same products and the same queries, and a table puts the two
side by side. Times are in milliseconds, from this process (so pgSTAC's include the round trips
to the server on loopback).
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rasterio.crs import CRS

from tiler.catalog.pgstac import PgstacCatalog
from tiler.catalog.sqlite import SqliteCatalog
from tiler.products import BandAsset, Product

ROOT = Path("/bench-data")  # never read: no pixels are touched
TILE_DEG = 1.0  # a tile is about 110 km north-south


def generate(count: int, seed: int = 3) -> Iterator[Product]:
    rng = random.Random(seed)
    tiles = [(lon, lat) for lon in range(-10, 30) for lat in range(36, 70)]  # 1,360 tiles
    start = datetime(2017, 1, 1, tzinfo=UTC)
    crs_by_zone: dict[int, CRS] = {}
    for i in range(count):
        lon, lat = tiles[i % len(tiles)]
        when = start + timedelta(days=rng.uniform(0, 8 * 365))
        zone = int((lon + 180) // 6) + 1
        crs = crs_by_zone.setdefault(zone, CRS.from_epsg(32600 + zone))
        level = "L1C" if i % 5 == 4 else "L2A"
        name = f"S2A_MSI{level}_{when:%Y%m%dT%H%M%S}_N0400_R{i % 143:03d}_T{zone:02d}X{i % 26:02d}_{i:08d}"
        west, south, east, north = lon, lat, lon + TILE_DEG / math.cos(math.radians(lat + 0.5)), lat + TILE_DEG
        path = ROOT / name
        yield Product(
            id=name,
            collection=f"sentinel-2-{level.lower()}",
            platform="sentinel-2a",
            datetime=when,
            cloud_cover=round(rng.uniform(0, 100), 2),
            processing_level=f"Level-{level[1:]}",
            processing_baseline="04.00",
            tile=f"{zone:02d}X{i % 26:02d}",
            footprint={
                "type": "Polygon",
                "coordinates": [[[west, south], [east, south], [east, north], [west, north], [west, south]]],
            },
            crs=crs,
            bounds=(499980.0, 5090220.0, 609780.0, 5200020.0),
            bounds_wgs84=(west, south, east, north),
            bands={
                b: BandAsset(b, path / f"{b}.tif", 10.0, b, scale=1e-4, offset=-0.1, nodata=0, minimum=0.0)
                for b in ("B02", "B03", "B04", "B08")
            },
            path=path,
            root=ROOT,
            aliases=(name + ".SAFE",),
        )


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return times


def percentiles(times: list[float]) -> tuple[float, float, float]:
    """Median, p95 and maximum."""
    times = sorted(times)
    return statistics.median(times), times[int(0.95 * (len(times) - 1))], times[-1]


def run_cases(catalog, all_ids: list[str], repeat: int) -> dict[str, tuple[float, float, float]]:
    """Each query case `repeat` times on random places and months (the same ones on every backend)."""
    rng = random.Random(7)
    ids = rng.sample(all_ids, min(1000, len(all_ids)))

    def bbox(size: float) -> tuple[float, float, float, float]:
        lon, lat = rng.uniform(-9, 28), rng.uniform(37, 68)
        return lon, lat, lon + size, lat + size

    def month() -> tuple[datetime, datetime]:
        start = datetime(2017, 1, 1, tzinfo=UTC) + timedelta(days=rng.randrange(0, 8 * 365 - 31))
        return start, start + timedelta(days=31)

    # A z12 map tile (~0.09 deg), a month, maxcc 30, L2A: what one mosaic tile asks.
    def tile_query() -> None:
        catalog.search(bbox(0.09), *month(), 30.0, "sentinel-2-l2a", limit=20, order="leastCC")

    def viewport_query() -> None:  # a z8 view (~1.4 deg), a month, newest first, one page
        catalog.search(bbox(1.4), *month(), 50.0, "sentinel-2-l2a", limit=10)

    def country_year() -> None:  # ~5 x 5 deg over a year, page 3
        start, _ = month()
        catalog.search(bbox(5.0), start, start + timedelta(days=365), None, None, limit=50, offset=100)

    def everything_newest() -> None:  # no filter at all: the first page of the whole catalog
        catalog.search(limit=10)

    cases = {
        "resolve by id": (lambda: catalog.resolve(rng.choice(ids)), repeat),
        "resolve by id.SAFE": (lambda: catalog.resolve(rng.choice(ids) + ".SAFE"), repeat),
        "search: z12 tile, month, maxcc 30, L2A, leastCC (mosaic)": (tile_query, repeat),
        "search: z8 viewport, month, maxcc 50, L2A, page 1": (viewport_query, repeat),
        "search: 5x5 deg, a year, all collections, page 3 of 50": (country_year, repeat),
        "search: no filter, newest first, page 1 (counts all)": (everything_newest, max(5, repeat // 10)),
    }
    results = {}
    for name, (fn, times) in cases.items():
        results[name] = percentiles(timed(fn, times))
        median, p95, most = results[name]
        print(f"  {name:58s} median {median:8.2f} ms   p95 {p95:8.2f} ms   max {most:8.2f} ms", flush=True)
    return results


def fill(name: str, catalog, count: int) -> tuple[float, list[str]]:
    """Index `count` generated products (streamed: a million Products would not fit in memory
    twice); the time it took and the IDs."""
    ids: list[str] = []

    def products() -> Iterator[Product]:
        for product in generate(count):
            ids.append(product.id)
            yield product

    t = time.perf_counter()
    catalog.put(products())
    seconds = time.perf_counter() - t
    assert len(catalog) == count
    print(f"{name}: {count} products inserted in {seconds:.1f} s", flush=True)
    return seconds, ids


def table(count: int, index: dict[str, float], results: dict[str, dict[str, tuple[float, float, float]]]) -> str:
    """Markdown: one row per case, median and p95 of each backend side by side."""
    names = list(results)
    head = "| case | " + " | ".join(f"{n} median | {n} p95" for n in names) + " |"
    rule = "|---|" + "---:|---:|" * len(names)
    rows = [f"| index {count:,} products | " + " | ".join(f"{index[n]:.1f} s | " for n in names) + " |"]
    for case in results[names[0]]:
        cells = " | ".join(f"{results[n][case][0]:.2f} ms | {results[n][case][1]:.2f} ms" for n in names)
        rows.append(f"| {case} | {cells} |")
    return "\n".join([head, rule, *rows])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--db", type=Path, default=None, help="SQLite catalog file (default: a temporary one)")
    parser.add_argument("--pgstac", default=None, metavar="URL", help="a pgSTAC database to bench as well")
    args = parser.parse_args(argv)

    index: dict[str, float] = {}
    results: dict[str, dict[str, tuple[float, float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "bench.sqlite"
        path.unlink(missing_ok=True)
        sqlite = SqliteCatalog(path, [ROOT])
        index["SQLite"], ids = fill("SQLite", sqlite, args.count)
        print(f"  {path.stat().st_size / 1e6:.0f} MB, spatial index: {sqlite.spatial_index}")
        results["SQLite"] = run_cases(sqlite, ids, args.repeat)
        sqlite.close()
    if args.pgstac:
        # A long statement timeout: the benchmark measures queries, it does not cut them short.
        pgstac = PgstacCatalog(args.pgstac, [ROOT], timeout=600.0)
        index["pgSTAC"], ids = fill("pgSTAC", pgstac, args.count)
        results["pgSTAC"] = run_cases(pgstac, ids, args.repeat)
        pgstac.close()
    print()
    print(table(args.count, index, results))


if __name__ == "__main__":
    main()
