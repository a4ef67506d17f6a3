"""The exact path: the script runs in V8 (mini-racer), the pixel loop inside the engine.

Each compiled script gets its own isolates (at most `max_isolates`, reused by later renders),
so nothing a script does to its globals or to the built-in prototypes reaches another script.
V8 starts with code generation from strings disallowed (`eval`, `Function`, and every
`constructor.constructor` route to them throw) and without WebAssembly; the prelude deletes
the globals that would let work outlive a call (timers, Atomics, Promise). Every call into an
isolate has the caller's deadline and the isolate's hard memory limit; an isolate that hit
either is closed and replaced, so the process keeps serving.

Band values travel as float64 arrays through ArrayBuffers that only the runner closure holds:
no JSON, no copy per pixel.
"""

import atexit
import json
import re
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
import py_mini_racer as mr

from renderers.evalscript.errors import EvalscriptError, EvalscriptMemoryError, EvalscriptSyntaxError, EvalscriptTimeout

__all__ = ["PRELUDE_NAMES", "OutputLayout", "V8Program"]

# Not mini-racer's default --single-threaded: V8's background compiler makes the pixel loop ~4x
# faster. V8 starts with the first isolate, not at import, so a server may fork workers first.
_FLAGS = ("--disallow-code-generation-from-strings",)
_PRELUDE = resources.files("renderers.evalscript").joinpath("prelude.js").read_text()
# The library's globals (helpers, constants, colour tables): never band names of a simple script.
PRELUDE_NAMES = frozenset(re.findall(r"^(?:var|function) ([A-Za-z_$][\w$]*)", _PRELUDE, re.MULTILINE))
# Simple scripts may return any number of bands up to this; V3 outputs declare theirs.
MAX_SIMPLE_BANDS = 16
# "<anonymous>:3: TypeError: ..." heads V8's messages; the caret line under the source gives the column.
_MESSAGE_HEAD = re.compile(r"^<anonymous>:(\d+): (.*)$", re.MULTILINE)

_programs: "weakref.WeakSet[V8Program]" = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    # Closed before the interpreter tears down the event loops the isolates call back on.
    for program in list(_programs):
        program.close()


@dataclass(frozen=True)
class OutputLayout:
    """Where evaluatePixel's results go: output ids with their band counts, in buffer order."""

    ids: tuple[str, ...]
    bands: tuple[int, ...]

    @property
    def total(self) -> int:
        return sum(self.bands)


