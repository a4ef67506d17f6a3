"""Broken files in the archive: a clear JSON error for that product, logged; the others keep working;
nothing broken is cached; products whose metadata cannot be read are left out of the index."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.helpers import centre_tile_url, decode
from tiler.app import create_app
from tiler.catalog import MemoryCatalog
from tiler.settings import Settings


@pytest.fixture(scope="module")
def archive(demo_archive, tmp_path_factory) -> Path:
    """A copy of the demo archive this module may damage."""
    root = tmp_path_factory.mktemp("broken") / "archive"
    shutil.copytree(demo_archive[0], root)
    return root


@pytest.fixture(scope="module")
def client(archive) -> TestClient:
    return TestClient(create_app(Settings(data_roots=(archive,))), raise_server_exceptions=False)


def products(client) -> dict[str, object]:
    index = client.app.state.services.catalog
    return {p.bands["B04"].path.suffix: p for p in index if "B04" in p.bands}  # .jp2 (SAFE) and .tif (COG)


@contextmanager
def damaged(path: Path, damage) -> Iterator[None]:
    original = path.read_bytes()
    try:
        damage(path, original)
        yield
    finally:
        path.write_bytes(original)


def truncate(path: Path, data: bytes) -> None:
    path.write_bytes(data[: len(data) // 2])  # an interrupted download


def scramble(path: Path, data: bytes) -> None:
    # Keep the header, replace the pixel data: a corrupt file that still opens.
    path.write_bytes(data[:2000] + bytes((b * 7 + 13) % 256 for b in data[2000:]))


def remove(path: Path, data: bytes) -> None:
    path.unlink()


CASES = [(".jp2", truncate), (".tif", scramble), (".tif", truncate), (".jp2", remove), (".tif", remove)]


@pytest.mark.parametrize(("kind", "damage"), CASES, ids=[f"{k}-{d.__name__}" for k, d in CASES])
def test_a_broken_band_gets_a_clear_error_and_nothing_else_breaks(client, kind, damage, caplog) -> None:
    by_kind = products(client)
    broken, healthy = by_kind[kind], by_kind[".tif" if kind == ".jp2" else ".jp2"]
    # Distinct styling per case, so no earlier test's cached image answers.
    rescale = f"0,{0.2 + CASES.index((kind, damage)) / 100}"
    params = {"product": broken.id, "expression": "B04;B03;B02", "rescale": rescale}
    url = centre_tile_url(broken)
    caplog.set_level(logging.ERROR, logger="tiler.http.errors")
    with damaged(broken.bands["B04"].path, damage):
        response = client.get(url, params=params)
        assert response.status_code == 500
        detail = response.json()["detail"]
        assert detail == f"product {broken.id} cannot be read: its files are missing or damaged"
        assert "/" not in detail and "Traceback" not in response.text
        logged = [r.getMessage() for r in caplog.records if r.name == "tiler.http.errors"]
        assert any(broken.id in m and response.headers["x-request-id"] in m for m in logged)
        # Full resolution: a COG truncated at its end still has its overviews, which are fine to serve.
        preview = client.get("/preview.png", params=params | {"width": 120})
        assert preview.status_code == 500 and preview.json()["detail"] == detail
        other = client.get(centre_tile_url(healthy), params={"product": healthy.id, "layer": "NDVI"})
        assert other.status_code == 200
        assert client.get("/products").status_code == 200 and client.get("/readyz").status_code == 200
    # Repaired: the same request renders afresh (the failure was not cached).
    fixed = client.get(url, params=params)
    assert fixed.status_code == 200 and fixed.headers["x-cache"] == "miss"
    assert decode(fixed.content)[..., 3].max() == 255


def test_tilejson_of_a_product_whose_files_vanished(client) -> None:
    broken = products(client)[".tif"]
    with damaged(broken.finest_band.path, remove):
        response = client.get("/tilejson.json", params={"product": broken.id})
    assert response.status_code == 500 and "cannot be read" in response.json()["detail"]


def test_unreadable_metadata_skips_the_product(archive, tmp_path) -> None:
    root = tmp_path / "archive"
    shutil.copytree(archive, root)
    index = MemoryCatalog([root])
    safes = sorted((p for p in index if p.path.name.endswith(".SAFE")), key=lambda p: p.id)
    bad_xml, no_time, gone = safes[0], safes[1], safes[2]
    mtd = next(bad_xml.path.glob("MTD_MSIL*.xml"))
    mtd.write_text(mtd.read_text()[:300])  # truncated XML
    mtd = next(no_time.path.glob("MTD_MSIL*.xml"))
    mtd.write_text(mtd.read_text().replace("PRODUCT_START_TIME", "NO_START_TIME"))
    for jp2 in gone.path.rglob("*.jp2"):
        os.remove(jp2)  # a half-written product: metadata, no rasters
    rebuilt = MemoryCatalog([root])
    kept = {p.id for p in rebuilt}
    assert kept == {p.id for p in index} - {bad_xml.id, no_time.id, gone.id}
    client = TestClient(create_app(Settings(data_roots=(root,)), catalog=rebuilt), raise_server_exceptions=False)
    assert client.get(f"/products/{bad_xml.id}").status_code == 404
    survivor = next(iter(rebuilt))
    assert client.get(centre_tile_url(survivor), params={"product": survivor.id}).status_code == 200
