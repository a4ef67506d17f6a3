"""Shared by the evalscript tests: run a script through both paths, read the real samples."""

from functools import cache
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling

from renderers.evalscript import compile_evalscript, evaluate_evalscript
from tests.helpers import COG_REL, SAFE_REL, SHARED_DATA

SCRIPTS = Path(__file__).parent / "evalscripts"
DATA = SHARED_DATA
SAHARA = DATA / COG_REL
IRELAND = next((DATA / SAFE_REL).glob("GRANULE/*/IMG_DATA/R60m"), DATA / "missing")
L1C = DATA / "s2-l1c-jp2-crop-T33UUU-20170216/IMG_DATA"
SIZE = 256


def evaluate_both(source: str, bands: dict[str, np.ndarray], valid: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Every output, after checking that the fast and the exact path agree on every value."""
    script = compile_evalscript(source)
    valid = np.ones(next(iter(bands.values())).shape, bool) if valid is None else valid
    fast = evaluate_evalscript(script, bands, valid, timeout=30, path="fast")
    exact = evaluate_evalscript(script, bands, valid, timeout=30, path="exact")
    assert fast.path == "fast" and exact.path == "exact"
    assert fast.outputs.keys() == exact.outputs.keys()
    for key in fast.outputs:
        np.testing.assert_array_equal(fast.outputs[key], exact.outputs[key], err_msg=f"output {key}")
    return dict(exact.outputs)


def script_text(name: str) -> str:
    return (SCRIPTS / name).read_text()


def _read(path: Path) -> np.ndarray:
    with rasterio.open(path) as dataset:
        return dataset.read(1, out_shape=(SIZE, SIZE), resampling=Resampling.nearest)


@cache
def ireland() -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The real L2A tile 29UNU (baseline 04.00: clouds, water, land, 40 % outside the swath) at 256 x 256.

    Reflectance as the reader gives it: (DN + BOA_ADD_OFFSET) / 10000 in float32, negatives
    clamped to 0; SCL as its class numbers; valid where the DN is not 0 (no data).
    """
    bands: dict[str, np.ndarray] = {}
    for path in sorted(IRELAND.glob("*_60m.jp2")):
        name = path.stem.split("_")[-2]
        if name in ("AOT", "WVP", "TCI"):
            continue
        dn = _read(path).astype(np.float32)
        bands[name] = dn if name == "SCL" else np.maximum((dn - np.float32(1000)) / np.float32(10000), 0)
        if name == "B02":
            valid = dn > 0
    return bands, valid


@cache
def sahara() -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The real L2A COG tile 29RKH (baseline 02.14, no offset; desert, a few clouds) at 256 x 256, with B08."""
    bands = {}
    for path in [*sorted(SAHARA.glob("B*.tif")), SAHARA / "SCL.tif"]:
        dn = _read(path).astype(np.float32)
        bands[path.stem] = dn if path.stem == "SCL" else dn / np.float32(10000)
    return bands, bands["B04"] > 0


@cache
def l1c() -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The real L1C JP2 crop of 33UUU (the only sample with B10) at 256 x 256."""
    bands = {}
    for path in sorted(L1C.glob("*_B*.jp2")):
        bands[path.stem.rsplit("_", 1)[1]] = _read(path).astype(np.float32) / np.float32(10000)
    return bands, bands["B02"] > 0
