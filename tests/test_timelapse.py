"""/timelapse.{webp,gif,mp4} on the demo time series: one frame per date with enough valid data
(worked out here from the SCL files), decoded again with Pillow and PyAV; the date label; limits."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest
from PIL import Image
from rasterio.warp import transform_bounds

from tests.helpers import SCL_CLOUDS, demo_series, demo_variant, pixel_centres, sample
from tiler.analysis.statistics import Interval
from tiler.analysis.timelapse import BACKGROUND, _frame, label

MIN_VALID = 40  # percent


@pytest.fixture(scope="module")
def series(demo_archive):
    return demo_series(demo_archive[1])


@pytest.fixture(scope="module")
def bbox(demo_app, series) -> tuple[float, float, float, float]:
    """Well inside the series' tile, so every frame pixel lies over its products."""
    client_products = demo_app.state.services.catalog
    west, south, east, north = client_products.resolve(series[0].id).bounds_wgs84
    return west + 0.003, south + 0.003, east - 0.003, north - 0.003


def _clear_share(product, bbox, width: int) -> float:
    """Share of the frame's pixels whose SCL (sampled at their centres) has data and no cloud."""
    bounds = transform_bounds("EPSG:4326", "EPSG:3857", *bbox)
    height = round(width * (bounds[3] - bounds[1]) / (bounds[2] - bounds[0]))
    xs, ys = pixel_centres(bounds, width, height)
    scl, _ = sample(product.path / "SCL.tif", xs, ys, "EPSG:3857")
    return float(((scl != 0) & ~np.isin(scl, SCL_CLOUDS)).mean())


def _query(bbox, **extra) -> dict:
    return {"bbox": ",".join(map(str, bbox)), "time": "2023", "layer": "TRUE_COLOR", "cloudmask": "true",
            "width": 200, "minvalid": MIN_VALID, **extra}  # fmt: skip


def test_one_frame_per_date_with_enough_clear_pixels(demo_client, series, bbox):
    shares = {p.datetime[:10]: _clear_share(p, bbox, 200) for p in series}
    assert all(abs(share * 100 - MIN_VALID) > 3 for share in shares.values()), shares  # no borderline date
    expected = [date for date, share in shares.items() if share * 100 >= MIN_VALID]
    assert 2 <= len(expected) < len(series)  # a cloudy date is left out
    response = demo_client.get("/timelapse.webp", params=_query(bbox))
    assert response.status_code == 200 and response.headers["content-type"] == "image/webp"
    assert response.headers["x-frames"].split(",") == expected
    webp = Image.open(io.BytesIO(response.content))
    assert webp.n_frames == len(expected) and webp.size[0] == 200 and webp.info["loop"] == 0

    gif = demo_client.get("/timelapse.gif", params=_query(bbox, fps=4))
    assert gif.headers["content-type"] == "image/gif"
    picture = Image.open(io.BytesIO(gif.content))
    assert picture.n_frames == len(expected) and picture.size == webp.size and picture.info["duration"] == 250

    mp4 = demo_client.get("/timelapse.mp4", params=_query(bbox))
    assert mp4.headers["content-type"] == "video/mp4"
    with av.open(io.BytesIO(mp4.content)) as container:
        stream = container.streams.video[0]
        decoded = list(container.decode(stream))
        assert stream.codec_context.name == "h264"
    assert len(decoded) == len(expected)
    assert decoded[0].width == 200 and decoded[0].height == webp.size[1] + webp.size[1] % 2


def test_without_the_cloud_mask_every_date_is_a_frame_and_weeks_label_them(demo_client, series, bbox):
    response = demo_client.get("/timelapse.webp", params=_query(bbox, cloudmask="false", interval="week"))
    weeks = [
        f"{p.datetime[:4]}-W{int(np.datetime64(p.datetime[:10]).astype(object).isocalendar()[1]):02d}" for p in series
    ]
    assert response.headers["x-frames"].split(",") == weeks


def test_the_date_is_drawn_in_the_corner():
    transparent = np.zeros((120, 200, 4), dtype=np.uint8)
    frame = np.asarray(_frame(transparent, "2023-07-02"))
    corner, rest = frame[:20, :100], frame[40:, :]
    assert (corner >= 200).all(axis=-1).sum() > 20 and (corner == 0).all(axis=-1).sum() > 100  # white on black
    assert (rest == BACKGROUND).all()
    from datetime import UTC, datetime

    moment = datetime(2023, 7, 2, 10, 39, tzinfo=UTC)
    interval = Interval(moment, moment, ())
    assert [label(interval, a) for a in ("acquisition", "day", "week", "month")] == [
        "2023-07-02", "2023-07-02", "2023-W26", "2023-07",
    ]  # fmt: skip


def test_limits_and_bad_requests(demo_app, demo_archive, demo_client, series, bbox):
    few = demo_variant(demo_app, demo_archive, max_timelapse_frames=2)
    over = few.get("/timelapse.gif", params=_query(bbox))
    assert over.status_code == 413 and "6 frames, 4 over the limit of 2" in over.json()["detail"]
    big = demo_client.get("/timelapse.gif", params=_query(bbox, width=5000))
    assert big.status_code == 413 and "over the limit of 1024" in big.json()["detail"]
    cases = [
        ("/timelapse.avi", _query(bbox), 400),
        ("/timelapse.gif", {**_query(bbox), "bbox": ""}, 400),
        ("/timelapse.gif", _query(bbox, product=series[0].id, cloudmask="false"), 400),
        ("/timelapse.gif", _query(bbox, fps=0), 400),
        ("/timelapse.gif", _query(bbox, minvalid=101), 400),
        ("/timelapse.gif", _query(bbox, time="2023-05-13", minvalid=99), 404),
    ]
    for path, query, status in cases:
        response = demo_client.get(path, params=query)
        assert response.status_code == status, (path, query, response.text)
