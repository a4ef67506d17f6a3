"""The hillshade against independent computations: ESRI's published slope/aspect formula over numpy's
own gradient, planes whose light is known in closed form, and geographic grids whose pixels are ten
times as tall as they are wide."""

from __future__ import annotations

import math

import numpy as np
import pytest

from renderers import Hillshade, RenderSpec, Stretch, hillshade, parse_expression, render

SUN = Hillshade(azimuth=315.0, altitude=45.0)


def esri_hillshade(z: np.ndarray, cell: float, azimuth: float, altitude: float) -> np.ndarray:
    """ESRI's "How Hillshade works": slope and aspect in radians from dz/dx, dz/dy (x east, y south),
    here from numpy's central differences rather than a 3 x 3 kernel."""
    dz_dy, dz_dx = np.gradient(z, cell)  # axis 0 runs south, axis 1 east
    zenith = math.radians(90 - altitude)
    azimuth_math = math.radians((360 - azimuth + 90) % 360)
    slope = np.arctan(np.hypot(dz_dx, dz_dy))
    aspect = np.arctan2(dz_dy, -dz_dx)
    aspect = np.where(aspect < 0, aspect + 2 * math.pi, aspect)
    shade = np.cos(zenith) * np.cos(slope) + np.sin(zenith) * np.sin(slope) * np.cos(azimuth_math - aspect)
    return np.clip(shade, 0, 1)[1:-1, 1:-1]


def plane_light(east_slope: float, north_slope: float, azimuth: float, altitude: float) -> float:
    """cos of the angle between a plane's normal and the sun, written out from the vectors."""
    normal = np.array([-east_slope, -north_slope, 1.0]) / math.sqrt(1 + east_slope**2 + north_slope**2)
    a, h = math.radians(azimuth), math.radians(altitude)
    sun = np.array([math.sin(a) * math.cos(h), math.cos(a) * math.cos(h), math.sin(h)])
    return max(0.0, float(normal @ sun))


def test_a_smooth_hill_matches_the_slope_and_aspect_formula() -> None:
    cell = 30.0
    y, x = np.mgrid[0:120, 0:140] * cell
    z = 800 * np.exp(-(((x - 2100) / 900) ** 2 + ((y - 1800) / 700) ** 2)) + 0.05 * x
    ours = hillshade(z, np.full((120, 1), cell), np.full((120, 1), cell), SUN)
    expected = esri_hillshade(z, cell, 315.0, 45.0)
    assert ours.shape == (118, 138) and ours.dtype == np.float32
    assert np.abs(ours - expected).max() < 0.01
    # The north-west flank faces the sun, the south-east one turns away from it.
    assert ours[40, 50] > math.sin(math.radians(45)) > ours[80, 90]


@pytest.mark.parametrize(
    "east, north, azimuth, altitude",
    [(0.0, 0.0, 315, 45), (-1.0, 0.0, 270, 45), (0.5, -0.5, 315, 30), (2.0, 1.0, 315, 45), (0.3, 0.2, 90, 60)],
)
def test_planes_get_the_light_of_their_normal(east, north, azimuth, altitude) -> None:
    cell = 25.0
    rows, cols = np.mgrid[0:8, 0:9]
    z = east * cols * cell - north * rows * cell  # rows run south
    shade = hillshade(z, np.full((8, 1), cell), np.full((8, 1), cell), Hillshade(azimuth, altitude))
    assert np.allclose(shade, plane_light(east, north, azimuth, altitude), atol=1e-6)


def test_geographic_pixels_near_the_pole_keep_true_slopes() -> None:
    """The polar GLO-90 grid: 30 arc-seconds wide, 3 tall, at 89 degrees south. A plane rising 4 m
    per 10 m eastwards on the ground is lit the same in every row, though a pixel there is about
    16 m wide and 93 m tall."""
    lat = -89.0 - (np.arange(40) + 0.5) * (3 / 3600)
    lon = -164 + (np.arange(30) + 0.5) * (30 / 3600)
    radius = 6_371_008.8
    # Ground metres east and north of the grid's middle.
    east_m = np.radians(lon - lon.mean())[None, :] * radius * np.cos(np.radians(lat))[:, None]
    north_m = np.radians(lat - lat.mean())[:, None] * radius * np.ones((1, 30))
    z = 0.4 * east_m + 0.02 * north_m
    dx = np.radians(30 / 3600) * radius * np.cos(np.radians(lat))[:, None]
    dy = np.full((40, 1), np.radians(3 / 3600) * radius)
    shade = hillshade(z, dx, dy, SUN)
    assert np.allclose(shade, plane_light(0.4, 0.02, 315, 45), atol=2e-3)
    # Spacing taken as if the pixels were square in degrees gets the slope wrong by far.
    wrong = hillshade(z, dy, dy, SUN)
    assert abs(float(wrong.mean()) - plane_light(0.4, 0.02, 315, 45)) > 0.05


def test_no_data_darkens_nothing_but_its_neighbours() -> None:
    z = np.zeros((10, 10))
    z[4, 4] = np.nan
    shade = hillshade(z, np.full((10, 1), 30.0), np.full((10, 1), 30.0), SUN)
    assert np.isnan(shade[2:5, 2:5]).all() and np.isfinite(shade).sum() == 64 - 9
    assert np.allclose(shade[np.isfinite(shade)], math.sin(math.radians(45)))


def test_render_draws_the_inner_pixels_in_grey() -> None:
    spec = RenderSpec((parse_expression("DEM", {"DEM"}),), (Stretch("linear", 0.0, 1.0),), relief=SUN)
    assert spec.margin == 1
    z = np.zeros((6, 7), dtype=np.float32)
    rgba = render(spec, {"DEM": z}, np.ones(z.shape, bool), (np.full((6, 1), 30.0), np.full((6, 1), 30.0)))
    assert rgba.shape == (4, 5, 4)
    assert (rgba[..., 0] == round(math.sin(math.radians(45)) * 255)).all() and (rgba[..., 3] == 255).all()
    with pytest.raises(ValueError, match="spacing"):
        render(spec, {"DEM": z}, np.ones(z.shape, bool))
