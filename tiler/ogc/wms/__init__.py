"""OGC WMS 1.1.1 and 1.3.0 at /wms, one module per operation:

- `capabilities`: GetCapabilities (with version negotiation and UPDATESEQUENCE);
- `request` + `getmap`: GetMap, parsed once into a `MapRequest`, drawn as a `RenderJob` by the one
  pipeline (cache, ETag, 304 and stage timings as on the tile routes);
- `featureinfo`: GetFeatureInfo;
- `legend`: GetLegendGraphic.

Every problem is a domain error; `tiler.http.errors` renders it as a ServiceExceptionReport of the
request's version, or into the image for EXCEPTIONS=INIMAGE / BLANK.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tiler.errors import (
    CurrentUpdateSequence,
    InvalidParameter,
    InvalidUpdateSequence,
    MissingParameter,
    OperationNotSupported,
)
from tiler.http.errors import Protocol, error_response
from tiler.http.responses import image_response
from tiler.ogc.common import lower_keys
from tiler.ogc.layers import OgcLayer
from tiler.ogc.wms.capabilities import capabilities
from tiler.ogc.wms.featureinfo import get_feature_info
from tiler.ogc.wms.getmap import map_job
from tiler.ogc.wms.legend import get_legend_graphic
from tiler.ogc.wms.request import image_frame, parse_map_request
from tiler.pipeline import render_image
from tiler.services import Services, services

VERSIONS = ("1.1.1", "1.3.0")
_MAP = ("getmap", "map")
_FEATURE_INFO = ("getfeatureinfo", "feature_info")


def _version_tuple(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in text.split("."))
    except ValueError:
        raise InvalidParameter(f"VERSION '{text[:20]}' is not a version number", "VERSION") from None


def negotiate(requested: str | None) -> str:
    """GetCapabilities version negotiation: the highest supported not above the request, or the lowest."""
    if not requested:
        return VERSIONS[-1]
    wanted = _version_tuple(requested)
    lower = [v for v in VERSIONS if _version_tuple(v) <= wanted]
    return lower[-1] if lower else VERSIONS[0]


def _layers(svc: Services) -> dict[str, OgcLayer]:
    return svc.ogc_layers.get(svc.catalog, svc.layers, svc.collections)


def wms(request: Request) -> Response:
    svc = services(request)
    query = lower_keys(request.query_params.multi_items())
    operation = query.get("request", "").lower()
    version = query.get("version") or query.get("wmtver") or ""
    max_size = svc.settings.max_image_size
    frame = image_frame(query, max_size) if operation in _MAP else None
    protocol = Protocol("wms", version if version in VERSIONS else VERSIONS[-1], frame)
    try:
        if operation == "getcapabilities":
            if query.get("service", "WMS").upper() != "WMS":
                raise InvalidParameter("SERVICE must be WMS", "SERVICE")
            version = negotiate(version)
            protocol = Protocol("wms", version)
            update_sequence = svc.catalog.version
            wanted = query.get("updatesequence")
            if wanted == update_sequence:
                raise CurrentUpdateSequence("the capabilities have not changed", "UPDATESEQUENCE")
            if wanted and wanted.isdigit() and update_sequence.isdigit() and int(wanted) > int(update_sequence):
                raise InvalidUpdateSequence("UPDATESEQUENCE is newer than the server's", "UPDATESEQUENCE")
            return capabilities(
                request, _layers(svc), version, update_sequence, max_size, svc.settings.wms_time_default
            )
        if operation in _MAP + _FEATURE_INFO:
            if not version:
                raise MissingParameter("VERSION is required", "VERSION")
            if version not in VERSIONS:
                raise InvalidParameter(f"VERSION {version[:20]} is not supported; use 1.1.1 or 1.3.0", "VERSION")
            map_query = query
            if operation in _FEATURE_INFO and "format" not in query:
                map_query = {**query, "format": "image/png"}
            stages = request.state.stages
            with stages.stage("resolve"):
                layers = _layers(svc)
                default = svc.collections.default.id
                time_required = not svc.settings.wms_time_default
                req = parse_map_request(map_query, version, layers, default, max_size, time_required)
                job = map_job(svc, req) if operation in _MAP else None
            if job is not None:
                image, hit = render_image(svc, job, stages)
                return image_response(request, image, hit, svc.settings.cache_max_age)
            return get_feature_info(svc, query, req, layers, stages)
        if operation == "getlegendgraphic":
            return get_legend_graphic(query, _layers(svc), svc.collections.default.id)
        raise OperationNotSupported(f"REQUEST '{query.get('request', '')[:40]}' is not supported", "REQUEST")
    except Exception as exc:
        return error_response(exc, protocol, request)


routes = [Route("/wms", wms)]
