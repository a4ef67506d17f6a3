"""The pgSTAC catalog in service: the same answers and pixels as SQLite over one archive, a
database that is stopped or slow (503 with Retry-After, /readyz, recovery without a restart),
`eo-tiler serve --catalog postgresql://...` as a real process, and its settings."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import psycopg
import pytest
from starlette.testclient import TestClient

from tests.helpers import WEB_MERCATOR, decode, free_port, serve, write_product
from tests.postgres import Cluster
from tiler.app import create_app
from tiler.settings import Settings, settings_from_env


@pytest.fixture(scope="module")
def twin_clients(demo_archive, postgres, tmp_path_factory):
    """The demo archive behind two apps, one on SQLite and one on pgSTAC."""
    root, _ = demo_archive
    sqlite = create_app(Settings(data_roots=(root,), catalog=tmp_path_factory.mktemp("twin") / "c.sqlite"))
    pgstac = create_app(Settings(data_roots=(root,), catalog=postgres.new_database()))
    yield TestClient(sqlite, raise_server_exceptions=False), TestClient(pgstac, raise_server_exceptions=False)
    pgstac.state.services.catalog.close()


def test_both_backends_find_the_same_products(twin_clients, demo_archive) -> None:
    _, products = demo_archive
    sqlite, pgstac = twin_clients
    area = ",".join(map(str, _archive_bounds(sqlite)))
    queries = [
        {},
        {"limit": 1, "page": 2},
        {"collection": "sentinel-2-l2a"},
        {"collection": "sentinel-2-l1c"},
        {"bbox": area, "datetime": "2020-09"},
        {"bbox": area, "maxcc": 15},
        {"datetime": "2020-09-17/.."},
        {"datetime": "2022"},
    ]
    for query in queries:
        expected = sqlite.get("/search", params=query)
        got = pgstac.get("/search", params=query)
        assert expected.status_code == got.status_code == 200, query
        assert got.json() == expected.json(), query
    assert sqlite.get("/search").json()["numberMatched"] == len(products)
    assert pgstac.get("/products").json() == sqlite.get("/products").json()


def _archive_bounds(client: TestClient) -> tuple[float, float, float, float]:
    """Where the demo's Sentinel-2 products lie (its DEM and land-cover maps span degrees)."""
    products = client.get("/products").json()["products"]
    bounds = np.array([p["bounds"] for p in products if p["collection"].startswith("sentinel-2")])
    return bounds[:, 0].min(), bounds[:, 1].min(), bounds[:, 2].max(), bounds[:, 3].max()


@pytest.mark.parametrize(
    "params",
    [
        {"time": "2020-09", "priority": "mostRecent"},
        {"time": "2020-09", "priority": "leastCC", "maxcc": 18},
        {"time": "2020-01/2023-01", "priority": "leastRecent", "cloudmask": "true"},
        {"collection": "sentinel-2-l1c", "time": "2020"},
    ],
)
def test_both_backends_draw_the_same_mosaic_pixels(twin_clients, params) -> None:
    sqlite, pgstac = twin_clients
    west, south, east, north = _archive_bounds(sqlite)
    tiles = list(WEB_MERCATOR.tiles(west, south, east, north, [14]))
    drawn = 0
    for tile in tiles:
        url = f"/tiles/{tile.z}/{tile.x}/{tile.y}.png"
        query = params | {"layer": "TRUE_COLOR"}
        expected, got = sqlite.get(url, params=query), pgstac.get(url, params=query)
        assert expected.status_code == got.status_code == 200, got.text
        pixels = decode(got.content)
        assert np.array_equal(pixels, decode(expected.content)), tile
        drawn += int((pixels[..., 3] > 0).sum())
    assert drawn > 1000  # the mosaics are not empty


# ---------------------------------------------------------------------------------------------
# Outages


@pytest.fixture()
def own_cluster(tmp_path):
    """A cluster of its own: this test stops and starts it."""
    # Outside pytest's tmp folders (the postgres user must reach it), named per run: runs side by side
    # (several checkouts on one machine) must not share it.
    base = Path(f"/tmp/eo-tiler-pg-outage-{os.getpid()}-{tmp_path.name}")
    cluster = Cluster.create(base)
    yield cluster
    cluster.drop()
    shutil.rmtree(base, ignore_errors=True)


