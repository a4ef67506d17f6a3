"""Limits: query length, tile size, and the render deadline and pixel budget of the bounded pool."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pytest

from tests.helpers import centre_tile_url, demo_variant, evalscript_param
from tiler.errors import RenderTimeout
from tiler.http.limits import query_lengths
from tiler.limits import Deadline, PixelBudget, RenderPool
from tiler.reading.bands import BandStack, read_part
from tiler.settings import Settings


@pytest.fixture(scope="module")
def product(demo_app):
    return next(iter(demo_app.state.services.catalog))


def test_query_over_the_limit_gets_414_before_parsing(demo_app, demo_archive, product) -> None:
    client = demo_variant(demo_app, demo_archive, max_query_length=200)
    long_id = "x" * 300
    response = client.get(centre_tile_url(product), params={"product": long_id})
    assert response.status_code == 414
    assert "200 bytes" in response.json()["detail"]
    # Just under the limit, the same request is parsed: an unknown product.
    assert client.get(centre_tile_url(product), params={"product": "x" * 150}).status_code == 404


def test_an_evalscript_has_room_of_its_own_in_the_query(demo_app, demo_archive, product) -> None:
    client = demo_variant(demo_app, demo_archive, max_query_length=200, max_evalscript_query_length=60_000)
    script = "//VERSION=3\n" + "// a long comment, as real scripts carry\n" * 1000 + "return [B04 * 2.5, dataMask];"
    encoded = evalscript_param(script)
    assert 50_000 < len(encoded) < 60_000
    url = centre_tile_url(product)
    drawn = client.get(url, params={"product": product.id, "evalscript": encoded})
    assert drawn.status_code == 200, drawn.text
    # WMS writes it EVALSCRIPT; the rest of the query still counts against its own limit.
    too_long = client.get(url, params={"product": product.id, "EVALSCRIPT": encoded, "x": "y" * 200})
    assert too_long.status_code == 414 and "200 bytes" in too_long.json()["detail"]
    over = client.get(url, params={"product": product.id, "evalscript": encoded + "A" * 10_000})
    assert over.status_code == 414
    assert "60000 bytes" in over.json()["detail"] and "POST to /process" in over.json()["detail"]
    # Nothing else gets the evalscript's room, under any other name.
    assert client.get(url, params={"product": product.id, "evalscripts": encoded}).status_code == 414


def test_query_lengths_split_the_evalscript_from_the_rest() -> None:
    assert query_lengths(b"a=1&evalscript=abcd&b=22") == (8, 15)
    assert query_lengths(b"EVALSCRIPT=ab&EvalScript=cd") == (0, 26)
    assert query_lengths(b"") == (0, 0)


def test_header_fields_over_their_limit_get_431(demo_app, demo_archive, product) -> None:
    client = demo_variant(demo_app, demo_archive, max_header_bytes=2048)
    url = centre_tile_url(product)
    assert client.get(url, params={"product": product.id}, headers={"X-Big": "x" * 1500}).status_code == 200
    refused = client.get(url, params={"product": product.id}, headers={"X-Big": "x" * 2500})
    assert refused.status_code == 431 and "2048 bytes" in refused.json()["detail"]


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

    monkeypatch.setattr("tiler.pipeline.run.read_part", stuck_read)
    monkeypatch.setattr("tiler.pipeline.run.render", counting_render)
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
            "EO_TILER_RENDER_PIXELS": "1000000",
            "EO_TILER_MAX_TILE_SIZE": "256",
            "EO_TILER_API_KEYS": "a, b,,",
            "EO_TILER_API_QUOTA_PER_MINUTE": "7",
        }
    )
    assert (settings.max_query_length, settings.render_timeout, settings.render_threads) == (100, 2.5, 3)
    assert settings.render_pixels == 1_000_000
    assert settings.max_tile_size == 256 and settings.api_keys == ("a", "b") and settings.api_quota_per_minute == 7
    assert "a, b" not in repr(settings) and "'a'" not in repr(settings)  # keys are never printed
    for timeout in (0, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            Settings(render_timeout=timeout)
    with pytest.raises(ValueError):
        Settings(max_tile_size=100)


def test_renders_wait_until_their_pixels_fit_the_budget() -> None:
    pool = RenderPool(threads=4, timeout=10, pixels=1000)
    started, release = [], threading.Event()
    lock = threading.Lock()
    running, most = [0], [0]

    def render(name: str):
        def work(deadline):
            with lock:
                started.append(name)
                running[0] += 1
                most[0] = max(most[0], running[0])
            assert release.wait(10)
            with lock:
                running[0] -= 1
            return name

        return work

    results = {}
    threads = [
        threading.Thread(target=lambda n=n, px=px: results.__setitem__(n, pool.run(render(n), px)))
        for n, px in [("big", 800), ("small", 150), ("waits", 300)]
    ]
    for t in threads:
        t.start()
        threading.Event().wait(0.1)
    assert started == ["big", "small"]  # 800 + 150 fit; 300 more do not
    assert pool.budget.free == 50
    release.set()
    for t in threads:
        t.join(10)
    assert results == {"big": "big", "small": "small", "waits": "waits"} and most[0] <= 2
    assert pool.budget.free == 1000  # every pixel is given back


def test_a_render_larger_than_the_budget_runs_alone_and_a_wait_past_the_deadline_is_503() -> None:
    budget = PixelBudget(100)
    assert budget.acquire(5000, timeout=0) == 100  # larger than the whole budget: takes all of it
    assert budget.acquire(1, timeout=0.05) is None  # nothing fits beside it
    budget.release(100)
    pool = RenderPool(threads=2, timeout=0.2, pixels=100)
    hold = pool.budget.acquire(100, timeout=0)
    with pytest.raises(RenderTimeout):
        pool.run(lambda deadline: "never", 10)
    pool.budget.release(hold)
    assert pool.run(lambda deadline: "drawn", 10) == "drawn" and pool.budget.free == 100


def test_a_failed_or_abandoned_render_gives_its_pixels_back() -> None:
    pool = RenderPool(threads=1, timeout=0.2, pixels=100)

    def broken(deadline):
        raise ValueError("the band file is broken")

    with pytest.raises(ValueError):
        pool.run(broken, 60)
    assert pool.budget.free == 100
    release = threading.Event()
    with pytest.raises(RenderTimeout):  # the caller stops waiting; the render still holds its pixels
        pool.run(lambda deadline: release.wait(10), 60)
    assert pool.budget.free == 40
    release.set()
    pool._executor.submit(lambda: None).result(timeout=10)
    assert pool.budget.free == 100


def test_tiles_and_maps_draw_from_the_budget(demo_app, demo_archive, product) -> None:
    client = demo_variant(demo_app, demo_archive, render_timeout=0.5, render_pixels=256 * 256)
    budget = client.app.state.services.renders.budget
    url = centre_tile_url(product)
    held = budget.acquire(1, timeout=0)  # another render in flight: a 256 px tile no longer fits
    refused = client.get(url, params={"product": product.id, "layer": "NDVI"})
    assert refused.status_code == 503
    budget.release(held)
    assert client.get(url, params={"product": product.id, "layer": "NDVI"}).status_code == 200
    # A 512 px tile is larger than the whole budget: it runs alone.
    assert client.get(url, params={"product": product.id, "layer": "NDVI", "tilesize": 512}).status_code == 200
    assert budget.free == budget.total
