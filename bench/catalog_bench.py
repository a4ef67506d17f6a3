"""Catalog benchmark: query times of the SQLite catalog at 100,000 products, on generated
metadata (no pixels). Run: `.venv/bin/python bench/catalog_bench.py [--count N] [--db PATH]`.

Products sit on a grid of 110 km tiles over Europe (like MGRS tiles), revisited every few days
from 2017 to 2024, with random cloud cover; one in five is L1C. Prints timings in milliseconds.
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


def report(name: str, times: list[float]) -> None:
    times = sorted(times)
    p95 = times[int(0.95 * (len(times) - 1))]
    print(f"{name:58s} median {statistics.median(times):7.2f} ms   p95 {p95:7.2f} ms   max {times[-1]:7.2f} ms")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--db", type=Path, default=None, help="catalog file (default: a temporary one)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "bench.sqlite"
        path.unlink(missing_ok=True)
        catalog = SqliteCatalog(path, [ROOT])
        t = time.perf_counter()
        products = list(generate(args.count))
        catalog.put(products)
        print(f"{args.count} products inserted in {time.perf_counter() - t:.1f} s "
              f"({path.stat().st_size / 1e6:.0f} MB, spatial index: {catalog.spatial_index})")  # fmt: skip
        assert len(catalog) == args.count

        rng = random.Random(7)
        ids = [p.id for p in rng.sample(products, min(1000, len(products)))]
        report("resolve by id", timed(lambda: catalog.resolve(rng.choice(ids)), args.repeat))
        report("resolve by id.SAFE", timed(lambda: catalog.resolve(rng.choice(ids) + ".SAFE"), args.repeat))

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

        report("search: z12 tile, month, maxcc 30, L2A, leastCC (mosaic)", timed(tile_query, args.repeat))
        report("search: z8 viewport, month, maxcc 50, L2A, page 1", timed(viewport_query, args.repeat))
        report("search: 5x5 deg, a year, all collections, page 3 of 50", timed(country_year, args.repeat))
        report(
            "search: no filter, newest first, page 1 (counts all)", timed(everything_newest, max(5, args.repeat // 10))
        )
        catalog.close()


if __name__ == "__main__":
    main()
