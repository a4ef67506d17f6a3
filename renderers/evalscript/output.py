"""From the numbers evaluatePixel returns to raster values and RGBA, as Sentinel Hub writes them."""

import numpy as np

from renderers.evalscript.errors import EvalscriptError

__all__ = ["js_round", "to_raster", "to_rgba"]

_BLOCK = 65536
_INTEGER_TYPES = {
    "UINT8": (np.uint8, 0, 255),
    "INT8": (np.int8, -128, 127),
    "UINT16": (np.uint16, 0, 65535),
    "INT16": (np.int16, -32768, 32767),
}


def js_round(values: np.ndarray) -> np.ndarray:
    """JavaScript's Math.round: halves towards +infinity, the sign of zero kept, NaN stays NaN."""
    values = np.asarray(values, dtype=np.float64)
    return np.copysign(_round_half_up(values), values)


def _round_half_up(values: np.ndarray) -> np.ndarray:
    """floor(x + 0.5), less 1 where the addition itself rounded up (0.49999999999999994, odd x past 2**52)."""
    with np.errstate(invalid="ignore"):  # inf - inf
        rounded = np.floor(values + 0.5)
        rounded -= rounded - 0.5 > values
    return rounded


def _auto_bytes(values: np.ndarray) -> np.ndarray:
    """round(clamp(v, 0, 1) * 255), halves up, NaN 0, as float64 in 0..255.

    For 0 <= x < 2**52, floor(x + 0.49999999999999994) rounds halves up and, unlike
    floor(x + 0.5), leaves 0.49999999999999994 at 0. In place: tiles are large.
    """
    scaled = np.clip(values, 0.0, 1.0)
    scaled *= 255
    scaled += 0.49999999999999994
    np.floor(scaled, out=scaled)
    return np.fmax(scaled, 0.0, out=scaled)


def to_raster(values: np.ndarray, sample_type: str) -> np.ndarray:
    """Raster values for `sample_type`.

    AUTO: round(clamp(v, 0, 1) * 255) as uint8. UINT8, INT8, UINT16, INT16: rounded (halves
    up) and clamped to the type's range. FLOAT32: the value as float32. NaN becomes 0 in the
    integer types (the documentation leaves it open).
    """
    values = np.asarray(values, dtype=np.float64)
    if sample_type == "FLOAT32":
        return values.astype(np.float32)
    if sample_type == "AUTO":
        return _auto_bytes(values).astype(np.uint8)
    if sample_type not in _INTEGER_TYPES:
        raise EvalscriptError(f"unknown sampleType {sample_type!r}")
    dtype, low, high = _INTEGER_TYPES[sample_type]
    rounded = np.clip(_round_half_up(values), low, high)
    return np.where(np.isnan(rounded), 0, rounded).astype(dtype)


def to_rgba(values: np.ndarray, sample_type: str, valid: np.ndarray) -> np.ndarray:
    """Draw an output (bands x H x W) as uint8 H x W x 4.

    1 band is grey, 2 grey and alpha, 3 RGB, 4 RGBA. Bytes are the AUTO and UINT8 raster
    values; INT8 is clamped at 0; UINT16 and INT16 are scaled by 255/65535; FLOAT32 is drawn
    as AUTO (0..1). Without an alpha band, pixels where `valid` is False are transparent.
    """
    values = np.asarray(values)
    count = values.shape[0]
    if not 1 <= count <= 4:
        raise EvalscriptError(
            f"the output has {count} bands; an image needs 1 (grey), 2 (grey, alpha), 3 (RGB) or 4 (RGBA)"
        )
    if sample_type in ("AUTO", "FLOAT32"):
        channels = values
    elif sample_type in ("UINT8", "INT8"):
        channels = np.clip(to_raster(values, sample_type), 0, 255).astype(np.uint8)
    else:
        raster = np.clip(to_raster(values, sample_type).astype(np.float64), 0, 65535)
        channels = js_round(raster * (255 / 65535)).astype(np.uint8)
    auto = sample_type in ("AUTO", "FLOAT32")
    rgba = np.empty((*values.shape[1:], 4), np.uint8)
    flat = rgba.reshape(-1, 4)
    sources = [c if count >= 3 else 0 for c in range(3)] + ([count - 1] if count in (2, 4) else [])
    for channel, source in enumerate(sources):
        band = channels[source].reshape(-1)
        # Block by block, so the temporaries of the conversion stay in the CPU's cache.
        for start in range(0, band.size, _BLOCK):
            part = band[start : start + _BLOCK]
            flat[start : start + _BLOCK, channel] = _auto_bytes(part) if auto else part
    if count not in (2, 4):
        rgba[..., 3] = np.where(np.asarray(valid, dtype=bool), 255, 0)
    return rgba
