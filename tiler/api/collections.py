"""`/collections` and `/collections/{id}`: every configured collection with its bands (units,
conversions, class tables), its layers and what the catalog holds of it (extent, dates, product
count), in the shape of an OGC API / STAC collection's `extent`."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tiler.catalog.extents import Extent
from tiler.collections import Band, Collection
from tiler.services import Services, services


def _hex(colour: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*colour)


def _band(band: Band) -> dict:
    described: dict[str, object] = {
        "name": band.name,
        "title": band.title,
        "kind": band.kind,
        "unit": band.unit,
        "resolution": band.resolution,
        "nodata": band.nodata,
    }
    if band.is_class:
        described["classes"] = [
            {"value": e.value, "label": e.label, "colour": _hex(e.colour)} | ({"code": e.code} if e.code else {})
            for e in band.classes
        ]
    else:
        described |= {"scale": band.scale, "offset": band.offset}
    return described


def _extent(extent: Extent | None) -> dict | None:
    if extent is None:
        return None
    start, end = (t.isoformat().replace("+00:00", "Z") for t in (extent.start, extent.end))
    return {"spatial": {"bbox": [list(extent.bbox)]}, "temporal": {"interval": [[start, end]]}}


def collection_json(svc: Services, collection: Collection, extent: Extent | None, base: str) -> dict:
    query = urlencode({"collection": collection.id})
    return {
        "id": collection.id,
        "title": collection.title,
        "description": collection.description,
        "attribution": collection.attribution_for(extent.end.year if extent else None),
        "constellation": collection.constellation,
        "processing_level": collection.processing_level,
        "default": collection is svc.collections.default,
        "default_layer": collection.default_layer,
        "cloud_mask": collection.cloud_mask is not None,
        "bands": [_band(band) for band in collection.bands.values()],
        "layers": [
            {"name": layer.name, "title": layer.title, "description": layer.description}
            for layer in svc.layers.for_collection(collection.id)
        ],
        "extent": _extent(extent),
        "products": extent.products if extent else 0,
        "links": [
            {"rel": "self", "href": f"{base}/collections/{collection.id}", "type": "application/json"},
            {"rel": "items", "href": f"{base}/search?{query}", "type": "application/geo+json"},
            {"rel": "tilejson", "href": f"{base}/tilejson.json?{query}", "type": "application/json"},
        ],
    }


def collection_list(request: Request) -> Response:
    svc = services(request)
    extents = svc.extents.get(svc.catalog)
    base = str(request.base_url).rstrip("/")
    return JSONResponse(
        {"collections": [collection_json(svc, c, extents.get(c.id), base) for c in svc.collections.values()]}
    )


def collection_detail(request: Request) -> Response:
    svc = services(request)
    collection = svc.collection(request.path_params["collection_id"])
    base = str(request.base_url).rstrip("/")
    return JSONResponse(collection_json(svc, collection, svc.extents.get(svc.catalog).get(collection.id), base))


routes = [
    Route("/collections", collection_list),
    Route("/collections/{collection_id}", collection_detail),
]
