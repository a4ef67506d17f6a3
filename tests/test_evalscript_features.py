"""Each language feature the twelve reference scripts use, in a script of our own (tests/evalscripts/),
run on real Sentinel-2 bands through both paths and checked against numpy's reading of the script."""

import numpy as np
import pytest

from renderers.colour import Stretch, stretch
from renderers.evalscript import InputBand, Output, compile_evalscript, render_evalscript, to_raster
from tests.evalscript_support import evaluate_both, ireland, l1c, sahara, script_text

MAX = 1.7976931348623157e308


def f64(bands: dict[str, np.ndarray], valid: np.ndarray) -> dict[str, np.ndarray]:
    """The bands as the script sees them: float64, 0 where there is no data."""
    return {name: np.where(valid, band.astype(np.float64), 0.0) for name, band in bands.items()}


def lerp(a, b, t):
    return a + (b - a) * t


def ramp_255(value, stops, colours):
    """An independent colour ramp: np.interp on the 0..255 scale, rounded half up, over 255."""
    table = np.array(colours, dtype=np.float64)
    out = []
    for c in range(3):
        channel = np.interp(np.where(np.isnan(value), stops[-1], value), stops, table[:, c])
        out.append(np.floor(channel + 0.5) / 255)
    return np.stack(out)


def hex_rgb(colour: int) -> list[int]:
    return [(colour >> 16) & 255, (colour >> 8) & 255, colour & 255]


def assert_close_colours(actual, expected):
    """Within 1/255 everywhere (interpolation order differs at exact halves), equal on nearly all pixels."""
    np.testing.assert_allclose(actual, expected, atol=1 / 255 + 1e-12, rtol=0)
    assert np.mean(np.isclose(actual, expected, atol=1e-12, rtol=0)) > 0.99


def test_gain_true_colour_with_datamask_alpha():
    bands, valid = ireland()
    out = evaluate_both(script_text("gain_true_colour.js"), bands, valid)["default"]
    b = f64(bands, valid)
    np.testing.assert_array_equal(out, np.stack([3.1 * b["B04"], 3.1 * b["B03"], 3.1 * b["B02"], valid * 1.0]))
    rgba = render_evalscript(compile_evalscript(script_text("gain_true_colour.js")), bands, valid, timeout=30)
    assert rgba.dtype == np.uint8 and rgba.shape == (*valid.shape, 4)
    np.testing.assert_array_equal(rgba[..., 3], np.where(valid, 255, 0))
    expected_red = np.floor(np.clip(3.1 * b["B04"], 0, 1) * 255 + 0.5)
    np.testing.assert_array_equal(rgba[..., 0], expected_red)


def test_index_and_hex_colour_ramp():
    bands, valid = ireland()
    out = evaluate_both(script_text("index_hex_ramp.js"), bands, valid)["default"]
    b = f64(bands, valid)
    total = b["B8A"] + b["B03"]
    with np.errstate(all="ignore"):
        value = np.where(total == 0, 0.0, (b["B8A"] - b["B03"]) / total)
    stops = [-0.6, -0.1, 0.0, 0.2, 0.45, 0.8]
    colours = [hex_rgb(c) for c in (0x3040A0, 0xC8D2F0, 0xF5F0DC, 0xB4C864, 0x509628, 0x0A4605)]
    assert_close_colours(out[:3], ramp_255(value, stops, colours))
    np.testing.assert_array_equal(out[3], valid)
    assert len(np.unique(out[1])) > 50  # a real spread of colours, not one class


def test_bare_number_is_one_float32_band():
    bands, valid = sahara()
    script = compile_evalscript(script_text("bare_number_float.js"))
    assert script.outputs == (Output("default", 1, "FLOAT32"),)
    out = evaluate_both(script_text("bare_number_float.js"), bands, valid)["default"]
    b = f64(bands, valid)
    total = b["B8A"] + b["B04"]
    np.testing.assert_array_equal(out[0], np.where(total == 0, 0.0, (b["B8A"] - b["B04"]) / total))
    assert to_raster(out, "FLOAT32").dtype == np.float32


