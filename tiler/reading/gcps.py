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

_PLACEMENTS = 64  # files whose splines are kept
_CHECKS = 9  # points per side of an output part where an affine stand-in for the spline is checked
_TOLERANCE = 0.125  # pixels: GDAL's default error threshold for approximating a warp's transformer
# At most 4 parts: each costs a warp call (0.4 to 0.6 ms) and a check (0.25 ms), against the
# spline's 8 ms; measured, 16 parts cost more than the spline.
_QUARTERINGS = 1
_MIN_PART = 16  # pixels: parts are not quartered below this
# Points per side of the output where the spline is evaluated: every part's checks among them.
_GRID = (_CHECKS - 1) * 2**_QUARTERINGS + 1

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
Span = tuple[int, int, int, int]  # first and last row, first and last column of the sample grid


@dataclass(frozen=True)
class _Samples:
    """The spline at a grid of points over the output: their output pixel coordinates across (`u`)
    and down (`v`), and the file pixel (`rows`, `cols`, fractional) under each."""

    u: np.ndarray  # (n,)
    v: np.ndarray  # (n,)
    rows: np.ndarray  # (n, n)
    cols: np.ndarray  # (n, n)

    def part(self, span: Span) -> Part:
        i0, i1, j0, j1 = span
        col, row = round(self.u[j0]), round(self.v[i0])
        return col, row, round(self.u[j1]) - col, round(self.v[i1]) - row


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
    # One evaluation of the spline serves the window, the resolution and every part's check.
    u, v = np.linspace(0.0, width, _GRID), np.linspace(0.0, height, _GRID)
    across, down = np.meshgrid(u, v)
    rows, cols = place.pixels(*transform(crs, place.crs, *output.points(across.ravel(), down.ravel())))
    if not (np.isfinite(rows).all() and np.isfinite(cols).all()):
        return nothing
    samples = _Samples(u, v, rows.reshape(across.shape), cols.reshape(across.shape))
    col0, row0 = max(0, math.floor(cols.min()) - 1), max(0, math.floor(rows.min()) - 1)
    col1 = min(dataset.width, math.ceil(cols.max()) + 1)
    row1 = min(dataset.height, math.ceil(rows.max()) + 1)
    if col0 >= col1 or row0 >= row1:
        return nothing
    window = Window(col0, row0, col1 - col0, row1 - row0)
    # File pixels per output pixel along the output's rows and its columns: read no finer than
    # that, never coarser than the file.
    per_col = np.hypot(np.diff(samples.rows, axis=1), np.diff(samples.cols, axis=1)).sum(axis=1).mean() / width
    per_row = np.hypot(np.diff(samples.rows, axis=0), np.diff(samples.cols, axis=0)).sum(axis=0).mean() / height
    factor = max(1.0, min(float(per_col), float(per_row)))
    shape = (max(1, math.ceil(window.height / factor)), max(1, math.ceil(window.width / factor)))
    dn = dataset.read(1, window=window, out_shape=shape, resampling=resampling)
    frame = _Frame(row0, col0, window.height / shape[0], window.width / shape[1])
    values = to_values(
        dn,
        row0 + (np.arange(shape[0]) + 0.5) * frame.step_row - 0.5,
        col0 + (np.arange(shape[1]) + 0.5) * frame.step_col - 0.5,
    )
    parts = _affine_parts(samples, frame, (0, _GRID - 1, 0, _GRID - 1), _QUARTERINGS)
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


def _affine_parts(samples: _Samples, frame: _Frame, span: Span, quarterings: int) -> list[tuple[Part, Affine]] | None:
    """The output part `span` covers, in parts that each have an affine map to the window within
    tolerance; None when `quarterings` more quarterings would not suffice. An affine map's error
    shrinks with the square of the part's size (a quartering divides it by about 4): parts that
    could not get within tolerance are not tried."""
    part = samples.part(span)
    to_window, error = _affine_to_window(samples, frame, span, part)
    if error <= _TOLERANCE:
        return [(part, to_window)]
    if quarterings == 0 or error > _TOLERANCE * 4**quarterings or min(part[2], part[3]) < 2 * _MIN_PART:
        return None
    i0, i1, j0, j1 = span
    im, jm = (i0 + i1) // 2, (j0 + j1) // 2
    parts = []
    for quarter in ((i0, im, j0, jm), (i0, im, jm, j1), (im, i1, j0, jm), (im, i1, jm, j1)):
        found = _affine_parts(samples, frame, quarter, quarterings - 1)
        if found is None:
            return None
        parts += found
    return parts


def _affine_to_window(samples: _Samples, frame: _Frame, span: Span, part: Part) -> tuple[Affine, float]:
    """Pixel of `part` -> pixel of the window, as the affine map that fits the spline best at the
    `_CHECKS` x `_CHECKS` samples over the part, and its largest error there (window pixels)."""
    i0, i1, j0, j1 = span
    step_i, step_j = (i1 - i0) // (_CHECKS - 1), (j1 - j0) // (_CHECKS - 1)
    rows = samples.rows[i0 : i1 + 1 : step_i, j0 : j1 + 1 : step_j].ravel()
    cols = samples.cols[i0 : i1 + 1 : step_i, j0 : j1 + 1 : step_j].ravel()
    u, v = np.meshgrid(samples.u[j0 : j1 + 1 : step_j] - part[0], samples.v[i0 : i1 + 1 : step_i] - part[1])
    target = np.column_stack([(cols - frame.col0) / frame.step_col, (rows - frame.row0) / frame.step_row])
    design = np.column_stack([u.ravel(), v.ravel(), np.ones(u.size)])
    coefficients, *_ = np.linalg.lstsq(design, target, rcond=None)
    (a, d), (b, e), (c, f) = coefficients
    return Affine(a, b, c, d, e, f), float(np.abs(design @ coefficients - target).max())
