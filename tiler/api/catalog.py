"""The catalog over HTTP: `/search` (a STAC ItemCollection-style page of products), `/products`
and `/products/{id}` (each product's metadata with links to its TileJSON and preview)."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tiler import params
from tiler.catalog import SearchResult
from tiler.collections import Collection, Collections
from tiler.params import SearchQuery
from tiler.products import Product
from tiler.services import services


def search(request: Request) -> Response:
    svc = services(request)
    query = params.search_query(request.query_params, svc.collections)
    result = svc.catalog.search(
        query.bbox,
        query.start,
        query.end,
        query.max_cloud,
        query.collection,
        limit=query.limit,
        offset=query.offset,
        order="mostRecent",
    )
    base = str(request.base_url).rstrip("/")
    return JSONResponse(
        item_collection(result, query, svc.collections, base, request.query_params.multi_items()),
        media_type="application/geo+json",
    )


def product_metadata(request: Request) -> Response:
    product = services(request).catalog.resolve(request.path_params["product_id"])
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
    return JSONResponse({"products": [_product_json(request, p) for p in services(request).catalog]})


# ---------------------------------------------------------------------------------------------
# STAC JSON


def stac_item(product: Product, collection: Collection | None, base: str) -> dict:
    """A STAC Item of a product, its links pointing at this service."""
    west, south, east, north = product.bounds_wgs84
    geometry = product.footprint or {
        "type": "Polygon",
        "coordinates": [[[west, south], [east, south], [east, north], [west, north], [west, south]]],
    }
    query = urlencode({"product": product.id})
    properties = {
        "datetime": product.datetime.isoformat().replace("+00:00", "Z"),
        "platform": product.platform,
        "constellation": collection.constellation if collection else None,
        "instruments": list(collection.instruments) if collection and collection.instruments else None,
        "eo:cloud_cover": product.cloud_cover,
        "processing:level": product.processing_level,
        "s2:processing_baseline": product.processing_baseline,
        "grid:code": f"{collection.grid}-{product.tile}" if product.tile and collection and collection.grid else None,
        "proj:code": product.crs.to_string(),
    }
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": product.id,
        "collection": product.collection,
        "bbox": [west, south, east, north],
        "geometry": geometry,
        "properties": {k: v for k, v in properties.items() if v is not None},
        "links": [
            {"rel": "self", "href": f"{base}/products/{product.id}", "type": "application/json"},
            {"rel": "tilejson", "href": f"{base}/tilejson.json?{query}", "type": "application/json"},
        ],
        "assets": {
            "thumbnail": {
                "href": f"{base}/preview.png?{query}&width=256",
                "type": "image/png",
                "roles": ["thumbnail"],
            },
            "preview": {"href": f"{base}/preview.png?{query}", "type": "image/png", "roles": ["overview"]},
            "tilejson": {"href": f"{base}/tilejson.json?{query}", "type": "application/json", "roles": ["tiles"]},
            "metadata": {"href": f"{base}/products/{product.id}", "type": "application/json", "roles": ["metadata"]},
        },
    }


def item_collection(
    result: SearchResult, query: SearchQuery, collections: Collections, base: str, params: list[tuple[str, str]]
) -> dict:
    """One page of results, newest first, with `next`/`prev` links that keep the other parameters."""

    def page_link(rel: str, page: int) -> dict:
        kept = [(k, v) for k, v in params if k != "page"] + [("page", str(page))]
        return {"rel": rel, "href": f"{base}/search?{urlencode(kept)}", "type": "application/geo+json"}

    links = [page_link("self", query.page)]
    if query.offset + len(result.products) < result.total:
        links.append(page_link("next", query.page + 1))
    if query.page > 1:
        links.append(page_link("prev", query.page - 1))
    return {
        "type": "FeatureCollection",
        "features": [stac_item(p, collections.get(p.collection), base) for p in result.products],
        "numberMatched": result.total,
        "numberReturned": len(result.products),
        "context": {
            "page": query.page,
            "limit": query.limit,
            "matched": result.total,
            "returned": len(result.products),
        },
        "links": links,
    }


routes = [
    Route("/products", product_list),
    Route("/products/{product_id:path}", product_metadata),
    Route("/search", search),
]
