"""The map page in a real browser: Debian's chromium driven by Playwright, against the app served by
uvicorn on loopback over the generated demo archive. Screenshots go to test-output/browser/."""

from __future__ import annotations

import io
import json
import socket
import threading
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import numpy as np
import pytest
import uvicorn
from PIL import Image
from playwright.sync_api import sync_playwright
from rasterio.io import MemoryFile

from tests.helpers import LAYER_SCRIPTS, REPO, decode, demo_series, evalscript_param
from tiler.api.pages import STATIC_DIR
from tiler.app import create_app
from tiler.settings import Settings

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip
SCREENSHOTS = REPO / "test-output" / "browser"
VIEWPORT = {"width": 1280, "height": 800}
PANEL_WIDTH = 330  # the side panel; the map fills the rest (app.css)


@contextmanager
def _serve(app):
    """The app on a real socket (port chosen by the OS), in a thread; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not uv.started and thread.is_alive():
        thread.join(0.02)
    assert uv.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    uv.should_exit = True
    thread.join()


@pytest.fixture(scope="module")
def server(demo_archive):
    root, _ = demo_archive
    with _serve(create_app(Settings(data_roots=(root,)))) as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)")
    if not (STATIC_DIR / "vendor" / "leaflet" / "leaflet.js").is_file():
        pytest.fail("Leaflet is not in tiler/static/vendor/: run `make install` (npm ci)")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Session:
    """A page plus what it did: console errors and the tile requests with their responses."""

    def __init__(self, page, base: str) -> None:
        self.page = page
        self.base = base
        self.errors: list[str] = []
        self.tiles: list[tuple[dict, int]] = []
        self.elsewhere: list[str] = []  # requests that leave this server (the page must work offline)
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("response", self._response)
        page.on("request", lambda r: r.url.startswith((base, "data:")) or self.elsewhere.append(r.url))

    def _response(self, response) -> None:
        url = urlsplit(response.url)
        if url.path.startswith("/tiles/"):
            self.tiles.append(({k: v[0] for k, v in parse_qs(url.query).items()}, response.status))

    def open(self, url: str = "") -> None:
        self.page.goto(self.base + url)
        self.settle()

    def settle(self) -> None:
        """Wait until no request is in flight, one imagery layer is left and its tiles have faded in."""
        self.page.wait_for_load_state("networkidle")
        self.page.wait_for_function(
            """() => {
                const tiles = [...document.querySelectorAll('#map img.leaflet-tile')];
                return document.querySelectorAll('.leaflet-tile-pane .leaflet-layer').length === 1 && tiles.length > 0
                    && tiles.every((t) => t.complete && t.classList.contains('leaflet-tile-loaded') && t.style.opacity === '1');
            }"""
        )

    def expect_tiles(self, **query: str):
        """A context manager that waits for a tile response whose query has these values."""

        def matches(response) -> bool:
            url = urlsplit(response.url)
            values = parse_qs(url.query)
            return url.path.startswith("/tiles/") and all(values.get(k) == [v] for k, v in query.items())

        return self.page.expect_response(matches)

    def hash_state(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlsplit(self.page.url).fragment).items()}

    def map_pixels(self, name: str) -> np.ndarray:
        """A screenshot of the map area (kept under test-output/browser/) as RGB."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        png = self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
        return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))[:, PANEL_WIDTH + 1 :]


@pytest.fixture()
def session(browser, server):
    context = browser.new_context(viewport=VIEWPORT)
    yield Session(context.new_page(), server)
    context.close()


def _background(pixels: np.ndarray) -> np.ndarray:
    """The pixels that show the plain base map: its background colour or graticule grey."""
    background = np.array([0xE4, 0xE9, 0xEE])
    return np.abs(pixels.astype(int) - background).sum(axis=2) < 40


def _newest(server: str) -> dict:
    return httpx.get(server + "search", params={"limit": 1}).json()["features"][0]


def test_first_visit_shows_the_newest_product_in_true_colour(session, server):
    session.open()
    newest = _newest(server)
    state = session.hash_state()
    assert state["product"] == newest["id"] and state["layer"] == "TRUE_COLOR"
    assert session.tiles and all(status == 200 for _, status in session.tiles)
    assert {q["product"] for q, _ in session.tiles} == {newest["id"]}
    assert {q["layer"] for q, _ in session.tiles} == {"TRUE_COLOR"}
    pixels = session.map_pixels("first-visit")
    data = ~_background(pixels)
    # The map is zoomed to the product: imagery covers much of it, and it is a picture, not a flat fill.
    assert data.mean() > 0.15
    assert pixels[data].std(axis=0).min() > 10
    assert session.errors == [] and session.elsewhere == []
    assert newest["id"] in session.page.inner_text("#showing")


