"""The fast path's globals: Math, arrays, and the evalscript library over numpy arrays.

The library follows prelude.js (the exact path's copy) operation for operation, so both give
the same doubles; tests/test_evalscript_helpers.py runs each helper through both.
"""

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from renderers.evalscript.output import js_round
from renderers.evalscript.values import (
    UNDEFINED,
    JSArray,
    JSObject,
    Native,
    Unsupported,
    is_varying,
    js_pow,
    merge,
    normalise,
    number_result,
    to_number,
    truthy,
)

__all__ = ["ARRAY_PROTOTYPE", "global_env"]

JAVA_DOUBLE_MAX_VAL = 1.7976931348623157e308
_KNEE = 0.92
_KNEE_SLOPE = 0.08 / 1.08
_BLUE_RED = [
    [1.0, 0x000080],
    [0.875, 0x0000FF],
    [0.625, 0x00FFFF],
    [0.375, 0xFFFF00],
    [0.125, 0xFF0000],
    [0.0, 0x800000],
]
_RED_TEMPERATURE = [[1.0, 0x000000], [0.525, 0xAE0000], [0.3, 0xFF6E00], [0.25, 0xFF8600], [0.0, 0xFFFFFF]]
_GREEN_WHITE = [[1.0, 0x000000], [0.6, 0x006600], [0.3, 0x80B300], [0.0, 0xFFFFFF]]


def _native(name: str, fn: Callable[..., Any], **props: Any) -> Native:
    return Native(name, fn, props or None)


def _arg(args: list[Any], position: int) -> Any:
    return args[position] if position < len(args) else UNDEFINED


def _numbers(args: list[Any]) -> list[Any]:
    return [to_number(a) for a in args]


def _uniform_number(value: Any, what: str) -> float:
    if not isinstance(value, float):
        raise Unsupported(f"{what} that differs between pixels or is not a number")
    return value


def _uniform_numbers(value: Any, what: str) -> list[float]:
    if not isinstance(value, JSArray):
        raise Unsupported(f"{what} that is not an array")
    return [_uniform_number(v, what) for v in value.items]


# -- numbers --------------------------------------------------------------------------------


def _math(fn: Callable[..., Any]) -> Callable[..., Any]:
    def call(interp: Any, this: Any, args: list[Any], mask: Any) -> Any:
        with np.errstate(all="ignore"):
            values = [np.float64(v) if isinstance(v, float) else v for v in _numbers(args)]
            return number_result(fn(*values))

    return call


def _unary(fn: Callable[[Any], Any]) -> Callable[..., Any]:
    return _math(lambda x=math.nan, *_: fn(x))


def _extremum(reduce: Callable[..., Any], empty: float) -> Callable[..., Any]:
    def call(interp: Any, this: Any, args: list[Any], mask: Any) -> Any:
        values = _numbers(args)
        if not values:
            return empty
        result = values[0]
        for value in values[1:]:
            result = reduce(result, value)
        return number_result(result)

    return call


def _sign(x: Any) -> Any:
    return np.where(x > 0, 1.0, np.where(x < 0, -1.0, x))


def _math_object() -> JSObject:
    functions: dict[str, Callable[..., Any]] = {
        "abs": _unary(np.abs),
        "acos": _unary(np.arccos),
        "acosh": _unary(np.arccosh),
        "asin": _unary(np.arcsin),
        "asinh": _unary(np.arcsinh),
        "atan": _unary(np.arctan),
        "atanh": _unary(np.arctanh),
        "atan2": _math(lambda y=math.nan, x=math.nan, *_: np.arctan2(y, x)),
        "cbrt": _unary(np.cbrt),
        "ceil": _unary(np.ceil),
        "cos": _unary(np.cos),
        "cosh": _unary(np.cosh),
        "exp": _unary(np.exp),
        "expm1": _unary(np.expm1),
        "floor": _unary(np.floor),
        "fround": _unary(lambda x: np.asarray(x, np.float32).astype(np.float64)),
        "hypot": _math(lambda *xs: np.sqrt(sum(x * x for x in xs)) if xs else 0.0),
        "log": _unary(np.log),
        "log1p": _unary(np.log1p),
        "log10": _unary(np.log10),
        "log2": _unary(np.log2),
        "max": _extremum(np.maximum, -math.inf),
        "min": _extremum(np.minimum, math.inf),
        "pow": _math(lambda x=math.nan, y=math.nan, *_: js_pow(x, y)),
        "round": _unary(js_round),
        "sign": _unary(_sign),
        "sin": _unary(np.sin),
        "sinh": _unary(np.sinh),
        "sqrt": _unary(np.sqrt),
        "tan": _unary(np.tan),
        "tanh": _unary(np.tanh),
        "trunc": _unary(np.trunc),
    }

    def random(interp: Any, this: Any, args: list[Any], mask: Any) -> Any:
        raise Unsupported("Math.random")

    props: dict[str, Any] = {name: _native(f"Math.{name}", fn) for name, fn in functions.items()}
    props["random"] = _native("Math.random", random)
    props.update(
        E=math.e,
        LN2=math.log(2),
        LN10=math.log(10),
        LOG2E=1 / math.log(2),
        LOG10E=1 / math.log(10),
        PI=math.pi,
        SQRT1_2=math.sqrt(0.5),
        SQRT2=math.sqrt(2),
    )
    return JSObject(props, shared=True)