def test_simple_form_colorblend_with_underflow_colour():
    bands, valid = ireland()
    script = compile_evalscript(script_text("simple_colorblend_underflow.js"))
    assert script.form == "simple" and script.bands == {"B8A", "B12"}
    out = evaluate_both(script_text("simple_colorblend_underflow.js"), bands, valid)["default"]
    b = f64(bands, valid)
    with np.errstate(all="ignore"):
        v = (b["B8A"] - b["B12"]) / (b["B8A"] + b["B12"])
    under, low, zero, high = (
        np.array(c)[:, None, None] for c in ([0.9, 0.9, 0.9], [0.6, 0.2, 0.1], [0.95, 0.95, 0.7], [0.1, 0.5, 0.3])
    )
    with np.errstate(all="ignore"):
        expected = np.where(
            v <= -0.75,
            under,
            np.where(v <= 0, lerp(low, zero, (v + 0.75) / 0.75), np.where(v <= 0.75, lerp(zero, high, v / 0.75), high)),
        )
    np.testing.assert_allclose(out, expected, rtol=1e-14, atol=1e-15)
    assert np.isnan(v[~valid]).all() and (out[:, ~valid] == high[:, :, 0]).all()  # 0/0 takes the last colour


def test_lookup_table_object_uint8():
    bands, valid = ireland()
    out = evaluate_both(script_text("class_table_uint8.js"), bands, valid)["default"]
    palette = {
        0: [10, 10, 10],
        3: [90, 60, 20],
        4: [20, 150, 40],
        5: [240, 220, 100],
        6: [30, 30, 230],
        8: [180, 180, 180],
        9: [250, 250, 250],
        10: [110, 190, 240],
        11: [240, 160, 240],
    }
    scl = np.where(valid, bands["SCL"], 0).astype(int)
    table = np.array([palette.get(k, [255, 0, 255]) for k in range(256)])
    np.testing.assert_array_equal(out[:3], table[scl].transpose(2, 0, 1))
    np.testing.assert_array_equal(out[3], valid * 255.0)
    assert {1, 2, 7, 12}.issubset(set(np.unique(scl)))  # the default colour is exercised
    rgba = render_evalscript(compile_evalscript(script_text("class_table_uint8.js")), bands, valid, timeout=30)
    np.testing.assert_array_equal(rgba[..., :3], table[scl])


def test_simple_form_early_returns_and_own_index():
    bands, valid = ireland()
    out = evaluate_both(script_text("simple_early_returns.js"), bands, valid)["default"]
    b = f64(bands, valid)
    unit = lambda x: np.minimum(1, np.maximum(0, x))  # noqa: E731
    with np.errstate(all="ignore"):
        blueness = (b["B02"] - b["B04"]) / (b["B02"] + b["B04"])
        brightness = (b["B02"] - 0.15) / 0.25
        first = brightness > 1
        second = ~first & (brightness > 0) & (blueness > 0)
        glow = 4 * np.sqrt(brightness * blueness)
    cloud = np.stack([0.6 * unit(b["B04"]), 0.6 * unit(b["B03"]), 0.6 * unit(b["B02"]) + 0.4 * (brightness - 1)])
    haze = np.stack([0.6 * unit(b["B04"]) + glow, 0.6 * unit(b["B03"]), 0.6 * unit(b["B02"])])
    natural = np.stack([2.8 * b["B04"], 2.8 * b["B03"], 2.8 * b["B02"]])
    expected = np.where(first, cloud, np.where(second, haze, natural))
    np.testing.assert_allclose(out, expected, rtol=1e-14, atol=0)
    assert first.any() and second.any() and (~first & ~second).any()


