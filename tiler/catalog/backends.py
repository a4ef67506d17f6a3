"""The catalog backend the settings name: a SQLite file (the default) or a pgSTAC database
(`catalog` a postgresql:// URL). Both have `update` and `put` beside the `Catalog` interface."""

from __future__ import annotations

import logging

from tiler.catalog.pgstac import PgstacCatalog
from tiler.catalog.sqlite import SqliteCatalog
from tiler.collections import Collections
from tiler.errors import CatalogUnavailable
from tiler.settings import Settings

log = logging.getLogger(__name__)


def configured_catalog(settings: Settings, collections: Collections | None = None) -> SqliteCatalog | PgstacCatalog:
    """The catalog as it is, for `eo-tiler index` to update; `collections` tell it what products are."""
    if settings.catalog_url is not None:
        return PgstacCatalog(
            settings.catalog_url,
            settings.data_roots,
            collections,
            pool_min=settings.db_pool_min,
            pool_max=settings.db_pool_max,
            timeout=settings.db_timeout,
        )
    return SqliteCatalog(settings.catalog_path, settings.data_roots, collections)


def catalog_label(settings: Settings) -> str:
    """Where the catalog is, for messages (never a password)."""
    if settings.catalog_url is not None:
        return PgstacCatalog.describe(settings.catalog_url)
    return str(settings.catalog_path)


def open_configured_catalog(
    settings: Settings, collections: Collections | None = None
) -> SqliteCatalog | PgstacCatalog:
    """The catalog for serving, built now when it has never been built for these roots. A
    database that is down is not fatal: the server starts, answers 503 and is not ready until
    the database is back (build it then with `eo-tiler index`)."""
    catalog = configured_catalog(settings, collections)
    try:
        if not catalog.indexed:
            log.info("building the catalog %s for %s", catalog_label(settings), ", ".join(map(str, catalog.roots)))
            log.info("catalog built: %s", catalog.update().summary())
        log.info("catalog %s: %d products", catalog_label(settings), len(catalog))
    except CatalogUnavailable as exc:
        log.warning("catalog %s: %s; serving 503 until it is back", catalog_label(settings), exc)
    return catalog
