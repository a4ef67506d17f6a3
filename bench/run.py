"""`python -m bench`: eo-tiler against TiTiler on the same data, same core, same load.

The servers share one CPU core and the load generator has the other (on a 2-core machine: servers
on core 1, client on core 0). Each server runs one worker with the same GDAL block cache. For every
case both servers get the same requests, one after the other, so their ratio comes from one run.
Cold cases run against an eo-tiler whose image cache is off; the rest against one with the default
cache. Results go to bench/results/<date>.json and .md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import subprocess
import time
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import rasterio
import rio_tiler
from rasterio.warp import transform_bounds

from bench import cases as bench_cases
from bench.data import FULL_SIZE, BenchData, ensure_data, ensure_mosaic_data
from bench.load import LoadResult, combine, replay
from bench.servers import (
    GDAL_CACHEMAX_MB,
    REPO,
    TITILER_GDAL_ENV,
    TITILER_VENV,
    Server,
    ensure_titiler,
    eo_tiler_command,
    free_port,
    serve,
    titiler_command,
)
from renderers import encode, render
from styles import load_layers
from tiler import params
from tiler.catalog import MemoryCatalog
from tiler.collections import builtin_collections
from tiler.pipeline.run import mosaic_products
from tiler.reading.bands import read_part
from tiler.reading.datasets import DatasetPool
from tiler.reading.mosaic import read_mosaic
from tiler.settings import Settings

MiB = 1024 * 1024
# Cases measured as one page of requests (wall time), not as a stream (requests/s).
PAGES = ("viewport", "shared-view", "previews")
FULL = bench_cases.Plan(
    cold_counts={8: 40, 11: 40, 14: 60},
    hot_tiles=60,
    hot_s=8.0,
    thumbnails=20,
    viewport_zooms=(12, 14),
    shared_view_zoom=13,
    getmaps=10,
    mosaic_counts={10: 20, 12: 40},
)
# Small enough for the test suite's tiny product.
QUICK = bench_cases.Plan(
    cold_counts={11: 3, 14: 6},
    hot_tiles=6,
    hot_s=0.5,
    thumbnails=4,
    viewport_zooms=(14,),
    shared_view_zoom=13,
    getmaps=2,
    mosaic_counts={13: 3},
)


def _summary(result: LoadResult, peak_rss: int, load_before: float) -> dict:
    ms = lambda s: None if s is None else round(s * 1000, 1)  # noqa: E731
    return {
        "requests": result.requests,
        "errors": result.errors,
        "statuses": {str(k): v for k, v in sorted(result.statuses.items())},
        "wall_s": round(result.wall_s, 3),
        "rps": round(result.rps, 2),
        "p50_ms": ms(result.percentile(50)),
        "p99_ms": ms(result.percentile(99)),
        "mean_kib": round(result.bytes_received / max(1, result.requests - result.errors) / 1024, 1),
        "client_cpu_pct": round(100 * result.client_cpu_s / result.wall_s, 1) if result.wall_s else None,
        "peak_rss_mib": round(peak_rss / MiB, 1),
        "loadavg_1m_before": round(load_before, 2),
    }


def _measure(servers: list[tuple[Server, list[str]]], case: bench_cases.Case) -> list[dict]:
    """Each server's summary for `case`. Tile lists are split in two halves (hot runs: two half
    durations), run A B then B A, so a change in the machine's load during the case falls on both
    servers alike. A page (viewport, thumbnails) is one unit: A then B."""
    if case.kind == "hot":  # hot means: every tile already requested once
        for server, paths in servers:
            replay(server.host, server.port, paths, concurrency=case.concurrency)
    rounds: list[tuple[slice, float | None, list]]
    if case.kind in PAGES:
        rounds = [(slice(None), None, servers)]
    else:
        mid = len(case.targets) // 2
        duration = case.duration_s / 2 if case.duration_s else None
        halves = (slice(None), slice(None)) if duration else (slice(None, mid), slice(mid, None))
        rounds = [(halves[0], duration, servers), (halves[1], duration, servers[::-1])]
    parts: dict[str, list[tuple[LoadResult, int, float]]] = {server.name: [] for server, _ in servers}
    for part, duration, order in rounds:
        for server, paths in order:
            server.memory.reset()
            load_before = os.getloadavg()[0]
            # Cold: never two requests for one tile at once, or a server could render it once for both.
            result = replay(
                server.host,
                server.port,
                paths[part],
                concurrency=case.concurrency,
                duration_s=duration,
                distinct=case.kind == "cold",
            )
            time.sleep(0.1)  # one more memory sample after the last response
            parts[server.name].append((result, server.memory.peak, load_before))
    return [
        _summary(
            combine([r for r, _, _ in parts[server.name]]),
            max(p for _, p, _ in parts[server.name]),
            statistics.mean(load for _, _, load in parts[server.name]),
        )
        for server, _ in servers
    ]


def _floor(data: BenchData, root: Path, case: bench_cases.Case, cpus: set[int] | None) -> dict:
    """Read + render + encode of the same tiles in this process, one after the other, on the servers' core."""
    settings = Settings(data_roots=(root,))
    collections = builtin_collections()
    index = MemoryCatalog([root])
    catalog = index if case.mosaic else None
    product = None if case.mosaic else index.resolve(data.product_id)
    layer = load_layers(collections).get(case.layer, "sentinel-2-l2a")
    assert layer is not None, case.layer
    spec = layer.spec
    assert spec is not None, f"{case.layer} is band math"
    pool = DatasetPool(settings.open_datasets, per_path=1)  # as the server keeps band files open
    own = os.sched_getaffinity(0)
    if cpus:
        os.sched_setaffinity(0, cpus)
    try:
        seconds = []
        for t in case.targets:
            start = time.perf_counter()
            crs = rasterio.crs.CRS.from_user_input(t.crs)
            if catalog is not None:
                query = params.mosaic_query({"time": t.mosaic_time or ""}, collections)
                products = mosaic_products(
                    catalog, query, transform_bounds(crs, "EPSG:4326", *t.bounds), settings.max_mosaic_products
                )
                stack = read_mosaic(
                    products, spec.bands, t.bounds, crs, t.width, t.height, gdal_options=settings.gdal, datasets=pool
                )
            else:
                assert product is not None  # a single-product case resolved it above
                stack = read_part(
                    product, spec.bands, t.bounds, crs, t.width, t.height, gdal_options=settings.gdal, datasets=pool
                )
            encode(render(spec, stack.arrays, stack.valid), "png")
            seconds.append(time.perf_counter() - start)
    finally:
        os.sched_setaffinity(0, own)
        pool.close()
    return {"rps": round(len(seconds) / sum(seconds), 2), "p50_ms": round(1000 * statistics.median(seconds), 1)}


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


