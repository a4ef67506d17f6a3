import renderers.evalscript

EXPECTED = {
    "MAX_SCRIPT_LENGTH",
    "Evalscript",
    "EvalscriptCache",
    "EvalscriptError",
    "EvalscriptMemoryError",
    "EvalscriptResult",
    "EvalscriptSyntaxError",
    "EvalscriptTimeout",
    "InputBand",
    "Output",
    "compile_evalscript",
    "default_to_dn",
    "evaluate_evalscript",
    "render_evalscript",
    "to_raster",
    "to_rgba",
}


def test_exported_members():
    assert set(renderers.evalscript.__all__) == EXPECTED
    assert all(hasattr(renderers.evalscript, name) for name in EXPECTED)
