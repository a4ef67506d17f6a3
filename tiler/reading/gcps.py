"""Band files placed by ground control points alone (Sentinel-1's measurement TIFFs: no
geotransform, a grid of GCPs in EPSG:4326), read onto any output grid.

The placement is GDAL's thin-plate spline through every GCP (`SRC_METHOD=GCP_TPS`): it passes
through each GCP exactly. GDAL's default for GCPs, a polynomial (of order 3 for 210 GCPs), misses
the IW sample's own GCPs by 94 m on average and 190 m at worst (a pixel of the 20x downsampled
sample, 19 of the original), because the GCPs follow the terrain's heights.

As for files with a geotransform (`tiler.reading.bands`), the window under the output is read once
at the resolution the output needs, converted to physical values there (a calibration LUT counts
the file's own lines and pixels), then warped in memory. The window is found with the spline's
inverse, built once per file and kept.

The warp: GDAL solves a spline again for every warp it is given GCPs for (8 ms for 210 GCPs, most
of a tile's time). Over a tile, though, the spline is nearly affine: where an affine map from output
pixels to file pixels stays within GDAL's own approximation tolerance (an eighth of a pixel) of the
kept spline at a grid of points, the warp takes that map; where the spline bends more, the output is
quartered, as GDAL's approximating transformer splits its rows, each part with its own map. Only
when a few quarterings do not suffice (an output over much of a swath) does GDAL warp with the
spline itself, from every GCP moved into the window's pixel frame. Every part of every tile follows
the one spline of the file, so neighbouring tiles meet without seams.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from affine import Affine
from cachetools import LRUCache
from rasterio.control import GroundControlPoint
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.io import DatasetReader
from rasterio.transform import GCPTransformer
from rasterio.transform import from_bounds as from_bounds_transform
from rasterio.warp import reproject, transform
from rasterio.windows import Window

_EDGE_POINTS = 21  # output boundary points per side whose file pixels bound the window to read
_PLACEMENTS = 64  # files whose splines are kept
_CHECKS = 9  # points per side of an output part where an affine stand-in for the spline is checked
_TOLERANCE = 0.125  # pixels: GDAL's default error threshold for approximating a warp's transformer
# At most 4 parts: each costs a warp call (0.4 to 0.6 ms) and a check (0.25 ms), against the
# spline's 8 ms; measured, 16 parts cost more than the spline.
_QUARTERINGS = 1
_MIN_PART = 16  # pixels: parts are not quartered below this

# (DN window, line numbers of its rows, sample numbers of its columns) -> float32 values, NaN for no data
ToValues = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
BBox = tuple[float, float, float, float]


class Placement:
    """A file's GCPs and the inverse of their spline (GCP CRS -> file pixel)."""

    def __init__(self, gcps: list[GroundControlPoint], crs: CRS) -> None:
        self.gcps = tuple(gcps)
        self.crs = crs
        self._spline = GCPTransformer(gcps, tps=True)
        self._lock = threading.Lock()  # a GDAL transformer is not known to be safe across threads

    def pixels(self, xs: list[float], ys: list[float]) -> tuple[np.ndarray, np.ndarray]:
        """Fractional (rows, cols) of points in the GCPs' CRS."""
        with self._lock:
            rows, cols = self._spline.rowcol(xs, ys, op=float)
        return np.asarray(rows, dtype=np.float64), np.asarray(cols, dtype=np.float64)

    def close(self) -> None:
        with self._lock:
            self._spline.close()


class _Placements(LRUCache):
    """Placements by file (path, inode, size, mtime): a changed file gets a new one."""

    def popitem(self):
        key, place = super().popitem()
        place.close()
        return key, place


_placements = _Placements(maxsize=_PLACEMENTS)
_placements_lock = threading.Lock()


