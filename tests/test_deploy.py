"""The deployment examples (docker-compose.yml, deploy/): no Docker engine or cluster runs here, so they
are parsed and checked against eo-tiler itself: every EO_TILER_* setting they pass is one eo-tiler
reads and accepts, ports agree from proxy to container, probes ask for eo-tiler's own health routes."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

import pytest
import yaml

from tests.helpers import REPO
from tiler.api.pages import routes as page_routes
from tiler.settings import ENV_PREFIX, Settings, settings_from_env

KUBERNETES = sorted((REPO / "deploy" / "kubernetes").glob("*.yaml"))
ROUTES = {route.path for route in page_routes}


class ReadKeys(Mapping[str, str]):
    """An environment that remembers which variables were looked up."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return self._values[key]

    def __contains__(self, key: object) -> bool:
        self.read.add(str(key))
        return key in self._values

    def get(self, key, default=None):
        self.read.add(key)
        return self._values.get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def check_settings(environment: Mapping[str, str]) -> Settings:
    """Settings from the file's EO_TILER_* values: each must be read, and all must be valid together."""
    ours = {k: str(v) for k, v in environment.items() if k.startswith(ENV_PREFIX)}
    assert ours, "no eo-tiler settings"
    recorder = ReadKeys(ours)
    settings = settings_from_env(recorder)
    unknown = set(ours) - recorder.read
    assert not unknown, f"eo-tiler has no such settings: {sorted(unknown)}"
    return settings


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def kubernetes() -> list[dict]:
    assert KUBERNETES
    return [document for path in KUBERNETES for document in yaml.safe_load_all(path.read_text()) if document]


def test_settings_passed_by_compose_exist_and_are_valid(compose) -> None:
    for name in ("eo-tiler", "index"):
        settings = check_settings(compose["services"][name]["environment"])
        assert settings.cache_url == "redis://redis:6379/0" and settings.quota_store_url == settings.cache_url
        assert str(settings.catalog).startswith("postgresql:")


def test_compose_runs_replicas_behind_a_proxy_with_redis_and_postgis(compose) -> None:
    services = compose["services"]
    tiler = services["eo-tiler"]
    assert tiler["deploy"]["replicas"] >= 2
    assert "postgis" in services["postgres"]["image"] and services["redis"]["image"].startswith("redis:")
    assert {"postgres", "redis"} <= set(tiler["depends_on"])
    # Redis as a cache: bounded, least recently used images evicted first.
    command = services["redis"]["command"]
    assert command[command.index("--maxmemory-policy") + 1] == "allkeys-lru" and "--maxmemory" in command
    # The catalog and the cache point at the compose services, at their ports.
    settings = check_settings(tiler["environment"])
    assert "@postgres:5432/" in str(settings.catalog) and settings.cache_url.startswith("redis://redis:6379/")
    health = tiler["healthcheck"]["test"][-1]
    assert f"127.0.0.1:{settings.port}/healthz" in health and "/healthz" in ROUTES
    assert int(tiler["stop_grace_period"].rstrip("s")) > settings.shutdown_timeout


def test_the_proxy_reaches_the_replicas_port_and_passes_the_public_url(compose) -> None:
    proxy = compose["services"]["proxy"]
    mount = next(v for v in proxy["volumes"] if "nginx.conf" in v)
    config = (REPO / mount.split(":")[0]).read_text()
    port = check_settings(compose["services"]["eo-tiler"]["environment"]).port
    assert re.search(rf"server eo-tiler:{port};", config)
    assert any(p.endswith(":80") for p in proxy["ports"]) and "listen 80;" in config
    # What tiler.ogc.common.service_base builds WMS/WMTS URLs from.
    for header, value in (("X-Forwarded-Proto", "$scheme"), ("X-Forwarded-Host", "$http_host")):
        assert f"proxy_set_header {header} {value};" in config


def test_kubernetes_settings_exist_and_are_valid(kubernetes) -> None:
    config_map = next(d for d in kubernetes if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "eo-tiler")
    deployment = next(d for d in kubernetes if d["kind"] == "Deployment" and d["metadata"]["name"] == "eo-tiler")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert [s["configMapRef"]["name"] for s in container["envFrom"]] == ["eo-tiler"]
    environment = {**config_map["data"], **{e["name"]: e.get("value", "") for e in container["env"]}}
    settings = check_settings(environment)
    assert settings.cache_url == "redis://redis:6379/0" and str(settings.catalog).startswith("postgresql:")


def test_kubernetes_ports_probes_and_autoscaler_agree(kubernetes) -> None:
    kinds = {d["kind"] for d in kubernetes}
    assert {"ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler"} <= kinds
    config_map = next(d for d in kubernetes if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "eo-tiler")
    deployment = next(d for d in kubernetes if d["kind"] == "Deployment" and d["metadata"]["name"] == "eo-tiler")
    service = next(d for d in kubernetes if d["kind"] == "Service" and d["metadata"]["name"] == "eo-tiler")
    autoscaler = next(d for d in kubernetes if d["kind"] == "HorizontalPodAutoscaler")
    pod = deployment["spec"]["template"]
    container = pod["spec"]["containers"][0]
    settings = check_settings(config_map["data"])
    (port,) = container["ports"]
    assert port["containerPort"] == settings.port
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["path"] in ROUTES
        assert container[probe]["httpGet"]["port"] in (port["name"], port["containerPort"])
    assert service["spec"]["ports"][0]["targetPort"] in (port["name"], port["containerPort"])
    labels = pod["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert autoscaler["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "eo-tiler"}
    assert autoscaler["spec"]["minReplicas"] >= 2 and "cpu" in container["resources"]["requests"]
    assert pod["spec"]["terminationGracePeriodSeconds"] > settings.shutdown_timeout


def test_kubernetes_redis_is_a_bounded_lru_cache_at_the_port_eo_tiler_uses(kubernetes) -> None:
    redis_config = next(d for d in kubernetes if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "redis")
    lines = set(redis_config["data"]["redis.conf"].splitlines())
    assert "maxmemory-policy allkeys-lru" in lines and any(line.startswith("maxmemory ") for line in lines)
    service = next(d for d in kubernetes if d["kind"] == "Service" and d["metadata"]["name"] == "redis")
    assert service["spec"]["ports"][0]["port"] == 6379


def test_the_settings_check_catches_a_misspelt_setting() -> None:
    with pytest.raises(AssertionError, match="EO_TILER_CACHE_ULR"):
        check_settings({"EO_TILER_CACHE_ULR": "redis://redis:6379/0"})
    with pytest.raises(ValueError, match="Redis URL"):
        check_settings({"EO_TILER_CACHE_URL": "memcached://cache:11211"})
