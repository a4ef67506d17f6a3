"""The pool of open band files: reuse, one borrower at a time, bounds, closing."""

from __future__ import annotations

import threading
from datetime import datetime

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import from_origin
from starlette.testclient import TestClient

from tiler.app import create_app
from tiler.errors import ProductUnreadable
from tiler.products import BandAsset, Product
from tiler.reading.bands import read_part
from tiler.reading.datasets import DatasetPool
from tiler.settings import Settings


@pytest.fixture(scope="module")
def band_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pool")
    paths = []
    for i in range(3):
        path = folder / f"B0{i}.tif"
        with rasterio.open(
            path,
            "w",
            driver="GTiff",
            width=8,
            height=8,
            count=1,
            dtype="uint16",
            crs="EPSG:32632",
            transform=from_origin(0, 80, 10, 10),
        ) as dst:
            dst.write(np.full((8, 8), i + 1, dtype=np.uint16), 1)
        paths.append(str(path))
    return paths


def test_a_returned_handle_is_lent_again(band_files):
    pool = DatasetPool(4, per_path=2)
    with pool.open(band_files[0]) as first:
        assert first.read(1)[0, 0] == 1
    with pool.open(band_files[0]) as again:
        assert again is first
    assert pool.idle == 1
    pool.close()


def test_a_borrowed_handle_is_never_lent_twice(band_files):
    pool = DatasetPool(4, per_path=2)
    with pool.open(band_files[0]) as a, pool.open(band_files[0]) as b:
        assert a is not b
    assert pool.idle == 2
    pool.close()


def test_past_per_path_handles_a_thread_waits_for_one_to_come_back(band_files):
    pool = DatasetPool(4, per_path=1)
    second = []

    def other_thread():
        with pool.open(band_files[0]) as dataset:
            second.append(dataset)

    with pool.open(band_files[0]) as first:
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join(timeout=0.2)
        assert thread.is_alive() and not second  # waiting, not decoding the same blocks twice
    thread.join()
    assert second == [first]  # it got the very handle, blocks and all
    pool.close()


def test_idle_handles_are_bounded_oldest_closed_first(band_files):
    pool = DatasetPool(2, per_path=1)
    handles = []
    for path in band_files:
        with pool.open(path) as dataset:
            handles.append(dataset)
    assert pool.idle == 2
    assert handles[0].closed and not handles[1].closed and not handles[2].closed
    pool.close()
    assert all(h.closed for h in handles) and pool.idle == 0


def test_a_handle_whose_use_failed_is_closed_not_kept(band_files):
    pool = DatasetPool(4, per_path=2)
    with pytest.raises(RuntimeError), pool.open(band_files[1]) as dataset:
        raise RuntimeError("read failed")
    assert dataset.closed and pool.idle == 0


def test_a_file_changed_or_removed_while_open_is_opened_again(tmp_path):
    path = tmp_path / "band.tif"

    def write(value: int) -> None:
        with rasterio.open(
            path,
            "w",
            driver="GTiff",
            width=8,
            height=8,
            count=1,
            dtype="uint16",
            crs="EPSG:32632",
            transform=from_origin(0, 80, 10, 10),
        ) as dst:
            dst.write(np.full((8, 8), value, dtype=np.uint16), 1)

    write(1)
    pool = DatasetPool(4, per_path=1)
    with pool.open(str(path)) as first:
        assert first.read(1)[0, 0] == 1
    write(2)  # replaced, e.g. a product reprocessed
    with pool.open(str(path)) as second:
        assert second is not first and second.read(1)[0, 0] == 2
    assert first.closed
    path.unlink()
    with pytest.raises(rasterio.errors.RasterioIOError), pool.open(str(path)):
        pass
    assert second.closed and pool.idle == 0


def test_size_zero_keeps_nothing_open(band_files):
    pool = DatasetPool(0, per_path=1)
    with pool.open(band_files[2]) as dataset:
        pass
    assert dataset.closed and pool.idle == 0


def test_the_app_keeps_band_files_open_and_closes_them_on_shutdown(demo_archive):
    root, products = demo_archive
    app = create_app(Settings(data_roots=(root,), cache_bytes=0))
    pool = app.state.services.datasets
    product = products[0].id
    with TestClient(app) as client:
        for _ in range(2):
            response = client.get(f"/tiles/14/8700/5460.png?product={product}&layer=TRUE_COLOR")
            assert response.status_code == 200
        preview = client.get(f"/preview.png?product={product}&layer=TRUE_COLOR&width=64")
        assert preview.status_code == 200
        assert pool.idle > 0
    assert pool.idle == 0


def test_a_failed_read_does_not_fail_the_next_read_of_kept_open_files(tmp_path):
    # rasterio keeps a failed read's GDAL errors per thread: none may surface in a later read of another file.
    paths = []
    for name in ("healthy", "broken"):
        path = tmp_path / f"{name}.tif"
        with rasterio.open(
            path,
            "w",
            driver="GTiff",
            width=512,
            height=512,
            count=1,
            dtype="uint16",
            tiled=True,
            compress="deflate",
            crs="EPSG:32632",
            transform=from_origin(0, 5120, 10, 10),
        ) as dst:
            dst.write((np.arange(512 * 512) % 60000 + 1).astype(np.uint16).reshape(512, 512), 1)
        paths.append(path)
    healthy, broken = paths
    product = Product(
        id="P",
        collection="sentinel-2-l2a",
        platform="S2A",
        datetime=datetime(2020, 1, 1),
        cloud_cover=None,
        processing_level="Level-2A",
        processing_baseline=None,
        tile=None,
        footprint=None,
        crs=CRS.from_epsg(32632),
        bounds=(0, 0, 5120, 5120),
        bounds_wgs84=(9, 0, 9.05, 0.05),
        bands={
            "B02": BandAsset("B02", healthy, 10.0, "B02", nodata=0),
            "B04": BandAsset("B04", broken, 10.0, "B04", nodata=0),
        },
        path=tmp_path,
        root=tmp_path,
    )
    pool = DatasetPool(4, per_path=1)

    def read(band: str):
        return read_part(
            product, [band], (0, 0, 5120, 5120), CRS.from_epsg(32632), 512, 512, gdal_options={}, datasets=pool
        )

    read("B02")
    read("B04")
    broken.write_bytes(broken.read_bytes()[: broken.stat().st_size // 2])  # opens, fails to read
    with pytest.raises(ProductUnreadable):
        read("B04")
    assert read("B02").valid.all()  # the kept-open handle of the healthy file
    pool.close()
