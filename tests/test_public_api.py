"""The names `tiler` promises to other code: pinned, so a change to them is a decision."""

import tiler

PUBLIC = [
    "BadRequest",
    "Band",
    "BandAsset",
    "Catalog",
    "Collection",
    "Collections",
    "Grid",
    "LayerJob",
    "MemoryCatalog",
    "MosaicSource",
    "NotFound",
    "Product",
    "ProductSource",
    "ProductUnreadable",
    "RenderJob",
    "RenderTimeout",
    "SearchResult",
    "Settings",
    "SqliteCatalog",
    "TilerError",
    "TooLarge",
    "builtin_collections",
    "create_app",
    "create_app_from_env",
    "load_collections",
    "open_catalog",
    "render_image",
    "settings_from_env",
]


def test_the_public_names_are_pinned() -> None:
    assert sorted(tiler.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(tiler, name) is not None
