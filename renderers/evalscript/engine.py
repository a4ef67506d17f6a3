"""Evaluate a compiled evalscript over whole band arrays, on the fast or the exact path."""

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from renderers.evalscript.errors import EvalscriptError
from renderers.evalscript.output import to_rgba
from renderers.evalscript.script import DATA_MASK, Evalscript

__all__ = ["EvalscriptResult", "default_to_dn", "evaluate_evalscript", "render_evalscript"]

Path = Literal["auto", "fast", "exact"]
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
    shape = valid.shape
    stacked = np.stack([a.ravel() for a in arrays]) if arrays else np.zeros((0, valid.size))
    values, count = script.program.run(stacked, names, script.layout, deadline, normalization_factor)
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


def _inputs(
    script: Evalscript,
    bands: Mapping[str, np.ndarray],
    valid: np.ndarray,
    to_dn: Callable[[str, np.ndarray], np.ndarray] | None,
    normalization_factor: float,
) -> list[np.ndarray]:
    arrays = []
    for band in script.inputs:
        if band.name == DATA_MASK:
            arrays.append(valid.astype(np.float64))
            continue
        if band.name not in bands:
            raise EvalscriptError(f"band {band.name!r} is not available")
        values = np.asarray(bands[band.name], dtype=np.float64)
        if values.shape != valid.shape:
            raise EvalscriptError(f"band {band.name!r} has shape {values.shape}, the mask {valid.shape}")
        if band.units == "DN":
            values = to_dn(band.name, values) if to_dn else default_to_dn(band.name, values, normalization_factor)
        arrays.append(np.where(valid, values, 0.0))
    return arrays
