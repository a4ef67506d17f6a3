"""XYZ tiles, previews and TileJSON, for one product (`product=`) or a mosaic (`collection=` or
`time=`, see `tiler.params.mosaic_query`). Each endpoint parses its request once into a
`RenderJob` and hands it to the one pipeline (`tiler.pipeline`).

Endpoints are plain `def`: starlette runs them in its thread pool, so GDAL never blocks the loop.
"""

from __future__ import annotations

from functools import cache, lru_cache
from urllib.parse import urlencode

from morecantile import TileMatrixSet
from rasterio.errors import RasterioError
from rio_tiler.errors import RioTilerError
from rio_tiler.io import Reader
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from renderers import MEDIA_TYPES
from tiler import params
from tiler.errors import InvalidParameter, MissingParameter, ProductUnreadable
from tiler.http.responses import image_response
from tiler.pipeline import (
    Encoding,
    Grid,
    LayerJob,
    MosaicSource,
    ProductSource,
    RenderJob,
    Source,
    Styling,
    render_image,
)
from tiler.pipeline.run import boxes_meet
from tiler.services import Services, services

WORLD_MERCATOR_BOUNDS = (-180.0, -85.0511287798, 180.0, 85.0511287798)


def source_and_styling(svc: Services, query: params.Query) -> tuple[Source, Styling]:
    """What a tile or preview request draws: a mosaic or one product, and how."""
    if params.is_mosaic_request(query):
        mosaic = params.mosaic_query(query, svc.collections)
        collection = svc.collection(mosaic.collection)
        styling = params.styling(
            query,
            collection.bands.keys(),
            collection,
            f"a {collection.id} mosaic",
            svc.layers,
            svc.settings,
            svc.evalscripts,
        )
        return MosaicSource(mosaic, svc.settings.max_mosaic_products), styling
    reference = query.get("product")
    if not reference:
        raise MissingParameter("product is required (or collection= / time= for a mosaic)", "product")
    product = svc.catalog.resolve(reference)
    collection = svc.collection(product.collection)
    styling = params.styling(
        query, product.bands.keys(), collection, f"product {product.id}", svc.layers, svc.settings, svc.evalscripts
    )
    return ProductSource(product), styling


@cache
def _tms_crs(tms_id: str) -> str:
    return params.shared_tms(tms_id).rasterio_crs.to_string()


def tms_crs(tms: TileMatrixSet) -> str:
    """The TMS's CRS as a code, worked out once per set (morecantile's `rasterio_crs` takes 0.25 ms)."""
    return _tms_crs(tms.id)


def tile_job(source: Source, styling: Styling, address: params.TileAddress, fmt: str) -> RenderJob:
    """One tile of a TMS: the job XYZ and WMTS share, so both hit the same cache entries."""
    size = address.tilesize
    grid = Grid(address.bounds, tms_crs(address.tms), size, size, geographic=lambda: address.geographic_bounds)
    return RenderJob((LayerJob(source, styling),), grid, Encoding(fmt, MEDIA_TYPES[fmt]))


def tile(request: Request) -> Response:
    svc = services(request)
    path, query = request.path_params, request.query_params
    stages = request.state.stages
    with stages.stage("resolve"):
        fmt = params.image_format(path["ext"])
        tms = params.tile_matrix_set(query.get("tms"))
        # Parsed here, not by a path convertor: Python refuses ints of over 4300 digits with a
        # ValueError, which a convertor would raise while routing (a 500).
        z, x, y = (params.parse_integer(path[name], name) for name in ("z", "x", "y"))
        address = params.tile_address(tms, z, x, y, params.tile_size(query, svc.settings))
        source, styling = source_and_styling(svc, query)
    image, hit = render_image(svc, tile_job(source, styling, address, fmt), stages)
    return image_response(request, image, hit, svc.settings.cache_max_age)


