import numpy as np
import pytest

from renderers.colour import Classes, Ramp, Steps, Stretch, named_colormap
from renderers.expressions import ExpressionError, parse_expression
from renderers.render import RenderSpec, evaluate_values, render

BANDS = ("B02", "B03", "B04", "B08", "SCL")
HIGHLIGHT = Stretch("highlight", 0.0, 0.4)
NDVI = parse_expression("(B08 - B04) / (B08 + B04)", BANDS)
NDVI_STEPS = Steps(((0.0, (235, 235, 235)), (0.2, (145, 191, 82)), (0.6, (15, 84, 10))), (0, 69, 0))


def _e(text: str):
    return parse_expression(text, BANDS)


@pytest.fixture
def bands() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    return {name: rng.uniform(0.0, 0.9, (8, 8)).astype(np.float32) for name in BANDS}


@pytest.fixture
def valid() -> np.ndarray:
    mask = np.ones((8, 8), bool)
    mask[:, :2] = False
    return mask


def _highlight_bytes(values: np.ndarray) -> np.ndarray:
    """EO Browser's highlight compression over [0, 0.4], written out independently."""
    x = values.astype(np.float64) / 0.4
    y = np.clip(np.where(x < 0.92, x, 0.92 + (x - 0.92) * 0.08 / 1.08), 0.0, 1.0)
    return np.rint(y * 255).astype(np.uint8)


def test_true_colour_matches_numpy(bands, valid):
    spec = RenderSpec((_e("B04"), _e("B03"), _e("B02")), (HIGHLIGHT,) * 3)
    rgba = render(spec, bands, valid)
    assert rgba.dtype == np.uint8
    assert rgba.shape == (8, 8, 4)
    for channel, name in enumerate(("B04", "B03", "B02")):
        np.testing.assert_array_equal(rgba[valid, channel], _highlight_bytes(bands[name][valid]))
    assert (rgba[valid, 3] == 255).all()
    assert not rgba[~valid].any()


def test_nan_from_zero_over_zero_is_transparent(bands, valid):
    bands["B04"][3, 3] = bands["B08"][3, 3] = 0.0
    rgba = render(RenderSpec((NDVI,), (HIGHLIGHT,), NDVI_STEPS), bands, valid)
    assert tuple(rgba[3, 3]) == (0, 0, 0, 0)
    assert (rgba[valid, 3] == 255).sum() == valid.sum() - 1


def test_ndvi_steps_match_an_independent_lookup(bands, valid):
    rgba = render(RenderSpec((NDVI,), (HIGHLIGHT,), NDVI_STEPS), bands, valid)
    ndvi = (bands["B08"] - bands["B04"]) / (bands["B08"] + bands["B04"])
    for row, col in zip(*np.nonzero(valid)):
        value = ndvi[row, col]
        expected = next((c for bound, c in NDVI_STEPS.steps if value < bound), NDVI_STEPS.default)
        assert tuple(rgba[row, col]) == (*expected, 255)


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_non_finite_channel_makes_the_pixel_transparent(bands, valid, bad):
    bands["B03"][4, 4] = bad
    spec = RenderSpec((_e("B04"), _e("B03 * 2"), _e("B02")), (HIGHLIGHT,) * 3)
    rgba = render(spec, bands, valid)
    assert tuple(rgba[4, 4]) == (0, 0, 0, 0)
    assert rgba[4, 5, 3] == 255


def test_fourth_expression_is_alpha(bands, valid):
    spec = RenderSpec((_e("B04"), _e("B03"), _e("B02"), _e("B08")), (HIGHLIGHT,) * 3 + (Stretch("linear", 0.0, 0.9),))
    rgba = render(spec, bands, valid)
    expected_alpha = np.rint(np.clip(bands["B08"] / 0.9, 0, 1) * 255).astype(np.uint8)
    np.testing.assert_array_equal(rgba[valid, 3], expected_alpha[valid])
    assert not rgba[~valid].any()


def test_single_band_without_colormap_is_grey_and_clipped(bands, valid):
    bands["B04"][5, 5] = 300.0  # must not wrap around
    rgba = render(RenderSpec((_e("B04"),), (Stretch("linear", 0.0, 0.9),)), bands, valid)
    expected = np.rint(np.clip(bands["B04"] / 0.9, 0, 1) * 255).astype(np.uint8)
    for channel in range(3):
        np.testing.assert_array_equal(rgba[valid, channel], expected[valid])
    assert tuple(rgba[5, 5]) == (255, 255, 255, 255)


def test_lut_colours_the_stretched_value(bands, valid):
    viridis = named_colormap("viridis")
    spec = RenderSpec((_e("B04"),), (Stretch("linear", 0.0, 0.9),), viridis)
    rgba = render(spec, bands, valid)
    index = np.rint(np.clip(bands["B04"] / 0.9, 0, 1) * 255).astype(int)
    expected = np.array(viridis.colors, np.uint8)[index]
    np.testing.assert_array_equal(rgba[valid, :3], expected[valid])


