"""Evalscript benchmark: the TRUE_COLOR and NDVI layers as evalscripts (tests/evalscripts/layers/)
against the built-in TOML layers' `renderers.render`, per render, on real bands of the shared
29RKH sample at 256 x 256 and 512 x 512, on both evalscript paths.

Run: `.venv/bin/python bench/evalscript_bench.py [--rounds 30]`. Prints a Markdown table in
milliseconds. "first" is a script's first render after it was compiled (for TOML, the layer's
first render in the process), "hot" the median over the rounds, in which TOML, the fast path
and the exact path take turns so that load from other processes falls on all three alike, and
"best" the fastest round (what a render costs when nothing else runs).
"compile" is `compile_evalscript` of a text not seen before (parse, V8 isolate, setup()): a
map pays it once per script, not per tile. The issue's targets: the fast path at most 1.5x
the TOML layer, the exact path at most 5x.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling

from renderers import render
from renderers.evalscript import compile_evalscript, render_evalscript
from styles import Layer, Layers, load_layers
from tiler.collections import builtin_collections

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "tests" / "evalscripts" / "layers"
SAMPLE = (
    ROOT.parent
    / "shared/data/s2-l2a-cogs-29RKH-20200219/sentinel-cogs/sentinel-s2-l2a-cogs/29/R/KH/2020/2/S2A_29RKH_20200219_0_L2A"
)
LAYERS = ("TRUE_COLOR", "NDVI")


def read_bands(size: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Reflectance (float32, as the reader gives it) of B02, B03, B04 and B08 at size x size."""
    bands = {}
    for name in ("B02", "B03", "B04", "B08"):
        with rasterio.open(SAMPLE / f"{name}.tif") as dataset:
            dn = dataset.read(1, out_shape=(size, size), resampling=Resampling.nearest)
        bands[name] = dn.astype(np.float32) / np.float32(10000)
    return bands, bands["B04"] > 0


def _layer(layers: Layers, name: str) -> Layer:
    layer = layers.get(name, "sentinel-2-l2a")
    assert layer is not None, name
    return layer


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    layers = load_layers(builtin_collections())
    print(
        "| layer | size | compile | TOML first, hot, best | fast first, hot, best | exact first, hot, best "
        "| fast / TOML first, hot, best | exact / TOML first, hot, best |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for size in (256, 512):
        bands, valid = read_bands(size)
        for name in LAYERS:
            source = (SCRIPTS / f"{name}.js").read_text()
            compile_ms = timed(partial(compile_evalscript, f"{source}\n// {size} {time.time_ns()}"))
            script = compile_evalscript(source)
            runs = {
                "toml": partial(render, _layer(layers, name).spec, bands, valid),
                "fast": partial(render_evalscript, script, bands, valid, timeout=30, path="fast"),
                "exact": partial(render_evalscript, script, bands, valid, timeout=30, path="exact"),
            }
            first = {key: timed(fn) for key, fn in runs.items()}
            samples: dict[str, list[float]] = {key: [] for key in runs}
            for _ in range(args.rounds):
                for key, fn in runs.items():
                    samples[key].append(timed(fn))
            hot = {key: statistics.median(values) for key, values in samples.items()}
            best = {key: min(values) for key, values in samples.items()}
            cells = [f"{first[k]:.2f}, {hot[k]:.2f}, {best[k]:.2f}" for k in runs]
            ratios = [
                f"{first[k] / first['toml']:.2f}x, {hot[k] / hot['toml']:.2f}x, {best[k] / best['toml']:.2f}x"
                for k in ("fast", "exact")
            ]
            print(f"| {name} | {size} | {compile_ms:.1f} | {' | '.join(cells)} | {' | '.join(ratios)} |")


if __name__ == "__main__":
    main()
