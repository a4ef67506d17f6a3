"""The render pipeline: typed render jobs (`job`) and the one path that draws them (`run`)."""

from tiler.pipeline.job import (
    Compositing,
    Encoding,
    Grid,
    LayerJob,
    MosaicQuery,
    MosaicSource,
    ProductSource,
    RenderJob,
    ScriptSpec,
    Source,
    Styling,
)
from tiler.pipeline.run import products_for, read_layer, render_image

__all__ = [
    "Compositing",
    "Encoding",
    "Grid",
    "LayerJob",
    "MosaicQuery",
    "MosaicSource",
    "ProductSource",
    "RenderJob",
    "ScriptSpec",
    "Source",
    "Styling",
    "products_for",
    "read_layer",
    "render_image",
]
