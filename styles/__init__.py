"""Layer definitions as data: one TOML file or evalscript per layer in this folder or a subfolder of
it (one per family of collections: `styles/landsat/TRUE_COLOR.toml`); the file name is the layer
name. Layers of one name may exist for several collections (each file names the collections it
fits); a name and a collection pick one layer.

A file gives `title`, `description`, `collections` (the ids of the collections it fits) and either
`bands` (three or four bands drawn as RGB(A) with one `stretch`) or `expression` (one value, drawn
through a `colormap`: `steps`, `ramp` with an optional `transform` over `v`, or `classes`; a
`classes` colour map without its own list colours a class band with its collection's class table,
or with the classes of it that `values` lists). `range` is the value range a legend shows; `legend`
(a list of [value, label, colour]) gives swatches for a layer whose colours no colour map describes
(Landsat's QA, drawn by band math). `hillshade = { azimuth, altitude, z_factor }` draws the
expression, a height in metres, as the light a sun casts on it (0..1, then `stretch` and
`colormap`): the pipeline reads the margin of neighbouring pixels it needs. `resampling` fixes how
the layer's bands are read onto the output grid, whatever the request says (heights for a
hillshade: bilinear, since nearest-neighbour heights are flat inside a pixel and step at its edges).

A `*.js` file is a Sentinel Hub evalscript (docs/evalscripts.md) drawn as it is. Its header, a
block comment right after the optional `//VERSION=3` line, holds `title`, `description` and
`collections` written as in a TOML file:

    //VERSION=3
    /*
    title = "NDVI"
    description = "..."
    collections = ["sentinel-2-l2a", "sentinel-2-l1c"]
    */
    function setup() { ... }

Files are validated when loaded, against the bands of every collection they name (an evalscript is
compiled and its setup() run to learn them); a broken file stops the start-up with its name.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from renderers import (
    Classes,
    Colormap,
    Expression,
    ExpressionError,
    Hillshade,
    Ramp,
    RenderSpec,
    Steps,
    Stretch,
    parse_expression,
    parse_hex,
)
from renderers.evalscript import EvalscriptCache, EvalscriptError

__all__ = ["STYLES_DIR", "Layer", "LayerError", "LayerScript", "Layers", "load_layers"]

STYLES_DIR = Path(__file__).parent
_KEYS = {
    "title",
    "description",
    "collections",
    "bands",
    "expression",
    "stretch",
    "colormap",
    "range",
    "legend",
    "hillshade",
    "resampling",
}
RESAMPLINGS = ("nearest", "bilinear", "cubic")
_SCRIPT_KEYS = {"title", "description", "collections"}
# An evalscript layer's header: the block comment after the optional version line.
_SCRIPT_HEADER = re.compile(r"\A\s*(?://\s*VERSION\s*=\s*\d+[^\n]*\n)?\s*/\*(.*?)\*/", re.DOTALL)
# Stretch for single values drawn in grey (no colour map): indices span -1..1.
_DEFAULT_VALUE_STRETCH = Stretch("linear", -1.0, 1.0)


class LayerError(ValueError):
    """A layer file that cannot be used."""


class ClassEntryLike(Protocol):
    @property
    def value(self) -> int: ...

    @property
    def label(self) -> str: ...

    @property
    def colour(self) -> tuple[int, int, int]: ...

    @property
    def code(self) -> str | None: ...


class BandLike(Protocol):
    @property
    def is_class(self) -> bool: ...

    @property
    def classes(self) -> Sequence[ClassEntryLike]: ...


class CollectionLike(Protocol):
    """What a layer is checked against: `tiler.collections.Collection` is one."""

    @property
    def bands(self) -> Mapping[str, BandLike]: ...


@dataclass(frozen=True)
class LayerScript:
    """The evalscript of a `*.js` layer, and the data bands its setup() asks for (dataMask aside)."""

    text: str
    bands: frozenset[str]


@dataclass(frozen=True)
class Layer:
    """A layer drawn either by band math (`spec`, from a `*.toml` file) or by an evalscript
    (`script`, from a `*.js` file); exactly one of the two is set."""

    name: str
    title: str
    description: str
    collections: tuple[str, ...]
    spec: RenderSpec | None
    value_range: tuple[float, float] | None
    legend: Classes | None = None  # swatches the legend shows instead of the colour map's
    resampling: str | None = None  # how its bands are read, whatever the request says; None: as it says
    script: LayerScript | None = None

    @property
    def bands(self) -> frozenset[str]:
        if self.script is not None:
            return self.script.bands
        assert self.spec is not None
        return self.spec.bands

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "collections": list(self.collections),
            "bands": sorted(self.bands),
            "expressions": [e.source for e in self.spec.expressions] if self.spec is not None else [],
            "evalscript": self.script is not None,
            "range": list(self.value_range) if self.value_range else None,
            "hillshade": None if self.spec is None or self.spec.relief is None else {
                "azimuth": self.spec.relief.azimuth, "altitude": self.spec.relief.altitude,
            },
        }  # fmt: skip


def _colour(value: object, where: str) -> tuple[int, int, int]:
    if isinstance(value, str):
        return parse_hex(value)
    if isinstance(value, list) and len(value) == 3 and all(isinstance(v, int | float) for v in value):
        # EO Browser writes colours as fractions of 1.
        return tuple(round(min(max(float(v), 0.0), 1.0) * 255) for v in value)  # type: ignore[return-value]
    raise LayerError(f"{where}: colour must be '#rrggbb' or [r, g, b] in 0..1, not {value!r}")


def _swatches(raw: object, where: str) -> Classes:
    if not isinstance(raw, list) or not raw:
        raise LayerError(f"{where}: legend must be a list of [value, label, colour]")
    return Classes(tuple((int(v), str(label), _colour(c, where)) for v, label, c in raw))


def _colormap(raw: Mapping, where: str, class_band: BandLike | None) -> tuple[Colormap, str | None]:
    kind = raw.get("type")
    if kind == "steps":
        steps = tuple((float(bound), _colour(c, where)) for bound, c in raw["steps"])
        return Steps(steps, _colour(raw["default"], where)), None
    if kind == "ramp":
        stops = tuple((float(v), _colour(c, where)) for v, c in raw["stops"])
        return Ramp(stops), raw.get("transform")
    if kind == "classes":
        if "classes" in raw:
            classes = tuple((int(v), str(label), _colour(c, where)) for v, label, c in raw["classes"])
            return Classes(classes), None
        if class_band is None or not class_band.classes:
            raise LayerError(f"{where}: a classes colour map needs `classes`, or a class band of its collections")
        entries = list(class_band.classes)
        if "values" in raw:
            wanted = [int(v) for v in raw["values"]]
            unknown = sorted(set(wanted) - {e.value for e in entries})
            if unknown:
                raise LayerError(f"{where}: values {unknown} are not in the class table of the collection's band")
            entries = [e for e in entries if e.value in wanted]
        codes = tuple(e.code or str(e.value) for e in entries) if any(e.code for e in entries) else ()
        return Classes(tuple((e.value, e.label, e.colour) for e in entries), codes), None
    raise LayerError(f"{where}: colormap type must be steps, ramp or classes, not {kind!r}")


def _hillshade(raw: object, where: str) -> Hillshade:
    if not isinstance(raw, Mapping) or set(raw) - {"azimuth", "altitude", "z_factor"}:
        raise LayerError(f"{where}: hillshade takes azimuth, altitude and z_factor (degrees, degrees, a factor)")
    return Hillshade(**{key: float(value) for key, value in raw.items()})


def _stretch(raw: object, where: str) -> Stretch:
    if not isinstance(raw, Mapping) or raw.get("kind") not in ("linear", "highlight"):
        raise LayerError(f"{where}: stretch needs kind = 'linear' or 'highlight', min and max")
    return Stretch(raw["kind"], float(raw["min"]), float(raw["max"]))


def _metadata(text: str, keys: set[str], collections: Mapping[str, CollectionLike], where: str) -> dict:
    """A layer file's TOML, its keys and collections checked."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LayerError(f"{where}: {exc}") from exc
    unknown = set(raw) - keys
    if unknown:
        raise LayerError(f"{where}: unknown keys {sorted(unknown)}")
    fits = raw.get("collections")
    if not isinstance(fits, list) or not fits:
        raise LayerError(f"{where}: collections must list the collections the layer fits")
    unknown_collections = [c for c in fits if c not in collections]
    if unknown_collections:
        raise LayerError(f"{where}: collections {unknown_collections} are not configured")
    return raw


