"""GetLegendGraphic: a layer's legend, drawn by `renderers.legend` from the same colours as its map."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.responses import Response

from renderers import encode
from renderers.legend import legend, note_legend
from tiler import params
from tiler.errors import InvalidFormat, LayerNotDefined, StyleNotDefined
from tiler.ogc.common import IMAGE_FORMATS
from tiler.ogc.layers import OgcLayer, find_layer


def get_legend_graphic(query: Mapping[str, str], layers: Mapping[str, OgcLayer], default_collection: str) -> Response:
    name = params.required(query, "layer", "LAYER")
    layer = find_layer(layers, name, default_collection)
    if layer is None:
        raise LayerNotDefined(f"layer '{name[:80]}' is not defined", "LAYER")
    if query.get("style", "") not in ("", "default"):
        raise StyleNotDefined(f"style '{query['style'][:40]}' is not defined", "STYLE")
    media = query.get("format", "image/png")
    fmt = IMAGE_FORMATS.get(media)
    if fmt is None:
        raise InvalidFormat(f"FORMAT '{media[:40]}' is not offered", "FORMAT")
    style = layer.style
    if style.spec is None:
        image = note_legend(layer.title, f"evalscript over {', '.join(sorted(style.bands)) or 'dataMask'}")
    else:
        image = legend(style.spec, layer.title, style.value_range, style.legend)
    return Response(encode(image, fmt), media_type=media)