def preview(request: Request) -> Response:
    """A whole product in its own CRS; a mosaic has no extent of its own: its preview needs `bbox=`
    (lon/lat) and is drawn in Web Mercator."""
    svc = services(request)
    query = request.query_params
    stages = request.state.stages
    with stages.stage("resolve"):
        encoding = params.preview_encoding(request.path_params["ext"], query)
        source, styling = source_and_styling(svc, query)
        if isinstance(source, ProductSource):
            product = source.product
            width, height = params.preview_size(query, product.bounds, svc.settings)
            grid = Grid(product.bounds, product.crs.to_string(), width, height)
        else:
            bbox = params.bbox(query.get("bbox"))
            if bbox is None:
                raise InvalidParameter(
                    "bbox is required for the preview of a mosaic: 'west,south,east,north' in degrees", "bbox"
                )
            bounds = params.mercator_area(bbox)
            width, height = params.preview_size(query, bounds, svc.settings)
            grid = Grid(bounds, params.WEB_MERCATOR, width, height, geographic=lambda: bbox)
    job = RenderJob((LayerJob(source, styling),), grid, encoding)
    image, hit = render_image(svc, job, stages)
    return image_response(request, image, hit, svc.settings.cache_max_age)


@lru_cache(maxsize=4096)
def _zoom_range(path: str, tms_id: str) -> tuple[int, int]:
    """The zooms rio-tiler gives a band file in a grid (its size and overviews): worked out once
    per file, not by opening it for every TileJSON."""
    with Reader(path, tms=params.shared_tms(tms_id)) as src:
        return src.minzoom, src.maxzoom


def tilejson(request: Request) -> Response:
    svc = services(request)
    query = request.query_params
    source, _ = source_and_styling(svc, query)  # a bad layer or expression fails now, not per tile
    tms = params.tile_matrix_set(query.get("tms"))
    fmt = params.image_format(query.get("format", "png"))
    layer = query.get("layer") or "custom"
    if isinstance(source, MosaicSource):
        collection = svc.collection(source.collection)
        west, south, east, north = params.bbox(query.get("bbox")) or WORLD_MERCATOR_BOUNDS
        # The collection's finest pixels, in the grid's own units; six zoom levels below that.
        finest = collection.finest_resolution
        maxzoom = tms.zoom_for_res(finest / 111_320 if tms.rasterio_crs.is_geographic else finest)
        minzoom = max(tms.minzoom, maxzoom - 6)
        name = f"{collection.id} mosaic"
        description = f"{layer} of a {collection.id} mosaic, {source.query.priority}"
        attribution = collection.attribution_for(None)
        centre_zoom = minzoom
    else:
        product = source.product
        if not boxes_meet(tuple(tms.bbox), product.bounds_wgs84):
            # The polar Copernicus DEM tiles lie beyond Web Mercator's 85.06 degrees.
            raise InvalidParameter(
                f"product {product.id} lies outside the {tms.id} tile matrix set; use tms=WorldCRS84Quad", "tms"
            )
        try:
            minzoom, maxzoom = _zoom_range(str(product.finest_band.path), tms.id)
        except (RasterioError, RioTilerError, OSError) as exc:
            raise ProductUnreadable(
                f"cannot open {product.finest_band.path.name} of {product.id}: {exc}", product.id
            ) from exc
        west, south, east, north = product.bounds_wgs84
        name, description = product.id, f"{layer} of {product.id}"
        attribution = svc.collection(product.collection).attribution_for(product.datetime.year)
        centre_zoom = max(minzoom, min(maxzoom, minzoom + 2))
    return JSONResponse(
        {
            "tilejson": "3.0.0",
            "name": name,
            "description": description,
            "attribution": attribution,
            "scheme": "xyz",
            "tiles": [_tile_template(request, fmt)],
            "minzoom": minzoom,
            "maxzoom": maxzoom,
            "bounds": [west, south, east, north],
            "center": [(west + east) / 2, (south + north) / 2, centre_zoom],
        }
    )


def _tile_template(request: Request, fmt: str) -> str:
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "format"]
    base = str(request.base_url).rstrip("/")
    return f"{base}/tiles/{{z}}/{{x}}/{{y}}.{fmt}?{urlencode(query)}"


routes = [
    Route("/tiles/{z}/{x}/{y}.{ext}", tile),
    Route("/tilejson.json", tilejson),
    Route("/preview.{ext}", preview),
]
