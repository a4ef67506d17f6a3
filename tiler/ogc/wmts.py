"""OGC WMTS 1.0.0 at /wmts: capabilities (KVP and RESTful) and GetTile, served by the XYZ tile
pipeline and its cache. Layers are those of the WMS; tile matrix sets come from morecantile."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from urllib.parse import urlencode

import morecantile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from renderers import ExpressionError
from tiler.api.tiles import tile
from tiler.errors import NotFound, ProductUnreadable, TilerError, Unavailable
from tiler.ogc.common import (
    IMAGE_FORMATS,
    OWS_NS,
    XLINK_NS,
    OgcLayer,
    find_layer,
    lower_keys,
    ows_exception,
    service_base,
)
from tiler.params import shared_tms

TILE_MATRIX_SETS = ("WebMercatorQuad", "WorldCRS84Quad")
WMTS_NS = "http://www.opengis.net/wmts/1.0"
ET.register_namespace("", WMTS_NS)
ET.register_namespace("ows", OWS_NS)
ET.register_namespace("xlink", XLINK_NS)
EXTENSIONS = {media: ext for media, ext in IMAGE_FORMATS.items()}


class WmtsError(Exception):
    """An OWS exception with its code and HTTP status (WMTS 1.0.0, table 28 of OWS Common 1.1)."""

    def __init__(self, message: str, code: str, status: int = 400, locator: str | None = None) -> None:
        super().__init__(message)
        self.code, self.status, self.locator = code, status, locator


def exception_report(error: WmtsError) -> Response:
    return Response(
        ows_exception(str(error), error.code, error.locator), status_code=error.status, media_type="application/xml"
    )


def _urn(uri: str) -> str:
    """morecantile's http://www.opengis.net/def/... URIs as the URNs WMTS 1.0.0 clients expect."""
    prefix = "http://www.opengis.net/def/"
    if not uri.startswith(prefix):
        return uri
    kind, authority, version, code = uri[len(prefix) :].split("/")
    return f"urn:ogc:def:{kind}:{authority}:{'' if version == '0' else version}:{code}"


