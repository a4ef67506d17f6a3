"""Several eo-tiler servers on loopback sharing one real redis-server, as replicas behind a proxy: a
tile rendered by one is a hit on the other, simultaneous misses render once over all of them, an
API key's quota holds across them, metrics add up the workers of a server, and Redis killed in the
middle of a load run fails no request."""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import COG_ID, REPO, WEB_MERCATOR, free_port
from tests.redis_server import RedisServer

CACHE_BYTES = 16 * 1024 * 1024
KEY = "replica-test-key"


class Server:
    """`eo-tiler serve` in a process of its own; its log goes to a file (a pipe would fill up)."""

    def __init__(self, directory: Path, data: Path, args: list[str], env: dict[str, str]) -> None:
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.log = directory / f"server-{port}.log"
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tiler.cli", "serve", "--data", str(data), "--port", str(port), *args],
                stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=os.environ | env,
            )  # fmt: skip

    def wait_until_up(self) -> None:
        deadline = time.monotonic() + 90
        while True:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            try:
                if httpx.get(self.base + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)

    def metrics(self) -> dict[tuple[str, tuple], float]:
        text = httpx.get(self.base + "/metrics", timeout=10).text
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_servers(directory: Path, data: Path, catalog: Path, redis: RedisServer, *args_each, **env) -> list[Server]:
    env = {"EO_TILER_CATALOG": str(catalog), "EO_TILER_CACHE_BYTES": str(CACHE_BYTES), **env}
    servers = [Server(directory, data, ["--cache", redis.url, *args], env) for args in args_each]
    for server in servers:
        server.wait_until_up()
    return servers


