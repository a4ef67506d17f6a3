"""The engine around the two paths: path choice, units, outputs, value conversion, the cache, threads."""

import math
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from renderers.evalscript import (
    EvalscriptCache,
    EvalscriptError,
    EvalscriptSyntaxError,
    compile_evalscript,
    evaluate_evalscript,
    render_evalscript,
    to_raster,
    to_rgba,
)
from renderers.evalscript import script as script_module
from renderers.evalscript.output import js_round
from tests.evalscript_support import evaluate_both, ireland, script_text

BANDS = {"B02": np.array([[0.1, 0.2], [0.3, 0.0]]), "B04": np.array([[0.05, 0.15], [0.25, 0.35]])}
VALID = np.array([[True, True], [True, False]])


def v3(body: str, top: str = "", bands: int = 1, inputs: str = '["B02", "B04"]', sample_type: str = "AUTO") -> str:
    return f"""//VERSION=3
function setup() {{ return {{ input: {inputs}, output: {{ bands: {bands}, sampleType: "{sample_type}" }} }}; }}
{top}
function evaluatePixel(s, scenes, inputMetadata, customData, outputMetadata) {{ {body} }}
"""


def test_auto_takes_the_fast_path_when_it_can():
    script = compile_evalscript(v3("return [s.B02 * 2];"))
    result = evaluate_evalscript(script, BANDS, VALID, timeout=5)
    assert result.path == "fast"
    np.testing.assert_array_equal(result.outputs["default"][0], np.where(VALID, BANDS["B02"] * 2, 0))


def test_global_state_changed_per_pixel_runs_exactly_in_row_order():
    script = compile_evalscript(v3("count += 1; return [count];", top="let count = 0;"))
    result = evaluate_evalscript(script, BANDS, VALID, timeout=5)
    assert result.path == "exact"
    assert result.outputs["default"][0].tolist() == [[1, 2], [3, 4]]
    assert "assigns to 'count'" in script.fast.refused
    # Every render starts from the script's top-level state again.
    assert evaluate_evalscript(script, BANDS, VALID, timeout=5).outputs["default"][0].tolist() == [[1, 2], [3, 4]]
    with pytest.raises(EvalscriptError, match="fast path cannot run this script"):
        evaluate_evalscript(script, BANDS, VALID, timeout=5, path="fast")


def test_loops_with_per_pixel_conditions_fall_back():
    source = v3("let n = 0; let v = s.B02; while (v < 1) { v = v * 2 + 0.01; n++; } return [n];", sample_type="UINT8")
    script = compile_evalscript(source)
    result = evaluate_evalscript(script, BANDS, VALID, timeout=5)
    assert result.path == "exact"
    assert result.outputs["default"][0].tolist() == [[4, 3], [2, 7]]


def test_uniform_loops_run_on_the_fast_path():
    source = v3(
        "let total = 0; for (let i = 0; i < weights.length; i++) { total += weights[i] * s.B02; } return [total];",
        top="const weights = [1, 2, 3];",
    )
    out = evaluate_both(source, BANDS, VALID)["default"]
    np.testing.assert_allclose(out[0], np.where(VALID, BANDS["B02"], 0) * 6, rtol=1e-15)
    assert evaluate_evalscript(compile_evalscript(source), BANDS, VALID, timeout=5).path == "fast"


def test_dn_units_and_normalization_factor():
    source = v3(
        "return [s.B02, s.B04, inputMetadata.normalizationFactor];",
        bands=3,
        inputs='[{bands: ["B02", "B04"], units: ["dn", "REFLECTANCE"]}]',
        sample_type="FLOAT32",
    )
    out = evaluate_both(source, BANDS, VALID)["default"]
    assert out[0].tolist() == [[1000, 2000], [3000, 0]]
    np.testing.assert_array_equal(out[1], np.where(VALID, BANDS["B04"], 0))
    assert (out[2] == 1e-4).all()
    offset = evaluate_evalscript(
        compile_evalscript(source), BANDS, VALID, timeout=5, to_dn=lambda band, r: r * 10000 + 1000
    )
    np.testing.assert_allclose(offset.outputs["default"][0], [[2000, 3000], [4000, 0]])


