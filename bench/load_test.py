"""Bounded load test: starts `eo-tiler serve` on loopback, hits it with a fixed mix of requests at a
fixed concurrency for a fixed time, then stops the server and reports.

    .venv/bin/python bench/load_test.py                    # 32 clients for 120 s on a generated demo archive
    .venv/bin/python bench/load_test.py --duration 20      # the short form CI runs

Traffic goes to 127.0.0.1 only: the script starts the server it measures, it takes no URL.
The mix: tiles of named layers and of band math over several zoom levels (a finite set, so the
cache both hits and evicts), previews, /search and product metadata ("search"), TileJSON, WMS
GetMap and GetFeatureInfo, mosaic tiles, and bad requests whose 4xx are expected. Unexpected means any other status, a transport error or a timeout.

Memory: the server's peak resident size must stay under
    RSS after start-up + the image cache bound + GDAL's block cache bound + OVERHEAD_BYTES
(the overhead covers render threads' arrays, encoders and the allocator's slack).
Exit status 0 only with zero unexpected errors and memory within that bound; the last line of
output is a JSON summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import httpx
import morecantile

REPO = Path(__file__).resolve().parent.parent
OVERHEAD_BYTES = 256 * 1024 * 1024
GDAL_CACHE_BYTES = 256 * 1024 * 1024  # Settings.gdal's GDAL_CACHEMAX
TMS = morecantile.tms.get("WebMercatorQuad")


def rss_bytes(pid: int) -> int:
    """Resident memory of `pid` and its descendants: `eo-tiler serve` is a supervisor and its workers."""
    total = 0
    pending = [pid]
    while pending:
        process = pending.pop()
        try:
            with open(f"/proc/{process}/status") as status:
                total += next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))
            with open(f"/proc/{process}/task/{process}/children") as children:
                pending.extend(int(child) for child in children.read().split())
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            continue  # exited meanwhile (a zombie has no VmRSS)
    return total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data: Path, port: int, cache_bytes: int, log_path: Path) -> subprocess.Popen:
    env = os.environ | {"EO_TILER_CACHE_BYTES": str(cache_bytes)}
    log = log_path.open("w")
    return subprocess.Popen(
        [sys.executable, "-m", "tiler.cli", "serve", "--data", str(data), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=REPO,
    )


def wait_ready(base: str, process: subprocess.Popen, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if process.poll() is not None:
            raise SystemExit("load test: the server exited during start-up")
        try:
            if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("load test: the server did not become ready")


# Band math per collection (in its band names); Sentinel-2's for the others.
EXPRESSIONS = {
    "sentinel-2": ["(B08-B04)/(B08+B04)", "B04;B03;B02", "where(B08 > 0.2, B08, 0)"],
    "landsat-c2-l2": ["(B05-B04)/(B05+B04)", "B04;B03;B02", "where(B05 > 0.2, B05, 0)"],  # Landsat's NIR is B05
    "landsat-c2-l1": ["(B05-B04)/(B05+B04)", "B04;B03;B02", "where(B05 > 0.2, B05, 0)"],
    "sentinel-1-grd": ["(VV-VH)/(VV+VH)", "VV;VH;VV", "where(VV > 0.05, VV, 0)"],
    # Heights in metres and land-cover classes (the rescale of -1..1 saturates them; the load is the point).
    "cop-dem-glo-30": ["DEM/1000", "DEM;DEM;DEM", "where(DEM > 300, DEM, 0)"],
    "cop-dem-glo-90": ["DEM/1000", "DEM;DEM;DEM", "where(DEM > 300, DEM, 0)"],
    "esa-worldcover": ["Map/100", "where(Map == 10, 1, 0)"],
    "corine-land-cover": ["CLC/44", "where(CLC <= 11, 1, 0)"],
}


class Workload:
    """A fixed, seeded set of requests with the statuses each may answer."""

    def __init__(self, products: list[dict], layers: list[dict], seed: int) -> None:
        self.random = random.Random(seed)
        self.products = products
        self.layers = {
            p["id"]: [
                layer["name"]
                for layer in layers
                if p["collection"] in layer["collections"] and set(layer["bands"]) <= set(p["bands"])
            ]
            for p in products
        }
        self.tiles = {p["id"]: self._tiles(p) for p in products}

    @staticmethod
    def _tiles(product: dict) -> list[tuple[int, int, int]]:
        west, south, east, north = product["bounds"]
        tiles: list[tuple[int, int, int]] = []
        for z in range(11, 17):
            tiles.extend((t.z, t.x, t.y) for t in TMS.tiles(west, south, east, north, [z]))
        return tiles

    def next(self) -> tuple[str, str, dict, set[int]]:
        r = self.random
        product = r.choice(self.products)
        pid = product["id"]
        roll = r.random()
        if roll < 0.40:
            z, x, y = r.choice(self.tiles[pid])
            fmt = r.choice(["png", "png", "webp", "jpg"])
            return "tile", f"/tiles/{z}/{x}/{y}.{fmt}", {"product": pid, "layer": r.choice(self.layers[pid])}, {200}
        if roll < 0.48:
            z, x, y = r.choice(self.tiles[pid])
            expr = r.choice(EXPRESSIONS.get(product["collection"], EXPRESSIONS["sentinel-2"]))
            query = {"product": pid, "expression": expr, "rescale": "-1,1", "colormap": "viridis"}
            if ";" in expr:
                del query["colormap"]
            return "expression", f"/tiles/{z}/{x}/{y}.png", query, {200}
        if roll < 0.58:
            width = r.choice([64, 128, 256, 512])
            return (
                "preview",
                "/preview.png",
                {"product": pid, "layer": r.choice(self.layers[pid]), "width": width},
                {200},
            )
        west, south, east, north = product["bounds"]
        if roll < 0.70:
            if r.random() < 0.5:
                query = {"bbox": f"{west},{south},{east},{north}", "collection": product["collection"], "limit": 5}
                return "search", "/search", query, {200}
            return "search", f"/products/{pid}", {}, {200}
        if roll < 0.75:
            return "tilejson", "/tilejson.json", {"product": pid, "layer": r.choice(self.layers[pid])}, {200}
        if roll < 0.85:
            layer = f"{product['collection']}:{r.choice(self.layers[pid])}"
            query = {"SERVICE": "WMS", "VERSION": "1.3.0", "LAYERS": layer, "STYLES": "", "CRS": "CRS:84",
                     "BBOX": f"{west},{south},{east},{north}", "WIDTH": 512, "HEIGHT": 512, "FORMAT": "image/png"}  # fmt: skip
            if r.random() < 0.7:
                return "wms", "/wms", {**query, "REQUEST": "GetMap"}, {200}
            info = {
                "REQUEST": "GetFeatureInfo",
                "QUERY_LAYERS": layer,
                "INFO_FORMAT": "application/json",
                "I": 256,
                "J": 256,
            }
            return "wms", "/wms", {**query, **info}, {200}
        if roll < 0.90:
            z, x, y = r.choice(self.tiles[pid])
            query = {"collection": product["collection"], "layer": r.choice(self.layers[pid]), "priority": "leastCC"}
            return "mosaic", f"/tiles/{z}/{x}/{y}.png", query, {200}
        bad = r.choice(
            [
                ("/tiles/99/0/0.png", {"product": pid}, {400}),
                ("/tiles/10/0/0.png", {"product": "../../etc/passwd"}, {400}),
                ("/tiles/10/0/0.png", {"product": "S2X_NOPE"}, {404}),
                ("/preview.png", {"product": pid, "width": 100000}, {413}),
                ("/preview.png", {"product": pid, "expression": "__import__('os')"}, {400}),
                ("/tiles/10/0/0.png", {"product": pid, "expression": "B04" * 2000}, {400, 414}),
            ]
        )
        return "bad", *bad


async def client_loop(client: httpx.AsyncClient, workload: Workload, end: float, results: list, errors: list) -> None:
    while time.monotonic() < end:
        kind, path, params, expected = workload.next()
        start = time.perf_counter()
        status: int | str  # the HTTP status, or the name of the client error
        try:
            response = await client.get(path, params=params)
            status = response.status_code
        except httpx.HTTPError as exc:
            status = type(exc).__name__
        elapsed = time.perf_counter() - start
        results.append((kind, status, elapsed))
        if status not in expected:
            errors.append({"kind": kind, "path": path, "params": params, "status": status})


async def run_load(base: str, concurrency: int, duration: float, seed: int) -> tuple[list, list]:
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=httpx.Limits(max_connections=concurrency)) as client:
        products = (await client.get("/products")).json()["products"]
        layers = (await client.get("/layers")).json()["layers"]
        workload = Workload(products, layers, seed)
        results: list = []
        errors: list = []
        end = time.monotonic() + duration
        await asyncio.gather(*(client_loop(client, workload, end, results, errors) for _ in range(concurrency)))
        return results, errors


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=120, help="seconds of load (default 120)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--cache-bytes", type=int, default=32 * 1024 * 1024, help="the server's image cache bound")
    parser.add_argument("--data", type=Path, help="an archive to serve (default: a generated demo archive)")
    parser.add_argument("--demo-size", type=int, default=600, help="10 m raster size of the generated demo products")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    data = args.data
    if data is None:
        from demo import generate_archive

        data = REPO / "bench" / "data" / f"demo-{args.demo_size}"
        generate_archive(data, size=args.demo_size)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        log_path = Path(tmp) / "server.log"
        server = start_server(data, port, args.cache_bytes, log_path)
        peak = 0
        try:
            wait_ready(base, server)
            idle_rss = rss_bytes(server.pid)

            async def sample_memory() -> None:
                nonlocal peak
                while True:
                    peak = max(peak, rss_bytes(server.pid))
                    await asyncio.sleep(0.25)

            async def measured() -> tuple[list, list]:
                sampler = asyncio.create_task(sample_memory())
                try:
                    return await run_load(base, args.concurrency, args.duration, args.seed)
                finally:
                    sampler.cancel()

            started = time.monotonic()
            results, errors = asyncio.run(measured())
            elapsed = time.monotonic() - started
            peak = max(peak, rss_bytes(server.pid))
            metrics = httpx.get(base + "/metrics").text
        finally:
            server.send_signal(signal.SIGTERM)
            exit_code: int | str
            try:
                exit_code = server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
                exit_code = "killed"
        access_lines = sum(1 for line in log_path.read_text().splitlines() if line.startswith('{"time"'))

    bound = idle_rss + args.cache_bytes + GDAL_CACHE_BYTES + OVERHEAD_BYTES
    by_kind: dict[str, list[float]] = defaultdict(list)
    for kind, _, seconds in results:
        by_kind[kind].append(seconds)
    cache_line = next(
        (line for line in metrics.splitlines() if line.startswith("eo_tiler_cache_bytes ")), "eo_tiler_cache_bytes 0"
    )
    summary = {
        "duration_s": round(elapsed, 1),
        "concurrency": args.concurrency,
        "requests": len(results),
        "requests_per_s": round(len(results) / elapsed, 1),
        "statuses": dict(Counter(str(status) for _, status, _ in results)),
        "unexpected": len(errors),
        "latency_ms": {
            kind: {
                "n": len(values),
                "p50": round(statistics.median(values) * 1000, 1),
                "p95": round(percentile(values, 0.95) * 1000, 1),
                "p99": round(percentile(values, 0.99) * 1000, 1),
                "max": round(max(values) * 1000, 1),
            }
            for kind, values in sorted(by_kind.items())
        },
        "rss_idle_mib": round(idle_rss / 2**20, 1),
        "rss_peak_mib": round(peak / 2**20, 1),
        "rss_bound_mib": round(bound / 2**20, 1),
        "cache_bytes_end": int(float(cache_line.split()[1])),
        "cache_bound": args.cache_bytes,
        "access_log_lines": access_lines,
        "server_exit": exit_code,
    }
    for error in errors[:10]:
        print("unexpected:", json.dumps(error), file=sys.stderr)
    print(json.dumps(summary))
    # uvicorn re-raises the SIGTERM it handled once it has shut down cleanly: -15 is a clean exit.
    clean_exit = exit_code in (0, -signal.SIGTERM)
    return 0 if not errors and peak <= bound and clean_exit else 1


if __name__ == "__main__":
    raise SystemExit(main())