def _status(base: str, path: str, params: dict | None = None) -> httpx.Response:
    return httpx.get(base + path, params=params, timeout=30)


@pytest.mark.slow
def test_a_stopped_database_gives_503_and_recovers_without_a_restart(own_cluster, tmp_path) -> None:
    root = tmp_path / "data"
    write_product(root, "P1", when="2021-06-01T10:00:00Z", cloud_cover=1.0)
    app = create_app(Settings(data_roots=(root,), catalog=own_cluster.new_database(), db_timeout=1.0))
    catalog = app.state.services.catalog
    west, south, east, north = catalog.resolve("P1").bounds_wgs84
    tile = WEB_MERCATOR.tile((west + east) / 2, (south + north) / 2, 15)
    needs_the_catalog = [
        ("/search", None),
        ("/stac/search", None),
        ("/products/P1", None),
        (f"/tiles/15/{tile.x}/{tile.y}.png", {"product": "P1", "layer": "TRUE_COLOR"}),
        (f"/tiles/15/{tile.x}/{tile.y}.png", {"time": "2021-06", "layer": "TRUE_COLOR"}),
        ("/wms", {"SERVICE": "WMS", "REQUEST": "GetCapabilities"}),
        ("/wmts", {"SERVICE": "WMTS", "REQUEST": "GetCapabilities"}),
    ]
    with serve(app) as base:
        for path, params in needs_the_catalog:
            assert _status(base, path, params).status_code == 200, path
        assert _status(base, "/readyz").status_code == 200

        own_cluster.stop()
        for path, params in needs_the_catalog:
            response = _status(base, path, params)  # cached images too: their keys need the catalog
            assert response.status_code == 503, (path, response.text)
            assert response.headers["retry-after"] == "5"
            assert "unreachable" in response.text  # JSON, or the OGC exception report on /wms and /wmts
        ready = _status(base, "/readyz")
        assert ready.status_code == 503 and ready.json()["problems"] == ["catalog: the catalog database is unreachable"]
        assert _status(base, "/healthz").status_code == 200  # alive: no reason to restart the process

        own_cluster.start()
        deadline = time.monotonic() + 60
        while _status(base, "/readyz").status_code != 200:
            assert time.monotonic() < deadline, "the catalog did not come back"
            time.sleep(0.5)  # polling for the pool to reconnect, not ordering threads
        for path, params in needs_the_catalog:
            assert _status(base, path, params).status_code == 200, path
    catalog.close()


def _signal_cluster(cluster: Cluster, sig: signal.Signals) -> None:
    """`sig` to the cluster's postmaster and every process it started."""
    postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
    children = subprocess.run(["pgrep", "-P", str(postmaster)], capture_output=True, text=True).stdout.split()
    for pid in [postmaster, *map(int, children)]:
        os.kill(pid, sig)


@pytest.mark.slow
def test_a_frozen_database_gives_503_not_a_hang(own_cluster, tmp_path) -> None:
    """A server that stops answering altogether cannot enforce its statement timeout: the
    client's own deadline ends the wait, and the connection is replaced once it answers again."""
    root = tmp_path / "data"
    write_product(root, "P1", when="2021-06-01T10:00:00Z", cloud_cover=1.0)
    app = create_app(Settings(data_roots=(root,), catalog=own_cluster.new_database(), db_timeout=1.0))
    client = TestClient(app, raise_server_exceptions=False)
    assert client.get("/search").status_code == 200  # a pooled connection, open
    _signal_cluster(own_cluster, signal.SIGSTOP)
    try:
        frozen = client.get("/search")
        assert frozen.status_code == 503 and frozen.headers["retry-after"] == "5", frozen.text
        assert client.get("/readyz").status_code == 503
    finally:
        _signal_cluster(own_cluster, signal.SIGCONT)
    deadline = time.monotonic() + 60
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, "the catalog did not come back"
        time.sleep(0.5)  # polling for the pool to reconnect, not ordering threads
    assert client.get("/search").status_code == 200
    app.state.services.catalog.close()


