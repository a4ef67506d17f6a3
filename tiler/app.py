"""The ASGI application: `create_app(settings)` reads the collections and layers, opens the catalog
and builds the cache, the render pool and the middleware once."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware

from renderers import ExpressionError
from renderers.evalscript import EvalscriptCache
from styles import load_layers
from tiler.api import analysis, pages, process, stac, tiles
from tiler.api import catalog as catalog_routes
from tiler.api import collections as collection_routes
from tiler.catalog import Catalog
from tiler.catalog.backends import open_configured_catalog
from tiler.collections import Collections, load_collections
from tiler.errors import TilerError
from tiler.http import multiprocess, observability
from tiler.http.auth import ApiKeyAuth
from tiler.http.errors import handle_error
from tiler.http.limits import HeaderSizeLimit, QueryLengthLimit
from tiler.limits import RenderPool
from tiler.ogc import wms, wmts
from tiler.reading.datasets import DatasetPool
from tiler.services import Services
from tiler.settings import Settings, settings_from_env
from tiler.shared import api_quota, image_cache

log = logging.getLogger(__name__)


def create_app(settings: Settings, catalog: Catalog | None = None, collections: Collections | None = None) -> Starlette:
    """Build the app. A catalog may be passed in (tests: a `MemoryCatalog`); otherwise the configured
    catalog (SQLite, or pgSTAC for a database URL) is opened, built first if it never was.
    Collections are the built-in ones plus the settings' collection files, unless given."""
    if collections is None:
        collections = load_collections(extra=settings.collection_files)
    if catalog is None:
        catalog = open_configured_catalog(settings, collections)
    metrics = observability.Metrics(settings.cache_bytes)
    evalscripts = EvalscriptCache(settings.evalscript_cache, max_length=settings.max_evalscript_length)
    services = Services(
        settings=settings,
        catalog=catalog,
        collections=collections,
        layers=load_layers(collections, extra=settings.layer_dirs, scripts=evalscripts),
        evalscripts=evalscripts,
        cache=image_cache(settings, lambda: catalog.version, metrics),
        renders=RenderPool(settings.render_threads, settings.render_timeout, settings.render_pixels),
        datasets=DatasetPool(settings.open_datasets, per_path=len(os.sched_getaffinity(0))),
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        services.datasets.close()
        multiprocess.worker_exiting()

    # Outermost first: every request is logged and counted, even one refused by a limit or for its key.
    middleware = [
        Middleware(observability.ObservabilityMiddleware, metrics=metrics),
        Middleware(HeaderSizeLimit, max_bytes=settings.max_header_bytes),
        Middleware(
            QueryLengthLimit,
            max_length=settings.max_query_length,
            max_evalscript_length=settings.max_evalscript_query_length,
        ),
    ]
    if settings.api_keys:
        middleware.append(Middleware(ApiKeyAuth, keys=settings.api_keys, quota=api_quota(settings, metrics)))
    app = Starlette(
        routes=[
            *pages.routes,
            *catalog_routes.routes,
            *collection_routes.routes,
            *stac.routes,
            *tiles.routes,
            *process.routes,
            *analysis.routes,
            *wms.routes,
            *wmts.routes,
        ],
        middleware=middleware,
        # Domain errors are answered by the router's handler; anything else reaches starlette's
        # server-error handler, which answers the same way and lets the server log the traceback.
        exception_handlers={TilerError: handle_error, ExpressionError: handle_error, Exception: handle_error},
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.metrics = metrics
    return app


def create_app_from_env() -> Starlette:
    """Factory for `uvicorn --factory` and multi-worker serving: settings from EO_TILER_*."""
    observability.configure_access_log()
    return create_app(settings_from_env())
