"""Sentinel-1 radiometric calibration: amplitude DN to backscatter in linear power.

ESA's calibration XML (`annotation/calibration/calibration-*.xml`) holds vectors of LUT values
(`sigmaNought`, `betaNought`, `gamma`), each at one image line and a list of pixels. The value of a
pixel is DN² / A², A the LUT interpolated bilinearly over (line, pixel): linearly along each
vector's pixels, then linearly between the vectors above and below the line. Without a calibration
XML, a band's value is DN² * scale (its collection's display scaling).
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from tiler.errors import ProductUnreadable
from tiler.products import BandAsset


@dataclass(frozen=True)
class Lut:
    lines: np.ndarray  # float64, ascending, one per vector
    pixels: tuple[np.ndarray, ...]  # each vector's pixels, ascending
    values: tuple[np.ndarray, ...]  # each vector's LUT values at those pixels

    def at(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """A at every (row, col) of the grid `rows` x `cols` (image line and pixel numbers)."""
        along = np.stack([np.interp(cols, p, v) for p, v in zip(self.pixels, self.values, strict=True)])
        if len(self.lines) == 1:
            return np.broadcast_to(along[0], (len(rows), len(cols)))
        above = np.clip(np.searchsorted(self.lines, rows, side="right") - 1, 0, len(self.lines) - 2)
        span = self.lines[above + 1] - self.lines[above]
        weight = np.clip((rows - self.lines[above]) / span, 0.0, 1.0)[:, None]
        return along[above] * (1 - weight) + along[above + 1] * weight


def _numbers(element: ET.Element | None, what: str) -> np.ndarray:
    if element is None or not element.text:
        raise ValueError(f"a calibration vector has no {what}")
    return np.array(element.text.split(), dtype=np.float64)


def parse_lut(text: bytes, name: str) -> Lut:
    """The LUT `name` of a calibration XML's text."""
    root = ET.fromstring(text)
    vectors = []
    for vector in root.iter("calibrationVector"):
        line = vector.findtext("line")
        pixels, values = _numbers(vector.find("pixel"), "pixel"), _numbers(vector.find(name), name)
        if line is None or len(pixels) != len(values) or not len(pixels) or np.any(np.diff(pixels) <= 0):
            raise ValueError(f"a calibration vector's line, pixels and {name} do not match")
        if np.any(values <= 0):
            raise ValueError(f"{name} values must be positive")
        vectors.append((float(line), pixels, values))
    if not vectors:
        raise ValueError("no calibrationVector")
    vectors.sort(key=lambda v: v[0])
    lines = np.array([v[0] for v in vectors])
    if np.any(np.diff(lines) <= 0):
        raise ValueError("calibration vectors must lie on distinct lines")
    return Lut(lines, tuple(v[1] for v in vectors), tuple(v[2] for v in vectors))


@lru_cache(maxsize=64)
def _cached_lut(path: str, name: str, _signature: tuple[int, int, int]) -> Lut:
    with open(path, "rb") as f:
        return parse_lut(f.read(), name)


def read_lut(path: str, name: str) -> Lut:
    """The LUT of a calibration file, parsed once for as long as the file is unchanged."""
    try:
        st = os.stat(path)
        return _cached_lut(path, name, (st.st_ino, st.st_size, st.st_mtime_ns))
    except (OSError, ValueError, ET.ParseError) as exc:
        raise ProductUnreadable(f"calibration {os.path.basename(path)} is unusable: {exc}") from exc


def intensity(
    band: BandAsset, dn: np.ndarray, rows: np.ndarray, cols: np.ndarray, file_size: tuple[int, int]
) -> np.ndarray:
    """Backscatter (float32, linear power) of amplitude DN whose pixels are centred on lines `rows`
    and samples `cols` of a file of `file_size` (height, width) pixels (fractional where the window
    was read at a reduced resolution)."""
    power = np.square(dn.astype(np.float32))
    calibration = band.calibration
    if calibration is None:
        return power * np.float32(band.scale) + np.float32(band.offset)
    lut = read_lut(calibration.path, calibration.lut)
    if calibration.image_size is not None:  # the LUT counts the lines and pixels of the full image
        lines, samples = calibration.image_size
        height, width = file_size
        rows = (rows + 0.5) * (lines / height) - 0.5
        cols = (cols + 0.5) * (samples / width) - 0.5
    return power / np.square(lut.at(rows, cols)).astype(np.float32)
