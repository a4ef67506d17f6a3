"""STAC documents of products and collections, for every place that publishes them: `/search`,
the STAC API at `/stac`, and the items the pgSTAC catalog stores."""

from __future__ import annotations

from urllib.parse import urlencode

from tiler.collections import Collection
from tiler.products import Product

STAC_VERSION = "1.1.0"  # of /stac's documents; /search's items keep saying 1.0.0, which they also are


def stac_item(product: Product, collection: Collection | None, base: str) -> dict:
    """A STAC Item of a product, its links pointing at this service."""
    west, south, east, north = product.bounds_wgs84
    geometry = product.footprint or {
        "type": "Polygon",
        "coordinates": [[[west, south], [east, south], [east, north], [west, north], [west, south]]],
    }
    query = urlencode({"product": product.id})
    properties = {
        "datetime": product.datetime.isoformat().replace("+00:00", "Z"),
        "platform": product.platform,
        "constellation": collection.constellation if collection else None,
        "instruments": list(collection.instruments) if collection and collection.instruments else None,
        "eo:cloud_cover": product.cloud_cover,
        "processing:level": product.processing_level,
        "grid:code": f"{collection.grid}-{product.tile}" if product.tile and collection and collection.grid else None,
        "proj:code": product.crs.to_string(),
        **product.properties,  # sar:*, sat:* and the like, under their STAC names already
    }
    if collection is not None and collection.baseline_property:
        properties[collection.baseline_property] = product.processing_baseline
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": product.id,
        "collection": product.collection,
        "bbox": [west, south, east, north],
        "geometry": geometry,
        "properties": {k: v for k, v in properties.items() if v is not None},
        "links": [
            {"rel": "self", "href": f"{base}/products/{product.id}", "type": "application/json"},
            {"rel": "tilejson", "href": f"{base}/tilejson.json?{query}", "type": "application/json"},
        ],
        "assets": {
            "thumbnail": {
                "href": f"{base}/preview.png?{query}&width=256",
                "type": "image/png",
                "roles": ["thumbnail"],
            },
            "preview": {"href": f"{base}/preview.png?{query}", "type": "image/png", "roles": ["overview"]},
            "tilejson": {"href": f"{base}/tilejson.json?{query}", "type": "application/json", "roles": ["tiles"]},
            "metadata": {"href": f"{base}/products/{product.id}", "type": "application/json", "roles": ["metadata"]},
        },
    }


def collection_document(collection: Collection) -> dict:
    """A STAC Collection without links. Its extent is the whole world and all time: the catalog
    changes while the server runs, and a true extent would cost a scan of every product."""
    return {
        "type": "Collection",
        "stac_version": STAC_VERSION,
        "id": collection.id,
        "title": collection.title,
        "description": collection.description,
        "license": "other",  # each collection's own terms (Copernicus data: free, full and open, with attribution)
        "extent": {"spatial": {"bbox": [[-180.0, -90.0, 180.0, 90.0]]}, "temporal": {"interval": [[None, None]]}},
        "links": [],
    }
