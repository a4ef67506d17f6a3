"""Request bodies: read within a byte limit, parsed as one JSON object. Every route that takes a
JSON body (`/stac/search`, `/statistics`, `/crop`, `/process`) reads it here, so each refuses an
over-long body with 413 before reading it all and a malformed one with 400."""

from __future__ import annotations

import json

from starlette.requests import Request

from tiler.errors import InvalidParameter, TooLarge


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused (413) past `limit` bytes: by its Content-Length, else while it streams in."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"the body is longer than the limit of {limit:,} bytes", "body")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the body is longer than the limit of {limit:,} bytes", "body")
        chunks.append(chunk)
    return b"".join(chunks)


def json_object(text: bytes | str, what: str) -> dict:
    """`text` parsed as a JSON object; 400 naming `what` otherwise. RecursionError: nesting deeper
    than the parser goes (`[[[[...`), which is no request either."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise InvalidParameter(f"{what} is not JSON", "body") from None
    if not isinstance(value, dict):
        raise InvalidParameter(f"{what} must be a JSON object", "body")
    return value


def json_value(text: str, what: str, label: str) -> object:
    """One parameter's JSON (a GeoJSON geometry in a query string); 400 naming `label` otherwise."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise InvalidParameter(f"{what} must be JSON", label) from None
