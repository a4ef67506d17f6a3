"""Terrain shading: the light a sun casts on a surface of heights (a hillshade).

Slopes come from Horn's 3 x 3 differences, each pixel from its eight neighbours, so the output is one
pixel smaller on every side than the heights: callers read that margin around what they draw, and
tiles side by side shade seamlessly. Pixel spacings are ground distances in metres given per row,
because pixels of a geographic grid narrow towards the poles (a Copernicus DEM pixel at 89 degrees
south is ten times as tall as it is wide on the ground).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

__all__ = ["Hillshade", "hillshade"]


@dataclass(frozen=True)
class Hillshade:
    """A sun at `azimuth` degrees clockwise from north and `altitude` degrees above the horizon;
    heights multiplied by `z_factor` (exaggeration)."""

    azimuth: float = 315.0
    altitude: float = 45.0
    z_factor: float = 1.0
    margin: ClassVar[int] = 1  # pixels of heights needed on each side of the output

    def __post_init__(self) -> None:
        if not (math.isfinite(self.azimuth) and 0 <= self.altitude <= 90 and math.isfinite(self.z_factor)):
            raise ValueError("a hillshade needs a finite azimuth, an altitude of 0 to 90 degrees and a finite z_factor")


def hillshade(heights: np.ndarray, dx: np.ndarray, dy: np.ndarray, sun: Hillshade) -> np.ndarray:
    """Illumination 0..1 of the inner pixels of `heights` (H x W, rows from north to south): float32,
    (H - 2) x (W - 2), NaN where any of a pixel's 3 x 3 heights is NaN.

    `dx` and `dy` are the ground distances in metres from a pixel to its east and its south
    neighbour, broadcastable to H x W (one value per row is enough for geographic and Web Mercator
    grids). 1 is a face turned full to the sun, 0 one turned away or in its own shadow; flat ground
    gets sin(altitude)."""
    z = np.asarray(heights, dtype=np.float64) * sun.z_factor
    if z.ndim != 2 or z.shape[0] < 3 or z.shape[1] < 3:
        raise ValueError(f"a hillshade needs at least 3 x 3 heights, not {z.shape}")
    dx = np.broadcast_to(np.asarray(dx, dtype=np.float64), z.shape)
    dy = np.broadcast_to(np.asarray(dy, dtype=np.float64), z.shape)
    # Eastward slope: a central difference in each row over that row's own spacing, then the three
    # rows weighted 1-2-1 (Horn). Northward slope likewise, rows above minus rows below.
    east = (z[:, 2:] - z[:, :-2]) / (dx[:, :-2] + dx[:, 1:-1])
    dz_east = (east[:-2] + 2 * east[1:-1] + east[2:]) / 4
    north = (z[:-2] - z[2:]) / (dy[:-2] + dy[1:-1])
    dz_north = (north[:, :-2] + 2 * north[:, 1:-1] + north[:, 2:]) / 4
    azimuth, altitude = math.radians(sun.azimuth), math.radians(sun.altitude)
    # The surface normal (-dz_east, -dz_north, 1) against the unit vector towards the sun.
    towards_sun = (
        -dz_east * math.sin(azimuth) * math.cos(altitude)
        - dz_north * math.cos(azimuth) * math.cos(altitude)
        + math.sin(altitude)
    )
    shade = towards_sun / np.sqrt(1 + dz_east**2 + dz_north**2)
    # Horn's kernel skips the centre: a pixel without a height of its own gets no light either.
    shade[np.isnan(z[1:-1, 1:-1])] = np.nan
    return np.clip(shade, 0.0, 1.0).astype(np.float32)