class V8Program:
    """One script, compiled into a small pool of V8 isolates.

    Args:
        source: the script text.
        simple_bands: for a simple script (no evaluatePixel), the band globals it reads, in
            the order `run` receives them; None for a V3 script.
        memory_limit: hard heap limit per isolate, in bytes.
        max_isolates: renders of this script that can run at once.
    """

    def __init__(
        self,
        source: str,
        simple_bands: Sequence[str] | None,
        *,
        memory_limit: int = 256 * 1024 * 1024,
        max_isolates: int = 2,
    ) -> None:
        self.simple_bands = None if simple_bands is None else tuple(simple_bands)
        self._source = source
        if self.simple_bands is None:
            self._prefix = "var __make = function () {"
            self._wrapper = f"{self._prefix}{source}\n;return [typeof setup === 'function' ? setup : undefined, typeof evaluatePixel === 'function' ? evaluatePixel : undefined];}};"
        else:
            params = ", ".join(self.simple_bands)
            self._prefix = f"var __make = function () {{ return function ({params}) {{"
            self._wrapper = f"{self._prefix}{source}\n}}}};"
        self._memory_limit = memory_limit
        self._max_isolates = max_isolates
        self._idle: list[_Isolate] = []
        self._count = 0
        self._closed = False
        self._available = threading.Condition()
        _programs.add(self)

    def close(self) -> None:
        """Close the idle isolates (those in use close when they come back)."""
        with self._available:
            idle, self._idle = self._idle, []
            self._count -= len(idle)
            self._closed = True
        for isolate in idle:
            _close(isolate.context)

    def check_syntax(self, timeout: float) -> None:
        """Compile in an isolate (kept for later use): V8 is the authority on syntax."""
        with self._isolate(time.monotonic() + timeout):
            pass

    def setup(self, timeout: float) -> object:
        """Run the top-level code and `setup()` of a V3 script; its result as JSON data."""
        deadline = time.monotonic() + timeout
        with self._isolate(deadline) as isolate:
            self._call(isolate, isolate.context.eval, _SETUP_CALL, deadline=deadline)
            text = self._call(isolate, isolate.context.eval, "__setup()", deadline=deadline)
        try:
            return json.loads(text) if isinstance(text, str) else None
        except ValueError:  # the script replaced JSON.stringify
            raise EvalscriptError("setup() did not return JSON data") from None

    def run(
        self,
        inputs: Sequence[np.ndarray],
        input_names: Sequence[str],
        layout: OutputLayout | None,
        deadline: float,
        normalization_factor: float,
        n: int,
    ) -> tuple[np.ndarray, int]:
        """Evaluate every pixel.

        Args:
            inputs: float64 arrays of n values, one per name of `input_names` (for a simple
                script, `simple_bands`).
            layout: the V3 script's outputs; None for a simple script.
            deadline: `time.monotonic()` value by which the run must end.
            n: pixels (the inputs' length; a script may read no band at all).

        Returns:
            (float64 (total output bands, n), bands per pixel of a simple script or 0).
        """
        with self._isolate(deadline) as isolate:
            runner = isolate.runner(tuple(input_names), layout, len(inputs), n, self, deadline)
            for row, values in enumerate(inputs):
                isolate.inputs[row * n : (row + 1) * n] = values.ravel()
            bands = self._call(isolate, runner.function, n, normalization_factor, deadline=deadline)
            # Jobs queued by the script (there should be none left) run before this returns.
            self._call(isolate, isolate.context.eval, "0", deadline=deadline)
            total = layout.total if layout is not None else int(bands)
            return isolate.outputs[: total * n].reshape(total, n).copy(), int(bands)

    def _call(self, isolate: "_Isolate", function: Callable[..., Any], *args: object, deadline: float) -> Any:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise EvalscriptTimeout("the evalscript ran past its deadline")
        try:
            return function(*args, timeout_sec=remaining)
        except mr.JSParseException as exc:
            raise _syntax_error(str(exc), len(self._prefix), self._source) from None
        except mr.JSTimeoutException:
            isolate.broken = True
            raise EvalscriptTimeout("the evalscript ran past its deadline") from None
        except mr.JSEvalException as exc:
            # Past the memory limit V8 stops the script with an error of its own, or none at all.
            if isinstance(exc, mr.JSOOMException) or isolate.context.was_hard_memory_limit_reached():
                isolate.broken = True
                raise EvalscriptMemoryError(
                    f"the evalscript used more than {self._memory_limit // 2**20} MiB"
                ) from None
            raise EvalscriptError(_runtime_message(str(exc))) from None

    def _isolate(self, deadline: float) -> "_Lease":
        with self._available:
            while not self._idle and self._count >= self._max_isolates:
                if not self._available.wait(timeout=max(deadline - time.monotonic(), 0)):
                    raise EvalscriptTimeout("no isolate for the evalscript became free before the deadline")
            if self._idle:
                return _Lease(self, self._idle.pop())
            self._count += 1
        try:
            return _Lease(self, self._new_isolate(deadline))
        except BaseException:
            self._release(None)
            raise

    def _new_isolate(self, deadline: float) -> "_Isolate":
        mr.init_mini_racer(flags=_FLAGS, ignore_duplicate_init=True)
        context = mr.MiniRacer()
        isolate = _Isolate(context)
        try:
            context.set_hard_memory_limit(self._memory_limit)
            context.eval(_PRELUDE)
            if context.eval(_CODEGEN_PROBE):
                raise RuntimeError("V8 was started without --disallow-code-generation-from-strings")
            self._call(isolate, context.eval, self._wrapper, deadline=deadline)
        except BaseException:
            context.close()
            raise
        return isolate

    def _release(self, isolate: "_Isolate | None") -> None:
        retire = isolate is None or isolate.broken or self._closed
        if retire and isolate is not None:
            _close(isolate.context)
        with self._available:
            if isolate is None or retire:
                self._count -= 1
            else:
                self._idle.append(isolate)
            self._available.notify()


