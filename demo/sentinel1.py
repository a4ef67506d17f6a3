"""Synthetic Sentinel-1 GRD products for the demo archive, over the same landscape as the
Sentinel-2 products (`demo.generate_archive` calls `write_products`):

1. A descending IW DV product in AWS's `sentinel-s1-l1c` layout (`productInfo.json`,
   `measurement/iw-vv.tiff`, `iw-vh.tiff`), without calibration XML: DN = 700 * sqrt(gamma0), the
   collection's display scaling, so it shows as it would calibrated but says it is not.
2. An ascending IW DV product as an ESA SAFE (`manifest.safe`, measurement TIFFs, annotation and
   `calibration-*.xml` with sigmaNought, betaNought and gamma LUTs): DN = A * sqrt(gamma0), A the
   gamma LUT, so calibration gives the generated gamma0 back.

Like the real files, the measurement TIFFs have no geotransform: a grid of 10 x 21 GCPs in
EPSG:4326 places them. Lines run along the track (southwards on a descending pass, northwards on
an ascending one), pixels away from it (westwards, eastwards: the radar looks right). The image is
a rotated rectangle of 10 m pixels; each pixel shows the landscape's class at its ground position
as a backscatter typical of the class, with multiplicative speckle (gamma distributed, 4.4 looks,
as GRDH), and DN 0 in a no-data strip along the far range edge, as at a real swath's edge.
Output is byte-for-byte reproducible for a given size.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import rasterio
from pyproj import Transformer
from rasterio.control import GroundControlPoint
from rasterio.crs import CRS
from rasterio.enums import Resampling

from tiler.collections import builtin_collections

COLLECTION = builtin_collections()["sentinel-1-grd"]
PIXEL = 10.0  # metres
_LOOKS = 4.4  # GRDH's equivalent number of looks
_GCP_LINES, _GCP_SAMPLES = 10, 21
# Typical gamma0 (dB) of each demo ground class (WATER, FOREST, CROP, GRASS, SOIL, URBAN), VV and VH;
# calm water is dark in VH, near the noise floor (VV / VH over 25: EO Browser paints it blue).
_VV_DB = np.array([-21.0, -7.5, -10.0, -11.0, -12.5, -3.0], dtype=np.float32)
_VH_DB = np.array([-36.0, -13.0, -16.5, -17.5, -20.0, -9.5], dtype=np.float32)
# The uncalibrated product's DN = amplitude * sqrt(gamma0): the collection's display scaling.
_UNCALIBRATED_AMPLITUDE = 1 / math.sqrt(COLLECTION.bands["VV"].scale)

Landscape = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (lon, lat) -> ground class


@dataclass(frozen=True)
class Pass:
    key: str
    mission: str  # S1A, S1B
    start: datetime
    orbit: int  # absolute
    datatake: int
    heading: float  # degrees clockwise from north of the along-track direction
    centre: tuple[float, float]  # lon, lat of the image centre
    lines: int
    samples: int
    layout: str  # "sentinel-s1-l1c" or "safe"
    seed: int
    mode: str = "IW"  # IW, EW, or an SM beam S1..S6
    dual: str = "DV"  # DV (VV and VH) or DH (HH and HV)

    @property
    def polarisations(self) -> tuple[str, str]:
        return ("VV", "VH") if self.dual == "DV" else ("HH", "HV")

    @property
    def stop(self) -> datetime:
        return self.start + timedelta(seconds=25)

    @property
    def orbit_state(self) -> str:
        return "descending" if 90 < self.heading % 360 < 270 else "ascending"

    @property
    def name(self) -> str:
        crc = f"{(self.seed * 2654435761) % 65536:04X}"
        return (
            f"{self.mission}_{self.mode}_GRD{'M' if self.mode == 'EW' else 'H'}_1S{self.dual}"
            f"_{self.start:%Y%m%dT%H%M%S}_{self.stop:%Y%m%dT%H%M%S}"
            f"_{self.orbit:06d}_{self.datatake:06X}_{crc}"
        )

    def stem(self, polarisation: str) -> str:
        """The measurement file's stem: ESA's in a SAFE, AWS's short one otherwise."""
        if self.layout != "safe":
            return f"{self.mode.lower()}-{polarisation.lower()}"
        number = "001" if polarisation == self.polarisations[0] else "002"
        return (
            f"{self.mission.lower()}-{self.mode.lower()}-grd-{polarisation.lower()}-{self.start:%Y%m%dt%H%M%S}-{self.stop:%Y%m%dt%H%M%S}"
            f"-{self.orbit:06d}-{self.datatake:06x}-{number}"
        )

    def relpath(self) -> Path:
        d = self.start
        if self.layout == "safe":
            return Path("Sentinel-1") / "SAR" / "GRD" / f"{d:%Y}" / f"{d:%m}" / f"{d:%d}" / f"{self.name}.SAFE"
        return (
            Path("sentinel-s1-l1c")
            / "GRD"
            / str(d.year)
            / str(d.month)
            / str(d.day)
            / self.mode
            / self.dual
            / self.name
        )


