"""JavaScript values over many pixels at once, for the fast path (renderers/evalscript/vector.py).

A value is uniform (one JavaScript value for every pixel: a Python float, bool, str, None for
null, `UNDEFINED`, or an object) or varying (a float64 or bool numpy array, one entry per
pixel). `Mixed` holds values that no array can: lanes where a lookup found an array and lanes
where it found undefined. Masks are bool arrays over the pixels, or None for all of them.

Anything whose JavaScript meaning these classes do not reproduce exactly raises
`Unsupported`, and the engine runs the script on the exact path instead.
"""

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "UNDEFINED",
    "JSArray",
    "JSObject",
    "Mixed",
    "Native",
    "Unsupported",
    "js_pow",
    "merge",
    "to_number",
    "truthy",
]


class Unsupported(Exception):
    """The fast path cannot reproduce this exactly; the reason says what it met."""


class _Undefined:
    def __repr__(self) -> str:
        return "undefined"


UNDEFINED = _Undefined()
Mask = np.ndarray | None


class JSObject:
    """A plain object. `shared` objects were made before the pixels ran: they must not change after."""

    def __init__(
        self,
        props: dict[str, Any] | None = None,
        proto: "JSObject | None" = None,
        shared: bool = False,
        lanes: "np.ndarray | None" = None,
    ):
        self.props = props if props is not None else {}
        self.proto = proto
        self.shared = shared
        # The mask it was made under: changes under that same mask need no merging.
        self.lanes = lanes
        # Made by merging two objects lane by lane: a copy where JavaScript would share one.
        self.merged = False
        # Built-in and shared by every run: Math, Number, Array.prototype.
        self.frozen = False

    def get(self, key: str) -> Any:
        obj: JSObject | None = self
        while obj is not None:
            if key in obj.props:
                return obj.props[key]
            obj = obj.proto
        return UNDEFINED

    def check_writable(self, pixel_phase: bool) -> None:
        if self.frozen:
            raise Unsupported("a script changes a built-in object")
        if self.merged:
            raise Unsupported("a value chosen per pixel between two objects is changed")
        if self.shared and pixel_phase:
            raise Unsupported("evaluatePixel changes an object made outside it")


class JSArray(JSObject):
    def __init__(self, items: list[Any], shared: bool = False, lanes: "np.ndarray | None" = None):
        super().__init__(shared=shared, lanes=lanes)
        self.items = items

    def get(self, key: str) -> Any:
        if key == "length":
            return float(len(self.items))
        index = _array_index(key)
        if index is not None:
            return self.items[index] if index < len(self.items) else UNDEFINED
        from renderers.evalscript.builtins import ARRAY_PROTOTYPE

        return ARRAY_PROTOTYPE.get(key)


@dataclass
class Native:
    """A function written in Python: fn(interpreter, this, args, mask) -> value."""

    name: str
    fn: Callable[..., Any]
    props: dict[str, Any] | None = None
    constructor: bool = False

    def get(self, key: str) -> Any:
        return (self.props or {}).get(key, UNDEFINED)


@dataclass
class Mixed:
    """Values of different kinds in different lanes: (mask, value) pairs that partition the lanes."""

    branches: list[tuple[np.ndarray, Any]]


def _array_index(key: str) -> int | None:
    if key.isdigit() and (key == "0" or not key.startswith("0")):
        return int(key)
    return None


def is_varying(value: Any) -> bool:
    return isinstance(value, np.ndarray)


def mask_and(a: Mask, b: Mask) -> Mask:
    if a is None:
        return b
    if b is None:
        return a
    return a & b


def mask_any(a: Mask) -> bool:
    return a is None or bool(a.any())


def truthy(value: Any, n: int) -> bool | np.ndarray:
    """ToBoolean; a bool array for varying values."""
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        return value != 0 and not math.isnan(value)
    if isinstance(value, np.ndarray):
        return value if value.dtype == bool else (value != 0) & (value == value)
    if isinstance(value, str):
        return bool(value)
    if value is None or value is UNDEFINED:
        return False
    if isinstance(value, Mixed):
        result = np.zeros(n, bool)
        for mask, branch in value.branches:
            result |= mask & truthy(branch, n)
        return result
    return True


