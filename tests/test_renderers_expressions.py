import time

import numexpr
import numpy as np
import pytest

from renderers.expressions import (
    Expression,
    ExpressionError,
    evaluate,
    parse_expression,
    parse_expressions,
)

BANDS = ("B02", "B03", "B04", "B08", "B8A", "SCL")


@pytest.fixture
def bands() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(42)
    data = {name: rng.uniform(0.0, 0.5, (16, 16)).astype(np.float32) for name in BANDS}
    data["SCL"] = rng.integers(0, 12, (16, 16)).astype(np.float32)
    data["B04"][0, 0] = data["B08"][0, 0] = 0.0  # 0/0 in NDVI
    data["B03"][1, 1] = np.nan
    return data


def test_ndvi_matches_numpy(bands):
    expr = parse_expression("(B08 - B04) / (B08 + B04)", BANDS)
    result = evaluate(expr, bands)
    with np.errstate(all="ignore"):
        expected = (bands["B08"] - bands["B04"]) / (bands["B08"] + bands["B04"])
    assert result.dtype == np.float32
    assert result.shape == (16, 16)
    assert np.isnan(result[0, 0])  # 0/0 stays nan, never becomes 0
    np.testing.assert_allclose(result, expected, rtol=1e-6, equal_nan=True)


def test_expression_records_source_and_names():
    expr = parse_expression("  (B08 - B04) / (B08 + B04) ", BANDS)
    assert expr == Expression(
        source="(B08 - B04) / (B08 + B04)",
        compiled="(B08 - B04) / (B08 + B04)",
        names=frozenset({"B04", "B08"}),
    )


@pytest.mark.parametrize(
    ("text", "compiled", "numpy_equivalent"),
    [
        ("min(B04, B03)", "minimum(B04, B03)", lambda b: np.minimum(b["B04"], b["B03"])),
        ("max(B04, 0.2)", "maximum(B04, 0.2)", lambda b: np.maximum(b["B04"], 0.2)),
        (
            "clip(B03, 0.1, 0.3)",
            "minimum(maximum(B03, 0.1), 0.3)",
            lambda b: np.clip(b["B03"], 0.1, 0.3),
        ),
        (
            "B04 > 0.1 and B03 < 0.3",
            "(B04 > 0.1) & (B03 < 0.3)",
            lambda b: (b["B04"] > 0.1) & (b["B03"] < 0.3),
        ),
        (
            "B04 > 0.1 or B03 < 0.3 or SCL == 4",
            "(B04 > 0.1) | (B03 < 0.3) | (SCL == 4.0)",
            lambda b: (b["B04"] > 0.1) | (b["B03"] < 0.3) | (b["SCL"] == 4),
        ),
        ("not B04 > 0.1", "~(B04 > 0.1)", lambda b: ~(b["B04"] > 0.1)),
        (
            "B04 if B03 > 0.2 else -B04",
            "where(B03 > 0.2, B04, -B04)",
            lambda b: np.where(b["B03"] > 0.2, b["B04"], -b["B04"]),
        ),
        (
            "0.1 < B04 <= 0.3",
            "(0.1 < B04) & (B04 <= 0.3)",
            lambda b: (b["B04"] > 0.1) & (b["B04"] <= 0.3),
        ),
        (
            "0.1 < B04 < B08 != 0.3",
            "(0.1 < B04) & (B04 < B08) & (B08 != 0.3)",
            lambda b: (b["B04"] > 0.1) & (b["B04"] < b["B08"]) & (b["B08"] != 0.3),
        ),
        (
            "where(SCL == 4, 1, 0)",
            "where(SCL == 4.0, 1.0, 0.0)",
            lambda b: np.where(b["SCL"] == 4, 1, 0),
        ),
        (
            "sqrt(B04) + log(B03 + 1) - exp(B02) * abs(B04 - B03) + log10(B8A)",
            "sqrt(B04) + log(B03 + 1.0) - exp(B02) * abs(B04 - B03) + log10(B8A)",
            lambda b: (
                np.sqrt(b["B04"])
                + np.log(b["B03"] + 1)
                - np.exp(b["B02"]) * np.abs(b["B04"] - b["B03"])
                + np.log10(b["B8A"])
            ),
        ),
        (
            "sin(B04) * cos(B03) / tan(B02 + 0.1) + arcsin(B04) - arccos(B03) + arctan(B08)",
            "sin(B04) * cos(B03) / tan(B02 + 0.1) + arcsin(B04) - arccos(B03) + arctan(B08)",
            lambda b: (
                np.sin(b["B04"]) * np.cos(b["B03"]) / np.tan(b["B02"] + 0.1)
                + np.arcsin(b["B04"])
                - np.arccos(b["B03"])
                + np.arctan(b["B08"])
            ),
        ),
        ("arctan2(B04, B03)", "arctan2(B04, B03)", lambda b: np.arctan2(b["B04"], b["B03"])),
        ("B04 ** 3 % 0.01", "B04 ** 3.0 % 0.01", lambda b: b["B04"] ** 3 % 0.01),
        ("-B04 + +B03", "-B04 + +B03", lambda b: -b["B04"] + b["B03"]),
        ("(SCL == 4) & True", "(SCL == 4.0) & True", lambda b: b["SCL"] == 4),
        ("(SCL < 4) | ~(B04 > 0.2)", "(SCL < 4.0) | ~(B04 > 0.2)", lambda b: (b["SCL"] < 4) | ~(b["B04"] > 0.2)),
    ],
)
def test_rewrites_match_numpy(bands, text, compiled, numpy_equivalent):
    expr = parse_expression(text, BANDS)
    assert expr.compiled == compiled
    with np.errstate(all="ignore"):
        expected = np.asarray(numpy_equivalent(bands), dtype=np.float32)
    result = evaluate(expr, bands)
    assert result.dtype == np.float32
    assert result.shape == expected.shape
    np.testing.assert_allclose(result, expected, rtol=2e-5, atol=1e-7, equal_nan=True)


