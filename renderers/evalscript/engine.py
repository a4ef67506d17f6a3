"""Evaluate a compiled evalscript over whole band arrays, on the fast or the exact path."""

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from renderers.evalscript.errors import EvalscriptError
from renderers.evalscript.output import to_rgba
from renderers.evalscript.script import DATA_MASK, Evalscript
from renderers.evalscript.v8 import MAX_SIMPLE_BANDS
from renderers.evalscript.values import JSArray, JSObject, Mixed, Unsupported, to_number

__all__ = ["EvalscriptResult", "default_to_dn", "evaluate_evalscript", "render_evalscript"]

Path = Literal["auto", "fast", "exact"]
# Pixels the fast path evaluates at once: a 256 x 256 tile; a 512 x 512 one runs as four.
FAST_BLOCK = 256 * 256
# Sentinel-2's optical bands: the ones DN units change.
_OPTICAL = re.compile(r"\AB(0[1-9]|1[0-2]|8A)\Z")


@dataclass(frozen=True)
class EvalscriptResult:
    """Each output's values as float64 (bands, H, W), and the path that computed them."""

    outputs: Mapping[str, np.ndarray]
    path: Literal["fast", "exact"]


def default_to_dn(band: str, reflectance: np.ndarray, normalization_factor: float) -> np.ndarray:
    """DN for Sentinel-2's optical bands (reflectance / factor, rounded); other bands unchanged.

    The pipeline passes its own `to_dn` where a product has radiometric offsets.
    """
    if _OPTICAL.match(band):
        return np.rint(reflectance / normalization_factor)
    return reflectance


def evaluate_evalscript(
    script: Evalscript,
    bands: Mapping[str, np.ndarray],
    valid: np.ndarray,
    *,
    timeout: float,
    path: Path = "auto",
    to_dn: Callable[[str, np.ndarray], np.ndarray] | None = None,
    normalization_factor: float = 1e-4,
) -> EvalscriptResult:
    """Run the script on every pixel.

    Args:
        script: from `compile_evalscript` or `EvalscriptCache.get`.
        bands: reflectance per band name (H x W), as the reader gives them; only
            `script.bands` are read.
        valid: H x W bool, the script's dataMask. Band values are 0 where it is False, as
            Sentinel Hub gives them.
        timeout: seconds the evaluation may take.
        path: "auto" (the fast path where it can, else the exact one), "fast" (raise if the
            fast path cannot run the script) or "exact" (V8 only).
        to_dn: (band, reflectance) -> DN, for bands whose units are DN; by default
            `default_to_dn` with `normalization_factor`.
        normalization_factor: REFLECTANCE = DN * factor; scripts see it as
            inputMetadata.normalizationFactor.

    Raises:
        EvalscriptError: a band is missing, the script threw or returned values that do not
            fit its outputs.
        EvalscriptTimeout, EvalscriptMemoryError: it ran past `timeout` or its memory limit.
    """
    deadline = time.monotonic() + timeout
    valid = np.asarray(valid, dtype=bool)
    names = [band.name for band in script.inputs]
    arrays = _inputs(script, bands, valid, to_dn, normalization_factor)
    invalid = np.flatnonzero(~valid)
    shape = valid.shape
    fast = script.fast
    if path != "exact" and fast is not None and fast.refused is None:
        try:
            outputs = _run_fast(script, arrays, invalid, names, deadline, normalization_factor, valid.size)
        except Unsupported as exc:
            if path == "fast":
                raise EvalscriptError(f"the fast path cannot run this script: {exc}") from None
            fast.refused = str(exc)
        else:
            return EvalscriptResult({k: v.reshape(len(v), *shape) for k, v in outputs.items()}, "fast")
    elif path == "fast":
        reason = "esprima cannot parse it" if fast is None else fast.refused
        raise EvalscriptError(f"the fast path cannot run this script: {reason}")
    samples = [_samples(a, invalid, 0) for a in arrays]
    values, count = script.program.run(samples, names, script.layout, deadline, normalization_factor, valid.size)
    if script.form == "simple":
        if count == 0 and valid.size:
            raise EvalscriptError("the script returned no values")
        return EvalscriptResult({"default": values.reshape(count, *shape)}, "exact")
    outputs = {}
    offset = 0
    for output in script.outputs:
        assert output.bands is not None
        outputs[output.id] = values[offset : offset + output.bands].reshape(output.bands, *shape)
        offset += output.bands
    return EvalscriptResult(outputs, "exact")


def render_evalscript(
    script: Evalscript,
    bands: Mapping[str, np.ndarray],
    valid: np.ndarray,
    *,
    timeout: float,
    path: Path = "auto",
    to_dn: Callable[[str, np.ndarray], np.ndarray] | None = None,
    normalization_factor: float = 1e-4,
) -> np.ndarray:
    """The `default` output drawn as uint8 H x W x 4 RGBA (see `to_rgba`)."""
    output = script.output("default")
    result = evaluate_evalscript(
        script, bands, valid, timeout=timeout, path=path, to_dn=to_dn, normalization_factor=normalization_factor
    )
    return to_rgba(result.outputs["default"], output.sample_type, valid)


