"""stac-api-validator, run as its command line, with one change: the JSON schemas it downloads
(schemas.stacspec.org, geojson.org) come from pystac's bundled copies of the same documents,
since this machine reaches no web but the package registries. Every other request it makes goes
to the server under test.

    python tests/stac_validator_offline.py --root-url http://127.0.0.1:PORT/stac --conformance core ...
"""

import sys

import stac_validator.utilities as utilities
from pystac.validation.local_validator import get_local_schema_cache

_BUNDLED = get_local_schema_cache()
_fetch = utilities.fetch_and_parse_file


def _fetch_bundled_first(input_path: str, headers: dict | None = None) -> dict:
    if input_path in _BUNDLED:
        return _BUNDLED[input_path]
    return _fetch(input_path, headers)


utilities.fetch_and_parse_file = _fetch_bundled_first

if __name__ == "__main__":
    from stac_api_validator.__main__ import main

    sys.exit(main())
