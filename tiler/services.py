"""What every route shares, built once by `create_app` and found at `request.app.state.services`."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import Request

from renderers.evalscript import EvalscriptCache
from styles import Layers
from tiler.cache import ImageCache
from tiler.catalog import Catalog
from tiler.catalog.extents import ExtentCache
from tiler.collections import Collection, Collections
from tiler.errors import NotFound
from tiler.limits import RenderPool
from tiler.ogc.layers import OgcLayerCache
from tiler.reading.datasets import DatasetPool
from tiler.settings import Settings


@dataclass(frozen=True)
class Services:
    settings: Settings
    catalog: Catalog
    collections: Collections
    layers: Layers
    cache: ImageCache
    renders: RenderPool
    datasets: DatasetPool
    evalscripts: EvalscriptCache  # compiled scripts by hash: the layers' and the requests'
    ogc_layers: OgcLayerCache = field(default_factory=OgcLayerCache)
    extents: ExtentCache = field(default_factory=ExtentCache)

    def collection(self, collection_id: str) -> Collection:
        try:
            return self.collections[collection_id]
        except KeyError:
            raise NotFound(f"collection '{collection_id[:60]}' is not configured") from None


def services(request: Request) -> Services:
    return request.app.state.services
