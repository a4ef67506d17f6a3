"""From domain errors to responses, in one place: the table below gives each error's HTTP status and
the exception code WMS and WMTS clients expect, and the response classes write the three formats
clients read (JSON, a WMS ServiceExceptionReport, an OWS ExceptionReport; WMS's INIMAGE and BLANK
draw the message into the image instead).

`error_response(exc, protocol)` is what every route's failure goes through: starlette's exception
handler for the JSON routes, the WMS and WMTS endpoints with their protocol, the middleware for the
errors it raises before any route runs.
"""

from __future__ import annotations

import json
import logging
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from starlette.requests import Request
from starlette.responses import Response

from renderers import ExpressionError, encode
from tiler.errors import (
    BadRequest,
    CatalogUnavailable,
    CurrentUpdateSequence,
    InvalidCRS,
    InvalidFormat,
    InvalidPoint,
    InvalidTime,
    InvalidUpdateSequence,
    LayerNotDefined,
    LayerNotQueryable,
    MissingParameter,
    MissingTime,
    NotFound,
    OperationNotSupported,
    ProductUnreadable,
    RenderTimeout,
    StyleNotDefined,
    TileOutOfRange,
    TooLarge,
)

log = logging.getLogger(__name__)

XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
OWS_NS = "http://www.opengis.net/ows/1.1"
OGC_NS = "http://www.opengis.net/ogc"
ET.register_namespace("xsi", XSI_NS)
ET.register_namespace("ows", OWS_NS)
_XML_PROLOG = b'<?xml version="1.0" encoding="UTF-8"?>\n'


@dataclass(frozen=True)
class ErrorKind:
    status: int  # of a JSON answer, and of a WMTS one unless `wmts_status` says otherwise
    wms_code: str | None  # WMS 1.3.0's exception code (None: the report carries none)
    wmts_code: str  # OWS Common 1.1's exception code
    wmts_status: int | None = None
    retry_after: str | None = None  # seconds a client should wait before asking again


# The first class an error is an instance of decides; subclasses come before their bases.
ERRORS: tuple[tuple[type[Exception], ErrorKind], ...] = (
    (MissingTime, ErrorKind(400, "MissingDimensionValue", "MissingParameterValue")),
    (InvalidTime, ErrorKind(400, "InvalidDimensionValue", "InvalidParameterValue")),
    (MissingParameter, ErrorKind(400, None, "MissingParameterValue")),
    (InvalidCRS, ErrorKind(400, "InvalidCRS", "InvalidParameterValue")),
    (InvalidFormat, ErrorKind(400, "InvalidFormat", "InvalidParameterValue")),
    (InvalidPoint, ErrorKind(400, "InvalidPoint", "InvalidParameterValue")),
    (TileOutOfRange, ErrorKind(400, None, "TileOutOfRange")),
    (LayerNotQueryable, ErrorKind(400, "LayerNotQueryable", "InvalidParameterValue")),
    (OperationNotSupported, ErrorKind(400, "OperationNotSupported", "OperationNotSupported", wmts_status=501)),
    (CurrentUpdateSequence, ErrorKind(400, "CurrentUpdateSequence", "InvalidParameterValue")),
    (InvalidUpdateSequence, ErrorKind(400, "InvalidUpdateSequence", "InvalidParameterValue")),
    (LayerNotDefined, ErrorKind(404, "LayerNotDefined", "InvalidParameterValue", wmts_status=400)),
    (StyleNotDefined, ErrorKind(404, "StyleNotDefined", "InvalidParameterValue", wmts_status=400)),
    (NotFound, ErrorKind(404, None, "InvalidParameterValue")),
    (BadRequest, ErrorKind(400, None, "InvalidParameterValue")),
    (ExpressionError, ErrorKind(400, None, "InvalidParameterValue")),
    (TooLarge, ErrorKind(413, None, "InvalidParameterValue")),
    (RenderTimeout, ErrorKind(503, None, "NoApplicableCode", retry_after="5")),
    (CatalogUnavailable, ErrorKind(503, None, "NoApplicableCode", retry_after="5")),
    (ProductUnreadable, ErrorKind(500, None, "NoApplicableCode")),
)
UNEXPECTED = ErrorKind(500, None, "NoApplicableCode")
# WMS 1.1.1 named the CRS parameter SRS, and its code with it.
_WMS_111_CODES = {"InvalidCRS": "InvalidSRS"}


def classify(exc: Exception) -> ErrorKind:
    return next((kind for error_type, kind in ERRORS if isinstance(exc, error_type)), UNEXPECTED)


def public_message(exc: Exception, request: Request | None = None) -> str:
    """What the client is told. Server-side failures are logged here and told without internals
    (file paths, GDAL messages never reach a client)."""
    where = request.url.path if request is not None else "?"
    request_id = request.scope.get("state", {}).get("request_id") if request is not None else None
    if isinstance(exc, ProductUnreadable):
        log.error("product unreadable on %s (request %s): %s", where, request_id, exc)
        if exc.product_id:
            return f"product {exc.product_id} cannot be read: its files are missing or damaged"
        return "a product could not be read; see the server log"
    if classify(exc) is UNEXPECTED:
        log.error("unexpected error on %s (request %s)", where, request_id, exc_info=exc)
        return "internal error while rendering; see the server log"
    return str(exc)


# ---------------------------------------------------------------------------------------------
# Response classes


