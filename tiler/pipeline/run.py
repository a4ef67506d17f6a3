"""The one render pipeline: a `RenderJob` in, an encoded image out, through the cache.

    cache lookup -> select products -> read bands -> evaluate, colour and composite -> encode

A layer whose pixels depend on their neighbours (a hillshade: `spec.margin` > 0) is read on the grid
widened by its margin and drawn back onto the grid itself (`tiler.pipeline.margins`).

Each stage is timed into `/metrics` (`eo_tiler_render_stage_seconds`) by the request's `StageTimer`.
Renders run in the bounded render pool under a deadline and the pixel budget (`tiler.limits`);
concurrent misses for one key render once (`tiler.cache`).
"""

from __future__ import annotations

import numpy as np

from renderers import RenderSpec, encode, evaluate_values, render
from renderers.composite import finish, over
from tiler.cache import CachedImage
from tiler.catalog import Catalog, select_products
from tiler.http.observability import StageTimer
from tiler.limits import Deadline
from tiler.pipeline.geotiff import ValueBand, encode_rgba, encode_values, value_band
from tiler.pipeline.job import BBox, Grid, LayerJob, MosaicQuery, ProductSource, RenderJob, Source
from tiler.pipeline.margins import ground_spacing, widen
from tiler.pipeline.scripts import draw_script, script_values, value_names
from tiler.products import Product
from tiler.reading import BandStack, read_mosaic, read_part
from tiler.reading.joined import read_joined
from tiler.services import Services


def render_image(services: Services, job: RenderJob, stages: StageTimer) -> tuple[CachedImage, bool]:
    """The job's image from the cache, rendered on a miss. Returns (image, hit)."""
    return services.cache.get_or_render(job.cache_key(), lambda: _render(services, job, stages))


def _render(services: Services, job: RenderJob, stages: StageTimer) -> tuple[bytes, str]:
    grid, drawable = job.grid, job.grid.drawable
    draw = _draw_values if job.encoding.values else _draw
    if drawable is None or not any(_may_meet(layer.source, drawable[0]) for layer in job.layers):
        # Nothing to read (a tile beside its product, a box outside its CRS): no need for the render pool.
        if job.encoding.values:
            return _encode_values(services, job, None, stages)
        return _encode(job, np.zeros((grid.height, grid.width, 4), dtype=np.uint8), stages)
    return services.renders.run(lambda deadline: draw(services, job, stages, deadline), grid.pixels)


def _draw(services: Services, job: RenderJob, stages: StageTimer, deadline: Deadline) -> tuple[bytes, str]:
    assert job.grid.drawable is not None  # _render checked
    grid, row0, col0 = job.grid.drawable
    canvas: np.ndarray | None = None  # the layers drawn so far, uint8 RGBA
    for layer in job.layers:
        margin = layer.styling.spec.margin
        read_grid = widen(grid, margin) if margin else grid
        stack = read_layer(services, layer, read_grid, stages, deadline)
        if stack is None:
            continue
        deadline.check()
        with stages.stage("evaluate"):
            rgba = draw_layer(services, layer, stack, deadline, ground_spacing(read_grid) if margin else None)
            canvas = rgba if canvas is None else over(rgba, canvas)
    if canvas is None or grid is not job.grid:
        # The drawn part in its place on the whole output; the rest (outside the CRS) transparent.
        whole = np.zeros((job.grid.height, job.grid.width, 4), dtype=np.uint8)
        if canvas is not None:
            whole[row0 : row0 + grid.height, col0 : col0 + grid.width] = canvas
        canvas = whole
    deadline.check()
    return _encode(job, canvas, stages)