def test_switching_the_layer_changes_tiles_picture_and_legend(session):
    session.open()
    before = session.map_pixels("layer-true-colour")
    legend_before = session.page.get_attribute("#legend-image", "src")
    requested = len(session.tiles)
    with session.expect_tiles(layer="NDVI"):
        session.page.select_option("#layer", "NDVI")
    session.settle()
    new_tiles = session.tiles[requested:]
    assert new_tiles and {q["layer"] for q, _ in new_tiles} == {"NDVI"}
    after = session.map_pixels("layer-ndvi")
    changed = np.abs(after.astype(int) - before.astype(int)).sum(axis=2) > 30
    assert changed.mean() > 0.2
    assert session.hash_state()["layer"] == "NDVI"
    legend_after = session.page.get_attribute("#legend-image", "src")
    assert "NDVI" in legend_after and legend_after != legend_before
    assert session.page.eval_on_selector("#legend-image", "i => i.complete && i.naturalWidth") > 0
    assert "vegetation" in session.page.inner_text("#layer-description")
    assert session.errors == []


def test_search_lists_results_with_thumbnails_and_a_click_zooms_there(session, server):
    session.open()
    session.page.select_option("#collection", "sentinel-2-l2a")
    with session.page.expect_request(lambda r: urlsplit(r.url).path == "/search") as request:
        session.page.click("#search")
    session.page.wait_for_load_state("networkidle")
    items = session.page.locator("#results li")
    # The products the catalog has in the view (the page asks for the box on screen).
    query = {k: v[0] for k, v in parse_qs(urlsplit(request.value.url).query).items()}
    assert query["collection"] == "sentinel-2-l2a"
    expected = httpx.get(server + "search", params=query).json()
    assert items.count() == expected["numberMatched"] >= 2
    # Every thumbnail has really been drawn by the server.
    widths = session.page.eval_on_selector_all("#results img", "imgs => imgs.map((i) => i.complete && i.naturalWidth)")
    assert all(w > 0 for w in widths)
    oldest = expected["features"][-1]
    item = session.page.locator(f'#results li[data-id="{oldest["id"]}"]')
    assert oldest["properties"]["datetime"][:10] in item.inner_text() and "% cloud" in item.inner_text()
    item.hover()
    assert session.page.locator(".leaflet-overlay-pane path").count() == 1  # the footprint outline
    with session.expect_tiles(product=oldest["id"]):
        item.click()
    session.settle()
    assert session.hash_state()["product"] == oldest["id"]
    # Zoomed there: once the map has moved, the view's centre (in the URL) lies in the product's box.
    session.page.wait_for_function(
        """([west, south, east, north]) => {
            const [z, lat, lon] = new URLSearchParams(location.hash.slice(1)).get('map').split('/').map(Number);
            return west < lon && lon < east && south < lat && lat < north;
        }""",
        arg=oldest["bbox"],
    )
    assert session.tiles[-1][0]["product"] == oldest["id"]
    session.map_pixels("search-result")
    assert session.errors == []


def test_an_invalid_expression_shows_the_server_message_and_no_broken_tiles(session, server):
    session.open()
    product = session.hash_state()["product"]
    session.page.click("#custom-section summary")
    bad = "B04 + __import__('os')"
    session.page.fill("#expr-0", bad)
    session.page.click("#apply-custom")
    session.page.wait_for_function("() => document.getElementById('expression-error').textContent !== ''")
    expected = httpx.get(server + "tilejson.json", params={"product": product, "expression": bad})
    assert expected.status_code == 400
    assert session.page.inner_text("#expression-error") == expected.json()["detail"]
    session.map_pixels("invalid-expression")
    # No tile was asked for with the refused expression and the picture on screen stays whole.
    assert all("expression" not in q for q, _ in session.tiles)
    assert all(status == 200 for _, status in session.tiles)
    assert session.page.eval_on_selector_all(
        "#map img.leaflet-tile", "ts => ts.every((t) => t.complete && t.naturalWidth > 0)"
    )
    assert "expression" not in session.hash_state()
    # The browser reports the refused request itself; nothing else went wrong.
    assert [e for e in session.errors if "status of 400" not in e] == []

    session.page.fill("#expr-0", "(B08-B04)/(B08+B04)")
    session.page.fill("#rescale", "-1,1")
    session.page.select_option("#colormap", "rdylgn")
    with session.expect_tiles(expression="(B08-B04)/(B08+B04)"):
        session.page.click("#apply-custom")
    session.settle()
    assert session.page.inner_text("#expression-error") == ""
    assert session.tiles[-1][0]["expression"] == "(B08-B04)/(B08+B04)"
    assert session.tiles[-1][0]["colormap"] == "rdylgn"
    assert not session.page.is_visible("#legend-image")
    assert session.page.inner_text("#legend-text") == "(B08-B04)/(B08+B04) over -1,1, rdylgn"
    session.map_pixels("custom-ndvi")


