"""Compile an evalscript once: check it, find its form, read its `setup()`.

A compiled `Evalscript` is a value the pipeline can keep: `EvalscriptCache` keys them by the
SHA-256 of the text, so the 60 tiles of a map parse and set up a script once.
"""

import hashlib
import re
import threading
from dataclasses import dataclass, field
from functools import cache
from types import ModuleType
from typing import Any

from cachetools import LRUCache, TTLCache

from renderers.evalscript.errors import EvalscriptError
from renderers.evalscript.v8 import PRELUDE_NAMES, OutputLayout, V8Program
from renderers.evalscript.vector import VectorProgram

__all__ = [
    "MAX_SCRIPT_LENGTH",
    "SAMPLE_TYPES",
    "UNITS",
    "Evalscript",
    "EvalscriptCache",
    "FastPath",
    "InputBand",
    "Output",
    "compile_evalscript",
]

# Room for the collection's tree models (hundreds of KB), not for anything bigger.
MAX_SCRIPT_LENGTH = 1024 * 1024
MAX_INPUT_BANDS = 64
MAX_OUTPUTS = 16
MAX_OUTPUT_BANDS = 64
UNITS = ("REFLECTANCE", "DN")
SAMPLE_TYPES = ("AUTO", "UINT8", "INT8", "UINT16", "INT16", "FLOAT32")
DATA_MASK = "dataMask"

_VERSION = re.compile(r"\A\s*//\s*VERSION\s*=\s*(\d+)")
_EVALUATE_PIXEL = re.compile(r"\bfunction\s+evaluatePixel\b|\bevaluatePixel\s*=")
_IDENTIFIER = re.compile(r"\A[A-Za-z_$][\w$]*\Z")
# Names a script reads without declaring them that are not bands: the language's globals.
_JS_GLOBALS = frozenset(
    [
        "Math",
        "Number",
        "String",
        "Boolean",
        "Array",
        "Object",
        "JSON",
        "Date",
        "RegExp",
        "Error",
        "TypeError",
        "RangeError",
        "SyntaxError",
        "ReferenceError",
        "EvalError",
        "URIError",
        "parseInt",
        "parseFloat",
        "isNaN",
        "isFinite",
        "undefined",
        "NaN",
        "Infinity",
        "globalThis",
        "Symbol",
        "Map",
        "Set",
        "WeakMap",
        "WeakSet",
        "Reflect",
        "Proxy",
        "Int8Array",
        "Uint8Array",
        "Uint8ClampedArray",
        "Int16Array",
        "Uint16Array",
        "Int32Array",
        "Uint32Array",
        "Float32Array",
        "Float64Array",
        "BigInt64Array",
        "BigUint64Array",
        "ArrayBuffer",
        "DataView",
        "BigInt",
        "encodeURIComponent",
        "decodeURIComponent",
        "encodeURI",
        "decodeURI",
        "escape",
        "unescape",
        "console",
        "arguments",
        "eval",
        "Function",
        "Intl",
    ]
)
# Control characters other than whitespace have no place in a script.
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class InputBand:
    """A band the script reads, with the units it asks for (REFLECTANCE or DN)."""

    name: str
    units: str = "REFLECTANCE"


@dataclass(frozen=True)
class Output:
    """An output of `setup()`. `bands` is None for a simple script until it runs."""

    id: str
    bands: int | None
    sample_type: str = "AUTO"


class FastPath:
    """The vectorised program, and why it could not run the script once it failed to (then it never runs again)."""

    def __init__(self, program: VectorProgram) -> None:
        self.program = program
        self.refused: str | None = None