def test_a_slow_database_gives_503_within_its_timeout(pgstac_url, tmp_path) -> None:
    root = tmp_path / "data"
    write_product(root, "P1", when="2021-06-01T10:00:00Z", cloud_cover=1.0)
    app = create_app(Settings(data_roots=(root,), catalog=pgstac_url, db_timeout=1.0))
    client = TestClient(app, raise_server_exceptions=False)
    assert client.get("/search").status_code == 200
    # Another session holds every item: the searches wait on its lock until their statement timeout.
    with psycopg.connect(pgstac_url) as blocker:
        blocker.execute("LOCK TABLE pgstac.items IN ACCESS EXCLUSIVE MODE")
        slow = client.get("/search")
        assert slow.status_code == 503 and slow.headers["retry-after"] == "5"
        assert "did not answer within 1 s" in slow.json()["detail"]
        assert client.get("/stac/search").status_code == 503
        blocker.rollback()
    assert client.get("/search").status_code == 200  # slowness is not an outage: no wait to recover
    app.state.services.catalog.close()


# ---------------------------------------------------------------------------------------------
# The command and the settings


@pytest.mark.slow
def test_serve_with_a_database_url(pgstac_url, tmp_path) -> None:
    """`eo-tiler serve --catalog postgresql://...` in a process of its own, two workers: the
    catalog is built on first start, each worker answers from the database, and a product that
    `eo-tiler index`, a third process, adds is found through them."""
    root = tmp_path / "data"
    for i in range(3):
        write_product(root, f"S{i}", when=f"2021-0{i + 1}-01T10:00:00Z", cloud_cover=10.0 * i, ulx=700_000.0 + i * 1000)
    port = free_port()
    command = [sys.executable, "-m", "tiler.cli", "serve", "--data", str(root), "--catalog", pgstac_url]
    process = subprocess.Popen(
        [*command, "--port", str(port), "--workers", "2"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    base = f"http://127.0.0.1:{port}"

    def clear_ids() -> set[str]:  # six requests: both workers answer some
        return {f["id"] for _ in range(6) for f in httpx.get(base + "/search", params={"maxcc": 15}).json()["features"]}

    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, process.stdout.read()
            assert time.monotonic() < deadline, "the server did not become ready"
            try:
                if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)  # polling for the server to listen, not ordering threads
        assert clear_ids() == {"S0", "S1"}
        write_product(root, "S3", when="2021-04-01T10:00:00Z", cloud_cover=3.0, ulx=703_000.0)
        indexed = subprocess.run(
            [sys.executable, "-m", "tiler.cli", "index", str(root), "--catalog", pgstac_url],
            capture_output=True,
            text=True,
        )
        assert indexed.returncode == 0 and "1 added" in indexed.stdout, indexed.stderr
        assert clear_ids() == {"S0", "S1", "S3"}
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    assert "pgSTAC database" in output and "3 products" in output
    assert pgstac_url not in output  # the URL, which may hold a password, is never printed


def test_database_settings_from_the_environment() -> None:
    url = "postgresql://eo:secret@db.example:5433/eodata"
    settings = settings_from_env(
        {
            "EO_TILER_CATALOG": url,
            "EO_TILER_DB_POOL_MIN": "2",
            "EO_TILER_DB_POOL_MAX": "20",
            "EO_TILER_DB_TIMEOUT": "2.5",
        }
    )
    assert settings.catalog_url == url and settings.catalog == url
    assert (settings.db_pool_min, settings.db_pool_max, settings.db_timeout) == (2, 20, 2.5)
    assert settings_from_env({"EO_TILER_CATALOG": "/var/lib/eo/c.sqlite"}).catalog_url is None
    for bad in ({"EO_TILER_DB_POOL_MAX": "0"}, {"EO_TILER_DB_POOL_MIN": "5", "EO_TILER_DB_POOL_MAX": "4"},
                {"EO_TILER_DB_TIMEOUT": "0"}, {"EO_TILER_DB_TIMEOUT": "inf"}):  # fmt: skip
        with pytest.raises(ValueError, match="db_"):
            settings_from_env(bad)
    with pytest.raises(ValueError, match="EO_TILER_DB_POOL_MAX"):
        settings_from_env({"EO_TILER_DB_POOL_MAX": "many"})
