"""HTTP endpoints. Each parses its request once (tiler.params), then runs the one-way pipeline:
resolve product -> read bands -> evaluate and colour -> encode -> cache -> response.

Endpoints are plain `def`: starlette runs them in its thread pool, so GDAL never blocks the loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
from rio_tiler.io import Reader
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from renderers import MEDIA_TYPES, encode, render
from styles import Layer
from tiler.cache import CachedImage, ImageCache
from tiler.errors import InvalidParameter
from tiler.params import Styling, image_format, preview_size, styling, tile_address, tile_matrix_set
from tiler.catalog import Catalog
from tiler.products import Product
from tiler.reading import read_part
from tiler.settings import Settings

STATIC_DIR = Path(__file__).parent / "static"


@dataclass(frozen=True)
class Services:
    """What the endpoints share, built once by `create_app`."""

    settings: Settings
    index: Catalog
    layers: dict[str, Layer]
    cache: ImageCache


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
    fmt = image_format(params["ext"])
    address = tile_address(request.query_params, params["z"], params["x"], params["y"])
    product = services.index.resolve(_required(request, "product"))
    style = styling(request.query_params, product, services.layers, services.settings)
    key = ("tile", product.id, style.cache_token, fmt, address.tms.id, address.tilesize, address.z, address.x, address.y)

    def draw() -> tuple[bytes, str]:
        size = address.tilesize
        if not _intersects(address.geographic_bounds, product.bounds_wgs84):
            return _empty_image(size, size, fmt), MEDIA_TYPES[fmt]
        return _render(services, product, style, address.bounds, address.tms.rasterio_crs, size, size, fmt)

    image, hit = services.cache.get_or_render(key, draw)
    return _image_response(request, image, hit, services.settings.cache_max_age)


def preview(request: Request) -> Response:
    services = _services(request)
    fmt = image_format(request.path_params["ext"])
    product = services.index.resolve(_required(request, "product"))
    style = styling(request.query_params, product, services.layers, services.settings)
    width, height = preview_size(request.query_params, product, services.settings)
    key = ("preview", product.id, style.cache_token, fmt, width)
    image, hit = services.cache.get_or_render(
        key, lambda: _render(services, product, style, product.bounds, product.crs, width, height, fmt)
    )
    return _image_response(request, image, hit, services.settings.cache_max_age)


def _render(services: Services, product: Product, style: Styling, bounds, crs, width: int, height: int, fmt: str):
    stack = read_part(
        product, style.spec.bands, bounds, crs, width, height, gdal_options=services.settings.gdal
    )
    rgba = render(style.spec, stack.arrays, stack.valid)
    return encode(rgba, fmt), MEDIA_TYPES[fmt]


def tilejson(request: Request) -> Response:
    services = _services(request)
    product = services.index.resolve(_required(request, "product"))
    styling(request.query_params, product, services.layers, services.settings)  # fail now, not per tile
    tms = tile_matrix_set(request.query_params)
    fmt = image_format(request.query_params.get("format", "png"))
    with Reader(str(product.finest_band.path), tms=tms) as src:
        minzoom, maxzoom = src.minzoom, src.maxzoom
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "format"]
    base = str(request.base_url).rstrip("/")
    template = f"{base}/tiles/{{z}}/{{x}}/{{y}}.{fmt}?{urlencode(query)}"
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
    return JSONResponse({"status": "ok", "products": len(_services(request).index)})


def _required(request: Request, name: str) -> str:
    value = request.query_params.get(name)
    if not value:
        raise InvalidParameter(f"{name} is required")
    return value


routes = [
    Route("/", map_page),
    Route("/healthz", healthz),
    Route("/layers", layer_list),
    Route("/products", product_list),
    Route("/products/{product_id:path}", product_metadata),
    Route("/tiles/{z:int}/{x:int}/{y:int}.{ext}", tile),
    Route("/tilejson.json", tilejson),
    Route("/preview.{ext}", preview),
]
