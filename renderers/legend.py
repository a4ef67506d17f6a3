"""Legend images for layers: a colour bar with value ticks for continuous values, labelled swatches
for classes, the band assignment for RGB composites. Colours come from the same `render` path as
the tiles, so a legend can never disagree with the map."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from renderers.colour import Classes
from renderers.expressions import parse_expression
from renderers.render import RenderSpec, render

_FONT_SIZE = 12
_PAD = 6
_BAR_WIDTH, _BAR_HEIGHT = 200, 16
_SWATCH = 14


def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=_FONT_SIZE)


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round values spanning [low, high], about `count` of them."""
    raw_step = (high - low) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw_step))
    step = min((m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw_step), default=raw_step)
    first = math.ceil(low / step - 1e-9) * step
    ticks = []
    value = first
    while value <= high + 1e-9:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _label(value: float) -> str:
    return f"{value:g}"


def _canvas(width: int, height: int) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("RGBA", (width, height), (255, 255, 255, 255))
    return image, ImageDraw.Draw(image)


def _value_spec(spec: RenderSpec) -> RenderSpec:
    """The layer's colouring applied to a plain variable `v`, to colour chosen values directly."""
    return RenderSpec((parse_expression("v", {"v"}),), spec.stretches[:1], spec.colormap, spec.value_transform)


def _classes_legend(title: str, classes: Classes) -> np.ndarray:
    font = _font()
    row = _SWATCH + 4
    lines = [f"{key}  {label}" for key, (_, label, _) in zip(classes.keys, classes.classes)]
    width = max(int(font.getlength(line)) for line in lines) + _SWATCH + 6 + 2 * _PAD
    width = max(width, int(font.getlength(title)) + 2 * _PAD)
    image, draw = _canvas(width, _PAD * 2 + row * (len(classes.classes) + 1))
    draw.text((_PAD, _PAD), title, fill="black", font=font)
    for i, ((_, _, colour), line) in enumerate(zip(classes.classes, lines)):
        top = _PAD + row * (i + 1)
        draw.rectangle((_PAD, top, _PAD + _SWATCH, top + _SWATCH), fill=colour, outline="black")
        draw.text((_PAD + _SWATCH + 6, top), line, fill="black", font=font)
    return np.asarray(image)


def _bar_legend(title: str, spec: RenderSpec, value_range: tuple[float, float]) -> np.ndarray:
    font = _font()
    low, high = value_range
    values = np.linspace(low, high, _BAR_WIDTH, dtype=np.float32)[None, :].repeat(_BAR_HEIGHT, axis=0)
    colours = render(_value_spec(spec), {"v": values}, np.ones(values.shape, dtype=bool))
    width = _BAR_WIDTH + 2 * _PAD + 20
    image, draw = _canvas(max(width, int(font.getlength(title)) + 2 * _PAD), _BAR_HEIGHT + 3 * _FONT_SIZE + 3 * _PAD)
    draw.text((_PAD, _PAD), title, fill="black", font=font)
    bar_top = _PAD * 2 + _FONT_SIZE
    bar = Image.fromarray(colours, "RGBA")
    image.paste(bar, (_PAD + 10, bar_top), bar)
    draw.rectangle((_PAD + 10, bar_top, _PAD + 10 + _BAR_WIDTH - 1, bar_top + _BAR_HEIGHT - 1), outline="black")
    for tick in _ticks(low, high):
        x = _PAD + 10 + round((tick - low) / (high - low) * (_BAR_WIDTH - 1))
        draw.line((x, bar_top + _BAR_HEIGHT, x, bar_top + _BAR_HEIGHT + 3), fill="black")
        text = _label(tick)
        draw.text((x - font.getlength(text) / 2, bar_top + _BAR_HEIGHT + 4), text, fill="black", font=font)
    return np.asarray(image)


def _composite_legend(title: str, spec: RenderSpec) -> np.ndarray:
    font = _font()
    lines = [title] + [f"{channel}: {e.source}" for channel, e in zip("RGBA", spec.expressions, strict=False)]
    width = max(int(font.getlength(line)) for line in lines) + 2 * _PAD
    image, draw = _canvas(width, _PAD * 2 + (_FONT_SIZE + 4) * len(lines))
    for i, line in enumerate(lines):
        colour = ("black", (200, 0, 0), (0, 140, 0), (0, 0, 220), (90, 90, 90))[i]
        draw.text((_PAD, _PAD + i * (_FONT_SIZE + 4)), line, fill=colour, font=font)
    return np.asarray(image)


def note_legend(title: str, note: str) -> np.ndarray:
    """A legend of a title and a line of text, for a layer whose colours only its evalscript knows."""
    font = _font()
    width = max(int(font.getlength(line)) for line in (title, note)) + 2 * _PAD
    image, draw = _canvas(width, _PAD * 2 + (_FONT_SIZE + 4) * 2)
    draw.text((_PAD, _PAD), title, fill="black", font=font)
    draw.text((_PAD, _PAD + _FONT_SIZE + 4), note, fill=(90, 90, 90), font=font)
    return np.asarray(image)


def legend(
    spec: RenderSpec, title: str, value_range: tuple[float, float] | None = None, swatches: Classes | None = None
) -> np.ndarray:
    """An HxWx4 uint8 legend for a layer drawn with `spec`; `swatches` when its colours come from band
    math no colour map describes (a layer gives them)."""
    if swatches is not None:
        return _classes_legend(title, swatches)
    if len(spec.expressions) > 1:
        return _composite_legend(title, spec)
    if isinstance(spec.colormap, Classes):
        return _classes_legend(title, spec.colormap)
    if value_range is None:
        first = spec.stretches[0]
        value_range = (first.min, first.max)
    return _bar_legend(title, spec, value_range)
