"""Benchmark data: one Sentinel-2 L2A tile of the demo landscape, as ESA SAFE (JP2) and as COGs.

At the full size (10980 px at 10 m) this is what a real archive holds: 10 m, 20 m and 60 m bands
and SCL, lossless JPEG 2000 with 6 resolution levels and 1024/640/192 px codestream tiles like
ESA's, and DEFLATE COGs with overviews like the sentinel-cogs bucket. The texture is the demo's
landscape (fields, forest, towns, rivers, clouds), so it compresses like imagery, not like noise.

The files are written once per size under ``<root>/<size>/`` and reused; ``manifest.json`` is
written last and says what is there:

    <root>/<size>/jp2/Sentinel-2/MSI/L2A/.../<id>.SAFE   data root for the JP2 runs
    <root>/<size>/cog/sentinel-cogs/.../<cog id>/         data root for the COG runs
    <root>/<size>/titiler-jp2.json, titiler-cog.json      STAC items with local hrefs, for TiTiler
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import rasterio
from rasterio.warp import transform_bounds

import demo

FULL_SIZE = 10980
# Bump when the files written here change, so a cached data set is rebuilt.
DATA_VERSION = 2
MOSAIC_VERSION = 1
# Which of the demo layout's products (demo._layout) the single-product cases use, and which
# L2A products the mosaic is made of: 32UPB (autumn 2020, swath edge), 32UQB (the single product,
# summer 2022) and 33UUS (autumn 2020, the next UTM zone), each overlapping the next by a tenth.
SINGLE = 1
MOSAIC = (0, 1, 3)


class _TexturedScene(demo._Scene):
    """The demo scene plus the pixel-to-pixel variation of real imagery (sensor noise, sub-field texture).

    Without it the demo's smooth fields compress to under 1 bit per pixel, about a tenth of a real
    band, and decoding them would cost a tenth of the real work. 6 DN plus 1.5 % of the value, a
    normal deviate per pixel, brings the 10 m bands to roughly real sizes.
    """

    def reflectance(self, band: str) -> np.ndarray:
        refl = super().reflectance(band)
        rng = np.random.default_rng(demo._BI[band] + 1)  # the same texture in the SAFE and the COGs
        noise = rng.standard_normal(refl.shape, dtype=np.float32)
        noise *= np.float32(0.0006) + np.float32(0.015) * refl
        refl += noise
        return refl


@dataclasses.dataclass(frozen=True)
class BenchData:
    size: int
    jp2_root: Path
    cog_root: Path
    product_id: str  # the same in both layouts (the COG product's STAC item has it as product_uri)
    titiler_items: dict[str, Path]  # "jp2" / "cog" -> STAC item for TiTiler
    bounds: tuple[float, float, float, float]  # native CRS
    epsg: int


def _finest_files(safe: Path) -> dict[str, Path]:
    """Band name -> its finest JP2 in a SAFE (B02_10m wins over B02_20m)."""
    found: dict[str, tuple[int, Path]] = {}
    for path in safe.glob("GRANULE/*/IMG_DATA/R*m/*.jp2"):
        _, _, band, res = path.stem.split("_")
        metres = int(res.removesuffix("m"))
        if band not in found or metres < found[band][0]:
            found[band] = (metres, path)
    return {band: path for band, (_, path) in found.items()}


def _local_item(item: dict, files: dict[str, Path], media_type: str) -> dict:
    """The product's STAC item with every asset pointing at a local file (TiTiler opens hrefs as given)."""
    assets = {}
    for band, path in files.items():
        key = next((k for k, a in item["assets"].items() if a["href"].endswith(f"/{band}.tif")), band.lower())
        # Per-asset grids describe the COGs (B01 is 60 m there, 20 m in the SAFE): let TiTiler read the files.
        asset = {k: v for k, v in item["assets"].get(key, {"roles": ["data"]}).items() if not k.startswith("proj:")}
        asset.update(href=str(path.resolve()), type=media_type)
        assets[key] = asset
    return {**item, "assets": assets, "links": []}


