"""Every layer of styles/ for the collections sampled here (Sentinel-2), written as an evalscript
(tests/evalscripts/layers/), draws the TOML layer's pixels within one level, on real data, through
both paths. The DEM and land-cover layers have no evalscripts yet (a hillshade cannot have one:
each of its pixels needs its neighbours, which an evalscript's evaluatePixel never sees)."""

import numpy as np
import pytest

from renderers import render
from renderers.evalscript import compile_evalscript, render_evalscript
from styles import load_layers
from tests.evalscript_support import SCRIPTS, ireland, l1c, sahara
from tiler.collections import builtin_collections

REGISTRY = load_layers(builtin_collections())
# The samples and the collection whose layer draws them.
DATASETS = {
    "ireland": (ireland, "sentinel-2-l2a"),
    "sahara": (sahara, "sentinel-2-l2a"),
    "l1c": (l1c, "sentinel-2-l1c"),
}


# The layers of the collections these samples are of (Landsat's have samples of their own elsewhere).
NAMES = {layer.name for _, collection in DATASETS.values() for layer in REGISTRY.for_collection(collection)}


def test_every_layer_has_an_evalscript():
    assert {p.stem for p in (SCRIPTS / "layers").glob("*.js")} == NAMES


# Each layer on every sample of its collections that has its bands (29UNU has no B08 at 60 m).
CASES = [
    (layer.name, dataset)
    for dataset, (read, collection) in sorted(DATASETS.items())
    for layer in sorted(REGISTRY.for_collection(collection), key=lambda layer: layer.name)
    if layer.spec.bands <= set(read()[0])
]


def test_every_layer_runs_on_a_sample():
    assert {name for name, _ in CASES} == NAMES


@pytest.mark.parametrize(("name", "dataset"), CASES)
@pytest.mark.parametrize("path", ["fast", "exact"])
def test_layer_evalscript_matches_toml_layer(name, dataset, path):
    read, collection = DATASETS[dataset]
    bands, valid = read()
    layer = REGISTRY.get(name, collection)
    assert layer is not None
    script = compile_evalscript((SCRIPTS / "layers" / f"{name}.js").read_text())
    assert script.bands == layer.spec.bands
    expected = render(layer.spec, {b: bands[b] for b in layer.spec.bands}, valid)
    actual = render_evalscript(script, bands, valid, timeout=30, path=path)
    difference = np.abs(actual.astype(int) - expected.astype(int))
    assert difference.max() <= 1, f"{(difference > 1).sum()} channel values differ by more than 1"
    assert (actual[..., 3] > 0).any()  # something is drawn
