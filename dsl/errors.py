"""Exceptions and diagnostics of the language layer.

Every input error says what is wrong and where: line, column, the offending line with a caret,
and what was expected, in words.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class DSLError(Exception):
    """Root of every error raised by :mod:`dsl`."""


class GrammarError(DSLError, ValueError):
    """A DSL folder, its ``dsl.toml`` or its grammar cannot be used.

    ``location`` is ``file:line:col`` where known.
    """

    def __init__(self, message: str, *, location: str | None = None, construct: str | None = None):
        self.location = location
        self.construct = construct
        super().__init__(f"{location}: {message}" if location else message)


class DSLSyntaxError(DSLError, ValueError):
    """A program does not parse. Carries ``line``, ``column`` (1-based) and ``expected``."""

    def __init__(
        self,
        problem: str,
        *,
        text: str,
        line: int,
        column: int,
        expected: list[str] | None = None,
        dsl: str | None = None,
    ):
        self.problem = problem
        self.line = line
        self.column = column
        self.expected = sorted(set(expected or []))
        self.dsl = dsl
        self.context = caret_context(text, line, column)
        message = f"{problem} at line {line}, column {column}\n{self.context}"
        if self.expected:
            message += "\nexpected one of: " + ", ".join(self.expected)
        super().__init__(message)


class ExecutionError(DSLError, RuntimeError):
    """A valid program could not be run (no executor for this DSL, or a runtime fault)."""


def caret_context(text: str, line: int, column: int, *, width: int = 80) -> str:
    """The line at ``line`` (clipped to ``width`` around ``column``) with a caret below it."""
    lines = text.splitlines() or [""]
    source = lines[min(max(line, 1), len(lines)) - 1]
    start = max(0, column - 1 - width // 2)
    snippet = source[start : start + width]
    return f"    {snippet}\n    {' ' * (column - 1 - start)}^"


@dataclass(frozen=True)
class Span:
    """Where a diagnostic points: 1-based line and column, and the character offsets."""

    line: int
    column: int
    start: int
    end: int


@dataclass(frozen=True)
class Diagnostic:
    """One validation problem.

    ``code`` is stable and machine-readable (``unknown-function``, ``unknown-param``,
    ``missing-param``, ``type-mismatch``, ...); ``message`` is for people.
    """

    code: str
    message: str
    span: Span | None = None
    data: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        where = f"{self.span.line}:{self.span.column}: " if self.span else ""
        return f"{where}{self.code}: {self.message}"
