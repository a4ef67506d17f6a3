"""The pipeline's typed values: cache keys, the drawable part of a grid (what lies inside its CRS's
domain), and boxes that cross the antimeridian."""

from __future__ import annotations

import math

import numpy as np
import pytest
from starlette.testclient import TestClient

from tests.helpers import decode
from tiler.crs import clip_to_domain, crs_domain
from tiler.pipeline.job import Grid
from tiler.pipeline.run import boxes_meet


def test_a_grid_inside_its_domain_is_drawn_whole() -> None:
    grid = Grid((0.0, 0.0, 1000.0, 1000.0), "EPSG:3857", 10, 10)
    assert grid.drawable == (grid, 0, 0)


def test_a_grid_past_its_domain_is_drawn_on_the_same_pixels() -> None:
    """A Web Mercator box past the pole's limit: only the rows inside are drawn, on the same lattice."""
    _, _south, _, north = crs_domain("EPSG:3857")  # type: ignore[misc]
    grid = Grid((-1000.0, north - 3000.0, 1000.0, north + 7000.0), "EPSG:3857", 2, 10)
    drawable = grid.drawable
    assert drawable is not None
    part, row0, col0 = drawable
    assert (row0, col0, part.width, part.height) == (7, 0, 2, 3)
    assert part.bounds == (-1000.0, north - 3000.0, 1000.0, north)
    assert Grid((0.0, north + 1.0, 1.0, north + 2.0), "EPSG:3857", 1, 1).drawable is None


@pytest.mark.parametrize("value", [1e30, 1e308])
def test_absurd_boxes_shrink_to_the_domain(value) -> None:
    grid = Grid((-value, -value, value, value), "EPSG:3857", 64, 64)
    drawable = grid.drawable
    assert drawable is not None
    part, _, _ = drawable
    assert all(math.isfinite(v) for v in part.area) and abs(part.bounds[0]) < 2.1e7 and part.width >= 1
    assert clip_to_domain((math.nan, 0, 1, 1), "EPSG:3857") is None
    assert clip_to_domain((1.0, 0.0, 0.0, 1.0), "EPSG:4326") is None


def test_domains_cover_more_than_the_area_of_use_where_clients_need_it() -> None:
    """EPSG:25832's area of use ends at 12°E, but it is the CRS of all of Germany (to 15°E)."""
    from pyproj import Transformer

    east_germany = Transformer.from_crs("EPSG:4326", "EPSG:25832", always_xy=True).transform(15.0, 51.0)
    x0, y0, x1, y1 = crs_domain("EPSG:25832")  # type: ignore[misc]
    assert x0 < east_germany[0] < x1 and y0 < east_germany[1] < y1


def test_boxes_across_the_antimeridian_meet_boxes_on_either_side() -> None:
    across = (178.0, 67.0, -179.0, 69.0)
    assert boxes_meet(across, (179.0, 68.0, 179.5, 68.5)) and boxes_meet((-179.5, 68.0, -179.2, 68.5), across)
    assert not boxes_meet(across, (0.0, 68.0, 1.0, 68.5))


def test_a_getmap_past_web_mercators_limits_draws_the_part_inside_as_the_part_alone(demo_client, demo_archive) -> None:
    """Past the CRS's domain nothing is drawn; inside, the pixels equal those of a map of that part."""
    _, products = demo_archive
    product = next(p for p in products if p.collection == "sentinel-2-l2a")
    meta = demo_client.get(f"/products/{product.id}").json()
    west, south, east, north = meta["bounds"]
    from pyproj import Transformer

    to_mercator = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    x0, y0 = to_mercator.transform(west, south)
    x1, _y1 = to_mercator.transform(east, north)
    size = (x1 - x0) / 64
    common = {"SERVICE": "WMS", "REQUEST": "GetMap", "VERSION": "1.3.0", "LAYERS": "TRUE_COLOR", "STYLES": "",
              "CRS": "EPSG:3857", "FORMAT": "image/png", "TRANSPARENT": "TRUE"}  # fmt: skip
    inside = demo_client.get(
        "/wms", params={**common, "BBOX": f"{x0},{y0},{x1},{y0 + 64 * size}", "WIDTH": 64, "HEIGHT": 64}
    )
    # The same 64 columns, with 1e9 rows of 1e30 m above: the request is refused only if nothing is drawable.
    tall = demo_client.get(
        "/wms", params={**common, "BBOX": f"{x0},{y0},{x1},{y0 + 64 * size + 64 * 1e28}", "WIDTH": 64, "HEIGHT": 128}
    )
    assert inside.status_code == tall.status_code == 200
    assert decode(inside.content)[..., 3].any() and tall.headers["content-type"] == "image/png"
    assert not decode(tall.content)[:63, :, 3].any()  # far outside the domain: transparent


def test_every_real_sentinel_2_product_draws(real_client: TestClient) -> None:
    """Including the 120 m item whose bands keep their CRS in .aux.xml sidecars, and the antimeridian tile."""
    sentinel_2 = (
        p for p in real_client.get("/products").json()["products"] if p["collection"].startswith("sentinel-2")
    )
    for product in sentinel_2:
        # Band math on B04, which every sample has (the antimeridian one has only B04 and SCL).
        params = {"product": product["id"], "width": 64, "expression": "B04", "rescale": "0,0.3"}
        response = real_client.get("/preview.png", params=params)
        assert response.status_code == 200, (product["id"], response.text)
        assert np.asarray(decode(response.content))[..., 3].mean() > 20, product["id"]
