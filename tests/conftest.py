"""Shared fixtures: the real sample data from ../shared/data and a small generated demo archive."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.helpers import SHARED_DATA, serve
from tiler.app import create_app
from tiler.settings import Settings


@pytest.fixture(scope="session", autouse=True)
def _catalogs_in_a_temporary_cache(tmp_path_factory: pytest.TempPathFactory):
    """Default catalog files (and those of server subprocesses) go to a fresh cache, not ~/.cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "SOURCES.md").is_file():
        pytest.skip(f"the shared sample data is not at {SHARED_DATA} (set EO_TILER_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def real_settings(shared_data: Path) -> Settings:
    return Settings(data_roots=(shared_data,))


@pytest.fixture(scope="session")
def real_app(real_settings: Settings):
    return create_app(real_settings)


@pytest.fixture()
def real_client(real_app) -> TestClient:
    # A fresh client per test, but one app: the index is built once per session.
    return TestClient(real_app, raise_server_exceptions=False)


@pytest.fixture(scope="session")
def demo_archive(tmp_path_factory: pytest.TempPathFactory):
    from demo import generate_archive

    root = tmp_path_factory.mktemp("demo")
    return root, generate_archive(root, size=120)


@pytest.fixture(scope="session")
def demo_app(demo_archive):
    root, _ = demo_archive
    return create_app(Settings(data_roots=(root,)))


@pytest.fixture()
def demo_client(demo_app) -> TestClient:
    return TestClient(demo_app, raise_server_exceptions=False)


@pytest.fixture(scope="session")
def demo_server(demo_app):
    """The demo app served by uvicorn on loopback in a thread, for real HTTP clients."""
    with serve(demo_app) as url:
        yield url


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL 15 cluster with PostGIS for the session (tests/postgres.py); each test
    takes fresh databases of it (`new_database`, pgSTAC migrated into a template once)."""
    from tests.postgres import Cluster

    base = Path(f"/tmp/eo-tiler-pg-{os.getpid()}")
    cluster = Cluster.create(base)
    yield cluster
    cluster.drop()
    base.rmdir()


@pytest.fixture()
def pgstac_url(postgres) -> str:
    return postgres.new_database()


@pytest.fixture()
def redis_server(tmp_path: Path):
    """A fresh, empty redis-server of this test's own."""
    from tests.redis_server import RedisServer

    server = RedisServer(tmp_path)
    yield server
    server.stop()
