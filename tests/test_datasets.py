"""The pool of open band files: reuse, one borrower at a time, bounds, closing."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from starlette.testclient import TestClient

from tiler.app import create_app
from tiler.datasets import DatasetPool
from tiler.settings import Settings


@pytest.fixture(scope="module")
def band_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pool")
    paths = []
    for i in range(3):
        path = folder / f"B0{i}.tif"
        with rasterio.open(path, "w", driver="GTiff", width=8, height=8, count=1, dtype="uint16",
                           crs="EPSG:32632", transform=from_origin(0, 80, 10, 10)) as dst:
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
    with pytest.raises(RuntimeError):
        with pool.open(band_files[1]) as dataset:
            raise RuntimeError("read failed")
    assert dataset.closed and pool.idle == 0


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