def to_int32(value: Any) -> Any:
    """ToInt32, as the bitwise operators apply it."""
    with np.errstate(all="ignore"):
        x = np.where(np.isfinite(value), np.trunc(value), 0.0)
        wrapped = np.fmod(x, 2.0**32).astype(np.int64) & 0xFFFFFFFF
        signed = np.where(wrapped >= 2**31, wrapped - 2**32, wrapped)
    return signed if is_varying(value) else int(signed)


def bitwise(operator: str, a: Any, b: Any) -> Any:
    x, y = np.asarray(to_int32(a), np.int64), np.asarray(to_int32(b), np.int64)
    match operator:
        case "&":
            result = x & y
        case "|":
            result = x | y
        case "^":
            result = x ^ y
        case "<<":
            result = to_int32((x << (y & 31)) & 0xFFFFFFFF)
        case ">>":
            result = x >> (y & 31)
        case ">>>":
            result = (x & 0xFFFFFFFF) >> (y & 31)
        case _:
            raise Unsupported(f"the operator {operator}")
    result = np.asarray(result, dtype=np.float64)
    return result if result.ndim else float(result)


def _is_nan(interp: Any, this: Any, args: list[Any], mask: Any) -> Any:
    value = to_number(_arg(args, 0))
    return np.isnan(value) if is_varying(value) else math.isnan(value)


def _is_finite(interp: Any, this: Any, args: list[Any], mask: Any) -> Any:
    value = to_number(_arg(args, 0))
    return np.isfinite(value) if is_varying(value) else math.isfinite(value)


def _number_is(test: Callable[[Any], Any]) -> Callable[..., Any]:
    def call(interp: Any, this: Any, args: list[Any], mask: Any) -> Any:
        value = _arg(args, 0)
        if isinstance(value, float):
            return bool(test(value))
        if isinstance(value, np.ndarray) and value.dtype != bool:
            return test(value)
        return False

    return call


def concatenate(left: Any, right: Any) -> str:
    return _to_string(left) + _to_string(right)


def _to_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if value is UNDEFINED:
        return "undefined"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    raise Unsupported("strings built from per-pixel or fractional numbers")


def string_property(text: str, name: str) -> Any:
    if name == "length":
        return float(len(text))
    raise Unsupported(f"the string method {name!r}")


# -- arrays ---------------------------------------------------------------------------------


def _this_array(this: Any, interp: Any) -> JSArray:
    if not isinstance(this, JSArray):
        raise Unsupported("array methods on other values")
    return this


def _new_array(interp: Any, items: list[Any], mask: Any) -> JSArray:
    interp.allocate(items)
    return JSArray(items, shared=not interp.pixel_phase, lanes=mask)


def _map(interp: Any, this: Any, args: list[Any], mask: Any) -> Any:
    array, fn = _this_array(this, interp), _arg(args, 0)
    return _new_array(
        interp, [interp.call(fn, UNDEFINED, [v, float(i), array], mask) for i, v in enumerate(array.items)], mask
    )


def _for_each(interp: Any, this: Any, args: list[Any], mask: Any) -> Any:
    array, fn = _this_array(this, interp), _arg(args, 0)
    for i, v in enumerate(list(array.items)):
        interp.call(fn, UNDEFINED, [v, float(i), array], mask)
    return UNDEFINED