def test_classes_leave_unlisted_values_transparent(valid):
    scl = np.array([[4, 6, 12, 4.5, 0, 4, 4, 4]] * 8, np.float32)
    classes = Classes(((0, "No data", (0, 0, 0)), (4, "Vegetation", (0, 160, 0)), (6, "Water", (0, 0, 255))))
    rgba = render(RenderSpec((_e("SCL"),), (HIGHLIGHT,), classes), {"SCL": scl}, np.ones((8, 8), bool))
    assert tuple(rgba[0, 0]) == (0, 160, 0, 255)
    assert tuple(rgba[0, 1]) == (0, 0, 255, 255)
    assert tuple(rgba[0, 2]) == (0, 0, 0, 0)  # unlisted class 12
    assert tuple(rgba[0, 3]) == (0, 0, 0, 0)  # not an integer
    assert tuple(rgba[0, 4]) == (0, 0, 0, 255)  # class 0 is listed, in black


def test_ndwi_value_transform():
    ramp = Ramp(((-1.0, (0, 128, 0)), (0.0, (255, 255, 255)), (1.0, (0, 0, 204))))
    green, white, blue = (np.array(colour) for _, colour in ramp.stops)
    spec = RenderSpec(
        (_e("(B03 - B08) / (B03 + B08)"),),
        (Stretch("linear", -1.0, 1.0),),
        ramp,
        parse_expression("where(v < 0, v, sqrt(sqrt(v)))", {"v"}),
    )
    b03 = np.array([[0.1, 0.3, 0.2, 0.2, 0.0]], np.float32)
    b08 = np.array([[0.3, 0.1, 0.2, 0.1, 0.3]], np.float32)
    rgba = render(spec, {"B03": b03, "B08": b08}, np.ones(b03.shape, bool))

    ndwi = ((b03 - b08) / (b03 + b08)).astype(np.float64)[0]
    for col, value in enumerate(ndwi):
        if value < 0:  # white to green on -value
            expected = white + (green - white) * -value
        else:  # white to blue on value ** (1/4)
            expected = white + (blue - white) * value**0.25
        np.testing.assert_allclose(rgba[0, col, :3], expected, atol=0.5 + 1e-3)
        assert rgba[0, col, 3] == 255


def test_evaluate_values_are_raw_and_nan_where_invalid(bands, valid):
    spec = RenderSpec((NDVI,), (HIGHLIGHT,), Ramp(((0.0, (0, 0, 0)),)), parse_expression("v * 100", {"v"}))
    (values,) = evaluate_values(spec, bands, valid)
    assert values.dtype == np.float32
    assert np.isnan(values[~valid]).all()
    expected = (bands["B08"] - bands["B04"]) / (bands["B08"] + bands["B04"])
    np.testing.assert_allclose(values[valid], expected[valid], rtol=1e-6)  # no transform


def test_constant_expression_takes_the_mask_shape(valid):
    spec = RenderSpec((_e("0.2"), _e("0.2"), _e("0.2")), (HIGHLIGHT,) * 3)
    rgba = render(spec, {}, valid)
    assert rgba.shape == (8, 8, 4)
    assert tuple(rgba[0, 5]) == (128, 128, 128, 255)
    assert not rgba[~valid].any()


def test_missing_band_is_an_expression_error(bands, valid):
    del bands["B08"]
    with pytest.raises(ExpressionError, match="missing band 'B08'"):
        render(RenderSpec((NDVI,), (HIGHLIGHT,)), bands, valid)


def test_bands_property():
    spec = RenderSpec((NDVI, _e("B03"), _e("1")), (HIGHLIGHT,) * 3)
    assert spec.bands == {"B04", "B08", "B03"}
    ndwi = RenderSpec((NDVI,), (HIGHLIGHT,), None, parse_expression("sqrt(v)", {"v"}))
    assert ndwi.bands == {"B04", "B08"}


@pytest.mark.parametrize(
    "build",
    [
        lambda: RenderSpec((NDVI, NDVI), (HIGHLIGHT,) * 2),
        lambda: RenderSpec((NDVI,), ()),
        lambda: RenderSpec((NDVI,) * 3, (HIGHLIGHT,) * 3, NDVI_STEPS),
        lambda: RenderSpec((NDVI,) * 3, (HIGHLIGHT,) * 3, None, parse_expression("v", {"v"})),
        lambda: RenderSpec((NDVI,), (HIGHLIGHT,), None, NDVI),
    ],
)
def test_invalid_specs(build):
    with pytest.raises(ValueError):
        build()