def test_min_max_clip_propagate_nan(bands):
    for text in ("min(B03, 1)", "max(B03, 0)", "clip(B03, 0, 1)"):
        assert np.isnan(evaluate(parse_expression(text, BANDS), bands)[1, 1]), text


ATTACKS = [
    ("__import__('os').system('id')", "attribute access is not allowed"),
    ("__import__('os')", "function '__import__' is not allowed"),
    ("().__class__.__bases__[0].__subclasses__()", "attribute access is not allowed"),
    ("B04.__class__", "attribute access is not allowed"),
    ("eval('1')", "function 'eval' is not allowed"),
    ('exec("x")', "function 'exec' is not allowed"),
    ("open('/etc/passwd')", "function 'open' is not allowed"),
    ("lambda: 1", "lambda is not allowed"),
    ("(lambda: 1)()", "lambda is not allowed"),
    ("[x for x in B04]", "comprehensions are not allowed"),
    ("'a'", "string literals are not allowed"),
    ("b'a'", "bytes literals are not allowed"),
    ("f'{B04}'", "f-strings are not allowed"),
    ("B04[0]", "indexing is not allowed"),
    ("(x:=1)", "assignment expressions are not allowed"),
    ("getattr(B04,'x')", "function 'getattr' is not allowed"),
    ("B99 + 1", "unknown band 'B99'"),
    ("b04 + 1", "unknown band 'b04'"),
    ("__builtins__", "name '__builtins__' is not allowed"),
    ("sqrt(B04, B03)", "function 'sqrt' takes 1 argument, got 2"),
    ("where(B04, B03)", "function 'where' takes 3 arguments, got 2"),
    ("sqrt(x=B04)", "keyword arguments are not allowed"),
    ("sqrt(**B04)", "keyword arguments are not allowed"),
    ("*B04", "invalid syntax"),
    ("sqrt(*B04)", "starred arguments are not allowed"),
    ("B04 // 2", "operator '//' is not allowed"),
    ("B04 ^ B03", "operator '^' is not allowed"),
    ("B04 in B03", "operator 'in' is not allowed"),
    ("B04 is None", "operator 'is' is not allowed"),
    ("None", "constant None is not allowed"),
    ("1j", "complex numbers are not allowed"),
    ("(B04, B03)", "tuples are not allowed"),
    ("{1: B04}", "dicts are not allowed"),
    ("B04 + ", "invalid syntax"),
    ("x" * 10_000, "expression is longer than 512 characters"),
    ("-(" * 200 + "B04" + ")" * 200, "expression is longer than 512 characters"),
    ("(" * 1000 + "B04" + ")" * 1000, "expression is longer than 512 characters"),
    ("B04\x00", "character U+0000 is not allowed"),
    ("B04\x1b[2J", "character U+001B is not allowed"),
    ("B04 + \u0412", "character U+0412 is not allowed"),
    ("1e999", "number literal is not finite"),
    (str(10**100), "integer literal is too large"),
    (str(10**15 + 1), "integer literal is too large"),
    ("", "expression is empty"),
    ("  \t ", "expression is empty"),
    ("bit(SCL, 24)", "bit number from 0 to 23"),
    ("bit(SCL, -1)", "bit number from 0 to 23"),
    ("bit(SCL, 1.5)", "bit number from 0 to 23"),
    ("bit(SCL, True)", "bit number from 0 to 23"),
    ("bit(SCL, SCL)", "bit number from 0 to 23"),
    ("bit(SCL, 10**9)", "bit number from 0 to 23"),
    ("bit(SCL)", "function 'bit' takes 2 arguments, got 1"),
    ("bit(SCL, 1, 2)", "function 'bit' takes 2 arguments, got 3"),
    ("bit(__import__, 1)", "name '__import__' is not allowed"),
    ("SCL >> 3", "operator '>>' is not allowed"),
]