def _reduce(interp: Any, this: Any, args: list[Any], mask: Any) -> Any:
    array, fn = _this_array(this, interp), _arg(args, 0)
    items = list(array.items)
    if len(args) > 1:
        accumulator, start = args[1], 0
    elif items:
        accumulator, start = items[0], 1
    else:
        raise Unsupported("reduce of an empty array without an initial value")
    for i in range(start, len(items)):
        accumulator = interp.call(fn, UNDEFINED, [accumulator, items[i], float(i), array], mask)
    return accumulator


def _predicate(every: bool) -> Callable[..., Any]:
    def call(interp: Any, this: Any, args: list[Any], mask: Any) -> Any:
        array, fn = _this_array(this, interp), _arg(args, 0)
        result: Any = every
        for i, v in enumerate(array.items):
            test = truthy(interp.call(fn, UNDEFINED, [v, float(i), array], mask), interp.n)
            result = (result & test) if every else (result | test)
        return bool(result) if isinstance(result, bool | np.bool_) else result

    return call


def _filter(interp: Any, this: Any, args: list[Any], mask: Any) -> Any:
    array, fn = _this_array(this, interp), _arg(args, 0)
    kept = []
    for i, v in enumerate(array.items):
        test = interp.condition(interp.call(fn, UNDEFINED, [v, float(i), array], mask), mask)
        if isinstance(test, np.ndarray):
            raise Unsupported("filter whose result length differs between pixels")
        if test:
            kept.append(v)
    return _new_array(interp, kept, mask)


def _concat(interp: Any, this: Any, args: list[Any], mask: Any) -> Any:
    items = list(_this_array(this, interp).items)
    for arg in args:
        items.extend(arg.items if isinstance(arg, JSArray) else [arg])
    return _new_array(interp, items, mask)


def _slice(interp: Any, this: Any, args: list[Any], mask: Any) -> Any:
    items = _this_array(this, interp).items
    bounds = [None if a is UNDEFINED else int(_uniform_number(a, "a slice bound")) for a in args[:2]]
    return _new_array(interp, items[slice(*bounds)] if bounds else list(items), mask)


def _mutator(interp: Any, this: Any, mask: Any) -> JSArray:
    array = _this_array(this, interp)
    array.check_writable(interp.pixel_phase)
    if not (mask is None or mask is array.lanes):
        raise Unsupported("an array that changes length in some pixels only")
    return array


def _push(interp: Any, this: Any, args: list[Any], mask: Any) -> Any:
    array = _mutator(interp, this, mask)
    interp.allocate(args)
    array.items.extend(args)
    return float(len(array.items))


def _pop(interp: Any, this: Any, args: list[Any], mask: Any) -> Any:
    array = _mutator(interp, this, mask)
    return array.items.pop() if array.items else UNDEFINED


def _reverse(interp: Any, this: Any, args: list[Any], mask: Any) -> Any:
    array = _mutator(interp, this, mask)
    array.items.reverse()
    return array


def _fill(interp: Any, this: Any, args: list[Any], mask: Any) -> Any:
    array = _mutator(interp, this, mask)
    if len(args) > 1:
        raise Unsupported("fill with bounds")
    array.items[:] = [_arg(args, 0)] * len(array.items)
    return array


def _index_of(interp: Any, this: Any, args: list[Any], mask: Any) -> Any:
    target = _arg(args, 0)
    for i, v in enumerate(_this_array(this, interp).items):
        if is_varying(v) or is_varying(target):
            raise Unsupported("indexOf of per-pixel values")
        if type(v) is type(target) and v == target:
            return float(i)
    return -1.0


def _includes(interp: Any, this: Any, args: list[Any], mask: Any) -> Any:
    target = _arg(args, 0)
    for v in _this_array(this, interp).items:
        if is_varying(v) or is_varying(target):
            raise Unsupported("includes of per-pixel values")
        if type(v) is type(target) and (v == target or (isinstance(v, float) and math.isnan(v) and math.isnan(target))):
            return True
    return False


