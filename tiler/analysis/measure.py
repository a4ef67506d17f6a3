"""What is measured per pixel: the values of a layer or of the user's band math.

A `Measure` turns the physical band arrays `tiler.pipeline.read_layer` gives into one array per
output, and says where they hold a value. Statistics, GeoTIFF values and their tests only see this
protocol. An evalscript's statistics output (Sentinel Hub's `eobrowserStats`, or `index`, with its
`dataMask` output narrowing the valid pixels) becomes one more implementation, returned by
`measure_for` for an evalscript styling; nothing else changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from renderers import RenderSpec, evaluate_values
from tiler.pipeline.job import Styling


@dataclass(frozen=True)
class Measured:
    values: tuple[np.ndarray, ...]  # float32 H x W per output; nan or inf where there is no value
    valid: np.ndarray  # bool H x W: where the outputs were computed from data


class Measure(Protocol):
    @property
    def names(self) -> tuple[str, ...]:
        """One per output, as answers and CSV columns name them."""

    def measure(self, bands: Mapping[str, np.ndarray], valid: np.ndarray) -> Measured: ...


@dataclass(frozen=True)
class ExpressionMeasure:
    """The expressions of a layer or of `expression=`: one output each (a colour map or a layer's
    value transform shapes the picture, not the value)."""

    spec: RenderSpec
    names: tuple[str, ...]

    def measure(self, bands: Mapping[str, np.ndarray], valid: np.ndarray) -> Measured:
        return Measured(tuple(evaluate_values(self.spec, bands, valid)), valid)


def measure_for(styling: Styling, layer_name: str | None) -> Measure:
    """The measure of a request's styling; a single-valued named layer's output bears its name."""
    expressions = styling.spec.expressions
    if layer_name is not None and len(expressions) == 1:
        names: tuple[str, ...] = (layer_name,)
    else:
        names = tuple(e.source for e in expressions)
    return ExpressionMeasure(styling.spec, names)
