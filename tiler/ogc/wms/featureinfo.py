"""GetFeatureInfo: the values under one map pixel, for every product in each queried layer's stack:
its bands (physical values, with their units: a DEM's height in metres), the layer's value (an
evalscript's: its default output, as the script returns it), the class of its class bands (its code
as users know it, such as CORINE's three-digit CLC code, the raster value that stands for it, such as
CORINE's grid code, and its name) and the flags set in its bit-flag bands (code and flag names)."""

from __future__ import annotations

import html
import json
import math
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from dataclasses import replace

from rasterio.warp import transform
from starlette.responses import Response

from renderers import RenderSpec, evaluate_values
from tiler import params
from tiler.crs import clip_to_domain
from tiler.errors import InvalidFormat, InvalidPoint, LayerNotDefined, LayerNotQueryable
from tiler.http.observability import StageTimer
from tiler.ogc.common import rasterio_code, to_rasterio
from tiler.ogc.layers import OgcLayer, find_layer
from tiler.ogc.wms.getmap import layer_source, layer_styling
from tiler.ogc.wms.request import MapRequest
from tiler.pipeline import ProductSource, products_for
from tiler.pipeline.scripts import evaluate_script
from tiler.reading import read_part
from tiler.services import Services

INFO_FORMATS = ("text/plain", "application/json", "text/html", "text/xml")


def _point_stacks(
    services: Services, req: MapRequest, i: int, j: int, stages: StageTimer
) -> Iterator[tuple[OgcLayer, list[dict], tuple[float, float]]]:
    """For each queried layer, every product in the stack at pixel (i, j) with its values there."""
    x = req.bbox[0] + (i + 0.5) * (req.bbox[2] - req.bbox[0]) / req.width
    y = req.bbox[3] - (j + 0.5) * (req.bbox[3] - req.bbox[1]) / req.height
    half_x = (req.bbox[2] - req.bbox[0]) / req.width / 2
    half_y = (req.bbox[3] - req.bbox[1]) / req.height / 2
    pixel = (x - half_x, y - half_y, x + half_x, y + half_y)
    crs = to_rasterio(req.crs_code)
    if clip_to_domain(pixel, rasterio_code(req.crs_code)) is None:  # outside the CRS: nothing there
        for layer in req.layers:
            yield layer, [], (math.nan, math.nan)
        return
    lon, lat = (c[0] for c in transform(crs, "EPSG:4326", [x], [y]))
    point_area = (lon - 1e-9, lat - 1e-9, lon + 1e-9, lat + 1e-9)
    for layer in req.layers:
        collection = services.collection(layer.collection)
        source = layer_source(services, req, layer)
        entries = []
        for product in products_for(services, source, point_area, stages):
            if not isinstance(source, ProductSource) and not layer.style.bands <= product.bands.keys():
                continue  # a mosaic's product without the layer's bands (VH alone under a VV layer)
            style = layer_styling(services, req, layer, ProductSource(product))
            bands = sorted(set(product.bands) | set(style.bands))
            with stages.stage("read"):
                stack = read_part(
                    product, bands, pixel, crs, 1, 1, gdal_options=services.settings.gdal, datasets=services.datasets
                )
            if not stack.valid[0, 0]:
                continue
            classes = [name for name in bands if product.bands[name].is_class]
            values = {b: round(float(stack.arrays[b][0, 0]), 5) for b in bands if b not in classes}
            if isinstance(style.spec, RenderSpec):
                evaluated = evaluate_values(style.spec, stack.arrays, stack.valid)
            else:
                timeout = services.settings.render_timeout
                evaluated = list(evaluate_script(style.spec, stack, collection, timeout, product))
            layer_values = [float(v[0, 0]) for v in evaluated]
            units = {b: collection.bands[b].unit for b in values if b in collection.bands and collection.bands[b].unit}
            entry: dict = {
                "product": product.id,
                "datetime": product.datetime.isoformat().replace("+00:00", "Z"),
                "cloud_cover": product.cloud_cover,
                "bands": values,
                "value": [round(v, 5) if math.isfinite(v) else None for v in layer_values],
            }
            if units:
                entry["units"] = units
            for name in classes:
                value = int(stack.arrays[name][0, 0])
                band = collection.bands.get(name)
                if band is not None and band.is_bits:
                    entry[name.lower()] = {"code": value, "flags": band.flag_labels(value)}
                    continue
                found = band.class_entry(value) if band is not None else None
                code: int | str = value
                if found is not None and found.code:
                    code = int(found.code) if found.code.isdigit() else found.code
                entry[name.lower()] = {"class": code, "value": value, "name": found.label if found else "unknown"}
            entries.append(entry)
        yield layer, entries, (lon, lat)


