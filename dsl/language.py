"""`DSL`: one loaded language — parse, validate, format, compare, execute, compile for decoding."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lark import Lark, Token, Tree

from dsl.errors import DSLSyntaxError, Diagnostic, GrammarError, Span
from dsl.grammar import load_parsers
from dsl.languages import SUPPORT_MODULES
from dsl.languages.base import LanguageSupport
from dsl.spec import DSLSpec, read_spec

if TYPE_CHECKING:
    from dsl.decoding import DecodingGrammar


class DSL:
    """A DSL loaded from its folder. Build it with :func:`dsl.load`.

    >>> import dsl
    >>> geo = dsl.load("geoquery")
    >>> geo.format("answer( state( all ) )")
    'answer(state(all))'
    """

    def __init__(self, spec: DSLSpec) -> None:
        self.spec = spec
        self._tree_parser, self._token_parser = load_parsers(spec)
        self.support = self._load_support()
        self._decoding  # compiled at load: what the decoder cannot express fails here, not mid-request

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def folder(self) -> Path:
        return self.spec.folder

    @property
    def lark(self) -> Lark:
        """The Lark parser (trees without punctuation). Read-only use."""
        return self._tree_parser

    def __repr__(self) -> str:
        return f"DSL({self.name!r}, folder={str(self.folder)!r})"

    # -- syntax ---------------------------------------------------------------------
    def parse(self, text: str | bytes) -> Tree[Token]:
        """Parse a program.

        Args:
            text: the program; bytes must be UTF-8.

        Returns:
            The Lark tree.

        Raises:
            DSLSyntaxError: with ``line``, ``column``, a caret and the expected tokens.
        """
        return self._parse(text, self._tree_parser)

    def is_valid_syntax(self, text: str | bytes) -> bool:
        try:
            self.parse(text)
        except DSLSyntaxError:
            return False
        return True

    def tokens(self, text: str | bytes) -> list[Token]:
        """Every token of a program in source order, punctuation included."""
        tree = self._parse(text, self._token_parser)
        found: list[Token] = []
        stack: list[Tree[Token] | Token] = [tree]
        while stack:  # iterative: deep programs must not hit the recursion limit
            node = stack.pop()
            if isinstance(node, Token):
                found.append(node)
            else:
                stack.extend(reversed(node.children))
        return found

    def format(self, text: str | bytes) -> str:
        """The canonical text of a program: tokens with the spacing ``dsl.toml`` declares.

        Raises:
            DSLSyntaxError: if the program does not parse.
        """
        from dsl.format import render_tokens

        return render_tokens(self.tokens(text), self)

    def equal(self, a: str | bytes, b: str | bytes) -> bool:
        """True when ``a`` and ``b`` are the same program up to formatting."""
        return _tree_key(self.parse(a)) == _tree_key(self.parse(b))

    # -- semantics ------------------------------------------------------------------
    def validate(self, text: str | bytes) -> list[Diagnostic]:
        """Every problem with a program; ``[]`` when it is valid.

        A syntax error is one diagnostic with code ``syntax-error``; otherwise the DSL's catalog
        checks run (``unknown-function``, ``unknown-param``, ``missing-param``, ...).
        """
        try:
            tree = self.parse(text)
        except DSLSyntaxError as e:
            span = Span(line=e.line, column=e.column, start=-1, end=-1)
            return [Diagnostic("syntax-error", str(e), span, {"expected": ", ".join(e.expected)})]
        source = text.decode("utf-8") if isinstance(text, bytes) else text
        return self.support.validate(tree, source)

    def execute(self, text: str | bytes) -> list[Any]:
        """Run a program where the DSL has an executor; plain values (str, int, float).

        Raises:
            DSLSyntaxError: if it does not parse.
            ExecutionError: if the DSL has no executor or the program fails at run time.
        """
        return self.support.execute(self.parse(text))

    def api_calls(self, text: str | bytes) -> list[str]:
        """Function/API names in call order; a best-effort scan when the text does not parse."""
        try:
            return self.support.api_calls(self.parse(text))
        except DSLSyntaxError:
            source = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
            return self.support.api_calls_from_text(source)

    def param_keys(self, text: str | bytes) -> list[tuple[str, str]]:
        """(api, key) of every named parameter; a best-effort scan when the text does not parse."""
        try:
            return self.support.param_keys(self.parse(text))
        except DSLSyntaxError:
            source = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
            return self.support.param_keys_from_text(source)

    # -- decoding -------------------------------------------------------------------
    @cached_property
    def _decoding(self) -> DecodingGrammar:
        from dsl.decoding import compile_decoding_grammar

        return compile_decoding_grammar(self)

    def compiled_decoding_grammar(self) -> DecodingGrammar:
        """The decoding grammar as rules and terminals (:meth:`DecodingGrammar.with_rules`
        specialises it, e.g. per catalog, without recompiling)."""
        return self._decoding

    def decoding_grammar(self) -> str:
        """The grammar in llguidance's Lark dialect that accepts exactly the canonical programs.

        An optional single leading space is allowed (tokenizers such as sentencepiece glue a
        space to the first word); strip it from decoded text.

        Raises:
            GrammarError: naming the construct and ``file:line:col`` when it cannot be expressed.
        """
        return str(self._decoding.text)

    # -- data -----------------------------------------------------------------------
    def examples(self, split: str | None = None, *, scheme: str = "standard") -> list[dict[str, Any]]:
        """The DSL's shipped examples (``id``, ``text``, ``code``, ...), optionally one split."""
        rows: list[dict[str, Any]] = []
        for relative in self.spec.data.programs:
            path = self.folder / relative
            with path.open(encoding="utf-8") as f:
                rows += [json.loads(line) for line in f if line.strip()]
        if split is None:
            return rows
        if self.spec.data.splits is None:
            raise GrammarError(f"DSL '{self.name}' declares no splits (dsl.toml [data] splits)")
        split_file = self.folder / self.spec.data.splits / f"{scheme}.json"
        if not split_file.is_file():
            available = sorted(p.stem for p in split_file.parent.glob("*.json"))
            raise GrammarError(f"split scheme {scheme!r} not found; available: {available}")
        table = json.loads(split_file.read_text(encoding="utf-8"))
        if split not in table:
            raise GrammarError(f"split {split!r} not in {scheme!r}; available: {sorted(table)}")
        wanted = set(table[split])
        return [r for r in rows if r["id"] in wanted]

    # -- internals ------------------------------------------------------------------
    def _load_support(self) -> LanguageSupport:
        if self.spec.language is None:
            return LanguageSupport(self, folder=self.folder, catalog_path=self.spec.catalog)
        module = importlib.import_module(SUPPORT_MODULES[self.spec.language])
        support: LanguageSupport = module.Support(self, folder=self.folder, catalog_path=self.spec.catalog)
        return support

    def _parse(self, text: str | bytes, parser: Lark) -> Tree[Token]:
        from dsl.parse import parse_checked

        return parse_checked(text, parser, self.spec)


def _tree_key(tree: Tree[Token]) -> list[Any]:
    """A flat, order-preserving serialisation of a tree (iterative, for deep trees)."""
    key: list[Any] = []
    stack: list[Any] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, Tree):
            key.append(("(", node.data))
            stack.append(")")
            stack.extend(reversed(node.children))
        elif isinstance(node, Token):
            key.append((node.type, str(node)))
        else:
            key.append(node)
    return key


def iter_trees(tree: Tree[Token]) -> Iterator[Tree[Token]]:
    """Subtrees in source (pre-)order, iteratively."""
    stack: list[Any] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, Tree):
            yield node
            stack.extend(reversed([c for c in node.children if isinstance(c, Tree)]))
