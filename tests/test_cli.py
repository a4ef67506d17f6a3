"""The `eo-tiler` command and the settings: a real server process on loopback, real HTTP."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers import COG_ID, WEB_MERCATOR, decode, free_port
from tiler.settings import Settings, settings_from_env

pytestmark = pytest.mark.slow


def start(args: list[str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tiler.cli", *args, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(process.stdout.read())
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return process, base
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise AssertionError("server did not start")


def stop(process: subprocess.Popen) -> str:
    process.terminate()
    output, _ = process.communicate(timeout=20)
    return output


def test_serve_answers_over_http(shared_data: Path) -> None:
    process, base = start(["serve", "--data", str(shared_data), "--workers", "2"])
    try:
        meta = httpx.get(f"{base}/products/{COG_ID}").json()
        west, south, east, north = meta["bounds"]
        t = WEB_MERCATOR.tile((west + east) / 2, (south + north) / 2, 10)
        tile = httpx.get(f"{base}/tiles/10/{t.x}/{t.y}.png", params={"product": COG_ID, "layer": "NDVI"})
        assert tile.status_code == 200 and decode(tile.content)[..., 3].mean() > 0
        assert httpx.get(f"{base}/tiles/10/0/0.png", params={"product": "../x"}).status_code == 400
    finally:
        output = stop(process)
    assert "map page at http://127.0.0.1:" in output


def test_demo_generates_then_serves(tmp_path: Path) -> None:
    process, base = start(["demo", "--dir", str(tmp_path / "demo"), "--size", "60"])
    try:
        products = httpx.get(f"{base}/products").json()["products"]
        assert len(products) >= 4
        page = httpx.get(base + "/")
        assert page.status_code == 200 and "leaflet" in page.text
        preview = httpx.get(products[0]["links"]["preview"] + "&width=64")
        assert preview.status_code == 200
    finally:
        output = stop(process)
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
