"""Operations: /healthz, /readyz, /metrics in Prometheus text format, JSON access logs with request ids."""

from __future__ import annotations

import json
import logging

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from tests.helpers import centre_tile_url, demo_variant
from tiler.app import create_app
from tiler.catalog import MemoryCatalog
from tiler.http.observability import redact_query
from tiler.settings import Settings


def samples(client: TestClient) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


@pytest.fixture()
def client(demo_app, demo_archive) -> TestClient:
    # A fresh app per test: its metrics start at zero.
    return demo_variant(demo_app, demo_archive)


@pytest.fixture(scope="module")
def product(demo_app):
    return next(iter(demo_app.state.services.catalog))


def test_metrics_count_requests_stages_and_cache(client, product) -> None:
    url = centre_tile_url(product)
    for _ in range(2):
        assert client.get(url, params={"product": product.id, "layer": "NDVI"}).status_code == 200
    assert client.get(url, params={"product": "nope"}).status_code == 404
    assert client.get("/no/such/route").status_code == 404
    m = samples(client)
    tile_route = "/tiles/{z}/{x}/{y}.{ext}"
    assert m[("eo_tiler_requests_total", (("route", tile_route), ("status", "200")))] == 2
    assert m[("eo_tiler_requests_total", (("route", tile_route), ("status", "404")))] == 1
    # Unmatched paths share one label, so crawlers cannot grow the label set.
    assert m[("eo_tiler_requests_total", (("route", "unmatched"), ("status", "404")))] == 1
    assert m[("eo_tiler_cache_requests_total", (("outcome", "hit"),))] == 1
    assert m[("eo_tiler_cache_requests_total", (("outcome", "miss"),))] == 1
    for stage in ("resolve", "read", "evaluate", "encode"):
        # resolve runs for every tile request that got that far; the others for the one miss.
        assert m[("eo_tiler_render_stage_seconds_count", (("stage", stage),))] == (3 if stage == "resolve" else 1)
    cache = client.app.state.services.cache
    assert m[("eo_tiler_cache_bytes", ())] == cache.current_bytes > 0
    assert m[("eo_tiler_cache_max_bytes", ())] == cache.max_bytes
    assert m[("eo_tiler_request_duration_seconds_count", (("route", tile_route),))] == 3


def test_access_log_is_json_with_request_id(client, product, caplog) -> None:
    caplog.set_level(logging.INFO, logger="tiler.access")
    url = centre_tile_url(product)
    response = client.get(url, params={"product": product.id, "layer": "SWIR"}, headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    generated = client.get("/layers", headers={"X-Request-ID": "not ok;" * 20})
    assert len(generated.headers["x-request-id"]) == 32  # a hostile id is replaced, not echoed
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "tiler.access"]
    assert len(lines) == 2
    tile, layers = lines
    assert tile["request_id"] == "abc-123" and tile["route"] == "/tiles/{z}/{x}/{y}.{ext}"
    assert tile["status"] == 200 and tile["cache"] == "miss" and tile["duration_ms"] > 0
    assert set(tile["stages_ms"]) == {"resolve", "read", "evaluate", "encode"}
    assert tile["path"] == url and "layer=SWIR" in tile["query"]
    assert layers["request_id"] == generated.headers["x-request-id"] and layers["cache"] is None


def test_redact_query() -> None:
    assert redact_query("product=a&key=s3cret&layer=NDVI") == "product=a&key=REDACTED&layer=NDVI"
    assert "s3cret" not in redact_query("key=s3cret&key=s3cret")


def test_healthz_and_readyz(client, tmp_path) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["products"] > 0
    # A data root that vanishes (an unmounted volume) makes the server not ready, without naming the path.
    root = tmp_path / "root"
    root.mkdir()
    app = create_app(Settings(data_roots=(root,)), catalog=MemoryCatalog([root]))
    root.rmdir()
    response = TestClient(app).get("/readyz")
    assert response.status_code == 503
    assert response.json()["problems"] == ["data root 1 is not readable"] and str(tmp_path) not in response.text