@dataclass(frozen=True)
class Evalscript:
    """A compiled script; build it with `compile_evalscript` or `EvalscriptCache.get`.

    Attributes:
        sha256: hex digest of the text, for cache keys and URLs.
        form: "v3" (setup and evaluatePixel) or "simple" (band globals, top-level return).
        inputs: the bands it reads, dataMask included, in the order it names them.
        outputs: its outputs; tiles and WMS draw the one with id "default".
        mosaicking: always "SIMPLE" (the others are refused when compiling).
    """

    sha256: str
    form: str
    inputs: tuple[InputBand, ...]
    outputs: tuple[Output, ...]
    mosaicking: str
    source: str = field(repr=False, compare=False)
    program: V8Program = field(repr=False, compare=False)
    # The fast path, or None when esprima cannot parse the script.
    fast: "FastPath | None" = field(repr=False, compare=False)

    @property
    def bands(self) -> frozenset[str]:
        """The data bands it reads (dataMask is not one: it comes from the validity mask)."""
        return frozenset(band.name for band in self.inputs if band.name != DATA_MASK)

    def output(self, output_id: str = "default") -> Output:
        for output in self.outputs:
            if output.id == output_id:
                return output
        raise EvalscriptError(f"the script has no output {output_id!r}")

    @property
    def layout(self) -> OutputLayout | None:
        """Buffer order of the outputs; None for a simple script."""
        if self.form == "simple":
            return None
        return OutputLayout(tuple(o.id for o in self.outputs), tuple(o.bands or 0 for o in self.outputs))


def compile_evalscript(
    text: str,
    *,
    max_length: int = MAX_SCRIPT_LENGTH,
    timeout: float = 2.0,
    memory_limit: int = 256 * 1024 * 1024,
    max_isolates: int = 2,
) -> Evalscript:
    """Check and set up a script.

    Args:
        text: the evalscript, V3 (`//VERSION=3`, setup and evaluatePixel) or simple.
        max_length: longest accepted text, in characters.
        timeout: seconds its top-level code and setup() may take.
        memory_limit: V8 heap limit per isolate, in bytes.
        max_isolates: renders of this script that may run at once on the exact path.

    Raises:
        EvalscriptSyntaxError: it does not parse (with line and column).
        EvalscriptError: anything else refused: length, version, setup's inputs and outputs,
            ORBIT or TILE mosaicking.
        EvalscriptTimeout, EvalscriptMemoryError: setup ran past `timeout` or the memory limit.
    """
    if not isinstance(text, str) or not text.strip():
        raise EvalscriptError("the evalscript is empty")
    if len(text) > max_length:
        raise EvalscriptError(f"the evalscript is longer than {max_length} characters")
    control = _CONTROL.search(text)
    if control:
        line = text.count("\n", 0, control.start()) + 1
        raise EvalscriptError(f"character U+{ord(control.group()):04X} at line {line} is not allowed")
    version = _VERSION.match(text)
    if version and version.group(1) != "3":
        raise EvalscriptError(f"VERSION={version.group(1)} scripts are not supported: use VERSION=3 or no version line")
    tree = _parse(text)
    if tree is not None:
        v3 = _declares_evaluate_pixel(tree)
    else:
        v3 = bool(_EVALUATE_PIXEL.search(text))
    sha256 = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    options = {"memory_limit": memory_limit, "max_isolates": max_isolates}
    if not v3:
        if tree is None:
            V8Program(text, (), **options).check_syntax(timeout)  # V8's own syntax error, if it has one
            raise EvalscriptError(
                "this simple script uses syntax eo-tiler cannot analyse for its band globals: write it as a VERSION=3 script"
            )
        bands = _free_names(tree)
        program = V8Program(text, bands, **options)
        program.check_syntax(timeout)
        inputs = tuple(InputBand(name) for name in bands)
        simple_fast = FastPath(VectorProgram(tree, bands))
        return Evalscript(sha256, "simple", inputs, (Output("default", None),), "SIMPLE", text, program, simple_fast)
    program = V8Program(text, None, **options)
    inputs, outputs, mosaicking = _parse_setup(program.setup(timeout))
    fast = FastPath(VectorProgram(tree, None)) if tree is not None else None
    return Evalscript(sha256, "v3", inputs, outputs, mosaicking, text, program, fast)