def test_an_evalscript_pasted_or_loaded_draws_and_a_refused_one_shows_the_server_message(session, server, browser):
    session.open()
    product = session.hash_state()["product"]
    session.page.click("#custom-section summary")
    session.page.check("input[name=custom-kind][value=script]")
    assert session.page.is_visible("#evalscript") and not session.page.is_visible("#expr-0")
    broken = "//VERSION=3\nfunction setup() {\n  return { input: ['B04'], output: { bands: 1 } };\n}\nfunction evaluatePixel(s) {\n  return [s.B04 *];\n}"
    session.page.fill("#evalscript", broken)
    session.page.click("#apply-custom")
    session.page.wait_for_function("() => document.getElementById('expression-error').textContent !== ''")
    expected = httpx.get(server + "tilejson.json", params={"product": product, "evalscript": evalscript_param(broken)})
    assert expected.status_code == 400 and "line 6, column 18" in expected.json()["detail"]
    assert session.page.inner_text("#expression-error") == expected.json()["detail"]
    assert "invalid" in session.page.get_attribute("#evalscript", "class")
    assert all("evalscript" not in q for q, _ in session.tiles) and "evalscript" not in session.hash_state()
    assert [e for e in session.errors if "status of 400" not in e] == []

    # Pasted: the tiles ask for it in base64, and draw what the layer it copies draws.
    text = (LAYER_SCRIPTS / "TRUE_COLOR.js").read_text()
    session.page.fill("#evalscript", text)
    with session.expect_tiles(evalscript=evalscript_param(text)) as drawn:
        session.page.click("#apply-custom")
    session.settle()
    assert session.page.inner_text("#expression-error") == ""
    tile = urlsplit(drawn.value.url)
    layer = httpx.get(server + tile.path.lstrip("/"), params={"product": product, "layer": "TRUE_COLOR"})
    difference = np.abs(decode(drawn.value.body()).astype(int) - decode(layer.content).astype(int))
    assert difference.max() <= 1
    assert session.page.inner_text("#legend-text").startswith("evalscript, ")
    assert "EVALSCRIPT=" in session.page.input_value("#gis-wms-layer")
    assert session.hash_state()["evalscript"] == evalscript_param(text)
    session.map_pixels("evalscript-true-colour")

    # A shared link brings the script back into the editor.
    context = browser.new_context(viewport=VIEWPORT)
    try:
        other = Session(context.new_page(), session.base)
        other.page.goto(session.page.url)
        other.settle()
        assert other.page.input_value("#evalscript") == text
        assert {q.get("evalscript") for q, _ in other.tiles} == {evalscript_param(text)}
        assert other.errors == []
    finally:
        context.close()

    # Loaded from a file: applied at once.
    ndvi = (LAYER_SCRIPTS / "NDVI.js").read_text()
    with session.expect_tiles(evalscript=evalscript_param(ndvi)):
        session.page.set_input_files(
            "#evalscript-file", files=[{"name": "NDVI.js", "mimeType": "text/javascript", "buffer": ndvi.encode()}]
        )
    session.settle()
    assert session.page.input_value("#evalscript") == ndvi
    assert all(status == 200 for _, status in session.tiles)
    session.map_pixels("evalscript-ndvi")
    session.page.click("#clear-custom")
    session.page.wait_for_function("() => !location.hash.includes('evalscript=')")
    session.settle()
    assert session.hash_state()["layer"] == "TRUE_COLOR"


