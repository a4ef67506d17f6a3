"""`python -m bench.sentinel1`: what a Sentinel-1 GRD tile costs beside a Sentinel-2 COG tile of the
same size (issue 12: at most twice).

Both products are full-size generated ones. Sentinel-2: the benchmark's L2A COG product
(`bench.data`, 10980 px at 10 m, DEFLATE COGs with overviews, as the sentinel-cogs bucket holds).
Sentinel-1: an IW GRD product written here in AWS's sentinel-s1-l1c layout, VV and VH, the same
10980 x 10980 10 m pixels as uint16 amplitude (speckled like GRDH over a field pattern), DEFLATE,
256 px tiles and overviews 2 to 64, no geotransform: 10 x 21 GCPs place it, each moved at random
by 0.025 % of their spacing (1.4 m), as much as terrain heights move the IW sample's GCPs off a
smooth grid, so the thin-plate spline bends between them about as it does on real data.

Cases: 256 px PNG tiles of WebMercatorQuad wholly inside each product, at zooms 10, 12 and 14
(z14: about the products' 10 m), the same number each: Sentinel-2 TRUE_COLOR (B04, B03, B02),
Sentinel-1 VV_DB (one polarisation) and FALSE_COLOR (VV and VH). Each tile is read, rendered and
encoded in this process, one after the other, as the servers' pipeline does it (kept-open files,
no image cache): `bench.run`'s in-process floor. The cases of a zoom take turns tile by tile, so
load from other processes falls on all alike; each draws one tile untimed first to open its files. The report gives p50 and mean per case and each Sentinel-1 case's ratio to Sentinel-2 at
its zoom; it goes to stdout and `bench/results/<date>-sentinel1.md`.

    .venv/bin/python -m bench.sentinel1 [--data-dir DIR] [--s2-data-dir DIR] [--tiles N] [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import random
import statistics
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import morecantile
import numpy as np
import rasterio
from rasterio.control import GroundControlPoint
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.windows import Window
from shapely.geometry import box, shape

from bench.data import FULL_SIZE, ensure_data
from demo import sentinel1 as demo_s1
from renderers import encode, render
from styles import load_layers
from tiler.catalog import MemoryCatalog
from tiler.collections import builtin_collections
from tiler.products import Product
from tiler.reading.bands import read_part
from tiler.reading.datasets import DatasetPool
from tiler.settings import Settings

REPO = Path(__file__).resolve().parent.parent
TMS = morecantile.tms.get("WebMercatorQuad")
TILE_PX = 256
ZOOMS = (10, 12, 14)
DATA_VERSION = 3
_ROWS = 512  # lines written at a time
# How far GCPs stray from a smooth grid, as a fraction of their spacing: the IW sample's GCPs stray
# from the straight line through their neighbours along a line by 9.8 m on average (over 12.8 km),
# which random displacements of 0.025 % of the spacing give (their second differences average
# 3.07 times their deviation).
_TERRAIN = 0.00025


@dataclass(frozen=True)
class Case:
    name: str
    product: Product
    layer: str
    collection: str
    zoom: int
    tiles: tuple[morecantile.Tile, ...]


def ensure_s1_data(root: Path, size: int, progress=print) -> Path:
    """The Sentinel-1 product under `root/s1-<size>/` (its data root), written unless it is there."""
    base = root / f"s1-{size}-v{DATA_VERSION}"
    done = base / "done"
    if done.is_file():
        return base
    t0 = time.perf_counter()
    # The demo's descending pass, as large as the Sentinel-2 product, east of it (no overlap needed).
    p = dataclasses.replace(demo_s1.passes(size, (12.9, 51.0))[0], lines=size, samples=size)
    folder = base / p.relpath()
    (folder / "measurement").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(12)
    spacing = demo_s1.PIXEL * size / 20  # metres between GCPs along a line (21 of them)
    gcps = []
    for g in demo_s1._gcps(p):
        north, east = rng.normal(0.0, _TERRAIN * spacing, 2)
        gcps.append(
            GroundControlPoint(
                row=g.row, col=g.col, x=g.x + east / (111_320 * math.cos(math.radians(g.y))), y=g.y + north / 111_320,
                z=0.0, id=g.id,
            )
        )  # fmt: skip
    profile = {
        "driver": "GTiff", "width": size, "height": size, "count": 1, "dtype": "uint16", "tiled": True,
        "blockxsize": 256, "blockysize": 256, "compress": "deflate", "gcps": gcps, "crs": CRS.from_epsg(4326),
        "BIGTIFF": "IF_SAFER",
    }  # fmt: skip
    cols = np.arange(size)
    for polarisation, mean_db in (("VV", -9.0), ("VH", -16.0)):
        path = folder / "measurement" / f"{p.stem(polarisation)}.tiff"
        progress(f"bench data: writing {path.name} ({size} x {size})")
        with rasterio.open(path, "w", **profile) as dst:
            for row0 in range(0, size, _ROWS):
                rows = np.arange(row0, min(size, row0 + _ROWS))[:, None]
                # Fields of a few hundred metres, and speckle: GRDH's 4.4 looks.
                fields = 3.0 * np.sin(rows / 37.0) * np.cos(cols[None, :] / 53.0) + 2.0 * np.sin((rows + cols) / 91.0)
                gamma0 = 10 ** ((mean_db + fields) / 10) * rng.gamma(4.4, 1 / 4.4, size=(len(rows), size))
                dn = np.clip(np.rint(700 * np.sqrt(gamma0)), 1, 65535).astype(np.uint16)
                dst.write(dn, 1, window=Window(0, row0, size, len(rows)))
            dst.build_overviews([2, 4, 8, 16, 32, 64], Resampling.average)
    (folder / "productInfo.json").write_text(json.dumps(demo_s1._product_info(p), indent=1))
    done.write_text(f"{time.perf_counter() - t0:.0f} s\n")
    progress(f"bench data: Sentinel-1 product in {time.perf_counter() - t0:.0f} s under {base}")
    return base


def inside_tiles(product: Product, zoom: int, count: int, seed: int) -> tuple[morecantile.Tile, ...]:
    """`count` tiles (or all there are) wholly inside the product's footprint, drawn at random;
    where none fits inside (a small product), those that touch it."""
    footprint = shape(product.footprint) if product.footprint else box(*product.bounds_wgs84)
    west, south, east, north = footprint.bounds
    touching = list(TMS.tiles(west, south, east, north, zooms=[zoom]))
    inside = [t for t in touching if footprint.contains(box(*TMS.bounds(t)))] or touching
    random.Random(seed).shuffle(inside)
    return tuple(inside[:count])


def measure(cases: list[Case], settings: Settings) -> list[list[float]]:
    """Seconds per tile of each case. The cases take turns, tile by tile, so a burst of load from
    other processes falls on all of them alike; each case's first tile is drawn once first, untimed,
    to open its files."""
    layers = load_layers(builtin_collections())
    specs = [layers.get(case.layer, case.collection) for case in cases]
    pool = DatasetPool(settings.open_datasets, per_path=1)  # as the server keeps band files open
    crs = CRS.from_epsg(3857)
    seconds: list[list[float]] = [[] for _ in cases]

    def draw(case: Case, spec, tile: morecantile.Tile) -> float:
        b = TMS.xy_bounds(tile)
        start = time.perf_counter()
        stack = read_part(
            case.product, spec.spec.bands, (b.left, b.bottom, b.right, b.top), crs, TILE_PX, TILE_PX,
            gdal_options=settings.gdal, datasets=pool,
        )  # fmt: skip
        encode(render(spec.spec, stack.arrays, stack.valid), "png")
        return time.perf_counter() - start

    try:
        for case, spec in zip(cases, specs, strict=True):
            draw(case, spec, case.tiles[0])
        for i in range(max(len(case.tiles) for case in cases)):
            for times, case, spec in zip(seconds, cases, specs, strict=True):
                if i < len(case.tiles):
                    times.append(draw(case, spec, case.tiles[i]))
    finally:
        pool.close()
    return seconds


def _revision() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sentinel1", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=REPO / "bench" / "data", help="where data is cached")
    parser.add_argument("--s2-data-dir", type=Path, help="the Sentinel-2 data's cache (default: --data-dir)")
    parser.add_argument("--tiles", type=int, default=30, help="tiles per case")
    parser.add_argument("--quick", action="store_true", help="a 1200 px product each, few tiles (the smoke test)")
    parser.add_argument("--no-report", action="store_true", help="print only; write no results file")
    args = parser.parse_args(argv)
    size = 1200 if args.quick else FULL_SIZE
    tiles = 3 if args.quick else args.tiles
    s2 = ensure_data(args.s2_data_dir or args.data_dir, size)
    s2_product = MemoryCatalog([s2.cog_root]).resolve(s2.product_id)
    s1_root = ensure_s1_data(args.data_dir.resolve(), size)
    s1_product = next(iter(MemoryCatalog([s1_root])))
    settings = Settings(data_roots=(s2.cog_root, s1_root))
    zooms = (12, 14) if args.quick else ZOOMS
    load_before = os.getloadavg()[0]
    rows = []
    for zoom in zooms:
        cases = [
            Case("Sentinel-2 COG TRUE_COLOR", s2_product, "TRUE_COLOR", "sentinel-2-l2a", zoom, ()),
            Case("Sentinel-1 GRD VV_DB", s1_product, "VV_DB", "sentinel-1-grd", zoom, ()),
            Case("Sentinel-1 GRD FALSE_COLOR", s1_product, "FALSE_COLOR", "sentinel-1-grd", zoom, ()),
        ]
        cases = [dataclasses.replace(c, tiles=inside_tiles(c.product, zoom, tiles, seed=zoom)) for c in cases]
        baseline = None
        for case, seconds in zip(cases, measure(cases, settings), strict=True):
            p50, mean = 1000 * statistics.median(seconds), 1000 * statistics.fmean(seconds)
            baseline = baseline or p50
            rows.append((case.name, zoom, len(seconds), p50, mean, p50 / baseline))
    lines = [
        f"# Sentinel-1 tile cost beside Sentinel-2 COG ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, products {size} px)",
        "",
        f"Commit {_revision()}, GDAL {rasterio.__gdal_version__}, {os.cpu_count()} CPUs; 1-minute load average "
        f"{load_before:.2f} before, {os.getloadavg()[0]:.2f} after (other processes share the machine).",
        "",
        "| case | zoom | tiles | p50 ms | mean ms | p50 / Sentinel-2 |",
        "|---|---|---|---|---|---|",
        *(f"| {n} | {z} | {c} | {p:.1f} | {m:.1f} | {r:.2f} |" for n, z, c, p, m, r in rows),
    ]
    report = "\n".join(lines) + "\n"
    print(report)
    if not args.no_report:
        out = REPO / "bench" / "results" / f"{datetime.now(UTC):%Y-%m-%dT%H%M%S}-sentinel1.md"
        out.write_text(report)
        print(f"written to {out}")


if __name__ == "__main__":
    main()
