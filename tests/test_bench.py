"""The benchmark machinery end to end on a tiny product: data, cases, eo-tiler as a real server on
loopback, the load client, the in-process floor and the report. TiTiler is left out here (its install
is a download of its own); the comparison columns are exercised with `--baseline none` as empty.
No timing is asserted: only that every request was made, answered and accounted for."""

from __future__ import annotations

import asyncio
import json

import morecantile
import numpy as np
import pytest
import rasterio
from rasterio.warp import transform
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from bench import cases as bench_cases
from bench.data import ensure_data, ensure_mosaic_data
from bench.load import replay
from bench.run import main
from tiler.catalog import MemoryCatalog

pytestmark = pytest.mark.slow

SIZE = 600  # 6 km: a few z14 tiles fit inside
IN_FLIGHT: dict[str, int] = {}  # the most concurrent requests per tile the /slow route has seen


@pytest.fixture(scope="module")
def bench_data(tmp_path_factory):
    return ensure_data(tmp_path_factory.mktemp("bench-data"), SIZE, progress=lambda msg: None)


def test_data_is_written_once_and_reused(bench_data, tmp_path):
    again = ensure_data(bench_data.jp2_root.parent.parent, SIZE, progress=lambda msg: pytest.fail(msg))
    assert again == bench_data
    safe = next(bench_data.jp2_root.rglob("*.SAFE"))
    assert len(list(safe.glob("GRANULE/*/IMG_DATA/R10m/*_B0[2348]_10m.jp2"))) == 4
    assert (next(bench_data.cog_root.rglob("SCL.tif"))).is_file()
    item = json.loads(bench_data.titiler_items["jp2"].read_text())
    assert item["assets"]["red"]["href"].endswith("_B04_10m.jp2") and item["assets"]["red"]["type"] == "image/jp2"


def test_the_mosaic_is_three_overlapping_products_and_their_vrts(bench_data):
    mosaic = ensure_mosaic_data(bench_data, None, progress=lambda msg: None)
    index = MemoryCatalog([mosaic.root])
    products = sorted(index, key=lambda p: p.datetime, reverse=True)
    assert len(products) == 3 and len({p.id for p in products}) == 3
    start, end = mosaic.time.split("/")
    assert start == products[-1].datetime.date().isoformat() and end == products[0].datetime.date().isoformat()
    # The single product's files are shared, not copied.
    single = index.resolve(bench_data.product_id)
    assert single.bands["B04"].path.stat().st_nlink == 2
    for product in products:
        vrt = mosaic.root.parent / "vrt" / f"{product.bands['B04'].path.parent.name}.vrt"
        with rasterio.open(vrt) as rgb, rasterio.open(product.bands["B02"].path) as blue:
            assert rgb.count == 3 and rgb.nodata == 0 and rgb.transform == blue.transform
            np.testing.assert_array_equal(
                rgb.read(3, window=((0, 50), (0, 50))), blue.read(1, window=((0, 50), (0, 50)))
            )
    tiles = bench_cases.mosaic_tiles(mosaic, 13)
    assert tiles
    for tile in tiles:
        b = morecantile.tms.get("WebMercatorQuad").bounds(tile)
        meets = [f for f in mosaic.footprints if b.left < f[2] and f[0] < b.right and b.bottom < f[3] and f[1] < b.top]
        assert len(meets) >= 2


def test_a_viewport_is_every_tile_of_a_1920_by_1080_view(bench_data):
    tiles = bench_cases.viewport_tiles(bench_data, 12)
    # 1920 px span 7.5 tiles: 8 or 9 columns; 1080 px span 4.2 tiles: 5 or 6 rows.
    columns, rows = {t.x for t in tiles}, {t.y for t in tiles}
    assert len(columns) in (8, 9) and len(rows) in (5, 6) and len(tiles) == len(columns) * len(rows)
    assert len(set(tiles)) == len(tiles)


def test_product_tiles_lie_inside_the_product(bench_data):
    left, bottom, right, top = bench_data.bounds
    tiles = bench_cases.product_tiles(bench_data, 14)
    assert tiles
    for tile in tiles:
        b = morecantile.tms.get("WebMercatorQuad").bounds(tile)
        (xs, ys) = transform(
            "EPSG:4326",
            f"EPSG:{bench_data.epsg}",
            [b.left, b.right, b.left, b.right],
            [b.bottom, b.bottom, b.top, b.top],
        )
        assert all(left <= x <= right for x in xs) and all(bottom <= y <= top for y in ys)


