"""Limits: query length, tile size, and the render deadline with its bounded pool."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pytest
from starlette.testclient import TestClient

from tests.pixels import WEB_MERCATOR
from tiler.app import create_app
from tiler.errors import RenderTimeout
from tiler.limits import Deadline
from tiler.reading import BandStack, read_part
from tiler.settings import Settings


def demo_variant(demo_app, demo_archive, **settings) -> TestClient:
    """An app over the demo archive with other settings; the session's index is reused."""
    root, _ = demo_archive
    app = create_app(Settings(data_roots=(root,), **settings), index=demo_app.state.services.index)
    return TestClient(app, raise_server_exceptions=False)


def centre_tile_url(product, z: int = 14) -> str:
    west, south, east, north = product.bounds_wgs84
    t = WEB_MERCATOR.tile((west + east) / 2, (south + north) / 2, z)
    return f"/tiles/{t.z}/{t.x}/{t.y}.png"


@pytest.fixture(scope="module")
def product(demo_app):
    return next(iter(demo_app.state.services.index))


def test_query_over_the_limit_gets_414_before_parsing(demo_app, demo_archive, product) -> None:
    client = demo_variant(demo_app, demo_archive, max_query_length=200)
    long_id = "x" * 300
    response = client.get(centre_tile_url(product), params={"product": long_id})
    assert response.status_code == 414
    assert "200 bytes" in response.json()["detail"]
    # Just under the limit, the same request is parsed: an unknown product.
    assert client.get(centre_tile_url(product), params={"product": "x" * 150}).status_code == 404


def test_tile_size_limit(demo_app, demo_archive, product) -> None:
    client = demo_variant(demo_app, demo_archive, max_tile_size=256)
    url = centre_tile_url(product)
    assert client.get(url, params={"product": product.id, "tilesize": 256}).status_code == 200
    refused = client.get(url, params={"product": product.id, "tilesize": 512})
    assert refused.status_code == 400 and "256" in refused.json()["detail"]


def test_read_part_checks_the_deadline_before_each_band(product) -> None:
    expired = Deadline(1e-9)
    # The band paths are never opened: the deadline is checked first.
    missing = {n: dataclasses.replace(b, path=b.path.with_name("gone.jp2")) for n, b in product.bands.items()}
    with pytest.raises(RenderTimeout):
        read_part(
            dataclasses.replace(product, bands=missing), ["B04"], product.bounds, product.crs, 8, 8,
            gdal_options={}, deadline=expired,
        )  # fmt: skip


def test_render_over_the_deadline_gets_503_and_frees_everyone(demo_app, demo_archive, product, monkeypatch) -> None:
    client = demo_variant(demo_app, demo_archive, render_timeout=0.3, render_threads=1)
    services = client.app.state.services
    release = threading.Event()
    reads, renders = [], []

    def stuck_read(product, bands, bounds, crs, width, height, **kwargs):
        reads.append(product.id)
        release.wait(60)  # a read that hangs until the test lets it go
        return BandStack({b: np.zeros((height, width), np.float32) for b in bands}, np.ones((height, width), bool))

    def counting_render(*args, **kwargs):
        renders.append(1)
        raise AssertionError("a render past its deadline must not go on to evaluate")

    monkeypatch.setattr("tiler.routes.read_part", stuck_read)
    monkeypatch.setattr("tiler.routes.render", counting_render)
    url = centre_tile_url(product)
    try:
        first = client.get(url, params={"product": product.id, "layer": "NDVI"})
        assert first.status_code == 503
        assert "0.3 s" in first.json()["detail"] and first.headers["retry-after"]
        # The only render thread is stuck: a second render waits in the queue and times out too...
        second = client.get(url, params={"product": product.id, "layer": "TRUE_COLOR"})
        assert second.status_code == 503
        # ...while endpoints that do not render still answer.
        assert client.get("/products").status_code == 200
        assert client.get("/healthz").status_code == 200
    finally:
        release.set()
    # Drain the pool: the stuck render stops at its next check, the queued one never starts.
    services.renders._executor.submit(lambda: None).result(timeout=60)
    assert reads == [product.id] and renders == []
    # Nothing was cached: with reading restored, the tile renders afresh.
    monkeypatch.undo()
    again = client.get(url, params={"product": product.id, "layer": "NDVI"})
    assert again.status_code == 200 and again.headers["x-cache"] == "miss"


def test_settings_limits_from_environment() -> None:
    from tiler.settings import settings_from_env

    settings = settings_from_env(
        {
            "EO_TILER_MAX_QUERY_LENGTH": "100",
            "EO_TILER_RENDER_TIMEOUT": "2.5",
            "EO_TILER_RENDER_THREADS": "3",
            "EO_TILER_MAX_TILE_SIZE": "256",
            "EO_TILER_API_KEYS": "a, b,,",
            "EO_TILER_API_QUOTA_PER_MINUTE": "7",
        }
    )
    assert (settings.max_query_length, settings.render_timeout, settings.render_threads) == (100, 2.5, 3)
    assert settings.max_tile_size == 256 and settings.api_keys == ("a", "b") and settings.api_quota_per_minute == 7
    assert "a, b" not in repr(settings) and "'a'" not in repr(settings)  # keys are never printed
    for timeout in (0, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            Settings(render_timeout=timeout)
    with pytest.raises(ValueError):
        Settings(max_tile_size=100)
