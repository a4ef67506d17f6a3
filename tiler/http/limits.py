"""ASGI middleware that refuses requests before anything parses them."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from tiler.http.errors import refusal

# The parameter that may be longer than the rest of a query: a whole script in base64 (WMS writes it
# EVALSCRIPT; OGC names are case-insensitive).
EVALSCRIPT = b"evalscript"


def query_lengths(query: bytes) -> tuple[int, int]:
    """Bytes of a raw query string outside and inside its evalscript parameters."""
    rest = script = 0
    for part in query.split(b"&"):
        if part.partition(b"=")[0].lower() == EVALSCRIPT:
            script += len(part)
        else:
            rest += len(part) + 1
    return max(rest - 1, 0), script


class QueryLengthLimit:
    """ASGI middleware: 414 for query strings over `max_length` bytes, an evalscript parameter aside,
    and for an evalscript parameter over `max_evalscript_length` bytes."""

    def __init__(self, app: ASGIApp, max_length: int, max_evalscript_length: int) -> None:
        self.app = app
        self.max_length = max_length
        self.max_evalscript_length = max_evalscript_length

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = scope.get("query_string", b"") if scope["type"] == "http" else b""
        if len(query) > self.max_length:
            rest, script = query_lengths(query)
            detail = None
            if rest > self.max_length:
                detail = f"the query string is longer than the limit of {self.max_length} bytes"
            elif script > self.max_evalscript_length:
                detail = (
                    f"the evalscript parameter is longer than the limit of {self.max_evalscript_length} bytes;"
                    " send a longer script in the body of a POST to /process"
                )
            if detail is not None:
                await refusal(scope["path"], 414, detail)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class HeaderSizeLimit:
    """ASGI middleware: 431 for header fields over `max_bytes` in all. The server's own limit on an
    unfinished head (`Settings.max_head_bytes`) leaves room for an evalscript in the request line, so
    the header fields are held to theirs here."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            # As on the wire: "name: value\r\n".
            size = sum(len(name) + len(value) + 4 for name, value in scope["headers"])
            if size > self.max_bytes:
                detail = f"the request's header fields are longer than the limit of {self.max_bytes} bytes"
                await refusal(scope["path"], 431, detail)(scope, receive, send)
                return
        await self.app(scope, receive, send)
