"""Load a DSL's ``grammar.lark`` with Lark itself, keeping imports inside the DSL folder."""

from __future__ import annotations

import re
from pathlib import Path

import lark
from lark.exceptions import GrammarError as LarkGrammarError

from dsl.errors import GrammarError
from dsl.spec import DSLSpec

# Lark's own grammar library (`%import common.WS`): always allowed.
_LARK_LIBRARY = {"common", "unicode", "lark", "python"}
_IMPORT = re.compile(r"^\s*%import\s+(\.?)([\w.]+)", re.MULTILINE)


def load_parsers(spec: DSLSpec) -> tuple[lark.Lark, lark.Lark]:
    """Build two Lark parsers over the grammar: one for trees, one that keeps every token.

    The second one feeds the formatter, which needs punctuation the first one filters out.
    Raises GrammarError with ``file:line:col`` when Lark refuses the grammar.
    """
    path = spec.grammar_path
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise GrammarError(f"grammar is not UTF-8 (byte {e.start})", location=str(path)) from e
    check_imports(text, spec.folder, path)
    options = dict(
        parser=spec.parser,
        start=spec.start,
        import_paths=[str(spec.folder)],
        propagate_positions=True,
        maybe_placeholders=False,
        cache=False,
    )
    if spec.parser == "lalr":
        options["lexer"] = "contextual"
    try:
        tree_parser = lark.Lark(text, **options)
        token_parser = lark.Lark(text, keep_all_tokens=True, **options)
    except LarkGrammarError as e:
        raise GrammarError(str(e), location=_locate_lark_error(str(e), path)) from e
    except lark.exceptions.LarkError as e:
        raise GrammarError(f"Lark cannot build a parser: {e}", location=str(path)) from e
    return tree_parser, token_parser


def check_imports(text: str, folder: Path, path: Path) -> None:
    """Refuse ``%import`` of anything but Lark's library or a grammar inside ``folder``."""
    for match in _IMPORT.finditer(text):
        relative, dotted = match.group(1), match.group(2)
        line = text.count("\n", 0, match.start()) + 1
        module = dotted.split(".")[:-1] or dotted.split(".")
        if not relative and module[0] in _LARK_LIBRARY:
            continue
        target = (folder / Path(*module)).with_suffix(".lark").resolve()
        if not target.is_relative_to(folder.resolve()) or not target.is_file():
            raise GrammarError(
                f"%import {dotted}: only Lark's library (common, unicode, ...) or a .lark file "
                f"inside {folder} may be imported",
                location=f"{path}:{line}:1",
                construct="%import",
            )


def _locate_lark_error(message: str, path: Path) -> str:
    found = re.search(r"line (\d+)(?:,? col(?:umn)? (\d+))?", message)
    if found:
        return f"{path}:{found.group(1)}:{found.group(2) or 1}"
    return str(path)
