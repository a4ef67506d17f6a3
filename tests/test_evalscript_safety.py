"""Scripts are data from the internet: refused, stopped or contained, and the process keeps serving."""

import numpy as np
import pytest

from renderers.evalscript import (
    EvalscriptError,
    EvalscriptMemoryError,
    EvalscriptSyntaxError,
    EvalscriptTimeout,
    compile_evalscript,
    evaluate_evalscript,
)

BANDS = {"B02": np.full((4, 4), 0.1), "B04": np.full((4, 4), 0.2)}
VALID = np.ones((4, 4), bool)


def v3(body: str, top: str = "", bands: int = 1) -> str:
    return f"""//VERSION=3
function setup() {{ return {{ input: ["B02", "B04"], output: {{ bands: {bands} }} }}; }}
{top}
function evaluatePixel(s) {{ {body} }}
"""


def run(source: str, timeout: float = 1.0, path: str = "auto"):
    return evaluate_evalscript(compile_evalscript(source), BANDS, VALID, timeout=timeout, path=path)


def still_serving() -> None:
    out = run(v3("return [s.B04 * 2];"))
    assert (out.outputs["default"] == 0.4).all()


@pytest.mark.parametrize(
    ("source", "line", "column"),
    [
        (
            '//VERSION=3\nfunction setup() {\n  return { input: ["B02"], output: { bands: 1 } };\n}\nfunction evaluatePixel(s) { return [s.B02 +* 2]; }',
            5,
            44,
        ),
        ("let x = (B02 + ;\nreturn [x];", 1, 16),
        ("var a = 1;\nvar b = a a;", 2, 11),
    ],
)
def test_syntax_errors_give_line_and_column(source, line, column):
    with pytest.raises(EvalscriptSyntaxError) as error:
        compile_evalscript(source)
    assert (error.value.line, error.value.column) == (line, column)
    assert f"line {line}, column {column}" in str(error.value)


def test_unclosed_function_points_into_the_script():
    with pytest.raises(EvalscriptSyntaxError) as error:
        compile_evalscript("//VERSION=3\nfunction evaluatePixel(s) {\n  return [1];\n")
    assert error.value.line is not None and error.value.line <= 4


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("", "empty"),
        ("return [B02];" + " " * 2_000_000, "longer than"),
        ("return [B02];\x00", r"U\+0000"),
        ("//VERSION=2\nreturn [B02];", "VERSION=2"),
        (v3("return [1];").replace("bands: 1", "bands: 1, sampleType: 'UINT32'"), "sampleType"),
        (v3("return [1];").replace('input: ["B02", "B04"]', 'input: [{bands: ["B02"], units: "KELVIN"}]'), "units"),
        (v3("return [1];").replace("output: { bands: 1 }", "output: { bands: 0 }"), "bands"),
        (v3("return [1];").replace("output: { bands: 1 } }", "output: { bands: 1 }, mosaicking: 'ORBIT' }"), "ORBIT"),
        (
            v3("return [1];").replace("output: { bands: 1 } }", "output: { bands: 1 }, mosaicking: Mosaicking.TILE }"),
            "TILE",
        ),
        ("//VERSION=3\nfunction evaluatePixel(s) { return [1]; }", "no setup"),
    ],
)
def test_refused_scripts(source, message):
    with pytest.raises(EvalscriptError, match=message):
        compile_evalscript(source)


def test_orbit_names_what_is_missing():
    source = v3("return [1];").replace("output: { bands: 1 } }", "output: { bands: 1 }, mosaicking: 'ORBIT' }")
    with pytest.raises(EvalscriptError, match="one per acquisition") as error:
        compile_evalscript(source)
    assert "scenes" in str(error.value)


@pytest.mark.parametrize(
    "expression",
    [
        "eval('1 + 1')",
        "Function('return 1')()",
        "new Function('return globalThis')()",
        "s.constructor.constructor('return this')()",
        "(function () {}).constructor('return 1')()",
        "[].map.constructor('return 1')()",
        "Object.getPrototypeOf(async function () {}).constructor('return 1')()",
        "Object.getPrototypeOf(function* () {}).constructor('yield 1')().next().value",
    ],
)
def test_code_from_strings_is_refused(expression):
    with pytest.raises(EvalscriptError, match="Code generation from strings disallowed"):
        run(v3(f"return [{expression}];"))
    still_serving()


@pytest.mark.parametrize(
    "name",
    [
        "require",
        "process",
        "fetch",
        "XMLHttpRequest",
        "WebAssembly",
        "Atomics",
        "SharedArrayBuffer",
        "setTimeout",
        "Promise",
        "importScripts",
        "Deno",
        "Bun",
    ],
)
def test_no_io_or_escape_hatches_in_the_engine(name):
    out = run(v3(f"return [typeof {name} === 'undefined' ? 1 : 0];"), path="exact")
    assert (out.outputs["default"] == 1).all()


def test_module_import_is_refused():
    # No module loader: a dynamic import is a promise that never holds a module (Number() of it is NaN).
    out = run(v3("return [import('fs')];"), path="exact")
    assert np.isnan(out.outputs["default"]).all()
    with pytest.raises(EvalscriptSyntaxError):
        compile_evalscript("import fs from 'fs';\nreturn [B02];")


