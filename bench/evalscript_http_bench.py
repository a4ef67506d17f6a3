"""Evalscript tiles through HTTP, side by side with the built-in TOML layers that draw the same picture.

Each variant is a real eo-tiler server of its own (uvicorn, one worker, pinned to a core; the image
cache off, so every request renders) over the real 29RKH COG sample, asked for the same 256 px
tiles at zoom 12 one at a time from this process (pinned to another core):

    TRUE_COLOR: layer=TRUE_COLOR | bench/evalscripts/true_color.js (fast path) | true_color_counted.js (exact path)
    NDVI:       layer=NDVI       | bench/evalscripts/ndvi.js (fast path)       | ndvi_counted.js (exact path)

The scripts are the bench's own copies of EO Browser's true colour and NDVI; the `_counted` ones add
a pixel counter outside evaluatePixel, which only V8 runs (in row order), so they take the exact path.

"cold" is each server's first request of every tile: its band files not yet open, GDAL's block
cache empty, the script not yet compiled (the OS page cache is warmed first, so disk speed is not
measured). Before that, each server drew a tile far from the product with a one-line script of its
own, which reads nothing but starts V8, as any worker does once in its life, not once per map. "hot" is the same tiles again, `--rounds` times: the median of the rounds' mean, and
the best round. Servers take turns tile by tile, so load from other processes falls on all alike.

Run: `.venv/bin/python -m bench.evalscript_http_bench [--rounds 10] [--tiles 32]`. Prints a Markdown
table and writes it with the raw numbers to bench/results/evalscript-http-<time>.{md,json}.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import statistics
import subprocess
import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import morecantile
import numpy as np
from PIL import Image

from bench.servers import eo_tiler_command, free_port, serve
from renderers.evalscript import compile_evalscript, evaluate_evalscript
from tiler.catalog import MemoryCatalog

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "bench" / "evalscripts"
SHARED_DATA = Path(os.environ.get("EO_TILER_SHARED_DATA", REPO.parent / "shared" / "data"))
SAMPLE = "s2-l2a-cogs-29RKH-20200219"
ZOOM = 12
TMS = morecantile.tms.get("WebMercatorQuad")
# Starts V8 and the script compiler in a fresh server; drawn far away from the product, it reads nothing.
WARM_UP_SCRIPT = base64.urlsafe_b64encode(b"return [B04, dataMask];").decode().rstrip("=")
WARM_UP_TILE = TMS.tile(100.0, -40.0, ZOOM)
# (layer, variant, the evalscript file or None for the TOML layer, the path it must take)
VARIANTS = (
    ("TRUE_COLOR", "TOML", None, None),
    ("TRUE_COLOR", "fast", "true_color.js", "fast"),
    ("TRUE_COLOR", "exact", "true_color_counted.js", "exact"),
    ("NDVI", "TOML", None, None),
    ("NDVI", "fast", "ndvi.js", "fast"),
    ("NDVI", "exact", "ndvi_counted.js", "exact"),
)


@dataclass(frozen=True)
class Variant:
    layer: str
    name: str
    params: dict[str, str]


def variants() -> list[Variant]:
    found = []
    bands = {b: np.linspace(0.0, 0.5, 64 * 64).reshape(64, 64) for b in ("B02", "B03", "B04", "B08")}
    for layer, name, script, path in VARIANTS:
        if script is None:
            found.append(Variant(layer, name, {"layer": layer}))
            continue
        text = (SCRIPTS / script).read_text()
        result = evaluate_evalscript(compile_evalscript(text), bands, np.ones((64, 64), bool), timeout=30)
        assert result.path == path, f"{script} takes the {result.path} path, not the {path} one"
        encoded = base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")
        found.append(Variant(layer, name, {"evalscript": encoded}))
    return found


def central_tiles(root: Path, count: int) -> tuple[str, list[morecantile.Tile]]:
    """The product's id and the `count` zoom-12 tiles nearest its centre that lie wholly inside it."""
    product = next(iter(MemoryCatalog([root])))
    west, south, east, north = product.bounds_wgs84
    inside = [
        t
        for t in TMS.tiles(west, south, east, north, [ZOOM])
        if west < (b := TMS.bounds(t)).left and b.right < east and south < b.bottom and b.top < north
    ]
    lon, lat = (west + east) / 2, (south + north) / 2
    inside.sort(key=lambda t: (TMS.bounds(t).left - lon) ** 2 + (TMS.bounds(t).bottom - lat) ** 2)
    assert len(inside) >= count, f"only {len(inside)} tiles lie inside the product"
    return product.id, inside[:count]


def warm_page_cache(root: Path) -> None:
    for path in root.rglob("*.tif"):
        path.read_bytes()


def timed_get(client: httpx.Client, url: str, params: dict[str, str]) -> tuple[float, bytes]:
    start = time.perf_counter()
    response = client.get(url, params=params, timeout=120)
    elapsed = (time.perf_counter() - start) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"{url}: {response.status_code} {response.text[:300]}")
    return elapsed, response.content


def picture(content: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(content)).convert("RGBA")).astype(int)


