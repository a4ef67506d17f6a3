"""Analysis routes: `/statistics` (a time series of statistics over a point or a geometry, JSON or
CSV), `/crop.tif` (a cloud-optimised GeoTIFF of a layer's values, or of its picture, over a box or
a geometry) and `/timelapse.{webp,gif,mp4}` (one dated frame per acquisition or interval).

POST bodies are JSON objects with the same names as the query parameters, plus `geometry` (a GeoJSON
geometry or Feature); lists may be JSON arrays.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pyproj.aoi import AreaOfInterest
from pyproj.database import query_utm_crs_info
from rasterio.errors import CRSError
from rasterio.warp import transform_bounds
from shapely.geometry.base import BaseGeometry
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tiler import params
from tiler.analysis.area import WGS84, make_area, parse_geometry
from tiler.analysis.measure import measure_for
from tiler.analysis.statistics import StatisticsRequest, compute_statistics, to_csv, to_json
from tiler.analysis.timelapse import TIMELAPSE_FORMATS, render_timelapse, timelapse_request
from tiler.api.tiles import source_and_styling
from tiler.crs import crs_from_code
from tiler.errors import InvalidCRS, InvalidParameter, MissingParameter, TooLarge
from tiler.http.bodies import json_object, json_value, read_body
from tiler.http.responses import image_response
from tiler.pipeline import Encoding, Grid, LayerJob, ProductSource, RenderJob, Source, Styling, render_image
from tiler.pipeline.geotiff import MEDIA_TYPE as TIFF
from tiler.pipeline.geotiff import clip
from tiler.services import Services, services

MAX_BODY_BYTES = 1_000_000  # a GeoJSON body: a field's outline has thousands of vertices, not millions


# ---------------------------------------------------------------------------------------------
# Requests: a query string, or a JSON body with the same names


def _text(value: Any, name: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, int | float | str) and not isinstance(v, bool) for v in value):
        return ",".join(str(v) for v in value)
    raise InvalidParameter(f"{name} must be a string, a number, a boolean or a list of numbers", name)


async def request_values(request: Request) -> tuple[dict[str, str], Any]:
    """The parameters as text, and the geometry as given (None when there is none)."""
    if request.method != "POST":
        query = dict(request.query_params)
        raw = query.pop("geometry", None)
        return query, json_value(raw, "geometry", "geometry") if raw else None
    data = json_object(await read_body(request, MAX_BODY_BYTES), "the request body")
    geometry = data.pop("geometry", None)
    return {str(k): _text(v, str(k)) for k, v in data.items() if v is not None}, geometry


def analysis_source(svc: Services, query: Mapping[str, str]) -> tuple[Source, Styling, str | None]:
    """A product (`product=`) or a collection's products (the default collection's when none is
    named), what is measured of them, and the layer's name (None for band math)."""
    if query.get("product"):
        if params.boolean(query, "cloudmask"):
            raise InvalidParameter("cloudmask applies to a collection's products; drop product= for a time series")
        source, styling = source_and_styling(svc, query)
    else:
        collection = query.get("collection") or svc.collections.default.id
        source, styling = source_and_styling(svc, {**query, "collection": collection})
    layer = None if query.get("expression") else query.get("layer") or svc.collection(source.collection).default_layer
    return source, styling, layer


def finest_resolution(svc: Services, source: Source, styling: Styling) -> float:
    """The native resolution of the finest band the styling reads (metres)."""
    if isinstance(source, ProductSource):
        bands = {n: b.resolution for n, b in source.product.bands.items()}
    else:
        bands = {n: b.resolution for n, b in svc.collection(source.collection).bands.items()}
    used = [bands[name] for name in styling.bands if name in bands]
    return min(used) if used else min(bands.values())


def _output_format(query: Mapping[str, str], request: Request) -> str:
    fmt = query.get("format") or ("csv" if "text/csv" in request.headers.get("accept", "") else "json")
    if fmt not in ("json", "csv"):
        raise InvalidParameter(f"format must be json or csv, not '{fmt[:20]}'", "format")
    return fmt


