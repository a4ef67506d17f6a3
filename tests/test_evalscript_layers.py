"""Every layer of styles/ written as an evalscript (tests/evalscripts/layers/) draws the TOML layer's
pixels within one level through both paths: Sentinel-2's on the real samples read here, Sentinel-1's,
the DEM's and the land-cover ones (sentinel-1/, dem/, worldcover/, corine/ there) on synthetic bands
made to hit their thresholds, stops and classes, HH and HV included, which no real sample has. The
tile route draws each script on the real samples in test_evalscript_http.py, Landsat's too. HILLSHADE
has no evalscript: each of its pixels needs its neighbours, which an evalscript's evaluatePixel never
sees."""

import numpy as np
import pytest

from renderers import render
from renderers.evalscript import compile_evalscript, render_evalscript
from styles import load_layers
from tests.evalscript_support import SCRIPTS, ireland, l1c, sahara
from tests.helpers import S1_SCALE
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


# ---------------------------------------------------------------------------------------------
# Sentinel-1, the DEM and land cover on synthetic bands

SCRIPT_REGISTRY = load_layers(builtin_collections(), SCRIPTS / "layers")
SIZE = (256, 256)


def sar_bands() -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Polarisations in linear power as the reader gives them (float32 DN² times the collection's
    display scaling): random whole DN, a quarter of the pixels with co-pol DN exactly five times the
    cross-pol DN (a ratio of 25, where FALSE_COLOR turns from land to water), cross-pol values 128
    float32 steps either side of 0.5 / 5.5 (SAR_URBAN's red); 2 % without data. HH and HV take the
    values of VV and VH."""
    rng = np.random.default_rng(13)
    co, cross = rng.integers(1, 4000, SIZE), rng.integers(1, 1500, SIZE)
    co[:64] = 5 * cross[:64]
    scale = np.float32(S1_SCALE)
    co_power, cross_power = (np.square(dn.astype(np.float32)) * scale for dn in (co, cross))
    edge = np.array(0.5 / 5.5, dtype=np.float32)
    cross_power[64:72] = (edge.view(np.int32) + np.arange(-128, 128, dtype=np.int32)).view(np.float32)
    valid = rng.random(SIZE) > 0.02
    return {"VV": co_power, "HH": co_power, "VH": cross_power, "HV": cross_power}, valid


def heights() -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Float32 metres from -13000 to 10000 (past both ends of every ramp), every stop of the DEM
    ramps and a float32 step either side of it, heights about 0 (the sea, then land right above
    it), and NaN; every pixel has data, as in the DEM."""
    stops = {
        v
        for name in ("TOPOGRAPHIC", "COLOR", "GRAYSCALE")
        for v, _ in REGISTRY.get(name, "cop-dem-glo-30").spec.colormap.stops
    }
    exact = np.array(sorted(stops), dtype=np.float32)
    around = np.concatenate([np.nextafter(exact, -np.inf), exact, np.nextafter(exact, np.inf)])
    near_sea = np.array([-1e-5, -1e-7, 0.0, 1e-7, 5e-6, 1e-5, 2e-5, np.nan], dtype=np.float32)
    ramp = np.linspace(-13000, 10000, SIZE[0] * SIZE[1] - around.size - near_sea.size, dtype=np.float32)
    values = np.concatenate([around, near_sea, ramp]).reshape(SIZE)
    return {"DEM": values}, np.ones(SIZE, bool)


def classes(band: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Every whole value 0 to 255 as a class band gives it (float32), 0 without data."""
    values = np.resize(np.arange(256, dtype=np.float32), SIZE)
    return {band: values}, values != 0


SYNTHETIC = {
    "sentinel-1-grd": sar_bands,
    "cop-dem-glo-30": heights,
    "cop-dem-glo-90": heights,
    "esa-worldcover": lambda: classes("Map"),
    "corine-land-cover": lambda: classes("CLC"),
}
SYNTHETIC_CASES = sorted(
    (layer.name, collection) for layer in SCRIPT_REGISTRY for collection in layer.collections if collection in SYNTHETIC
)


def test_every_script_of_those_collections_runs_on_synthetic_bands():
    """All their layers but those that read neighbours (a margin): the hillshade alone."""
    every = {(layer.name, c) for layer in REGISTRY for c in layer.collections if c in SYNTHETIC}
    needs_neighbours = {(layer.name, c) for layer in REGISTRY for c in layer.collections if layer.spec.margin > 0}
    assert needs_neighbours == {("HILLSHADE", "cop-dem-glo-30"), ("HILLSHADE", "cop-dem-glo-90")}
    assert set(SYNTHETIC_CASES) == every - needs_neighbours
    assert {("HH_DB", "sentinel-1-grd"), ("HV_LINEAR", "sentinel-1-grd")} <= set(SYNTHETIC_CASES)


@pytest.mark.parametrize(("name", "collection"), SYNTHETIC_CASES)
@pytest.mark.parametrize("path", ["fast", "exact"])
def test_script_draws_the_toml_layer_on_synthetic_bands(name, collection, path):
    bands, valid = SYNTHETIC[collection]()
    toml, js = REGISTRY.get(name, collection), SCRIPT_REGISTRY.get(name, collection)
    assert toml is not None and toml.spec is not None and js is not None and js.script is not None
    script = compile_evalscript(js.script.text)
    assert script.bands == toml.spec.bands
    expected = render(toml.spec, {b: bands[b] for b in toml.spec.bands}, valid)
    actual = render_evalscript(script, {b: bands[b] for b in script.bands}, valid, timeout=30, path=path)
    difference = np.abs(actual.astype(int) - expected.astype(int))
    assert difference.max() <= 1, f"{(difference > 1).sum()} channel values differ by more than 1"
    assert (actual[..., 3] > 0).any()  # something is drawn
