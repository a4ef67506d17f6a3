"""The one error table: every domain error has its status and OGC codes, and each protocol reads
the same error in its own format."""

from __future__ import annotations

import inspect
import json
import xml.etree.ElementTree as ET

import pytest

from renderers import ExpressionError
from tiler import errors
from tiler.http.errors import ERRORS, UNEXPECTED, WMTS, Protocol, classify, error_response

OWS = "{http://www.opengis.net/ows/1.1}"
DOMAIN_ERRORS = [cls for _, cls in inspect.getmembers(errors, inspect.isclass) if issubclass(cls, errors.TilerError)]


@pytest.mark.parametrize("error_type", DOMAIN_ERRORS, ids=lambda cls: cls.__name__)
def test_every_domain_error_is_in_the_table(error_type) -> None:
    # The base class is never raised: anything else has a status other than "unexpected".
    assert (classify(error_type("message")) is UNEXPECTED) == (error_type is errors.TilerError)


def test_subclasses_come_before_their_bases() -> None:
    """The first matching row decides: a base above its subclass would hide the subclass's row."""
    classes = [cls for cls, _ in ERRORS]
    for i, cls in enumerate(classes):
        assert not any(issubclass(later, cls) for later in classes[i + 1 :] if later is not cls), cls


def test_one_error_in_three_formats() -> None:
    error = errors.InvalidCRS("CRS 'EPSG:1' is not supported", "CRS")
    as_json = error_response(error)
    assert as_json.status_code == 400 and json.loads(as_json.body) == {"detail": "CRS 'EPSG:1' is not supported"}
    wms13 = error_response(error, Protocol("wms", "1.3.0"))
    node = ET.fromstring(wms13.body)[0]
    assert wms13.status_code == 200 and node.get("code") == "InvalidCRS" and wms13.media_type == "text/xml"
    wms11 = error_response(error, Protocol("wms", "1.1.1"))
    assert ET.fromstring(wms11.body)[0].get("code") == "InvalidSRS"
    assert wms11.media_type == "application/vnd.ogc.se_xml"
    wmts = error_response(error, WMTS)
    exception = ET.fromstring(wmts.body).find(f"{OWS}Exception")
    assert wmts.status_code == 400 and exception is not None
    assert (exception.get("exceptionCode"), exception.get("locator")) == ("InvalidParameterValue", "CRS")


def test_server_failures_keep_their_status_everywhere_and_say_nothing_of_internals() -> None:
    timeout = errors.RenderTimeout("rendering took longer than the limit of 30 s")
    for protocol in (Protocol(), Protocol("wms"), WMTS):
        response = error_response(timeout, protocol)
        assert response.status_code == 503 and response.headers["retry-after"] == "5"
    unreadable = errors.ProductUnreadable("/data/secret/B04.jp2: GDAL said no", "S2A_X")
    body = error_response(unreadable).body.decode()
    assert "S2A_X" in body and "secret" not in body and "GDAL" not in body
    crash = error_response(ZeroDivisionError("in /data/secret"), Protocol("wms"))
    assert crash.status_code == 500 and b"secret" not in crash.body


def test_expression_errors_are_bad_requests() -> None:
    assert error_response(ExpressionError("unknown band 'B99'")).status_code == 400
