"""What is measured per pixel: the values of a layer, of the user's band math or of an evalscript.

A `Measure` turns the physical band arrays `tiler.pipeline.read_layer` gives into one array per
output, and says where they hold a value. Statistics, GeoTIFF values and their tests only see this
protocol. An evalscript's values (its `eobrowserStats` output, else every output but `dataMask`, which
narrows the valid pixels: `tiler.pipeline.scripts.script_values`) are `ScriptMeasure`, which
`measure_for` gives for an evalscript styling.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from renderers import RenderSpec, evaluate_values
from tiler.collections import Collection
from tiler.pipeline.job import ScriptSpec, Styling
from tiler.pipeline.scripts import script_values, value_names


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


@dataclass(frozen=True)
class ScriptMeasure:
    """An evalscript's values, each within `seconds`, with the collection's units."""

    spec: ScriptSpec
    collection: Collection
    seconds: float

    @property
    def names(self) -> tuple[str, ...]:
        return value_names(self.spec)

    def measure(self, bands: Mapping[str, np.ndarray], valid: np.ndarray) -> Measured:
        values, valid = script_values(self.spec, bands, valid, self.collection, self.seconds)
        return Measured(tuple(values), valid)


def measure_for(styling: Styling, layer_name: str | None, collection: Collection, seconds: float) -> Measure:
    """The measure of a request's styling; a single-valued named layer's output bears its name. An
    evalscript gets `seconds` for each evaluation."""
    spec = styling.spec
    if isinstance(spec, ScriptSpec):
        value_names(spec)  # a script without values is refused now, not per interval
        return ScriptMeasure(spec, collection, seconds)
    expressions = spec.expressions
    if layer_name is not None and len(expressions) == 1:
        names: tuple[str, ...] = (layer_name,)
    else:
        names = tuple(e.source for e in expressions)
    return ExpressionMeasure(spec, names)