def placement(dataset: DatasetReader) -> Placement | None:
    """The file's placement by its GCPs; None for a file with a geotransform (or nothing at all)."""
    if dataset.crs is not None:
        return None
    st = os.stat(dataset.name)
    key = (dataset.name, st.st_ino, st.st_size, st.st_mtime_ns)
    with _placements_lock:
        found = _placements.get(key)
    if found is None:
        gcps, crs = dataset.gcps
        if not gcps or crs is None:
            return None
        found = Placement(gcps, crs)
        with _placements_lock:
            _placements[key] = found
    return found


@dataclass(frozen=True)
class _Output:
    bounds: BBox
    crs: CRS
    width: int
    height: int

    def points(self, cols: np.ndarray, rows: np.ndarray) -> tuple[list[float], list[float]]:
        """Output pixel coordinates (0..width, 0..height) to coordinates in the output CRS."""
        left, bottom, right, top = self.bounds
        xs = left + cols * (right - left) / self.width
        ys = top - rows * (top - bottom) / self.height
        return xs.tolist(), ys.tolist()

    def part_bounds(self, part: Part) -> BBox:
        col, row, width, height = part
        (left, right), (top, bottom) = self.points(np.array([col, col + width]), np.array([row, row + height]))
        return left, bottom, right, top


Part = tuple[int, int, int, int]  # column, row, width, height of part of the output


@dataclass(frozen=True)
class _Frame:
    """The window read: its first row and column in the file, file pixels per window pixel."""

    row0: int
    col0: int
    step_row: float
    step_col: float


def read_placed(
    dataset: DatasetReader,
    place: Placement,
    bounds: BBox,
    crs: CRS,
    width: int,
    height: int,
    resampling: Resampling,
    to_values: ToValues,
) -> tuple[np.ndarray, np.ndarray]:
    """One band on the output grid (float32, NaN where nothing is) and where it has data."""
    output = _Output(bounds, crs, width, height)
    dst = np.full((height, width), np.nan, dtype=np.float32)
    nothing = (dst, np.zeros((height, width), dtype=bool))
    t = np.linspace(0.0, 1.0, _EDGE_POINTS)
    zeros, ones = np.zeros_like(t), np.ones_like(t)
    # Top, bottom (left to right), left, right (top down) sides, in output pixels.
    edge_cols = np.concatenate([t, t, zeros, ones]) * width
    edge_rows = np.concatenate([zeros, ones, t, t]) * height
    rows, cols = place.pixels(*transform(crs, place.crs, *output.points(edge_cols, edge_rows)))
    if not (np.isfinite(rows).all() and np.isfinite(cols).all()):
        return nothing
    col0, row0 = max(0, math.floor(cols.min()) - 1), max(0, math.floor(rows.min()) - 1)
    col1 = min(dataset.width, math.ceil(cols.max()) + 1)
    row1 = min(dataset.height, math.ceil(rows.max()) + 1)
    if col0 >= col1 or row0 >= row1:
        return nothing
    window = Window(col0, row0, col1 - col0, row1 - row0)

    def file_pixels_per_output_pixel(side: int, output_pixels: int) -> float:
        r, c = (a[side * _EDGE_POINTS : (side + 1) * _EDGE_POINTS] for a in (rows, cols))
        return float(np.hypot(np.diff(r), np.diff(c)).sum()) / output_pixels

    # Read no finer than the output needs along its rows and its columns, never coarser than the file.
    across = (file_pixels_per_output_pixel(0, width) + file_pixels_per_output_pixel(1, width)) / 2
    down = (file_pixels_per_output_pixel(2, height) + file_pixels_per_output_pixel(3, height)) / 2
    factor = max(1.0, min(across, down))
    shape = (max(1, math.ceil(window.height / factor)), max(1, math.ceil(window.width / factor)))
    dn = dataset.read(1, window=window, out_shape=shape, resampling=resampling)
    frame = _Frame(row0, col0, window.height / shape[0], window.width / shape[1])
    values = to_values(
        dn,
        row0 + (np.arange(shape[0]) + 0.5) * frame.step_row - 0.5,
        col0 + (np.arange(shape[1]) + 0.5) * frame.step_col - 0.5,
    )
    parts = _affine_parts(place, output, (0, 0, width, height), frame, _QUARTERINGS)
    if parts is None:
        gcps = [
            GroundControlPoint(
                row=(g.row - row0) / frame.step_row, col=(g.col - col0) / frame.step_col, x=g.x, y=g.y, z=g.z
            )
            for g in place.gcps
        ]
        _warp(values, dst, bounds, crs, resampling, gcps=gcps, src_crs=place.crs, SRC_METHOD="GCP_TPS")
        return dst, ~np.isnan(dst)
    for part, to_window in parts:
        col, row, part_width, part_height = part
        part_bounds = output.part_bounds(part)
        out = dst if (part_width, part_height) == (width, height) else np.empty((part_height, part_width), np.float32)
        # Window pixels -> output pixels -> output CRS: one affine map, and no spline, for GDAL to warp with.
        to_crs = from_bounds_transform(*part_bounds, part_width, part_height) * ~to_window
        _warp(values, out, part_bounds, crs, resampling, src_transform=to_crs, src_crs=crs)
        if out is not dst:
            dst[row : row + part_height, col : col + part_width] = out
    return dst, ~np.isnan(dst)


