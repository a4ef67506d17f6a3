"""`/stac`: a STAC API over whichever catalog the server has, so that pystac-client, QGIS's STAC
browser and other STAC tools can browse and search the archive.

Conformance: STAC API Core, Collections, Features (OGC API - Features Part 1 core and GeoJSON) and
Item Search, GET and POST; no extensions (no sort, fields, query or filter: asking for one is a
400 rather than an answer that silently ignores it). Parameters follow the STAC API rather than
`/search`: RFC 3339 date-times only, `collections` and `ids` lists, `intersects`, and a `limit`
above the maximum is lowered to it, not refused.

Search results are the catalog's (newest first, ties by ID) with STAC's spatial meaning: an item
matches when its geometry meets the `bbox` or `intersects` geometry, not merely its bounding box;
those spatial searches page through the catalog's candidates and give no `numberMatched`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

from shapely.errors import GEOSException
from shapely.geometry import box, shape
from shapely.geometry.base import BaseGeometry
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from tiler.catalog import Catalog, SearchResult
from tiler.collections import Collection, Collections
from tiler.errors import BadRequest, InvalidParameter, NotFound
from tiler.http.bodies import json_object, json_value, read_body
from tiler.params import MAX_SEARCH_LIMIT
from tiler.products import Product
from tiler.services import services
from tiler.stac import STAC_VERSION, collection_document, stac_item

CONFORMANCE = (
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/collections",
    "https://api.stacspec.org/v1.0.0/ogcapi-features",
    "https://api.stacspec.org/v1.0.0/item-search",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
)
GEOJSON = "application/geo+json"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
MAX_IDS = 100
# Candidates one spatial search request reads at most, in pages: beyond, it answers what it found
# with a `next` link, so that a sparse match never makes one request scan the whole catalog.
_SCAN_PAGE = 200
_MAX_SCAN = 5000
MAX_SEARCH_BODY = 1_000_000  # a POST search: an intersects outline of thousands of vertices, not millions
_GEOMETRY_TYPES = frozenset(
    {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon", "GeometryCollection"}
)
_UNSUPPORTED = ("sortby", "fields", "filter", "filter-lang", "query", "q")
_RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$")


# ---------------------------------------------------------------------------------------------
# Parameters


@dataclass(frozen=True)
class StacSearch:
    collections: tuple[str, ...] | None  # None: all
    ids: tuple[str, ...] | None
    area: BaseGeometry | None  # from bbox or intersects, WGS84
    start: datetime | None
    end: datetime | None
    limit: int
    offset: int  # from the paging token


def _instant(text: str) -> datetime:
    m = _RFC3339.match(text)
    if m is None:
        raise InvalidParameter(f"datetime: '{text[:40]}' is not an RFC 3339 date-time (such as 2020-06-01T10:00:00Z)")
    year, month, day, hour, minute, second, fraction, zone = m.groups()
    try:
        value = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second),
            int((fraction or "0")[:6].ljust(6, "0")),
            tzinfo=UTC if zone in ("Z", "z") else datetime.strptime(zone, "%z").tzinfo,
        ).astimezone(UTC)  # fmt: skip
    except (ValueError, OverflowError):  # OverflowError: a zone that moves it past year 1 or 9999
        raise InvalidParameter(f"datetime: '{text[:40]}' is not a valid date-time") from None
    return value


def parse_datetime(raw: object) -> tuple[datetime | None, datetime | None]:
    """An instant, or `start/end` with one side open (`..` or empty); ends included."""
    if raw is None or raw == "":
        return None, None
    if not isinstance(raw, str):
        raise InvalidParameter("datetime must be a string")
    parts = raw.split("/")
    if len(parts) == 1:
        instant = _instant(parts[0])
        return instant, instant
    if len(parts) != 2 or all(p in ("", "..") for p in parts):
        raise InvalidParameter("datetime must be an instant or 'start/end', with at most one side open")
    start = None if parts[0] in ("", "..") else _instant(parts[0])
    end = None if parts[1] in ("", "..") else _instant(parts[1])
    if start is not None and end is not None and start > end:
        raise InvalidParameter("datetime: the start is after the end")
    return start, end


def _numbers(raw: object, name: str, text: bool) -> list[float]:
    """Numbers as a query sends them (`1,2,3`, `text`) or as JSON does (an array)."""
    if text and isinstance(raw, str):
        try:
            values = [float(v) for v in raw.split(",")]
        except ValueError:
            raise InvalidParameter(f"{name} must be numbers separated by commas, not '{raw[:60]}'") from None
    elif (
        not text and isinstance(raw, list) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in raw)
    ):
        values = [float(v) for v in raw]
    else:
        raise InvalidParameter(f"{name} must be {'numbers separated by commas' if text else 'an array of numbers'}")
    if not all(math.isfinite(v) for v in values):
        raise InvalidParameter(f"{name} must be finite numbers")
    return values


def parse_bbox(raw: object, text: bool) -> BaseGeometry | None:
    """`west,south,east,north` (or with minimum and maximum heights: six numbers), degrees."""
    if raw is None or raw == "":
        return None
    values = _numbers(raw, "bbox", text)
    if len(values) == 6:
        values = [values[0], values[1], values[3], values[4]]
    elif len(values) != 4:
        raise InvalidParameter("bbox must have 4 numbers (or 6, with heights)")
    west, south, east, north = values
    if not (-180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= 90 and -90 <= north <= 90):
        raise InvalidParameter("bbox must lie within -180..180 degrees longitude and -90..90 latitude")
    if south > north:
        raise InvalidParameter("bbox: its south is north of its north")
    if west > east:
        raise InvalidParameter("bbox: a box across the antimeridian is not supported; send two searches")
    return box(west, south, east, north)


def parse_intersects(raw: object, text: bool) -> BaseGeometry | None:
    """A GeoJSON geometry (an object in POST, its JSON text in GET), lon/lat."""
    if raw is None or raw == "":
        return None
    if text and isinstance(raw, str):
        raw = json_value(raw, "intersects", "intersects")
    if not isinstance(raw, dict) or raw.get("type") not in _GEOMETRY_TYPES:
        raise InvalidParameter("intersects must be a GeoJSON geometry")
    try:
        geometry = shape(raw)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, GEOSException):
        raise InvalidParameter("intersects is not a valid GeoJSON geometry") from None
    if geometry.is_empty:
        raise InvalidParameter("intersects is an empty geometry")
    west, south, east, north = geometry.bounds
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise InvalidParameter("intersects must lie within -180..180 degrees longitude and -90..90 latitude")
    return geometry


def _strings(raw: object, name: str, text: bool) -> tuple[str, ...] | None:
    if raw is None or raw == "":
        return None
    if text and isinstance(raw, str):
        values = [v for v in raw.split(",") if v]
    elif not text and isinstance(raw, list) and all(isinstance(v, str) for v in raw):
        values = raw
    else:
        raise InvalidParameter(f"{name} must be {'a comma-separated list' if text else 'an array of strings'}")
    return tuple(values)


def _limit(raw: object) -> int:
    if raw is None or raw == "":
        return 10
    try:
        value = int(raw) if isinstance(raw, int | str) and not isinstance(raw, bool) else None
    except ValueError:
        value = None
    if value is None or value < 1:
        raise InvalidParameter("limit must be a positive integer")
    return min(value, MAX_SEARCH_LIMIT)


def _token(raw: object) -> int:
    if raw is None or raw == "":
        return 0
    if not isinstance(raw, str) or not raw.isdigit() or len(raw) > 10:
        raise InvalidParameter("token is not one this server gave")
    return int(raw)


def parse_search(params: Mapping[str, object], text: bool) -> StacSearch:
    """The parameters of an item search: from a GET query (`text`: lists comma-separated,
    geometry as JSON text) or a POST body (JSON arrays and objects)."""
    for name in _UNSUPPORTED:
        if params.get(name) not in (None, ""):
            raise InvalidParameter(f"{name} is not supported here (no STAC API extensions)")
    if params.get("bbox") not in (None, "") and params.get("intersects") not in (None, ""):
        raise InvalidParameter("give bbox or intersects, not both")
    ids = _strings(params.get("ids"), "ids", text)
    if ids is not None and len(ids) > MAX_IDS:
        raise InvalidParameter(f"ids: at most {MAX_IDS}")
    start, end = parse_datetime(params.get("datetime"))
    return StacSearch(
        collections=_strings(params.get("collections"), "collections", text),
        ids=ids,
        area=parse_bbox(params.get("bbox"), text) or parse_intersects(params.get("intersects"), text),
        start=start,
        end=end,
        limit=_limit(params.get("limit")),
        offset=_token(params.get("token")),
    )


# ---------------------------------------------------------------------------------------------
# Searching


@dataclass(frozen=True)
class Page:
    products: list[Product]
    next_offset: int | None
    matched: int | None  # None when the catalog cannot tell without reading every candidate


def _meets(product: Product, area: BaseGeometry) -> bool:
    try:
        footprint = shape(product.footprint) if product.footprint else box(*product.bounds_wgs84)
    except (ValueError, TypeError, KeyError, AttributeError, GEOSException):
        footprint = box(*product.bounds_wgs84)
    return footprint.intersects(area)


def run_search(catalog: Catalog, collections: Collections, query: StacSearch) -> Page:
    known = tuple(collections)
    wanted = known if query.collections is None else tuple(c for c in known if c in query.collections)
    if not wanted:
        return Page([], None, 0)
    if query.ids is not None:
        return _by_ids(catalog, query, wanted)
    collection = wanted[0] if len(wanted) == 1 else None
    # The catalog filters on one collection or on all: a few of several are filtered here, while scanning.
    some = collection is None and len(wanted) < len(known)

    def page(limit: int, offset: int) -> SearchResult:
        bbox = query.area.bounds if query.area is not None else None
        return catalog.search(bbox, query.start, query.end, None, collection, limit=limit, offset=offset)

    if query.area is None and not some:
        result = page(query.limit, query.offset)
        after = query.offset + len(result.products)
        return Page(result.products, after if after < result.total else None, result.total)
    found: list[Product] = []
    position, total = query.offset, 0
    while len(found) < query.limit and position - query.offset < _MAX_SCAN:
        result = page(_SCAN_PAGE, position)
        total = result.total
        for product in result.products:
            position += 1
            if (query.area is None or _meets(product, query.area)) and product.collection in wanted:
                found.append(product)
                if len(found) == query.limit:
                    break
        if not result.products or position >= total:
            break
    return Page(found, position if position < total else None, None)


def _by_ids(catalog: Catalog, query: StacSearch, wanted: tuple[str, ...]) -> Page:
    products = []
    for item_id in dict.fromkeys(query.ids or ()):
        try:
            product = catalog.resolve(item_id)
        except (NotFound, BadRequest):  # an unsafe reference cannot be an item's ID either
            continue
        if (
            product.id == item_id
            and product.collection in wanted
            and (query.start is None or product.datetime >= query.start)
            and (query.end is None or product.datetime <= query.end)
            and (query.area is None or _meets(product, query.area))
        ):
            products.append(product)
    products.sort(key=lambda p: p.id)
    products.sort(key=lambda p: p.datetime, reverse=True)
    page = products[query.offset : query.offset + query.limit]
    after = query.offset + len(page)
    return Page(page, after if after < len(products) else None, len(products))


# ---------------------------------------------------------------------------------------------
# Documents


def _root(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _link(rel: str, href: str, media_type: str = "application/json", **extra: object) -> dict:
    return {"rel": rel, "href": href, "type": media_type, **extra}


def api_item(product: Product, collections: Collections, root: str) -> dict:
    """The public STAC item (`stac_item`) with the links of this API."""
    item = stac_item(product, collections.get(product.collection), root)
    stac = f"{root}/stac"
    collection = f"{stac}/collections/{product.collection}"
    item["stac_version"] = STAC_VERSION
    item["links"] = [
        _link("self", f"{collection}/items/{quote(product.id)}", GEOJSON),
        _link("parent", collection),
        _link("collection", collection),
        _link("root", stac),
        *(link for link in item["links"] if link["rel"] != "self"),
    ]
    return item


def _collection(collection: Collection, root: str) -> dict:
    stac = f"{root}/stac"
    url = f"{stac}/collections/{collection.id}"
    return collection_document(collection) | {
        "links": [
            _link("self", url),
            _link("parent", stac),
            _link("root", stac),
            _link("items", f"{url}/items", GEOJSON),
        ]
    }


def _item_collection(request: Request, page: Page, self_url: str, body: dict | None) -> JSONResponse:
    root = _root(request)
    links = [_link("self", self_url, GEOJSON), _link("root", f"{root}/stac")]
    if page.next_offset is not None:
        token = str(page.next_offset)
        if body is None:
            kept = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            base = self_url.split("?", 1)[0]
            links.append(_link("next", f"{base}?{urlencode([*kept, ('token', token)])}", GEOJSON, method="GET"))
        else:
            links.append(_link("next", self_url, GEOJSON, method="POST", body={"token": token}, merge=True))
    document = {
        "type": "FeatureCollection",
        "features": [api_item(p, services(request).collections, root) for p in page.products],
        "links": links,
        "numberReturned": len(page.products),
    }
    if page.matched is not None:
        document["numberMatched"] = page.matched
    return JSONResponse(document, media_type=GEOJSON)


# ---------------------------------------------------------------------------------------------
# Endpoints


def landing(request: Request) -> Response:
    stac = f"{_root(request)}/stac"
    return JSONResponse(
        {
            "type": "Catalog",
            "stac_version": STAC_VERSION,
            "id": "eo-tiler",
            "title": "eo-tiler",
            "description": "The satellite products served by eo-tiler: search them here, draw them with /tiles.",
            "conformsTo": list(CONFORMANCE),
            "links": [
                _link("self", stac),
                _link("root", stac),
                _link("conformance", f"{stac}/conformance"),
                _link("data", f"{stac}/collections"),
                _link("service-desc", f"{stac}/api", OPENAPI),
                _link("search", f"{stac}/search", GEOJSON, method="GET"),
                _link("search", f"{stac}/search", GEOJSON, method="POST"),
                *(
                    _link("child", f"{stac}/collections/{c.id}", title=c.title)
                    for c in services(request).collections.values()
                ),
            ],
        }
    )


def conformance(request: Request) -> Response:
    return JSONResponse({"conformsTo": list(CONFORMANCE)})


def collections(request: Request) -> Response:
    root = _root(request)
    stac = f"{root}/stac"
    return JSONResponse(
        {
            "collections": [_collection(c, root) for c in services(request).collections.values()],
            "links": [_link("self", f"{stac}/collections"), _link("root", stac), _link("parent", stac)],
        }
    )


def _known_collection(request: Request) -> Collection:
    return services(request).collection(request.path_params["collection_id"])  # NotFound otherwise


def collection(request: Request) -> Response:
    return JSONResponse(_collection(_known_collection(request), _root(request)))


def collection_items(request: Request) -> Response:
    collection_id = _known_collection(request).id
    params = dict(request.query_params)
    for name in ("collections", "ids", "intersects"):
        params.pop(name, None)  # Features filters by bbox and datetime only
    query = parse_search(params | {"collections": collection_id}, text=True)
    url = f"{_root(request)}/stac/collections/{collection_id}/items"
    self_url = f"{url}?{request.url.query}" if request.url.query else url
    svc = services(request)
    return _item_collection(request, run_search(svc.catalog, svc.collections, query), self_url, None)


def item(request: Request) -> Response:
    collection_id = _known_collection(request).id
    item_id = request.path_params["item_id"]
    svc = services(request)
    product = svc.catalog.resolve(item_id)  # an ID is one of the keys it resolves
    if product.id != item_id or product.collection != collection_id:
        raise NotFound(f"no item '{item_id[:200]}' in {collection_id}")
    return JSONResponse(api_item(product, svc.collections, _root(request)), media_type=GEOJSON)


async def search(request: Request) -> Response:
    body: dict | None = None
    if request.method == "POST":
        body = json_object(await read_body(request, MAX_SEARCH_BODY) or b"{}", "the search body")
        params: Mapping[str, object] = body
    else:
        params = request.query_params
    query = parse_search(params, text=body is None)
    url = f"{_root(request)}/stac/search"
    self_url = f"{url}?{request.url.query}" if body is None and request.url.query else url
    # The catalog blocks (SQLite, PostgreSQL): off the event loop, as the sync endpoints are.
    svc = services(request)
    page = await run_in_threadpool(run_search, svc.catalog, svc.collections, query)
    return _item_collection(request, page, self_url, body)


def service_description(request: Request) -> Response:
    return Response(json.dumps(openapi(f"{_root(request)}/stac", services(request).collections)), media_type=OPENAPI)


def openapi(server: str, collections: Collections) -> dict:
    """OpenAPI 3.0 description of these endpoints (the landing page's service-desc)."""

    def param(name: str, description: str, schema: dict, where: str = "query", required: bool = False) -> dict:
        return {"name": name, "in": where, "description": description, "required": required, "schema": schema}

    search_params = [
        param("bbox", "west,south,east,north in degrees (or six numbers with heights)", {"type": "string"}),
        param("datetime", "RFC 3339 instant or start/end, one side open with '..'", {"type": "string"}),
        param("limit", f"items per page, at most {MAX_SEARCH_LIMIT}", {"type": "integer", "minimum": 1}),
        param("token", "paging token of a next link", {"type": "string"}),
    ]
    json_ok = {"200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}}
    geojson_ok = {"200": {"description": "OK", "content": {GEOJSON: {"schema": {"type": "object"}}}}}
    collection_id = param("collection_id", "collection", {"type": "string", "enum": list(collections)}, "path", True)
    return {
        "openapi": "3.0.3",
        "info": {"title": "eo-tiler STAC API", "version": STAC_VERSION},
        "servers": [{"url": server}],
        "paths": {
            "/": {"get": {"summary": "landing page", "responses": json_ok}},
            "/conformance": {"get": {"summary": "conformance classes", "responses": json_ok}},
            "/collections": {"get": {"summary": "the collections", "responses": json_ok}},
            "/collections/{collection_id}": {
                "get": {"summary": "a collection", "parameters": [collection_id], "responses": json_ok}
            },
            "/collections/{collection_id}/items": {
                "get": {"summary": "its items", "parameters": [collection_id, *search_params], "responses": geojson_ok}
            },
            "/collections/{collection_id}/items/{item_id}": {
                "get": {
                    "summary": "one item",
                    "parameters": [collection_id, param("item_id", "item", {"type": "string"}, "path", True)],
                    "responses": geojson_ok,
                }
            },
            "/search": {
                "get": {
                    "summary": "item search",
                    "parameters": [
                        *search_params,
                        param("collections", "collection IDs, comma-separated", {"type": "string"}),
                        param("ids", f"item IDs, comma-separated, at most {MAX_IDS}", {"type": "string"}),
                        param("intersects", "a GeoJSON geometry", {"type": "string"}),
                    ],
                    "responses": geojson_ok,
                },
                "post": {
                    "summary": "item search",
                    "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
                    "responses": geojson_ok,
                },
            },
        },
    }


routes = [
    Route("/stac", landing),
    Mount(
        "/stac",
        routes=[
            Route("/", landing),
            Route("/conformance", conformance),
            Route("/api", service_description),
            Route("/collections", collections),
            Route("/collections/{collection_id}", collection),
            Route("/collections/{collection_id}/items", collection_items),
            Route("/collections/{collection_id}/items/{item_id}", item),
            Route("/search", search, methods=["GET", "POST"]),
        ],
    ),
]