# ---------------------------------------------------------------------------------------------
# Statistics


def statistics_request(svc: Services, query: Mapping[str, str], geometry: Any) -> StatisticsRequest:
    source, styling, layer = analysis_source(svc, query)
    if geometry is None:
        if not (query.get("lon") and query.get("lat")):
            raise MissingParameter("give a geometry (POST a GeoJSON body), or lon and lat for a point", "geometry")
        lon, lat = params.number(query, "lon", 0.0), params.number(query, "lat", 0.0)
        geometry = {"type": "Point", "coordinates": [lon, lat]}
    shape, crs = parse_geometry(geometry, query.get("crs"))
    resolution = params.resolution(query.get("resolution"), finest_resolution(svc, source, styling))
    return StatisticsRequest(
        area=make_area(shape, crs, resolution),
        source=source,
        styling=styling,
        measure=measure_for(styling, layer, svc.collection(source.collection), svc.settings.analysis_timeout),
        aggregation=params.aggregation(query.get("interval")),
        percentiles=params.percentiles(query.get("percentiles")),
        bins=params.bins(query.get("bins"), query.get("binrange")),
    )


def _statistics(request: Request, query: dict[str, str], geometry: Any) -> Response:
    svc = services(request)
    stages = request.state.stages
    with stages.stage("resolve"):
        fmt = _output_format(query, request)
        stats = statistics_request(svc, query, geometry)
    results = compute_statistics(svc, stats, stages)
    if fmt == "csv":
        disposition = {"Content-Disposition": 'attachment; filename="statistics.csv"'}
        return Response(to_csv(stats, results), media_type="text/csv", headers=disposition)
    return JSONResponse(to_json(stats, results))


async def statistics(request: Request) -> Response:
    query, geometry = await request_values(request)
    return await run_in_threadpool(_statistics, request, query, geometry)


# ---------------------------------------------------------------------------------------------
# GeoTIFF crops


def _utm(west: float, south: float, east: float, north: float) -> str:
    """The WGS84 UTM zone of a box's centre; beyond the UTM zones (84 N, 80 S), the polar
    stereographic UPS north or south."""
    lon, lat = (west + east) / 2, (south + north) / 2
    zones = query_utm_crs_info(datum_name="WGS 84", area_of_interest=AreaOfInterest(lon, lat, lon, lat))
    if not zones:
        return "EPSG:32661" if lat > 0 else "EPSG:32761"
    return f"EPSG:{zones[0].code}"