def _warp(values: np.ndarray, out: np.ndarray, bounds: BBox, crs: CRS, resampling: Resampling, **georeference) -> None:
    height, width = out.shape
    out.fill(np.nan)
    reproject(
        values, out, src_nodata=np.nan, dst_transform=from_bounds_transform(*bounds, width, height), dst_crs=crs,
        dst_nodata=np.nan, resampling=resampling, **georeference,
    )  # fmt: skip


def _affine_parts(
    place: Placement, output: _Output, part: Part, frame: _Frame, quarterings: int
) -> list[tuple[Part, Affine]] | None:
    """`part` of the output in parts that each have an affine map to the window within tolerance;
    None when `quarterings` more quarterings would not suffice. An affine map's error shrinks with
    the square of the part's size (a quartering divides it by about 4): parts that could not get
    within tolerance are not tried."""
    to_window, error = _affine_to_window(place, output, part, frame)
    if error <= _TOLERANCE:
        return [(part, to_window)]
    col, row, width, height = part
    if error > _TOLERANCE * 4**quarterings or min(width, height) < 2 * _MIN_PART:
        return None
    half_w, half_h = width // 2, height // 2
    parts = []
    for quarter in (
        (col, row, half_w, half_h),
        (col + half_w, row, width - half_w, half_h),
        (col, row + half_h, half_w, height - half_h),
        (col + half_w, row + half_h, width - half_w, height - half_h),
    ):
        found = _affine_parts(place, output, quarter, frame, quarterings - 1)
        if found is None:
            return None
        parts += found
    return parts


def _affine_to_window(place: Placement, output: _Output, part: Part, frame: _Frame) -> tuple[Affine, float]:
    """Pixel of `part` -> pixel of the window, as the affine map that fits the spline best at a
    grid of points over the part, and its largest error there (window pixels)."""
    col, row, width, height = part
    u, v = (a.ravel() for a in np.meshgrid(np.linspace(0, width, _CHECKS), np.linspace(0, height, _CHECKS)))
    rows, cols = place.pixels(*transform(output.crs, place.crs, *output.points(col + u, row + v)))
    target = np.column_stack([(cols - frame.col0) / frame.step_col, (rows - frame.row0) / frame.step_row])
    if not np.isfinite(target).all():
        return Affine.identity(), math.inf
    design = np.column_stack([u, v, np.ones_like(u)])
    coefficients, *_ = np.linalg.lstsq(design, target, rcond=None)
    (a, d), (b, e), (c, f) = coefficients
    return Affine(a, b, c, d, e, f), float(np.abs(design @ coefficients - target).max())