@pytest.fixture
def numexpr_forbidden(monkeypatch):
    def refuse(*args, **kwargs):
        pytest.fail("numexpr.evaluate was called")

    monkeypatch.setattr(numexpr, "evaluate", refuse)


@pytest.mark.parametrize(("payload", "message"), ATTACKS)
def test_attacks_are_refused_before_numexpr(numexpr_forbidden, payload, message):
    with pytest.raises(ExpressionError) as info:
        parse_expression(payload, BANDS)
    assert message in str(info.value)


@pytest.mark.parametrize(
    "payload",
    [
        "-(" * 200 + "B04" + ")" * 200,
        "-" * 5000 + "B04",
        "(" * 1000 + "B04" + ")" * 1000,
        "[" * 1000 + "]" * 1000,
        "+".join(["B04"] * 3000),
    ],
)
def test_deep_nesting_is_refused_without_recursion_error(numexpr_forbidden, payload):
    with pytest.raises(ExpressionError, match="nested deeper than 24 levels|too complex|syntax"):
        parse_expression(payload, BANDS, max_length=100_000)


def test_depth_limit_is_configurable():
    text = "-" * 30 + "B04"
    with pytest.raises(ExpressionError, match="nested deeper than 24 levels"):
        parse_expression(text, BANDS)
    assert parse_expression(text, BANDS, max_depth=31).names == {"B04"}


def test_huge_power_does_not_hang(bands):
    start = time.monotonic()
    try:
        result = evaluate(parse_expression("9**9**9**9", BANDS), bands)
    except ExpressionError:
        pass
    else:
        assert np.isinf(result).all()
    assert time.monotonic() - start < 1.0


def test_literal_limits():
    assert parse_expression(str(10**15), BANDS).compiled == "1000000000000000.0"
    assert parse_expression("1e300", BANDS).compiled == "1e+300"
    assert parse_expression("True", BANDS).compiled == "True"


def test_constant_expression_has_the_input_shape(bands):
    result = evaluate(parse_expression("1 + 2", BANDS), {"B04": bands["B04"]})
    assert result.dtype == np.float32
    np.testing.assert_array_equal(result, np.full((16, 16), 3.0, np.float32))