class _Isolate:
    def __init__(self, context: mr.MiniRacer) -> None:
        self.context = context
        self.broken = False
        self._runner: _Runner | None = None
        self.inputs = np.empty(0)
        self.outputs = np.empty(0)

    def runner(
        self,
        names: tuple[str, ...],
        layout: OutputLayout | None,
        bands_in: int,
        n: int,
        program: V8Program,
        deadline: float,
    ) -> "_Runner":
        key = (names, layout)
        out_bands = layout.total if layout is not None else MAX_SIMPLE_BANDS
        if self._runner is None or self._runner.key != key or self._runner.capacity < n:
            capacity = max(n, 256 * 256)
            code = _runner_code(
                names, layout, program.simple_bands is not None, capacity * bands_in, capacity * out_bands
            )
            handles = program._call(self, self.context.eval, code, deadline=deadline)
            self._runner = _Runner(key, capacity, handles[0], handles)
            self.inputs = np.frombuffer(handles[1], dtype=np.float64)
            self.outputs = np.frombuffer(handles[2], dtype=np.float64)
        return self._runner


@dataclass(frozen=True)
class _Runner:
    key: tuple
    capacity: int
    function: Callable[..., Any]
    # The JS array [run, inputs, outputs]: holding it keeps the buffers alive for our views.
    handles: object


class _Lease:
    def __init__(self, program: V8Program, isolate: _Isolate) -> None:
        self._program = program
        self._isolate = isolate

    def __enter__(self) -> _Isolate:
        return self._isolate

    def __exit__(self, *exc_info: object) -> None:
        self._program._release(self._isolate)


def _close(context: mr.MiniRacer) -> None:
    """Close an isolate once the callback of a terminated call has come back (else it finds its loop closed)."""
    try:
        context.eval("0", timeout_sec=0.2)
    except mr.JSEvalException:
        pass
    context.close()


# True if `eval` of a string works: then V8 was started by someone else without our flags.
_CODEGEN_PROBE = "(function () { try { (0, eval)('0'); return true; } catch (e) { return false; } })()"
_SETUP_CALL = """
var __setup = function () {
  var fns = __make();
  if (typeof fns[0] !== "function") throw new Error("the script defines evaluatePixel but no setup function");
  if (typeof fns[1] !== "function") throw new Error("the script defines no evaluatePixel function");
  var result = fns[0]();
  return JSON.stringify(result === undefined ? null : result);
};
"""


