"""Pure functions from numpy arrays to images: band-math expressions, colour, rendering, encoding."""

from renderers.colour import (
    RGB,
    Classes,
    Colormap,
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
from renderers.encode import MEDIA_TYPES, encode
from renderers.expressions import (
    Expression,
    ExpressionError,
    evaluate,
    parse_expression,
    parse_expressions,
)
from renderers.render import RenderSpec, evaluate_values, render
from renderers.terrain import Hillshade, hillshade

__all__ = [
    "MEDIA_TYPES",
    "RGB",
    "Classes",
    "Colormap",
    "Expression",
    "ExpressionError",
    "Hillshade",
    "Lut",
    "Ramp",
    "RenderSpec",
    "Steps",
    "Stretch",
    "apply_colormap",
    "encode",
    "evaluate",
    "evaluate_values",
    "hillshade",
    "named_colormap",
    "named_colormaps",
    "parse_expression",
    "parse_expressions",
    "parse_hex",
    "render",
    "stretch",
]
