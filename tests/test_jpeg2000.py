"""JPEG 2000 windows decoded by area (glymur/OpenJPEG) against GDAL, on ESA's own files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from tiler.catalog import MemoryCatalog
from tiler.reading import bands as reading
from tiler.reading import jpeg2000
from tiler.reading.datasets import DatasetPool
from tiler.reading.jpeg2000 import TouchedBlocks
from tiler.settings import Settings

SAFE_ID = "S2A_MSIL2A_20221005T115411_N0400_R023_T29UNU_20221005T164454"


@pytest.fixture(scope="module")
def safe(shared_data: Path):
    return MemoryCatalog([shared_data]).resolve(SAFE_ID)


def _img_data(shared_data: Path, pattern: str) -> Path:
    (path,) = shared_data.glob(f"s2-l2a-safe-T29UNU-20221005/*.SAFE/GRANULE/*/IMG_DATA/{pattern}")
    return path


def test_openjpeg_is_there() -> None:
    # make install and the Dockerfile install libopenjp2: without it every read goes through GDAL.
    assert jpeg2000.available()


@pytest.mark.parametrize("pattern", ["R10m/*_AOT_10m.jp2", "R20m/*_SCL_20m.jp2", "R60m/*_B04_60m.jp2"])
def test_area_decode_gives_gdals_pixels(shared_data: Path, pattern: str) -> None:
    path = _img_data(shared_data, pattern)
    with rasterio.open(path) as dataset:
        block = dataset.block_shapes[0][0]
        n = dataset.width
        windows = [
            Window(3, 5, 40, 30),  # inside the first codestream tile
            Window(block - 20, block - 7, 45, 50),  # across four codestream tiles
            Window(n - 37, n - 61, 37, 61),  # at the right and bottom edges
            Window(n // 2 + 1, n // 3, 160, 158),  # a z14 map tile's window
        ]
        for window in windows:
            expected = dataset.read(1, window=window)
            got = jpeg2000.read_window(str(path), window)
            assert got.dtype == expected.dtype
            np.testing.assert_array_equal(got, expected)


def _scl_grid(safe, col: int, row: int, size: int, band: str = "SCL"):
    """Output bounds that coincide with `size` x `size` pixels of the band's file (20 m SCL) from (col, row)."""
    with rasterio.open(safe.bands[band].path) as dataset:
        left, top = dataset.transform * (col, row)
        right, bottom = dataset.transform * (col + size, row + size)
        expected = dataset.read(1, window=Window(col, row, size, size))
        return (left, bottom, right, top), dataset.crs, expected


def _count_area_decodes(monkeypatch) -> list:
    calls = []
    decode = jpeg2000.read_window

    def counting(path, window):
        calls.append(window)
        return decode(path, window)

    monkeypatch.setattr(jpeg2000, "read_window", counting)
    return calls


def test_a_codestream_tile_is_decoded_by_area_first_then_whole_by_gdal(safe, monkeypatch) -> None:
    """The first touch of a tile decodes the window alone; the next decodes the tile into GDAL's cache."""
    calls = _count_area_decodes(monkeypatch)
    settings = Settings()
    pool = DatasetPool(4, per_path=1)
    bounds, crs, expected = _scl_grid(safe, 700, 4100, 150)  # data there: the swath edge is north-east
    assert expected.any()
    try:
        first = reading.read_part(safe, ["SCL"], bounds, crs, 150, 150, gdal_options=settings.gdal, datasets=pool)
        assert len(calls) == 1
        again = reading.read_part(safe, ["SCL"], bounds, crs, 150, 150, gdal_options=settings.gdal, datasets=pool)
        assert len(calls) == 1  # through GDAL this time
        # A window in another codestream tile is a first touch again.
        other_bounds, _, other_expected = _scl_grid(safe, 2000, 4100, 150)
        other = reading.read_part(safe, ["SCL"], other_bounds, crs, 150, 150, gdal_options=settings.gdal, datasets=pool)
        assert len(calls) == 2
    finally:
        pool.close()
    for stack, dn in ((first, expected), (again, expected), (other, other_expected)):
        np.testing.assert_array_equal(stack.arrays["SCL"], dn.astype(np.float32))
        np.testing.assert_array_equal(stack.valid, dn != 0)


def test_without_a_pool_every_full_resolution_read_is_by_area(safe, monkeypatch) -> None:
    calls = _count_area_decodes(monkeypatch)
    bounds, crs, expected = _scl_grid(safe, 700, 4100, 150)
    for _ in range(2):
        stack = reading.read_part(safe, ["SCL"], bounds, crs, 150, 150, gdal_options=Settings().gdal)
        np.testing.assert_array_equal(stack.arrays["SCL"], expected.astype(np.float32))
    assert len(calls) == 2


def test_reduced_resolutions_stay_with_gdal(safe, monkeypatch) -> None:
    calls = _count_area_decodes(monkeypatch)
    bounds, crs, _ = _scl_grid(safe, 300, 700, 600, band="B04")  # 60 m: 600 px into 150, a quarter
    stack = reading.read_part(safe, ["B04"], bounds, crs, 150, 150, gdal_options=Settings().gdal)
    assert not calls  # GDAL decodes the 4x resolution level (the tile-level pixel tests check its pixels)
    assert stack.arrays["B04"].shape == (150, 150) and stack.valid.any()


def test_class_bands_never_come_from_the_wavelets_averages(safe) -> None:
    """At a quarter resolution every SCL class drawn occurs among the 4 x 4 pixels it stands for;
    JPEG 2000's own quarter resolution breaks that (GDAL reads it for spectral bands)."""
    bounds, crs, full = _scl_grid(safe, 700, 4100, 600)
    stack = reading.read_part(safe, ["SCL"], bounds, crs, 150, 150, gdal_options=Settings().gdal)
    blocks = full.reshape(150, 4, 150, 4).transpose(0, 2, 1, 3).reshape(150, 150, 16)
    assert (blocks == stack.arrays["SCL"][..., None].astype(np.uint8)).any(axis=2).all()
    with rasterio.open(safe.bands["SCL"].path) as dataset:
        averaged = dataset.read(1, window=Window(700, 4100, 600, 600), out_shape=(150, 150))
    assert not (blocks == averaged[..., None]).any(axis=2).all()


def test_without_openjpeg_gdal_reads_the_same_pixels(safe, monkeypatch) -> None:
    calls = _count_area_decodes(monkeypatch)
    monkeypatch.setattr(jpeg2000, "available", lambda: False)
    bounds, crs, expected = _scl_grid(safe, 700, 4100, 150)
    stack = reading.read_part(safe, ["SCL"], bounds, crs, 150, 150, gdal_options=Settings().gdal)
    assert not calls
    np.testing.assert_array_equal(stack.arrays["SCL"], expected.astype(np.float32))


def test_touched_blocks_remember_the_most_recent() -> None:
    touched = TouchedBlocks(capacity=3)
    assert touched.touch(["a", "b"])
    assert not touched.touch(["a"])  # a is now the most recent
    assert touched.touch(["c", "d"])  # b, the oldest, is forgotten
    assert touched.touch(["b"])
    assert not touched.touch(["d", "b"])
    assert touched.touch(["a"])  # forgotten when b came back


def test_a_file_glymur_cannot_read_is_an_os_error(tmp_path) -> None:
    bad = tmp_path / "B04.jp2"
    bad.write_bytes(b"not a JPEG 2000 codestream" * 10)
    with pytest.raises(OSError, match="B04.jp2"):
        jpeg2000.read_window(str(bad), Window(0, 0, 8, 8))