class JsonError(Response):
    media_type = "application/json"

    def __init__(self, detail: str, status_code: int, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(json.dumps({"detail": detail}), status_code, headers)


class WmsExceptionReport(Response):
    """A WMS ServiceExceptionReport of the request's version."""

    def __init__(
        self, message: str, code: str | None, version: str, status_code: int = 200, headers: Mapping | None = None
    ) -> None:
        if version == "1.1.1":
            root = ET.Element("ServiceExceptionReport", version="1.1.1")
            media_type = "application/vnd.ogc.se_xml"
            code = _WMS_111_CODES.get(code, code) if code else code
        else:
            root = ET.Element(
                "ServiceExceptionReport",
                {
                    "version": "1.3.0",
                    "xmlns": OGC_NS,
                    f"{{{XSI_NS}}}schemaLocation": f"{OGC_NS} http://schemas.opengis.net/wms/1.3.0/exceptions_1_3_0.xsd",
                },
            )
            media_type = "text/xml"
        ET.SubElement(root, "ServiceException", {"code": code} if code else {}).text = message
        super().__init__(_XML_PROLOG + ET.tostring(root), status_code, dict(headers or {}), media_type)


class OwsExceptionReport(Response):
    """An OWS Common 1.1 ExceptionReport, as WMTS 1.0.0 answers errors."""

    media_type = "application/xml"

    def __init__(
        self, message: str, code: str, locator: str | None, status_code: int, headers: Mapping | None = None
    ) -> None:
        root = ET.Element(f"{{{OWS_NS}}}ExceptionReport", version="1.1.0")
        attrs = {"exceptionCode": code} | ({"locator": locator} if locator else {})
        node = ET.SubElement(root, f"{{{OWS_NS}}}Exception", attrs)
        ET.SubElement(node, f"{{{OWS_NS}}}ExceptionText").text = message
        super().__init__(_XML_PROLOG + ET.tostring(root), status_code, dict(headers or {}))


@dataclass(frozen=True)
class ImageFrame:
    """What a WMS INIMAGE/BLANK exception needs, taken from a GetMap that may be invalid otherwise."""

    width: int
    height: int
    fmt: str
    media_type: str
    transparent: bool
    bgcolor: tuple[int, int, int]
    exceptions: str  # INIMAGE or BLANK


class WmsExceptionImage(Response):
    """The map's frame with the message written in it (INIMAGE) or left blank (BLANK)."""

    def __init__(self, message: str, frame: ImageFrame, status_code: int = 200, headers: Mapping | None = None) -> None:
        transparent = frame.transparent and frame.fmt != "jpg"
        image = Image.new("RGBA", (frame.width, frame.height), (*frame.bgcolor, 0 if transparent else 255))
        if frame.exceptions == "INIMAGE":
            per_line = max(10, frame.width // 7)
            text = "\n".join(message[i : i + per_line] for i in range(0, len(message), per_line))
            font = ImageFont.load_default(size=12)
            ImageDraw.Draw(image).multiline_text((5, 5), text, fill=(200, 0, 0, 255), font=font)
        content = encode(np.asarray(image), frame.fmt)
        super().__init__(content, status_code, dict(headers or {}), frame.media_type)


# ---------------------------------------------------------------------------------------------
# The one mapping


@dataclass(frozen=True)
class Protocol:
    """How a route's clients read errors: `json`, `wms` (of `version`, maybe into an image) or `wmts`."""

    name: str = "json"
    version: str = "1.3.0"
    frame: ImageFrame | None = None


JSON = Protocol()
WMTS = Protocol("wmts")


def error_response(exc: Exception, protocol: Protocol = JSON, request: Request | None = None) -> Response:
    kind = classify(exc)
    message = public_message(exc, request)
    headers = {"Retry-After": kind.retry_after} if kind.retry_after else {}
    if protocol.name == "wmts":
        status = kind.wmts_status or kind.status
        return OwsExceptionReport(message, kind.wmts_code, getattr(exc, "parameter", None), status, headers)
    if protocol.name == "wms":
        # WMS delivers exceptions as documents with HTTP 200, as OGC servers and clients do; only
        # failures of the server itself (5xx) say so in the status too.
        status = kind.status if kind.status >= 500 else 200
        if protocol.frame is not None:
            return WmsExceptionImage(message, protocol.frame, status, headers)
        return WmsExceptionReport(message, kind.wms_code, protocol.version, status, headers)
    return JsonError(message, kind.status, headers)


def protocol_of_path(path: str) -> Protocol:
    """The error format of a path's clients, for errors raised before any route runs (middleware)."""
    if path.startswith("/wmts"):
        return WMTS
    if path.startswith("/wms"):
        return Protocol("wms")
    return JSON


def refusal(path: str, status: int, detail: str, headers: Mapping[str, str] | None = None) -> Response:
    """A refusal by the middleware (no key, over quota, query too long), in the form the path's
    clients read; the status is always the one given, also on WMS."""
    protocol = protocol_of_path(path)
    if protocol.name == "wmts":
        return OwsExceptionReport(detail, "NoApplicableCode", None, status, headers)
    if protocol.name == "wms":
        return WmsExceptionReport(detail, None, "1.3.0", status, headers)
    return JsonError(detail, status, headers)


async def handle_error(request: Request, exc: Exception) -> Response:
    """starlette's exception handler: an error a route did not answer itself, in its clients' form."""
    protocol = request.scope.get("state", {}).get("error_protocol", JSON)
    return error_response(exc, protocol, request)
