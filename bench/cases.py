"""The benchmark cases: which tiles, thumbnails and views, as request paths for both servers.

Both servers draw the same picture from the same files, as 256 px PNG tiles in WebMercatorQuad:

- TRUE_COLOR: eo-tiler's layer (B04, B03, B02 over 0..0.4 reflectance with EO Browser's highlight
  compression); TiTiler: the same three assets rescaled linearly over the same reflectances in DN
  (1000..5000, the product is baseline 04.00).
- NDVI: eo-tiler's layer (stepped palette); TiTiler: (nir - red) / (nir + red) over -1..1 through
  rio-tiler's `rdylgn` colour map.

TiTiler reads the product through its STAC endpoint (`/stac/...?url=item.json&assets=...`), which
its documentation gives for products whose bands are separate files; DN 0 is nodata in both.

Mosaic cases (TRUE_COLOR, COG): eo-tiler draws `/tiles/...?time=...` from its catalog, newest product
first; TiTiler draws the same products through its MosaicJSON endpoint, one RGB VRT per product,
newest first, with its default pixel selection (first valid pixel). Both stop reading once a tile is
full.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from urllib.parse import quote, urlencode

import morecantile
from rasterio.warp import transform_bounds

from bench.data import BenchData, MosaicData

TMS = morecantile.tms.get("WebMercatorQuad")
TILE_PX = 256

TITILER_STYLE = {
    "TRUE_COLOR": [("assets", "red"), ("assets", "green"), ("assets", "blue"), ("rescale", "1000,5000")],
    "NDVI": [
        ("assets", "nir"),
        ("assets", "red"),
        ("expression", "(b1-b2)/(b1+b2)"),
        ("rescale", "-1,1"),
        ("colormap_name", "rdylgn"),
    ],
}


@dataclass(frozen=True)
class Target:
    """One request, for both servers; `bounds` (in EPSG:3857) and `size` let the floor redo it in-process."""

    eo_path: str
    titiler_path: str
    layer: str
    bounds: tuple[float, float, float, float]
    crs: str
    width: int
    height: int
    mosaic_time: str | None = None  # a mosaic over this interval, not one product


@dataclass(frozen=True)
class Case:
    kind: str  # cold | hot | viewport | shared-view | previews | getmap
    layer: str
    fmt: str  # jp2 | cog
    zoom: int | None
    targets: tuple[Target, ...]
    concurrency: int
    duration_s: float | None = None  # None: each target once; else cycle for this long
    mosaic: bool = False

    @property
    def name(self) -> str:
        zoom = f" z{self.zoom}" if self.zoom is not None else ""
        return f"{self.kind} {'mosaic ' if self.mosaic else ''}{self.layer} {self.fmt}{zoom}"


def _wgs84_bounds(data: BenchData) -> tuple[float, float, float, float]:
    return transform_bounds(f"EPSG:{data.epsg}", "EPSG:4326", *data.bounds)


def _tile_target(data: BenchData, item: str, layer: str, tile: morecantile.Tile) -> Target:
    eo = f"/tiles/{tile.z}/{tile.x}/{tile.y}.png?" + urlencode({"product": data.product_id, "layer": layer})
    tt = f"/stac/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.png?" + urlencode(
        [("url", item), *TITILER_STYLE[layer], ("nodata", "0")], quote_via=quote
    )
    return Target(eo, tt, layer, _xy_bounds(tile), "EPSG:3857", TILE_PX, TILE_PX)


def product_tiles(data: BenchData, zoom: int) -> list[morecantile.Tile]:
    """Tiles wholly inside the product (tiles at its edge are partly empty, so cheaper); at low zooms,
    where no tile fits inside, every tile that touches it."""
    touching = list(TMS.tiles(*_wgs84_bounds(data), zooms=[zoom]))
    left, bottom, right, top = data.bounds
    inside = []
    for tile in touching:
        # The product is a square in UTM, a rotated one in lon/lat: test in UTM.
        b = transform_bounds("EPSG:4326", f"EPSG:{data.epsg}", *TMS.bounds(tile), densify_pts=21)
        if left <= b[0] and b[2] <= right and bottom <= b[1] and b[3] <= top:
            inside.append(tile)
    return inside or touching


def viewport_tiles(data: BenchData, zoom: int, width: int = 1920, height: int = 1080) -> list[morecantile.Tile]:
    """Every tile a `width` x `height` map view centred on the product shows, centre rows first."""
    west, south, east, north = _wgs84_bounds(data)
    centre = TMS.tile((west + east) / 2, (south + north) / 2, zoom)
    # The view's centre in global pixel coordinates at this zoom.
    b = TMS.xy_bounds(centre)
    res = (b.right - b.left) / TILE_PX
    cx, cy = TMS.xy((west + east) / 2, (south + north) / 2)
    origin = TMS.xy_bounds(morecantile.Tile(0, 0, zoom))
    px, py = (cx - origin.left) / res, (origin.top - cy) / res
    cols = range(math.floor((px - width / 2) / TILE_PX), math.floor((px + width / 2 - 1) / TILE_PX) + 1)
    rows = range(math.floor((py - height / 2) / TILE_PX), math.floor((py + height / 2 - 1) / TILE_PX) + 1)
    tiles = [morecantile.Tile(x, y, zoom) for y in rows for x in cols]
    return sorted(tiles, key=lambda t: (abs(t.y - centre.y), abs(t.x - centre.x)))


@dataclass(frozen=True)
class Plan:
    """How many requests each case makes."""

    cold_counts: dict[int, int]  # zoom -> tiles
    hot_tiles: int
    hot_s: float
    thumbnails: int
    viewport_zooms: tuple[int, ...]
    shared_view_zoom: int
    getmaps: int
    mosaic_counts: dict[int, int]  # zoom -> mosaic tiles


def _xy_bounds(tile: morecantile.Tile) -> tuple[float, float, float, float]:
    b = TMS.xy_bounds(tile)
    return b.left, b.bottom, b.right, b.top


def build_cases(data: BenchData, fmt: str, plan: Plan, seed: int = 5) -> list[Case]:
    item = str(data.titiler_items[fmt])
    rng = random.Random(seed)
    cases: list[Case] = []
    used: set[morecantile.Tile] = set()
    for layer in ("TRUE_COLOR", "NDVI"):
        for zoom, count in plan.cold_counts.items():
            tiles = product_tiles(data, zoom)
            fresh = [t for t in tiles if t not in used] or tiles
            rng.shuffle(fresh)
            # Few tiles exist at low zooms: those are requested round and round (the tile cache is off).
            chosen = [fresh[i % len(fresh)] for i in range(count)]
            used.update(chosen)
            targets = tuple(_tile_target(data, item, layer, t) for t in chosen)
            cases.append(Case("cold", layer, fmt, zoom, targets, concurrency=6))
    hot_zoom = max(plan.cold_counts)
    tiles = [t for t in product_tiles(data, hot_zoom) if t not in used][: plan.hot_tiles] or product_tiles(
        data, hot_zoom
    )
    for layer in ("TRUE_COLOR", "NDVI"):
        targets = tuple(_tile_target(data, item, layer, t) for t in tiles)
        cases.append(Case("hot", layer, fmt, hot_zoom, targets, concurrency=6, duration_s=plan.hot_s))
    for zoom in plan.viewport_zooms:
        view = tuple(_tile_target(data, item, "TRUE_COLOR", t) for t in viewport_tiles(data, zoom))
        cases.append(Case("viewport", "TRUE_COLOR", fmt, zoom, view, concurrency=6))
    # Three browsers open one shared view at the same moment: every tile of it asked for three times at once.
    shared = tuple(
        target
        for tile in viewport_tiles(data, plan.shared_view_zoom)
        for target in [_tile_target(data, item, "TRUE_COLOR", tile)] * 3
    )
    cases.append(Case("shared-view", "TRUE_COLOR", fmt, plan.shared_view_zoom, shared, concurrency=6))
    cases.append(
        Case("previews", "TRUE_COLOR", fmt, None, _thumbnails(data, item, plan.thumbnails), concurrency=plan.thumbnails)
    )
    cases.append(Case("getmap", "TRUE_COLOR", fmt, None, _getmaps(data, item, plan.getmaps, rng), concurrency=2))
    return cases


def mosaic_tiles(mosaic: MosaicData, zoom: int) -> list[morecantile.Tile]:
    """Tiles that meet two products or more (by their lon/lat bounds): where a mosaic reads several."""
    west = min(f[0] for f in mosaic.footprints)
    south = min(f[1] for f in mosaic.footprints)
    east = max(f[2] for f in mosaic.footprints)
    north = max(f[3] for f in mosaic.footprints)

    def meets(b, f) -> bool:
        return b.left < f[2] and f[0] < b.right and b.bottom < f[3] and f[1] < b.top

    return [
        t
        for t in TMS.tiles(west, south, east, north, zooms=[zoom])
        if sum(meets(TMS.bounds(t), f) for f in mosaic.footprints) >= 2
    ]


def build_mosaic_cases(mosaic: MosaicData, cold_counts: dict[int, int], seed: int = 5) -> list[Case]:
    rng = random.Random(seed)
    cases = []
    for zoom, count in cold_counts.items():
        tiles = mosaic_tiles(mosaic, zoom)
        rng.shuffle(tiles)
        targets = []
        for tile in [tiles[i % len(tiles)] for i in range(count)]:
            eo = f"/tiles/{tile.z}/{tile.x}/{tile.y}.png?" + urlencode({"layer": "TRUE_COLOR", "time": mosaic.time})
            tt = f"/mosaicjson/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.png?" + urlencode(
                [("url", str(mosaic.mosaicjson)), ("rescale", "1000,5000"), ("nodata", "0")], quote_via=quote
            )
            targets.append(
                Target(
                    eo,
                    tt,
                    "TRUE_COLOR",
                    _xy_bounds(tile),
                    "EPSG:3857",
                    TILE_PX,
                    TILE_PX,
                    mosaic_time=mosaic.time,
                )
            )
        cases.append(Case("cold", "TRUE_COLOR", "cog", zoom, tuple(targets), concurrency=6, mosaic=True))
    return cases


def _thumbnails(data: BenchData, item: str, count: int) -> tuple[Target, ...]:
    """`count` different thumbnails (a results page shows different products: none may come from a cache)."""
    targets = []
    for i in range(count):
        width = 192 + 8 * i
        eo = "/preview.png?" + urlencode({"product": data.product_id, "layer": "TRUE_COLOR", "width": width})
        tt = "/stac/preview.png?" + urlencode(
            [("url", item), *TITILER_STYLE["TRUE_COLOR"], ("nodata", "0"), ("max_size", width)], quote_via=quote
        )
        targets.append(Target(eo, tt, "TRUE_COLOR", data.bounds, f"EPSG:{data.epsg}", width, width))
    return tuple(targets)


def _getmaps(data: BenchData, item: str, count: int, rng: random.Random) -> tuple[Target, ...]:
    """`count` different 1024 x 1024 WMS GetMaps in Web Mercator, a quarter of the product wide, inside it.
    TiTiler has no WMS in its application: its equivalent is a bbox image of the same size and CRS."""
    size = 1024
    west, south, east, north = transform_bounds(f"EPSG:{data.epsg}", "EPSG:3857", *data.bounds)
    side = (east - west) / 4
    targets = []
    for _ in range(count):
        left = west + rng.random() * (east - west - side) * 0.8 + 0.1 * (east - west - side)
        bottom = south + rng.random() * (north - south - side) * 0.8 + 0.1 * (north - south - side)
        bbox = (left, bottom, left + side, bottom + side)
        eo = "/wms?" + urlencode(
            {
                "SERVICE": "WMS",
                "VERSION": "1.3.0",
                "REQUEST": "GetMap",
                "LAYERS": "TRUE_COLOR",
                "STYLES": "",
                "CRS": "EPSG:3857",
                "BBOX": ",".join(f"{v:.2f}" for v in bbox),
                "WIDTH": size,
                "HEIGHT": size,
                "FORMAT": "image/png",
                "TRANSPARENT": "TRUE",
                "PRODUCT": data.product_id,
            }
        )
        tt = f"/stac/bbox/{','.join(f'{v:.2f}' for v in bbox)}/{size}x{size}.png?" + urlencode(
            [
                ("url", item),
                *TITILER_STYLE["TRUE_COLOR"],
                ("nodata", "0"),
                ("coord_crs", "EPSG:3857"),
                ("dst_crs", "EPSG:3857"),
            ],
            quote_via=quote,
        )
        targets.append(Target(eo, tt, "TRUE_COLOR", bbox, "EPSG:3857", size, size))
    return tuple(targets)
