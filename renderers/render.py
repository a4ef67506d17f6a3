"""Render band arrays to RGBA with a `RenderSpec`: expressions, stretches, an optional colour map."""

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from renderers.colour import Classes, Colormap, Lut, Ramp, Steps, Stretch, apply_colormap, stretch
from renderers.expressions import Expression, evaluate
from renderers.terrain import Hillshade, hillshade

__all__ = ["RenderSpec", "evaluate_values", "render"]

# The variable a value transform reads.
_VALUE = "v"


@dataclass(frozen=True)
class RenderSpec:
    """How to draw a layer.

    Attributes:
        expressions: 1 (single band), 3 (RGB) or 4 (RGBA) expressions.
        stretches: one per expression.
        colormap: for a single expression only. Ramp, Steps and Classes colour raw values
            (no stretch); a Lut colours the stretched value; None draws the stretch in grey.
        value_transform: for a single expression only; an expression over ``v`` applied
            to the value before colouring, e.g. ``where(v < 0, v, sqrt(sqrt(v)))`` for NDWI.
        relief: for a single expression only: the value is a height, drawn as the light a sun
            casts on it (0..1, then stretched and coloured). Its neighbours decide a pixel: the
            bands must come with `margin` more pixels on each side than the output.
    """

    expressions: tuple[Expression, ...]
    stretches: tuple[Stretch, ...]
    colormap: Colormap | None = None
    value_transform: Expression | None = None
    relief: Hillshade | None = None

    def __post_init__(self) -> None:
        if len(self.expressions) not in (1, 3, 4):
            raise ValueError(f"a render needs 1, 3 or 4 expressions, got {len(self.expressions)}")
        if len(self.stretches) != len(self.expressions):
            raise ValueError("a render needs one stretch per expression")
        single = len(self.expressions) == 1
        if not single and (self.colormap is not None or self.value_transform is not None or self.relief is not None):
            raise ValueError("a colour map, value transform or relief needs a single expression")
        if self.value_transform is not None and not self.value_transform.names <= {_VALUE}:
            raise ValueError(f"a value transform may only use {_VALUE!r}")

    @cached_property
    def bands(self) -> frozenset[str]:
        """The bands the expressions read (asked on every request, cache hits included)."""
        return frozenset().union(*(expr.names for expr in self.expressions))

    @property
    def margin(self) -> int:
        """Pixels of bands needed beyond each side of the output (a relief's neighbours)."""
        return self.relief.margin if self.relief is not None else 0


def evaluate_values(spec: RenderSpec, bands: Mapping[str, np.ndarray], valid: np.ndarray) -> list[np.ndarray]:
    """Evaluate each expression: float32, nan where `valid` is False.

    inf and nan produced by the maths (e.g. 0/0) are kept for the caller to mask.

    Raises:
        ExpressionError: a band is missing or numexpr failed.
    """
    valid = np.asarray(valid, dtype=bool)
    # Without bands, a constant expression takes its shape from the mask; "" is no
    # identifier, so no expression can read it.
    variables = bands or {"": valid}
    return [
        np.where(valid, np.broadcast_to(evaluate(expr, variables), valid.shape), np.nan).astype(np.float32, copy=False)
        for expr in spec.expressions
    ]


def render(
    spec: RenderSpec,
    bands: Mapping[str, np.ndarray],
    valid: np.ndarray,
    spacing: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Render to uint8 HxWx4 RGBA.

    Pixels where `valid` is False, where any value is nan or inf, or that a colour map
    leaves uncoloured are fully transparent (0, 0, 0, 0).

    With a relief, `bands` and `valid` reach `spec.margin` pixels beyond each side of the
    output, which is that much smaller, and `spacing` gives the ground distances (dx, dy) in
    metres from each pixel to its east and south neighbour (see `renderers.terrain`).
    """
    values = evaluate_values(spec, bands, valid)
    if spec.relief is not None:
        if spacing is None:
            raise ValueError("a relief needs the pixels' ground spacing")
        values = [hillshade(values[0], spacing[0], spacing[1], spec.relief)]
    if len(values) == 1:
        rgb, shown = _render_single(spec, values[0])
        alpha = np.where(shown, 255, 0).astype(np.uint8)
    else:
        shown = np.logical_and.reduce([np.isfinite(value) for value in values])
        channels = [_to_byte(stretch(v, s)) for v, s in zip(values, spec.stretches)]
        rgb = np.stack(channels[:3], axis=-1)
        alpha = channels[3] if len(channels) == 4 else np.full(shown.shape, 255, np.uint8)
    rgba = np.concatenate([rgb, alpha[..., np.newaxis]], axis=-1)
    rgba[~shown] = 0
    return rgba


def _render_single(spec: RenderSpec, value: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 HxWx3, bool "shown") for a single-expression spec."""
    if spec.value_transform is not None:
        value = evaluate(spec.value_transform, {_VALUE: value})
    finite = np.isfinite(value)
    match spec.colormap:
        case Ramp() | Steps() | Classes():
            rgb, has_colour = apply_colormap(value, spec.colormap)
            return rgb, finite & has_colour
        case Lut():
            rgb, has_colour = apply_colormap(stretch(value, spec.stretches[0]), spec.colormap)
            return rgb, finite & has_colour
        case None:
            grey = _to_byte(stretch(value, spec.stretches[0]))
            return np.repeat(grey[..., np.newaxis], 3, axis=-1), finite
    raise TypeError(f"not a colour map: {spec.colormap!r}")


def _to_byte(stretched: np.ndarray) -> np.ndarray:
    """[0, 1] -> 0..255. nan gives 0 only to avoid an invalid cast: render masks those pixels."""
    return np.rint(np.where(np.isnan(stretched), 0.0, stretched) * 255).astype(np.uint8)
