"""The image cache's shared level and the quotas against a real redis-server: stable keys, renders
claimed across processes, a renderer that dies holding its claim, Redis down or hung."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time

import pytest

from tests.helpers import REPO
from tiler.cache import CacheEvents, ImageCache, stable_key
from tiler.http.quotas import RedisQuota
from tiler.redis_cache import CLAIM_PREFIX, IMAGE_PREFIX, RedisStore

# A render job's key (tiler.pipeline.job.RenderJob.cache_key), as the pipeline makes them.
KEY = "product=S2A_X|layer=TRUE_COLOR|rescale=None|nearest/nearest#(0.0, 0.0, 1.0, 1.0)|EPSG:3857|256x256#png/None"

# Prints the shared name of the key in argv[1] under catalog version "7".
PRINT_KEY = """
import sys
from tiler.cache import stable_key
print(stable_key("7", sys.argv[1]))
"""

# A renderer that claims KEY, says so, and never finishes: the test kills it there.
HOLDER = """
import sys
from tiler.cache import ImageCache
from tiler.redis_cache import RedisStore

def render():
    print("rendering", flush=True)
    sys.stdin.read()

store = RedisStore(sys.argv[1], claim_seconds=float(sys.argv[2]), timeout=5)
ImageCache(0, store).get_or_render(sys.argv[3], render)
"""


class Counts:
    def __init__(self) -> None:
        self.rendered = self.unavailable = 0

    def events(self) -> CacheEvents:
        def rendered() -> None:
            self.rendered += 1

        def unavailable() -> None:
            self.unavailable += 1

        return CacheEvents(rendered=rendered, shared_unavailable=unavailable)


def python(code: str, *args: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO, env=os.environ | env,
    )  # fmt: skip


def test_shared_names_are_the_same_in_every_process_and_change_with_the_catalog_version() -> None:
    # hash() is salted per process; the shared name must not be.
    names = {python(PRINT_KEY, KEY, PYTHONHASHSEED=seed).communicate()[0].strip() for seed in ("1", "2")}
    assert names == {stable_key("7", KEY)}
    assert stable_key("8", KEY) != stable_key("7", KEY)
    assert stable_key("7", KEY.replace("256x256", "512x512")) != stable_key("7", KEY)


def test_an_image_rendered_through_one_cache_is_a_hit_through_another(redis_server) -> None:
    first, second = Counts(), Counts()
    one = ImageCache(1 << 20, RedisStore(redis_server.url, 5, 1), lambda: "3", first.events())
    other = ImageCache(1 << 20, RedisStore(redis_server.url, 5, 1), lambda: "3", second.events())
    image, hit = one.get_or_render(KEY, lambda: (b"png bytes", "image/png"))
    assert not hit and first.rendered == 1
    shared, hit = other.get_or_render(KEY, lambda: pytest.fail("rendered again"))
    assert hit and shared == image and second.rendered == 0
    assert redis_server.client.exists(IMAGE_PREFIX + stable_key("3", KEY))
    # Another catalog version is another image: after an index update nothing stale is served.
    newer = ImageCache(1 << 20, RedisStore(redis_server.url, 5, 1), lambda: "4")
    assert newer.get_or_render(KEY, lambda: (b"new png", "image/png"))[0].content == b"new png"


def test_a_renderer_killed_holding_its_claim_blocks_the_others_only_until_the_claim_expires(redis_server) -> None:
    claim_name = CLAIM_PREFIX + stable_key("", KEY)
    holder = python(HOLDER, redis_server.url, "3", KEY)
    try:
        assert holder.stdout.readline().strip() == "rendering"
        dead_token = redis_server.client.get(claim_name)
        assert dead_token is not None and redis_server.client.pttl(claim_name) > 0
    finally:
        holder.kill()
        holder.wait(timeout=10)
    tokens = []

    def render() -> tuple[bytes, str]:
        tokens.append(redis_server.client.get(claim_name))
        return b"png bytes", "image/png"

    counts = Counts()
    cache = ImageCache(0, RedisStore(redis_server.url, 3, 1), events=counts.events())
    image, hit = cache.get_or_render(KEY, render)
    # Rendered once, under a claim of its own taken after the dead one expired, and stored for all.
    assert (image.content, hit, counts.rendered, counts.unavailable) == (b"png bytes", False, 1, 0)
    assert len(tokens) == 1 and tokens[0] not in (None, dead_token)
    assert redis_server.client.get(claim_name) is None
    assert redis_server.client.exists(IMAGE_PREFIX + stable_key("", KEY))


def test_with_redis_down_images_are_rendered_and_served_and_one_warning_is_logged(redis_server, caplog) -> None:
    redis_server.kill()
    counts = Counts()
    cache = ImageCache(0, RedisStore(redis_server.url, 5, 1), events=counts.events())
    caplog.set_level(logging.WARNING, logger="tiler.outage")
    for number in range(5):
        image, hit = cache.get_or_render(f"tile {number}", lambda: (b"png bytes", "image/png"))
        assert (image.content, hit) == (b"png bytes", False)
    assert counts.rendered == 5 and counts.unavailable >= 5  # at least once per request
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "Redis image cache is unavailable" in warnings[0].getMessage()


def test_a_hung_redis_costs_a_timeout_not_a_failure_and_is_used_again_when_it_answers(redis_server, caplog) -> None:
    counts = Counts()
    store = RedisStore(redis_server.url, 5, timeout=0.2, retry_seconds=0.05)
    cache = ImageCache(0, store, events=counts.events())
    caplog.set_level(logging.WARNING, logger="tiler.outage")
    redis_server.pause()
    try:
        image, hit = cache.get_or_render("tile hung", lambda: (b"png bytes", "image/png"))
        assert (image.content, hit) == (b"png bytes", False) and counts.unavailable >= 1
    finally:
        redis_server.resume()
    deadline = time.monotonic() + 30
    number = 0
    while not redis_server.client.exists(IMAGE_PREFIX + stable_key("", f"tile {number}")):
        assert time.monotonic() < deadline, "the cache never used Redis again"
        number += 1
        cache.get_or_render(f"tile {number}", lambda: (b"png bytes", "image/png"))
    assert "available again" in caplog.records[-1].getMessage()


def test_memory_settings_that_would_not_evict_are_warned_about(redis_server, caplog) -> None:
    store = RedisStore(redis_server.url, 5, 1)
    caplog.set_level(logging.WARNING, logger="tiler.redis_cache")
    store.check_memory_policy()
    assert not caplog.records  # the tests' Redis is configured as the README says
    redis_server.client.config_set("maxmemory-policy", "noeviction")
    store.check_memory_policy()
    assert "maxmemory-policy noeviction" in caplog.records[0].getMessage()


def test_quotas_in_redis_hold_across_processes_and_fall_back_to_memory_without_it(redis_server) -> None:
    unavailable = []

    async def run() -> None:
        # Two quotas on one Redis, as in two workers: together they allow the quota once.
        one, other = (RedisQuota(3, redis_server.url, 1, lambda: unavailable.append(1)) for _ in range(2))
        assert [await q.retry_after("key-a") for q in (one, other, one)] == [None] * 3
        retry_after = await other.retry_after("key-a")
        assert retry_after is not None and 1 <= retry_after <= 60
        assert await other.retry_after("key-b") is None  # each key has its own quota
        assert not unavailable
        redis_server.kill()
        # Each process counts in memory meanwhile, as without Redis: up to the quota, then 429.
        answers = [await one.retry_after("key-a") for _ in range(4)]
        assert answers[:3] == [None] * 3 and answers[3] is not None
        assert len(unavailable) == 4

    asyncio.run(run())


def test_an_app_started_while_redis_is_down_serves_and_counts_it(demo_app, demo_archive, redis_server) -> None:
    from tests.helpers import centre_tile_url, demo_variant
    from tests.test_observability import samples

    redis_server.kill()
    client = demo_variant(demo_app, demo_archive, cache_url=redis_server.url, api_keys=("k",), api_quota_per_minute=3)
    product = next(iter(demo_app.state.services.catalog))
    url, params = centre_tile_url(product), {"product": product.id, "layer": "NDVI", "key": "k"}
    answers = [client.get(url, params=params) for _ in range(3)]
    assert [a.status_code for a in answers] == [200] * 3
    assert [a.headers["x-cache"] for a in answers] == ["miss", "hit", "hit"]  # the in-process level still works
    assert client.get(url, params=params).status_code == 429  # quotas counted in memory meanwhile
    m = samples(client)
    assert m[("eo_tiler_shared_store_unavailable_total", (("store", "cache"),))] >= 1
    assert m[("eo_tiler_shared_store_unavailable_total", (("store", "quota"),))] == 4
