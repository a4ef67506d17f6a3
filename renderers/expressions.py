"""Band-math expressions: untrusted text in, a numexpr-safe expression out.

numexpr compiles its input with Python's ``eval`` (CVE-2023-39631), so the text is parsed
with ``ast`` and checked against an allow-list first; only the rewritten, re-serialised
tree ever reaches numexpr.
"""

import ast
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import numexpr
import numpy as np

__all__ = ["Expression", "ExpressionError", "evaluate", "parse_expression", "parse_expressions"]

# Larger literals make no sense for reflectances and indices.
_MAX_INT_LITERAL = 10**15

# Allowed functions and their arity; min/max/clip are rewritten to numexpr's names.
_FUNCTIONS = {
    "where": 3,
    "sqrt": 1,
    "log": 1,
    "log10": 1,
    "exp": 1,
    "abs": 1,
    "sin": 1,
    "cos": 1,
    "tan": 1,
    "arcsin": 1,
    "arccos": 1,
    "arctan": 1,
    "arctan2": 2,
    "min": 2,
    "max": 2,
    "clip": 3,
    "bit": 2,
}
# bit(code, n): bit n of an integer code (bit flags such as Landsat's QA_PIXEL). Values are float32,
# where numexpr has no bitwise operators and integers are exact up to 2**24: n is a literal 0..23.
_MAX_BIT = 23
_RENAMED = {"min": "minimum", "max": "maximum"}

_BIN_OPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.Mod, ast.BitAnd, ast.BitOr)
_CMP_OPS = (ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Eq, ast.NotEq)
_OP_SYMBOLS = {
    ast.FloorDiv: "//",
    ast.MatMult: "@",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitXor: "^",
    ast.Is: "is",
    ast.IsNot: "is not",
    ast.In: "in",
    ast.NotIn: "not in",
}
_REFUSED = {
    ast.Attribute: "attribute access is not allowed",
    ast.Subscript: "indexing is not allowed",
    ast.Slice: "slices are not allowed",
    ast.Lambda: "lambda is not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.JoinedStr: "f-strings are not allowed",
    ast.FormattedValue: "f-strings are not allowed",
    ast.NamedExpr: "assignment expressions are not allowed",
    ast.Starred: "starred arguments are not allowed",
    ast.List: "lists are not allowed",
    ast.Tuple: "tuples are not allowed",
    ast.Set: "sets are not allowed",
    ast.Dict: "dicts are not allowed",
    ast.Await: "await is not allowed",
    ast.Yield: "yield is not allowed",
    ast.YieldFrom: "yield is not allowed",
}


class ExpressionError(ValueError):
    """An expression was refused, or numexpr could not evaluate it."""


@dataclass(frozen=True)
class Expression:
    """A validated expression; build it with `parse_expression`.

    Attributes:
        source: the stripped text as given, for display and cache keys.
        compiled: the rewritten text handed to numexpr.
        names: the variables (bands) it reads.
    """

    source: str
    compiled: str
    names: frozenset[str]


def parse_expression(
    text: str, allowed_names: Collection[str], *, max_length: int = 512, max_depth: int = 24
) -> Expression:
    """Validate one expression and rewrite it for numexpr.

    Args:
        text: the expression, e.g. ``"(B08 - B04) / (B08 + B04)"``.
        allowed_names: the variable names it may use (case-sensitive).
        max_length: longest accepted text, in characters.
        max_depth: deepest accepted nesting of sub-expressions.

    Raises:
        ExpressionError: naming what was refused.
    """
    source = text.strip()
    if not source:
        raise ExpressionError("expression is empty")
    if len(source) > max_length:
        raise ExpressionError(f"expression is longer than {max_length} characters")
    for char in source:
        if not (char.isascii() and (char.isprintable() or char in "\t\n\r")):
            raise ExpressionError(f"character U+{ord(char):04X} is not allowed")
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        where = f" at column {exc.offset}" if exc.offset else ""
        detail = "" if exc.msg == "invalid syntax" else f": {exc.msg}"
        raise ExpressionError(f"invalid syntax{where}{detail}") from None
    except (RecursionError, MemoryError, ValueError):
        raise ExpressionError("expression is too complex") from None
    _check_depth(tree.body, max_depth)
    names: set[str] = set()
    try:
        body = _rewrite(tree.body, frozenset(allowed_names), names)
        compiled = ast.unparse(body)
    except RecursionError:  # only reachable when a caller passes a huge max_depth
        raise ExpressionError("expression is too complex") from None
    return Expression(source=source, compiled=compiled, names=frozenset(names))


