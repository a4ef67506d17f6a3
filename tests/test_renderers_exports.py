import renderers

EXPECTED = {
    "MEDIA_TYPES",
    "RGB",
    "Classes",
    "Colormap",
    "Expression",
    "ExpressionError",
    "Hillshade",
    "Lut",
    "Ramp",
    "RenderSpec",
    "Steps",
    "Stretch",
    "apply_colormap",
    "encode",
    "evaluate",
    "evaluate_values",
    "hillshade",
    "named_colormap",
    "named_colormaps",
    "parse_expression",
    "parse_expressions",
    "parse_hex",
    "render",
    "stretch",
}


def test_exported_members():
    assert set(renderers.__all__) == EXPECTED
    assert all(hasattr(renderers, name) for name in renderers.__all__)
