"""Stretches and colour maps: float arrays in, uint8 colours plus a "has a colour" mask out.

Non-finite values never get a colour, and out-of-range values are clipped on purpose
rather than wrapped by a uint8 cast.
"""

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Literal, SupportsInt

import numpy as np
from rio_tiler.colormap import cmap as _rio_cmaps
from rio_tiler.errors import InvalidColorMapName

__all__ = [
    "RGB",
    "Classes",
    "Colormap",
    "Lut",
    "Ramp",
    "Steps",
    "Stretch",
    "apply_colormap",
    "named_colormap",
    "named_colormaps",
    "parse_hex",
    "stretch",
]

RGB = tuple[int, int, int]

# EO Browser's "highlight compression": linear up to 92 %, then compressed so that
# twice the maximum reaches 1 and cloud detail survives.
_KNEE = 0.92
_KNEE_SLOPE = 0.08 / 1.08

_HEX = re.compile(r"#?([0-9a-fA-F]{2})([0-9a-fA-F]{2})([0-9a-fA-F]{2})")


@dataclass(frozen=True)
class Stretch:
    """Map [min, max] to [0, 1], linearly or with EO Browser's highlight compression."""

    kind: Literal["linear", "highlight"]
    min: float
    max: float

    def __post_init__(self) -> None:
        if self.kind not in ("linear", "highlight"):
            raise ValueError(f"unknown stretch kind {self.kind!r}")
        if not (math.isfinite(self.min) and math.isfinite(self.max) and self.min < self.max):
            raise ValueError(f"stretch needs finite min < max, got {self.min}, {self.max}")