def parse_expressions(
    text: str, allowed_names: Collection[str], *, max_length: int = 512, max_depth: int = 24
) -> tuple[Expression, ...]:
    """Parse 1, 3 or 4 expressions separated by ``;`` (single band, RGB or RGBA).

    The limits apply to each expression.
    """
    parts = text.split(";")
    if len(parts) not in (1, 3, 4):
        raise ExpressionError(f"expected 1, 3 or 4 expressions separated by ';', got {len(parts)}")
    if len(parts) == 1:
        return (parse_expression(text, allowed_names, max_length=max_length, max_depth=max_depth),)
    expressions = []
    for number, part in enumerate(parts, start=1):
        try:
            expressions.append(parse_expression(part, allowed_names, max_length=max_length, max_depth=max_depth))
        except ExpressionError as exc:
            raise ExpressionError(f"expression {number}: {exc}") from None
    return tuple(expressions)


def evaluate(expr: Expression, variables: Mapping[str, np.ndarray]) -> np.ndarray:
    """Evaluate with numexpr; float32 result shaped like the inputs.

    Division by zero gives inf/nan on purpose: the renderer masks them.
    A constant expression takes its shape from any variable passed.

    Raises:
        ExpressionError: a variable is missing, or numexpr failed.
    """
    try:
        local_dict = {name: np.asarray(variables[name], dtype=np.float32) for name in expr.names}
    except KeyError as exc:
        raise ExpressionError(f"missing band {exc.args[0]!r}") from None
    shapes = [array.shape for array in local_dict.values()]
    if not shapes:
        if not variables:
            raise ExpressionError("a constant expression needs a variable to take its shape from")
        shapes = [np.shape(next(iter(variables.values())))]
    try:
        with np.errstate(all="ignore"):
            result = numexpr.evaluate(expr.compiled, local_dict=local_dict, global_dict={})
    except (KeyError, ValueError, TypeError, ArithmeticError, RuntimeError, MemoryError) as exc:
        raise ExpressionError(f"cannot evaluate {expr.source!r}: {exc}") from None
    return np.broadcast_to(result, np.broadcast_shapes(*shapes)).astype(np.float32)