def crop_grid(
    svc: Services, query: Mapping[str, str], geometry: Any, source: Source, styling: Styling
) -> tuple[Grid, tuple[BaseGeometry, str] | None]:
    """The output grid of a crop, and the geometry to clip to (None for a box), in the output CRS."""
    crs_code = query.get("crs") or WGS84
    if geometry is not None:
        shape, crs_code = parse_geometry(geometry, crs_code)
        bounds = shape.bounds
    else:
        raw = query.get("bbox")
        if not raw:
            raise MissingParameter("give bbox=minx,miny,maxx,maxy (in crs, lon/lat by default) or a geometry", "bbox")
        bounds = params.numbers(raw, "bbox", 4)
        if bounds[0] >= bounds[2] or bounds[1] >= bounds[3]:
            raise InvalidParameter("bbox needs minx < maxx and miny < maxy", "bbox")
        shape, crs_code = parse_geometry(
            {
                "type": "Polygon",
                "coordinates": [
                    [
                        [bounds[0], bounds[1]],
                        [bounds[2], bounds[1]],
                        [bounds[2], bounds[3]],
                        [bounds[0], bounds[3]],
                        [bounds[0], bounds[1]],
                    ]
                ],
            },
            crs_code,
        )
    in_crs = crs_from_code(crs_code)
    out_code = query.get("out_crs")
    if not out_code:
        if not in_crs.is_geographic:
            out_code = crs_code
        elif isinstance(source, ProductSource):
            out_code = source.product.crs.to_string()
        else:
            out_code = _utm(*transform_bounds(in_crs, WGS84, *bounds))
    try:
        out_crs = crs_from_code(out_code)
    except CRSError:
        raise InvalidCRS(f"out_crs '{out_code[:40]}' is not a coordinate reference system", "out_crs") from None
    left, bottom, right, top = transform_bounds(in_crs, out_crs, *bounds, densify_pts=21)
    if not all(map(math.isfinite, (left, bottom, right, top))) or left >= right or bottom >= top:
        raise InvalidParameter(f"the box has no extent in {out_code[:40]}", "bbox")
    size = params.analysis_size(query, (left, bottom, right, top), 1 << 30)
    if size is None:
        if out_crs.is_geographic and not query.get("resolution"):
            raise MissingParameter("a crop in degrees needs resolution (degrees) or width/height", "resolution")
        res = params.resolution(query.get("resolution"), finest_resolution(svc, source, styling))
        # From the box's upper-left corner, whole pixels of exactly `res`: the last ones may reach past it.
        columns, rows = (right - left) / res, (top - bottom) / res
        if not math.isfinite(columns * rows) or columns * rows > 4 * svc.settings.max_crop_pixels:
            columns, rows = min(columns, 1e12), min(rows, 1e12)  # to say by how much, in numbers that print
        size = (max(1, math.ceil(columns - 1e-9)), max(1, math.ceil(rows - 1e-9)))
        right, bottom = left + size[0] * res, top - size[1] * res
    width, height = size
    limit = svc.settings.max_crop_pixels
    if width * height > limit:
        over = width * height / limit
        raise TooLarge(
            f"the crop would be {width} x {height} px ({width * height:,}), {over:.1f} times the limit of {limit:,} "
            f"pixels; use a resolution {math.sqrt(over):.2f} times coarser or a smaller area",
            "resolution",
        )
    clip_to = None if geometry is None else (shape, crs_code)
    return Grid((left, bottom, right, top), out_code, width, height), clip_to


def _crop(request: Request, query: dict[str, str], geometry: Any) -> Response:
    svc = services(request)
    stages = request.state.stages
    with stages.stage("resolve"):
        source, styling, _ = analysis_source(svc, query)
        grid, clip_to = crop_grid(svc, query, geometry, source, styling)
        visual = params.boolean(query, "visual")
        job = RenderJob((LayerJob(source, styling),), grid, Encoding("tiff", TIFF, values=not visual))
    image, hit = render_image(svc, job, stages)
    headers = {"Content-Disposition": 'attachment; filename="crop.tif"'}
    if clip_to is None:
        response = image_response(request, image, hit, svc.settings.cache_max_age)
        response.headers.update(headers)
        return response
    with stages.stage("encode"):
        content = clip(image.content, *clip_to)
    return Response(content, media_type=TIFF, headers=headers)


async def crop(request: Request) -> Response:
    if request.path_params["ext"].lower() not in params.TIFF_EXTENSIONS:
        raise InvalidParameter("a crop is a GeoTIFF: ask for /crop.tif", "format")
    query, geometry = await request_values(request)
    return await run_in_threadpool(_crop, request, query, geometry)


# ---------------------------------------------------------------------------------------------
# Time-lapses


def timelapse(request: Request) -> Response:
    svc = services(request)
    ext = request.path_params["ext"].lower()
    if ext not in TIMELAPSE_FORMATS:
        raise InvalidParameter(f"a time-lapse is one of {', '.join(TIMELAPSE_FORMATS)}, not '{ext[:10]}'", "format")
    stages = request.state.stages
    with stages.stage("resolve"):
        query = request.query_params
        source, styling, _ = analysis_source(svc, query)
        lapse = timelapse_request(svc, query, source, styling, ext)
    content, labels = render_timelapse(svc, lapse, stages)
    headers = {"Content-Disposition": f'inline; filename="timelapse.{ext}"', "X-Frames": ",".join(labels)}
    return Response(content, media_type=TIMELAPSE_FORMATS[ext], headers=headers)


routes = [
    Route("/statistics", statistics, methods=["GET", "POST"]),
    Route("/crop.{ext}", crop, methods=["GET", "POST"]),
    Route("/timelapse.{ext}", timelapse),
]