def test_simple_form_ternary_tree_with_b10():
    bands, valid = l1c()
    script = compile_evalscript(script_text("simple_ternary_tree.js"))
    assert "B10" in script.bands
    out = evaluate_both(script_text("simple_ternary_tree.js"), bands, valid)["default"]
    b = f64(bands, valid)
    natural = np.stack([2.5 * b["B04"], 2.5 * b["B03"], 2.5 * b["B02"]])
    colour = {
        k: np.array(v)[:, None, None]
        for k, v in {
            "water": [0.05, 0.2, 0.8],
            "cirrus": [0.9, 0.2, 0.2],
            "cloud": [0.4, 0.4, 1.0],
            "snow": [1.0, 0.9, 0.5],
        }.items()
    }
    with np.errstate(all="ignore"):
        dark = np.where(
            b["B8A"] < 0.17,
            np.where(
                b["B03"] - b["B07"] < 0.03, natural, np.where(b["B09"] - b["B11"] < 0.02, colour["water"], natural)
            ),
            np.where(b["B02"] / b["B10"] < 15, np.where(b["B02"] / b["B09"] < 0.8, natural, colour["cirrus"]), natural),
        )
        bright = np.where(
            b["B05"] / b["B11"] < 4.3,
            np.where(
                b["B11"] - b["B10"] < 0.25,
                np.where(b["B06"] - b["B07"] < -0.02, colour["cloud"], colour["cirrus"]),
                natural,
            ),
            np.where(b["B03"] < 0.5, natural, colour["snow"]),
        )
    np.testing.assert_array_equal(out, np.where(b["B03"] < 0.3, dark, bright))


def test_simple_form_if_else_with_pow():
    bands, valid = ireland()
    out = evaluate_both_pow(script_text("simple_if_else_pow.js"), bands, valid)
    b = f64(bands, valid)
    with np.errstate(all="ignore"):
        m = (b["B8A"] - b["B11"]) / (b["B8A"] + b["B11"])
        p = np.power(m, 0.5)
    white, brown, blue = (np.array(c)[:, None, None] for c in ([1, 1, 1], [0.6, 0.3, 0], [0, 0.2, 0.9]))
    dry = np.where(-m <= 0, white, lerp(white, brown, -m))
    wet = np.where(p <= 0, white, np.where(p <= 1, lerp(white, blue, p), blue))
    np.testing.assert_allclose(out, np.where(m < 0, dry, wet), rtol=1e-14, atol=1e-15)
    assert (m < 0).any() and (m > 0).any()


def test_if_else_ranges_and_transparent_no_data():
    bands, valid = ireland()
    out = evaluate_both(script_text("class_ranges_transparent.js"), bands, valid)["default"]
    b = f64(bands, valid)
    total = b["B03"] + b["B11"]
    with np.errstate(all="ignore"):
        v = (b["B03"] - b["B11"]) / total
    none = (~valid) | (total == 0)
    conditions = [none, (v >= 0.1) & (v <= 0.6), (v >= -0.2) & (v < 0.1)]
    choices = [[0, 0, 0, 0], [0, 0.3, 1, 1], [0.2, 0.8, 0.2, 1]]
    expected = np.select(
        [np.broadcast_to(c, (4, *c.shape)) for c in conditions],
        [np.array(c, float)[:, None, None] * np.ones_like(v) for c in choices],
        np.array([0.7, 0.5, 0.3, 1])[:, None, None] * np.ones_like(v),
    )
    np.testing.assert_array_equal(out, expected)
    rgba = render_evalscript(compile_evalscript(script_text("class_ranges_transparent.js")), bands, valid, timeout=30)
    assert (rgba[none] == 0).all() and (rgba[~none, 3] == 255).all()


def test_gradient_visualizer_and_four_outputs():
    bands, valid = ireland()
    script = compile_evalscript(script_text("gradient_several_outputs.js"))
    assert [(o.id, o.bands, o.sample_type) for o in script.outputs] == [
        ("default", 3, "AUTO"),
        ("index", 1, "FLOAT32"),
        ("eobrowserStats", 1, "FLOAT32"),
        ("dataMask", 1, "AUTO"),
    ]
    outputs = evaluate_both(script_text("gradient_several_outputs.js"), bands, valid)
    b = f64(bands, valid)
    with np.errstate(all="ignore"):
        score = b["B02"] / (1 - (b["B02"] + b["B03"] + b["B8A"]) / 3)
    np.testing.assert_array_equal(outputs["index"][0], score)
    np.testing.assert_array_equal(outputs["eobrowserStats"][0], score)
    np.testing.assert_array_equal(outputs["dataMask"][0], valid)
    # blueRed's first entry (1.0) lands on the minimum 0, its last (0.0) on the maximum 1.2.
    table = [
        (1.0, 0x000080),
        (0.875, 0x0000FF),
        (0.625, 0x00FFFF),
        (0.375, 0xFFFF00),
        (0.125, 0xFF0000),
        (0.0, 0x800000),
    ]
    stops = [(1 - v) * 1.2 for v, _ in table]
    colour = ramp_255(score, stops, [hex_rgb(c) for _, c in table])
    natural = np.stack([2.5 * b["B04"], 2.5 * b["B03"], 2.5 * b["B02"]])
    high = score > 0.15
    assert_close_colours(np.where(high, colour, natural), outputs["default"])
    assert high.any() and (~high).any()


