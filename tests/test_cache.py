"""The image cache: concurrent misses for one key render once (request coalescing)."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.helpers import centre_tile, wait_for
from tiler.cache import ImageCache
from tiler.pipeline import run as pipeline


def _gated_render(gate: threading.Event, calls: list, content: bytes = b"png bytes"):
    def render() -> tuple[bytes, str]:
        calls.append(threading.get_ident())
        assert gate.wait(10)
        return content, "image/png"

    return render


def _together(count: int, call, gate: threading.Event, cache: ImageCache, calls: list):
    """Run `call` in `count` threads: the first starts rendering and holds until `gate` opens, which
    it does once the cache counts the other `count - 1` waiting for that render."""
    with ThreadPoolExecutor(count) as pool:
        futures = [pool.submit(call)]
        wait_for(lambda: calls, "the first render to start")
        futures += [pool.submit(call) for _ in range(count - 1)]
        wait_for(lambda: cache.coalesced == count - 1, "the others to wait for it")
        gate.set()
    return futures


@pytest.mark.parametrize("max_bytes", [1 << 20, 0])  # also with the cache off: coalescing does not store
def test_concurrent_misses_for_one_key_render_once(max_bytes: int) -> None:
    cache, gate, calls = ImageCache(max_bytes), threading.Event(), []
    render = _gated_render(gate, calls)
    futures = _together(5, lambda: cache.get_or_render("tile", render), gate, cache, calls)
    results = [f.result(timeout=10) for f in futures]
    assert len(calls) == 1
    assert {image.content for image, _ in results} == {b"png bytes"} and not any(hit for _, hit in results)
    # Once done, nothing is in flight: the next miss renders (cache off) or hits (cache on).
    _image, hit = cache.get_or_render("tile", _gated_render(gate, calls))
    assert hit == bool(max_bytes) and len(calls) == 1 + (not max_bytes)


def test_a_failed_render_fails_its_waiters_and_is_not_remembered() -> None:
    cache, gate, calls = ImageCache(1 << 20), threading.Event(), []

    def failing() -> tuple[bytes, str]:
        calls.append(1)
        assert gate.wait(10)
        raise ValueError("the band file is broken")

    futures = _together(4, lambda: cache.get_or_render("tile", failing), gate, cache, calls)
    for future in futures:
        with pytest.raises(ValueError, match="broken"):
            future.result(timeout=10)
    assert len(calls) == 1
    image, hit = cache.get_or_render("tile", lambda: (b"fixed", "image/png"))
    assert image.content == b"fixed" and not hit


def test_different_keys_render_side_by_side() -> None:
    cache, gate, calls = ImageCache(1 << 20), threading.Event(), []
    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(cache.get_or_render, key, _gated_render(gate, calls, key.encode())) for key in "abc"]
        wait_for(lambda: len(calls) == 3, "three renders side by side")  # none waited for another
        gate.set()
        assert sorted(f.result(timeout=10)[0].content for f in futures) == [b"a", b"b", b"c"]


def _encodes(base: str) -> float:
    text = httpx.get(f"{base}/metrics").text
    match = re.search(r'^eo_tiler_render_stage_seconds_count\{stage="encode"\} (\S+)$', text, re.M)
    return float(match.group(1)) if match else 0.0


def test_browsers_opening_one_view_at_once_get_each_tile_rendered_once(
    demo_server, demo_app, demo_archive, monkeypatch
):
    """Six clients ask for the same new tile at the same moment over HTTP: one render, six equal answers."""
    _, products = demo_archive
    l2a = next(p for p in products if p.collection == "sentinel-2-l2a" and p.layout == "safe")
    meta = httpx.get(f"{demo_server}/products/{l2a.id}").json()
    z, x, y = centre_tile(meta, 15)
    read = pipeline.read_part
    cache = demo_app.state.services.cache
    waiting = cache.coalesced

    def slow_read(*args, **kwargs):  # the render holds until the other five wait for it
        wait_for(lambda: cache.coalesced - waiting == 5, "five requests to wait for the render")
        return read(*args, **kwargs)

    monkeypatch.setattr(pipeline, "read_part", slow_read)
    before = _encodes(demo_server)
    url = f"{demo_server}/tiles/{z}/{x}/{y}.png?product={l2a.id}&layer=FALSE_COLOR_URBAN"
    barrier = threading.Barrier(6)

    def fetch() -> httpx.Response:
        barrier.wait()
        return httpx.get(url, timeout=30)

    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(lambda _: fetch(), range(6)))
    assert [r.status_code for r in responses] == [200] * 6
    assert len({r.content for r in responses}) == 1 and len({r.headers["etag"] for r in responses}) == 1
    assert _encodes(demo_server) - before == 1
