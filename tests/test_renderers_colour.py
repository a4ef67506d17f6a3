import numpy as np
import pytest
from rio_tiler.colormap import cmap as rio_cmaps

from renderers.colour import (
    Classes,
    Lut,
    Ramp,
    Steps,
    Stretch,
    apply_colormap,
    named_colormap,
    named_colormaps,
    parse_hex,
    stretch,
)

HIGHLIGHT = Stretch("highlight", 0.0, 0.4)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (-0.1, 0.0),
        (0.0, 0.0),
        (0.2, 0.5),
        (0.368, 0.92),  # x = 0.92: the knee
        (0.4, 0.92 + 0.08 * 0.08 / 1.08),  # about 0.926
        (0.8, 1.0),  # 2 * max - min
        (5.0, 1.0),
    ],
)
def test_highlight_stretch_anchor_points(value, expected):
    result = stretch(np.array([value], np.float32), HIGHLIGHT)
    assert result.dtype == np.float32
    assert result[0] == pytest.approx(expected, abs=1e-6)


def test_highlight_stretch_matches_the_formula():
    values = np.linspace(-0.2, 1.0, 1001, dtype=np.float32)
    x = (values.astype(np.float64) - 0.0) / 0.4
    expected = np.clip(np.where(x < 0.92, x, 0.92 + (x - 0.92) * 0.08 / 1.08), 0, 1)
    np.testing.assert_allclose(stretch(values, HIGHLIGHT), expected, atol=1e-6)


def test_linear_stretch_clips_and_keeps_nan():
    values = np.array([np.nan, -5.0, 1000.0, 1500.0, 2000.0, 300000.0], np.float32)
    result = stretch(values, Stretch("linear", 1000.0, 2000.0))
    assert result.dtype == np.float32
    np.testing.assert_array_equal(result, [np.nan, 0.0, 0.0, 0.5, 1.0, 1.0])


@pytest.mark.parametrize(
    ("kind", "low", "high"),
    [("gamma", 0.0, 1.0), ("linear", 1.0, 1.0), ("linear", 1.0, 0.0), ("linear", 0.0, float("inf"))],
)
def test_invalid_stretch(kind, low, high):
    with pytest.raises(ValueError):
        Stretch(kind, low, high)  # type: ignore[arg-type]


# The first bounds of EO Browser's NDVI palette.
NDVI_STEPS = Steps(
    steps=((-0.5, (13, 13, 13)), (-0.2, (191, 191, 191)), (0.0, (235, 235, 235))),
    default=(0, 69, 0),
)


@pytest.mark.parametrize(
    ("value", "colour"),
    [
        (-0.9, (13, 13, 13)),
        (-0.5001, (13, 13, 13)),
        (-0.5, (191, 191, 191)),  # value < bound: a value on the bound takes the next colour
        (-0.2001, (191, 191, 191)),
        (-0.2, (235, 235, 235)),
        (-0.0001, (235, 235, 235)),
        (0.0, (0, 69, 0)),
        (300.0, (0, 69, 0)),
    ],
)
def test_steps_on_both_sides_of_a_bound(value, colour):
    rgb, has_colour = apply_colormap(np.array([[value]], np.float32), NDVI_STEPS)
    assert rgb.dtype == np.uint8
    assert rgb.shape == (1, 1, 3)
    assert tuple(rgb[0, 0]) == colour
    assert has_colour[0, 0]


RAMP = Ramp(((0.0, (0, 0, 0)), (10.0, (200, 100, 50)), (20.0, (255, 255, 255))))


def test_ramp_interpolates_and_clamps():
    values = np.array([-5.0, 0.0, 5.0, 10.0, 15.0, 20.0, 300.0], np.float32)
    rgb, has_colour = apply_colormap(values, RAMP)
    expected = np.array(
        [
            [0, 0, 0],
            [0, 0, 0],
            [100, 50, 25],  # midpoint
            [200, 100, 50],
            [228, 178, 152],  # halfway from (200, 100, 50) to white, rounded
            [255, 255, 255],
            [255, 255, 255],  # clamped, not wrapped
        ],
        np.uint8,
    )
    np.testing.assert_array_equal(rgb, expected)
    assert has_colour.all()