class EvalscriptCache:
    """Compiled scripts by the SHA-256 of their text, least recently used dropped first.

    Concurrent requests for one new script compile it once; other scripts do not wait. A refused
    script is remembered for `refusal_ttl` seconds, so a map's 60 tiles of a broken script (or one
    whose setup() never ends) cost one compile, not 60; after that it may be tried again (a
    timeout on a loaded machine need not be the script's fault).
    """

    def __init__(self, maxsize: int = 32, *, refusal_ttl: float = 60.0, **compile_options: object) -> None:
        self._scripts: LRUCache[str, Evalscript] = LRUCache(maxsize=maxsize)
        self._refused: TTLCache[str, EvalscriptError] = TTLCache(maxsize=256, ttl=refusal_ttl)
        self._options = compile_options
        self._lock = threading.Lock()
        self._compiling: dict[str, threading.Lock] = {}

    def get(self, text: str) -> Evalscript:
        """The compiled script; raises as `compile_evalscript` does."""
        key = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        with self._lock:
            script = self._scripts.get(key)
            if script is not None:
                return script
            self._raise_refusal(key)
            key_lock = self._compiling.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                script = self._scripts.get(key)
                if script is None:
                    self._raise_refusal(key)  # refused while this thread waited for the lock
            if script is None:
                try:
                    script = compile_evalscript(text, **self._options)  # type: ignore[arg-type]
                except EvalscriptError as exc:
                    with self._lock:
                        self._refused[key] = exc
                    raise
                finally:
                    with self._lock:
                        self._compiling.pop(key, None)
                with self._lock:
                    self._scripts[key] = script
        return script

    def _raise_refusal(self, key: str) -> None:
        refusal = self._refused.get(key)
        if refusal is not None:
            # The same error again, without the tracebacks of the requests that raised it before.
            raise refusal.with_traceback(None)


@cache
def _esprima() -> ModuleType:
    """esprima, imported when the first script is compiled, not with the server. On import it lists
    every Unicode code point by category to build its identifier tables and keeps those lists (about
    75 MB of a process that never reads them again: only the derived IDENTIFIER_START/PART are used
    while scanning), so they are emptied."""
    import esprima
    import esprima.character as tables

    for name in ("U_CATEGORIES", "UNICODE_LETTER", "UNICODE_COMBINING_MARK", "UNICODE_DIGIT"):
        getattr(tables, name).clear()
    return esprima


def _parse(text: str) -> Any:
    """The script as the body of a function expression (so a top-level return parses), or None."""
    esprima = _esprima()
    try:
        program = esprima.parseScript(f"(function(){{{text}\n}})", {"loc": True})
    except (esprima.Error, RecursionError, ValueError, TypeError, AttributeError):
        return None
    if len(program.body) != 1 or program.body[0].type != "ExpressionStatement":
        return None  # the text closed the function around it: leave it to V8
    return program.body[0].expression


def _declares_evaluate_pixel(function: Any) -> bool:
    for statement in function.body.body:
        if statement.type == "FunctionDeclaration" and statement.id.name == "evaluatePixel":
            return True
        if statement.type == "VariableDeclaration" and any(
            d.id.type == "Identifier" and d.id.name == "evaluatePixel" for d in statement.declarations
        ):
            return True
    return False


def _free_names(function: Any) -> tuple[str, ...]:
    """Names read but declared nowhere and not globals of the language or the library, in order."""
    declared: set[str] = set()
    read: dict[str, None] = {}
    stack: list[Any] = [function]
    while stack:
        node = stack.pop()
        kind = getattr(node, "type", None)
        if kind is None:
            continue
        if kind == "Identifier":
            read.setdefault(node.name, None)
            continue
        if kind in ("FunctionDeclaration", "FunctionExpression", "ClassDeclaration", "ClassExpression") and node.id:
            declared.add(node.id.name)
        if kind == "VariableDeclarator" or kind == "CatchClause":
            declared.update(_pattern_names(node.id if kind == "VariableDeclarator" else node.param))
        if kind in ("FunctionDeclaration", "FunctionExpression", "ArrowFunctionExpression"):
            for param in node.params:
                declared.update(_pattern_names(param))
        children = []
        for key, value in vars(node).items():
            if key in ("type", "loc", "range"):
                continue
            if kind == "MemberExpression" and key == "property" and not node.computed:
                continue
            if kind in ("Property", "MethodDefinition") and key == "key" and not node.computed:
                continue
            if kind in ("LabeledStatement", "BreakStatement", "ContinueStatement") and key == "label":
                continue
            children.extend(value if isinstance(value, list) else [value])
        stack.extend(reversed(children))
    return tuple(
        name for name in read if name not in declared and name not in _JS_GLOBALS and name not in PRELUDE_NAMES
    )


def _pattern_names(pattern: Any) -> set[str]:
    names: set[str] = set()
    stack: list[Any] = [pattern]
    while stack:
        node = stack.pop()
        match getattr(node, "type", None):
            case "Identifier":
                names.add(node.name)
            case "AssignmentPattern":
                stack.append(node.left)
            case "RestElement":
                stack.append(node.argument)
            case "ArrayPattern":
                stack.extend(e for e in node.elements if e is not None)
            case "ObjectPattern":
                stack.extend(p.value if p.type == "Property" else p for p in node.properties)
    return names


