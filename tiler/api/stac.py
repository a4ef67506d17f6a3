"""STAC documents of the two collections, shared by the STAC API and the pgSTAC catalog."""

from __future__ import annotations

STAC_VERSION = "1.1.0"
COLLECTION_INFO = {
    "sentinel-2-l2a": (
        "Sentinel-2 L2A",
        "Copernicus Sentinel-2 Level-2A: bottom-of-atmosphere reflectance with a scene classification (SCL).",
    ),
    "sentinel-2-l1c": (
        "Sentinel-2 L1C",
        "Copernicus Sentinel-2 Level-1C: top-of-atmosphere reflectance.",
    ),
}


def collection_document(collection_id: str) -> dict:
    """A STAC Collection without links; its extent is the whole world and all time (the catalog
    changes while the server runs, and a true extent would cost a scan of every product)."""
    title, description = COLLECTION_INFO[collection_id]
    return {
        "type": "Collection",
        "stac_version": STAC_VERSION,
        "id": collection_id,
        "title": title,
        "description": description,
        "license": "other",  # the Copernicus Sentinel data terms: free, full and open, with attribution
        "providers": [{"name": "European Space Agency", "roles": ["producer", "licensor"]}],
        "extent": {"spatial": {"bbox": [[-180.0, -90.0, 180.0, 90.0]]}, "temporal": {"interval": [[None, None]]}},
        "links": [],
    }
