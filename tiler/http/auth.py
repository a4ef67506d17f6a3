"""Optional API keys with a per-key request quota (off unless keys are configured).

Every route needs a key except the open ones below (map page and its static files, layer list,
health, readiness, metrics), so routes added later are protected by default. A key comes in the
`X-API-Key` header or the `key=` query parameter (GIS clients can only send URLs). Keys are compared
in constant time and only a short hash of them (`key_id`) is ever logged.

The quota is a moving one-minute window per key (tiler.http.quotas): in memory it holds per worker
process; in Redis it holds across every worker and replica.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from tiler.http.errors import refusal
from tiler.http.quotas import Quota

OPEN_PATHS = frozenset({"/", "/layers", "/healthz", "/readyz", "/metrics"})
OPEN_PREFIX = "/static/"  # the map page's script, styles and libraries
KEY_HEADER = b"x-api-key"
KEY_PARAMETER = "key"


def key_id(key: str) -> str:
    """A short, non-reversible name of a key for logs and quota buckets."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


class ApiKeyAuth:
    """ASGI middleware: 401 without a valid key, 429 with Retry-After over the key's quota."""

    def __init__(self, app: ASGIApp, keys: Iterable[str], quota: Quota) -> None:
        self.app = app
        self._digests = [hashlib.sha256(k.encode()).digest() for k in keys]
        self._quota = quota

    def _valid(self, key: str) -> bool:
        digest = hashlib.sha256(key.encode()).digest()
        # Check every key, so the time taken says nothing about which one nearly matched.
        return any([hmac.compare_digest(digest, known) for known in self._digests])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS or scope["path"].startswith(OPEN_PREFIX):
            await self.app(scope, receive, send)
            return
        key = dict(scope["headers"]).get(KEY_HEADER, b"").decode("latin-1")
        if not key:
            query = parse_qsl(scope.get("query_string", b"").decode("latin-1"))
            key = next((v for k, v in query if k == KEY_PARAMETER), "")
        if not key or not self._valid(key):
            detail = "an API key is required" if not key else "the API key is not valid"
            detail += f" (X-API-Key header or {KEY_PARAMETER}= parameter)"
            await refusal(scope["path"], 401, detail)(scope, receive, send)
            return
        bucket = key_id(key)
        scope.setdefault("state", {})["key_id"] = bucket
        retry_after = await self._quota.retry_after(bucket)
        if retry_after is not None:
            detail = f"over the quota of {self._quota.amount} requests per minute for this key"
            response = refusal(scope["path"], 429, detail, {"Retry-After": str(retry_after)})
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