def test_constant_expression_without_variables_is_an_error():
    with pytest.raises(ExpressionError, match="constant expression"):
        evaluate(parse_expression("1", BANDS), {})


def test_boolean_result_is_float32(bands):
    result = evaluate(parse_expression("SCL == 4", BANDS), bands)
    assert result.dtype == np.float32
    np.testing.assert_array_equal(result, (bands["SCL"] == 4).astype(np.float32))


def test_division_by_zero_in_data_is_not_hidden():
    zero = np.zeros((2, 2), np.float32)
    one = np.ones((2, 2), np.float32)
    result = evaluate(parse_expression("B04 / B03", BANDS), {"B04": one, "B03": zero})
    assert np.isposinf(result).all()
    result = evaluate(parse_expression("B04 / B03", BANDS), {"B04": zero, "B03": zero})
    assert np.isnan(result).all()


def test_non_float32_inputs_are_cast():
    dn = {"B04": np.array([[1000]], np.uint16), "B08": np.array([[3000]], np.uint16)}
    result = evaluate(parse_expression("B04 - B08", BANDS), dn)
    assert result.dtype == np.float32
    assert result[0, 0] == -2000.0  # no uint16 wrap-around


def test_missing_band_is_an_expression_error(bands):
    with pytest.raises(ExpressionError, match="missing band 'B08'"):
        evaluate(parse_expression("B08 + B04", BANDS), {"B04": bands["B04"]})


def test_numexpr_failures_become_expression_errors(bands):
    with pytest.raises(ExpressionError, match="cannot evaluate"):
        evaluate(parse_expression("B04 & B03", BANDS), bands)  # bitwise and on floats


@pytest.mark.parametrize("count", [1, 3, 4])
def test_parse_expressions_accepts_1_3_or_4(count):
    parsed = parse_expressions(";".join(["B04", "B03", "B02", "B08"][:count]), BANDS)
    assert [expr.source for expr in parsed] == ["B04", "B03", "B02", "B08"][:count]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("B04;B03", "expected 1, 3 or 4 expressions separated by ';', got 2"),
        ("B04;B03;B02;B08;B8A", "got 5"),
        ("B04;;B02", "expression 2: expression is empty"),
        ("B04;B03;B02;", "expression 4: expression is empty"),
        ("B04;B03;os.system('id')", "expression 3: attribute access is not allowed"),
        ("", "expression is empty"),
    ],
)
def test_parse_expressions_refuses(text, message):
    with pytest.raises(ExpressionError) as info:
        parse_expressions(text, BANDS)
    assert message in str(info.value)


def test_parse_expressions_limits_apply_per_expression():
    long = "+".join(["B04"] * 100)  # 399 characters
    assert len(parse_expressions(f"{long};{long};{long}", BANDS, max_depth=200)) == 3
    with pytest.raises(ExpressionError, match="expression 2: expression is longer than 100"):
        parse_expressions(f"B04;{long};B02", BANDS, max_length=100)


def test_bit_tests_match_numpy_bitwise_and():
    # Every 16-bit code, as the float32 a QA band arrives in.
    codes = np.arange(65536, dtype=np.float32).reshape(256, 256)
    whole = codes.astype(np.int64)
    for n in (0, 1, 3, 7, 15):
        result = evaluate(parse_expression(f"bit(BQA, {n})", {"BQA"}), {"BQA": codes})
        assert result.dtype == np.float32
        assert (result == ((whole >> n) & 1)).all()
    flags = evaluate(parse_expression("bit(BQA, 3) or bit(BQA, 4)", {"BQA"}), {"BQA": codes})
    assert (flags == ((whole & 0b11000) != 0)).all()
    # Codes past 16 bits stay exact up to 2**24.
    high = np.array([2**23, 2**24 - 1], dtype=np.float32)
    assert evaluate(parse_expression("bit(BQA, 23)", {"BQA"}), {"BQA": high}).tolist() == [1.0, 1.0]
