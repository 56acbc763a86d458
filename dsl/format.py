"""Canonical text: each token printed with the spacing ``dsl.toml [format]`` declares, nothing else.

The same table drives the decoding grammar (:mod:`dsl.decoding`), so the decoder can only emit
canonical text and whitespace never eats the token budget.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lark import Token
from lark.lexer import PatternStr

if TYPE_CHECKING:
    from dsl.language import DSL


def spacing(dsl: DSL, terminal: str) -> tuple[str, str]:
    """(before, after) for a terminal, looked up by its literal value, then by its name."""
    table = dsl.spec.format
    pattern = dsl.lark.get_terminal(terminal).pattern if _known(dsl, terminal) else None
    keys = [pattern.value] if isinstance(pattern, PatternStr) else []
    keys.append(terminal)
    before = next((table.before[k] for k in keys if k in table.before), "")
    after = next((table.after[k] for k in keys if k in table.after), "")
    return before, after


def render_tokens(tokens: list[Token], dsl: DSL) -> str:
    """Join tokens with their canonical spacing."""
    cache: dict[str, tuple[str, str]] = {}
    parts: list[str] = []
    for token in tokens:
        if token.type not in cache:
            cache[token.type] = spacing(dsl, token.type)
        before, after = cache[token.type]
        parts += [before, str(token), after]
    return "".join(parts)


def _known(dsl: DSL, terminal: str) -> bool:
    try:
        dsl.lark.get_terminal(terminal)
    except KeyError:
        return False
    return True
