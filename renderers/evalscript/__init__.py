"""Sentinel Hub evalscripts (V3 and the simple form) over whole band arrays.

`EvalscriptCache.get(text)` (or `compile_evalscript`) checks a script once and reads its
setup(); `evaluate_evalscript` runs it over H x W band arrays and returns every output;
`render_evalscript` draws the default output as RGBA. See docs/evalscripts.md.
"""

from renderers.evalscript.engine import EvalscriptResult, default_to_dn, evaluate_evalscript, render_evalscript
from renderers.evalscript.errors import (
    EvalscriptError,
    EvalscriptMemoryError,
    EvalscriptSyntaxError,
    EvalscriptTimeout,
)
from renderers.evalscript.output import to_raster, to_rgba
from renderers.evalscript.script import (
    MAX_SCRIPT_LENGTH,
    Evalscript,
    EvalscriptCache,
    InputBand,
    Output,
    compile_evalscript,
)

__all__ = [
    "MAX_SCRIPT_LENGTH",
    "Evalscript",
    "EvalscriptCache",
    "EvalscriptError",
    "EvalscriptMemoryError",
    "EvalscriptResult",
    "EvalscriptSyntaxError",
    "EvalscriptTimeout",
    "InputBand",
    "Output",
    "compile_evalscript",
    "default_to_dn",
    "evaluate_evalscript",
    "render_evalscript",
    "to_raster",
    "to_rgba",
]
