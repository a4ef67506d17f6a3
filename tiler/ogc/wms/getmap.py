"""GetMap: a `MapRequest` becomes a `RenderJob` (one layer job per WMS layer, composited in order)
and goes through the one pipeline, cache, ETag and stage timings included."""

from __future__ import annotations

from tiler import params
from tiler.ogc.common import rasterio_code
from tiler.ogc.layers import OgcLayer, layer_product
from tiler.ogc.wms.request import MOSAIC_LABELS, MapRequest
from tiler.pipeline import (
    Compositing,
    Encoding,
    Grid,
    LayerJob,
    MosaicQuery,
    MosaicSource,
    ProductSource,
    RenderJob,
    Source,
    Styling,
)
from tiler.services import Services


def mosaic_query(services: Services, req: MapRequest, layer: OgcLayer) -> MosaicQuery:
    """Sentinel Hub's TIME, MAXCC, PRIORITY and our CLOUDMASK for one layer's collection."""
    query = {**dict(req.mosaic_params), "collection": layer.collection}
    return params.mosaic_query(query, services.collections, MOSAIC_LABELS)


def layer_source(services: Services, req: MapRequest, layer: OgcLayer) -> Source:
    """PRODUCT= draws one product; otherwise the layer's collection is mosaicked."""
    if req.product:
        return ProductSource(layer_product(services.catalog, layer, req.product))
    return MosaicSource(mosaic_query(services, req, layer), services.settings.max_mosaic_products)


def layer_styling(services: Services, req: MapRequest, layer: OgcLayer, source: Source) -> Styling:
    """The layer's drawing (or the request's EXPRESSION), checked against the product's bands or
    against the bands every product of the layer's collection has."""
    query = {"layer": layer.style.name, **dict(req.style_query)}
    collection = services.collection(layer.collection)
    if isinstance(source, ProductSource):
        product = source.product
        return params.styling(
            query,
            product.bands.keys(),
            collection,
            f"product {product.id}",
            services.layers,
            services.settings,
            services.evalscripts,
        )
    subject = f"a {collection.id} mosaic"
    return params.styling(
        query, collection.bands.keys(), collection, subject, services.layers, services.settings, services.evalscripts
    )


def map_grid(req: MapRequest) -> Grid:
    return Grid(req.bbox, rasterio_code(req.crs_code), req.width, req.height)


def map_job(services: Services, req: MapRequest) -> RenderJob:
    layers = []
    for layer in req.layers:
        source = layer_source(services, req, layer)
        styling = layer_styling(services, req, layer, source)
        layers.append(LayerJob(source, styling, req.upsampling, req.downsampling))
    return RenderJob(
        tuple(layers),
        map_grid(req),
        Encoding(req.fmt, req.media_type, req.quality, values=req.fmt == "tiff" and not req.visual),
        Compositing(req.gain, req.gamma, req.bgcolor if req.opaque else None),
    )
