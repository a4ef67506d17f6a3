"""`python -m bench.dem`: what a Copernicus DEM hillshade tile costs, against a colour-ramp tile of the
same heights and against TiTiler's hillshade of the same file.

Cold 256 px PNG tiles (eo-tiler's image cache off), each asked for once, never two at once:
- over São Tomé on the real GLO-30 tile (`../shared/data`, 3600 x 3600 float32, DEFLATE with
  predictor 3, overviews 2-8) at zooms 10, 12 and 14: eo-tiler's HILLSHADE (a margin of one pixel,
  bilinear heights, Horn's slopes over ground spacing) and COLOR (a ramp, nearest heights); TiTiler's
  `/cog/tiles` with `algorithm=hillshade` (numpy's gradient over the tile and a 1 pixel buffer);
- across 12 degrees east where the demo's two GLO-90 tiles meet, written at their real size (1200 x
  800 pixels each, `bench/data/dem/`): eo-tiler's HILLSHADE and COLOR mosaics, the hillshade reading
  both files as one raster (TiTiler has no catalog of them).

The servers share one core, the load client has the other (as `python -m bench`); results go to
`bench/results/dem-<date>.json` and `.md`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlencode

import morecantile
import rasterio

from bench.load import LoadResult, combine, replay
from bench.servers import REPO, Server, ensure_titiler, eo_tiler_command, free_port, serve, titiler_command

TMS = morecantile.tms.get("WebMercatorQuad")
SHARED = REPO.parent / "shared" / "data"
GLO30 = SHARED / "cop-dem-glo30-cog-N00E006" / "Copernicus_DSM_COG_10_N00_00_E006_00_DEM"
GLO30_ID = "Copernicus_DSM_COG_10_N00_00_E006_00_DEM"
ISLAND = (6.45, 0.0, 6.77, 0.42)  # São Tomé, west, south, east, north
BORDER = (11.7, 51.2, 12.3, 51.8)  # around 12 degrees east, where the demo's GLO-90 tiles meet
FULL = {10: 40, 12: 60, 14: 60}
QUICK = {10: 4, 12: 4, 14: 4}


def ensure_mosaic(data_dir: Path, say=print) -> Path:
    """The demo's GLO-90 pair at the default size: GLO-90's true 3 x 4.5 arc-second grid at 51 N."""
    from demo.maps import write_maps

    root = data_dir / "dem"
    done = root / "written"
    if not done.exists():
        say(f"bench.dem: writing the demo's DEM tiles into {root}")
        write_maps(root, 1200)
        done.write_text("1200\n")
    return root


@dataclass(frozen=True)
class Case:
    name: str
    eo_tiler: dict[str, list[str]]  # layer -> paths
    titiler: list[str] | None


def _tiles(box: tuple[float, float, float, float], zoom: int, count: int, rng: random.Random) -> list[morecantile.Tile]:
    """`count` tiles over `box`, shuffled; few tiles exist at low zooms: they are asked for in turn."""
    tiles = list(TMS.tiles(*box, zooms=[zoom]))
    rng.shuffle(tiles)
    return [tiles[i % len(tiles)] for i in range(count)]


def _eo(tile: morecantile.Tile, **query: str) -> str:
    return f"/tiles/{tile.z}/{tile.x}/{tile.y}.png?" + urlencode(query)


def _titiler(tile: morecantile.Tile, path: Path) -> str:
    params = [
        ("url", str(path)),
        ("algorithm", "hillshade"),
        ("algorithm_params", json.dumps({"azimuth": 315, "angle_altitude": 45, "buffer": 1})),
    ]
    return f"/cog/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.png?" + urlencode(params, quote_via=quote)


def _measure(runs: list[tuple[str, Server, list[str]]]) -> dict[str, LoadResult]:
    """Each run's tiles in two halves, in turn and then in reverse order: every drawing finds GDAL's
    block cache as warm as the others do (one file, the same tiles), and a change in the machine's
    load falls on all of them alike."""
    parts: dict[str, list[LoadResult]] = {name: [] for name, _, _ in runs}
    for half, order in ((0, runs), (1, runs[::-1])):
        for name, server, paths in order:
            mid = len(paths) // 2
            chosen = paths[:mid] if half == 0 else paths[mid:]
            parts[name].append(replay(server.host, server.port, chosen, concurrency=4, distinct=True))
    return {name: combine(results) for name, results in parts.items()}


def _summary(result: LoadResult) -> dict:
    ms = lambda s: None if s is None else round(s * 1000, 1)  # noqa: E731
    return {
        "requests": result.requests,
        "errors": result.errors,
        "statuses": {str(k): v for k, v in sorted(result.statuses.items())},
        "rps": round(result.rps, 2),
        "p50_ms": ms(result.percentile(50)),
        "p99_ms": ms(result.percentile(99)),
        "mean_kib": round(result.bytes_received / max(1, result.requests - result.errors) / 1024, 1),
    }


def run(args: argparse.Namespace) -> dict:
    say = lambda msg: print(msg, flush=True)  # noqa: E731
    counts = QUICK if args.quick else FULL
    ncpu = os.cpu_count() or 1
    server_cpus = {ncpu - 1} if ncpu > 1 else None
    titiler_version = ensure_titiler(say) if args.baseline == "titiler" else None
    mosaic_root = ensure_mosaic(args.data_dir, say)
    if ncpu > 1:
        os.sched_setaffinity(0, {0})
    args.results_dir.mkdir(parents=True, exist_ok=True)
    log_path = args.results_dir / "servers.log"
    started = datetime.now(UTC)
    rng = random.Random(5)
    layers = ("HILLSHADE", "COLOR")
    cases = []
    for zoom, count in counts.items():
        tiles = _tiles(ISLAND, zoom, count, rng)
        own = {layer: [_eo(t, product=GLO30_ID, layer=layer) for t in tiles] for layer in layers}
        cases.append(Case(f"cold GLO-30 z{zoom}", own, [_titiler(t, GLO30 / f"{GLO30_ID}.tif") for t in tiles]))
    for zoom in (10, 12):
        tiles = _tiles(BORDER, zoom, counts[zoom], rng)
        own = {layer: [_eo(t, collection="cop-dem-glo-90", layer=layer) for t in tiles] for layer in layers}
        cases.append(Case(f"cold GLO-90 mosaic z{zoom}", own, None))
    eo_argv, eo_env = eo_tiler_command(mosaic_root, eo_port := free_port(), 0, 1)
    # The real GLO-30 tile beside the demo's pair; the image cache is off: every tile is drawn.
    eo_env |= {"EO_TILER_DATA": os.pathsep.join((str(GLO30), str(mosaic_root))),
               "EO_TILER_CATALOG": str(args.data_dir / "dem-catalog.sqlite")}  # fmt: skip
    results = []
    with serve("eo-tiler", eo_argv, eo_env, eo_port, server_cpus, "/healthz", log_path) as eo:
        titiler: AbstractContextManager[Server | None] = nullcontext(None)
        if titiler_version:
            tt_argv, tt_env = titiler_command(tt_port := free_port(), 1)
            titiler = serve("titiler", tt_argv, tt_env, tt_port, server_cpus, "/healthz", log_path)
        with titiler as tt:
            for case in cases:
                say(f"bench.dem: {case.name}")
                runs = [(f"eo_tiler_{layer.lower()}", eo, paths) for layer, paths in case.eo_tiler.items()]
                if tt is not None and case.titiler:
                    runs.append(("titiler_hillshade", tt, case.titiler))
                entry: dict = {"case": case.name, "tiles": len(case.eo_tiler["HILLSHADE"])}
                entry |= {name: _summary(result) for name, result in _measure(runs).items()}
                hill, colour = entry["eo_tiler_hillshade"], entry["eo_tiler_color"]
                entry["hillshade_over_color_p50"] = _ratio(hill["p50_ms"], colour["p50_ms"])
                if "titiler_hillshade" in entry:
                    entry["speedup_over_titiler"] = _ratio(entry["titiler_hillshade"]["p50_ms"], hill["p50_ms"])
                results.append(entry)
                say("  " + _line(entry))
    report = {
        "date": started.isoformat(timespec="seconds"),
        "machine": {"cpus": ncpu, "server_cpus": sorted(server_cpus or []), "platform": platform.platform()},
        "versions": {"titiler": titiler_version, "rasterio": rasterio.__version__, "gdal": rasterio.__gdal_version__},
        "cases": results,
    }
    stamp = started.strftime("%Y-%m-%dT%H%M")
    (args.results_dir / f"dem-{stamp}.json").write_text(json.dumps(report, indent=1) + "\n")
    table = markdown_table(report)
    (args.results_dir / f"dem-{stamp}.md").write_text(table)
    say(table)
    return report


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


def _line(entry: dict) -> str:
    parts = [f"{key[9:] if key.startswith('eo_tiler_') else key}: p50 {entry[key]['p50_ms']} ms, {entry[key]['rps']} rps"
             for key in ("eo_tiler_hillshade", "eo_tiler_color", "titiler_hillshade") if key in entry]  # fmt: skip
    return "; ".join(parts)


def markdown_table(report: dict) -> str:
    lines = [
        f"DEM hillshade, {report['date']} ({report['machine']['platform']}, servers on core {report['machine']['server_cpus']})",
        "",
        "| case | tiles | HILLSHADE p50 / p99 ms | COLOR p50 ms | hillshade / colour | TiTiler hillshade p50 ms | eo-tiler speed-up | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for e in report["cases"]:
        hill, colour, tt = e["eo_tiler_hillshade"], e["eo_tiler_color"], e.get("titiler_hillshade")
        errors = hill["errors"] + colour["errors"] + (tt["errors"] if tt else 0)
        lines.append(
            f"| {e['case']} | {e['tiles']} | {hill['p50_ms']} / {hill['p99_ms']} | {colour['p50_ms']} | "
            f"{e['hillshade_over_color_p50']} | {tt['p50_ms'] if tt else '-'} | {e.get('speedup_over_titiler') or '-'} | {errors} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.dem", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=REPO / "bench" / "data", help="where the DEM pair is cached")
    parser.add_argument("--results-dir", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--baseline", choices=["titiler", "none"], default="titiler")
    parser.add_argument("--quick", action="store_true", help="a few tiles per case (the smoke test)")
    run(parser.parse_args(argv))


if __name__ == "__main__":
    main()