def run(rounds: int, tile_count: int, results_dir: Path) -> dict:
    root = SHARED_DATA / SAMPLE
    runs = variants()
    product, tiles = central_tiles(root, tile_count)
    warm_page_cache(root)
    load_before = os.getloadavg()[0]
    ncpu = os.cpu_count() or 1
    server_cpus, client_cpus = ({ncpu - 1}, {0}) if ncpu > 1 else (None, None)
    own_cpus = os.sched_getaffinity(0)
    if client_cpus:
        os.sched_setaffinity(0, client_cpus)
    try:
        cold, hot, first_pictures = _measure(runs, root, product, tiles, rounds, server_cpus, results_dir)
    finally:
        os.sched_setaffinity(0, own_cpus)
    rows = []
    for i, variant in enumerate(runs):
        toml = next(j for j, v in enumerate(runs) if v.layer == variant.layer and v.name == "TOML")
        difference = np.abs(first_pictures[i] - first_pictures[toml])
        rows.append(
            {
                "layer": variant.layer,
                "variant": variant.name,
                "cold_ms": statistics.fmean(cold[i]),
                "hot_ms": statistics.median(hot[i]),
                "best_ms": min(hot[i]),
                "cold_ratio": statistics.fmean(cold[i]) / statistics.fmean(cold[toml]),
                "hot_ratio": statistics.median(hot[i]) / statistics.median(hot[toml]),
                "best_ratio": min(hot[i]) / min(hot[toml]),
                # The same picture: channel values more than 1 apart from the TOML layer's, first tile.
                "differing": float((difference > 1).mean()),
            }
        )
    return {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _git_revision(),
        "sample": SAMPLE,
        "product": product,
        "zoom": ZOOM,
        "tiles": len(tiles),
        "rounds": rounds,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg()[0],
        "cpus": ncpu,
        "rows": rows,
    }


def _measure(
    runs: list[Variant],
    root: Path,
    product: str,
    tiles: list[morecantile.Tile],
    rounds: int,
    server_cpus: set[int] | None,
    results_dir: Path,
) -> tuple[dict[int, list[float]], dict[int, list[float]], dict[int, np.ndarray]]:
    """Per variant: the cold milliseconds of each tile, the hot rounds' means, its first tile's picture."""
    results_dir.mkdir(parents=True, exist_ok=True)
    log_path = results_dir / "servers.log"
    cold: dict[int, list[float]] = {i: [] for i in range(len(runs))}
    hot: dict[int, list[float]] = {i: [] for i in range(len(runs))}
    first_pictures: dict[int, np.ndarray] = {}
    with ExitStack() as stack:
        bases = []
        for _ in runs:  # one after the other: the first builds the catalog file the others open
            argv, env = eo_tiler_command(root, port := free_port(), cache_bytes=0, workers=1)
            stack.enter_context(serve("eo-tiler", argv, env, port, server_cpus, "/healthz", log_path))
            bases.append(f"http://127.0.0.1:{port}")
        clients = [stack.enter_context(httpx.Client()) for _ in runs]
        far = f"/tiles/{WARM_UP_TILE.z}/{WARM_UP_TILE.x}/{WARM_UP_TILE.y}.png"
        for client, base in zip(clients, bases):
            timed_get(client, base + far, {"product": product, "evalscript": WARM_UP_SCRIPT})
        urls = [f"/tiles/{t.z}/{t.x}/{t.y}.png" for t in tiles]
        for n, url in enumerate(urls):
            for i, variant in enumerate(runs):
                ms, content = timed_get(clients[i], bases[i] + url, {"product": product, **variant.params})
                cold[i].append(ms)
                if n == 0:
                    first_pictures[i] = picture(content)
        for _ in range(rounds):
            round_ms: dict[int, list[float]] = {i: [] for i in range(len(runs))}
            for url in urls:
                for i, variant in enumerate(runs):
                    round_ms[i].append(timed_get(clients[i], bases[i] + url, {"product": product, **variant.params})[0])
            for i, values in round_ms.items():
                hot[i].append(statistics.fmean(values))
    return cold, hot, first_pictures


def _git_revision() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    except OSError:
        return None
    return out.stdout.strip() or None


def markdown(report: dict) -> str:
    lines = [
        f"Evalscript tiles through HTTP: {report['tiles']} tiles of 256 px at zoom {report['zoom']} of {report['product']},"
        f" {report['rounds']} hot rounds, commit {report['commit']}, load average"
        f" {report['load_average_before']:.1f} before and {report['load_average_after']:.1f} after,"
        f" {report['cpus']} cores. Milliseconds per tile; ratios to the TOML layer.",
        "",
        "| layer | drawn by | cold | hot | best | cold / TOML | hot / TOML | best / TOML | values > 1 apart |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in report["rows"]:
        lines.append(
            f"| {row['layer']} | {row['variant']} | {row['cold_ms']:.1f} | {row['hot_ms']:.1f} | {row['best_ms']:.1f}"
            f" | {row['cold_ratio']:.2f}x | {row['hot_ratio']:.2f}x | {row['best_ratio']:.2f}x"
            f" | {row['differing']:.2%} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--tiles", type=int, default=32)
    parser.add_argument("--results-dir", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args(argv)
    report = run(args.rounds, args.tiles, args.results_dir)
    table = markdown(report)
    print(table)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%M")
    (args.results_dir / f"evalscript-http-{stamp}.md").write_text(table)
    (args.results_dir / f"evalscript-http-{stamp}.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