@pytest.fixture(scope="module")
def catalog(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One catalog file for every server: the same products at the same version, hence the same keys."""
    path = tmp_path_factory.mktemp("catalog") / "catalog.sqlite"
    subprocess.run(
        [sys.executable, "-m", "tiler.cli", "index", str(shared_data), "--catalog", str(path)],
        check=True, capture_output=True, cwd=REPO,
    )  # fmt: skip
    return path


@pytest.fixture(scope="module")
def replicas(shared_data, catalog, tmp_path_factory) -> Iterator[tuple[RedisServer, list[Server]]]:
    """Two servers on one Redis, the first with two worker processes."""
    directory = tmp_path_factory.mktemp("replicas")
    redis = RedisServer(directory)
    servers = start_servers(directory, shared_data, catalog, redis, ["--workers", "2"], [])
    yield redis, servers
    for server in servers:
        server.stop()
    redis.stop()


@pytest.fixture(scope="module")
def cog_tiles(shared_data) -> list[str]:
    """Tile paths over the COG product, nearest its centre first."""
    from tiler.catalog import MemoryCatalog

    west, south, east, north = MemoryCatalog([shared_data]).resolve(COG_ID).bounds_wgs84
    lon, lat = (west + east) / 2, (south + north) / 2
    paths = []
    for z in (12, 13, 14):
        centre = WEB_MERCATOR.tile(lon, lat, z)
        for dx, dy in itertools.product(range(-1, 2), repeat=2):
            paths.append(f"/tiles/{z}/{centre.x + dx}/{centre.y + dy}.png")
    return paths


def renders(servers: list[Server]) -> float:
    return sum(s.metrics().get(("eo_tiler_renders_total", ()), 0.0) for s in servers)


def kinds_of_image(shared_data) -> dict[str, tuple[str, dict[str, str]]]:
    from tiler.catalog import MemoryCatalog

    west, south, east, north = MemoryCatalog([shared_data]).resolve(COG_ID).bounds_wgs84
    inner = f"{west + 0.3},{south + 0.3},{west + 0.5},{south + 0.5}"
    wms = {
        "SERVICE": "WMS", "REQUEST": "GetMap", "VERSION": "1.3.0", "LAYERS": "sentinel-2-l2a:NDVI", "STYLES": "",
        "CRS": "CRS:84", "BBOX": inner, "WIDTH": "64", "HEIGHT": "64", "FORMAT": "image/png", "TIME": "2020-02-19",
    }  # fmt: skip
    centre = WEB_MERCATOR.tile((west + east) / 2, (south + north) / 2, 11)
    return {
        "tile": (f"/tiles/11/{centre.x}/{centre.y}.png", {"product": COG_ID, "layer": "TRUE_COLOR"}),
        "band math tile": (f"/tiles/11/{centre.x}/{centre.y}.png", {"product": COG_ID, "expression": "B08/B04"}),
        "preview": ("/preview.png", {"product": COG_ID, "layer": "NDVI", "width": "128"}),
        "mosaic tile": (f"/tiles/11/{centre.x}/{centre.y}.png", {"collection": "sentinel-2-l2a", "time": "2020-02"}),
        "mosaic preview": ("/preview.png", {"collection": "sentinel-2-l2a", "time": "2020-02", "bbox": inner}),
        "WMS GetMap": ("/wms", wms),
    }


@pytest.mark.parametrize("kind", ["tile", "band math tile", "preview", "mosaic tile", "mosaic preview", "WMS GetMap"])
def test_an_image_rendered_by_one_replica_is_a_cache_hit_on_the_other(replicas, shared_data, kind) -> None:
    _, (first, second) = replicas
    path, params = kinds_of_image(shared_data)[kind]
    before = renders([first, second])
    rendered = httpx.get(second.base + path, params=params, timeout=60)
    assert rendered.status_code == 200 and rendered.headers["x-cache"] == "miss"
    served = httpx.get(first.base + path, params=params, timeout=60)
    assert served.status_code == 200 and served.headers["x-cache"] == "hit"
    assert served.content == rendered.content
    assert renders([first, second]) == before + 1


def test_twelve_simultaneous_requests_over_both_replicas_render_the_tile_once(replicas, cog_tiles) -> None:
    _, servers = replicas
    path = cog_tiles[1]  # asked for by no other test
    before = renders(servers)
    start = threading.Barrier(12)

    def fetch(server: Server) -> httpx.Response:
        with httpx.Client(timeout=60) as client:
            start.wait()
            return client.get(server.base + path, params={"product": COG_ID, "layer": "NDVI"})

    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(fetch, servers * 6))
    assert [a.status_code for a in answers] == [200] * 12
    assert len({a.content for a in answers}) == 1
    assert renders(servers) == before + 1


def test_metrics_add_up_every_worker_of_a_server(replicas) -> None:
    _, (two_workers, _) = replicas
    # Each worker holds its own in-process cache: the bound is summed over the live ones.
    deadline = time.monotonic() + 60
    while two_workers.metrics()[("eo_tiler_cache_max_bytes", ())] != 2 * CACHE_BYTES:
        assert time.monotonic() < deadline, "the second worker never showed up in /metrics"
        time.sleep(0.1)
    route = (("route", "/products/{product_id:path}"), ("status", "200"))
    before = two_workers.metrics().get(("eo_tiler_requests_total", route), 0.0)
    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(lambda _: httpx.get(f"{two_workers.base}/products/{COG_ID}").status_code, range(40)))
    assert statuses == [200] * 40
    assert two_workers.metrics()[("eo_tiler_requests_total", route)] == before + 40


def test_an_api_key_quota_holds_across_replicas(shared_data, catalog, tmp_path) -> None:
    redis = RedisServer(tmp_path)
    servers = start_servers(
        tmp_path, shared_data, catalog, redis, [], [], EO_TILER_API_KEYS=KEY, EO_TILER_API_QUOTA_PER_MINUTE="6"
    )
    try:
        path = f"/products/{COG_ID}"
        answers = [httpx.get(s.base + path, headers={"X-API-Key": KEY}) for s in servers * 3]
        assert [a.status_code for a in answers] == [200] * 6
        # Three requests each so far: counted apart, either would still allow three more.
        over = httpx.get(servers[0].base + path, headers={"X-API-Key": KEY})
        assert over.status_code == 429 and 1 <= int(over.headers["retry-after"]) <= 60
        assert httpx.get(servers[1].base + path, params={"key": KEY}).status_code == 429
    finally:
        for server in servers:
            server.stop()
        redis.stop()


def test_redis_killed_in_the_middle_of_a_load_run_fails_no_request(shared_data, catalog, cog_tiles, tmp_path) -> None:
    redis = RedisServer(tmp_path)
    servers = start_servers(tmp_path, shared_data, catalog, redis, [], [])
    layers = ("TRUE_COLOR", "FALSE_COLOR")
    requests = [(servers[n % 2], path, layer) for n, (path, layer) in enumerate(itertools.product(cog_tiles, layers))]
    done, statuses, lock = [], [], threading.Lock()
    halfway = threading.Event()

    def fetch(request) -> None:
        server, path, layer = request
        status = httpx.get(server.base + path, params={"product": COG_ID, "layer": layer}, timeout=60).status_code
        with lock:
            statuses.append(status)
            if len(statuses) == len(requests) // 3:
                halfway.set()

    try:
        with ThreadPoolExecutor(6) as pool:
            futures = [pool.submit(fetch, r) for r in requests]
            assert halfway.wait(300)
            assert redis.client.dbsize() > 0  # the servers were using it
            redis.kill()
            done = [f.result() for f in futures]
        assert len(done) == len(statuses) == len(requests)
        assert statuses == [200] * len(requests)
        unavailable = (("store", "cache"),)
        assert sum(s.metrics().get(("eo_tiler_shared_store_unavailable_total", unavailable), 0) for s in servers) > 0
        assert any("Redis image cache is unavailable" in s.log.read_text() for s in servers)
    finally:
        for server in servers:
            server.stop()
        redis.stop()


# deploy/nginx.conf is included as it stands, with the replicas' loopback addresses for the Docker name.
NGINX_MAIN = """
daemon off;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{}}
http {{
    access_log off;
    client_body_temp_path {directory}/body;
    proxy_temp_path {directory}/proxy;
    include {directory}/site.conf;
}}
"""


@pytest.fixture()
def proxy(replicas, tmp_path: Path) -> Iterator[str]:
    """A real nginx running deploy/nginx.conf in front of the two replicas."""
    _, servers = replicas
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    assert Path(nginx).exists(), "nginx is missing: `make test` installs Debian's nginx"
    port = free_port()
    site = (REPO / "deploy" / "nginx.conf").read_text()
    upstreams = "".join(f"server {s.base.removeprefix('http://')};\n    " for s in servers)
    site = site.replace("server eo-tiler:8000;\n    ", upstreams).replace("listen 80;", f"listen 127.0.0.1:{port};")
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(NGINX_MAIN.format(directory=tmp_path))
    process = subprocess.Popen([nginx, "-c", str(tmp_path / "nginx.conf")], stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        assert process.poll() is None, process.stderr.read()
        try:
            httpx.get(base + "/healthz", timeout=2)
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline, "nginx did not start"
            time.sleep(0.05)
    yield base
    process.terminate()
    process.wait(timeout=10)


def test_the_compose_proxy_config_serves_the_replicas_under_its_public_url(proxy, cog_tiles) -> None:
    capabilities = httpx.get(proxy + "/wms", params={"SERVICE": "WMS", "REQUEST": "GetCapabilities"})
    assert capabilities.status_code == 200
    hrefs = re.findall(rb'xlink:href="([^"]+)"', capabilities.content)
    assert hrefs and all(h.startswith(f"{proxy}/".encode()) for h in hrefs)  # the proxy's URL, not a replica's
    wmts = httpx.get(proxy + "/wmts", params={"SERVICE": "WMTS", "REQUEST": "GetCapabilities"})
    assert wmts.status_code == 200 and f"{proxy}/wmts".encode() in wmts.content
    path, params = cog_tiles[2], {"product": COG_ID, "layer": "SWIR"}
    first, again = (httpx.get(proxy + path, params=params, timeout=60) for _ in range(2))
    assert (first.headers["x-cache"], again.headers["x-cache"]) == ("miss", "hit")  # whichever replica answers
    assert httpx.get(proxy + "/metrics").status_code == 404  # scraped on each replica, not through the proxy


def test_two_replicas_on_one_pgstac_and_one_redis(postgres, pgstac_url, tmp_path: Path) -> None:
    """The whole deployment on loopback: two servers on one pgSTAC catalog and one Redis. A product
    indexed from anywhere is found through both, a tile rendered by one is a hit on the other,
    simultaneous misses over both render once, and PostgreSQL stopped gives 503 on both and
    recovers without a restart."""
    from tests.helpers import write_product

    data = tmp_path / "data"
    first_product = write_product(data, "R1_20210105", when="2021-01-05T10:00:00Z", cloud_cover=3.0)
    index = [sys.executable, "-m", "tiler.cli", "index", str(data), "--catalog", pgstac_url]
    subprocess.run(index, check=True, capture_output=True, cwd=REPO)
    redis = RedisServer(tmp_path)
    servers = start_servers(tmp_path, data, pgstac_url, redis, [], [])
    try:
        # Indexed while both serve: both find it.
        write_product(data, "R2_20210106", when="2021-01-06T10:00:00Z", cloud_cover=4.0, ulx=702_000.0)
        subprocess.run(index, check=True, capture_output=True, cwd=REPO)
        for server in servers:
            assert httpx.get(server.base + "/products/R2_20210106", timeout=30).status_code == 200
        meta = httpx.get(servers[0].base + f"/products/{first_product.name}", timeout=30).json()
        west, south, east, north = meta["bounds"]
        t = WEB_MERCATOR.tile((west + east) / 2, (south + north) / 2, 15)
        path, params = f"/tiles/{t.z}/{t.x}/{t.y}.png", {"collection": "sentinel-2-l2a", "time": "2021-01"}
        before = renders(servers)
        rendered = httpx.get(servers[0].base + path, params=params, timeout=60)
        served = httpx.get(servers[1].base + path, params=params, timeout=60)
        assert (rendered.headers["x-cache"], served.headers["x-cache"]) == ("miss", "hit")
        assert served.content == rendered.content and renders(servers) == before + 1
        start = threading.Barrier(12)

        def fetch(server: Server) -> httpx.Response:
            with httpx.Client(timeout=60) as client:
                start.wait()
                return client.get(server.base + path, params={**params, "layer": "NDVI"})

        with ThreadPoolExecutor(12) as pool:
            answers = list(pool.map(fetch, servers * 6))
        assert [a.status_code for a in answers] == [200] * 12 and renders(servers) == before + 2
        postgres.stop()
        try:
            for server in servers:
                down = httpx.get(server.base + "/search", timeout=60)
                assert down.status_code == 503 and down.headers["retry-after"]
        finally:
            postgres.start()
        for server in servers:
            deadline = time.monotonic() + 60
            while httpx.get(server.base + "/search", timeout=60).status_code != 200:
                assert time.monotonic() < deadline, "the catalog did not come back"
                time.sleep(0.5)  # polling for the pool to reconnect, with a deadline
    finally:
        for server in servers:
            server.stop()
        redis.stop()
