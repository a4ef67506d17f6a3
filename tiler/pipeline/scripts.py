"""Evalscripts in the pipeline: the engine (`renderers.evalscript`) over a layer's band stack, with the
collection's units, the render's deadline, and the engine's errors as domain errors.

Units: the reader gives physical values (reflectance for optical bands), which are what a script's
REFLECTANCE inputs see. DN inputs are the collection's digital numbers, `(value - offset) / scale`
with each band's `scale` and `offset` from the collection file, rounded; class bands and bands
without a conversion are unchanged. A product's own radiometric offset (Sentinel-2 from baseline
04.00 on) stays out of them, as Sentinel Hub's default `harmonizeValues: true` leaves it out: the DN
of every baseline mean the same, and `DN * normalizationFactor` is the reflectance.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from renderers.evalscript import EvalscriptError, EvalscriptTimeout, evaluate_evalscript, to_rgba
from tiler.collections import Collection
from tiler.errors import InvalidParameter, RenderTimeout
from tiler.pipeline.job import ScriptSpec
from tiler.reading import BandStack


def script_failure(exc: EvalscriptError, label: str) -> InvalidParameter | RenderTimeout:
    """The engine's error as the domain error the client gets: a timeout is a 503 like any render's,
    everything else (refused, syntax error with its line and column, a JavaScript error, memory) a 400."""
    if isinstance(exc, EvalscriptTimeout):
        return RenderTimeout(f"{label}: {exc}; try a smaller image, a simpler script or again later")
    return InvalidParameter(f"{label}: {exc}", label)


def to_dn(collection: Collection) -> Callable[[str, np.ndarray], np.ndarray]:
    """The collection's DN of a band's physical values (see the module docstring)."""

    def convert(name: str, values: np.ndarray) -> np.ndarray:
        band = collection.bands.get(name)
        if band is None or band.is_class or (band.scale == 1.0 and band.offset == 0.0):
            return values
        return np.rint((values.astype(np.float64) - band.offset) / band.scale)

    return convert


def normalization_factor(collection: Collection) -> float:
    """`inputMetadata.normalizationFactor`: REFLECTANCE = DN * factor, the scale of the collection's
    reflectance bands (Sentinel-2: 1/10000)."""
    return next((b.scale for b in collection.bands.values() if b.kind == "reflectance"), 1.0)


def evaluate_script(spec: ScriptSpec, stack: BandStack, collection: Collection, seconds: float) -> np.ndarray:
    """The values of the spec's output, float64 (bands, H, W), within `seconds`."""
    try:
        result = evaluate_evalscript(
            spec.script,
            stack.arrays,
            stack.valid,
            timeout=max(seconds, 0.0),
            to_dn=to_dn(collection),
            normalization_factor=normalization_factor(collection),
        )
    except EvalscriptError as exc:
        raise script_failure(exc, "evalscript") from None
    if spec.output not in result.outputs:
        raise InvalidParameter(f"evalscript: the script has no output {spec.output!r}", "evalscript")
    return result.outputs[spec.output]


def draw_script(spec: ScriptSpec, stack: BandStack, collection: Collection, seconds: float) -> np.ndarray:
    """The spec's output drawn as uint8 RGBA (`renderers.evalscript.to_rgba`)."""
    values = evaluate_script(spec, stack, collection, seconds)
    sample_type = spec.script.output(spec.output).sample_type
    try:
        return to_rgba(values, sample_type, stack.valid)
    except EvalscriptError as exc:
        raise script_failure(exc, "evalscript") from None
