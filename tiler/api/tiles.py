"""HTTP endpoints. Each parses its request once (tiler.params), then runs the one-way pipeline:
resolve product -> read bands -> evaluate and colour -> encode -> cache -> response.

Endpoints are plain `def`: starlette runs them in its thread pool, so GDAL never blocks the loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
from rasterio.crs import CRS
from rasterio.errors import RasterioError
from rasterio.warp import transform_bounds
from rio_tiler.errors import RioTilerError
from rio_tiler.io import Reader
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from renderers import MEDIA_TYPES, encode, render
from styles import Layer
from tiler.api.catalog import item_collection, parse_bbox, parse_search_query
from tiler.cache import CachedImage, ImageCache
from tiler.catalog.sqlite import Catalog
from tiler.errors import CatalogUnavailable, InvalidParameter, ProductUnreadable
from tiler.http.observability import StageTimer
from tiler.ogc.common import OgcLayerCache
from tiler.params import (
    Styling,
    image_format,
    preview_size,
    preview_size_for,
    styling,
    styling_for,
    tile_address,
    tile_matrix_set,
)
from tiler.pipeline.limits import Deadline, RenderPool
from tiler.products import Product
from tiler.reading.bands import BandStack, read_part
from tiler.reading.datasets import DatasetPool
from tiler.reading.mosaic import (
    COLLECTION_BANDS,
    MosaicQuery,
    is_mosaic_request,
    parse_mosaic_query,
    read_mosaic,
    select_products,
)
from tiler.settings import Settings

STATIC_DIR = Path(__file__).parent.parent / "static"
MERCATOR = CRS.from_epsg(3857)


@dataclass(frozen=True)
class Services:
    """What the endpoints share, built once by `create_app`."""

    settings: Settings
    index: Catalog
    layers: dict[str, Layer]
    cache: ImageCache
    renders: RenderPool
    datasets: DatasetPool
    ogc_layers: OgcLayerCache = field(default_factory=OgcLayerCache)


def _services(request: Request) -> Services:
    return request.app.state.services


def _image_response(request: Request, image: CachedImage, hit: bool, max_age: int) -> Response:
    headers = {
        "ETag": image.etag,
        "Cache-Control": f"public, max-age={max_age}",
        "X-Cache": "hit" if hit else "miss",
    }
    if image.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(image.content, media_type=image.media_type, headers=headers)


def _empty_image(width: int, height: int, fmt: str) -> bytes:
    return encode(np.zeros((height, width, 4), dtype=np.uint8), fmt)


def _intersects(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def tile(request: Request) -> Response:
    services = _services(request)
    params = request.path_params
    stages: StageTimer = request.state.stages
    if is_mosaic_request(request.query_params):
        return _mosaic_tile(request, services, stages)
    with stages.stage("resolve"):
        fmt = image_format(params["ext"])
        address = tile_address(request.query_params, params["z"], params["x"], params["y"], services.settings)
        product = services.index.resolve(_required(request, "product"))
        style = styling(request.query_params, product, services.layers, services.settings)
    key = (
        "tile",
        product.id,
        style.cache_token,
        fmt,
        address.tms.id,
        address.tilesize,
        address.z,
        address.x,
        address.y,
    )

    def draw() -> tuple[bytes, str]:
        size = address.tilesize
        if not _intersects(address.geographic_bounds, product.bounds_wgs84):
            return _empty_image(size, size, fmt), MEDIA_TYPES[fmt]
        return services.renders.run(
            lambda deadline: _render(
                services, product, style, address.bounds, address.tms.rasterio_crs, size, size, fmt, stages, deadline
            ),
            size * size,
        )

    image, hit = services.cache.get_or_render(key, draw)
    return _image_response(request, image, hit, services.settings.cache_max_age)


def preview(request: Request) -> Response:
    services = _services(request)
    stages: StageTimer = request.state.stages
    if is_mosaic_request(request.query_params):
        return _mosaic_preview(request, services, stages)
    with stages.stage("resolve"):
        fmt = image_format(request.path_params["ext"])
        product = services.index.resolve(_required(request, "product"))
        style = styling(request.query_params, product, services.layers, services.settings)
        width, height = preview_size(request.query_params, product, services.settings)
    key = ("preview", product.id, style.cache_token, fmt, width)

    def draw() -> tuple[bytes, str]:
        return services.renders.run(
            lambda deadline: _render(
                services, product, style, product.bounds, product.crs, width, height, fmt, stages, deadline
            ),
            width * height,
        )

    image, hit = services.cache.get_or_render(key, draw)
    return _image_response(request, image, hit, services.settings.cache_max_age)


def _render(
    services: Services,
    product: Product,
    style: Styling,
    bounds,
    crs,
    width: int,
    height: int,
    fmt: str,
    stages: StageTimer,
    deadline: Deadline,
):
    with stages.stage("read"):
        stack = read_part(
            product,
            style.spec.bands,
            bounds,
            crs,
            width,
            height,
            gdal_options=services.settings.gdal,
            deadline=deadline,
            datasets=services.datasets,
        )
    return _draw(style, stack, fmt, stages, deadline)


def _draw(style: Styling, stack: BandStack, fmt: str, stages: StageTimer, deadline: Deadline) -> tuple[bytes, str]:
    deadline.check()
    with stages.stage("evaluate"):
        rgba = render(style.spec, stack.arrays, stack.valid)
    deadline.check()
    with stages.stage("encode"):
        return encode(rgba, fmt), MEDIA_TYPES[fmt]


# ---------------------------------------------------------------------------------------------
# Mosaics: no product=, but collection= or time= (see tiler.mosaic)


def _mosaic_styling(request: Request, services: Services, query: MosaicQuery) -> Styling:
    return styling_for(
        request.query_params, COLLECTION_BANDS[query.collection], query.collection,
        f"a {query.collection} mosaic", services.layers, services.settings,
    )  # fmt: skip


def _render_mosaic(
    services: Services,
    query: MosaicQuery,
    style: Styling,
    bbox_wgs84,
    bounds,
    crs,
    width: int,
    height: int,
    fmt: str,
    stages: StageTimer,
    deadline: Deadline,
):
    with stages.stage("select"):
        products = select_products(services.index, query, bbox_wgs84, services.settings.max_mosaic_products)
    if not products:
        return _empty_image(width, height, fmt), MEDIA_TYPES[fmt]
    with stages.stage("read"):
        stack = read_mosaic(
            products, style.spec.bands, bounds, crs, width, height,
            gdal_options=services.settings.gdal, cloudmask=query.cloudmask, deadline=deadline,
            datasets=services.datasets,
        )  # fmt: skip
    return _draw(style, stack, fmt, stages, deadline)


def _mosaic_tile(request: Request, services: Services, stages: StageTimer) -> Response:
    params = request.path_params
    with stages.stage("resolve"):
        fmt = image_format(params["ext"])
        address = tile_address(request.query_params, params["z"], params["x"], params["y"], services.settings)
        query = parse_mosaic_query(request.query_params)
        style = _mosaic_styling(request, services, query)
    # The catalog version is in the key: after an index update no stale mosaic is served.
    key = (
        "mosaic-tile", services.index.version, query.cache_token, style.cache_token, fmt,
        address.tms.id, address.tilesize, address.z, address.x, address.y,
    )  # fmt: skip
    size = address.tilesize

    def draw() -> tuple[bytes, str]:
        return services.renders.run(
            lambda deadline: _render_mosaic(
                services,
                query,
                style,
                address.geographic_bounds,
                address.bounds,
                address.tms.rasterio_crs,
                size,
                size,
                fmt,
                stages,
                deadline,
            ),
            size * size,
        )

    image, hit = services.cache.get_or_render(key, draw)
    return _image_response(request, image, hit, services.settings.cache_max_age)


def _mosaic_preview(request: Request, services: Services, stages: StageTimer) -> Response:
    """A mosaic has no extent of its own: its preview needs `bbox=` (lon/lat), drawn in Web Mercator."""
    with stages.stage("resolve"):
        fmt = image_format(request.path_params["ext"])
        query = parse_mosaic_query(request.query_params)
        style = _mosaic_styling(request, services, query)
        bbox = parse_bbox(request.query_params.get("bbox"))
        if bbox is None:
            raise InvalidParameter("bbox is required for the preview of a mosaic: 'west,south,east,north' in degrees")
        west, south, east, north = bbox
        # Web Mercator stops at +-85.06 degrees.
        bounds = transform_bounds("EPSG:4326", "EPSG:3857", west, max(south, -85.0), east, min(north, 85.0))
        width, height = preview_size_for(request.query_params, bounds, services.settings)
    key = ("mosaic-preview", services.index.version, query.cache_token, style.cache_token, fmt, bbox, width)

    def draw() -> tuple[bytes, str]:
        return services.renders.run(
            lambda deadline: _render_mosaic(
                services, query, style, bbox, bounds, MERCATOR, width, height, fmt, stages, deadline
            ),
            width * height,
        )

    image, hit = services.cache.get_or_render(key, draw)
    return _image_response(request, image, hit, services.settings.cache_max_age)


def _mosaic_tilejson(request: Request, services: Services) -> Response:
    query = parse_mosaic_query(request.query_params)
    _mosaic_styling(request, services, query)  # fail now, not per tile
    tms = tile_matrix_set(request.query_params)
    fmt = image_format(request.query_params.get("format", "png"))
    bbox = parse_bbox(request.query_params.get("bbox")) or (-180.0, -85.0511287798, 180.0, 85.0511287798)
    # 10 m pixels, in the grid's own units; six zoom levels below that.
    maxzoom = tms.zoom_for_res(10.0 / 111_320 if tms.rasterio_crs.is_geographic else 10.0)
    minzoom = max(tms.minzoom, maxzoom - 6)
    west, south, east, north = bbox
    return JSONResponse(
        {
            "tilejson": "3.0.0",
            "name": f"{query.collection} mosaic",
            "description": f"{request.query_params.get('layer') or 'custom'} of a {query.collection} mosaic, {query.priority}",
            "attribution": "Contains modified Copernicus Sentinel data",
            "scheme": "xyz",
            "tiles": [_tile_template(request, fmt)],
            "minzoom": minzoom,
            "maxzoom": maxzoom,
            "bounds": [west, south, east, north],
            "center": [(west + east) / 2, (south + north) / 2, minzoom],
        }
    )


def _tile_template(request: Request, fmt: str) -> str:
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "format"]
    base = str(request.base_url).rstrip("/")
    return f"{base}/tiles/{{z}}/{{x}}/{{y}}.{fmt}?{urlencode(query)}"


def search(request: Request) -> Response:
    services = _services(request)
    query = parse_search_query(request.query_params)
    result = services.index.search(
        query.bbox, query.start, query.end, query.max_cloud, query.collection,
        limit=query.limit, offset=query.offset, order="mostRecent",
    )  # fmt: skip
    base = str(request.base_url).rstrip("/")
    return JSONResponse(
        item_collection(result, query, base, request.query_params.multi_items()),
        media_type="application/geo+json",
    )


def tilejson(request: Request) -> Response:
    services = _services(request)
    if is_mosaic_request(request.query_params):
        return _mosaic_tilejson(request, services)
    product = services.index.resolve(_required(request, "product"))
    styling(request.query_params, product, services.layers, services.settings)  # fail now, not per tile
    tms = tile_matrix_set(request.query_params)
    fmt = image_format(request.query_params.get("format", "png"))
    try:
        with Reader(str(product.finest_band.path), tms=tms) as src:
            minzoom, maxzoom = src.minzoom, src.maxzoom
    except (RasterioError, RioTilerError, OSError) as exc:
        raise ProductUnreadable(
            f"cannot open {product.finest_band.path.name} of {product.id}: {exc}", product.id
        ) from exc
    template = _tile_template(request, fmt)
    west, south, east, north = product.bounds_wgs84
    return JSONResponse(
        {
            "tilejson": "3.0.0",
            "name": product.id,
            "description": f"{request.query_params.get('layer') or 'custom'} of {product.id}",
            "attribution": f"Contains modified Copernicus Sentinel data {product.datetime.year}",
            "scheme": "xyz",
            "tiles": [template],
            "minzoom": minzoom,
            "maxzoom": maxzoom,
            "bounds": [west, south, east, north],
            "center": [(west + east) / 2, (south + north) / 2, max(minzoom, min(maxzoom, minzoom + 2))],
        }
    )


def product_metadata(request: Request) -> Response:
    services = _services(request)
    product = services.index.resolve(request.path_params["product_id"])
    return JSONResponse(_product_json(request, product))


def _product_json(request: Request, product: Product) -> dict:
    base = str(request.base_url).rstrip("/")
    query = urlencode({"product": product.id})
    return product.to_json() | {
        "links": {
            "self": f"{base}/products/{product.id}",
            "tilejson": f"{base}/tilejson.json?{query}",
            "preview": f"{base}/preview.png?{query}",
        }
    }


def product_list(request: Request) -> Response:
    services = _services(request)
    return JSONResponse({"products": [_product_json(request, p) for p in services.index]})


def layer_list(request: Request) -> Response:
    services = _services(request)
    return JSONResponse({"layers": [layer.to_json() for layer in services.layers.values()]})


def map_page(request: Request) -> Response:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html")


def healthz(request: Request) -> Response:
    # Alive even while the catalog database is down: that is /readyz's business, not a restart's.
    try:
        products: int | None = len(_services(request).index)
    except CatalogUnavailable:
        products = None
    return JSONResponse({"status": "ok", "products": products})


def _required(request: Request, name: str) -> str:
    value = request.query_params.get(name)
    if not value:
        hint = " (or collection= / time= for a mosaic)" if name == "product" else ""
        raise InvalidParameter(f"{name} is required{hint}")
    return value


routes = [
    Route("/", map_page),
    Route("/healthz", healthz),
    Route("/layers", layer_list),
    Route("/products", product_list),
    Route("/products/{product_id:path}", product_metadata),
    Route("/search", search),
    Route("/tiles/{z:int}/{x:int}/{y:int}.{ext}", tile),
    Route("/tilejson.json", tilejson),
    Route("/preview.{ext}", preview),
    # The map page's script, styles and the libraries `make install` copies into static/vendor/.
    Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
]