def draw_layer(
    services: Services,
    layer: LayerJob,
    stack: BandStack,
    deadline: Deadline,
    spacing: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """A layer's bands drawn as uint8 RGBA: band math by `renderers.render` (a hillshade with the
    ground `spacing` of its widened grid), an evalscript by the engine, within what is left of the
    render's deadline."""
    spec = layer.styling.spec
    if isinstance(spec, RenderSpec):
        return render(spec, stack.arrays, stack.valid, spacing)
    product = layer.source.product if isinstance(layer.source, ProductSource) else None
    return draw_script(spec, stack, services.collection(layer.source.collection), deadline.remaining(), product)


def _encode(job: RenderJob, canvas: np.ndarray, stages: StageTimer) -> tuple[bytes, str]:
    """Gain, gamma and background (`renderers.composite.finish`), then the image format."""
    c = job.compositing
    with stages.stage("encode"):
        picture = finish(canvas, c.gain, c.gamma, c.background)
        if job.encoding.format == "tiff":
            return encode_rgba(picture, job.grid), job.encoding.media_type
        options = {} if job.encoding.quality is None else {"quality": job.encoding.quality}
        return encode(picture, job.encoding.format, **options), job.encoding.media_type


def _draw_values(services: Services, job: RenderJob, stages: StageTimer, deadline: Deadline) -> tuple[bytes, str]:
    """A values GeoTIFF: its one layer's expressions evaluated, not drawn."""
    (layer,) = job.layers  # the routes refuse values of several layers
    assert job.grid.drawable is not None  # _render checked
    stack = read_layer(services, layer, job.grid.drawable[0], stages, deadline)
    deadline.check()
    return _encode_values(services, job, stack, stages, deadline.remaining())


def _encode_values(
    services: Services, job: RenderJob, stack: BandStack | None, stages: StageTimer, seconds: float = 0.0
) -> tuple[bytes, str]:
    """The layer's values on the job's grid: those of `stack` (read on the drawable part) in place,
    no-data elsewhere. An evalscript's values (`tiler.pipeline.scripts.script_values`) get `seconds`."""
    (layer,) = job.layers
    grid = job.grid
    spec = layer.styling.spec
    collection = services.collection(layer.source.collection)
    if isinstance(spec, RenderSpec):
        described = [value_band(e.source, collection.bands) for e in spec.expressions]
    else:
        described = [ValueBand(name, np.dtype("float32"), float("nan")) for name in value_names(spec)]
    valid = np.zeros((grid.height, grid.width), dtype=bool)
    values = [np.full(valid.shape, np.nan, dtype=np.float32) for _ in described]
    with stages.stage("evaluate"):
        if stack is not None and grid.drawable is not None:
            part, row0, col0 = grid.drawable
            rows, cols = slice(row0, row0 + part.height), slice(col0, col0 + part.width)
            if isinstance(spec, RenderSpec):
                computed, computed_valid = evaluate_values(spec, stack.arrays, stack.valid), stack.valid
            else:
                product = layer.source.product if isinstance(layer.source, ProductSource) else None
                computed, computed_valid = script_values(spec, stack.arrays, stack.valid, collection, seconds, product)
            valid[rows, cols] = computed_valid
            for whole, part_values in zip(values, computed):
                whole[rows, cols] = part_values
    with stages.stage("encode"):
        return encode_values(values, valid, described, grid), job.encoding.media_type


def products_for(services: Services, source: Source, area: BBox, stages: StageTimer) -> list[Product]:
    """The products a source draws over `area` (WGS84), first one on top."""
    if isinstance(source, ProductSource):
        return [source.product]
    with stages.stage("select"):
        return mosaic_products(services.catalog, source.query, area, source.max_products)


def mosaic_products(catalog: Catalog, query: MosaicQuery, area: BBox, limit: int) -> list[Product]:
    """The first `limit` products of a mosaic over `area` (WGS84), in its priority order."""
    return select_products(
        catalog,
        area,
        collection=query.collection,
        start=query.start,
        end=query.end,
        max_cloud=query.max_cloud,
        order=query.priority,
        limit=limit,
        properties=dict(query.properties),
    )


def read_layer(
    services: Services, layer: LayerJob, grid: Grid, stages: StageTimer, deadline: Deadline | None = None
) -> BandStack | None:
    """The bands a layer's styling needs, on the output grid; None when no product meets it."""
    products = products_for(services, layer.source, grid.area, stages)
    if not products:
        return None
    finest = products[0].finest_band.resolution
    resampling = layer.styling.resampling or (layer.upsampling if grid.pixel_size_m < finest else layer.downsampling)
    gdal = services.settings.gdal
    with stages.stage("read"):
        if isinstance(layer.source, ProductSource):
            return read_part(
                products[0],
                layer.styling.bands,
                grid.bounds,
                grid.rasterio_crs,
                grid.width,
                grid.height,
                gdal_options=gdal,
                resampling=resampling,
                deadline=deadline,
                datasets=services.datasets,
            )
        if layer.styling.spec.margin and layer.source.query.cloud_mask is None:
            # Neighbours across product borders: products of one grid are read as one raster.
            joined = read_joined(
                products,
                layer.styling.bands,
                grid.bounds,
                grid.rasterio_crs,
                grid.width,
                grid.height,
                gdal_options=gdal,
                resampling=resampling,
                deadline=deadline,
                datasets=services.datasets,
            )
            if joined is not None:
                return joined
        return read_mosaic(
            products,
            layer.styling.bands,
            grid.bounds,
            grid.rasterio_crs,
            grid.width,
            grid.height,
            gdal_options=gdal,
            cloud_mask=layer.source.query.cloud_mask,
            deadline=deadline,
            resampling=resampling,
            datasets=services.datasets,
        )


def _may_meet(source: Source, grid: Grid) -> bool:
    """False only when a single product's bounds certainly miss the grid's area (a drawable grid's)."""
    if not isinstance(source, ProductSource):
        return True
    return boxes_meet(grid.area, source.product.bounds_wgs84)


def boxes_meet(a: BBox, b: BBox) -> bool:
    """Whether two WGS84 boxes overlap; a box whose west lies east of its east crosses the antimeridian."""
    return any(_plain_meet(x, y) for x in _split(a) for y in _split(b))


def _split(box: BBox) -> tuple[BBox, ...]:
    west, south, east, north = box
    if west <= east:
        return (box,)
    return ((west, south, 180.0, north), (-180.0, south, east, north))


def _plain_meet(a: BBox, b: BBox) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