def _speedup(case: bench_cases.Case, eo: dict, tt: dict | None) -> float | None:
    """How many times faster eo-tiler is: throughput for tiles, wall time for a page of requests."""
    if tt is None:
        return None
    if case.kind in PAGES:
        return _ratio(tt["wall_s"], eo["wall_s"])
    return _ratio(eo["rps"], tt["rps"])


def run(args: argparse.Namespace) -> dict:
    say = lambda msg: print(msg, flush=True)  # noqa: E731
    plan = QUICK if args.quick else FULL
    ncpu = os.cpu_count() or 1
    server_cpus = {ncpu - 1} if ncpu > 1 else None
    client_cpus = {0} if ncpu > 1 else None
    titiler_version = ensure_titiler(say) if args.baseline == "titiler" else None
    data = ensure_data(args.data_dir, args.size, progress=say)
    if client_cpus:
        os.sched_setaffinity(0, client_cpus)
    log_path = args.results_dir / "servers.log"
    args.results_dir.mkdir(parents=True, exist_ok=True)
    results: list[dict] = []
    started = datetime.now(UTC)
    runs = [
        (data.jp2_root if fmt == "jp2" else data.cog_root, bench_cases.build_cases(data, fmt, plan))
        for fmt in args.formats
    ]
    if "cog" in args.formats:
        mosaic = ensure_mosaic_data(data, TITILER_VENV / "bin" / "python" if titiler_version else None, say)
        runs.append((mosaic.root, bench_cases.build_mosaic_cases(mosaic, plan.mosaic_counts)))
    for root, cases in runs:
        phases = [
            (0, [c for c in cases if c.kind == "cold"]),
            (Settings().cache_bytes, [c for c in cases if c.kind != "cold"]),
        ]
        for cache_bytes, phase in phases:
            if not phase:
                continue
            eo_argv, eo_env = eo_tiler_command(root, eo_port := free_port(), cache_bytes, args.workers)
            with serve("eo-tiler", eo_argv, eo_env, eo_port, server_cpus, "/healthz", log_path) as eo:
                baseline = _baseline(args, server_cpus, log_path)
                with baseline as tt:
                    for case in phase:
                        say(f"bench: {case.name} ({len(case.targets)} requests{', cycled' if case.duration_s else ''})")
                        entry: dict = {
                            "case": case.name,
                            "kind": case.kind,
                            "layer": case.layer,
                            "format": case.fmt,
                            "mosaic": case.mosaic,
                            "zoom": case.zoom,
                            "targets": len(case.targets),
                            "concurrency": case.concurrency,
                            "duration_s": case.duration_s,
                        }
                        servers = [(eo, [t.eo_path for t in case.targets])]
                        if tt:
                            servers.append((tt, [t.titiler_path for t in case.targets]))
                        entry["eo_tiler"], *others = _measure(servers, case)
                        entry["eo_tiler"]["cache_bytes"] = cache_bytes
                        entry["titiler"] = others[0] if others else None
                        entry["speedup"] = _speedup(case, entry["eo_tiler"], entry["titiler"])
                        if case.kind == "cold":
                            entry["floor"] = _floor(data, root, case, server_cpus)
                            entry["floor_over_eo_tiler"] = _ratio(entry["floor"]["rps"], entry["eo_tiler"]["rps"])
                        if entry["titiler"]:
                            entry["p99_ratio"] = _ratio(entry["eo_tiler"]["p99_ms"], entry["titiler"]["p99_ms"])
                        results.append(entry)
                        say("  " + _line(entry))
    report = {
        "date": started.isoformat(timespec="seconds"),
        "machine": {
            "cpus": ncpu,
            "server_cpus": sorted(server_cpus or []),
            "client_cpus": sorted(client_cpus or []),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "versions": {
            "eo_tiler": _git_revision(),
            "titiler": titiler_version,
            "rio_tiler": rio_tiler.__version__,
            "rasterio": rasterio.__version__,
            "gdal": rasterio.__gdal_version__,
            "numpy": np.__version__,
        },
        "config": {
            "workers": args.workers,
            "gdal_cachemax_mib": GDAL_CACHEMAX_MB,
            "titiler_env": TITILER_GDAL_ENV,
            "data_size": data.size,
            "plan": {k: str(v) for k, v in dataclasses.asdict(plan).items()},
        },
        "cases": results,
    }
    stamp = started.strftime("%Y-%m-%dT%H%M")
    (args.results_dir / f"{stamp}.json").write_text(json.dumps(report, indent=1) + "\n")
    table = markdown_table(report)
    (args.results_dir / f"{stamp}.md").write_text(table)
    say(table)
    return report


def _baseline(args: argparse.Namespace, cpus: set[int] | None, log_path: Path):
    if args.baseline != "titiler":
        return nullcontext(None)
    argv, env = titiler_command(port := free_port(), args.workers)
    return serve("titiler", argv, env, port, cpus, "/healthz", log_path)


def _git_revision() -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO), "describe", "--always", "--dirty"], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()


