"""The ASGI application: `create_app(settings)` opens the catalog and builds the layers and the cache once."""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse

from renderers import ExpressionError
from styles import load_layers
from tiler.cache import ImageCache
from tiler.errors import BadRequest, NotFound, ProductUnreadable, TilerError, TooLarge
from tiler.catalog import Catalog, open_catalog
from tiler.products import CLASS_BANDS, S2_BANDS
from tiler.routes import Services, routes
from tiler.settings import Settings, settings_from_env

log = logging.getLogger(__name__)

# One table from domain errors to HTTP statuses; the first matching class wins.
STATUS_BY_ERROR: tuple[tuple[type[Exception], int], ...] = (
    (BadRequest, 400),
    (ExpressionError, 400),
    (NotFound, 404),
    (TooLarge, 413),
)


def _error_response(request: Request, exc: Exception) -> JSONResponse:
    for error_type, status in STATUS_BY_ERROR:
        if isinstance(exc, error_type):
            return JSONResponse({"detail": str(exc)}, status_code=status)
    if isinstance(exc, ProductUnreadable):
        log.error("product unreadable on %s: %s", request.url.path, exc)
    else:
        log.exception("unexpected error on %s", request.url.path, exc_info=exc)
    # Never echo internals (file paths, GDAL messages) to the client.
    return JSONResponse({"detail": "internal error while rendering; see the server log"}, status_code=500)


def create_app(settings: Settings, catalog: Catalog | None = None) -> Starlette:
    """Build the app. `catalog` may be passed in; otherwise the SQLite catalog of the data roots is
    opened, and built first if it never was (`eo-tiler index` updates it)."""
    if catalog is None:
        catalog = open_catalog(settings.catalog_path, settings.data_roots)
        log.info("catalog %s: %d products", settings.catalog_path, len(catalog))
    services = Services(
        settings=settings,
        index=catalog,
        layers=load_layers(set(S2_BANDS) | CLASS_BANDS),
        cache=ImageCache(settings.cache_bytes),
    )
    app = Starlette(
        routes=routes,
        exception_handlers={TilerError: _error_response, ExpressionError: _error_response, Exception: _error_response},
    )
    app.state.services = services
    return app


def create_app_from_env() -> Starlette:
    """Factory for `uvicorn --factory` and multi-worker serving: settings from EO_TILER_*."""
    return create_app(settings_from_env())