def _scene(spec, frame, size: int, progress: Callable[[str], None]) -> _TexturedScene:
    t0 = time.perf_counter()
    progress(f"bench data: computing the {size} x {size} landscape of {spec.name}")
    _, _, u, v = demo._uv(spec.grid, frame)
    land = demo._landscape(u, v, size, spec.season)
    weather = demo._weather(u, v, spec.weather, size)
    del u, v
    scene = _TexturedScene(spec, land, weather, demo._valid_mask(size, spec.nodata_corner))
    progress(f"bench data: landscape in {time.perf_counter() - t0:.0f} s")
    return scene


def ensure_data(root: Path, size: int = FULL_SIZE, progress: Callable[[str], None] = print) -> BenchData:
    """Generate the benchmark product under ``root/size`` unless it is already there."""
    if size % 60:
        raise ValueError("size must be a multiple of 60 (the 60 m grid)")
    base = Path(root).resolve() / str(size)
    manifest_path = base / "manifest.json"
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("version") == DATA_VERSION:
            return _from_manifest(base, manifest)
    if base.exists():
        shutil.rmtree(base)
    base.mkdir(parents=True)
    t0 = time.perf_counter()
    specs, frame = demo._layout(size)
    # The demo's second product: a full tile (no swath edge), summer fields, cumulus.
    spec = specs[SINGLE]
    scene = _scene(spec, frame, size, progress)
    progress("bench data: writing JP2 (SAFE)")
    t = time.perf_counter()
    safe = base / "jp2" / spec.relpath()
    safe.mkdir(parents=True)
    demo._write_safe(spec, scene, safe)
    progress(f"bench data: SAFE in {time.perf_counter() - t:.0f} s; writing COGs")
    t = time.perf_counter()
    cog_spec = dataclasses.replace(spec, layout="cog")
    cog_dir = base / "cog" / cog_spec.relpath()
    demo._write_cog_product(cog_spec, scene, cog_dir)
    progress(f"bench data: COGs in {time.perf_counter() - t:.0f} s")
    del scene

    item = json.loads((cog_dir / f"{cog_spec.cog_id}.json").read_text())
    cog_files = {p.stem: p for p in cog_dir.glob("*.tif")}
    items = {
        "jp2": _local_item(item, _finest_files(safe), "image/jp2"),
        "cog": _local_item(item, cog_files, "image/tiff; application=geotiff; profile=cloud-optimized"),
    }
    for kind, content in items.items():
        (base / f"titiler-{kind}.json").write_text(json.dumps(content, indent=1))
    manifest = {
        "version": DATA_VERSION,
        "size": size,
        "product_id": spec.name,
        "cog_id": cog_spec.cog_id,
        "jp2_root": "jp2",
        "cog_root": "cog",
        "bounds": list(spec.grid.bounds),
        "epsg": spec.grid.epsg,
        "seconds": round(time.perf_counter() - t0, 1),
        "bytes": {
            kind: sum(p.stat().st_size for p in (base / kind).rglob("*") if p.is_file()) for kind in ("jp2", "cog")
        },
    }
    _replace(manifest_path, manifest)
    progress(f"bench data: ready in {manifest['seconds']} s under {base}")
    return _from_manifest(base, manifest)


def _from_manifest(base: Path, manifest: dict) -> BenchData:
    return BenchData(
        size=manifest["size"],
        jp2_root=base / manifest["jp2_root"],
        cog_root=base / manifest["cog_root"],
        product_id=manifest["product_id"],
        titiler_items={kind: base / f"titiler-{kind}.json" for kind in ("jp2", "cog")},
        bounds=tuple(manifest["bounds"]),
        epsg=manifest["epsg"],
    )


@dataclasses.dataclass(frozen=True)
class MosaicData:
    root: Path  # data root of the mosaic's COG products, for eo-tiler
    mosaicjson: Path  # the same products for TiTiler: a MosaicJSON of one RGB VRT per product
    time: str  # an interval holding every product's date
    footprints: tuple[tuple[float, float, float, float], ...]  # lon/lat bounds, newest product first


