"""The ASGI application: `create_app(settings)` opens the catalog and builds the layers and the cache once."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse

from renderers import ExpressionError
from styles import load_layers
from tiler.api import stac
from tiler.api.tiles import Services, routes
from tiler.cache import ImageCache
from tiler.catalog.backends import open_configured_catalog
from tiler.catalog.sqlite import Catalog, MemoryCatalog
from tiler.errors import BadRequest, NotFound, ProductUnreadable, TilerError, TooLarge, Unavailable
from tiler.http import observability
from tiler.http.auth import ApiKeyAuth
from tiler.http.limits import QueryLengthLimit
from tiler.ogc import wms, wmts
from tiler.pipeline.limits import RenderPool
from tiler.products import CLASS_BANDS, S2_BANDS, ProductIndex
from tiler.reading.datasets import DatasetPool
from tiler.settings import Settings, settings_from_env

log = logging.getLogger(__name__)

# One table from domain errors to HTTP statuses; the first matching class wins.
STATUS_BY_ERROR: tuple[tuple[type[Exception], int], ...] = (
    (BadRequest, 400),
    (ExpressionError, 400),
    (NotFound, 404),
    (TooLarge, 413),
    (Unavailable, 503),
)
# Seconds a client should wait before retrying, by status.
RETRY_AFTER = {503: "5"}


def _error_response(request: Request, exc: Exception) -> JSONResponse:
    for error_type, status in STATUS_BY_ERROR:
        if isinstance(exc, error_type):
            headers = {"Retry-After": RETRY_AFTER[status]} if status in RETRY_AFTER else None
            return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)
    request_id = request.scope.get("state", {}).get("request_id")
    if isinstance(exc, ProductUnreadable):
        log.error("product unreadable on %s (request %s): %s", request.url.path, request_id, exc)
        if exc.product_id:
            detail = f"product {exc.product_id} cannot be read: its files are missing or damaged"
            return JSONResponse({"detail": detail}, status_code=500)
    else:
        log.exception("unexpected error on %s (request %s)", request.url.path, request_id, exc_info=exc)
    # Never echo internals (file paths, GDAL messages) to the client.
    return JSONResponse({"detail": "internal error while rendering; see the server log"}, status_code=500)


def create_app(settings: Settings, index: Catalog | ProductIndex | None = None) -> Starlette:
    """Build the app. A catalog may be passed in as `index` (tests: also a `ProductIndex`, served
    from memory); otherwise the configured catalog (SQLite or pgSTAC) is opened, built first if it never was."""
    if isinstance(index, ProductIndex):
        index = MemoryCatalog(index)
    elif index is None:
        index = open_configured_catalog(settings)
    services = Services(
        settings=settings,
        index=index,
        layers=load_layers(set(S2_BANDS) | CLASS_BANDS),
        cache=ImageCache(settings.cache_bytes),
        renders=RenderPool(settings.render_threads, settings.render_timeout, settings.render_pixels),
        datasets=DatasetPool(settings.open_datasets, per_path=len(os.sched_getaffinity(0))),
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        services.datasets.close()

    metrics = observability.Metrics(services.cache)
    # Outermost first: every request is logged and counted, even one refused by a limit or for its key.
    middleware = [
        Middleware(observability.ObservabilityMiddleware, metrics=metrics),
        Middleware(QueryLengthLimit, max_length=settings.max_query_length),
    ]
    if settings.api_keys:
        middleware.append(
            Middleware(ApiKeyAuth, keys=settings.api_keys, quota_per_minute=settings.api_quota_per_minute)
        )
    app = Starlette(
        routes=[*routes, *stac.routes, *wms.routes, *wmts.routes, *observability.routes],
        middleware=middleware,
        exception_handlers={TilerError: _error_response, ExpressionError: _error_response, Exception: _error_response},
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.metrics = metrics
    return app


def create_app_from_env() -> Starlette:
    """Factory for `uvicorn --factory` and multi-worker serving: settings from EO_TILER_*."""
    observability.configure_access_log()
    return create_app(settings_from_env())