ARRAY_PROTOTYPE = JSObject(
    {
        name: _native(f"Array.prototype.{name}", fn)
        for name, fn in {
            "map": _map,
            "forEach": _for_each,
            "reduce": _reduce,
            "every": _predicate(True),
            "some": _predicate(False),
            "filter": _filter,
            "concat": _concat,
            "slice": _slice,
            "push": _push,
            "pop": _pop,
            "reverse": _reverse,
            "fill": _fill,
            "indexOf": _index_of,
            "includes": _includes,
        }.items()
    },
    shared=True,
)


def _array_constructor(interp: Any, this: Any, args: list[Any], mask: Any) -> Any:
    if len(args) == 1 and isinstance(args[0], float):
        length = args[0]
        if not (length.is_integer() and 0 <= length <= 100_000):
            raise Unsupported("an array of this length")
        return _new_array(interp, [UNDEFINED] * int(length), mask)
    return _new_array(interp, list(args), mask)


def _is_array(interp: Any, this: Any, args: list[Any], mask: Any) -> Any:
    return isinstance(_arg(args, 0), JSArray)


def combine_lookup(branches: list[tuple[Any, Any]], n: int) -> Any:
    """Merge the results of obj[key] per distinct key; a table gather when they are number arrays."""
    found = [(m, v) for m, v in branches if isinstance(v, JSArray)]
    lengths = {len(v.items) for _, v in found}
    if len(found) > 2 and len(lengths) == 1 and all(isinstance(x, float) for _, v in found for x in v.items):
        rows = np.zeros(n, np.intp)
        covered = np.zeros(n, bool)
        for row, (lanes, _) in enumerate(found):
            lanes = np.ones(n, bool) if lanes is None else lanes
            rows[lanes] = row
            covered |= lanes
        table = np.array([v.items for _, v in found], dtype=np.float64)
        gathered = JSArray([table[rows, column] for column in range(table.shape[1])])
        gathered.merged = True
        rest = [(m, v) for m, v in branches if not isinstance(v, JSArray)]
        return normalise([(covered, gathered), *[(np.ones(n, bool) if m is None else m, v) for m, v in rest]], n)
    return normalise([(np.ones(n, bool) if m is None else m, v) for m, v in branches], n)


# -- the evalscript library -----------------------------------------------------------------


def _index(interp: Any, this: Any, args: list[Any], mask: Any) -> Any:
    x, y = to_number(_arg(args, 0)), to_number(_arg(args, 1))
    with np.errstate(all="ignore"):
        total = np.add(x, y)
        return number_result(np.where(total == 0, 0.0, np.subtract(x, y) / total))


def _inverse(interp: Any, this: Any, args: list[Any], mask: Any) -> Any:
    x = to_number(_arg(args, 0))
    with np.errstate(all="ignore"):
        return number_result(np.where(x == 0, JAVA_DOUBLE_MAX_VAL, np.divide(1.0, x)))


def _combine(interp: Any, this: Any, args: list[Any], mask: Any) -> Any:
    first, second, alpha = _arg(args, 0), _arg(args, 1), to_number(_arg(args, 2))
    if not isinstance(first, JSArray) or not isinstance(second, JSArray):
        raise Unsupported("combine of non-arrays")
    items = [
        number_result(to_number(c) * alpha + to_number(second.get(str(i))) * np.subtract(1.0, alpha))
        for i, c in enumerate(first.items)
    ]
    return _new_array(interp, items, mask)


def _int2rgb(value: Any) -> list[float]:
    v = int(to_int32(_uniform_number(value, "a colour")))
    return [float((v >> 16) & 0xFF), float((v >> 8) & 0xFF), float(v & 0xFF)]


def _int2rgb_native(interp: Any, this: Any, args: list[Any], mask: Any) -> Any:
    return _new_array(interp, _int2rgb(_arg(args, 0)), mask)


def _rgb2int(interp: Any, this: Any, args: list[Any], mask: Any) -> Any:
    r, g, b = (int(to_int32(c)) for c in _uniform_numbers(_arg(args, 0), "a colour")[:3])
    return float(to_int32((r << 16) + (g << 8) + b))


def _normalize_rgb(interp: Any, this: Any, args: list[Any], mask: Any) -> Any:
    colour = _arg(args, 0)
    if not isinstance(colour, JSArray):
        raise Unsupported("normalizeRGB of a non-array")
    return _new_array(interp, [number_result(np.divide(to_number(c), 255.0)) for c in colour.items], mask)