def test_reloading_a_shared_url_restores_view_and_layer(session, browser):
    session.open()
    with session.expect_tiles(layer="FALSE_COLOR"):
        session.page.select_option("#layer", "FALSE_COLOR")
    session.settle()
    zoom = int(session.hash_state()["map"].split("/")[0])
    session.page.click(".leaflet-control-zoom-in")
    session.page.wait_for_function("z => location.hash.includes(`map=${z}/`)", arg=zoom + 1)
    session.settle()
    session.page.fill("#opacity", "0.6")
    shared = session.page.url
    state = session.hash_state()
    picture = session.map_pixels("shared-before")

    context = browser.new_context(viewport=VIEWPORT)
    try:
        other = Session(context.new_page(), session.base)
        other.page.goto(shared)
        other.settle()
        assert other.hash_state() == state
        assert other.page.input_value("#layer") == "FALSE_COLOR"
        assert other.page.eval_on_selector(".leaflet-tile-pane .leaflet-layer", "l => l.style.opacity") == "0.6"
        assert {q["layer"] for q, _ in other.tiles} == {"FALSE_COLOR"}
        assert {q["product"] for q, _ in other.tiles} == {state["product"]}
        restored = other.map_pixels("shared-after")
        # The same view: the same picture, give or take resampling at tile edges.
        assert (np.abs(restored.astype(int) - picture.astype(int)).sum(axis=2) > 30).mean() < 0.02
        assert other.errors == []
    finally:
        context.close()


def test_mosaic_mode_draws_the_collection_over_the_view(session):
    session.open()
    session.page.click("#mode-mosaic")
    session.page.select_option("#priority", "leastCC")
    session.page.check("#cloudmask")
    with session.expect_tiles(priority="leastCC"):
        session.page.click("#search")
    session.settle()
    query = session.tiles[-1][0]
    assert query["collection"] == "sentinel-2-l2a" and query["priority"] == "leastCC" and query["cloudmask"] == "true"
    assert "product" not in query
    state = session.hash_state()
    assert state["mode"] == "mosaic" and "product" not in state
    pixels = session.map_pixels("mosaic")
    assert (~_background(pixels)).mean() > 0.15
    assert session.errors == []


def test_gis_panel_gives_working_urls(session):
    session.open()
    session.page.click("#gis-section summary")
    xyz = session.page.input_value("#gis-xyz")
    assert "{z}/{x}/{y}" in xyz and "layer=TRUE_COLOR" in xyz
    tile = httpx.get(xyz.format(z=0, x=0, y=0))
    assert tile.status_code == 200 and tile.headers["content-type"] == "image/png"
    assert session.page.input_value("#gis-wms").endswith("wms?SERVICE=WMS&REQUEST=GetCapabilities")
    assert session.page.input_value("#gis-wmts").endswith("wmts/1.0.0/WMTSCapabilities.xml")
    assert session.page.input_value("#gis-wms-layer").startswith("LAYERS=sentinel-2-l2a:TRUE_COLOR&PRODUCT=")


def test_clicking_the_map_shows_the_values_there(session):
    session.open()
    product = session.hash_state()["product"]
    box = session.page.locator("#map").bounding_box()
    with session.page.expect_response(lambda r: "REQUEST=GetFeatureInfo" in r.url) as info:
        session.page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    answer = info.value.json()["layers"][0]
    assert answer["layer"] == "sentinel-2-l2a:TRUE_COLOR"
    entry = answer["products"][0]
    assert entry["product"] == product  # the product on screen, not a mosaic
    popup = session.page.locator(".leaflet-popup-content")
    popup.locator("table").wait_for()
    text = popup.inner_text()
    assert product in text and f"{entry['scl']['class']} {entry['scl']['name']}" in text
    assert f"B04\t{entry['bands']['B04']:.4f}" in text
    assert ", ".join(f"{v:.4f}" for v in entry["value"]) in text
    session.map_pixels("values")
    assert session.errors == []


