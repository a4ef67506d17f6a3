"""eo-tiler: a tile server for Copernicus satellite data.

The public names below are the ones other code (tests, benchmarks, deployments) may rely on; the
modules behind them are the layers of the service (see docs/architecture.md). A test pins this list.
"""

from tiler.app import create_app, create_app_from_env
from tiler.catalog import Catalog, MemoryCatalog, SearchResult, SqliteCatalog, open_catalog
from tiler.collections import Band, Collection, Collections, builtin_collections, load_collections
from tiler.errors import BadRequest, NotFound, ProductUnreadable, RenderTimeout, TilerError, TooLarge
from tiler.pipeline import Grid, LayerJob, MosaicSource, ProductSource, RenderJob, render_image
from tiler.products import BandAsset, Product
from tiler.settings import Settings, settings_from_env

__all__ = [
    "BadRequest",
    "Band",
    "BandAsset",
    "Catalog",
    "Collection",
    "Collections",
    "Grid",
    "LayerJob",
    "MemoryCatalog",
    "MosaicSource",
    "NotFound",
    "Product",
    "ProductSource",
    "ProductUnreadable",
    "RenderJob",
    "RenderTimeout",
    "SearchResult",
    "Settings",
    "SqliteCatalog",
    "TilerError",
    "TooLarge",
    "builtin_collections",
    "create_app",
    "create_app_from_env",
    "load_collections",
    "open_catalog",
    "render_image",
    "settings_from_env",
]
