"""The map page over HTTP: served with its own assets (no CDN), also when API keys are on."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from tiler.api.pages import STATIC_DIR
from tiler.app import create_app
from tiler.settings import Settings


@pytest.fixture(scope="module")
def keyed_client(demo_archive) -> TestClient:
    root, _ = demo_archive
    return TestClient(create_app(Settings(data_roots=(root,), api_keys=("secret",))), raise_server_exceptions=False)


def test_the_page_loads_only_its_own_assets(demo_client):
    page = demo_client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert "static/vendor/leaflet/leaflet.js" in assets and "static/app.js" in assets
    for asset in assets:
        assert not re.match(r"(https?:)?//", asset), f"{asset} is not served by the app"
        if not asset.startswith("data:"):
            assert demo_client.get("/" + asset).status_code == 200, asset


def test_the_page_and_its_assets_need_no_key_but_the_api_does(keyed_client):
    for path in ("/", "/static/app.js", "/static/app.css", "/static/vendor/leaflet/leaflet.js", "/layers"):
        assert keyed_client.get(path).status_code == 200, path
    assert keyed_client.get("/search").status_code == 401
    assert keyed_client.get("/search", params={"key": "secret"}).status_code == 200


# Encoded, so the client sends the dots as they are (it would resolve a plain "..").
@pytest.mark.parametrize("path", ["/static/%2e%2e/routes.py", "/static/vendor/%2e%2e/%2e%2e/routes.py"])
def test_static_files_stay_in_their_folder(demo_client, path):
    response = demo_client.get(path)
    assert response.status_code == 404
    assert "STATIC_DIR" not in response.text


def test_leaflet_is_installed_from_the_lockfile():
    # `make install` copies the npm package; nothing third-party is committed.
    assert (STATIC_DIR / "vendor" / "leaflet" / "leaflet.js").read_text().startswith("/* @preserve\n * Leaflet 1.9.4")
