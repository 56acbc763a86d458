"""Parsing with guards: size, nesting and encoding are checked before Lark runs, and every Lark
exception becomes a :class:`DSLSyntaxError` that names the place and the expected tokens."""

from __future__ import annotations

import lark
from lark import Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.lexer import PatternStr

from dsl.errors import DSLSyntaxError
from dsl.spec import DSLSpec

_OPEN, _CLOSE = "([{", ")]}"


def parse_checked(text: str | bytes, parser: lark.Lark, spec: DSLSpec) -> Tree[Token]:
    """Parse ``text`` or raise DSLSyntaxError; never RecursionError, never a hang."""
    source = decode(text, spec.name)
    if len(source) > spec.max_chars:
        line, column = line_column(source, spec.max_chars)
        raise DSLSyntaxError(
            f"program is {len(source):,} characters, longer than the limit of {spec.max_chars:,} "
            "(dsl.toml max_chars)",
            text=source, line=line, column=column, dsl=spec.name,
        )
    check_depth(source, spec)
    if not source.strip():
        raise DSLSyntaxError(
            "empty program", text=source, line=1, column=1,
            expected=_expected_words(parser, _first_terminals(parser)), dsl=spec.name,
        )
    try:
        return parser.parse(source)
    except UnexpectedInput as e:
        raise _syntax_error(e, source, parser, spec.name) from None
    except RecursionError:
        raise DSLSyntaxError(
            "program is nested too deeply to parse", text=source, line=1, column=1, dsl=spec.name
        ) from None


def decode(text: str | bytes, dsl_name: str | None = None) -> str:
    """UTF-8 text, or a DSLSyntaxError at the first byte that is not UTF-8."""
    if isinstance(text, str):
        return text
    try:
        return text.decode("utf-8")
    except UnicodeDecodeError as e:
        good = text[: e.start].decode("utf-8")
        line, column = line_column(good, len(good))
        raise DSLSyntaxError(
            f"input is not UTF-8: byte 0x{text[e.start]:02x} at offset {e.start}",
            text=good + "?", line=line, column=column, dsl=dsl_name,
        ) from None


def check_depth(source: str, spec: DSLSpec) -> None:
    """Refuse bracket nesting deeper than ``spec.max_depth`` (counted outside quotes)."""
    depth = 0
    quote = ""
    for offset, char in enumerate(source):
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char in _OPEN:
            depth += 1
            if depth > spec.max_depth:
                line, column = line_column(source, offset)
                raise DSLSyntaxError(
                    f"brackets nested deeper than {spec.max_depth} (dsl.toml max_depth)",
                    text=source, line=line, column=column, dsl=spec.name,
                )
        elif char in _CLOSE:
            depth -= 1


def line_column(source: str, offset: int) -> tuple[int, int]:
    """1-based line and column of a character offset."""
    line = source.count("\n", 0, offset) + 1
    column = offset - (source.rfind("\n", 0, offset) + 1) + 1
    return line, column


def describe_terminal(parser: lark.Lark, name: str) -> str:
    """A terminal in words: its literal in quotes, or its name for a pattern."""
    if name == "$END":
        return "end of input"
    try:
        terminal = parser.get_terminal(name)
    except KeyError:
        return name
    if isinstance(terminal.pattern, PatternStr):
        return repr(terminal.pattern.value)
    if name.startswith("__ANON"):
        return f"/{terminal.pattern.value}/"
    return name


def _expected_words(parser: lark.Lark, names: set[str] | frozenset[str]) -> list[str]:
    return sorted({describe_terminal(parser, n) for n in names})


def _first_terminals(parser: lark.Lark) -> set[str]:
    try:
        return set(parser.parse_interactive("").accepts())  # type: ignore[no-untyped-call]
    except Exception:  # Earley has no interactive parser; the message still stands
        return set()


def _syntax_error(e: UnexpectedInput, source: str, parser: lark.Lark, dsl_name: str) -> DSLSyntaxError:
    if isinstance(e, UnexpectedCharacters):
        position = e.pos_in_stream or 0
        char = source[position] if position < len(source) else ""
        problem = f"unexpected character {char!r}"
        expected = set(e.allowed or ())
        line, column = e.line, e.column
    elif isinstance(e, UnexpectedEOF):
        problem = "unexpected end of input"
        expected = set(e.expected)
        line, column = line_column(source, len(source))
    elif isinstance(e, UnexpectedToken):
        expected = set(e.accepts or e.expected)
        if e.token.type == "$END":
            problem = "unexpected end of input"
            line, column = line_column(source, len(source))
        else:
            problem = f"unexpected {str(e.token)!r}"
            line, column = e.line, e.column
    else:
        problem, expected = "syntax error", set()
        line, column = getattr(e, "line", 1) or 1, getattr(e, "column", 1) or 1
    if line < 1 or column < 1:  # Lark reports -1 for end of input in some paths
        line, column = line_column(source, len(source))
    return DSLSyntaxError(
        problem, text=source, line=line, column=column,
        expected=_expected_words(parser, expected), dsl=dsl_name,
    )
