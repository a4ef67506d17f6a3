"""Every library helper against the examples its documentation gives (docs/evalscripts.md), with the
value varying per pixel so the fast path's array code runs, through both paths."""

import math

import numpy as np
import pytest

from tests.evalscript_support import evaluate_both

MAX = 1.7976931348623157e308


def run(expression: str, xs: list[float], bands: int, before: str = "") -> np.ndarray:
    """`expression` (reading the per-pixel value `x`) for each x; (bands, len(xs)), both paths agreeing."""
    source = f"""//VERSION=3
function setup() {{ return {{ input: ["B02"], output: {{ bands: {bands}, sampleType: "FLOAT32" }} }}; }}
{before}
function evaluatePixel(s) {{ const x = s.B02; return {expression}; }}
"""
    out = evaluate_both(source, {"B02": np.array([xs], dtype=np.float64)})["default"]
    return out[:, 0, :]


def test_index():
    out = run("[index(x, 0.4), index(x, -x)]", [0.6, 0.1], 2)
    assert out[0] == pytest.approx([0.2, -0.6])
    assert list(out[1]) == [0.0, 0.0]  # x + y = 0 gives 0, not NaN


def test_inverse():
    out = run("[inverse(x)]", [0.0, 4.0, -0.5], 1)
    assert list(out[0]) == [MAX, 0.25, -2.0]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, 0), (0.1, 0), (0.25, 0.5), (0.376, 0.92), (0.4, 0.9259259259259259), (0.7, 1), (1.1, 1)],
)
def test_highlight_compress_documented_examples(value, expected):
    out = run("[viz.process(x)]", [value], 1, "const viz = new HighlightCompressVisualizer(0.1, 0.4);")
    assert out[0][0] == pytest.approx(expected, abs=1e-12)


def test_highlight_compress_nan_gain_offset_gamma_and_single():
    before = """const plain = new HighlightCompressVisualizer(0.1, 0.4);
const tuned = new HighlightCompressVisualizer(0, 1, 2, 0.1, 0.5);
const single = new HighlightCompressVisualizerSingle(0.1, 0.4);"""
    out = run(
        "[plain.process(x / 0), tuned.process(x), single.process(x)[0], single.process(x).length]",
        [0.0, 0.2],
        4,
        before,
    )
    assert math.isnan(out[0][0])  # 0/0 stays NaN
    assert out[1] == pytest.approx([math.sqrt(0.1), math.sqrt(0.5)])  # (2v + 0.1) ** 0.5, maxValue 1: no knee
    assert out[2] == pytest.approx([0, 1 / 3])
    assert list(out[3]) == [1, 1]


def test_default_visualizer_has_no_knee():
    out = run("[viz.process(x)]", [0.1, 0.25, 0.4, 0.7, -1], 1, "const viz = new DefaultVisualizer(0.1, 0.4);")
    assert out[0] == pytest.approx([0, 0.5, 1, 1, 0])


def test_process_list_maps_every_value_including_datamask():
    out = run("viz.processList([x, 1, 0])", [0.25], 3, "const viz = new HighlightCompressVisualizer(0.1, 0.4);")
    assert out[:, 0] == pytest.approx([0.5, 1, 0])


def test_identity():
    out = run("[id.process(x)].concat(id.processList([x, 2]))", [0.3], 3, "const id = new Identity();")
    assert list(out[:, 0]) == [0.3, 0.3, 2]


def test_colour_ramp_documented_examples():
    out = run(
        "viz.process(x)",
        [199, 200, 250, 299, 300],
        3,
        "const viz = new ColorRampVisualizer([[200, 0xFF0000], [300, 0x0000FF]]);",
    )
    assert out.T.tolist() == [
        [1, 0, 0],
        [1, 0, 0],
        [0.5019607843137255, 0, 0.5019607843137255],
        [0.011764705882352941, 0, 0.9882352941176471],
        [0, 0, 1],
    ]


def test_colour_ramp_range_unsorted_stops_nan_and_inverse():
    before = """const ranged = new ColorRampVisualizer([[0, [0, 0, 0]], [1, [1, 1, 1]]], 10, 20);
const unsorted = new ColorRampVisualizer([[300, 0x0000FF], [200, 0xFF0000]]);
const inverted = new ColorRampVisualizer([[200, 0xFF0000], [300, 0x0000FF]]).inverse();"""
    out = run("ranged.process(x).concat(unsorted.process(x), inverted.process(x))", [15, 250, math.nan], 9, before)
    assert out[0:3, 0].tolist() == [128 / 255] * 3  # 15 is halfway between 10 and 20
    assert out[3:6, 1].tolist() == [128 / 255, 0, 128 / 255]  # sorted before use
    assert out[3:6, 2].tolist() == [0, 0, 1]  # NaN takes the last colour
    assert out[6:9, 2].tolist() == [1, 0, 0]  # inverse: the colours in the opposite order


def test_colour_ramp_factories():
    before = """const blueRed = ColorRampVisualizer.createBlueRed(0, 1);
const temperature = ColorRampVisualizer.createRedTemperature(0, 1);"""
    out = run("blueRed.process(x).concat(temperature.process(x))", [0.3, 0.5], 6, before)
    assert out[0:3, 0].tolist() == [0, 0.7019607843137254, 1]
    assert out[3:6, 1].tolist() == [0.7176470588235294, 0.047058823529411764, 0]


