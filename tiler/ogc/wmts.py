"""OGC WMTS 1.0.0 at /wmts: capabilities (KVP and RESTful) and GetTile. A GetTile is parsed into
the same `RenderJob` as the XYZ tile it equals (`tiler.api.tiles.tile_job`), so both share the
pipeline and its cache. Layers are those of the WMS; tile matrix sets come from morecantile."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping

import morecantile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tiler import params
from tiler.api.tiles import tile_job
from tiler.errors import (
    InvalidFormat,
    InvalidParameter,
    LayerNotDefined,
    MissingParameter,
    OperationNotSupported,
    StyleNotDefined,
)
from tiler.http.errors import OWS_NS, WMTS, error_response
from tiler.http.responses import image_response
from tiler.ogc.common import IMAGE_FORMATS, XLINK_NS, lower_keys, service_base
from tiler.ogc.layers import OgcLayer, find_layer, layer_product
from tiler.pipeline import MosaicSource, ProductSource, Source, render_image
from tiler.services import Services, services

TILE_MATRIX_SETS = ("WebMercatorQuad", "WorldCRS84Quad")
WMTS_NS = "http://www.opengis.net/wmts/1.0"
ET.register_namespace("", WMTS_NS)
ET.register_namespace("ows", OWS_NS)
ET.register_namespace("xlink", XLINK_NS)
EXTENSIONS = {media: ext for media, ext in IMAGE_FORMATS.items()}


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
        _tile_matrix_set(contents, params.shared_tms(tms_id))
    _wmts(root, "ServiceMetadataURL", **{f"{{{XLINK_NS}}}href": f"{base}/wmts/1.0.0/WMTSCapabilities.xml"})
    return Response(b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root), media_type="application/xml")


def _tile_matrix_set(parent: ET.Element, tms: morecantile.TileMatrixSet) -> None:
    node = _wmts(parent, "TileMatrixSet")
    _ows(node, "Identifier", tms.id)
    _ows(node, "SupportedCRS", _urn(str(tms.crs.root)))
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


def _layers(svc: Services) -> dict[str, OgcLayer]:
    return svc.ogc_layers.get(svc.catalog, svc.layers, svc.collections)


def _get_tile(request: Request, query: Mapping[str, str]) -> Response:
    """A GetTile as the XYZ tile it equals: same job, same pipeline, same cache."""
    svc = services(request)
    stages = request.state.stages
    with stages.stage("resolve"):
        layer = find_layer(_layers(svc), query.get("layer", ""), svc.collections.default.id)
        if layer is None:
            raise LayerNotDefined(f"layer '{query.get('layer', '')[:80]}' is not defined", "LAYER")
        if query.get("style", "default") not in ("", "default"):
            raise StyleNotDefined(f"style '{query['style'][:40]}' is not defined", "STYLE")
        ext = EXTENSIONS.get(query.get("format", "image/png"))
        if ext is None:
            raise InvalidFormat(f"format '{query.get('format', '')[:40]}' is not offered", "FORMAT")
        tms_id = query.get("tilematrixset", "")
        if tms_id not in TILE_MATRIX_SETS:
            raise InvalidParameter(f"tile matrix set '{tms_id[:40]}' is not offered", "TILEMATRIXSET")
        try:
            z, row, col = int(query.get("tilematrix", "")), int(query.get("tilerow", "")), int(query.get("tilecol", ""))
        except ValueError:
            raise MissingParameter("TILEMATRIX, TILEROW and TILECOL must be integers", "TILEMATRIX") from None
        address = params.tile_address(params.shared_tms(tms_id), z, col, row)
        source = _source(svc, layer, query)
        collection = svc.collection(layer.collection)
        bands = source.product.bands.keys() if isinstance(source, ProductSource) else collection.bands.keys()
        subject = f"product {source.product.id}" if isinstance(source, ProductSource) else f"a {collection.id} mosaic"
        style_query = {
            "layer": layer.style.name,
            **{k: query[k] for k in ("expression", "rescale", "colormap", "evalscript") if query.get(k)},
        }
        styling = params.styling(style_query, bands, collection, subject, svc.layers, svc.settings, svc.evalscripts)
    image, hit = render_image(svc, tile_job(source, styling, address, ext), stages)
    return image_response(request, image, hit, svc.settings.cache_max_age)


def _source(svc: Services, layer: OgcLayer, query: Mapping[str, str]) -> Source:
    """PRODUCT= draws one product; otherwise the layer's collection over TIME (default: all of it)."""
    if query.get("product"):
        return ProductSource(layer_product(svc.catalog, layer, query["product"]))
    time = query.get("time", "")
    mosaic = {
        "collection": layer.collection,
        "time": interval_value(layer).replace("--", "/") if time in ("", "default") else time.replace("--", "/"),
        **{k: query[k] for k in ("maxcc", "priority", "cloudmask", *params.PROPERTY_FILTERS) if query.get(k)},
    }
    return MosaicSource(params.mosaic_query(mosaic, svc.collections), svc.settings.max_mosaic_products)


def wmts(request: Request) -> Response:
    """KVP: GetCapabilities and GetTile."""
    query = lower_keys(request.query_params.multi_items())
    operation = query.get("request", "").lower()
    try:
        if query.get("service", "WMTS").upper() != "WMTS":
            raise InvalidParameter("SERVICE must be WMTS", "SERVICE")
        if operation == "getcapabilities":
            return capabilities(request, _layers(services(request)))
        if operation == "gettile":
            if query.get("version", "1.0.0") != "1.0.0":
                raise InvalidParameter("VERSION must be 1.0.0", "VERSION")
            return _get_tile(request, query)
        if not operation:
            raise MissingParameter("REQUEST is required: GetCapabilities or GetTile", "REQUEST")
        raise OperationNotSupported(f"REQUEST '{operation[:40]}' is not supported", "REQUEST")
    except Exception as exc:
        return error_response(exc, WMTS, request)


def wmts_capabilities(request: Request) -> Response:
    """RESTful: /wmts/1.0.0/WMTSCapabilities.xml."""
    return capabilities(request, _layers(services(request)))


def wmts_tile(request: Request) -> Response:
    """RESTful: /wmts/1.0.0/{layer}/{style}/{time}/{tms}/{z}/{row}/{col}.{ext}."""
    path = request.path_params
    media = next((m for m, e in EXTENSIONS.items() if e == path["ext"]), "")
    query = {
        **lower_keys(request.query_params.multi_items()),
        "layer": path["layer"],
        "style": path["style"],
        "time": path["time"],
        "format": media,
        "tilematrixset": path["tms"],
        "tilematrix": path["z"],
        "tilerow": path["row"],
        "tilecol": path["col"],
    }
    try:
        return _get_tile(request, query)
    except Exception as exc:
        return error_response(exc, WMTS, request)


routes = [
    Route("/wmts", wmts),
    Route("/wmts/1.0.0/WMTSCapabilities.xml", wmts_capabilities),
    Route("/wmts/1.0.0/{layer}/{style}/{time}/{tms}/{z}/{row}/{col}.{ext}", wmts_tile),
]