def _run_fast(
    script: Evalscript,
    arrays: list[np.ndarray],
    invalid: np.ndarray,
    names: list[str],
    deadline: float,
    normalization_factor: float,
    n: int,
) -> dict[str, np.ndarray]:
    """The fast path over blocks of `n` pixels: arrays that stay in the CPU's cache run faster than
    whole tiles. Whatever Python raises inside it (a built-in meeting arguments JavaScript would
    take: `[].slice(NaN)`, a ragged colour ramp) is not the script's error but the fast path's
    limit: V8 then gives the JavaScript answer, or the script's own error as a 400."""
    assert script.fast is not None
    outputs: dict[str, np.ndarray] = {}
    bounds = [*range(0, n, FAST_BLOCK), n] if n else [0, 0]
    for start, stop in zip(bounds, bounds[1:]):
        block = {name: _samples(array[start:stop], invalid, start) for name, array in zip(names, arrays)}
        try:
            value = script.fast.program.run(block, stop - start, deadline, normalization_factor)
        except RecursionError:
            raise Unsupported("nesting deeper than Python's stack") from None
        except EvalscriptError:
            raise
        except (ArithmeticError, LookupError, ValueError, TypeError) as exc:
            raise Unsupported(f"{type(exc).__name__} in the fast path: {exc}") from None
        for key, rows in _collect(value, script, stop - start).items():
            if key not in outputs:
                outputs[key] = np.empty((len(rows), n))
            elif len(rows) != len(outputs[key]):
                raise Unsupported("a simple script returning different band counts in different blocks")
            for row, values in enumerate(rows):
                outputs[key][row, start:stop] = values
    return outputs


def _collect(value: Any, script: Evalscript, n: int) -> dict[str, list[Any]]:
    """evaluatePixel's result per output: one number or float64 array per band, checked as the exact path's runner checks it."""
    if script.form == "simple":
        if isinstance(value, JSArray):
            if len(value.items) > MAX_SIMPLE_BANDS:
                raise Unsupported("more values than a simple script may return")
            return {"default": _bands(value.items, n)}
        return {"default": _bands([value], n)}
    outputs = script.outputs
    if len(outputs) == 1:
        if type(value) is JSObject:
            value = _output(value, outputs[0].id)
        return {outputs[0].id: _output_values(value, outputs[0].bands or 0, n)}
    if type(value) is not JSObject:
        raise Unsupported("evaluatePixel did not return an object for several outputs")
    return {o.id: _output_values(_output(value, o.id), o.bands or 0, n) for o in outputs}


def _output(value: JSObject, output_id: str) -> Any:
    if output_id not in value.props:
        raise Unsupported(f"no value for output {output_id!r}")
    return value.props[output_id]


def _output_values(value: Any, bands: int, n: int) -> list[Any]:
    items = value.items if isinstance(value, JSArray) else [value]
    if len(items) != bands or (isinstance(value, JSObject) and not isinstance(value, JSArray)):
        raise Unsupported("a result that does not fit its output")
    return _bands(items, n)


def _bands(items: list[Any], n: int) -> list[Any]:
    """Number() of each returned value, as the exact path's Float64Array stores it."""
    rows = []
    for item in items:
        if isinstance(item, JSArray):
            # Number([x]) is x, Number([]) is 0, Number of longer arrays NaN.
            item = item.items[0] if len(item.items) == 1 else (0.0 if not item.items else float("nan"))
            if isinstance(item, JSObject):
                raise Unsupported("nested arrays in a result")
        if isinstance(item, JSObject | Mixed):
            raise Unsupported("a result value that is not a number")
        rows.append(to_number(item))
    return rows


def _samples(values: np.ndarray, invalid: np.ndarray, start: int) -> np.ndarray:
    """float64 copy of a block of one band starting at pixel `start`, 0 where there is no data, as Sentinel Hub gives it.

    `invalid` holds the sorted flat indices of the pixels without data.
    """
    block = np.array(values, dtype=np.float64)
    lo, hi = np.searchsorted(invalid, [start, start + block.size])
    block[invalid[lo:hi] - start] = 0.0
    return block


def _inputs(
    script: Evalscript,
    bands: Mapping[str, np.ndarray],
    valid: np.ndarray,
    to_dn: Callable[[str, np.ndarray], np.ndarray] | None,
    normalization_factor: float,
) -> list[np.ndarray]:
    """Each input band flat, in the caller's dtype (DN where asked); `_samples` makes the values scripts see."""
    arrays = []
    for band in script.inputs:
        if band.name == DATA_MASK:
            arrays.append(valid.ravel())
            continue
        if band.name not in bands:
            raise EvalscriptError(f"band {band.name!r} is not available")
        values = np.asarray(bands[band.name])
        if values.shape != valid.shape:
            raise EvalscriptError(f"band {band.name!r} has shape {values.shape}, the mask {valid.shape}")
        if band.units == "DN":
            values = to_dn(band.name, values) if to_dn else default_to_dn(band.name, values, normalization_factor)
        arrays.append(values.ravel())
    return arrays