def ensure_mosaic_data(
    data: BenchData, titiler_python: Path | None, progress: Callable[[str], None] = print
) -> MosaicData:
    """The mosaic's products as COGs under ``<data>/mosaic`` (the single product's files are linked,
    the others generated), unless they are there. With `titiler_python`, also TiTiler's MosaicJSON
    (written by cogeo-mosaic, in TiTiler's venv)."""
    base = data.cog_root.parent / "mosaic"
    manifest_path = base / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    if manifest.get("version") != MOSAIC_VERSION:
        if base.exists():
            shutil.rmtree(base)
        manifest = _write_mosaic_products(data, base, progress)
        _replace(manifest_path, manifest)
    mosaicjson = base / "mosaic.json"
    if titiler_python and not mosaicjson.is_file():
        _write_mosaicjson(
            titiler_python, [base / "vrt" / f"{p['cog_id']}.vrt" for p in manifest["products"]], mosaicjson
        )
    return MosaicData(
        root=base / "cog",
        mosaicjson=mosaicjson,
        time=manifest["time"],
        footprints=tuple(tuple(p["lonlat_bounds"]) for p in manifest["products"]),
    )


def _write_mosaic_products(data: BenchData, base: Path, progress: Callable[[str], None]) -> dict:
    t0 = time.perf_counter()
    specs, frame = demo._layout(data.size)
    chosen = [dataclasses.replace(specs[i], layout="cog") for i in MOSAIC]
    products = []
    for spec in sorted(chosen, key=lambda s: s.start, reverse=True):  # newest first, as mostRecent draws
        out = base / "cog" / spec.relpath()
        single = data.cog_root / spec.relpath()
        if single.is_dir():  # the single-product cases' files: the same product
            out.mkdir(parents=True)
            for path in single.iterdir():
                os.link(path, out / path.name)
        else:
            scene = _scene(spec, frame, data.size, progress)
            progress(f"bench data: writing the COGs of {spec.name}")
            demo._write_cog_product(spec, scene, out)
            del scene
        _write_rgb_vrt(out, base / "vrt" / f"{spec.cog_id}.vrt")
        products.append(
            {
                "id": spec.name,
                "cog_id": spec.cog_id,
                "date": spec.start.date().isoformat(),
                "lonlat_bounds": list(
                    transform_bounds(f"EPSG:{spec.grid.epsg}", "EPSG:4326", *spec.grid.bounds, densify_pts=21)
                ),
            }
        )
    dates = sorted(str(p["date"]) for p in products)
    progress(f"bench data: mosaic products ready in {time.perf_counter() - t0:.0f} s")
    return {"version": MOSAIC_VERSION, "products": products, "time": f"{dates[0]}/{dates[-1]}"}


def _write_rgb_vrt(product: Path, vrt: Path) -> None:
    """B04, B03, B02 of a COG product as one 3-band file (TiTiler's mosaics read one file per product)."""
    with rasterio.open(product / "B04.tif") as red:
        width, height, crs, transform = red.width, red.height, red.crs, red.transform
    bands = "".join(
        f'''<VRTRasterBand dataType="UInt16" band="{i}"><NoDataValue>0</NoDataValue><SimpleSource>'''
        f"""<SourceFilename relativeToVRT="0">{product.resolve() / f"{band}.tif"}</SourceFilename>"""
        f"""<SourceBand>1</SourceBand></SimpleSource></VRTRasterBand>"""
        for i, band in enumerate(("B04", "B03", "B02"), start=1)
    )
    vrt.parent.mkdir(parents=True, exist_ok=True)
    vrt.write_text(
        f'''<VRTDataset rasterXSize="{width}" rasterYSize="{height}"><SRS>{crs.to_wkt()}</SRS>'''
        f"""<GeoTransform>{", ".join(repr(v) for v in transform.to_gdal())}</GeoTransform>{bands}</VRTDataset>"""
    )


def _write_mosaicjson(titiler_python: Path, vrts: list[Path], out: Path) -> None:
    script = (
        "import json, sys\n"
        "from cogeo_mosaic.mosaic import MosaicJSON\n"
        "m = MosaicJSON.from_urls(sys.argv[2:], minzoom=7, maxzoom=14, quiet=True)\n"
        "open(sys.argv[1], 'w').write(m.model_dump_json(exclude_none=True))\n"
    )
    subprocess.run([str(titiler_python), "-c", script, str(out), *map(str, vrts)], check=True)


def _replace(path: Path, content: dict) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(content, indent=1))
    os.replace(tmp, path)