def _ows(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    node = ET.SubElement(parent, f"{{{OWS_NS}}}{tag}", attrs)
    if text is not None:
        node.text = text
    return node


def _wmts(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    node = ET.SubElement(parent, f"{{{WMTS_NS}}}{tag}", attrs)
    if text is not None:
        node.text = text
    return node


def _operation(parent: ET.Element, name: str, href: str, encoding: str) -> None:
    op = _ows(parent, "Operation", name=name)
    get = _ows(_ows(_ows(op, "DCP"), "HTTP"), "Get", **{f"{{{XLINK_NS}}}href": href})
    constraint = _ows(get, "Constraint", name="GetEncoding")
    _ows(_ows(constraint, "AllowedValues"), "Value", encoding)


def interval_value(layer: OgcLayer) -> str:
    """The layer's whole time range, written with ISO 8601's `--` so it fits in a URL path segment."""
    return f"{layer.dates[0]}--{layer.dates[-1]}"


def tile_template(base: str, layer: OgcLayer, ext: str) -> str:
    return f"{base}/wmts/1.0.0/{layer.name}/default/{{Time}}/{{TileMatrixSet}}/{{TileMatrix}}/{{TileRow}}/{{TileCol}}.{ext}"


def capabilities(request: Request, layers: Mapping[str, OgcLayer]) -> Response:
    base = service_base(request)
    root = ET.Element(
        f"{{{WMTS_NS}}}Capabilities",
        {
            "version": "1.0.0",
            "{http://www.w3.org/2001/XMLSchema-instance}schemaLocation": f"{WMTS_NS} http://schemas.opengis.net/wmts/1.0/wmtsGetCapabilities_response.xsd",
        },
    )
    ident = _ows(root, "ServiceIdentification")
    _ows(ident, "Title", "eo-tiler")
    _ows(ident, "ServiceType", "OGC WMTS")
    _ows(ident, "ServiceTypeVersion", "1.0.0")
    metadata = _ows(root, "OperationsMetadata")
    for name in ("GetCapabilities", "GetTile"):
        _operation(metadata, name, f"{base}/wmts?", "KVP")
    contents = _wmts(root, "Contents")
    for layer in layers.values():
        node = _wmts(contents, "Layer")
        _ows(node, "Title", layer.title)
        _ows(node, "Abstract", layer.style.description)
        west, south, east, north = layer.bounds_wgs84
        box = _ows(node, "WGS84BoundingBox")
        _ows(box, "LowerCorner", f"{west} {south}")
        _ows(box, "UpperCorner", f"{east} {north}")
        _ows(node, "Identifier", layer.name)
        style = _wmts(node, "Style", isDefault="true")
        _ows(style, "Identifier", "default")
        for media in IMAGE_FORMATS:
            _wmts(node, "Format", media)
        dimension = _wmts(node, "Dimension")
        _ows(dimension, "Identifier", "Time")
        _ows(dimension, "UOM", "ISO8601")
        default = interval_value(layer)
        _wmts(dimension, "Default", default)
        for value in (default, *layer.dates):
            _wmts(dimension, "Value", value)
        for tms_id in TILE_MATRIX_SETS:
            _wmts(_wmts(node, "TileMatrixSetLink"), "TileMatrixSet", tms_id)
        for media, ext in EXTENSIONS.items():
            _wmts(node, "ResourceURL", format=media, resourceType="tile", template=tile_template(base, layer, ext))
    for tms_id in TILE_MATRIX_SETS:
        _tile_matrix_set(contents, shared_tms(tms_id))
    _wmts(root, "ServiceMetadataURL", **{f"{{{XLINK_NS}}}href": f"{base}/wmts/1.0.0/WMTSCapabilities.xml"})
    return Response(b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root), media_type="application/xml")


def _tile_matrix_set(parent: ET.Element, tms: morecantile.TileMatrixSet) -> None:
    node = _wmts(parent, "TileMatrixSet")
    _ows(node, "Identifier", tms.id)
    _ows(node, "SupportedCRS", _urn(tms.crs.root))
    if tms.wellKnownScaleSet:
        _wmts(node, "WellKnownScaleSet", _urn(str(tms.wellKnownScaleSet)))
    for matrix in tms.tileMatrices:
        m = _wmts(node, "TileMatrix")
        _ows(m, "Identifier", matrix.id)
        _wmts(m, "ScaleDenominator", repr(matrix.scaleDenominator))
        x, y = matrix.pointOfOrigin
        _wmts(m, "TopLeftCorner", f"{x!r} {y!r}")
        _wmts(m, "TileWidth", str(matrix.tileWidth))
        _wmts(m, "TileHeight", str(matrix.tileHeight))
        _wmts(m, "MatrixWidth", str(matrix.matrixWidth))
        _wmts(m, "MatrixHeight", str(matrix.matrixHeight))


def _tile_request(request: Request, layers: Mapping[str, OgcLayer], params: Mapping[str, str]) -> Request:
    """The XYZ tile request that draws this GetTile: same pipeline, same cache."""
    layer = find_layer(layers, params.get("layer", ""))
    if layer is None:
        raise WmtsError(
            f"layer '{params.get('layer', '')[:80]}' is not defined", "InvalidParameterValue", locator="LAYER"
        )
    if params.get("style", "default") not in ("", "default"):
        raise WmtsError(f"style '{params['style'][:40]}' is not defined", "InvalidParameterValue", locator="STYLE")
    ext = EXTENSIONS.get(params.get("format", "image/png"))
    if ext is None:
        raise WmtsError(
            f"format '{params.get('format', '')[:40]}' is not offered", "InvalidParameterValue", locator="FORMAT"
        )
    tms_id = params.get("tilematrixset", "")
    if tms_id not in TILE_MATRIX_SETS:
        raise WmtsError(
            f"tile matrix set '{tms_id[:40]}' is not offered", "InvalidParameterValue", locator="TILEMATRIXSET"
        )
    tms = shared_tms(tms_id)
    try:
        z, row, col = int(params.get("tilematrix", "")), int(params.get("tilerow", "")), int(params.get("tilecol", ""))
    except ValueError:
        raise WmtsError("TILEMATRIX, TILEROW and TILECOL must be integers", "MissingParameterValue") from None
    if not tms.minzoom <= z <= tms.maxzoom:
        raise WmtsError(f"tile matrix {z} is not in {tms_id}", "TileOutOfRange", locator="TILEMATRIX")
    matrix = tms.matrix(z)
    if not 0 <= row < matrix.matrixHeight:
        raise WmtsError(f"row {row} is outside tile matrix {z}", "TileOutOfRange", locator="TILEROW")
    if not 0 <= col < matrix.matrixWidth:
        raise WmtsError(f"column {col} is outside tile matrix {z}", "TileOutOfRange", locator="TILECOL")
    time = params.get("time", "")
    query = {"layer": layer.style.name, "tms": tms_id, "collection": layer.collection}
    query["time"] = interval_value(layer).replace("--", "/") if time in ("", "default") else time.replace("--", "/")
    for vendor in ("maxcc", "priority", "cloudmask", "product", "expression", "rescale", "colormap", "key"):
        if params.get(vendor):
            query[vendor] = params[vendor]
    if "product" in query:
        del query["collection"], query["time"]
    scope = dict(request.scope)
    scope["query_string"] = urlencode(query).encode()
    scope["path_params"] = {"z": z, "x": col, "y": row, "ext": ext}
    return Request(scope, request.receive)


def wmts(request: Request) -> Response:
    """KVP: GetCapabilities and GetTile."""
    params = lower_keys(request.query_params.multi_items())
    operation = params.get("request", "").lower()
    try:
        if params.get("service", "WMTS").upper() != "WMTS":
            raise WmtsError("SERVICE must be WMTS", "InvalidParameterValue", locator="SERVICE")
        if operation == "getcapabilities":
            return capabilities(request, _layers(request))
        if operation == "gettile":
            if params.get("version", "1.0.0") != "1.0.0":
                raise WmtsError("VERSION must be 1.0.0", "InvalidParameterValue", locator="VERSION")
            return _get_tile(request, params)
        if not operation:
            raise WmtsError(
                "REQUEST is required: GetCapabilities or GetTile", "MissingParameterValue", locator="REQUEST"
            )
        raise WmtsError(f"REQUEST '{operation[:40]}' is not supported", "OperationNotSupported", 501, "REQUEST")
    except WmtsError as error:
        return exception_report(error)


def wmts_capabilities(request: Request) -> Response:
    """RESTful: /wmts/1.0.0/WMTSCapabilities.xml."""
    return capabilities(request, _layers(request))


def wmts_tile(request: Request) -> Response:
    """RESTful: /wmts/1.0.0/{layer}/{style}/{time}/{tms}/{z}/{row}/{col}.{ext}."""
    path = request.path_params
    media = next((m for m, e in EXTENSIONS.items() if e == path["ext"]), "")
    params = {
        **lower_keys(request.query_params.multi_items()),
        "layer": path["layer"], "style": path["style"], "time": path["time"], "format": media,
        "tilematrixset": path["tms"], "tilematrix": path["z"], "tilerow": path["row"], "tilecol": path["col"],
    }  # fmt: skip
    try:
        return _get_tile(request, params)
    except WmtsError as error:
        return exception_report(error)


def _get_tile(request: Request, params: Mapping[str, str]) -> Response:
    try:
        return tile(_tile_request(request, _layers(request), params))
    except Unavailable as exc:
        raise WmtsError(str(exc), "NoApplicableCode", 503) from None
    except ProductUnreadable:
        raise WmtsError("a product could not be read; see the server log", "NoApplicableCode", 500) from None
    except NotFound as exc:
        raise WmtsError(str(exc), "InvalidParameterValue", 404) from None
    except (TilerError, ExpressionError) as exc:
        raise WmtsError(str(exc), "InvalidParameterValue") from None


def _layers(request: Request) -> dict[str, OgcLayer]:
    services = request.app.state.services
    return services.ogc_layers.get(services.index, services.layers)


routes = [
    Route("/wmts", wmts),
    Route("/wmts/1.0.0/WMTSCapabilities.xml", wmts_capabilities),
    Route("/wmts/1.0.0/{layer}/{style}/{time}/{tms}/{z}/{row}/{col}.{ext}", wmts_tile),
]