def test_with_api_keys_the_page_sends_its_key(browser, demo_archive):
    root, _ = demo_archive
    with _serve(create_app(Settings(data_roots=(root,), api_keys=("secret",)))) as base:
        context = browser.new_context(viewport=VIEWPORT)
        try:
            keyed = Session(context.new_page(), base)
            keyed.open("?key=secret")
            assert keyed.tiles and all(status == 200 for _, status in keyed.tiles)
            keyed.page.locator("#results li").first.wait_for()
            # Thumbnails load lazily: each is brought into view, then every one must have been drawn.
            for thumbnail in keyed.page.locator("#results img").all():
                thumbnail.scroll_into_view_if_needed()
            keyed.page.wait_for_function(
                "() => [...document.querySelectorAll('#results img')].every((i) => i.complete)"
            )
            assert keyed.page.eval_on_selector_all("#results img", "imgs => imgs.every((i) => i.naturalWidth > 0)")
            assert keyed.page.eval_on_selector("#legend-image", "i => i.complete && i.naturalWidth") > 0
            assert keyed.errors == []
        finally:
            context.close()


def _series_view(server: str, demo_archive) -> str:
    """The demo time series' tile as an NDVI mosaic of 2023 with the cloud mask."""
    product = httpx.get(server + f"products/{demo_series(demo_archive[1])[0].id}").json()
    west, south, east, north = product["bounds"]
    return f"#map=16/{(south + north) / 2:.6f}/{(west + east) / 2:.6f}&mode=mosaic&layer=NDVI&from=2023-01-01&to=2023-12-31&cloudmask=1"


def test_drawing_a_polygon_charts_the_layer_over_time_and_gives_the_csv(session, server, demo_archive):
    session.open(_series_view(server, demo_archive))
    session.page.click("#analysis-section summary")
    session.page.click("#draw-polygon")
    box = session.page.locator("#map").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    corners = [(-90, -70), (100, -60), (80, 90), (-70, 60)]
    for dx, dy in corners:
        session.page.mouse.click(cx + dx, cy + dy)
    with session.page.expect_response(lambda r: urlsplit(r.url).path == "/statistics") as info:
        session.page.mouse.click(cx + corners[0][0], cy + corners[0][1])  # closes the polygon
    body = json.loads(info.value.request.post_data)
    assert body["geometry"]["type"] == "Polygon" and len(body["geometry"]["coordinates"][0]) == 5
    assert body["layer"] == "NDVI" and body["cloudmask"] is True and body["time"] == "2023-01-01/2023-12-31"
    answer = info.value.json()
    assert answer == httpx.post(server + "statistics", json=body).json()  # the page shows the server's numbers
    intervals = answer["intervals"]
    assert len(intervals) == 6 and answer["pixels"] > 100
    session.page.wait_for_function("() => document.querySelectorAll('#stats-table tr').length === 7")
    rows = session.page.locator("#stats-table tr")
    for number, interval in enumerate(intervals, start=1):
        out = interval["outputs"]["NDVI"]
        row = rows.nth(number)
        cells = row.locator("td").all_inner_texts()
        assert cells[0] == interval["from"][:10] and cells[1] == (
            "no data" if out["mean"] is None else f"{out['mean']:.4f}"
        )
        assert ("cloudy" in (row.get_attribute("class") or "")) == (out["cloud"] > 0)
    assert sum(i["outputs"]["NDVI"]["cloud"] > 0 for i in intervals) >= 2  # cloud-masked dates are marked
    # The chart is drawn: uPlot's canvas holds the line and the markers of cloud-masked dates.
    coloured = session.page.eval_on_selector(
        "#chart canvas",
        """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                  let green = 0, orange = 0;
                  for (let i = 0; i < d.length; i += 4) {
                    if (d[i] < 80 && d[i + 1] > 100 && d[i + 2] < 80) green++;
                    if (d[i] > 200 && d[i + 1] > 130 && d[i + 1] < 190 && d[i + 2] < 100) orange++;
                  }
                  return [green, orange]; }""",
    )
    assert coloured[0] > 50 and coloured[1] > 20
    session.map_pixels("time-series")
    with session.page.expect_download() as download:
        session.page.click("#stats-csv")
    csv_text = Path(download.value.path()).read_text()
    assert csv_text == httpx.post(server + "statistics", json={**body, "format": "csv"}).text
    assert len(csv_text.strip().splitlines()) == 7
    assert session.errors == []