def _line(entry: dict) -> str:
    eo, tt = entry["eo_tiler"], entry["titiler"]
    text = f"eo-tiler {eo['rps']} req/s p99 {eo['p99_ms']} ms wall {eo['wall_s']} s err {eo['errors']}"
    if tt:
        text += f" | TiTiler {tt['rps']} req/s p99 {tt['p99_ms']} ms wall {tt['wall_s']} s err {tt['errors']}"
        text += f" | x{entry['speedup']}"
    if "floor" in entry:
        text += f" | floor {entry['floor']['rps']} req/s"
    return text


def markdown_table(report: dict) -> str:
    def cell(value) -> str:
        return "–" if value is None else str(value)

    rows = [
        f"Run {report['date']}, TiTiler {report['versions']['titiler']}, GDAL {report['versions']['gdal']}, "
        f"{report['machine']['cpus']} CPUs (servers on {report['machine']['server_cpus']}, client on "
        f"{report['machine']['client_cpus']}), {report['config']['workers']} worker each, "
        f"product {report['config']['data_size']} px.",
        "",
        "| case | eo-tiler req/s | TiTiler req/s | speed-up | eo-tiler p50 / p99 ms | TiTiler p50 / p99 ms "
        "| wall s (eo / Ti) | errors | peak RSS MiB (eo / Ti) | floor req/s | floor / eo | load |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for e in report["cases"]:
        eo, tt = e["eo_tiler"], e["titiler"] or {}
        floor = e.get("floor") or {}
        rows.append(
            f"| {e['case']} | {eo['rps']} | {cell(tt.get('rps'))} | {cell(e['speedup'])} "
            f"| {cell(eo['p50_ms'])} / {cell(eo['p99_ms'])} | {cell(tt.get('p50_ms'))} / {cell(tt.get('p99_ms'))} "
            f"| {eo['wall_s']} / {cell(tt.get('wall_s'))} | {eo['errors']} / {cell(tt.get('errors'))} "
            f"| {eo['peak_rss_mib']} / {cell(tt.get('peak_rss_mib'))} | {cell(floor.get('rps'))} "
            f"| {cell(e.get('floor_over_eo_tiler'))} | {eo['loadavg_1m_before']} |"
        )
    rows += ["", *targets(report)]
    rows += [
        "",
        "speed-up: eo-tiler req/s over TiTiler's (viewport, shared-view, previews: TiTiler's wall time over "
        "eo-tiler's). shared-view: every tile of a view asked for three times at once, as by three browsers opening "
        "one shared link. "
        "floor: the same reads + render + PNG encode in-process, one at a time, on the servers' core. "
        "load: 1-minute load average before the case (mean of its parts). Each case runs eo-tiler and TiTiler "
        "alternately (A B B A over two halves) so changes in the machine's load fall on both.",
    ]
    return "\n".join(rows) + "\n"


# What a worker may hold besides its two caches: Python, GDAL and the libraries (~130 MiB after
# start-up) and the arrays of the renders in flight.
OVERHEAD_MIB = 256


def _memory_bound_mib(case: dict) -> float:
    return case["eo_tiler"]["cache_bytes"] / MiB + GDAL_CACHEMAX_MB + OVERHEAD_MIB


def targets(report: dict) -> list[str]:
    """The issue's targets against this run: met or not, with the measured numbers."""
    cases = [c for c in report["cases"] if c["titiler"]]
    if not cases:
        return []

    def check(name: str, chosen: list[dict], value, ok) -> str:
        values = [value(c) for c in chosen]
        if not chosen or None in values:
            return f"- {name}: not measured"
        shown = ", ".join(f"{c['case'].split(' ', 1)[1]} {v}" for c, v in zip(chosen, values))
        return f"- {name}: {'met' if all(ok(v) for v in values) else 'NOT met'} ({shown})"

    cold = [c for c in cases if c["kind"] == "cold"]
    return [
        "Targets (from the issue):",
        check("cold tiles at least 2x TiTiler's throughput", cold, lambda c: c["speedup"], lambda v: v >= 2),
        check(
            "cold p99 no worse than TiTiler's (eo-tiler / TiTiler)",
            cold,
            lambda c: c.get("p99_ratio"),
            lambda v: v <= 1,
        ),
        check(
            "hot tiles at least 20x",
            [c for c in cases if c["kind"] == "hot"],
            lambda c: c["speedup"],
            lambda v: v >= 20,
        ),
        check(
            "viewport wall time at most half of TiTiler's (speed-up)",
            [c for c in cases if c["kind"] == "viewport"],
            lambda c: c["speedup"],
            lambda v: v >= 2,
        ),
        check(
            f"peak memory within image cache + GDAL cache + {OVERHEAD_MIB} MiB (peak / bound)",
            [c for c in report["cases"]],
            lambda c: round(c["eo_tiler"]["peak_rss_mib"] / _memory_bound_mib(c), 2),
            lambda v: v <= 1,
        ),
        check(
            "within 1.5x of the in-process floor (floor / eo-tiler)",
            cold,
            lambda c: c.get("floor_over_eo_tiler"),
            lambda v: v <= 1.5,
        ),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=REPO / "bench" / "data", help="where the data is cached")
    parser.add_argument("--size", type=int, default=FULL_SIZE, help="10 m raster size (10980: a full tile)")
    parser.add_argument("--results-dir", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--formats", nargs="+", default=["cog", "jp2"], choices=["cog", "jp2"])
    parser.add_argument("--workers", type=int, default=1, help="worker processes per server")
    parser.add_argument("--baseline", choices=["titiler", "none"], default="titiler")
    parser.add_argument("--quick", action="store_true", help="a few requests per case (the smoke test)")
    run(parser.parse_args(argv))


if __name__ == "__main__":
    main()
