"""GetCapabilities: the service, its operations and formats, and one layer per layer file and
collection present in the catalog, with extents in every advertised CRS and the time dimension."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from starlette.requests import Request
from starlette.responses import Response

from tiler.ogc.common import CRS_CODES, MAP_FORMATS, XLINK_NS, XSI_NS, bounds_in, northing_first, service_base
from tiler.ogc.layers import OgcLayer
from tiler.ogc.wms.featureinfo import INFO_FORMATS

WMS_NS = "http://www.opengis.net/wms"
SLD_NS = "http://www.opengis.net/sld"
ET.register_namespace("xlink", XLINK_NS)
ET.register_namespace("xsi", XSI_NS)
ET.register_namespace("sld", SLD_NS)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    node = ET.SubElement(parent, tag, attrs)
    if text is not None:
        node.text = text
    return node


def _online(parent: ET.Element, href: str) -> None:
    _sub(parent, "OnlineResource", **{f"{{{XLINK_NS}}}type": "simple", f"{{{XLINK_NS}}}href": href})


def _operation(parent: ET.Element, tag: str, formats: tuple[str, ...], href: str) -> None:
    op = _sub(parent, tag)
    for fmt in formats:
        _sub(op, "Format", fmt)
    get = _sub(_sub(_sub(op, "DCPType"), "HTTP"), "Get")
    _online(get, href)


def _fmt(value: float) -> str:
    return f"{value:.8g}"


def _bounding_boxes(node: ET.Element, version: str, bounds: tuple[float, float, float, float]) -> None:
    crs_attr = "CRS" if version == "1.3.0" else "SRS"
    for code in CRS_CODES:
        if version == "1.1.1" and code == "CRS:84":
            continue
        x0, y0, x1, y1 = bounds if code in ("CRS:84", "EPSG:4326") else bounds_in(code, *bounds)
        if version == "1.3.0" and northing_first(code):
            x0, y0, x1, y1 = y0, x0, y1, x1
        _sub(
            node,
            "BoundingBox",
            **{crs_attr: code, "minx": _fmt(x0), "miny": _fmt(y0), "maxx": _fmt(x1), "maxy": _fmt(y1)},
        )


def _geographic(node: ET.Element, version: str, bounds: tuple[float, float, float, float]) -> None:
    west, south, east, north = bounds
    if version == "1.3.0":
        box = _sub(node, "EX_GeographicBoundingBox")
        for tag, value in (
            ("westBoundLongitude", west),
            ("eastBoundLongitude", east),
            ("southBoundLatitude", south),
            ("northBoundLatitude", north),
        ):
            _sub(box, tag, _fmt(value))
    else:
        _sub(node, "LatLonBoundingBox", minx=_fmt(west), miny=_fmt(south), maxx=_fmt(east), maxy=_fmt(north))


def _time_dimension(node: ET.Element, version: str, dates: tuple[str, ...], with_default: bool) -> None:
    # The default is the whole archive: a mosaic of everything, newest on top.
    attrs = {"name": "time", "nearestValue": "0"}
    if with_default:
        attrs["default"] = f"{dates[0]}/{dates[-1]}" if len(dates) > 1 else dates[0]
    if version == "1.3.0":
        _sub(node, "Dimension", ",".join(dates), units="ISO8601", **attrs)
    else:
        _sub(node, "Extent", ",".join(dates), **attrs)


def capabilities(
    request: Request,
    layers: dict[str, OgcLayer],
    version: str,
    update_sequence: str,
    max_size: int,
    time_default: bool,
) -> Response:
    base = service_base(request)
    href = f"{base}/wms?"
    if version == "1.3.0":
        root = ET.Element(
            "WMS_Capabilities",
            {
                "version": version,
                "updateSequence": update_sequence,
                "xmlns": WMS_NS,
                f"{{{XSI_NS}}}schemaLocation": f"{WMS_NS} http://schemas.opengis.net/wms/1.3.0/capabilities_1_3_0.xsd "
                f"{SLD_NS} http://schemas.opengis.net/sld/1.1.0/sld_capabilities.xsd",
            },
        )
    else:
        root = ET.Element("WMT_MS_Capabilities", version=version, updateSequence=update_sequence)
    service = _sub(root, "Service")
    _sub(service, "Name", "WMS" if version == "1.3.0" else "OGC:WMS")
    _sub(service, "Title", "eo-tiler")
    _sub(
        service,
        "Abstract",
        "Copernicus satellite layers, one per layer and collection, mosaicked by date and cloud cover.",
    )
    _online(service, href)
    _sub(service, "Fees", "none")
    _sub(service, "AccessConstraints", "none")
    if version == "1.3.0":
        _sub(service, "MaxWidth", str(max_size))
        _sub(service, "MaxHeight", str(max_size))

    capability = _sub(root, "Capability")
    ops = _sub(capability, "Request")
    caps_format = "text/xml" if version == "1.3.0" else "application/vnd.ogc.wms_xml"
    _operation(ops, "GetCapabilities", (caps_format,), href)
    _operation(ops, "GetMap", tuple(MAP_FORMATS), href)
    _operation(ops, "GetFeatureInfo", INFO_FORMATS, href)
    _operation(ops, f"{{{SLD_NS}}}GetLegendGraphic" if version == "1.3.0" else "GetLegendGraphic", ("image/png",), href)
    exceptions = _sub(capability, "Exception")
    formats = (
        ("XML", "INIMAGE", "BLANK")
        if version == "1.3.0"
        else ("application/vnd.ogc.se_xml", "application/vnd.ogc.se_inimage", "application/vnd.ogc.se_blank")
    )
    for fmt in formats:
        _sub(exceptions, "Format", fmt)

    root_layer = _sub(capability, "Layer")
    _sub(root_layer, "Title", "eo-tiler")
    crs_tag = "CRS" if version == "1.3.0" else "SRS"
    for code in CRS_CODES:
        if version == "1.3.0" or code != "CRS:84":
            _sub(root_layer, crs_tag, code)
    all_bounds = _union([layer.bounds_wgs84 for layer in layers.values()]) or (-180.0, -90.0, 180.0, 90.0)
    _geographic(root_layer, version, all_bounds)
    if version == "1.1.1":
        _sub(root_layer, "Dimension", name="time", units="ISO8601")
    for collection in sorted({layer.collection for layer in layers.values()}):
        members = [layer for layer in layers.values() if layer.collection == collection]
        group = _sub(root_layer, "Layer")
        _sub(group, "Title", members[0].collection_title)
        _geographic(group, version, members[0].bounds_wgs84)
        for layer in members:
            node = _sub(group, "Layer", queryable="1")
            _sub(node, "Name", layer.name)
            _sub(node, "Title", layer.title)
            _sub(node, "Abstract", layer.style.description)
            _geographic(node, version, layer.bounds_wgs84)
            _bounding_boxes(node, version, layer.bounds_wgs84)
            _time_dimension(node, version, layer.dates, time_default)
            style = _sub(node, "Style")
            _sub(style, "Name", "default")
            _sub(style, "Title", layer.style.title)
            legend_node = _sub(style, "LegendURL", width="220", height="60")
            _sub(legend_node, "Format", "image/png")
            legend_href = (
                f"{href}SERVICE=WMS&REQUEST=GetLegendGraphic&VERSION={version}&FORMAT=image/png&LAYER={layer.name}"
            )
            _online(legend_node, legend_href)
    prolog = b'<?xml version="1.0" encoding="UTF-8"?>\n'
    if version == "1.1.1":
        prolog += (
            b'<!DOCTYPE WMT_MS_Capabilities SYSTEM "http://schemas.opengis.net/wms/1.1.1/WMS_MS_Capabilities.dtd">\n'
        )
    return Response(prolog + ET.tostring(root), media_type=caps_format if version == "1.1.1" else "text/xml")


def _union(boxes: list[tuple[float, float, float, float]]) -> tuple[float, float, float, float] | None:
    if not boxes:
        return None
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