def _table(values: Any) -> tuple[list[Any], bool]:
    """An interpolation table's entries: uniform numbers, or uniform arrays of them."""
    if not isinstance(values, JSArray):
        raise Unsupported("an interpolation table that is not an array")
    entries = []
    arrays = [isinstance(v, JSArray) for v in values.items]
    if any(arrays) and not all(arrays):
        raise Unsupported("an interpolation table mixing numbers and arrays")
    for v in values.items:
        entries.append(
            _uniform_numbers(v, "a table colour") if isinstance(v, JSArray) else _uniform_number(v, "a table value")
        )
    return entries, all(arrays) and bool(arrays)


def _value_interpolate(interp: Any, this: Any, args: list[Any], mask: Any) -> Any:
    value, limits_arg, values_arg = _arg(args, 0), _arg(args, 1), _arg(args, 2)
    if limits_arg is UNDEFINED:
        return value
    limits = _uniform_numbers(limits_arg, "limits")
    table, arrays = _table(values_arg)
    if not limits or len(table) < len(limits):
        raise Unsupported("an interpolation table shorter than its limits")
    v = np.asarray(to_number(value), dtype=np.float64)
    count = len(limits)
    segment = np.full(v.shape, count)
    for i in range(count - 1, 0, -1):
        segment = np.where(v <= limits[i], i, segment)
    below = v <= limits[0]
    inner = ~below & (segment < count)
    low = np.clip(segment - 1, 0, count - 1)
    high = np.clip(segment, 0, count - 1)
    bounds = np.array(limits)
    with np.errstate(all="ignore"):
        t = (v - bounds[low]) / (bounds[high] - bounds[low])
    channels = len(table[0]) if arrays else 1
    rows = np.array(table, dtype=np.float64).reshape(len(table), channels)
    results = []
    for c in range(channels):
        column = rows[:, c]
        a, b = column[low], column[high]
        with np.errstate(all="ignore"):
            result = np.where(below, column[0], np.where(inner, a + (b - a) * t, column[-1]))
        results.append(result if v.ndim else float(result))
    if arrays:
        return _new_array(interp, results, mask)
    return results[0]


def _value_map(interp: Any, this: Any, args: list[Any], mask: Any) -> Any:
    limits = _uniform_numbers(_arg(args, 1), "limits")
    table, arrays = _table(_arg(args, 2))
    v = np.asarray(to_number(_arg(args, 0)), dtype=np.float64)
    chosen = np.full(v.shape, len(table) - 1)
    for i in range(len(limits) - 1, -1, -1):
        chosen = np.where(limits[i] >= v, i, chosen)
    channels = len(table[0]) if arrays else 1
    rows = np.array(table, dtype=np.float64).reshape(len(table), channels)
    results = [rows[chosen, c] if v.ndim else float(rows[chosen, c]) for c in range(channels)]
    return _new_array(interp, results, mask) if arrays else results[0]


def _visualizer(props: dict[str, Any], interp: Any) -> JSObject:
    return JSObject(props, shared=not interp.pixel_phase)


def _process_list(process: Callable[[Any], Any]) -> Callable[..., Any]:
    def call(interp: Any, this: Any, args: list[Any], mask: Any) -> Any:
        values = _arg(args, 0)
        if not isinstance(values, JSArray):
            raise Unsupported("processList of a non-array")
        return _new_array(interp, [process(v) for v in values.items], mask)

    return call