def test_single_highlight_compress_and_late_setup():
    bands, valid = ireland()
    script = compile_evalscript(script_text("single_highlight_late_setup.js"))
    assert script.inputs == (InputBand("B02"), InputBand("B04"), InputBand("B05"))
    out = evaluate_both(script_text("single_highlight_late_setup.js"), bands, valid)["default"]
    b = f64(bands, valid)
    with np.errstate(all="ignore"):
        value = np.where(b["B05"] > 0, (b["B04"] - b["B02"]) / b["B05"], MAX)
    # renderers.colour's highlight stretch is the same curve, computed in float32.
    with np.errstate(over="ignore"):
        expected = stretch(value, Stretch("highlight", -0.3, 0.5))
    np.testing.assert_allclose(out[0], expected, atol=2e-6)
    assert (out[0][~valid] == 1).all()  # B05 = 0 takes JAVA_DOUBLE_MAX_VAL, stretched to 1


def test_tone_curve_with_functions_defined_late():
    bands, valid = ireland()
    fast_out = evaluate_both_pow(script_text("tone_curve_functions.js"), bands, valid)
    b = f64(bands, valid)

    def bound(s):
        return np.where(s < 0, 0, np.where(s > 1, 1, s))

    def shape(v):
        ar = bound(v / 2.5)
        c = (ar * (ar * (0.15 / 2.5 + 1 - 1) - 1)) / (ar * ((2 * 0.15) / 2.5 - 1) - 0.15 / 2.5)
        offset = 0.02**1.7
        return ((c + 0.02) ** 1.7 - offset) / ((1.02**1.7) - offset)

    r, g, bl = shape(b["B04"]), shape(b["B03"]), shape(b["B02"])
    mean = ((r + g + bl) / 3.0) * (1 - 1.15)
    linear = [bound(mean + x * 1.15) for x in (r, g, bl)]
    encode = [np.where(c <= 0.0031308, 12.92 * c, 1.055 * np.power(c, 0.41666666666) - 0.055) for c in linear]
    np.testing.assert_allclose(fast_out[:3], np.stack(encode), rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(fast_out[3], valid)


def evaluate_both_pow(source, bands, valid):
    """As evaluate_both, for scripts with Math.pow: numpy's pow and V8's (fdlibm) differ by an ulp."""
    from renderers.evalscript import evaluate_evalscript

    script = compile_evalscript(source)
    fast = evaluate_evalscript(script, bands, valid, timeout=30, path="fast").outputs["default"]
    exact = evaluate_evalscript(script, bands, valid, timeout=30, path="exact").outputs["default"]
    # An ulp of pow grows through the curve's subtractions and divisions, so compare relatively.
    np.testing.assert_allclose(fast, exact, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(to_raster(fast, "AUTO"), to_raster(exact, "AUTO"))
    return exact


@pytest.mark.parametrize(
    ("name", "form", "bands"),
    [
        ("gain_true_colour.js", "v3", ("B02", "B03", "B04", "dataMask")),
        ("simple_early_returns.js", "simple", ("B02", "B04", "B03")),
        ("simple_ternary_tree.js", "simple", ("B04", "B03", "B02", "B8A", "B07", "B09", "B11", "B10", "B05", "B06")),
    ],
)
def test_introspection(name, form, bands):
    script = compile_evalscript(script_text(name))
    assert script.form == form
    assert tuple(band.name for band in script.inputs) == bands
