"""The `eo-tiler` command and the settings: a real server process on loopback, real HTTP."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.helpers import COG_ID, WEB_MERCATOR, decode, start_server, stop_server
from tiler.settings import Settings, settings_from_env

pytestmark = pytest.mark.slow


def test_serve_answers_over_http(shared_data: Path) -> None:
    process, base = start_server(["serve", "--data", str(shared_data), "--workers", "2"])
    try:
        meta = httpx.get(f"{base}/products/{COG_ID}").json()
        west, south, east, north = meta["bounds"]
        t = WEB_MERCATOR.tile((west + east) / 2, (south + north) / 2, 10)
        tile = httpx.get(f"{base}/tiles/10/{t.x}/{t.y}.png", params={"product": COG_ID, "layer": "NDVI"})
        assert tile.status_code == 200 and decode(tile.content)[..., 3].mean() > 0
        assert httpx.get(f"{base}/tiles/10/0/0.png", params={"product": "../x"}).status_code == 400
    finally:
        output = stop_server(process)
    assert "map page at http://127.0.0.1:" in output


def test_demo_generates_then_serves(tmp_path: Path) -> None:
    process, base = start_server(["demo", "--dir", str(tmp_path / "demo"), "--size", "60"])
    try:
        products = httpx.get(f"{base}/products").json()["products"]
        assert len(products) >= 4
        page = httpx.get(base + "/")
        assert page.status_code == 200 and "leaflet" in page.text
        preview = httpx.get(products[0]["links"]["preview"] + "&width=64")
        assert preview.status_code == 200
    finally:
        output = stop_server(process)
    assert "map page at" in output


def test_serve_refuses_a_missing_root(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tiler.cli", "serve", "--data", str(tmp_path / "nope")], capture_output=True, text=True
    )
    assert result.returncode != 0 and "data root not found" in result.stderr


def test_settings_from_environment() -> None:
    settings = settings_from_env(
        {"EO_TILER_DATA": "/a:/b", "EO_TILER_PORT": "9000", "EO_TILER_CACHE_BYTES": "1000"}, port=9100
    )
    assert settings.data_roots == (Path("/a"), Path("/b"))
    assert settings.port == 9100  # the command line wins
    assert settings.cache_bytes == 1000
    with pytest.raises(ValueError, match="EO_TILER_WORKERS"):
        settings_from_env({"EO_TILER_WORKERS": "many"})
    with pytest.raises(ValueError):
        Settings(workers=0)


def test_stuck_worker_and_slow_client_settings_from_environment() -> None:
    settings = settings_from_env(
        {"EO_TILER_WORKER_TIMEOUT": "12.5", "EO_TILER_HEADER_TIMEOUT": "4", "EO_TILER_KEEP_ALIVE_TIMEOUT": "2",
         "EO_TILER_LIMIT_CONCURRENCY": "100", "EO_TILER_BACKLOG": "64", "EO_TILER_MAX_HEADER_BYTES": "8192"}
    )  # fmt: skip
    assert (settings.worker_timeout, settings.header_timeout, settings.keep_alive_timeout) == (12.5, 4.0, 2.0)
    assert (settings.limit_concurrency, settings.backlog, settings.max_header_bytes) == (100, 64, 8192)
    for bad in ({"worker_timeout": 1.0}, {"header_timeout": 0.0}, {"keep_alive_timeout": float("inf")},
                {"limit_concurrency": 0}, {"backlog": 0}, {"shutdown_timeout": float("nan")}):  # fmt: skip
        with pytest.raises(ValueError):
            Settings(**bad)


def test_redis_settings_from_environment_and_command_line() -> None:
    assert settings_from_env({}).cache_url is None and settings_from_env({}).quota_store_url is None
    shared = settings_from_env({"EO_TILER_CACHE_URL": "redis://:secret@cache:6379/1", "EO_TILER_REDIS_TIMEOUT": "0.5"})
    assert shared.cache_url == "redis://:secret@cache:6379/1" and shared.redis_timeout == 0.5
    assert shared.quota_store_url == shared.cache_url  # quotas follow the cache unless told otherwise
    assert "secret" not in repr(shared)
    apart = settings_from_env({"EO_TILER_CACHE_URL": "redis://a/0", "EO_TILER_QUOTA_URL": "unix:///run/q.sock"})
    assert apart.quota_store_url == "unix:///run/q.sock"
    assert (
        settings_from_env({"EO_TILER_CACHE_URL": "redis://a/0"}, cache_url="rediss://b/0").cache_url == "rediss://b/0"
    )
    with pytest.raises(ValueError, match="cache_url must be a Redis URL"):
        settings_from_env({"EO_TILER_CACHE_URL": "http://cache:6379"})
    with pytest.raises(ValueError, match="redis_timeout"):
        Settings(redis_timeout=0)