def test_bands_not_asked_for_are_undefined_and_give_nan():
    out = evaluate_both(v3("return [s.B08 * 2, s.B08 === undefined];", bands=2), BANDS, VALID)["default"]
    assert np.isnan(out[0]).all() and (out[1] == 1).all()


def test_returned_values_convert_as_number_does():
    out = evaluate_both(v3("return [true, [0.3], null, undefined, s.B02 > 0.15, []];", bands=6), BANDS, VALID)[
        "default"
    ]
    assert out[:, 0, 0].tolist()[:3] == [1, 0.3, 0] and math.isnan(out[3, 0, 0])
    assert out[4].tolist() == [[0, 1], [1, 0]] and (out[5] == 0).all()


def test_an_object_for_the_single_output_and_a_bare_number():
    assert evaluate_both(v3("return {default: [s.B02]};"), BANDS, VALID)["default"].shape == (1, 2, 2)
    assert evaluate_both(v3("return s.B02;"), BANDS, VALID)["default"].shape == (1, 2, 2)


def test_no_data_pixels_read_zero_and_datamask_zero():
    out = evaluate_both(v3("return [s.B04, s.dataMask];", bands=2, inputs='["B04", "dataMask"]'), BANDS, VALID)[
        "default"
    ]
    assert out[0, 1, 1] == 0 and out[1].tolist() == [[1, 1], [1, 0]]


def test_js_round_matches_v8():
    values = [0.5, -0.5, 1.5, 2.5, -2.5, 0.49999999999999994, -0.2, 1e16 + 1, math.nan, math.inf]
    out = evaluate_both(
        v3("return [Math.round(s.B02), 1 / Math.round(s.B02)];", bands=2, sample_type="FLOAT32"),
        {"B02": np.array([values]), "B04": np.zeros((1, len(values)))},
    )["default"]
    np.testing.assert_array_equal(js_round(np.array(values)), out[0, 0])
    with np.errstate(divide="ignore"):
        np.testing.assert_array_equal(1 / js_round(np.array(values[:7])), out[1, 0, :7])  # the sign of zero too


@pytest.mark.parametrize(
    ("sample_type", "values", "expected", "dtype"),
    [
        ("AUTO", [-0.1, 0, 0.5, 1 / 255 * 0.5, 1, 7, math.nan], [0, 0, 128, 1, 255, 255, 0], np.uint8),
        ("UINT8", [40.6, 310, -3, 40.5, math.nan], [41, 255, 0, 41, 0], np.uint8),
        ("INT8", [-200, -1.5, 127.4], [-128, -1, 127], np.int8),
        ("UINT16", [65535.6, 1000.5, -1], [65535, 1001, 0], np.uint16),
        ("INT16", [-40000, 12.5], [-32768, 13], np.int16),
        ("FLOAT32", [0.1, math.inf], [np.float32(0.1), np.inf], np.float32),
    ],
)
def test_to_raster(sample_type, values, expected, dtype):
    raster = to_raster(np.array(values), sample_type)
    assert raster.dtype == dtype
    assert raster.tolist() == list(expected)


def test_to_rgba_band_counts():
    valid = np.array([[True, False]])
    grey = to_rgba(np.array([[[0.5, 0.5]]]), "AUTO", valid)
    assert grey.tolist() == [[[128, 128, 128, 255], [128, 128, 128, 0]]]
    grey_alpha = to_rgba(np.array([[[0.5, 0.5]], [[1, 0.2]]]), "AUTO", valid)
    assert grey_alpha[..., 3].tolist() == [[255, 51]]  # the script's alpha, not the mask
    rgb = to_rgba(np.array([[[1, 1]], [[0, 0]], [[0.2, 0.2]]]), "AUTO", valid)
    assert rgb.tolist() == [[[255, 0, 51, 255], [255, 0, 51, 0]]]
    uint16 = to_rgba(np.full((3, 1, 2), 65535.0), "UINT16", valid)
    assert uint16[0, 0].tolist() == [255, 255, 255, 255]
    with pytest.raises(EvalscriptError, match="5 bands"):
        to_rgba(np.zeros((5, 1, 2)), "AUTO", valid)


