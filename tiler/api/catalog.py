"""The catalog over HTTP: `/search` (a STAC ItemCollection-style page of products), `/products`
and `/products/{id}` (each product's metadata with links to its TileJSON and preview)."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tiler import params
from tiler.catalog import SearchResult
from tiler.collections import Collections
from tiler.params import SearchQuery
from tiler.products import Product
from tiler.services import services
from tiler.stac import stac_item


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