def test_ramp_matches_numpy_interp():
    values = np.random.default_rng(1).uniform(-2, 22, (32, 32)).astype(np.float32)
    rgb, _ = apply_colormap(values, RAMP)
    for channel in range(3):
        expected = np.interp(values, [0, 10, 20], [[0, 200, 255], [0, 100, 255], [0, 50, 255]][channel])
        np.testing.assert_array_equal(rgb[..., channel], np.rint(expected).astype(np.uint8))


SCL = Classes(((4, "Vegetation", (0, 160, 0)), (6, "Water", (0, 0, 255)), (0, "No data", (0, 0, 0))))


def test_classes_hit_and_miss():
    values = np.array([4.0, 6.0, 0.0, 5.0, 4.5, 300.0, -5.0, np.nan], np.float32)
    rgb, has_colour = apply_colormap(values, SCL)
    np.testing.assert_array_equal(has_colour, [True, True, True, False, False, False, False, False])
    np.testing.assert_array_equal(rgb[:3], [[0, 160, 0], [0, 0, 255], [0, 0, 0]])
    assert not rgb[3:].any()


def test_empty_classes_colour_nothing():
    rgb, has_colour = apply_colormap(np.ones((2, 2), np.float32), Classes(()))
    assert rgb.shape == (2, 2, 3)
    assert not has_colour.any()


def test_named_lut_is_rio_tilers_table():
    lut = named_colormap("viridis")
    assert isinstance(lut, Lut)
    assert lut.name == "viridis"
    assert len(lut.colors) == 256
    reference = rio_cmaps.get("viridis")
    assert all(lut.colors[i] == tuple(int(c) for c in reference[i][:3]) for i in range(256))


def test_lut_maps_unit_values_to_entries():
    lut = named_colormap("greys")
    values = np.array([0.0, 0.5, 1.0, -5.0, 300.0, np.nan, np.inf], np.float32)
    rgb, has_colour = apply_colormap(values, lut)
    expected = [lut.colors[0], lut.colors[128], lut.colors[255], lut.colors[0], lut.colors[255]]
    np.testing.assert_array_equal(rgb[:5], expected)
    np.testing.assert_array_equal(has_colour, [True] * 5 + [False] * 2)
    assert not rgb[5:].any()


def test_unknown_colormap_lists_valid_names():
    with pytest.raises(ValueError, match="unknown colour map 'nope'.*accent"):
        named_colormap("nope")


def test_named_colormaps():
    names = named_colormaps()
    assert names == sorted(names)
    assert {"viridis", "rdylgn", "greys"} <= set(names)


def test_no_uint8_wraparound():
    values = np.array([300.0, -5.0], np.float32)
    grey_ramp = Ramp(((0.0, (0, 0, 0)), (255.0, (255, 255, 255))))
    rgb, _ = apply_colormap(values, grey_ramp)
    np.testing.assert_array_equal(rgb[:, 0], [255, 0])  # 300 would wrap to 44 with astype(uint8)


@pytest.mark.parametrize("cmap", [RAMP, NDVI_STEPS, SCL, Lut("grey", tuple((i, i, i) for i in range(256)))])
def test_non_finite_values_never_get_a_colour(cmap):
    rgb, has_colour = apply_colormap(np.array([np.nan, np.inf, -np.inf], np.float32), cmap)
    assert not has_colour.any()
    assert not rgb.any()


def test_parse_hex():
    assert parse_hex("#0000CC") == (0, 0, 204)
    assert parse_hex("ff8000") == (255, 128, 0)
    for bad in ("#fff", "0x00ff00", "#gg0000", "#00ff00 ", "#00_ff00"):
        with pytest.raises(ValueError, match="invalid colour"):
            parse_hex(bad)


@pytest.mark.parametrize(
    "build",
    [
        lambda: Ramp(()),
        lambda: Ramp(((1.0, (0, 0, 0)), (0.0, (0, 0, 0)))),
        lambda: Ramp(((0.0, (0, 0, 300)),)),
        lambda: Steps(((0.0, (0, 0, 0)), (0.0, (1, 1, 1))), (0, 0, 0)),
        lambda: Steps((), (0, 0)),  # type: ignore[arg-type]
        lambda: Classes(((1, "a", (0, 0, 0)), (1, "b", (1, 1, 1)))),
        lambda: Lut("short", ((0, 0, 0),)),
    ],
)
def test_invalid_colormaps(build):
    with pytest.raises(ValueError):
        build()