def test_render_evalscript_draws_the_default_output():
    bands, valid = ireland()
    rgba = render_evalscript(compile_evalscript(script_text("gradient_several_outputs.js")), bands, valid, timeout=30)
    assert rgba.shape == (*valid.shape, 4)
    assert (rgba[~valid, 3] == 0).all() and (rgba[valid, 3] == 255).all()


def test_cache_compiles_each_text_once_even_when_asked_at_once():
    cache = EvalscriptCache(maxsize=4)
    source = v3("return [s.B02];")
    with ThreadPoolExecutor(8) as pool:
        scripts = list(pool.map(lambda _: cache.get(source), range(16)))
    assert all(s is scripts[0] for s in scripts)
    assert cache.get(v3("return [s.B04];")) is not scripts[0]
    assert scripts[0].sha256 == compile_evalscript(source).sha256


def test_cache_remembers_a_refusal_instead_of_compiling_again(monkeypatch):
    compiled = []

    def counting(text, **options):
        compiled.append(text)
        return compile_evalscript(text, **options)

    monkeypatch.setattr(script_module, "compile_evalscript", counting)
    cache = EvalscriptCache()
    broken = "return [B02 +];"
    with ThreadPoolExecutor(8) as pool:
        errors = list(pool.map(lambda _: _refusal(cache, broken), range(16)))
    assert all(isinstance(e, EvalscriptSyntaxError) and e.line == 1 for e in errors)
    assert compiled == [broken]
    # With no time to remember it, a refused script is compiled again (a timeout may be the machine's).
    forgetful = EvalscriptCache(refusal_ttl=0)
    for _ in range(2):
        assert isinstance(_refusal(forgetful, broken), EvalscriptSyntaxError)
    assert compiled == [broken] * 3


def _refusal(cache: EvalscriptCache, text: str) -> Exception:
    with pytest.raises(EvalscriptError) as info:
        cache.get(text)
    return info.value


def test_concurrent_exact_renders_agree():
    bands, valid = ireland()
    script = compile_evalscript(script_text("tone_curve_functions.js"), max_isolates=2)
    serial = evaluate_evalscript(script, bands, valid, timeout=30, path="exact").outputs["default"]
    with ThreadPoolExecutor(6) as pool:
        results = list(
            pool.map(lambda _: evaluate_evalscript(script, bands, valid, timeout=60, path="exact"), range(6))
        )
    for result in results:
        np.testing.assert_array_equal(result.outputs["default"], serial)


def test_concurrent_fast_renders_agree():
    bands, valid = ireland()
    script = compile_evalscript(script_text("simple_early_returns.js"))
    serial = evaluate_evalscript(script, bands, valid, timeout=30).outputs["default"]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: evaluate_evalscript(script, bands, valid, timeout=60), range(4)))
    for result in results:
        assert result.path == "fast"
        np.testing.assert_array_equal(result.outputs["default"], serial)


@given(st.floats(allow_nan=False, allow_infinity=False, width=64))
def test_js_round_is_floor_of_x_plus_a_half_exactly(x):
    expected = math.floor(Fraction(x) + Fraction(1, 2))
    result = float(js_round(np.array(x)))
    assert result == expected
    if expected == 0:
        assert math.copysign(1, result) == math.copysign(1, x)


