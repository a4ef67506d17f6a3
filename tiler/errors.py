"""Domain errors. They know nothing of HTTP: `tiler.http.errors` maps each to a status code and to
the OGC exception code WMS and WMTS clients expect, in one table.

    TilerError
    ├── BadRequest                  the request itself is malformed (400)
    │   ├── UnsafeReference         an ID or path that would leave the data roots
    │   ├── InvalidParameter        a query parameter out of range or unparsable
    │   │   ├── MissingParameter    a required parameter is absent
    │   │   ├── InvalidCRS          a CRS the service does not offer
    │   │   ├── InvalidFormat       an image or info format the service does not offer
    │   │   ├── InvalidTime         a time that is no date or interval
    │   │   ├── MissingTime         no time where the service has no default
    │   │   ├── InvalidPoint        a feature-info pixel outside the map
    │   │   └── TileOutOfRange      a tile address outside its tile matrix set
    │   ├── LayerNotQueryable       feature info for a layer not drawn
    │   ├── OperationNotSupported   an OGC operation this server does not offer
    │   ├── CurrentUpdateSequence   the client's capabilities are current (WMS)
    │   └── InvalidUpdateSequence   the client's capabilities are newer than the server's (WMS)
    ├── NotFound                    a product, layer or band that does not exist (404)
    │   ├── LayerNotDefined         an unknown layer
    │   └── StyleNotDefined         an unknown style of a layer
    ├── TooLarge                    a requested size over a configured limit (413)
    ├── RenderTimeout               a render over its deadline (503, with Retry-After)
    ├── CatalogUnavailable          the catalog database is down, unreachable or too slow (503, with Retry-After)
    └── ProductUnreadable           a product whose files cannot be read (500, logged, generic body)

`parameter` names the request parameter at fault, where there is one (WMTS reports it as the
exception's locator).
"""

from __future__ import annotations


class TilerError(Exception):
    """Base class of every error eo-tiler raises on purpose."""

    def __init__(self, message: str, parameter: str | None = None) -> None:
        super().__init__(message)
        self.parameter = parameter


class BadRequest(TilerError):
    """The request is malformed."""


class UnsafeReference(BadRequest):
    """An ID or path that would reach outside the data roots."""


class InvalidParameter(BadRequest):
    """A query parameter is out of range or cannot be parsed."""


class MissingParameter(InvalidParameter):
    """A required parameter is absent or empty."""


class InvalidCRS(InvalidParameter):
    """A coordinate reference system the service does not offer."""


class InvalidFormat(InvalidParameter):
    """An output format the service does not offer."""


class InvalidTime(InvalidParameter):
    """A time that is neither a date nor an interval."""


class MissingTime(InvalidParameter):
    """No time given where the service advertises no default."""


class InvalidPoint(InvalidParameter):
    """A feature-info pixel outside the map."""


class TileOutOfRange(InvalidParameter):
    """A tile address outside its tile matrix set."""


class LayerNotQueryable(BadRequest):
    """Feature info asked for a layer that is not among those drawn."""


class OperationNotSupported(BadRequest):
    """An OGC request this server does not offer."""


class CurrentUpdateSequence(BadRequest):
    """The client already holds the current capabilities."""


class InvalidUpdateSequence(BadRequest):
    """The client's update sequence is newer than the server's."""


class NotFound(TilerError):
    """The product, layer or band does not exist."""


class LayerNotDefined(NotFound):
    """No layer of that name."""


class StyleNotDefined(NotFound):
    """No style of that name for the layer."""


class TooLarge(TilerError):
    """A requested size is over a configured limit."""


class RenderTimeout(TilerError):
    """A render did not finish within its deadline."""


class CatalogUnavailable(TilerError):
    """The catalog database is down, unreachable or slower than its timeout."""


class ProductUnreadable(TilerError):
    """A product's files are missing or corrupt.

    The message (with file names and GDAL's words) is for the log; `product_id` alone goes to the client.
    """

    def __init__(self, message: str, product_id: str | None = None) -> None:
        super().__init__(message)
        self.product_id = product_id