def _stretch_factory(name: str, compress: bool, single: bool) -> Native:
    def construct(interp: Any, this: Any, args: list[Any], mask: Any) -> Any:
        defaults = (0.0, 1.0, 1.0, 0.0, 1.0)
        minimum, maximum, gain, offset, gamma = (
            defaults[i] if _arg(args, i) is UNDEFINED else to_number(_arg(args, i)) for i in range(5)
        )
        for parameter in (minimum, maximum, gain, offset, gamma):
            _uniform_number(parameter, "a visualizer parameter")
        knee = compress and 0 < maximum < 1

        def value(val: Any) -> Any:
            # prelude.js's __value, in place on one new array: a tile's arrays are large.
            with np.errstate(all="ignore"):
                x = to_number(val)
                span = np.float64(maximum) - minimum
                if not is_varying(x):
                    v = np.array((x - np.float64(minimum)) / span)
                elif minimum == 0:  # x - 0 is x (but for -0, which the clamp makes +0)
                    v = np.divide(x, span)
                else:
                    v = np.subtract(x, minimum)
                    v /= span
                if gain != 1 or offset != 0:  # 1 * v + 0 is v but for -0, which the clamp makes +0 anyway
                    v *= gain
                    v += offset
                if gamma != 1:
                    v = np.asarray(js_pow(np.maximum(0.0, v), gamma))
                if knee:
                    high = np.flatnonzero(v.ravel() >= _KNEE)
                    if high.size:
                        flat = v.reshape(-1)
                        flat[high] = (flat[high] - _KNEE) * _KNEE_SLOPE + _KNEE
                # Math.max(0, Math.min(1, v)): NaN stays NaN; 0 first, so -0 becomes +0 as in JavaScript.
                np.minimum(1.0, v, out=v)
                np.maximum(0.0, v, out=v)
                return number_result(v)

        def process(interp: Any, this: Any, args: list[Any], mask: Any) -> Any:
            result = value(_arg(args, 0))
            return _new_array(interp, [result], mask) if single else result

        props = {
            "process": _native(f"{name}.process", process),
            "processList": _native(f"{name}.processList", _process_list(value)),
        }
        return _visualizer(props, interp)

    return Native(name, construct, constructor=True)


def _count_at_or_below(bounds: list[float], values: np.ndarray) -> np.ndarray:
    """How many of the sorted `bounds` are <= each value (0 for NaN): searchsorted(side="right"),
    by one comparison per bound, which for a colour table's few bounds is several times faster."""
    counts = np.zeros(np.shape(values), np.uint8 if len(bounds) < 255 else np.intp)
    for bound in bounds:
        np.add(counts, values >= bound, out=counts)
    return counts


def _colour255(colour: Any) -> list[float]:
    if isinstance(colour, JSArray):
        return [c * 255 for c in _uniform_numbers(colour, "a colour")[:3]]
    return _int2rgb(colour)


class _Ramp:
    """ColorRampVisualizer's state: sorted stop values and their colours on the 0..255 scale."""

    def __init__(self, values: list[float], colours: list[list[float]]) -> None:
        self.values = values
        self.colours = colours

    @classmethod
    def build(cls, ramps: Any, minimum: Any, maximum: Any) -> "_Ramp":
        if not isinstance(ramps, JSArray) or not ramps.items:
            raise Unsupported("a colour ramp that is not a list of stops")
        stops = []
        for stop in ramps.items:
            if not isinstance(stop, JSArray) or len(stop.items) < 2:
                raise Unsupported("a colour ramp stop that is not [value, colour]")
            stops.append((_uniform_number(stop.items[0], "a ramp value"), _colour255(stop.items[1])))
        if minimum is not UNDEFINED and maximum is not UNDEFINED and len(stops) > 1:
            low, high = _uniform_number(to_number(minimum), "minVal"), _uniform_number(to_number(maximum), "maxVal")
            first, last = stops[0][0], stops[-1][0]
            with np.errstate(all="ignore"):
                stops = [(float(low + ((np.float64(v) - first) / (last - first)) * (high - low)), c) for v, c in stops]
        stops.sort(key=lambda stop: stop[0])
        return cls([v for v, _ in stops], [c for _, c in stops])

    def process(self, value: Any) -> list[Any]:
        v = np.asarray(to_number(value), dtype=np.float64)
        values = np.array(self.values)
        colours = np.array(self.colours)
        count = len(values)
        if count == 1:
            chosen = np.broadcast_to(colours[0], (*v.shape, 3))
            return [js_round(chosen[..., c]) / 255 for c in range(3)]
        upper = np.clip(_count_at_or_below(self.values, v), 1, count - 1)
        lower = upper - 1
        with np.errstate(all="ignore"):
            t = (v - values[lower]) / (values[upper] - values[lower])
        below = v <= values[0]
        above = ~(v < values[-1])
        channels = []
        for c in range(3):
            a, b = colours[lower, c], colours[upper, c]
            with np.errstate(all="ignore"):
                mixed = np.where(below, colours[0, c], np.where(above, colours[-1, c], a + (b - a) * t))
            channels.append(js_round(mixed) / 255)
        return channels


