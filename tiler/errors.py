"""Domain errors. They know nothing of HTTP: `tiler.routes` maps them to status codes.

TilerError
├── BadRequest            the request itself is malformed (400)
│   ├── UnsafeReference   an ID or path that would leave the data roots
│   └── InvalidParameter  a query parameter out of range or unparsable
├── NotFound              a product, layer or band that does not exist (404)
├── TooLarge              a requested size over a configured limit (413)
├── Unavailable           busy or down for now: try again (503, with Retry-After)
│   ├── RenderTimeout     a render over its deadline
│   └── CatalogUnavailable  the catalog database is down, unreachable or too slow
└── ProductUnreadable     a product whose files cannot be read (500, logged, generic body)
"""


class TilerError(Exception):
    """Base class of every error eo-tiler raises on purpose."""


class BadRequest(TilerError):
    """The request is malformed."""


class UnsafeReference(BadRequest):
    """An ID or path that would reach outside the data roots."""


class InvalidParameter(BadRequest):
    """A query parameter is out of range or cannot be parsed."""


class NotFound(TilerError):
    """The product, layer or band does not exist."""


class TooLarge(TilerError):
    """A requested size is over a configured limit."""


class Unavailable(TilerError):
    """Something the answer needs is busy or down; the same request may succeed later."""


class RenderTimeout(Unavailable):
    """A render did not finish within its deadline."""


class CatalogUnavailable(Unavailable):
    """The catalog database is down, unreachable or slower than its timeout."""


class ProductUnreadable(TilerError):
    """A product's files are missing or corrupt.

    The message (with file names and GDAL's words) is for the log; `product_id` alone goes to the client.
    """

    def __init__(self, message: str, product_id: str | None = None) -> None:
        super().__init__(message)
        self.product_id = product_id