def test_prototype_pollution_stays_in_its_script():
    polluter = v3(
        "return [[].concat(1).length, ({}).polluted];",
        top="Object.prototype.polluted = 7; Array.prototype.concat = function () { return [1, 2, 3]; };",
        bands=2,
    )
    out = run(polluter, path="exact")
    assert out.outputs["default"][:, 0, 0].tolist() == [3, 7]
    clean = run(v3("return [[].concat(1).length, ({}).polluted === undefined ? 1 : 0];", bands=2), path="exact")
    assert clean.outputs["default"][:, 0, 0].tolist() == [1, 1]


@pytest.mark.parametrize(
    "source",
    [
        v3("while (true) {} return [1];"),
        v3("for (;;) { s.B02 += 1; } return [1];"),
        v3("let i = 0; while (s.B02 < 1e300) { i++; } return [i];"),
        "while (true) {}\nreturn [B02];",
        v3("(async () => { await null; while (true) {} })(); return [1];"),
        v3("function f(n) { return n <= 0 ? 0 : f(n - 1) + f(n - 1); } return [f(200)];"),
    ],
)
# A job the script queued is terminated with its isolate; mini-racer's callback for it can arrive
# after the isolate closed, which Python reports as an unraisable exception, not a failure.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_endless_loops_are_stopped_at_the_deadline(source):
    with pytest.raises(EvalscriptTimeout):
        run(source, timeout=0.5)
    still_serving()


def test_endless_top_level_code_stops_compile():
    with pytest.raises(EvalscriptTimeout):
        compile_evalscript(v3("return [1];", top="while (true) {}"), timeout=0.5)
    still_serving()


@pytest.mark.parametrize(
    "body",
    [
        "let keep = []; while (true) { keep.push(new Array(1e6).fill(s.B02)); } return [1];",
        "let text = 'x'; while (true) { text = text + text; } return [text.length];",
    ],
)
def test_unbounded_memory_is_stopped(body):
    with pytest.raises(EvalscriptError) as error:
        evaluate_evalscript(compile_evalscript(v3(body), memory_limit=64 * 2**20), BANDS, VALID, timeout=3)
    # V8 stops it at the memory limit, at its own string length limit, or at the deadline.
    assert isinstance(error.value, EvalscriptMemoryError | EvalscriptTimeout) or "Invalid string length" in str(
        error.value
    )
    still_serving()


def test_huge_array_allocation_is_an_error():
    with pytest.raises(EvalscriptError):
        run(v3("return [new Array(1e10).length];"))
    with pytest.raises((EvalscriptMemoryError, EvalscriptError)):
        evaluate_evalscript(
            compile_evalscript(v3("return [new Float64Array(4e8).length];"), memory_limit=64 * 2**20),
            BANDS,
            VALID,
            timeout=10,
        )
    still_serving()


def test_a_script_error_names_its_line():
    with pytest.raises(EvalscriptError, match=r"line 4: TypeError: Cannot read properties of undefined"):
        run(v3("return [s.B99.x];"))


def test_returned_values_must_fit_the_output():
    with pytest.raises(EvalscriptError, match='returned 2 values for output "default", which has 1 bands'):
        run(v3("return [1, 2];"))
    with pytest.raises(EvalscriptError, match="no value for output"):
        run(v3("return {other: [1]};"))


def test_missing_band_is_an_error():
    script = compile_evalscript(v3("return [s.B02];").replace('"B04"', '"B12"'))
    with pytest.raises(EvalscriptError, match="band 'B12' is not available"):
        evaluate_evalscript(script, BANDS, VALID, timeout=1)


@pytest.mark.parametrize(
    ("body", "exact_length"),
    [
        ("let text = 'x'; for (let i = 0; i < 60; i++) { text = text + text; } return [text.length];", None),
        ("let a = [s.B02]; for (let i = 0; i < 60; i++) { a = a.concat(a); } return [a.length];", None),
        ("let keep = []; for (let i = 0; i < 50000; i++) { keep.push(s.B02 * i); } return [keep.length];", 50000),
    ],
)
def test_the_fast_path_holds_no_unbounded_memory(body, exact_length):
    # Each doubles or piles up per-pixel arrays: the fast path gives up on it early; V8 stops the
    # first two at its memory or string length limit and holds 50,000 numbers per pixel easily.
    script = compile_evalscript(v3(body), memory_limit=64 * 2**20)
    tile = {"B02": np.full((256, 256), 0.1), "B04": np.zeros((256, 256))}
    with pytest.raises(EvalscriptError, match="fast path cannot run this script: more memory"):
        evaluate_evalscript(script, tile, np.ones((256, 256), bool), timeout=3, path="fast")
    if exact_length is None:
        with pytest.raises(EvalscriptError):
            evaluate_evalscript(script, BANDS, VALID, timeout=3, path="exact")
    else:
        out = evaluate_evalscript(script, BANDS, VALID, timeout=3, path="exact")
        assert (out.outputs["default"] == exact_length).all()
    still_serving()