def to_number(value: Any) -> float | np.ndarray:
    """ToNumber for the values the fast path keeps; objects and strings go to the exact path."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, float):
        return value
    if isinstance(value, np.ndarray):
        return value if value.dtype == np.float64 else value.astype(np.float64)
    if value is None:
        return 0.0
    if value is UNDEFINED:
        return math.nan
    raise Unsupported(f"arithmetic on {type_name(value)}")


def type_name(value: Any) -> str:
    """typeof, for uniform values."""
    if isinstance(value, bool) or (isinstance(value, np.ndarray) and value.dtype == bool):
        return "boolean"
    if isinstance(value, float | np.ndarray):
        return "number"
    if isinstance(value, str):
        return "string"
    if value is UNDEFINED:
        return "undefined"
    if callable(getattr(value, "call", None)) or isinstance(value, Native):
        return "function"
    if isinstance(value, Mixed):
        raise Unsupported("typeof of a value whose type differs between pixels")
    return "object"


def number_result(value: Any) -> Any:
    """numpy scalars and 0-d arrays back to Python floats and bools, so uniform values stay uniform."""
    if isinstance(value, np.generic) or (isinstance(value, np.ndarray) and value.ndim == 0):
        return bool(value) if value.dtype == bool else float(value)
    return value


def js_pow(base: Any, exponent: Any) -> Any:
    """Math.pow: C's pow, except that NaN exponents and (+-1) ** +-Infinity give NaN."""
    with np.errstate(all="ignore"):
        result = np.power(np.float64(base) if isinstance(base, float) else base, exponent)
        nan = np.isnan(exponent) | ((np.abs(base) == 1) & np.isinf(exponent))
        return number_result(
            np.where(nan, np.nan, result) if isinstance(result, np.ndarray) else (math.nan if nan else result)
        )


def merge(mask: Mask, a: Any, b: Any, n: int) -> Any:
    """`a` in the lanes of `mask`, `b` elsewhere."""
    if mask is None or a is b:
        return a
    if isinstance(a, Mixed) or isinstance(b, Mixed) or not _compatible(a, b):
        return normalise([*_branches(a, mask), *_branches(b, ~mask)], n)
    return _merge_compatible(mask, a, b, n)


def _compatible(a: Any, b: Any) -> bool:
    """Whether one value (an array, or an object of arrays) can hold both."""
    if a is b:
        return True
    kind_a, kind_b = _kind(a), _kind(b)
    if kind_a in ("number", "boolean"):
        return kind_a == kind_b
    if kind_a == kind_b == "string":
        return a == b
    if isinstance(a, JSArray) and isinstance(b, JSArray):
        return len(a.items) == len(b.items) and all(_compatible(x, y) for x, y in zip(a.items, b.items))
    if type(a) is JSObject and type(b) is JSObject:
        return (
            a.proto is b.proto
            and a.props.keys() == b.props.keys()
            and all(_compatible(a.props[k], b.props[k]) for k in a.props)
        )
    return False


def _merge_compatible(mask: np.ndarray, a: Any, b: Any, n: int) -> Any:
    if a is b:
        return a
    if isinstance(a, JSArray):
        merged = JSArray([_merge_compatible(mask, x, y, n) for x, y in zip(a.items, b.items)])
        merged.merged = True
        return merged
    if isinstance(a, JSObject):
        merged_object = JSObject({k: _merge_compatible(mask, a.props[k], b.props[k], n) for k in a.props}, a.proto)
        merged_object.merged = True
        return merged_object
    if isinstance(a, str):
        return a
    return np.where(mask, a, b)


def normalise(branches: Iterable[tuple[np.ndarray, Any]], n: int) -> Any:
    """Drop empty branches and merge those one value can hold; Mixed if more than one kind remains."""
    groups: list[list[Any]] = []
    for mask, value in branches:
        if not mask.any():
            continue
        for group in groups:
            if _compatible(group[1], value):
                group[1] = _merge_compatible(group[0], group[1], value, n)
                group[0] = group[0] | mask
                break
        else:
            groups.append([mask, value])
    if not groups:
        return UNDEFINED
    if len(groups) == 1:
        return groups[0][1]
    return Mixed([(mask, value) for mask, value in groups])


def restrict(value: Any, mask: Mask) -> Any:
    """The value as seen by the lanes of `mask`: Mixed branches outside it are dropped."""
    if not isinstance(value, Mixed) or mask is None:
        return value
    branches = [(branch_mask & mask, branch) for branch_mask, branch in value.branches]
    live = [(m, v) for m, v in branches if m.any()]
    if len(live) == 1:
        return live[0][1]
    return Mixed(live) if live else UNDEFINED


def _branches(value: Any, mask: np.ndarray) -> Iterable[tuple[np.ndarray, Any]]:
    if isinstance(value, Mixed):
        for branch_mask, branch in value.branches:
            yield branch_mask & mask, branch
    else:
        yield mask, value


def _kind(value: Any) -> str:
    if isinstance(value, bool) or (isinstance(value, np.ndarray) and value.dtype == bool):
        return "boolean"
    if isinstance(value, float | np.ndarray):
        return "number"
    if isinstance(value, str):
        return "string"
    return "other"


def distribute(fn: Callable[..., Any], args: list[Any], mask: Mask, n: int) -> Any:
    """Apply `fn` to each combination of the Mixed arguments' branches within `mask`, then merge."""
    for position, arg in enumerate(args):
        if isinstance(arg, Mixed):
            results = []
            for branch_mask, branch in arg.branches:
                lanes = branch_mask if mask is None else branch_mask & mask
                if not lanes.any():
                    continue
                narrowed = [*args[:position], branch, *args[position + 1 :]]
                results.append((lanes, distribute(fn, narrowed, lanes, n)))
            return normalise(results, n)
    return fn(*args)
