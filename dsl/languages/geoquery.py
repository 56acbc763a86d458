"""GeoQuery semantics: catalog validation, the FunQL executor and the metrics hooks.

``grammars/geoquery/dsl.toml`` names this module (``language = "geoquery"``). The pieces:

- :mod:`dsl.languages.geoquery_geobase` reads ``geobase.pl`` (Prolog facts) into tables;
- :mod:`dsl.languages.geoquery_world` indexes them into entities and relations;
- :mod:`dsl.languages.geoquery_catalog` reads ``catalog.toml`` and checks programs against it;
- :mod:`dsl.languages.geoquery_exec` runs programs and compares answers (:func:`answers_match`).

>>> import dsl
>>> geo = dsl.load("geoquery")
>>> geo.execute("answer(capital(loc_2(stateid('texas'))))")
['austin']
>>> [d.code for d in geo.validate("answer(loc_2(count(state(all))))")]
['type-mismatch']
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lark import Token, Tree

from dsl.errors import Diagnostic, ExecutionError, GrammarError
from dsl.languages.base import LanguageSupport
from dsl.languages.geoquery_catalog import (
    Catalog,
    as_call,
    check_entities,
    check_kinds,
    load_catalog,
)
from dsl.languages.geoquery_exec import answers_match, execute_tree
from dsl.languages.geoquery_world import World, load_world

if TYPE_CHECKING:
    from dsl.language import DSL

__all__ = ["Support", "answers_match"]


class Support(LanguageSupport):
    """GeoQuery: catalog checks, execution over geobase, predicate sequences."""

    def __init__(self, dsl: DSL, *, folder: Path, catalog_path: Path | None) -> None:
        super().__init__(dsl, folder=folder, catalog_path=catalog_path)
        if catalog_path is None:
            raise GrammarError(
                "the geoquery language needs a catalog: add `catalog = \"catalog.toml\"` to dsl.toml",
                location=str(folder / "dsl.toml"),
            )
        self._catalog_file: Path = catalog_path

    @cached_property
    def catalog(self) -> Catalog:
        """catalog.toml, read on first use (a bad catalog raises GrammarError then)."""
        return load_catalog(self._catalog_file)

    @property
    def world(self) -> World:
        """The database, read on first use and cached per process."""
        return load_world(self.catalog.database)

    # -- validation -------------------------------------------------------------------------
    def validate(self, tree: Tree[Token], text: str) -> list[Diagnostic]:
        """unknown-function, arity, type-mismatch and unknown-entity diagnostics, in source order."""
        diagnostics, _ = check_kinds(tree, self.catalog)
        diagnostics += check_entities(tree, self.catalog, self.world)
        diagnostics.sort(key=lambda d: d.span.start if d.span else -1)
        return diagnostics

    # -- execution --------------------------------------------------------------------------
    def execute(self, tree: Tree[Token]) -> list[Any]:
        """The answer: sorted, de-duplicated names (lowercase) and numbers.

        Raises:
            ExecutionError: when the program is ill-kinded (it names the first problem) or
                cannot run.
        """
        problems, _ = check_kinds(tree, self.catalog)
        if problems:
            first = problems[0]
            where = f" at line {first.span.line}, column {first.span.column}" if first.span else ""
            raise ExecutionError(f"cannot run the program: {first.message}{where}")
        try:
            return execute_tree(tree, self.world)
        except (KeyError, IndexError, TypeError, ValueError, ArithmeticError) as e:
            # a bug in the executor, not in the program: say so rather than leak a traceback
            raise ExecutionError(
                f"internal error while running the program ({type(e).__name__}: {e}); "
                "please report it with the program"
            ) from e

    @staticmethod
    def answers_match(predicted: Any, gold: Any) -> bool:
        """See :func:`dsl.languages.geoquery_exec.answers_match` (dsl.metrics looks it up here)."""
        return answers_match(predicted, gold)

    # -- metrics ----------------------------------------------------------------------------
    def api_calls(self, tree: Tree[Token]) -> list[str]:
        """Predicate names in pre-order, ``answer`` and entity constants included."""
        names: list[str] = []
        stack: list[Tree[Token]] = [tree]
        while stack:
            node = stack.pop()
            call = as_call(node)
            if call is None:
                continue
            names.append(call.name)
            stack.extend(reversed([a for a in call.args if isinstance(a, Tree)]))
        return names

    def param_keys(self, tree: Tree[Token]) -> list[tuple[str, str]]:
        """FunQL has no named parameters."""
        return []

    def known_apis(self) -> set[str]:
        return set(self.catalog.predicates)

    def known_params(self, api: str) -> set[str] | None:
        return set() if api in self.catalog.predicates else None

    def param_keys_from_text(self, text: str) -> list[tuple[str, str]]:
        return []

