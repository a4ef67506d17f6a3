"""Statistics of a measure over an area, per interval of time.

    products (catalog, time range, maxcc)  ->  intervals (acquisition, day, week, month)
      -> per interval: the products mosaicked on the area's grid (`tiler.pipeline.read_layer`, the
         collection's cloud mask with cloudmask=true) -> the measure -> counts and statistics

Pixels are those whose centres fall inside the geometry (`tiler.analysis.area`). Per output:
`valid` pixels have a finite value; `cloud` pixels had data, all of it masked as cloud; `nodata`
pixels are the rest (outside every product, or no number, as 0/0). Statistics are over the valid
pixels: mean, min, max, the population standard deviation, percentiles (linear interpolation, as
numpy's default) and an optional histogram (values outside its bins are not counted).

The request's size (pixels of the grid x intervals) and the products it reads are bounded by the
settings before anything is read; the whole request runs in the render pool under
`analysis_timeout`.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import numpy as np

from tiler.analysis.area import Area, make_area
from tiler.analysis.measure import Measure
from tiler.errors import TooLarge
from tiler.http.observability import StageTimer
from tiler.limits import Deadline
from tiler.params import Bins
from tiler.pipeline import LayerJob, MosaicSource, ProductSource, Source, Styling, read_layer
from tiler.pipeline.job import BBox
from tiler.pipeline.run import mosaic_products
from tiler.products import Product
from tiler.services import Services


@dataclass(frozen=True)
class Interval:
    start: datetime
    end: datetime
    products: tuple[Product, ...]  # in the order they are mosaicked


@dataclass(frozen=True)
class Histogram:
    edges: tuple[float, ...]
    counts: tuple[int, ...]


@dataclass(frozen=True)
class OutputStatistics:
    name: str
    valid: int
    nodata: int
    cloud: int
    mean: float | None = None
    min: float | None = None
    max: float | None = None
    stdev: float | None = None
    percentiles: tuple[tuple[float, float], ...] = ()
    histogram: Histogram | None = None

    def to_json(self) -> dict:
        answer: dict = {"valid": self.valid, "nodata": self.nodata, "cloud": self.cloud}
        answer |= {"mean": self.mean, "min": self.min, "max": self.max, "stdev": self.stdev}
        if self.percentiles:
            answer["percentiles"] = {f"{p:g}": v for p, v in self.percentiles}
        if self.histogram is not None:
            answer["histogram"] = {"edges": list(self.histogram.edges), "counts": list(self.histogram.counts)}
        return answer


@dataclass(frozen=True)
class IntervalStatistics:
    interval: Interval
    outputs: tuple[OutputStatistics, ...]

    def to_json(self) -> dict:
        return {
            "from": _iso(self.interval.start),
            "to": _iso(self.interval.end),
            "products": [p.id for p in self.interval.products],
            "outputs": {o.name: o.to_json() for o in self.outputs},
        }


@dataclass(frozen=True)
class StatisticsRequest:
    area: Area
    source: Source
    styling: Styling
    measure: Measure
    aggregation: str  # tiler.params.AGGREGATIONS
    percentiles: tuple[float, ...] = ()
    bins: Bins | None = None


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


# ---------------------------------------------------------------------------------------------
# Intervals


def period(moment: datetime, aggregation: str) -> tuple[datetime, datetime]:
    """The first and last instant of the day, ISO week (from Monday) or month `moment` lies in."""
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if aggregation == "day":
        start, after = day, day + timedelta(days=1)
    elif aggregation == "week":
        start = day - timedelta(days=day.weekday())
        after = start + timedelta(days=7)
    elif aggregation == "month":
        start = day.replace(day=1)
        after = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    else:
        raise ValueError(f"not a calendar interval: {aggregation}")
    return start, after - timedelta(microseconds=1)


def group_intervals(
    products: Iterable[Product], aggregation: str, start: datetime | None, end: datetime | None
) -> list[Interval]:
    """Products by interval, in time order; an acquisition is one platform's products of one sensing
    time (the tiles of one datatake). Calendar intervals are clipped to [start, end]."""
    groups: dict[tuple, list[Product]] = {}
    for product in products:
        if aggregation == "acquisition":
            key: tuple = (product.datetime, product.datetime, product.platform)
        else:
            first, last = period(product.datetime, aggregation)
            key = (max(first, start) if start else first, min(last, end) if end else last)
        groups.setdefault(key, []).append(product)
    return [Interval(key[0], key[1], tuple(group)) for key, group in sorted(groups.items(), key=lambda kv: kv[0])]


def _order(products: Sequence[Product], priority: str) -> tuple[Product, ...]:
    """Within an interval, the mosaic's order (Sentinel Hub's priorities)."""
    if priority == "leastCC":
        return tuple(sorted(products, key=lambda p: (p.cloud_cover is None, p.cloud_cover or 0.0)))
    return tuple(sorted(products, key=lambda p: p.datetime, reverse=priority != "leastRecent"))


def intervals_for(services: Services, source: Source, area: BBox, aggregation: str) -> list[Interval]:
    """The intervals a source's products over `area` (WGS84) fall in, after checking how many
    products that reads against the limit."""
    if isinstance(source, ProductSource):
        product = source.product
        if aggregation == "acquisition":
            return [Interval(product.datetime, product.datetime, (product,))]
        return [Interval(*period(product.datetime, aggregation), (product,))]
    query = source.query
    limit = services.settings.max_analysis_products
    # The mosaic's own selection (its properties too: orbit=), in time order for the intervals.
    products = mosaic_products(services.catalog, replace(query, priority="leastRecent"), area, limit + 1)
    if len(products) > limit:
        raise TooLarge(
            f"the request would read more than {limit} products (the limit); shorten the time range or lower maxcc"
        )
    intervals = group_intervals(products, aggregation, query.start, query.end)
    return [replace(i, products=_order(i.products, query.priority)) for i in intervals]


def check_size(area: Area, intervals: int, limit: int) -> None:
    """Pixels read (the grid's, per interval) against the limit, with a resolution that fits."""
    total = area.grid.pixels * max(1, intervals)
    if total <= limit:
        return
    over = total / limit
    coarser = math.ceil(area.resolution * math.sqrt(over) * 10) / 10
    # Edges snap outwards to the coarser lattice: step up until the grid really fits.
    while make_area(area.geometry, area.grid.crs, coarser).grid.pixels * max(1, intervals) > limit:
        coarser = math.ceil(coarser * 11) / 10
    grid = area.grid
    raise TooLarge(
        f"the request reads {grid.width} x {grid.height} px at {area.resolution:g} over {intervals} interval(s): "
        f"{total:,} pixels, {over:.1f} times the limit of {limit:,}; use a resolution of at least "
        f"{coarser:g}, a smaller geometry or fewer intervals"
    )


# ---------------------------------------------------------------------------------------------
# Measuring


def describe(
    name: str, values: np.ndarray, nodata: int, cloud: int, percentiles: Sequence[float], bins: Bins | None
) -> OutputStatistics:
    """Statistics of the valid values (1-D, finite)."""
    if values.size == 0:
        return OutputStatistics(name, 0, nodata, cloud)
    values = values.astype(np.float64)
    histogram = None
    if bins is not None:
        if bins.edges is not None:
            counts, edges = np.histogram(values, bins=np.asarray(bins.edges))
        else:
            span = bins.span or (float(values.min()), float(values.max()))
            counts, edges = np.histogram(values, bins=bins.count or 1, range=span)
        histogram = Histogram(tuple(float(e) for e in edges), tuple(int(c) for c in counts))
    return OutputStatistics(
        name,
        valid=int(values.size),
        nodata=nodata,
        cloud=cloud,
        mean=float(values.mean()),
        min=float(values.min()),
        max=float(values.max()),
        stdev=float(values.std()),
        percentiles=tuple((p, float(v)) for p, v in zip(percentiles, np.percentile(values, percentiles))),
        histogram=histogram,
    )


def interval_source(source: Source, interval: Interval) -> Source:
    """The interval's products alone: the request's query narrowed to the interval."""
    if isinstance(source, ProductSource):
        return source
    query = replace(source.query, start=interval.start, end=interval.end)
    return MosaicSource(query, len(interval.products))


def measure_interval(
    services: Services, request: StatisticsRequest, interval: Interval, stages: StageTimer, deadline: Deadline
) -> IntervalStatistics:
    area = request.area
    inside = area.inside
    layer = LayerJob(interval_source(request.source, interval), request.styling)
    stack = read_layer(services, layer, area.grid, stages, deadline)
    deadline.check()
    outputs = []
    with stages.stage("evaluate"):
        total = int(inside.sum())
        if stack is None:
            empty = np.zeros(0, dtype=np.float32)
            return IntervalStatistics(
                interval,
                tuple(describe(n, empty, total, 0, request.percentiles, request.bins) for n in request.measure.names),
            )
        measured = request.measure.measure(stack.arrays, stack.valid)
        cloudy = inside & stack.cloudy if stack.cloudy is not None else np.zeros_like(inside)
        cloud = int(cloudy.sum())
        for name, values in zip(request.measure.names, measured.values):
            valid = inside & measured.valid & np.isfinite(values)
            count = int(valid.sum())
            outputs.append(
                describe(name, values[valid], total - count - cloud, cloud, request.percentiles, request.bins)
            )
    return IntervalStatistics(interval, tuple(outputs))


def compute_statistics(services: Services, request: StatisticsRequest, stages: StageTimer) -> list[IntervalStatistics]:
    """Every interval's statistics, in time order, under the analysis deadline."""
    with stages.stage("select"):
        intervals = intervals_for(services, request.source, request.area.geographic, request.aggregation)
    check_size(request.area, len(intervals), services.settings.max_statistics_pixels)
    if not intervals:
        return []

    def run(deadline: Deadline) -> list[IntervalStatistics]:
        answers = []
        for interval in intervals:
            deadline.check()
            answers.append(measure_interval(services, request, interval, stages, deadline))
        return answers

    return services.renders.run(run, request.area.grid.pixels, timeout=services.settings.analysis_timeout)


# ---------------------------------------------------------------------------------------------
# Answers


def to_json(request: StatisticsRequest, results: Sequence[IntervalStatistics]) -> dict:
    grid = request.area.grid
    return {
        "aggregation": request.aggregation,
        "resolution": request.area.resolution,
        "crs": grid.crs,
        "bounds": list(grid.bounds),
        "width": grid.width,
        "height": grid.height,
        "pixels": request.area.pixel_count,
        "outputs": list(request.measure.names),
        "intervals": [r.to_json() for r in results],
    }


def to_csv(request: StatisticsRequest, results: Sequence[IntervalStatistics]) -> str:
    """One row per interval and output; histograms are in the JSON answer only."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    names = [f"p{p:g}" for p in request.percentiles]
    writer.writerow(
        ["from", "to", "output", "valid", "nodata", "cloud", "mean", "min", "max", "stdev", *names, "products"]
    )
    for result in results:
        for out in result.outputs:
            computed = dict(out.percentiles)
            writer.writerow(
                [
                    _iso(result.interval.start),
                    _iso(result.interval.end),
                    out.name,
                    out.valid,
                    out.nodata,
                    out.cloud,
                    *("" if v is None else repr(v) for v in (out.mean, out.min, out.max, out.stdev)),
                    *(repr(computed[p]) if p in computed else "" for p in request.percentiles),
                    " ".join(p.id for p in result.interval.products),
                ]
            )
    return buffer.getvalue()