def _check_depth(root: ast.expr, max_depth: int) -> None:
    # Iterative, so hostile nesting cannot exhaust the stack before being refused.
    stack: list[tuple[ast.AST, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            raise ExpressionError(f"expression is nested deeper than {max_depth} levels")
        stack.extend((child, depth + isinstance(child, ast.expr)) for child in ast.iter_child_nodes(node))


def _rewrite(node: ast.AST, allowed: frozenset[str], names: set[str]) -> ast.expr:
    """Return an equivalent numexpr-ready node, or raise for anything not allow-listed."""

    def sub(child: ast.AST) -> ast.expr:
        return _rewrite(child, allowed, names)

    match node:
        case ast.Name(id=name):
            if name.startswith("__"):
                raise ExpressionError(f"name {name!r} is not allowed")
            if name not in allowed:
                raise ExpressionError(f"unknown band {name!r}")
            names.add(name)
            return ast.Name(id=name, ctx=ast.Load())
        case ast.Constant(value=value):
            return ast.Constant(value=_number(value))
        case ast.UnaryOp(op=ast.UAdd() | ast.USub() as op, operand=operand):
            return ast.UnaryOp(op=op, operand=sub(operand))
        case ast.UnaryOp(op=ast.Not() | ast.Invert(), operand=operand):
            return ast.UnaryOp(op=ast.Invert(), operand=sub(operand))
        case ast.BinOp(left=left, op=op, right=right):
            if not isinstance(op, _BIN_OPS):
                raise ExpressionError(f"operator {_OP_SYMBOLS.get(type(op), '?')!r} is not allowed")
            return ast.BinOp(left=sub(left), op=op, right=sub(right))
        case ast.BoolOp(op=op, values=values):
            bit_op: ast.operator = ast.BitAnd() if isinstance(op, ast.And) else ast.BitOr()
            return _fold(bit_op, [sub(value) for value in values])
        case ast.Compare(left=left, ops=ops, comparators=comparators):
            for comparison in ops:
                if not isinstance(comparison, _CMP_OPS):
                    raise ExpressionError(f"operator {_OP_SYMBOLS.get(type(comparison), '?')!r} is not allowed")
            operands = [sub(left), *(sub(c) for c in comparators)]
            # a < b < c  ->  (a < b) & (b < c): numexpr has no chained comparisons.
            pairs: list[ast.expr] = [
                ast.Compare(left=a, ops=[op], comparators=[b]) for a, op, b in zip(operands, ops, operands[1:])
            ]
            return _fold(ast.BitAnd(), pairs)
        case ast.IfExp(test=test, body=body, orelse=orelse):
            return _call("where", [sub(test), sub(body), sub(orelse)])
        case ast.Call(func=ast.Name(id=name), args=args, keywords=keywords):
            arity = _FUNCTIONS.get(name)
            if arity is None:
                raise ExpressionError(f"function {name!r} is not allowed")
            if keywords:
                raise ExpressionError("keyword arguments are not allowed")
            new_args = [sub(arg) for arg in args]
            if len(new_args) != arity:
                plural = "s" if arity > 1 else ""
                raise ExpressionError(f"function {name!r} takes {arity} argument{plural}, got {len(new_args)}")
            if name == "clip":
                x, low, high = new_args
                return _call("minimum", [_call("maximum", [x, low]), high])
            if name == "bit":
                return _bit_test(new_args[0], args[1])
            return _call(_RENAMED.get(name, name), new_args)
        case ast.Call(func=func):
            sub(func)  # names the refused construct, e.g. attribute access
            raise ExpressionError("only named functions can be called")
    raise ExpressionError(_REFUSED.get(type(node), f"{type(node).__name__} is not allowed"))


def _number(value: object) -> bool | float:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if abs(value) > _MAX_INT_LITERAL:
            raise ExpressionError("integer literal is too large")
        # numexpr folds constant sub-expressions with Python ints: 9**9**9**9 would never end.
        return float(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ExpressionError("number literal is not finite")
        return value
    kinds = {str: "string literals", bytes: "bytes literals", complex: "complex numbers"}
    refused = kinds.get(type(value))
    if refused is None:
        raise ExpressionError(f"constant {value!r} is not allowed")
    raise ExpressionError(f"{refused} are not allowed")


def _bit_test(code: ast.expr, position: ast.AST) -> ast.expr:
    """bit(code, n) -> (code % 2**(n+1)) >= 2**n: bit n of a non-negative integer code."""
    match position:
        case ast.Constant(value=int() as n) if not isinstance(n, bool) and 0 <= n <= _MAX_BIT:
            pass
        case _:
            raise ExpressionError(f"function 'bit' takes a bit number from 0 to {_MAX_BIT} as its second argument")
    remainder = ast.BinOp(left=code, op=ast.Mod(), right=ast.Constant(value=float(2 ** (n + 1))))
    return ast.Compare(left=remainder, ops=[ast.GtE()], comparators=[ast.Constant(value=float(2**n))])


def _fold(op: ast.operator, operands: list[ast.expr]) -> ast.expr:
    result = operands[0]
    for operand in operands[1:]:
        result = ast.BinOp(left=result, op=op, right=operand)
    return result


def _call(name: str, args: list[ast.expr]) -> ast.Call:
    return ast.Call(func=ast.Name(id=name, ctx=ast.Load()), args=args, keywords=[])