def test_the_fast_path_runs_large_tiles_in_blocks_with_the_same_values(monkeypatch):
    from renderers.evalscript import engine

    bands, valid = ireland()
    script = compile_evalscript(script_text("simple_early_returns.js"))
    whole = evaluate_evalscript(script, bands, valid, timeout=30, path="fast").outputs["default"]
    monkeypatch.setattr(engine, "FAST_BLOCK", 1000)  # 65 blocks, the last one short
    blocks = evaluate_evalscript(script, bands, valid, timeout=30, path="fast").outputs["default"]
    np.testing.assert_array_equal(blocks, whole)


def test_a_script_changing_a_built_in_object_runs_exactly():
    source = v3("return [Math.half(s.B02)];", top="Math.half = function (x) { return x / 2; };")
    result = evaluate_evalscript(compile_evalscript(source), BANDS, VALID, timeout=5)
    assert result.path == "exact"
    np.testing.assert_array_equal(result.outputs["default"][0], np.where(VALID, BANDS["B02"], 0) / 2)


def test_syntax_past_esprima_runs_on_the_exact_path():
    source = v3("const extra = s.extra ?? 0.5; return [s?.B02 + extra];")
    script = compile_evalscript(source)
    assert script.fast is None
    result = evaluate_evalscript(script, BANDS, VALID, timeout=5)
    assert result.path == "exact"
    np.testing.assert_array_equal(result.outputs["default"][0], np.where(VALID, BANDS["B02"], 0) + 0.5)


def test_a_simple_script_past_esprima_is_refused_with_a_reason():
    with pytest.raises(EvalscriptError, match="write it as a VERSION=3 script"):
        compile_evalscript("return [B02 ?? 0];")


def test_results_that_fit_in_some_pixels_only_are_the_exact_paths_error():
    source = v3("return s.B02 > 0.25 ? [1, 2] : [1];")
    with pytest.raises(EvalscriptError, match="returned 2 values for output"):
        evaluate_evalscript(compile_evalscript(source), BANDS, VALID, timeout=5)
    simple = "return B02 > 0.25 ? [1, 2] : [1];"
    with pytest.raises(EvalscriptError, match="values at pixel"):
        evaluate_evalscript(compile_evalscript(simple), BANDS, VALID, timeout=5)


def test_units_are_read_per_band():
    script = compile_evalscript(
        v3("return [1];", inputs='[{bands: ["B02", "B04"], units: ["DN", "reflectance"]}, "dataMask"]')
    )
    assert [(b.name, b.units) for b in script.inputs] == [
        ("B02", "DN"),
        ("B04", "REFLECTANCE"),
        ("dataMask", "REFLECTANCE"),
    ]
    assert script.bands == {"B02", "B04"}


def test_the_language_tour_runs_on_the_fast_path_with_the_exact_numbers():
    bands, valid = ireland()
    outputs = evaluate_both(script_text("language_tour.js"), bands, valid)
    assert (
        evaluate_evalscript(compile_evalscript(script_text("language_tour.js")), bands, valid, timeout=30).path
        == "fast"
    )
    out = outputs["default"]
    b02 = np.where(valid, bands["B02"], 0).astype(np.float64)
    np.testing.assert_array_equal(out[1], 9 - 1)  # 1 + 2 + 3 + 4, less one
    np.testing.assert_array_equal(out[11], b02 * 2)
    np.testing.assert_array_equal(out[14], 1 + 1 + 5 + 1 + 2 + 0)
    assert len(np.unique(out[4])) == 4  # every grade and the no-data 0


def test_a_tree_model_of_90_kb_runs_on_both_paths():
    # Like the collection's tree models: a classification tree as nested ternaries, here 2,048 leaves.
    rng = np.random.default_rng(7)
    band_names = ["B02", "B03", "B04", "B8A", "B11", "B12"]

    def grow(depth):
        if depth == 0:
            colour = [float(round(c, 4)) for c in rng.random(3)]
            return f"[{colour[0]}, {colour[1]}, {colour[2]}]", lambda b: np.array(colour)[:, None, None]
        band, threshold = band_names[rng.integers(len(band_names))], round(float(rng.uniform(0.05, 0.4)), 4)
        (low_text, low), (high_text, high) = grow(depth - 1), grow(depth - 1)
        return (
            f"(s.{band} < {threshold} ? {low_text} : {high_text})",
            lambda b: np.where(b[band] < threshold, low(b), high(b)),
        )

    text, reference = grow(11)
    source = v3(f"return {text};", bands=3, inputs=str(band_names).replace("'", '"'))
    assert len(source) > 64 * 1024
    bands, valid = ireland()
    out = evaluate_both(source, bands, valid)["default"]
    np.testing.assert_array_equal(out, reference(f64_bands(bands, valid)))


