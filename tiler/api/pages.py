"""The map page and its static files, the layer list, and the operational endpoints: `/healthz`
(the worker answers), `/readyz` (the catalog and data roots are usable) and `/metrics`."""

from __future__ import annotations

import os
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from tiler.errors import CatalogUnavailable
from tiler.http import multiprocess
from tiler.services import services

STATIC_DIR = Path(__file__).parent.parent / "static"


def map_page(request: Request) -> Response:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html")


def layer_list(request: Request) -> Response:
    return JSONResponse({"layers": [layer.to_json() for layer in services(request).layers]})


def healthz(request: Request) -> Response:
    # Alive even while the catalog database is down: that is /readyz's business, not a restart's.
    try:
        products: int | None = len(services(request).catalog)
    except CatalogUnavailable:
        products = None
    return JSONResponse({"status": "ok", "products": products})


def readyz(request: Request) -> Response:
    """Ready when the catalog answers and every data root can be listed."""
    svc = services(request)
    problems = []
    for number, root in enumerate(svc.catalog.roots, start=1):
        try:
            with os.scandir(root) as entries:
                next(entries, None)
        except OSError:
            problems.append(f"data root {number} is not readable")  # no paths in public answers
    try:
        products = len(svc.catalog)
    except CatalogUnavailable as exc:
        problems.append(f"catalog: {exc}")
    if problems:
        return JSONResponse({"status": "not ready", "problems": problems}, status_code=503)
    return JSONResponse({"status": "ready", "products": products})


def metrics(request: Request) -> Response:
    """This worker's metrics, or with several workers all of theirs (tiler.http.multiprocess)."""
    return Response(multiprocess.scrape(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


routes = [
    Route("/", map_page),
    Route("/healthz", healthz),
    Route("/readyz", readyz),
    Route("/metrics", metrics),
    Route("/layers", layer_list),
    # The map page's script, styles and the libraries `make install` copies into static/vendor/.
    Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
]