def test_colour_gradient_red_temperature_documented_examples():
    out = run(
        "viz.process(x)", [0, 0.3, 0.5, 0.8, 1], 3, "const viz = ColorGradientVisualizer.createRedTemperature(0, 1);"
    )
    assert out.T.tolist() == [
        [0, 0, 0],
        [0.43137254901960786, 0, 0],
        [0.7176470588235294, 0.047058823529411764, 0],
        [1, 0.6196078431372549, 0.2],
        [1, 1, 1],
    ]


def test_colour_gradient_white_green_and_blue_red_ends_and_default_range():
    before = """const green = ColorGradientVisualizer.createWhiteGreen(0, 1);
const blueRed = ColorGradientVisualizer.createBlueRed(0, 1);
const plain = new ColorGradientVisualizer([[0, 0x000000], [1, 0xFFFFFF]]);"""
    out = run("green.process(x).concat(blueRed.process(x), plain.process(x))", [0, 1, 0.5], 9, before)
    assert out[0:3, 0].tolist() == [0, 0, 0] and out[0:3, 1].tolist() == [1, 1, 1]
    assert out[3:6, 0].tolist() == [0, 0, 128 / 255] and out[3:6, 1].tolist() == [128 / 255, 0, 0]
    assert out[6:9, 2].tolist() == [128 / 255] * 3


def test_colour_map_documented_examples():
    out = run(
        "viz.process(x)",
        [199, 200, 250, 299, 300],
        3,
        "const viz = new ColorMapVisualizer([[200, 0xFF0000], [300, 0x0000FF]]);",
    )
    assert out.T.tolist() == [[1, 0, 0]] * 4 + [[0, 0, 1]]


def test_value_interpolate_documented_examples():
    before = "const colours = [[0, 0, 0], [0.1, 0.2, 0.5], [0.2, 0.4, 1]];"
    out = run(
        "[valueInterpolate(x, [-10, -5, 0, 5, 10], [-1000, -50, 0, 50, 1000])]"
        ".concat(valueInterpolate(x / 90, [0, 0.2, 0.4], colours), [valueInterpolate(x)])",
        [9, -20, 20],
        5,
        before,
    )
    assert out[0].tolist() == pytest.approx([810, -1000, 1000])
    assert out[1:4, 0].tolist() == pytest.approx([0.05, 0.1, 0.25])
    assert out[4].tolist() == [9, -20, 20]  # without intervals, the value


def test_color_blend_underflow_overflow_and_nan():
    before = (
        "const limits = [-0.5, -0.5, 0, 0.5];\nconst table = [[1, 1, 1], [1, 0, 0], [0, 0, 0], [0, 1, 0], [0, 0, 1]];"
    )
    out = run("colorBlend(x, limits, table)", [-0.6, -0.5, -0.25, 0.25, 0.7, math.nan], 3, before)
    expected = [[1, 1, 1], [1, 1, 1], [0.5, 0, 0], [0, 0.5, 0], [0, 0, 1], [0, 0, 1]]
    # At or below min the underflow colour; above max and NaN the overflow colour.
    np.testing.assert_allclose(out.T, expected, atol=1e-15)


def test_color_blend_leaves_its_tables_unchanged():
    before = "const table = [[1, 1, 1], [0, 0, 0]];"
    out = run("colorBlend(x, [0, 1], table).concat(table[0], table[1])", [-1, 2], 9, before)
    assert out[3:9].T.tolist() == [[1, 1, 1, 0, 0, 0]] * 2


def test_value_map_documented_examples():
    out = run("[valueMap(x, [1, 3, 5, 7, 10], [100, 300, 500, 700, 900])]", [2, 1, 12], 1)
    assert out[0].tolist() == [300, 100, 900]


def test_combine():
    out = run("combine([100, 0, 0], [0, 100, x], 0.5)", [0, 50], 3)
    assert out.T.tolist() == [[50, 50, 0], [50, 50, 25]]


def test_int2rgb_rgb2int_normalize():
    out = run("int2rgb(0x010001).concat([rgb2int([1, 0, 1])], normalizeRGB([255, 51, x]))", [0], 7)
    assert out[:, 0].tolist() == [1, 0, 1, 0x010001, 1, 0.2, 0]


def test_constants():
    out = run(
        "[JAVA_DOUBLE_MAX_VAL, SampleType.UINT8 === 'UINT8', Mosaicking.SIMPLE === 'SIMPLE', blueRed.length]", [0], 4
    )
    assert out[:, 0].tolist() == [MAX, 1, 1, 6]


def test_colour_map_with_stops_out_of_order_checks_from_the_last():
    before = "const viz = new ColorMapVisualizer([[300, [0, 0, 1]], [100, [0, 1, 0]], [200, [1, 0, 0]]]);"
    out = run("viz.process(x)", [50, 150, 250, 350], 3, before)
    # The last stop at or below the value, looking from the end of the list: 150 -> the 100 stop.
    assert out.T.tolist() == [[0, 0, 1], [0, 1, 0], [1, 0, 0], [1, 0, 0]]
