"""Evalscripts in the pipeline: the engine (`renderers.evalscript`) over a layer's band stack, with the
collection's units, the render's deadline, and the engine's errors as domain errors.

Units: the reader gives physical values (reflectance for optical bands), which are what a script's
REFLECTANCE inputs see. DN inputs are the values turned back into digital numbers, rounded, by the
collection's `scale` and `offset` for each band (its collection file). So a product's own radiometric
offset (Sentinel-2 from baseline 04.00 on) stays out of them, as Sentinel Hub's default
`harmonizeValues: true` leaves it out: the DN of every baseline mean the same, also side by side in
a mosaic, and `DN * normalizationFactor` is the reflectance. A product whose own conversion has
another scale (Landsat Level-1: factors per scene, from its MTL; thermal bands through their K1 and
K2) is turned back by its own, when one product is drawn; a mosaic, whose pixels come from several
products, uses the collection's. Class and bit-flag bands, and bands without a conversion, are
unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from renderers.evalscript import EvalscriptError, EvalscriptTimeout, Output, evaluate_evalscript, to_rgba
from tiler.collections import Collection
from tiler.errors import InvalidParameter, RenderTimeout
from tiler.pipeline.job import ScriptSpec
from tiler.products import BandAsset, Product
from tiler.reading import BandStack

# The outputs a script gives its values in: EO Browser's statistics output, and the mask of them.
STATS_OUTPUT = "eobrowserStats"
DATA_MASK = "dataMask"


def script_failure(exc: EvalscriptError, label: str) -> InvalidParameter | RenderTimeout:
    """The engine's error as the domain error the client gets: a timeout is a 503 like any render's,
    everything else (refused, syntax error with its line and column, a JavaScript error, memory) a 400."""
    if isinstance(exc, EvalscriptTimeout):
        return RenderTimeout(f"{label}: {exc}; try a smaller image, a simpler script or again later")
    return InvalidParameter(f"{label}: {exc}", label)


def to_dn(collection: Collection, product: Product | None = None) -> Callable[[str, np.ndarray], np.ndarray]:
    """Digital numbers of a band's physical values (see the module docstring); `product` when the
    values are all of one product."""

    def convert(name: str, values: np.ndarray) -> np.ndarray:
        band = collection.bands.get(name)
        asset = product.bands.get(name) if product is not None else None
        if band is None or band.is_class:
            return values
        if asset is not None and (asset.scale != band.scale or asset.thermal is not None):
            return np.rint(_asset_dn(asset, values.astype(np.float64)))
        if band.scale == 1.0 and band.offset == 0.0:
            return values
        return np.rint((values.astype(np.float64) - band.offset) / band.scale)

    return convert


def _asset_dn(asset: BandAsset, values: np.ndarray) -> np.ndarray:
    if asset.thermal is not None:
        k1, k2 = asset.thermal
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            values = k1 / np.expm1(k2 / values)  # the radiance of a brightness temperature
    return (values - asset.offset) / asset.scale


def normalization_factor(collection: Collection) -> float:
    """`inputMetadata.normalizationFactor`: REFLECTANCE = DN * factor, the scale of the collection's
    reflectance bands (Sentinel-2: 1/10000)."""
    return next((b.scale for b in collection.bands.values() if b.kind == "reflectance"), 1.0)


def evaluate_outputs(
    spec: ScriptSpec,
    bands: Mapping[str, np.ndarray],
    valid: np.ndarray,
    collection: Collection,
    seconds: float,
    product: Product | None = None,
) -> Mapping[str, np.ndarray]:
    """Every output of the script, float64 (bands, H, W), within `seconds`; `product` when the bands
    are one product's."""
    try:
        result = evaluate_evalscript(
            spec.script,
            bands,
            valid,
            timeout=max(seconds, 0.0),
            to_dn=to_dn(collection, product),
            normalization_factor=normalization_factor(collection),
        )
    except EvalscriptError as exc:
        raise script_failure(exc, "evalscript") from None
    return result.outputs


def evaluate_script(
    spec: ScriptSpec, stack: BandStack, collection: Collection, seconds: float, product: Product | None = None
) -> np.ndarray:
    """The values of the spec's output, float64 (bands, H, W), within `seconds`."""
    outputs = evaluate_outputs(spec, stack.arrays, stack.valid, collection, seconds, product)
    if spec.output not in outputs:
        raise InvalidParameter(f"evalscript: the script has no output {spec.output!r}", "evalscript")
    return outputs[spec.output]


def _value_outputs(spec: ScriptSpec) -> list[Output]:
    """What a script gives as values rather than as a picture: its `eobrowserStats` output when it has
    one (what EO Browser charts), else every output but `dataMask` (Sentinel Hub's Statistical API)."""
    script = spec.script
    if script.form == "simple":
        raise InvalidParameter(
            "evalscript: values need a VERSION=3 script, whose outputs say how many bands they have", "evalscript"
        )
    chosen = [o for o in script.outputs if o.id == STATS_OUTPUT] or [o for o in script.outputs if o.id != DATA_MASK]
    if not chosen:
        raise InvalidParameter(f"evalscript: the script has no output besides {DATA_MASK}", "evalscript")
    return chosen


def value_names(spec: ScriptSpec) -> tuple[str, ...]:
    """The names of a script's values (statistics, values GeoTIFFs), one per band: `index`, `default_B0`..."""
    return tuple(o.id if o.bands == 1 else f"{o.id}_B{i}" for o in _value_outputs(spec) for i in range(o.bands or 0))


def script_values(
    spec: ScriptSpec,
    bands: Mapping[str, np.ndarray],
    valid: np.ndarray,
    collection: Collection,
    seconds: float,
    product: Product | None = None,
) -> tuple[list[np.ndarray], np.ndarray]:
    """The bands `value_names` names, float32, and where they hold a value: the data's mask, narrowed by
    the script's `dataMask` output if it has one (0 there: no value)."""
    chosen = _value_outputs(spec)
    outputs = evaluate_outputs(spec, bands, valid, collection, seconds, product)
    values = [outputs[o.id][i].astype(np.float32) for o in chosen for i in range(o.bands or 0)]
    if DATA_MASK in outputs:
        valid = valid & (outputs[DATA_MASK][0] != 0)
    return values, valid


def draw_script(
    spec: ScriptSpec, stack: BandStack, collection: Collection, seconds: float, product: Product | None = None
) -> np.ndarray:
    """The spec's output drawn as uint8 RGBA (`renderers.evalscript.to_rgba`)."""
    values = evaluate_script(spec, stack, collection, seconds, product)
    sample_type = spec.script.output(spec.output).sample_type
    try:
        return to_rgba(values, sample_type, stack.valid)
    except EvalscriptError as exc:
        raise script_failure(exc, "evalscript") from None
