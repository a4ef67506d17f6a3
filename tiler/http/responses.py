"""The answer every image route gives: the image with its validators, or 304 Not Modified."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from tiler.cache import CachedImage


def image_response(request: Request, image: CachedImage, hit: bool, max_age: int) -> Response:
    """ETag and Cache-Control on every image; a matching If-None-Match gets 304 without a body.
    `X-Cache` tells the access log and the metrics whether the image was rendered."""
    headers = {
        "ETag": image.etag,
        "Cache-Control": f"public, max-age={max_age}",
        "X-Cache": "hit" if hit else "miss",
    }
    if image.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(image.content, media_type=image.media_type, headers=headers)
