"""Errors an evalscript raises. Like `ExpressionError` they know nothing of HTTP.

EvalscriptError            the script was refused or failed (400)
├── EvalscriptSyntaxError  it does not parse; `line` and `column` say where (400)
├── EvalscriptMemoryError  it allocated more than its memory limit (400)
└── EvalscriptTimeout      it ran past the caller's deadline (503, like a render timeout)
"""


class EvalscriptError(ValueError):
    """A script was refused, or failed while running."""


class EvalscriptSyntaxError(EvalscriptError):
    """A script that does not parse."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        where = f"line {line}, column {column}: " if line and column else f"line {line}: " if line else ""
        super().__init__(f"syntax error: {where}{message}")
        self.line = line
        self.column = column


class EvalscriptMemoryError(EvalscriptError):
    """A script went over its memory limit."""


class EvalscriptTimeout(EvalscriptError):
    """A script did not finish within the caller's deadline."""
