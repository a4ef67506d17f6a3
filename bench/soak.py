"""Soak test: the load test's mix against `eo-tiler serve` for half an hour, watching resident memory.

    .venv/bin/python -m bench.soak                                # 30 min, 16 clients, image cache 32 MiB
    .venv/bin/python -m bench.soak --duration 180 --warmup 60     # a short try

Like bench/load_test.py it starts its own server on loopback over a generated demo archive (one
worker, the image cache bounded by --cache-bytes) and sends the same seeded mix. Every --interval
seconds it records the resident memory of the server's processes (supervisor and worker).

Pass: no unexpected status or transport error, no worker replaced or restarted, a clean exit on
SIGTERM, and the memory at the end (median of the last minute's samples) within --tolerance (10 %)
of its level after the warm-up (median of the samples within 30 s of --warmup, 5 minutes).
Writes bench/results/soak-<time>.json (every sample) and .md (a row every 2.5 minutes, the verdict);
the last line of output is the JSON summary. Exit status 0 only on a pass.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import signal
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from bench.load_test import REPO, Workload, client_loop, free_port, rss_bytes, start_server, wait_ready

RESULTS = REPO / "bench" / "results"
# Lines of the server's log that mean something went wrong in the server itself.
TROUBLE = ("Traceback", "stuck: no heartbeat", "exited (", "killing it", "failed to start")


def median_rss(samples: list[dict], start: float, end: float) -> float:
    return statistics.median(s["rss_mib"] for s in samples if start <= s["t_s"] <= end)


async def soak(base: str, pid: int, args: argparse.Namespace) -> tuple[list[dict], list, list]:
    results: list = []
    errors: list = []
    samples: list[dict] = []
    started = time.monotonic()

    def record() -> None:
        samples.append({"t_s": round(time.monotonic() - started, 1), "rss_mib": round(rss_bytes(pid) / 2**20, 1),
                        "requests": len(results), "errors": len(errors)})  # fmt: skip

    async def sample() -> None:
        while True:
            record()
            await asyncio.sleep(args.interval)

    limits = httpx.Limits(max_connections=args.concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        products = (await client.get("/products")).json()["products"]
        layers = (await client.get("/layers")).json()["layers"]
        workload = Workload(products, layers, args.seed)
        sampler = asyncio.create_task(sample())
        end = started + args.duration
        await asyncio.gather(*(client_loop(client, workload, end, results, errors) for _ in range(args.concurrency)))
        sampler.cancel()
    record()
    return samples, results, errors


def table(samples: list[dict], every: float) -> list[str]:
    """A row per `every` seconds (the sample nearest each mark) and the last one."""

    def nearest(mark: float) -> dict:
        return min(samples, key=lambda sample: abs(sample["t_s"] - mark))

    rows = [nearest(m * every) for m in range(int(samples[-1]["t_s"] // every) + 1)]
    if rows[-1] is not samples[-1]:
        rows.append(samples[-1])
    lines = ["| minute | RSS MiB | requests | req/s since the row before | unexpected |", "|---|---|---|---|---|"]
    previous = None
    for row in rows:
        rate = "–"
        if previous is not None and row["t_s"] > previous["t_s"]:
            rate = f"{(row['requests'] - previous['requests']) / (row['t_s'] - previous['t_s']):.1f}"
        lines.append(f"| {row['t_s'] / 60:.1f} | {row['rss_mib']} | {row['requests']} | {rate} | {row['errors']} |")
        previous = row
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=1800, help="seconds of load (default 1800)")
    parser.add_argument("--warmup", type=float, default=300, help="seconds before the reference level (default 300)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--cache-bytes", type=int, default=32 * 1024 * 1024, help="the server's image cache bound")
    parser.add_argument("--interval", type=float, default=10, help="seconds between memory samples")
    parser.add_argument("--tolerance", type=float, default=0.10, help="allowed drift of memory from its level")
    parser.add_argument("--data", type=Path, help="an archive to serve (default: a generated demo archive)")
    parser.add_argument("--demo-size", type=int, default=600, help="10 m raster size of the generated demo products")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.warmup < 30 or args.warmup + 30 > args.duration - 60:
        parser.error("the warm-up level and the last minute must not overlap: give a longer --duration")

    data = args.data
    if data is None:
        from demo import generate_archive

        data = REPO / "bench" / "data" / f"demo-{args.demo_size}"
        generate_archive(data, size=args.demo_size)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    when = datetime.datetime.now(datetime.UTC)
    with tempfile.TemporaryDirectory() as tmp:
        log_path = Path(tmp) / "server.log"
        server = start_server(data, port, args.cache_bytes, log_path)
        try:
            wait_ready(base, server)
            samples, results, errors = asyncio.run(soak(base, server.pid, args))
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                exit_code: int | str = server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
                exit_code = "killed"
        trouble = [line for line in log_path.read_text().splitlines() if any(t in line for t in TROUBLE)]

    level = median_rss(samples, args.warmup - 30, args.warmup + 30)
    final = median_rss(samples, samples[-1]["t_s"] - 60, samples[-1]["t_s"])
    drift = final / level - 1
    passed = not errors and not trouble and abs(drift) <= args.tolerance and exit_code in (0, -signal.SIGTERM)
    summary = {
        "started": when.isoformat(timespec="seconds"),
        "duration_s": samples[-1]["t_s"],
        "concurrency": args.concurrency,
        "cache_bytes": args.cache_bytes,
        "requests": len(results),
        "requests_per_s": round(len(results) / samples[-1]["t_s"], 1),
        "unexpected": len(errors),
        "server_trouble": trouble[:20],
        "rss_level_mib": round(level, 1),
        "rss_end_mib": round(final, 1),
        "rss_drift": round(drift, 4),
        "rss_peak_mib": max(s["rss_mib"] for s in samples),
        "server_exit": exit_code,
        "cpus": len(os.sched_getaffinity(0)),
        "passed": passed,
    }
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"soak-{when:%Y-%m-%dT%H%M}"
    stem.with_suffix(".json").write_text(json.dumps({**summary, "samples": samples, "errors": errors[:100]}, indent=1))
    verdict = "pass" if passed else "FAIL"
    stem.with_suffix(".md").write_text(
        "\n".join(
            [
                f"Soak {summary['started']}: {args.duration / 60:g} min, {args.concurrency} clients, image cache "
                f"{args.cache_bytes / 2**20:g} MiB, {summary['requests']} requests ({summary['requests_per_s']}/s), "
                f"{summary['unexpected']} unexpected, {len(trouble)} server log troubles, {summary['cpus']} CPUs.",
                "",
                *table(samples, 150),
                "",
                f"RSS level after {args.warmup / 60:g} min {summary['rss_level_mib']} MiB, at the end "
                f"{summary['rss_end_mib']} MiB: drift {drift:+.1%} (allowed ±{args.tolerance:.0%}); {verdict}.",
                "",
            ]
        )
    )
    for error in errors[:10]:
        print("unexpected:", json.dumps(error))
    print(json.dumps(summary))
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