def test_the_load_client_counts_every_request_and_every_error(unused_tcp_port_server):
    host, port = unused_tcp_port_server
    result = replay(host, port, ["/ok"] * 7 + ["/missing"] * 3, concurrency=3)
    assert result.requests == 10 and result.errors == 3
    assert result.statuses == {200: 7, 404: 3}
    assert len(result.latencies_s) == 7 and result.percentile(50) <= result.percentile(99)
    cycled = replay(host, port, ["/ok"], concurrency=2, duration_s=0.2)
    assert cycled.requests > 2 and cycled.errors == 0


def test_distinct_never_has_two_requests_for_one_path_in_flight(unused_tcp_port_server):
    host, port = unused_tcp_port_server
    paths = ["/slow?tile=a"] * 4 + ["/slow?tile=b"] * 3 + ["/slow?tile=c"]
    IN_FLIGHT.clear()
    result = replay(host, port, paths, concurrency=4, distinct=True)
    assert result.requests == 8 and result.errors == 0
    assert max(IN_FLIGHT.values()) == 1  # the most requests for one tile the server saw at once
    IN_FLIGHT.clear()
    replay(host, port, paths, concurrency=4)
    assert max(IN_FLIGHT.values()) > 1  # without it, a tile named twice is asked for twice at once


@pytest.fixture(scope="module")
def unused_tcp_port_server():
    import threading

    import uvicorn

    from bench.servers import free_port

    now: dict[str, int] = {}

    async def slow(request):
        tile = request.query_params["tile"]
        now[tile] = now.get(tile, 0) + 1
        IN_FLIGHT[tile] = max(IN_FLIGHT.get(tile, 0), now[tile])
        await asyncio.sleep(0.05)
        now[tile] -= 1
        return PlainTextResponse("tile bytes")

    app = Starlette(routes=[Route("/ok", lambda request: PlainTextResponse("tile bytes")), Route("/slow", slow)])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        threading.Event().wait(0.02)
    yield "127.0.0.1", port
    server.should_exit = True
    thread.join()


def test_the_benchmark_runs_end_to_end_against_eo_tiler(bench_data, tmp_path):
    results = tmp_path / "results"
    main(
        [
            "--data-dir",
            str(bench_data.jp2_root.parent.parent),
            "--size",
            str(SIZE),
            "--quick",
            "--baseline",
            "none",
            "--results-dir",
            str(results),
        ]
    )
    [report_path] = results.glob("*.json")
    report = json.loads(report_path.read_text())
    kinds = {(c["kind"], c["format"]) for c in report["cases"]}
    assert kinds == {
        (k, f) for k in ("cold", "hot", "viewport", "shared-view", "previews", "getmap") for f in ("cog", "jp2")
    }
    for case in report["cases"]:
        eo = case["eo_tiler"]
        assert eo["errors"] == 0 and eo["statuses"] == {"200": eo["requests"]}
        if case["duration_s"] is None:
            assert eo["requests"] == case["targets"]
        assert eo["peak_rss_mib"] > 0 and eo["p50_ms"] <= eo["p99_ms"]
        assert case["titiler"] is None and case["speedup"] is None
        if case["kind"] == "cold":
            assert case["floor"]["rps"] > 0
    table = report_path.with_suffix(".md").read_text()
    assert table.count("\n| cold ") == 9 and "| previews TRUE_COLOR jp2 |" in table
    [mosaic] = [c for c in report["cases"] if c["mosaic"]]
    assert mosaic["case"] == "cold mosaic TRUE_COLOR cog z13" and mosaic["eo_tiler"]["requests"] == 3


def test_parts_of_a_measurement_add_up():
    from bench.load import LoadResult, combine

    a = LoadResult(3, 1, 1.0, (0.1, 0.2), 300, 0.1, {200: 2, 500: 1})
    b = LoadResult(2, 0, 0.5, (0.3, 0.4), 200, 0.05, {200: 2})
    total = combine([a, b])
    assert (total.requests, total.errors, total.wall_s, total.bytes_received) == (5, 1, 1.5, 500)
    assert total.statuses == {200: 4, 500: 1} and total.latencies_s == (0.1, 0.2, 0.3, 0.4)