def stretch(values: np.ndarray, s: Stretch) -> np.ndarray:
    """Stretch to float32 in [0, 1]; nan stays nan."""
    x = (np.asarray(values, dtype=np.float32) - s.min) / (s.max - s.min)
    if s.kind == "highlight":
        x = np.where(x < _KNEE, x, _KNEE + (x - _KNEE) * _KNEE_SLOPE)
    return np.clip(x, 0.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class Ramp:
    """Linear interpolation between stops (in value units), clamped at both ends."""

    stops: tuple[tuple[float, RGB], ...]

    def __post_init__(self) -> None:
        if not self.stops:
            raise ValueError("a ramp needs at least one stop")
        values = [value for value, _ in self.stops]
        if any(b <= a for a, b in zip(values, values[1:])):
            raise ValueError("ramp stops must be strictly increasing")
        _check_finite(values)
        _check_colours(colour for _, colour in self.stops)


@dataclass(frozen=True)
class Steps:
    """The first bound with value < bound gives its colour; values past the last get `default`."""

    steps: tuple[tuple[float, RGB], ...]
    default: RGB

    def __post_init__(self) -> None:
        bounds = [bound for bound, _ in self.steps]
        if any(b <= a for a, b in zip(bounds, bounds[1:])):
            raise ValueError("step bounds must be strictly increasing")
        _check_finite(bounds)
        _check_colours([*(colour for _, colour in self.steps), self.default])


@dataclass(frozen=True)
class Classes:
    """Exact integer class values (value, label, colour); unlisted values get no colour. `codes`, if
    given, are what a legend shows for each class instead of its raster value (CORINE's three-digit
    codes for its grid codes 1-44)."""

    classes: tuple[tuple[int, str, RGB], ...]
    codes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        values = [value for value, _, _ in self.classes]
        if len(set(values)) != len(values):
            raise ValueError("class values must be unique")
        if not all(isinstance(value, int) for value in values):
            raise ValueError("class values must be integers")
        if self.codes and len(self.codes) != len(self.classes):
            raise ValueError("give a code for every class, or none")
        _check_colours(colour for _, _, colour in self.classes)

    @property
    def keys(self) -> tuple[str, ...]:
        """What names each class in a legend: its code, else its value."""
        return self.codes or tuple(str(value) for value, _, _ in self.classes)


@dataclass(frozen=True)
class Lut:
    """A 256-entry colour table for values already stretched to [0, 1]."""

    name: str
    colors: tuple[RGB, ...]

    def __post_init__(self) -> None:
        if len(self.colors) != 256:
            raise ValueError(f"colour table {self.name!r} has {len(self.colors)} entries, not 256")
        _check_colours(self.colors)


Colormap = Ramp | Steps | Classes | Lut


@cache  # a frozen value of a name among rio-tiler's ~200: built once (0.3 ms), not per request
def named_colormap(name: str) -> Lut:
    """A rio-tiler colour map (viridis, rdylgn, greys...) as a `Lut`; alpha is dropped."""
    try:
        table = _rio_cmaps.get(name)
    except InvalidColorMapName:
        examples = ", ".join(sorted(_rio_cmaps.list())[:5])
        raise ValueError(f"unknown colour map {name!r}; valid names include {examples}") from None
    if not isinstance(table, dict) or sorted(table) != list(range(256)):
        raise ValueError(f"colour map {name!r} is not a 256-entry colour table")
    return Lut(name=name, colors=tuple(_rgb(table[i][:3]) for i in range(256)))


def named_colormaps() -> list[str]:
    """The names `named_colormap` accepts, sorted."""
    return sorted(_rio_cmaps.list())


def parse_hex(colour: str) -> RGB:
    """Parse ``"#rrggbb"`` or ``"rrggbb"``."""
    match = _HEX.fullmatch(colour)
    if match is None:
        raise ValueError(f"invalid colour {colour!r}, expected #rrggbb")
    r, g, b = (int(part, 16) for part in match.groups())
    return (r, g, b)


def apply_colormap(values: np.ndarray, cmap: Colormap) -> tuple[np.ndarray, np.ndarray]:
    """Colour `values`: returns (uint8 ...x3 colours, bool "has a colour").

    Ramp, Steps and Classes read values in their own units; Lut expects [0, 1]
    and maps v to entry round(v * 255). nan and inf never get a colour.
    """
    values = np.asarray(values, dtype=np.float32)
    finite = np.isfinite(values)
    # A finite stand-in keeps nan out of the index and interpolation maths.
    safe = np.where(finite, values, 0.0).astype(np.float32)
    match cmap:
        case Ramp(stops=stops):
            xs = np.array([value for value, _ in stops], dtype=np.float64)
            table = np.array([colour for _, colour in stops], dtype=np.float64)
            channels = [np.interp(safe, xs, table[:, c]) for c in range(3)]
            rgb = _to_uint8(np.stack(channels, axis=-1))
            has_colour = finite
        case Steps(steps=steps, default=default):
            # Bounds in the values' float32, so float32(-0.2) counts as on the bound -0.2.
            bounds = np.array([bound for bound, _ in steps], dtype=np.float32)
            table = np.array([*(colour for _, colour in steps), default], dtype=np.uint8)
            rgb = table[np.searchsorted(bounds, safe, side="right")]
            has_colour = finite
        case Classes(classes=()):
            return np.zeros((*values.shape, 3), np.uint8), np.zeros(values.shape, bool)
        case Classes(classes=classes):
            ordered = sorted(classes)
            keys = np.array([value for value, _, _ in ordered], dtype=np.float64)
            table = np.array([colour for _, _, colour in ordered], dtype=np.uint8)
            index = np.minimum(np.searchsorted(keys, safe), len(keys) - 1)
            has_colour = finite & (keys[index] == safe)
            rgb = table[index]
        case Lut(colors=colors):
            table = np.array(colors, dtype=np.uint8)
            rgb = table[np.rint(np.clip(safe, 0.0, 1.0) * 255).astype(np.intp)]
            has_colour = finite
        case _:
            raise TypeError(f"not a colour map: {cmap!r}")
    rgb[~has_colour] = 0
    return rgb, has_colour


def _to_uint8(values: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(values, 0, 255)).astype(np.uint8)


def _rgb(colour: Sequence[SupportsInt]) -> RGB:
    r, g, b = (int(channel) for channel in colour)
    return (r, g, b)


def _check_finite(values: list[float]) -> None:
    if not all(math.isfinite(value) for value in values):
        raise ValueError("colour map bounds must be finite")


def _check_colours(colours: Iterable[RGB]) -> None:
    for colour in colours:
        if len(colour) != 3 or not all(isinstance(channel, int) and 0 <= channel <= 255 for channel in colour):
            raise ValueError(f"invalid colour {colour!r}, expected three integers 0-255")