def _shared_bands(fits: Sequence[str], collections: Mapping[str, CollectionLike]) -> set[str]:
    """A layer must draw on every collection it names: only the bands they all have."""
    return set.intersection(*(set(collections[c].bands) for c in fits))


def _load_script(path: Path, collections: Mapping[str, CollectionLike], scripts: EvalscriptCache) -> Layer:
    where = path.name
    text = path.read_text()
    header = _SCRIPT_HEADER.match(text)
    if header is None:
        raise LayerError(
            f"{where}: an evalscript layer starts with a /* ... */ header giving title, description and collections"
        )
    raw = _metadata(header[1], _SCRIPT_KEYS, collections, where)
    fits = raw["collections"]
    try:
        script = scripts.get(text)
    except EvalscriptError as exc:
        raise LayerError(f"{where}: {exc}") from exc
    band_names = _shared_bands(fits, collections)
    missing = sorted(script.bands - band_names)
    if missing:
        lacking = [c for c in fits if not script.bands <= set(collections[c].bands)]
        raise LayerError(f"{where}: the script reads band {', '.join(missing)}, which {', '.join(lacking)} lacks")
    return Layer(
        name=path.stem,
        title=str(raw.get("title", path.stem)),
        description=str(raw.get("description", "")),
        collections=tuple(fits),
        spec=None,
        value_range=None,
        script=LayerScript(text, script.bands),
    )