def test_drawing_a_point_and_the_downloads_of_the_view(session, server, demo_archive):
    session.open(_series_view(server, demo_archive))
    session.page.click("#analysis-section summary")
    session.page.click("#draw-point")
    box = session.page.locator("#map").bounding_box()
    with session.page.expect_response(lambda r: urlsplit(r.url).path == "/statistics") as info:
        session.page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    body = json.loads(info.value.request.post_data)
    assert body["geometry"]["type"] == "Point" and info.value.json()["pixels"] == 1
    assert session.page.locator(".leaflet-popup").count() == 0  # drawing is no request for values
    tiff = httpx.get(session.page.get_attribute("#download-tiff", "href"))
    with MemoryFile(tiff.content) as memory, memory.open() as src:
        assert src.count == 1 and src.dtypes[0] == "float32" and src.width == int(box["width"])
    visual = httpx.get(session.page.get_attribute("#download-visual", "href"))
    with MemoryFile(visual.content) as memory, memory.open() as src:
        assert src.count == 4 and src.dtypes[0] == "uint8"
    session.page.select_option("#timelapse-format", "gif")
    lapse = httpx.get(session.page.get_attribute("#timelapse-link", "href"))
    assert lapse.status_code == 200 and lapse.headers["content-type"] == "image/gif"
    assert Image.open(io.BytesIO(lapse.content)).n_frames == len(lapse.headers["x-frames"].split(","))


def test_the_collection_picker_offers_every_collection_with_its_own_layers(session, server):
    session.open()
    listed = httpx.get(server + "collections").json()["collections"]
    options = session.page.eval_on_selector_all("#collection option", "os => os.map((o) => o.value)")
    assert options == [c["id"] for c in listed]
    dem = next(c for c in listed if c["id"] == "cop-dem-glo-90")
    with session.expect_tiles(collection="cop-dem-glo-90", layer=dem["default_layer"]):
        session.page.select_option("#collection", "cop-dem-glo-90")
    session.settle()
    offered = session.page.eval_on_selector_all("#layer option", "os => os.map((o) => o.value)")
    assert (
        sorted(offered)
        == ["COLOR", "GRAYSCALE", "HILLSHADE", "TOPOGRAPHIC"]
        == sorted(layer["name"] for layer in dem["layers"])
    )
    assert session.hash_state()["mode"] == "mosaic" and session.hash_state()["collection"] == "cop-dem-glo-90"
    requested = len(session.tiles)
    with session.expect_tiles(collection="cop-dem-glo-90", layer="HILLSHADE"):
        session.page.select_option("#layer", "HILLSHADE")
    session.settle()
    new_tiles = session.tiles[requested:]
    assert new_tiles and all(status == 200 for _, status in new_tiles)
    assert {q["layer"] for q, _ in new_tiles} == {"HILLSHADE"}
    shaded = session.map_pixels("collection-dem-hillshade")
    assert (~_background(shaded)).mean() > 0.3
    assert "LAYER=cop-dem-glo-90%3AHILLSHADE" in session.page.get_attribute("#legend-image", "src")
    assert "sun" in session.page.inner_text("#layer-description")

    # Land cover: its one layer, and a click names the class under the pointer.
    with session.expect_tiles(collection="esa-worldcover", layer="WORLDCOVER_MAP"):
        session.page.select_option("#collection", "esa-worldcover")
    session.settle()
    assert session.page.eval_on_selector_all("#layer option", "os => os.map((o) => o.value)") == ["WORLDCOVER_MAP"]
    covered = ~_background(session.map_pixels("collection-worldcover"))
    rows, cols = np.nonzero(covered)
    assert covered.mean() > 0.1
    box = session.page.locator("#map").bounding_box()
    with session.page.expect_response(lambda r: "REQUEST=GetFeatureInfo" in r.url) as info:
        # A pixel the tile covers (the tile ends at 12 degrees east, mid-view).
        session.page.mouse.click(box["x"] + float(cols[len(cols) // 2]), box["y"] + float(rows[len(rows) // 2]))
    entry = info.value.json()["layers"][0]["products"][0]
    popup = session.page.locator(".leaflet-popup-content")
    popup.locator("table").wait_for()
    assert f"MAP\t{entry['map']['class']} {entry['map']['name']}" in popup.inner_text()

    # A collection whose products lie elsewhere: the map moves to them.
    with session.expect_tiles(collection="corine-land-cover", layer="CORINE_LAND_COVER"):
        session.page.select_option("#collection", "corine-land-cover")
    session.settle()
    offered = session.page.eval_on_selector_all("#layer option", "os => os.map((o) => o.value)")
    assert "CORINE_WATER" in offered and "CORINE_LAND_COVER" in offered and "HILLSHADE" not in offered
    assert session.page.is_disabled("#cloudmask")
    assert session.errors == []