def get_feature_info(
    services: Services,
    query: Mapping[str, str],
    req: MapRequest,
    layers: Mapping[str, OgcLayer],
    stages: StageTimer,
) -> Response:
    requested = {layer.name for layer in req.layers}
    queried = []
    default = services.collections.default.id
    for name in params.required(query, "query_layers", "QUERY_LAYERS").split(","):
        layer = find_layer(layers, name.strip(), default)
        if layer is None:
            raise LayerNotDefined(f"layer '{name[:80]}' is not defined", "QUERY_LAYERS")
        if layer.name not in requested:
            raise LayerNotQueryable(f"layer '{name[:80]}' is not among LAYERS, so it cannot be queried", "QUERY_LAYERS")
        queried.append(layer)
    info_format = params.required(query, "info_format", "INFO_FORMAT")
    if info_format not in INFO_FORMATS:
        raise InvalidFormat(
            f"INFO_FORMAT '{info_format[:40]}' is not offered; use {', '.join(INFO_FORMATS)}", "INFO_FORMAT"
        )
    i_key, j_key = ("i", "j") if req.version == "1.3.0" else ("x", "y")
    i, j = params.integer(query, i_key, label=i_key.upper()), params.integer(query, j_key, label=j_key.upper())
    if not (0 <= i < req.width and 0 <= j < req.height):
        raise InvalidPoint(
            f"{i_key.upper()}/{j_key.upper()} ({i}, {j}) lies outside the {req.width}x{req.height} map", i_key.upper()
        )
    feature_count = int(params.number(query, "feature_count", 50, label="FEATURE_COUNT"))
    results = [
        {
            "layer": layer.name,
            "lon": round(lon, 7) if math.isfinite(lon) else None,
            "lat": round(lat, 7) if math.isfinite(lat) else None,
            "products": entries[: max(feature_count, 1)],
        }
        for layer, entries, (lon, lat) in _point_stacks(services, replace(req, layers=tuple(queried)), i, j, stages)
    ]
    return Response(_format_info(results, info_format), media_type=info_format)


def _classes(entry: dict) -> list[tuple[str, dict]]:
    return [(key, value) for key, value in entry.items() if isinstance(value, dict) and "class" in value]


def _flags(entry: dict) -> list[tuple[str, dict]]:
    return [(key, value) for key, value in entry.items() if isinstance(value, dict) and "flags" in value]


def _format_info(results: list[dict], info_format: str) -> str:
    if info_format == "application/json":
        return json.dumps({"type": "FeatureInfo", "layers": results}, indent=1)
    if info_format == "text/xml":
        root = ET.Element("FeatureInfoResponse")
        for result in results:
            layer = ET.SubElement(root, "Layer", name=result["layer"], lon=str(result["lon"]), lat=str(result["lat"]))
            for entry in result["products"]:
                node = ET.SubElement(layer, "Product", id=entry["product"], datetime=entry["datetime"])
                for band, value in entry["bands"].items():
                    unit = {"unit": entry["units"][band]} if band in entry.get("units", {}) else {}
                    ET.SubElement(node, "Band", name=band, **unit).text = str(value)
                ET.SubElement(node, "Value").text = ",".join(str(v) for v in entry["value"])
                for key, cls in _classes(entry):
                    attrs = {"class": str(cls["class"]), "value": str(cls["value"])}
                    ET.SubElement(node, key.upper(), attrs).text = cls["name"]
                for key, bits in _flags(entry):
                    ET.SubElement(node, key.upper(), {"code": str(bits["code"])}).text = ", ".join(bits["flags"])
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
    lines = []
    for result in results:
        lines.append(f"Layer {result['layer']} at lon {result['lon']}, lat {result['lat']}")
        if not result["products"]:
            lines.append("  no data here")
        for entry in result["products"]:
            lines.append(f"  {entry['datetime'][:10]} {entry['product']}")
            lines.append("    value: " + ", ".join(str(v) for v in entry["value"]))
            for key, cls in _classes(entry):
                raster = f" (raster value {cls['value']})" if cls["value"] != cls["class"] else ""
                lines.append(f"    {key.upper()}: {cls['class']} {cls['name']}{raster}")
            for key, bits in _flags(entry):
                lines.append(f"    {key.upper()}: {bits['code']} {', '.join(bits['flags']) or 'no flag set'}")
            units = entry.get("units", {})
            lines.append(
                "    " + " ".join(f"{b}={v}{' ' + units[b] if b in units else ''}" for b, v in entry["bands"].items())
            )
    if info_format == "text/html":
        return "<html><body><pre>" + html.escape("\n".join(lines)) + "</pre></body></html>"
    return "\n".join(lines) + "\n"
