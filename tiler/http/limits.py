"""ASGI middleware that refuses requests before anything parses them."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from tiler.http.errors import refusal


class QueryLengthLimit:
    """ASGI middleware: 414 for query strings over `max_length` bytes, before anything parses them."""

    def __init__(self, app: ASGIApp, max_length: int) -> None:
        self.app = app
        self.max_length = max_length

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and len(scope.get("query_string", b"")) > self.max_length:
            detail = f"the query string is longer than the limit of {self.max_length} bytes"
            await refusal(scope["path"], 414, detail)(scope, receive, send)
            return
        await self.app(scope, receive, send)
