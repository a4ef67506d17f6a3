"""Optional API keys: off by default; when on, a key per request, a quota per key, and keys never logged."""

from __future__ import annotations

import logging

import pytest

from tests.helpers import centre_tile_url, demo_variant
from tiler.http.auth import key_id

KEY, OTHER = "k-7f3a9c1e5b", "k-other-2d4e"


@pytest.fixture(scope="module")
def product(demo_app):
    return next(iter(demo_app.state.services.catalog))


def test_keys_are_off_by_default(demo_client, product) -> None:
    assert demo_client.get(f"/products/{product.id}").status_code == 200


def test_protected_routes_need_a_valid_key(demo_app, demo_archive, product) -> None:
    client = demo_variant(demo_app, demo_archive, api_keys=(KEY, OTHER))
    tile = centre_tile_url(product)
    query = {"product": product.id}
    for path in (tile, "/preview.png", "/tilejson.json", "/products", f"/products/{product.id}"):
        missing = client.get(path, params=query)
        assert missing.status_code == 401 and "API key is required" in missing.json()["detail"], path
        wrong = client.get(path, params=query | {"key": "guess"})
        assert wrong.status_code == 401 and "not valid" in wrong.json()["detail"]
        assert client.get(path, params=query | {"key": KEY}).status_code == 200, path
        assert client.get(path, params=query, headers={"X-API-Key": OTHER}).status_code == 200
    for path in ("/", "/layers", "/healthz", "/readyz", "/metrics"):
        assert client.get(path).status_code == 200, path
    # GIS clients only keep URLs: the TileJSON's tile URL carries the key on.
    template = client.get("/tilejson.json", params=query | {"key": KEY}).json()["tiles"][0]
    assert f"key={KEY}" in template


def test_quota_per_key_gets_429_with_retry_after(demo_app, demo_archive, product) -> None:
    client = demo_variant(demo_app, demo_archive, api_keys=(KEY, OTHER), api_quota_per_minute=3)
    path = f"/products/{product.id}"
    assert [client.get(path, headers={"X-API-Key": KEY}).status_code for _ in range(3)] == [200] * 3
    over = client.get(path, params={"key": KEY})
    assert over.status_code == 429
    assert 1 <= int(over.headers["retry-after"]) <= 60 and "3 requests per minute" in over.json()["detail"]
    assert client.get(path, headers={"X-API-Key": OTHER}).status_code == 200  # each key has its own quota
    assert client.get("/healthz").status_code == 200  # open routes are not counted


def test_keys_never_reach_the_logs(demo_app, demo_archive, product, caplog) -> None:
    client = demo_variant(demo_app, demo_archive, api_keys=(KEY,))
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="tiler.access")
    tile = centre_tile_url(product)
    client.get(tile, params={"product": product.id, "key": KEY})
    client.get(tile, params={"product": product.id, "expression": "B99", "key": KEY})  # an error path
    client.get(tile, params={"product": product.id}, headers={"X-API-Key": KEY})
    client.get(tile, params={"product": product.id, "key": KEY + "x"})  # a near miss is not logged either
    # The test client's own request log (httpx) is not the server's.
    text = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("httpx"))
    access = [r for r in caplog.records if r.name == "tiler.access"]
    assert len(access) == 4
    assert KEY not in text
    assert f'"key_id": "{key_id(KEY)}"' in access[0].getMessage()  # who it was, without the secret
    assert '"route": "/tiles/' in access[3].getMessage() and '"status": 401' in access[3].getMessage()
