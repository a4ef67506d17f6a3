"""Operations: Prometheus metrics, JSON access logs with request ids, and per-stage render timing.
The `/metrics` endpoint is in `tiler.api.pages`.

Each app owns its metrics registry (no global state). With several worker processes, `/metrics`
adds up the samples of all of them (tiler.http.multiprocess).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.datastructures import MutableHeaders
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tiler.cache import CacheEvents

access_log = logging.getLogger("tiler.access")

# Query parameters whose values never reach a log line.
SECRET_PARAMETERS = frozenset({"key"})
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    """The app's Prometheus metrics, in a registry of its own."""

    def __init__(self, cache_max_bytes: int) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "eo_tiler_requests",
            "HTTP requests by route template and status",
            ["route", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "eo_tiler_request_duration_seconds",
            "HTTP request duration",
            ["route"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.stage_duration = Histogram(
            "eo_tiler_render_stage_seconds",
            "Time spent per render stage: resolve, select (mosaics), read, evaluate, encode",
            ["stage"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.cache_requests = Counter(
            "eo_tiler_cache_requests", "Image cache lookups by outcome (hit, miss)", ["outcome"], registry=self.registry
        )
        self.renders = Counter(
            "eo_tiler_renders",
            "Images rendered, after missing every cache level and any other renderer",
            registry=self.registry,
        )
        self.coalesced = Counter(
            "eo_tiler_cache_coalesced",
            "Requests that waited for another request's render of the same image in this process",
            registry=self.registry,
        )
        self.shared_unavailable = Counter(
            "eo_tiler_shared_store_unavailable",
            "Calls to a shared store (Redis) that went on without it: failed, timed out or skipped in an outage",
            ["store"],
            registry=self.registry,
        )
        # Set as they change, not read at scrape time: with several workers the scrape sums their files.
        self.cache_bytes = Gauge(
            "eo_tiler_cache_bytes",
            "Bytes held by the in-process image caches",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        Gauge(
            "eo_tiler_cache_max_bytes",
            "Bound of the in-process image caches in bytes",
            registry=self.registry,
            multiprocess_mode="livesum",
        ).set(cache_max_bytes)

    def cache_events(self) -> CacheEvents:
        return CacheEvents(
            rendered=self.renders.inc,
            coalesced=self.coalesced.inc,
            shared_unavailable=self.shared_unavailable.labels("cache").inc,
            size_changed=self.cache_bytes.set,
        )


class StageTimer:
    """Times the stages of one request into the stage histogram; the access log lists them too."""

    def __init__(self, metrics: Metrics) -> None:
        self._histogram = metrics.stage_duration
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - start
            self._histogram.labels(name).observe(elapsed)
            self.seconds[name] = self.seconds.get(name, 0.0) + elapsed


_LOGGED_VALUE = 256  # characters of a value in the access log; an evalscript runs to 100 KB


def _logged(key: str, value: str) -> str:
    if key in SECRET_PARAMETERS:
        return "REDACTED"
    if len(value) > _LOGGED_VALUE:
        digest = hashlib.sha256(value.encode()).hexdigest()[:12]
        return f"{value[:64]}...({len(value)} chars, sha256 {digest})"
    return value


def redact_query(query_string: str) -> str:
    """The query string for the access log: secret parameters (API keys) replaced, long values (an
    evalscript in the URL) cut to their start, length and hash, so one tile is not a 100 KB line."""
    pairs = parse_qsl(query_string, keep_blank_values=True)
    return urlencode([(k, _logged(k, v)) for k, v in pairs])


class ObservabilityMiddleware:
    """ASGI middleware: request id, metrics by route template and status, one JSON access-log line per request.

    The route is the matched template (`/tiles/{z}/{x}/{y}.{ext}`), never the raw path, so crawlers
    cannot blow up the metrics' label sets. The cache outcome comes from the `X-Cache` header.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["stages"] = stages = StageTimer(self.metrics)
        outcome: dict[str, object] = {"status": 500, "cache": None}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = request_id
                outcome["status"] = message["status"]
                outcome["cache"] = headers.get("x-cache")
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            duration = time.perf_counter() - start
            template = _route_template(scope)
            self.metrics.requests.labels(template, str(outcome["status"])).inc()
            self.metrics.duration.labels(template).observe(duration)
            if outcome["cache"] in ("hit", "miss"):
                self.metrics.cache_requests.labels(outcome["cache"]).inc()
            record = {
                "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "request_id": request_id,
                "method": scope["method"],
                "route": template,
                "path": scope["path"],
                "query": redact_query(scope.get("query_string", b"").decode("latin-1")),
                "status": outcome["status"],
                "duration_ms": round(duration * 1000, 2),
                "cache": outcome["cache"],
                "stages_ms": {k: round(v * 1000, 2) for k, v in stages.seconds.items()},
                "client": (scope.get("client") or ("", 0))[0],
            }
            if "key_id" in state:
                record["key_id"] = state["key_id"]
            access_log.info(json.dumps(record, ensure_ascii=True))


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    if route is None and "app" in scope:  # refused before routing (a limit, a key): match it now
        route = next((r for r in scope["app"].routes if r.matches(scope)[0] is Match.FULL), None)
    return getattr(route, "path", None) or "unmatched"


def configure_access_log() -> None:
    """Access lines go to stdout as bare JSON, one per line, apart from the other logs."""
    if not access_log.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        access_log.addHandler(handler)
    access_log.setLevel(logging.INFO)
    access_log.propagate = False