def _parse_setup(raw: object) -> tuple[tuple[InputBand, ...], tuple[Output, ...], str]:
    if not isinstance(raw, dict):
        raise EvalscriptError("setup() must return an object with input and output")
    mosaicking = raw.get("mosaicking", "SIMPLE")
    if not isinstance(mosaicking, str) or mosaicking.upper() not in ("SIMPLE", "ORBIT", "TILE"):
        raise EvalscriptError(f"mosaicking must be SIMPLE, ORBIT or TILE, not {mosaicking!r}")
    if mosaicking.upper() != "SIMPLE":
        raise EvalscriptError(
            f"mosaicking {mosaicking.upper()} is not supported: eo-tiler gives evaluatePixel one mosaicked sample"
            " per pixel (SIMPLE); ORBIT and TILE need an array of samples per pixel, one per acquisition,"
            " and the scenes' metadata (dates, orbits, tiles), which eo-tiler does not provide"
        )
    return _parse_inputs(raw.get("input")), _parse_outputs(raw.get("output")), "SIMPLE"


def _parse_inputs(raw: object) -> tuple[InputBand, ...]:
    entries = [raw] if isinstance(raw, dict) else raw
    if not isinstance(entries, list) or not entries:
        raise EvalscriptError("setup() input must list band names or input objects")
    bands: dict[str, InputBand] = {}
    for entry in entries:
        names: Any
        if isinstance(entry, str):
            names, units = [entry], ["REFLECTANCE"]
        elif isinstance(entry, dict):
            names = entry.get("bands")
            names = [names] if isinstance(names, str) else names
            if not isinstance(names, list) or not names:
                raise EvalscriptError("an input object needs bands: a list of band names")
            raw_units = entry.get("units", "REFLECTANCE")
            units = [raw_units] * len(names) if isinstance(raw_units, str) else raw_units
            if not isinstance(units, list) or len(units) != len(names):
                raise EvalscriptError("units must be one string, or a list with one entry per band")
        else:
            raise EvalscriptError(f"setup() input entries must be band names or objects, not {entry!r}")
        for name, unit in zip(names, units):
            if not isinstance(name, str) or not _IDENTIFIER.match(name):
                raise EvalscriptError(f"invalid band name {name!r}")
            if not isinstance(unit, str) or unit.upper() not in UNITS:
                raise EvalscriptError(f"units must be one of {', '.join(UNITS)}, not {unit!r}")
            bands.setdefault(name, InputBand(name, unit.upper()))
    if len(bands) > MAX_INPUT_BANDS:
        raise EvalscriptError(f"setup() asks for {len(bands)} bands, more than {MAX_INPUT_BANDS}")
    return tuple(bands.values())


def _parse_outputs(raw: object) -> tuple[Output, ...]:
    entries = [raw] if isinstance(raw, dict) else raw
    if not isinstance(entries, list) or not entries:
        raise EvalscriptError("setup() output must be an output object or a list of them")
    if len(entries) > MAX_OUTPUTS:
        raise EvalscriptError(f"setup() defines {len(entries)} outputs, more than {MAX_OUTPUTS}")
    outputs: dict[str, Output] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            raise EvalscriptError(f"setup() outputs must be objects, not {entry!r}")
        output_id = entry.get("id", "default")
        bands = entry.get("bands")
        sample_type = entry.get("sampleType", "AUTO")
        if not isinstance(output_id, str) or not output_id:
            raise EvalscriptError(f"an output id must be a non-empty string, not {output_id!r}")
        if output_id in outputs:
            raise EvalscriptError(f"output id {output_id!r} is defined twice")
        if isinstance(bands, bool) or not isinstance(bands, int) or not 1 <= bands <= MAX_OUTPUT_BANDS:
            raise EvalscriptError(f"output {output_id!r}: bands must be a whole number from 1 to {MAX_OUTPUT_BANDS}")
        if not isinstance(sample_type, str) or sample_type.upper() not in SAMPLE_TYPES:
            raise EvalscriptError(f"output {output_id!r}: sampleType must be one of {', '.join(SAMPLE_TYPES)}")
        outputs[output_id] = Output(output_id, bands, sample_type.upper())
    return tuple(outputs.values())
