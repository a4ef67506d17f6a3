"""Catalog queries from request parameters (bbox, time intervals, cloud cover, collection, paging)
and the STAC ItemCollection-style JSON of a page of results.

Every parse error is an `InvalidParameter` whose message starts with the parameter's name.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from tiler.catalog.sqlite import COLLECTIONS, BBox, SearchResult
from tiler.errors import InvalidParameter
from tiler.products import Product

MAX_SEARCH_LIMIT = 1000
DEFAULT_SEARCH_LIMIT = 10

_REDUCED = re.compile(r"^(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2}))?)?$")


def _period(text: str, name: str) -> tuple[datetime, datetime]:
    """The first and last instant a date of reduced precision (`2020`, `2020-06`, `2020-06-01`)
    or a full ISO 8601 date-time (start = end) stands for, in UTC."""
    try:
        if m := _REDUCED.match(text):
            year, month, day = int(m["year"]), int(m["month"] or 1), int(m["day"] or 1)
            start = datetime(year, month, day, tzinfo=UTC)
            if m["day"]:
                after = start + timedelta(days=1)
            elif m["month"]:
                after = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
            else:
                after = datetime(year + 1, 1, 1, tzinfo=UTC)
            return start, after - timedelta(microseconds=1)
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except (ValueError, OverflowError):
        raise InvalidParameter(
            f"{name}: '{text[:40]}' is not a date (YYYY, YYYY-MM, YYYY-MM-DD or an ISO 8601 date-time)"
        ) from None
    value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return value, value


def parse_interval(raw: str | None, name: str) -> tuple[datetime | None, datetime | None]:
    """`start/end`, either side reduced precision, empty or `..` (open); a single date is the
    whole of its period (a day, a month, a year). Nothing given: no limit."""
    if raw is None or raw.strip() in ("", "../..", "/"):
        return None, None
    parts = raw.strip().split("/")
    if len(parts) > 2:
        raise InvalidParameter(f"{name} must be one date or 'start/end', not '{raw[:60]}'")
    if len(parts) == 1:
        return _period(parts[0], name)
    start = None if parts[0] in ("", "..") else _period(parts[0], name)[0]
    end = None if parts[1] in ("", "..") else _period(parts[1], name)[1]
    if start is not None and end is not None and start > end:
        raise InvalidParameter(f"{name}: the start {parts[0][:30]} is after the end {parts[1][:30]}")
    return start, end


def parse_bbox(raw: str | None, name: str = "bbox") -> BBox | None:
    """`west,south,east,north` in WGS84 degrees."""
    if raw is None or raw == "":
        return None
    try:
        values = [float(v) for v in raw.split(",")]
    except ValueError:
        raise InvalidParameter(f"{name} must be four numbers 'west,south,east,north', not '{raw[:60]}'") from None
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise InvalidParameter(f"{name} must be four finite numbers 'west,south,east,north'")
    west, south, east, north = values
    if not (-180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= 90 and -90 <= north <= 90):
        raise InvalidParameter(f"{name} must lie within -180..180 degrees longitude and -90..90 latitude")
    if west >= east or south >= north:
        raise InvalidParameter(f"{name} needs west < east and south < north (no antimeridian crossing)")
    return west, south, east, north


def parse_max_cloud(raw: str | None, name: str) -> float | None:
    """0..100 percent; 100 (the default) means no limit, which also admits products without a value."""
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise InvalidParameter(f"{name} must be a number from 0 to 100, not '{raw[:40]}'") from None
    if not 0 <= value <= 100:
        raise InvalidParameter(f"{name} must be from 0 to 100")
    return None if value == 100 else value


def parse_collection(raw: str | None, name: str = "collection") -> str | None:
    if raw is None or raw == "":
        return None
    if raw not in COLLECTIONS:
        raise InvalidParameter(f"{name} '{raw[:60]}' is unknown; use one of {', '.join(COLLECTIONS)}")
    return raw


def _positive_int(raw: str | None, name: str, default: int, maximum: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidParameter(f"{name} must be an integer, not '{raw[:40]}'") from None
    if not 1 <= value <= maximum:
        raise InvalidParameter(f"{name} must be from 1 to {maximum}")
    return value


@dataclass(frozen=True)
class SearchQuery:
    collection: str | None
    bbox: BBox | None
    start: datetime | None
    end: datetime | None
    max_cloud: float | None
    limit: int
    page: int  # from 1

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


def parse_search_query(query: Mapping[str, str]) -> SearchQuery:
    start, end = parse_interval(query.get("datetime"), "datetime")
    limit = _positive_int(query.get("limit"), "limit", DEFAULT_SEARCH_LIMIT, MAX_SEARCH_LIMIT)
    return SearchQuery(
        collection=parse_collection(query.get("collection")),
        bbox=parse_bbox(query.get("bbox")),
        start=start,
        end=end,
        max_cloud=parse_max_cloud(query.get("maxcc"), "maxcc"),
        limit=limit,
        page=_positive_int(query.get("page"), "page", 1, 10**9 // limit),
    )


# ---------------------------------------------------------------------------------------------
# STAC JSON


def stac_item(product: Product, base: str) -> dict:
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
        "constellation": "sentinel-2",
        "instruments": ["msi"],
        "eo:cloud_cover": product.cloud_cover,
        "processing:level": product.processing_level,
        "s2:processing_baseline": product.processing_baseline,
        "grid:code": f"MGRS-{product.tile}" if product.tile else None,
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


def item_collection(result: SearchResult, query: SearchQuery, base: str, params: list[tuple[str, str]]) -> dict:
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
        "features": [stac_item(p, base) for p in result.products],
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