def _ramp_object(ramp: _Ramp, interp: Any, name: str) -> JSObject:
    def process(interp: Any, this: Any, args: list[Any], mask: Any) -> Any:
        return _new_array(interp, [number_result(c) if c.ndim == 0 else c for c in ramp.process(_arg(args, 0))], mask)

    def process_list(interp: Any, this: Any, args: list[Any], mask: Any) -> Any:
        values = _arg(args, 0)
        if not isinstance(values, JSArray):
            raise Unsupported("processList of a non-array")
        return _new_array(interp, [process(interp, this, [v], mask) for v in values.items], mask)

    def inverse(interp: Any, this: Any, args: list[Any], mask: Any) -> Any:
        return _ramp_object(_Ramp(list(ramp.values), list(reversed(ramp.colours))), interp, name)

    props = {
        "process": _native(f"{name}.process", process),
        "processList": _native(f"{name}.processList", process_list),
        "inverse": _native(f"{name}.inverse", inverse),
    }
    return _visualizer(props, interp)


def _ramp_class(name: str, default_range: bool, tables: dict[str, list[list[float]]]) -> Native:
    def range_of(args: list[Any]) -> tuple[Any, Any]:
        low, high = _arg(args, 1), _arg(args, 2)
        if default_range:
            low = 0.0 if low is UNDEFINED else low
            high = 1.0 if high is UNDEFINED else high
        return low, high

    def construct(interp: Any, this: Any, args: list[Any], mask: Any) -> Any:
        return _ramp_object(_Ramp.build(_arg(args, 0), *range_of(args)), interp, name)

    def factory(table: list[list[float]]) -> Native:
        def create(interp: Any, this: Any, args: list[Any], mask: Any) -> Any:
            ramps = _js_table(table, interp)
            return construct(interp, this, [ramps, _arg(args, 0), _arg(args, 1)], mask)

        return _native(f"{name}.create", create)

    props = {f"create{key}": factory(table) for key, table in tables.items()}
    return Native(name, construct, props, constructor=True)


def _color_map(interp: Any, this: Any, args: list[Any], mask: Any) -> Any:
    pairs = _arg(args, 0)
    if not isinstance(pairs, JSArray):
        raise Unsupported("a colour map that is not a list")
    values, colours = [], []
    for pair in pairs.items:
        if not isinstance(pair, JSArray) or len(pair.items) < 2:
            raise Unsupported("a colour map entry that is not [value, colour]")
        values.append(pair.items[0])
        colour = pair.items[1]
        if isinstance(colour, JSArray):
            colours.append(list(colour.items))
        else:
            colours.append([number_result(np.float64(c) / 255) for c in _int2rgb(colour)])

    bounds = [to_number(value) for value in values]
    uniform_bounds = [b for b in bounds if isinstance(b, float)]
    ordered = len(uniform_bounds) == len(bounds) and all(a <= b for a, b in zip(uniform_bounds[1:], uniform_bounds[2:]))
    uniform = all(isinstance(c, float) for colour in colours for c in colour) and len({len(c) for c in colours}) == 1
    table = np.array(colours, dtype=np.float64) if uniform else None

    def process(interp: Any, this: Any, args: list[Any], mask: Any) -> Any:
        v = to_number(_arg(args, 0))
        if isinstance(v, np.ndarray) and ordered and table is not None:
            # The last stop (after the first) at or below the value; NaN compares false: the first.
            counts = _count_at_or_below(uniform_bounds[1:], v)
            return _new_array(interp, [table[counts, c] for c in range(table.shape[1])], mask)
        chosen: Any = 0
        for i in range(1, len(values)):
            test = np.greater_equal(v, bounds[i])
            chosen = np.where(test, i, chosen)
        chosen = np.asarray(chosen)
        if chosen.ndim == 0:
            return _new_array(interp, list(colours[int(chosen)]), mask)
        rows = [(chosen == i) for i in range(len(values))]
        channels = len(colours[0])
        items = []
        for c in range(channels):
            result: Any = colours[0][c]
            for i in range(1, len(values)):
                result = merge(rows[i], colours[i][c], result, interp.n)
            items.append(to_number(result))
        return _new_array(interp, items, mask)

    return _visualizer({"process": _native("ColorMapVisualizer.process", process)}, interp)


