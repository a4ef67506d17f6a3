"""What the workers and replicas of one deployment share, built from the settings: the image cache's
second level and the API-key quotas, in Redis when configured, in the process otherwise."""

from __future__ import annotations

from collections.abc import Callable

from tiler.cache import ImageCache
from tiler.http.observability import Metrics
from tiler.http.quotas import MemoryQuota, Quota, RedisQuota
from tiler.redis_cache import RedisStore
from tiler.settings import Settings

# A claim on a render outlives the render's own deadline by this much, so only a dead renderer's expires.
CLAIM_MARGIN_SECONDS = 1.0


def image_cache(settings: Settings, catalog_version: Callable[[], str], metrics: Metrics) -> ImageCache:
    store = None
    if settings.cache_url:
        store = RedisStore(settings.cache_url, settings.render_timeout + CLAIM_MARGIN_SECONDS, settings.redis_timeout)
        store.check_memory_policy()
    return ImageCache(settings.cache_bytes, store, catalog_version, metrics.cache_events())


def api_quota(settings: Settings, metrics: Metrics) -> Quota:
    url = settings.quota_store_url
    if url is None:
        return MemoryQuota(settings.api_quota_per_minute)
    unavailable = metrics.shared_unavailable.labels("quota").inc
    return RedisQuota(settings.api_quota_per_minute, url, settings.redis_timeout, unavailable)
