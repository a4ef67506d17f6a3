"""POST /process: Sentinel Hub's Process API, for scripts too long for a URL. The JSON body names one
data source (a collection mosaicked over a time range, or one product), an area, an output size and
format, and carries the evalscript as text:

    {"input": {"bounds": {"bbox": [...], "properties": {"crs": "http://www.opengis.net/def/crs/EPSG/0/3857"}},
               "data": [{"type": "sentinel-2-l2a",
                         "dataFilter": {"timeRange": {"from": ..., "to": ...}, "maxCloudCoverage": 30,
                                        "mosaickingOrder": "mostRecent"}}]},
     "output": {"width": 512, "height": 512, "responses": [{"identifier": "default", "format": {"type": "image/png"}}]},
     "evalscript": "//VERSION=3 ..."}

It is parsed (`tiler.params.process_request`) into the same `RenderJob` a preview would be, and drawn
by the one pipeline, cache included.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tiler import params
from tiler.crs import clip_to_domain
from tiler.errors import InvalidParameter
from tiler.http.bodies import json_object, read_body
from tiler.http.responses import image_response
from tiler.pipeline import Encoding, Grid, LayerJob, MosaicSource, ProductSource, RenderJob, render_image
from tiler.services import Services, services

# JSON escapes a script's newlines and quotes: room for the longest script at four bytes a character.
_BODY_PER_CHARACTER = 4
_BODY_SLACK = 64 * 1024


async def process(request: Request) -> Response:
    svc = services(request)
    limit = svc.settings.max_evalscript_length * _BODY_PER_CHARACTER + _BODY_SLACK
    body = await read_body(request, limit)
    # Compiling, reading and drawing block: off the event loop, as the plain-def routes run.
    return await run_in_threadpool(_process, request, svc, body)


def _process(request: Request, svc: Services, body: bytes) -> Response:
    stages = request.state.stages
    with stages.stage("resolve"):
        document = json_object(body, "the body (Sentinel Hub's Process API request)")
        req = params.process_request(document, svc.collections, svc.settings)
        collection = svc.collection(req.mosaic.collection)
        script = params.compiled_evalscript(req.evalscript, svc.evalscripts)
        if req.product:
            product = svc.catalog.resolve(req.product)
            if product.collection != collection.id:
                raise InvalidParameter(
                    f"product {product.id} is in {product.collection}, not {collection.id}", "input.data[0].type"
                )
            source: ProductSource | MosaicSource = ProductSource(product)
            styling = params.script_styling(script, product.bands.keys(), f"product {product.id}", output=req.output)
        else:
            source = MosaicSource(req.mosaic, svc.settings.max_mosaic_products)
            subject = f"a {collection.id} mosaic"
            styling = params.script_styling(script, collection.bands.keys(), subject, output=req.output)
        if req.bbox is not None:
            bounds, crs = req.bbox, req.crs
        else:
            assert isinstance(source, ProductSource)  # process_request asks for a bbox otherwise
            bounds, crs = source.product.bounds, source.product.crs.to_string()
        if clip_to_domain(bounds, crs) is None:
            raise InvalidParameter(f"input.bounds.bbox lies outside the area where {crs} is defined", "input.bounds")
        width, height = params.output_size(req.width, req.height, bounds, svc.settings.max_image_size)
        job = RenderJob(
            (LayerJob(source, styling, req.upsampling, req.downsampling),),
            Grid(bounds, crs, width, height),
            Encoding(req.fmt, req.media_type),
        )
    image, hit = render_image(svc, job, stages)
    return image_response(request, image, hit, svc.settings.cache_max_age)


routes = [Route("/process", process, methods=["POST"])]