def passes(size: int, centre: tuple[float, float]) -> list[Pass]:
    """The two demo passes, over `centre` (lon, lat), each about 1.8 x 1.4 Sentinel-2 demo
    products (`size` 10 m pixels wide) large."""
    lines, samples = round(1.4 * size), round(1.8 * size)
    lon, lat = centre
    return [
        Pass("s1-desc", "S1B", datetime(2020, 9, 20, 5, 30, 25, tzinfo=UTC), 23467, 0x02C9A1, 192.0,
             (lon, lat), lines, samples, "sentinel-s1-l1c", 920),
        Pass("s1-asc", "S1A", datetime(2020, 9, 22, 17, 15, 12, tzinfo=UTC), 34468, 0x040290, -12.0,
             (lon + 0.004, lat - 0.003), lines, samples, "safe", 922),
    ]  # fmt: skip


class _Geometry:
    """Pixel coordinates (GDAL's: 0, 0 is the first pixel's outer corner) to lon/lat, exactly."""

    def __init__(self, p: Pass) -> None:
        lon, lat = p.centre
        self._to_lonlat = Transformer.from_crs(
            CRS.from_proj4(f"+proj=aeqd +lat_0={lat} +lon_0={lon} +datum=WGS84 +units=m"), "EPSG:4326", always_xy=True
        )
        h = math.radians(p.heading)
        self._along = np.array([math.sin(h), math.cos(h)]) * PIXEL  # east, north per line
        self._across = np.array([math.cos(h), -math.sin(h)]) * PIXEL  # per pixel: to the right
        self._half = np.array([p.lines / 2, p.samples / 2])

    def lonlat(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r, c = rows - self._half[0], cols - self._half[1]
        x = r * self._along[0] + c * self._across[0]
        y = r * self._along[1] + c * self._across[1]
        return self._to_lonlat.transform(x, y)


def _gamma_lut(p: Pass, lines: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """The SAFE product's gamma LUT: bilinear in (line, pixel), so interpolating it is exact."""
    return 560.0 + 140.0 * (1 - pixels[None, :] / p.samples) + 12.0 * (lines[:, None] / p.lines)


def _backscatter(p: Pass, landscape: Landscape) -> dict[str, np.ndarray]:
    """gamma0 (linear) of VV and VH at every pixel, and the no-data strip (False)."""
    geometry = _Geometry(p)
    rows, cols = np.meshgrid(np.arange(p.lines) + 0.5, np.arange(p.samples) + 0.5, indexing="ij")
    lon, lat = geometry.lonlat(rows, cols)
    ground = landscape(np.asarray(lon), np.asarray(lat))
    rng = np.random.default_rng(p.seed)
    out = {}
    for polarisation, table in (("VV", _VV_DB), ("VH", _VH_DB)):
        speckle = rng.gamma(_LOOKS, 1 / _LOOKS, size=ground.shape).astype(np.float32)
        out[polarisation] = np.power(10.0, table[ground] / 10).astype(np.float32) * speckle
    # The far range edge: a strip without data, a few pixels wide and wandering along the track.
    edge = p.samples - 3 - (2 + 2 * np.sin(rows[:, :1] / 17.0))
    out["valid"] = cols < edge
    return out


def _gcps(p: Pass) -> list[GroundControlPoint]:
    geometry = _Geometry(p)
    rows = np.linspace(0, p.lines, _GCP_LINES)
    cols = np.linspace(0, p.samples, _GCP_SAMPLES)
    grid_rows, grid_cols = np.meshgrid(rows, cols, indexing="ij")
    lon, lat = geometry.lonlat(grid_rows.ravel(), grid_cols.ravel())
    return [
        GroundControlPoint(row=float(r), col=float(c), x=float(x), y=float(y), z=0.0, id=str(i + 1))
        for i, (r, c, x, y) in enumerate(zip(grid_rows.ravel(), grid_cols.ravel(), lon, lat, strict=True))
    ]


def _write_measurement(path: Path, dn: np.ndarray, gcps: list[GroundControlPoint]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {
        "driver": "GTiff", "width": dn.shape[1], "height": dn.shape[0], "count": 1, "dtype": "uint16",
        "tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "deflate",
        "gcps": gcps, "crs": CRS.from_epsg(4326),
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(dn, 1)
        dst.update_tags(TIFFTAG_IMAGEDESCRIPTION="Sentinel-1 IW GRD HR L1 (eo-tiler demo, synthetic)")
        dst.update_tags(TIFFTAG_SOFTWARE="Sentinel-1 IPF 003.20")
        levels = [f for f in (2, 4, 8) if min(dn.shape) // f >= 16]
        if levels:
            dst.build_overviews(levels, Resampling.average)


def _footprint(p: Pass) -> list[list[float]]:
    geometry = _Geometry(p)
    rows = np.array([0, 0, p.lines, p.lines, 0], dtype=float)
    cols = np.array([0, p.samples, p.samples, 0, 0], dtype=float)
    lon, lat = geometry.lonlat(rows, cols)
    return [[float(x), float(y)] for x, y in zip(lon, lat, strict=True)]


def _product_info(p: Pass) -> dict:
    return {
        "id": p.name,
        "path": p.relpath().relative_to("sentinel-s1-l1c").as_posix(),
        "missionId": p.mission,
        "productType": "GRD",
        "resolution": "H",
        "mode": p.mode,
        "polarization": p.dual,
        "startTime": f"{p.start:%Y-%m-%dT%H:%M:%S}",
        "stopTime": f"{p.stop:%Y-%m-%dT%H:%M:%S}",
        "absoluteOrbitNumber": p.orbit,
        "missionDataTakeId": p.datatake,
        "footprint": {"type": "Polygon", "coordinates": [_footprint(p)]},
        "filenameMap": {
            f"measurement/{p.stem(pol)}.tiff": f"measurement/{p.stem(pol)}.tiff" for pol in p.polarisations
        },
    }


def relative_orbit(p: Pass) -> int:
    return (p.orbit - {"S1A": 73, "S1B": 27}[p.mission]) % 175 + 1


def _manifest(p: Pass) -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<xfdu:XFDU xmlns:xfdu="urn:ccsds:schema:xfdu:1" xmlns:safe="http://www.esa.int/safe/sentinel-1.0"
    xmlns:s1="http://www.esa.int/safe/sentinel-1.0/sentinel-1"
    xmlns:s1sarl1="http://www.esa.int/safe/sentinel-1.0/sentinel-1/sar/level-1" version="esa/safe/sentinel-1.0/sentinel-1/sar/level-1/standard/grdh">
  <metadataSection>
    <metadataObject ID="processing"><metadataWrap><xmlData>
      <safe:processing name="SLC Post Processing"><safe:facility name="Copernicus S1 Core Ground Segment - DPA">
        <safe:software name="Sentinel-1 IPF" version="003.20"/>
      </safe:facility></safe:processing>
    </xmlData></metadataWrap></metadataObject>
    <metadataObject ID="platform"><metadataWrap><xmlData>
      <safe:platform>
        <safe:nssdcIdentifier>2014-016A</safe:nssdcIdentifier>
        <safe:familyName>SENTINEL-1</safe:familyName>
        <safe:number>{p.mission[-1]}</safe:number>
        <safe:instrument><safe:familyName abbreviation="SAR">Synthetic Aperture Radar</safe:familyName>
          <safe:extension><s1sarl1:instrumentMode><s1sarl1:mode>{p.mode}</s1sarl1:mode></s1sarl1:instrumentMode></safe:extension>
        </safe:instrument>
      </safe:platform>
    </xmlData></metadataWrap></metadataObject>
    <metadataObject ID="measurementOrbitReference"><metadataWrap><xmlData>
      <safe:orbitReference>
        <safe:orbitNumber type="start">{p.orbit}</safe:orbitNumber>
        <safe:orbitNumber type="stop">{p.orbit}</safe:orbitNumber>
        <safe:relativeOrbitNumber type="start">{relative_orbit(p)}</safe:relativeOrbitNumber>
        <safe:relativeOrbitNumber type="stop">{relative_orbit(p)}</safe:relativeOrbitNumber>
        <safe:extension><s1:orbitProperties><s1:pass>{p.orbit_state.upper()}</s1:pass></s1:orbitProperties></safe:extension>
      </safe:orbitReference>
    </xmlData></metadataWrap></metadataObject>
    <metadataObject ID="acquisitionPeriod"><metadataWrap><xmlData>
      <safe:acquisitionPeriod>
        <safe:startTime>{p.start:%Y-%m-%dT%H:%M:%S}.000000</safe:startTime>
        <safe:stopTime>{p.stop:%Y-%m-%dT%H:%M:%S}.000000</safe:stopTime>
      </safe:acquisitionPeriod>
    </xmlData></metadataWrap></metadataObject>
    <metadataObject ID="generalProductInformation"><metadataWrap><xmlData>
      <s1sarl1:standAloneProductInformation>
        <s1sarl1:productClass>S</s1sarl1:productClass>
        <s1sarl1:productType>GRD</s1sarl1:productType>
        <s1sarl1:transmitterReceiverPolarisation>{p.polarisations[0]}</s1sarl1:transmitterReceiverPolarisation>
        <s1sarl1:transmitterReceiverPolarisation>{p.polarisations[1]}</s1sarl1:transmitterReceiverPolarisation>
      </s1sarl1:standAloneProductInformation>
    </xmlData></metadataWrap></metadataObject>
  </metadataSection>
</xfdu:XFDU>
"""


def _annotation(p: Pass, polarisation: str) -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<product>
  <adsHeader><missionId>{p.mission}</missionId><productType>GRD</productType><polarisation>{polarisation}</polarisation>
    <mode>{p.mode}</mode><swath>{p.mode}</swath><startTime>{p.start:%Y-%m-%dT%H:%M:%S}.000000</startTime></adsHeader>
  <generalAnnotation><productInformation><pass>{p.orbit_state.capitalize()}</pass></productInformation></generalAnnotation>
  <imageAnnotation><imageInformation>
    <rangePixelSpacing>{PIXEL:.6e}</rangePixelSpacing><azimuthPixelSpacing>{PIXEL:.6e}</azimuthPixelSpacing>
    <numberOfSamples>{p.samples}</numberOfSamples><numberOfLines>{p.lines}</numberOfLines>
  </imageInformation></imageAnnotation>
</product>
"""


def _lut_grid(p: Pass) -> tuple[np.ndarray, np.ndarray]:
    lines = np.unique(np.linspace(0, p.lines - 1, 8).round()).astype(int)
    pixels = np.unique(np.append(np.arange(0, p.samples, 40), p.samples - 1)).astype(int)
    return lines, pixels


def _calibration(p: Pass, polarisation: str) -> str:
    lines, pixels = _lut_grid(p)
    gamma = _gamma_lut(p, lines.astype(float), pixels.astype(float))
    vectors = []
    for i, line in enumerate(lines):
        time = p.start + timedelta(seconds=25 * line / p.lines)

        def values(row: np.ndarray) -> str:
            return " ".join(f"{v:.6e}" for v in row)

        vectors.append(
            f"""    <calibrationVector>
      <azimuthTime>{time:%Y-%m-%dT%H:%M:%S.%f}</azimuthTime>
      <line>{line}</line>
      <pixel count="{len(pixels)}">{" ".join(map(str, pixels))}</pixel>
      <sigmaNought count="{len(pixels)}">{values(gamma[i] * 1.08)}</sigmaNought>
      <betaNought count="{len(pixels)}">{values(np.full(len(pixels), 474.0))}</betaNought>
      <gamma count="{len(pixels)}">{values(gamma[i])}</gamma>
      <dn count="{len(pixels)}">{values(np.full(len(pixels), 474.0))}</dn>
    </calibrationVector>"""
        )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<calibration>
  <adsHeader><missionId>{p.mission}</missionId><productType>GRD</productType><polarisation>{polarisation}</polarisation>
    <mode>{p.mode}</mode><swath>{p.mode}</swath></adsHeader>
  <calibrationInformation><absoluteCalibrationConstant>1.000000e+00</absoluteCalibrationConstant></calibrationInformation>
  <calibrationVectorList count="{len(lines)}">
{chr(10).join(vectors)}
  </calibrationVectorList>
</calibration>
"""


def write_product(p: Pass, out: Path, landscape: Landscape) -> None:
    """One pass's product into the folder `out` (created)."""
    values = _backscatter(p, landscape)
    if p.layout == "safe":
        lines, pixels = np.arange(p.lines, dtype=float), np.arange(p.samples, dtype=float)
        amplitude = _gamma_lut(p, lines, pixels)
    else:
        amplitude = np.full((p.lines, p.samples), _UNCALIBRATED_AMPLITUDE)
    gcps = _gcps(p)
    for polarisation, like in zip(p.polarisations, ("VV", "VH"), strict=True):  # HH, HV drawn as VV, VH
        dn = np.clip(np.rint(amplitude * np.sqrt(values[like])), 1, 65535).astype(np.uint16)
        dn[~values["valid"]] = 0
        _write_measurement(out / "measurement" / f"{p.stem(polarisation)}.tiff", dn, gcps)
        if p.layout == "safe":
            (out / "annotation" / "calibration").mkdir(parents=True, exist_ok=True)
            (out / "annotation" / f"{p.stem(polarisation)}.xml").write_text(_annotation(p, polarisation))
            (out / "annotation" / "calibration" / f"calibration-{p.stem(polarisation)}.xml").write_text(
                _calibration(p, polarisation)
            )
    if p.layout == "safe":
        (out / "manifest.safe").write_text(_manifest(p))
    else:
        (out / "productInfo.json").write_text(json.dumps(_product_info(p), indent=1))


def bounds(p: Pass) -> tuple[float, float, float, float]:
    """West, south, east, north of the product's GCPs."""
    lon, lat = zip(*((g.x, g.y) for g in _gcps(p)), strict=True)
    return min(lon), min(lat), max(lon), max(lat)
