"""Every numeric parameter of every route at numeric extremes (±1e308, 1e30, subnormals, -0.0, NaN,
inf, very long digit strings) and every CRS the WMS advertises, against a real server process: each
answer comes within a bounded wait and is never a 5xx, and `/healthz` keeps answering throughout.

A transformation stuck in native code holds the interpreter lock, so the server runs in a process
of its own: a hang shows up here as a client timeout, not as a frozen test run."""

from __future__ import annotations

import math

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import start_server, stop_server
from tiler.ogc.common import CRS_CODES

pytestmark = pytest.mark.slow

# Generous: a normal answer takes milliseconds; only a hang or an unbounded computation reaches it.
ANSWER_WITHIN_S = 10
EXTREMES = [
    "1e308", "-1e308", "1e309", "-1e309", "1e30", "-1e30", "5e-324", "-5e-324", "2.2250738585072014e-308",
    "-0.0", "0", "nan", "NaN", "-nan", "inf", "-inf", "Infinity", "9" * 5000, "-" + "9" * 5000, "1" + "0" * 400,
    "0x10", "1_000", " 1 ", "", "1e", "٣",
]  # fmt: skip
NUMBERS = st.sampled_from(EXTREMES) | st.floats(allow_nan=True, allow_infinity=True).map(repr) | st.integers().map(str)
EXAMPLES = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def server(demo_archive, tmp_path_factory):
    root, _ = demo_archive
    catalog = tmp_path_factory.mktemp("extremes") / "catalog.sqlite"
    process, base = start_server(["serve", "--data", str(root)], {"EO_TILER_CATALOG": str(catalog)})
    with httpx.Client(base_url=base, timeout=ANSWER_WITHIN_S) as client:
        yield client
    stop_server(process)


def _asked(client: httpx.Client, path: str, params: dict[str, str]) -> int:
    response = client.get(path, params=params)
    assert response.status_code < 500, (path, params, response.text[:300])
    assert client.get("/healthz").status_code == 200
    return response.status_code


@EXAMPLES
@given(crs=st.sampled_from(CRS_CODES), box=st.lists(NUMBERS, min_size=4, max_size=4), size=NUMBERS)
def test_wms_getmap_boxes_and_sizes(server, crs, box, size) -> None:
    for version, crs_key in (("1.3.0", "CRS"), ("1.1.1", "SRS")):
        _asked(
            server,
            "/wms",
            {"SERVICE": "WMS", "REQUEST": "GetMap", "VERSION": version, "LAYERS": "TRUE_COLOR", "STYLES": "",
             crs_key: crs, "BBOX": ",".join(box), "WIDTH": size, "HEIGHT": "64", "FORMAT": "image/png"},
        )  # fmt: skip


@EXAMPLES
@given(
    crs=st.sampled_from(CRS_CODES),
    scale=st.sampled_from([1e-300, 1e-6, 1.0, 1e6, 1e30, 1e300]),
    resx=NUMBERS,
    others=st.lists(NUMBERS, min_size=4, max_size=4),
)
def test_wms_resolutions_and_vendor_numbers(server, crs, scale, resx, others) -> None:
    box = ",".join(repr(v * scale) for v in (-1.0, -1.0, 1.0, 1.0))
    gain, gamma, quality, maxcc = others
    _asked(
        server,
        "/wms",
        {"SERVICE": "WMS", "REQUEST": "GetMap", "VERSION": "1.3.0", "LAYERS": "NDVI", "STYLES": "", "CRS": crs,
         "BBOX": box, "RESX": resx, "RESY": resx + "m" if resx else "10m", "FORMAT": "image/jpeg",
         "GAIN": gain, "GAMMA": gamma, "QUALITY": quality, "MAXCC": maxcc},
    )  # fmt: skip


@EXAMPLES
@given(
    crs=st.sampled_from(CRS_CODES),
    box=st.lists(NUMBERS, min_size=4, max_size=4),
    point=st.lists(NUMBERS, min_size=3, max_size=3),
)
def test_wms_feature_info_points(server, crs, box, point) -> None:
    i, j, count = point
    _asked(
        server,
        "/wms",
        {"SERVICE": "WMS", "REQUEST": "GetFeatureInfo", "VERSION": "1.3.0", "LAYERS": "TRUE_COLOR",
         "QUERY_LAYERS": "TRUE_COLOR", "STYLES": "", "CRS": crs, "BBOX": ",".join(box), "WIDTH": "64",
         "HEIGHT": "64", "I": i, "J": j, "FEATURE_COUNT": count, "INFO_FORMAT": "application/json"},
    )  # fmt: skip


@EXAMPLES
@given(
    tms=st.sampled_from(["WebMercatorQuad", "WorldCRS84Quad", "EuropeanETRS89_LAEAQuad", "UPSArcticWGS84Quad",
                         "UTM31WGS84Quad", "WorldMercatorWGS84Quad", "LINZAntarticaMapTilegrid"]),
    zxy=st.lists(NUMBERS, min_size=3, max_size=3),
    tilesize=NUMBERS,
)  # fmt: skip
def test_tile_addresses_in_every_tile_matrix_set(server, tms, zxy, tilesize) -> None:
    z, x, y = zxy
    _asked(server, f"/tiles/{z}/{x}/{y}.png", {"tms": tms, "collection": "sentinel-2-l2a", "tilesize": tilesize})
    small = {"z": "1", "x": "0", "y": "0"}  # a real address too, where every tile matrix set has one
    _asked(server, "/tiles/{z}/{x}/{y}.png".format(**small), {"tms": tms, "collection": "sentinel-2-l2a"})
    _asked(
        server,
        "/wmts",
        {"SERVICE": "WMTS", "REQUEST": "GetTile", "VERSION": "1.0.0", "LAYER": "sentinel-2-l2a:TRUE_COLOR",
         "STYLE": "default", "FORMAT": "image/png", "TILEMATRIXSET": "WebMercatorQuad", "TILEMATRIX": z,
         "TILEROW": y, "TILECOL": x},
    )  # fmt: skip


@EXAMPLES
@given(box=st.lists(NUMBERS, min_size=4, max_size=4), numbers=st.lists(NUMBERS, min_size=4, max_size=4))
def test_search_preview_and_tilejson_numbers(server, box, numbers) -> None:
    bbox = ",".join(box)
    width, maxcc, limit, page = numbers
    _asked(server, "/search", {"bbox": bbox, "maxcc": maxcc, "limit": limit, "page": page})
    _asked(server, "/preview.png", {"collection": "sentinel-2-l2a", "bbox": bbox, "width": width, "maxcc": maxcc})
    _asked(server, "/tilejson.json", {"collection": "sentinel-2-l2a", "bbox": bbox})
    _asked(server, "/tiles/10/545/361.png", {"collection": "sentinel-2-l2a", "rescale": f"{width},{maxcc}"})


def test_the_extremes_include_what_the_issue_names() -> None:
    values = [float(v) for v in EXTREMES if v.strip() and v not in ("0x10", "1e", "٣")]
    assert any(math.isnan(v) for v in values) and math.inf in values and -math.inf in values
    assert 5e-324 in values and any(v == 0 and math.copysign(1, v) < 0 for v in values)
