"""Every layer of styles/ written as an evalscript (tests/evalscripts/layers/) draws the TOML layer's
pixels within one level, on real data, through both paths."""

import numpy as np
import pytest

from renderers import render
from renderers.evalscript import compile_evalscript, render_evalscript
from styles import STYLES_DIR, load_layers
from tests.evalscript_support import SCRIPTS, ireland, l1c, sahara
from tiler.collections import builtin_collections

LAYERS = load_layers(builtin_collections())
DATASETS = {"ireland": ireland, "sahara": sahara, "l1c": l1c}


def test_every_layer_has_an_evalscript():
    assert sorted(p.stem for p in STYLES_DIR.glob("*.toml")) == sorted(
        p.stem for p in (SCRIPTS / "layers").glob("*.js")
    )


# Each layer on every sample that has its bands (only the L1C crop has no SCL, only 29UNU no B08).
CASES = [
    (name, dataset)
    for name in sorted(LAYERS)
    for dataset in sorted(DATASETS)
    if LAYERS[name].spec.bands <= set(DATASETS[dataset]()[0])
]


def test_every_layer_runs_on_a_sample():
    assert {name for name, _ in CASES} == set(LAYERS)


@pytest.mark.parametrize(("name", "dataset"), CASES)
@pytest.mark.parametrize("path", ["fast", "exact"])
def test_layer_evalscript_matches_toml_layer(name, dataset, path):
    bands, valid = DATASETS[dataset]()
    layer = LAYERS[name]
    script = compile_evalscript((SCRIPTS / "layers" / f"{name}.js").read_text())
    assert script.bands == layer.spec.bands
    expected = render(layer.spec, {b: bands[b] for b in layer.spec.bands}, valid)
    actual = render_evalscript(script, bands, valid, timeout=30, path=path)
    difference = np.abs(actual.astype(int) - expected.astype(int))
    assert difference.max() <= 1, f"{(difference > 1).sum()} channel values differ by more than 1"
    assert (actual[..., 3] > 0).any()  # something is drawn