def f64_bands(bands, valid):
    return {name: np.where(valid, band.astype(np.float64), 0.0) for name, band in bands.items()}


def test_this_outside_a_method_is_the_global_object_as_in_v8():
    source = v3(
        "return [typeof this === 'object' ? 1 : 0, helper()];",
        top="function helper() { return this === undefined ? 0 : 2; }",
        bands=2,
    )
    result = evaluate_evalscript(compile_evalscript(source), BANDS, VALID, timeout=5)
    assert result.path == "exact"
    assert result.outputs["default"][:, 0, 0].tolist() == [1, 2]


def test_the_parser_is_loaded_with_the_first_script_not_with_the_server(tmp_path):
    """esprima costs 125 MB when imported (its Unicode tables); a server that never sees a script
    must not carry it."""
    import subprocess
    import sys

    probe = (
        "import sys; from tiler.app import create_app; from tiler.settings import Settings; "
        f"create_app(Settings(data_roots=({str(tmp_path)!r},))); print('esprima' in sys.modules)"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert loaded.stdout.strip() == "False"


def test_identifiers_beyond_ascii_take_the_fast_path_after_the_tables_are_trimmed():
    """The parser's build-time Unicode lists are emptied (script._esprima); letters, combining marks
    and digits of any script still make identifiers."""
    text = (
        "//VERSION=3\nfunction setup() { return { input: ['B04'], output: { bands: 1 } }; }\n"
        "var ñandú\u0301٣ = 2;\nfunction evaluatePixel(s) { return [s.B04 * ñandú\u0301٣]; }\n"
    )
    script = compile_evalscript(text)
    assert script.fast is not None
    values = render_evalscript(script, {"B04": np.full((2, 2), 0.25, np.float32)}, np.ones((2, 2), bool), timeout=10)
    assert values.shape == (2, 2, 4)


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        (v3("return [valueMap(s.B04, [], [])];"), "drawn"),  # Python's IndexError in a built-in
        (v3("var a = [1, 2, 3].slice(NaN); return [a.length / 3];"), "drawn"),  # ValueError
        (v3("return [rgb2int([1])];"), "drawn"),
        (v3("return new ColorRampVisualizer([[0, [1, 0]], [1, [0, 0, 0]]]).process(s.B04);", bands=3), "drawn"),
        (v3("return new ColorMapVisualizer([]).process(s.B04);", bands=3), "refused"),  # JavaScript throws too
        ("return [0.5];", "drawn"),  # a simple script that reads no band
        (
            "//VERSION=3\nJSON.stringify = function () { return '{bad'; };\n"
            "function setup() { return 1; }\nfunction evaluatePixel(s) { return [1]; }",
            "refused",
        ),
    ],
)
def test_what_python_raises_inside_the_engine_is_javascripts_answer_or_a_refusal(text, answer):
    """The fast path hands scripts whose built-ins Python cannot follow to V8; a script whose
    JavaScript fails, or whose setup() gives no JSON, is refused: never another exception."""
    bands = {name: np.full((4, 4), 0.25, np.float32) for name in ("B02", "B04")}
    valid = np.ones((4, 4), bool)
    try:
        rgba = render_evalscript(compile_evalscript(text), bands, valid, timeout=10)
    except EvalscriptError:
        assert answer == "refused"
    else:
        assert answer == "drawn" and rgba.shape == (4, 4, 4)
