"""Time-lapses: one frame per acquisition (or day, week, month) over a box, each drawn by the render
pipeline (so frames are cached like any map), dated, and encoded as animated WebP or GIF (Pillow) or
as H.264 MP4 (PyAV, FFmpeg's libraries in its wheels).

A frame whose share of pixels with data (after the cloud mask, with cloudmask=true) is below
`minvalid` percent is left out. The number of frames before that, the frame size and the products
read are bounded by the settings; the whole time-lapse runs under `analysis_timeout`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from renderers import MEDIA_TYPES
from tiler import params
from tiler.analysis.statistics import Interval, interval_source, intervals_for
from tiler.errors import InvalidParameter, MissingParameter, NotFound, TooLarge
from tiler.http.observability import StageTimer
from tiler.limits import Deadline
from tiler.pipeline import Encoding, Grid, LayerJob, MosaicSource, RenderJob, Source, Styling, render_image
from tiler.services import Services

TIMELAPSE_FORMATS = {"webp": "image/webp", "gif": "image/gif", "mp4": "video/mp4"}
BACKGROUND = (24, 26, 30)  # behind transparent pixels: GIF and MP4 frames are opaque


@dataclass(frozen=True)
class TimelapseRequest:
    source: MosaicSource
    styling: Styling
    grid: Grid
    aggregation: str
    fmt: str  # a key of TIMELAPSE_FORMATS
    fps: float
    min_valid: float  # share of the frame, 0..1


def timelapse_request(
    services: Services, query: params.Query, source: Source, styling: Styling, fmt: str
) -> TimelapseRequest:
    if not isinstance(source, MosaicSource):
        raise InvalidParameter("a time-lapse shows a collection over time; drop product=", "product")
    box = params.bbox(query.get("bbox"))
    if box is None:
        raise MissingParameter("bbox is required: 'west,south,east,north' in degrees", "bbox")
    bounds = params.mercator_area(box)
    limit = services.settings.max_timelapse_size
    width = params.integer(query, "width", min(512, limit), minimum=1)
    width, height = params.sized(bounds, width, None)
    if width > limit or height > limit:
        raise TooLarge(f"frames would be {width} x {height} px, over the limit of {limit} px a side", "width")
    fps = params.number(query, "fps", 2.0)
    if not 0.1 <= fps <= 30:
        raise InvalidParameter("fps must be from 0.1 to 30", "fps")
    min_valid = params.number(query, "minvalid", 50.0)
    if not 0 <= min_valid <= 100:
        raise InvalidParameter("minvalid must be a percentage from 0 to 100", "minvalid")
    grid = Grid(bounds, params.WEB_MERCATOR, width, height, geographic=lambda: box)
    return TimelapseRequest(source, styling, grid, params.aggregation(query.get("interval")), fmt, fps, min_valid / 100)


def label(interval: Interval, aggregation: str) -> str:
    start = interval.start
    if aggregation == "month":
        return f"{start:%Y-%m}"
    if aggregation == "week":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{start:%Y-%m-%d}"


def _frame(rgba: np.ndarray, text: str) -> Image.Image:
    """The picture over the background, its date in the upper-left corner."""
    picture = Image.new("RGB", (rgba.shape[1], rgba.shape[0]), BACKGROUND)
    picture.paste(Image.fromarray(rgba, "RGBA"), mask=Image.fromarray(rgba[..., 3]))
    draw = ImageDraw.Draw(picture)
    font = ImageFont.load_default(size=max(10, rgba.shape[0] // 18))
    box = draw.textbbox((6, 4), text, font=font)
    draw.rectangle((box[0] - 4, box[1] - 3, box[2] + 4, box[3] + 3), fill=(0, 0, 0))
    draw.text((6, 4), text, fill=(255, 255, 255), font=font)
    return picture


def frames(services: Services, lapse: TimelapseRequest, stages: StageTimer) -> list[tuple[str, Image.Image]]:
    """The frames with enough data, dated, in time order."""
    with stages.stage("select"):
        intervals = intervals_for(services, lapse.source, lapse.grid.area, lapse.aggregation)
    limit = services.settings.max_timelapse_frames
    if len(intervals) > limit:
        raise TooLarge(
            f"the time-lapse would have {len(intervals)} frames, {len(intervals) - limit} over the limit of {limit}; "
            "shorten the time range, lower maxcc or use interval=week or month"
        )
    deadline = Deadline(services.settings.analysis_timeout)
    shown = []
    for interval in intervals:
        deadline.check()
        layer = LayerJob(interval_source(lapse.source, interval), lapse.styling)
        job = RenderJob((layer,), lapse.grid, Encoding("png", MEDIA_TYPES["png"]))
        image, _ = render_image(services, job, stages)
        rgba = np.asarray(Image.open(io.BytesIO(image.content)).convert("RGBA"))
        if (rgba[..., 3] > 0).mean() >= lapse.min_valid and rgba[..., 3].any():
            text = label(interval, lapse.aggregation)
            shown.append((text, _frame(rgba, text)))
    return shown


def encode_animation(pictures: list[Image.Image], fmt: str, fps: float) -> bytes:
    buffer = io.BytesIO()
    duration = round(1000 / fps)
    first, rest = pictures[0], pictures[1:]
    if fmt == "webp":
        first.save(buffer, format="WEBP", save_all=True, append_images=rest, duration=duration, loop=0, quality=85)
    elif fmt == "gif":
        first.save(buffer, format="GIF", save_all=True, append_images=rest, duration=duration, loop=0)
    else:
        _encode_mp4(buffer, pictures, fps)
    return buffer.getvalue()


def _encode_mp4(buffer: io.BytesIO, pictures: list[Image.Image], fps: float) -> None:
    """H.264 in yuv420p (what every player takes), whose sides must be even: frames are padded."""
    width, height = pictures[0].size
    even = (width + width % 2, height + height % 2)
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(100))
        stream.width, stream.height = even
        stream.pix_fmt = "yuv420p"
        for picture in pictures:
            padded = Image.new("RGB", even, BACKGROUND)
            padded.paste(picture)
            for packet in stream.encode(av.VideoFrame.from_image(padded)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def render_timelapse(services: Services, lapse: TimelapseRequest, stages: StageTimer) -> tuple[bytes, list[str]]:
    """The encoded time-lapse and the labels of its frames."""
    shown = frames(services, lapse, stages)
    if not shown:
        raise NotFound("no date has enough valid data here for a frame; lower minvalid or widen the time range")
    with stages.stage("encode"):
        return encode_animation([picture for _, picture in shown], lapse.fmt, lapse.fps), [t for t, _ in shown]