def _load(path: Path, collections: Mapping[str, CollectionLike]) -> Layer:
    where = path.name
    raw = _metadata(path.read_text(), _KEYS, collections, where)
    fits = raw["collections"]
    band_names = _shared_bands(fits, collections)
    try:
        colormap: Colormap | None = None
        transform: Expression | None = None
        if "bands" in raw:
            bands = raw["bands"]
            if len(bands) not in (3, 4):
                raise LayerError(f"{where}: bands must list 3 or 4 bands")
            expressions = tuple(parse_expression(b, band_names) for b in bands)
            stretches = (_stretch(raw.get("stretch"), where),) * len(expressions)
        elif "expression" in raw:
            expressions = (parse_expression(raw["expression"], band_names),)
            stretches = (_stretch(raw["stretch"], where),) if "stretch" in raw else (_DEFAULT_VALUE_STRETCH,)
            if "colormap" in raw:
                band = collections[fits[0]].bands.get(raw["expression"].strip())
                class_band = band if band is not None and band.is_class else None
                colormap, transform_text = _colormap(raw["colormap"], where, class_band)
                if transform_text:
                    transform = parse_expression(transform_text, {"v"})
        else:
            raise LayerError(f"{where}: give either bands or expression")
        value_range = tuple(float(v) for v in raw["range"]) if "range" in raw else None
        swatches = _swatches(raw["legend"], where) if "legend" in raw else None
        relief = _hillshade(raw["hillshade"], where) if "hillshade" in raw else None
        resampling = raw.get("resampling")
        if resampling is not None and resampling not in RESAMPLINGS:
            raise LayerError(f"{where}: resampling must be one of {', '.join(RESAMPLINGS)}, not {resampling!r}")
        return Layer(
            name=path.stem,
            title=str(raw.get("title", path.stem)),
            description=str(raw.get("description", "")),
            collections=tuple(fits),
            spec=RenderSpec(expressions, stretches, colormap, transform, relief),
            value_range=value_range,  # type: ignore[arg-type]
            legend=swatches,
            resampling=resampling,
        )
    except ExpressionError as exc:
        raise LayerError(f"{where}: {exc}") from exc
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, LayerError):
            raise
        raise LayerError(f"{where}: malformed ({exc!r})") from exc


class Layers:
    """The layer registry: layers by name and collection, in the order their files were read."""

    def __init__(self, layers: Sequence[Layer]) -> None:
        self._by_key: dict[tuple[str, str], Layer] = {}
        for layer in layers:
            for collection in layer.collections:
                self._by_key[(layer.name, collection)] = layer  # a deployment's own file wins
        self._layers = list(dict.fromkeys(self._by_key.values()))

    def get(self, name: str, collection: str) -> Layer | None:
        """The layer of that name for that collection."""
        return self._by_key.get((name, collection))

    def named(self, name: str) -> list[Layer]:
        """Every layer of that name, whatever collection it fits."""
        return [layer for layer in self._layers if layer.name == name]

    def for_collection(self, collection: str) -> list[Layer]:
        return [layer for layer in self._layers if collection in layer.collections]

    def __iter__(self) -> Iterator[Layer]:
        return iter(self._layers)

    def __len__(self) -> int:
        return len(self._layers)


def load_layers(
    collections: Mapping[str, CollectionLike],
    directory: Path = STYLES_DIR,
    extra: Sequence[Path] = (),
    scripts: EvalscriptCache | None = None,
) -> Layers:
    """Load and validate every `*.toml` and `*.js` below `directory`, then below the `extra` folders
    (a deployment's own layers; for a name and collection already defined, the later file wins),
    against `collections`. A file that repeats a name for a collection another file of its own
    folder already has is an error. Evalscripts are compiled in `scripts` (the app's cache, so the
    first tile finds them compiled)."""
    scripts = scripts if scripts is not None else EvalscriptCache()
    layers: list[Layer] = []
    for folder in (directory, *extra):
        seen: dict[tuple[str, str], Path] = {}
        paths = sorted([*Path(folder).rglob("*.toml"), *Path(folder).rglob("*.js")])
        for path in paths:
            layer = _load_script(path, collections, scripts) if path.suffix == ".js" else _load(path, collections)
            for collection in layer.collections:
                if (layer.name, collection) in seen:
                    raise LayerError(
                        f"{path.name}: layer {layer.name} for {collection} is also defined by "
                        f"{seen[(layer.name, collection)].relative_to(folder)}"
                    )
                seen[(layer.name, collection)] = path
            layers.append(layer)
    return Layers(layers)
