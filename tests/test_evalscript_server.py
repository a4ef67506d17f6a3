"""Evalscripts against a real `eo-tiler serve` process: a script over 64 KB in a GET's URL passes
uvicorn's and h11's limits and draws what the same script does by POST; other over-long queries and
headers are still refused; a script that never ends gets its 503 and the worker serves on."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.helpers import (
    COG_ID,
    WEB_MERCATOR,
    centre_tile,
    decode,
    evalscript_param,
    long_get,
    staircase_scripts,
    start_server,
    stop_server,
    tile_samples,
)
from tiler.catalog import MemoryCatalog

pytestmark = pytest.mark.slow


def test_a_script_over_64_kb_by_get_and_by_post_on_a_real_server(shared_data: Path, tmp_path: Path) -> None:
    env = {"EO_TILER_CATALOG": str(tmp_path / "catalog.sqlite"), "EO_TILER_RENDER_TIMEOUT": "5"}
    process, base = start_server(["serve", "--data", str(shared_data)], env)
    try:
        long, short = staircase_scripts()
        assert len(long.encode()) > 64 * 1024
        meta = httpx.get(f"{base}/products/{COG_ID}", timeout=30).json()
        z, x, y = centre_tile(meta, 12)
        path = f"/tiles/{z}/{x}/{y}.png"
        url = base + path

        pictures = []
        for text, urlsafe in ((long, True), (long, False), (short, True)):
            status, content = long_get(base, path, {"product": COG_ID, "evalscript": evalscript_param(text, urlsafe)})
            assert status == 200, content
            pictures.append(decode(content))
        np.testing.assert_array_equal(pictures[0], pictures[1])
        np.testing.assert_array_equal(pictures[0], pictures[2])

        # The grey levels against the B04 file itself: two DN a level, 2048 levels stretched to 0..255.
        band = MemoryCatalog([shared_data]).resolve(COG_ID).bands["B04"].path
        dn, safe = tile_samples(band, z, x, y)
        safe &= dn > 0
        expected = np.floor(np.minimum(np.floor(dn / 2), 2047) / 2047 * 255 + 0.5)
        assert safe.sum() > 10_000
        np.testing.assert_array_equal(pictures[0][..., 0][safe], expected[safe])

        # The same script in a Process API body, over the tile's own grid.
        request = {
            "input": {
                "bounds": {
                    "bbox": list(WEB_MERCATOR.xy_bounds(x, y, z)),
                    "properties": {"crs": "http://www.opengis.net/def/crs/EPSG/0/3857"},
                },
                "data": [{"type": "sentinel-2-l2a", "product": COG_ID}],
            },
            "output": {"width": 256, "height": 256},
            "evalscript": long,
        }
        posted = httpx.post(f"{base}/process", json=request, timeout=60)
        assert posted.status_code == 200, posted.text
        np.testing.assert_array_equal(decode(posted.content), pictures[0])

        # Over-long queries and headers are still refused: the evalscript's room is its own.
        other = httpx.get(url, params={"product": COG_ID, "x": "y" * 5000}, timeout=30)
        assert other.status_code == 414 and "4096 bytes" in other.json()["detail"]
        status, content = long_get(base, path, {"product": COG_ID, "evalscript": "A" * 140_000})
        assert status == 414 and b"/process" in content
        # Past what a connection may buffer of an unfinished head: h11 refuses it with 400 if it comes in
        # pieces, the middleware with 414 if it came whole.
        status, _ = long_get(base, path, {"product": COG_ID, "evalscript": "A" * 200_000})
        assert status in (400, 414)
        headers = httpx.get(url, params={"product": COG_ID}, headers={"X-Big": "x" * 20_000}, timeout=30)
        assert headers.status_code == 431

        # A script that never ends: a 503 within the render deadline, and the worker serves on.
        looping = "//VERSION=3\nfunction setup() { return { input: ['B04'], output: { bands: 1 } }; }\nfunction evaluatePixel(s) { while (true) {} }"
        stuck = httpx.get(url, params={"product": COG_ID, "evalscript": evalscript_param(looping)}, timeout=60)
        assert stuck.status_code == 503 and stuck.headers["retry-after"]
        assert httpx.get(f"{base}/healthz", timeout=30).json()["status"] == "ok"
        fresh = httpx.get(url, params={"product": COG_ID, "layer": "NDVI"}, timeout=60)
        assert fresh.status_code == 200 and decode(fresh.content)[..., 3].max() == 255
    finally:
        stop_server(process)