def _identity(interp: Any, this: Any, args: list[Any], mask: Any) -> Any:
    def process(interp: Any, this: Any, args: list[Any], mask: Any) -> Any:
        return _arg(args, 0)

    def process_list(interp: Any, this: Any, args: list[Any], mask: Any) -> Any:
        values = _arg(args, 0)
        if not isinstance(values, JSArray):
            raise Unsupported("processList of a non-array")
        return _new_array(interp, list(values.items), mask)

    props = {
        "process": _native("Identity.process", process),
        "processList": _native("Identity.processList", process_list),
    }
    return _visualizer(props, interp)


def _js_table(table: list[list[float]], interp: Any) -> JSArray:
    return JSArray([JSArray([float(v), float(c)], shared=True) for v, c in table], shared=True)


def _library() -> dict[str, Any]:
    """The globals that no script can change: functions, and objects frozen against writes."""
    tables = {"RedTemperature": _RED_TEMPERATURE, "WhiteGreen": _GREEN_WHITE, "BlueRed": _BLUE_RED}
    number = JSObject(
        {
            "isNaN": _native("Number.isNaN", _number_is(np.isnan)),
            "isFinite": _native("Number.isFinite", _number_is(np.isfinite)),
            "MAX_VALUE": JAVA_DOUBLE_MAX_VAL,
            "MIN_VALUE": 5e-324,
            "EPSILON": 2.0**-52,
            "POSITIVE_INFINITY": math.inf,
            "NEGATIVE_INFINITY": -math.inf,
            "NaN": math.nan,
        },
        shared=True,
    )
    frozen = [
        number,
        math_object := _math_object(),
        sample_type := JSObject({t: t for t in ("AUTO", "UINT8", "INT8", "UINT16", "INT16", "FLOAT32")}),
        mosaicking := JSObject({m: m for m in ("SIMPLE", "ORBIT", "TILE")}),
        ARRAY_PROTOTYPE,
    ]
    for obj in frozen:
        obj.frozen = True
    return {
        "undefined": UNDEFINED,
        "NaN": math.nan,
        "Infinity": math.inf,
        "Math": math_object,
        "Number": number,
        "isNaN": _native("isNaN", _is_nan),
        "isFinite": _native("isFinite", _is_finite),
        "Array": Native(
            "Array", _array_constructor, {"isArray": _native("Array.isArray", _is_array)}, constructor=True
        ),
        "JAVA_DOUBLE_MAX_VAL": JAVA_DOUBLE_MAX_VAL,
        "SampleType": sample_type,
        "Mosaicking": mosaicking,
        "index": _native("index", _index),
        "inverse": _native("inverse", _inverse),
        "combine": _native("combine", _combine),
        "int2rgb": _native("int2rgb", _int2rgb_native),
        "rgb2int": _native("rgb2int", _rgb2int),
        "normalizeRGB": _native("normalizeRGB", _normalize_rgb),
        "valueInterpolate": _native("valueInterpolate", _value_interpolate),
        "colorBlend": _native("colorBlend", _value_interpolate),
        "valueMap": _native("valueMap", _value_map),
        "HighlightCompressVisualizer": _stretch_factory("HighlightCompressVisualizer", True, False),
        "HighlightCompressVisualizerSingle": _stretch_factory("HighlightCompressVisualizerSingle", True, True),
        "DefaultVisualizer": _stretch_factory("DefaultVisualizer", False, False),
        "Identity": Native("Identity", _identity, constructor=True),
        "ColorRampVisualizer": _ramp_class("ColorRampVisualizer", False, tables),
        "ColorGradientVisualizer": _ramp_class("ColorGradientVisualizer", True, tables),
        "ColorMapVisualizer": Native("ColorMapVisualizer", _color_map, constructor=True),
    }


_LIBRARY = _library()


def global_env(env: Any, interp: Any) -> Any:
    """Fill the root scope; returns it. The colour tables are arrays a script may change: new each run."""
    env.vars.update(_LIBRARY)
    env.vars.update(
        blueRed=_js_table(_BLUE_RED, interp),
        redTemperature=_js_table(_RED_TEMPERATURE, interp),
        greenWhite=_js_table(_GREEN_WHITE, interp),
    )
    return env
