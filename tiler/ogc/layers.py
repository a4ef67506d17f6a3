"""The OGC layer list: one named layer (`<collection>:<LAYER>`) per layer file and per collection
present in the catalog, with the collection's extent and acquisition dates."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from styles import Layer, Layers
from tiler.catalog import Catalog
from tiler.catalog.extents import collection_extents
from tiler.collections import Collections
from tiler.errors import InvalidParameter
from tiler.products import Product


@dataclass(frozen=True)
class OgcLayer:
    name: str  # "<collection>:<STYLE>"
    collection: str
    collection_title: str
    style: Layer
    bounds_wgs84: tuple[float, float, float, float]
    dates: tuple[str, ...]  # YYYY-MM-DD, ascending

    @property
    def title(self) -> str:
        return f"{self.style.title} ({self.collection_title})"


def ogc_layers(products: Iterable[Product], styles: Layers, collections: Collections) -> dict[str, OgcLayer]:
    """One named layer per style and per collection present in the catalog."""
    extents = collection_extents(products)
    layers = {}
    for collection in sorted(extents):
        for style in styles.for_collection(collection):
            name = f"{collection}:{style.name}"
            layers[name] = OgcLayer(
                name,
                collection,
                collections[collection].title if collection in collections else collection,
                style,
                extents[collection].bbox,
                extents[collection].dates,
            )
    return layers


class OgcLayerCache:
    """The OGC layer list, rebuilt only when the catalog's version changes (listing it walks the
    whole catalog). Owned by the app; threads share it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version: str | None = None
        self._layers: dict[str, OgcLayer] = {}

    def get(self, catalog: Catalog, styles: Layers, collections: Collections) -> dict[str, OgcLayer]:
        version = catalog.version
        with self._lock:
            if version != self._version:
                self._layers, self._version = ogc_layers(catalog, styles, collections), version
            return self._layers


def find_layer(layers: Mapping[str, OgcLayer], name: str, default_collection: str) -> OgcLayer | None:
    """A layer by its full name, or by the bare style name Sentinel Hub clients send (the default
    collection's first)."""
    if name in layers:
        return layers[name]
    bare = [layer for layer in layers.values() if layer.style.name == name]
    bare.sort(key=lambda layer: layer.collection != default_collection)
    return bare[0] if bare else None


def layer_product(catalog: Catalog, layer: OgcLayer, reference: str) -> Product:
    """The product `PRODUCT=` names for a layer (WMS GetMap and GetFeatureInfo, WMTS GetTile): it
    must be of the collection the layer draws."""
    product = catalog.resolve(reference)
    if product.collection != layer.collection:
        raise InvalidParameter(
            f"PRODUCT {product.id} is not in {layer.collection}; layer {layer.name} draws that collection", "PRODUCT"
        )
    return product