def _runner_code(names: tuple[str, ...], layout: OutputLayout | None, simple: bool, in_size: int, out_size: int) -> str:
    """The pixel loop for one script's inputs and outputs, with the band names as literals."""
    reads = [f"inp[{k} * n + i]" for k in range(len(names))]
    if simple:
        call = f"pixel({', '.join(reads)})"
        setup = "const pixel = __make();"
        store = f"""
        let m = __bands(r, {MAX_SIMPLE_BANDS});
        if (bands < 0) bands = m;
        else if (m !== bands) throw new Error("the script returned " + m + " values at pixel " + i + " but " + bands + " before");
        __put(r, out, 0, m, n, i);"""
    else:
        sample = ", ".join(f"{json.dumps(name)}: {read}" for name, read in zip(names, reads))
        call = f"ep({{{sample}}}, scenes, inputMetadata, customData, outputMetadata)"
        setup = """const ep = __make()[1];
        const scenes = [];
        const inputMetadata = {serviceVersion: "3", normalizationFactor: factor};
        const customData = {};
        const outputMetadata = {userData: {}};"""
        assert layout is not None
        if len(layout.ids) == 1:
            (only,), (count,) = layout.ids, layout.bands
            store = f"""
      if (r !== null && typeof r === "object" && !Array.isArray(r)) r = __output(r, {json.dumps(only)});{_store("r", only, 0, count)}"""
        else:
            parts = []
            offset = 0
            for output_id, count in zip(layout.ids, layout.bands):
                parts.append(f"""
      v = __output(r, {json.dumps(output_id)});{_store("v", output_id, offset, count)}""")
                offset += count
            store = """
      if (r === null || typeof r !== "object" || Array.isArray(r)) throw new Error("evaluatePixel must return an object keyed by output id when setup defines several outputs");
      let v;""" + "".join(parts)
    return f"""(function () {{
  const inBuf = new ArrayBuffer({in_size * 8});
  const outBuf = new ArrayBuffer({out_size * 8});
  function __bands(r, max) {{
    if (r === null || typeof r !== "object") return 1;
    if (!Array.isArray(r)) throw new Error("a simple script must return an array of numbers");
    if (r.length > max) throw new Error("the script returned " + r.length + " values, more than " + max);
    return r.length;
  }}
  function __output(r, id) {{
    if (!(id in r)) throw new Error("evaluatePixel returned no value for output " + JSON.stringify(id));
    return r[id];
  }}
  function __fail(m, id, count) {{
    throw new Error("evaluatePixel returned " + m + " values for output " + JSON.stringify(id) + ", which has " + count + " bands");
  }}
  function __put(r, out, offset, count, n, i) {{
    if (r === null || typeof r !== "object") {{ out[offset * n + i] = r; return; }}
    for (let k = 0; k < count; k++) out[(offset + k) * n + i] = r[k];
  }}
  function run(n, factor) {{
    const inp = new Float64Array(inBuf);
    const out = new Float64Array(outBuf);
    {setup}
    let bands = -1;
    for (let i = 0; i < n; i++) {{
      let r = {call};{store}
    }}
    return bands < 0 ? 0 : bands;
  }}
  return [run, inBuf, outBuf];
}})()"""


def _store(value: str, output_id: str, offset: int, count: int) -> str:
    """Unrolled JS: check `value` fits the output and write it to its rows of `out` at pixel i."""
    rows = "".join(f" out[{offset + k} * n + i] = {value}[{k}];" for k in range(count))
    scalar = f"out[{offset} * n + i] = {value};" if count == 1 else f"__fail(1, {json.dumps(output_id)}, {count});"
    return f"""
      if ({value} !== null && typeof {value} === "object") {{
        if ({value}.length !== {count}) __fail({value}.length, {json.dumps(output_id)}, {count});{rows}
      }} else {{ {scalar} }}"""


def _runtime_message(text: str) -> str:
    head = _MESSAGE_HEAD.search(text)
    if head is None:
        return f"the evalscript failed: {text.strip().splitlines()[0] if text.strip() else 'unknown error'}"
    return f"the evalscript failed at line {head.group(1)}: {head.group(2)}"


def _syntax_error(text: str, prefix_length: int, source: str) -> EvalscriptSyntaxError:
    head = _MESSAGE_HEAD.search(text)
    if head is None:
        return EvalscriptSyntaxError(text.strip().splitlines()[0] if text.strip() else "invalid script")
    line = int(head.group(1))
    message = head.group(2).removeprefix("SyntaxError: ")
    rest = text[head.end() :].split("\n")
    column = None
    if len(rest) >= 3 and "^" in rest[2]:
        column = rest[2].index("^") + 1
        if line == 1:
            column = max(column - prefix_length, 1)
    lines = source.split("\n")
    if line > len(lines):  # past the script's end, in the wrapper's closing lines
        line, column = len(lines), len(lines[-1]) + 1
    return EvalscriptSyntaxError(message, line, column)
