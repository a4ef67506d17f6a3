"""The typed values a render is made of. Every image route (XYZ tiles, previews, mosaics, WMS GetMap,
WMTS GetTile) parses its request into one `RenderJob`; the pipeline (`tiler.pipeline.run`) draws it.

    RenderJob
    ├── layers: LayerJob, ...   drawn in order, each over the ones before it
    │   ├── source              ProductSource (one product) or MosaicSource (a catalog query)
    │   ├── styling             what to draw from the bands (a layer, the user's band math or evalscript);
    │   │                       a hillshade's asks for a margin of neighbours (tiler.pipeline.margins)
    │   └── up/downsampling     resampling when the output is finer / coarser than the data
    ├── grid                    output bounds, CRS and size
    ├── encoding                image format and encoder options (a GeoTIFF: values or picture)
    └── compositing             gain, gamma and the background of opaque outputs

A job is a pure value: its cache key is computed from it alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import ClassVar

from rasterio.crs import CRS
from rasterio.warp import transform_bounds

from renderers import RenderSpec
from renderers.evalscript import Evalscript
from tiler.collections import CloudMask
from tiler.crs import clip_to_domain, crs_domain, crs_from_code
from tiler.products import Product

BBox = tuple[float, float, float, float]


@dataclass(frozen=True)
class Grid:
    """The output raster: `bounds` (minx, miny, maxx, maxy) in `crs` (an authority code such as
    `EPSG:3857`, or WKT), `width` x `height` pixels. `geographic` gives the same extent in WGS84
    degrees where the caller knows it exactly (a tile's), so it need not be computed."""

    bounds: BBox
    crs: str
    width: int
    height: int
    geographic: Callable[[], BBox] | None = field(default=None, compare=False, repr=False)

    @property
    def rasterio_crs(self) -> CRS:
        return crs_from_code(self.crs)

    @cached_property
    def drawable(self) -> tuple[Grid, int, int] | None:
        """The part of the grid inside its CRS's domain (tiler.crs), on the same pixels, with its row
        and column offset; None when no pixel is. Only that part is read and drawn: a box far outside
        a CRS's area never reaches a transformation."""
        clipped = clip_to_domain(self.bounds, self.crs)
        if clipped is None:
            return None
        if clipped == self.bounds:
            return self, 0, 0
        domain = crs_domain(self.crs)
        assert domain is not None  # the box was clipped to it
        x0, y0, x1, y1 = self.bounds
        # Divided first: x1 - x0 overflows to inf for a box of +-1e308.
        pixel_w, pixel_h = x1 / self.width - x0 / self.width, y1 / self.height - y0 / self.height
        col0 = max(0, math.floor((clipped[0] - x0) / pixel_w))
        col1 = min(self.width, math.ceil((clipped[2] - x0) / pixel_w))
        row0 = max(0, math.floor((y1 - clipped[3]) / pixel_h))
        row1 = min(self.height, math.ceil((y1 - clipped[1]) / pixel_h))
        # A domain thinner than the box's float precision still covers its pixel.
        col0, row0 = min(col0, self.width - 1), min(row0, self.height - 1)
        col1, row1 = max(col1, col0 + 1), max(row1, row0 + 1)
        # The part's edges are the whole output pixels around the clipped box: at most a pixel past the
        # domain, or 1 % of it where one output pixel is wider than the whole domain (BBOX=-1e308,...).
        margin_x = min(pixel_w, (domain[2] - domain[0]) / 100)
        margin_y = min(pixel_h, (domain[3] - domain[1]) / 100)
        bounds = (
            max(x0 + col0 * pixel_w, domain[0] - margin_x),
            max(y1 - row1 * pixel_h, domain[1] - margin_y),
            min(x0 + col1 * pixel_w, domain[2] + margin_x),
            min(y1 - row0 * pixel_h, domain[3] + margin_y),
        )
        return Grid(bounds, self.crs, col1 - col0, row1 - row0), row0, col0

    @cached_property
    def area(self) -> BBox:
        """West, south, east, north in WGS84 degrees: what the catalog is asked for."""
        if self.geographic is not None:
            return self.geographic()
        west, south, east, north = transform_bounds(self.rasterio_crs, "EPSG:4326", *self.bounds, densify_pts=21)
        return west, south, east, north

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @cached_property
    def pixel_size_m(self) -> float:
        """The width of an output pixel on the ground, in metres (at the middle latitude if geographic)."""
        size = (self.bounds[2] - self.bounds[0]) / self.width
        if self.rasterio_crs.is_geographic:
            size *= 111_320 * math.cos(math.radians((self.bounds[1] + self.bounds[3]) / 2))
        return size

    @cached_property
    def cache_token(self) -> str:
        return f"{self.bounds!r}|{self.crs}|{self.width}x{self.height}"


@dataclass(frozen=True)
class ScriptSpec:
    """An evalscript, compiled (`renderers.evalscript`), and the output of it to draw: tiles and WMS
    draw `default`, a Process API request may name another."""

    script: Evalscript
    output: str = "default"
    margin: ClassVar[int] = 0  # a script sees one pixel at a time: no neighbours to read

    @property
    def bands(self) -> frozenset[str]:
        return self.script.bands


@dataclass(frozen=True)
class Styling:
    """What to draw from a product's bands: band math (a TOML layer or the user's expressions) or an
    evalscript (a `*.js` layer or the user's script); `cache_token` identifies the drawing uniquely.
    `resampling`, when set, is how the bands must be read whatever the request asks (a layer's own)."""

    spec: RenderSpec | ScriptSpec
    cache_token: str
    resampling: str | None = None

    @property
    def bands(self) -> frozenset[str]:
        return self.spec.bands


@dataclass(frozen=True)
class MosaicQuery:
    """Which products of a collection a mosaic draws, and in which order (Sentinel Hub's names)."""

    collection: str
    start: datetime | None  # None: no limit
    end: datetime | None
    max_cloud: float | None  # percent; None: no limit (also admits products without a value)
    priority: str  # one of tiler.catalog.ORDERS
    cloud_mask: CloudMask | None  # the collection's rule, when cloudmask=true
    # Product properties every product must have (Catalog.search's `properties`): orbit=ascending
    # is (("sat:orbit_state", "ascending"),).
    properties: tuple[tuple[str, str], ...] = ()

    @property
    def cache_token(self) -> str:
        return (
            f"{self.collection}|{self.start and self.start.isoformat()}|{self.end and self.end.isoformat()}"
            f"|{self.max_cloud}|{self.priority}|{self.cloud_mask is not None}|{self.properties}"
        )


@dataclass(frozen=True)
class ProductSource:
    product: Product

    @property
    def collection(self) -> str:
        return self.product.collection

    @property
    def cache_token(self) -> str:
        return f"product={self.product.id}"


@dataclass(frozen=True)
class MosaicSource:
    query: MosaicQuery
    max_products: int  # products read at most for one output

    @property
    def collection(self) -> str:
        return self.query.collection

    @property
    def cache_token(self) -> str:
        return f"mosaic={self.query.cache_token}|max={self.max_products}"


Source = ProductSource | MosaicSource


@dataclass(frozen=True)
class LayerJob:
    source: Source
    styling: Styling
    upsampling: str = "nearest"  # when an output pixel is smaller than the data's finest pixel
    downsampling: str = "nearest"


@dataclass(frozen=True)
class Encoding:
    format: str  # png, jpg, webp (renderers.MEDIA_TYPES), or tiff (tiler.pipeline.geotiff)
    media_type: str
    quality: int | None = None  # JPEG and WebP; None: the encoder's default
    values: bool = False  # tiff only: the single layer's values (float32, or class codes), not its picture


@dataclass(frozen=True)
class Compositing:
    """After the layers are drawn: Sentinel Hub's GAIN and GAMMA, and for an opaque output the
    background colour that shows through transparent pixels (None: keep the alpha)."""

    gain: float = 1.0
    gamma: float = 1.0
    background: tuple[int, int, int] | None = None


@dataclass(frozen=True)
class RenderJob:
    layers: tuple[LayerJob, ...]
    grid: Grid
    encoding: Encoding
    compositing: Compositing = Compositing()

    def cache_key(self) -> str:
        """Everything that decides the picture. The cache adds the catalog's version (tiler.cache), so
        an index update never serves a stale mosaic."""
        layers = ";".join(
            f"{layer.source.cache_token}|{layer.styling.cache_token}|{layer.upsampling}/{layer.downsampling}"
            for layer in self.layers
        )
        encoding, compositing = self.encoding, self.compositing
        return (
            f"{layers}#{self.grid.cache_token}#{encoding.format}/{encoding.quality}/{encoding.values}"
            f"#{compositing.gain}/{compositing.gamma}/{compositing.background}"
        )