def test_targets_say_plainly_which_are_not_met():
    from bench.run import targets

    def case(kind, speedup, **extra):
        eo = {"peak_rss_mib": 300.0, "cache_bytes": 0}
        return {
            "case": f"{kind} TRUE_COLOR cog z11",
            "kind": kind,
            "titiler": {"rps": 1.0},
            "speedup": speedup,
            "eo_tiler": eo,
            **extra,
        }

    report = {
        "cases": [
            case("cold", 2.5, p99_ratio=0.5, floor_over_eo_tiler=1.2),
            case("cold", 1.4, p99_ratio=1.1, floor_over_eo_tiler=1.6),
            case("hot", 150.0),
            case("viewport", 2.1),
        ]
    }
    lines = targets(report)
    assert (
        "cold tiles at least 2x TiTiler's throughput: NOT met (TRUE_COLOR cog z11 2.5, TRUE_COLOR cog z11 1.4)"
        in lines[1]
    )
    assert "NOT met" in lines[2] and "hot tiles at least 20x: met" in lines[3] and ": met" in lines[4]
    assert "peak memory" in lines[5] and ": met" in lines[5] and "NOT met" in lines[6]


def test_the_sentinel1_comparison_runs_every_case(tmp_path, capsys):
    """`python -m bench.sentinel1 --quick`: both products made, each case timed over its tiles."""
    from bench import sentinel1

    sentinel1.main(["--quick", "--data-dir", str(tmp_path), "--no-report"])
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| Sentinel-")]
    assert len(rows) == 6  # three cases at two zooms
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert int(cells[2]) >= 1 and float(cells[3]) > 0 and float(cells[5]) > 0
    again = sentinel1.ensure_s1_data(tmp_path.resolve(), 1200, progress=lambda msg: pytest.fail(msg))
    product = next(iter(MemoryCatalog([again])))
    assert product.collection == "sentinel-1-grd" and sorted(product.bands) == ["VH", "VV"]
    with rasterio.open(product.bands["VV"].path) as src:
        assert src.crs is None and len(src.gcps[0]) == 210 and src.overviews(1)


def test_the_evalscript_http_bench_runs_every_variant_on_the_same_picture(shared_data, tmp_path):
    from bench import evalscript_http_bench as http_bench

    report = http_bench.run(rounds=1, tile_count=2, results_dir=tmp_path)
    assert [(r["layer"], r["variant"]) for r in report["rows"]] == [(v[0], v[1]) for v in http_bench.VARIANTS]
    assert all(r["differing"] < 0.01 for r in report["rows"])  # every variant draws the TOML layer's picture
    assert all(r["cold_ms"] > 0 and r["hot_ms"] > 0 for r in report["rows"])
    assert "| NDVI | exact |" in http_bench.markdown(report)


def test_the_dem_hillshade_benchmark_runs_end_to_end(shared_data, tmp_path):
    """`python -m bench.dem --quick` against eo-tiler alone: every tile of every case answered."""
    from bench import dem

    dem.main(["--quick", "--baseline", "none", "--data-dir", str(tmp_path / "data"), "--results-dir", str(tmp_path)])
    report = json.loads(next(tmp_path.glob("dem-*.json")).read_text())
    assert [c["case"] for c in report["cases"]] == [
        "cold GLO-30 z10", "cold GLO-30 z12", "cold GLO-30 z14", "cold GLO-90 mosaic z10", "cold GLO-90 mosaic z12",
    ]  # fmt: skip
    for case in report["cases"]:
        for layer in ("eo_tiler_hillshade", "eo_tiler_color"):
            assert case[layer]["requests"] == case["tiles"] == 4 and case[layer]["errors"] == 0
            assert case[layer]["statuses"] == {"200": 4}
        assert "titiler_hillshade" not in case and case["hillshade_over_color_p50"] > 0
    assert "| cold GLO-90 mosaic z12 | 4 |" in next(tmp_path.glob("dem-*.md")).read_text()
