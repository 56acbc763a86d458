"""Workflow semantics: the connector catalog, validation, API sequences, the locked grammar.

``grammars/workflow/dsl.toml`` names this module (``language = "workflow"``). The pieces:

- :mod:`dsl.languages.workflow_catalog` reads ``catalog.toml`` (and tenant catalogs);
- :mod:`dsl.languages.workflow_check` validates a parsed flow against a catalog;
- :mod:`dsl.languages.workflow_lock` writes the catalog-locked decoding grammar.

A tenant (a customer's private connectors) is a folder ``grammars/workflow/tenants/<name>/`` with
a ``catalog.toml`` in the same format; every method that depends on the catalog takes
``extra_catalog`` — a tenant name, a catalog file, or a :class:`Catalog` — and uses the base
catalog plus that one. Nothing is edited or recompiled for it.

>>> import dsl
>>> wf = dsl.load("workflow")
>>> [d.code for d in wf.validate('flow { trigger outlook.on_new_email() teams.post_mesage(channel: "x", text: "y") }')]
['unknown-action']
"""

from __future__ import annotations

import os
import re
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Union

from lark import Token, Tree

from dsl.errors import Diagnostic, GrammarError
from dsl.languages.base import LanguageSupport
from dsl.languages.workflow_catalog import Catalog, load_catalog
from dsl.languages.workflow_check import call_api, call_args, calls, check_flow
from dsl.languages.workflow_lock import GrammarLock, decoding_of, lock_violations

if TYPE_CHECKING:
    from dsl.language import DSL

__all__ = ["ExtraCatalog", "Support"]

ExtraCatalog = Union[Catalog, str, "os.PathLike[str]", None]
"""A tenant name (``"contoso"``), a catalog file path, a loaded :class:`Catalog`, or None."""

_API_CALL = re.compile(r"([A-Za-z_]\w*\.[A-Za-z_]\w*)\s*\(")
_KEY = re.compile(r"([A-Za-z_]\w*)\s*:")


class Support(LanguageSupport):
    """Workflow flows: catalog checks, API sequences and keys, the catalog-locked grammar."""

    def __init__(self, dsl: DSL, *, folder: Path, catalog_path: Path | None) -> None:
        super().__init__(dsl, folder=folder, catalog_path=catalog_path)
        if catalog_path is None:
            raise GrammarError('the workflow language needs a catalog: add `catalog = "catalog.toml"` '
                               "to dsl.toml", location=str(folder / "dsl.toml"))
        self._catalog_file: Path = catalog_path
        self._merged: dict[str, Catalog] = {}

    # -- catalogs -----------------------------------------------------------------------------
    @cached_property
    def catalog(self) -> Catalog:
        """The base catalog, read on first use (a bad catalog raises GrammarError then)."""
        return load_catalog(self._catalog_file)

    def tenants(self) -> list[str]:
        """Names of the tenant folders (``tenants/<name>/catalog.toml``)."""
        root = self.folder / "tenants"
        return sorted(p.parent.name for p in root.glob("*/catalog.toml")) if root.is_dir() else []

    def tenant_catalog(self, name: str) -> Catalog:
        """A tenant's own catalog (its record types may use the base catalog's).

        Raises:
            GrammarError: unknown tenant (naming the available ones) or a bad catalog file.
        """
        path = self.folder / "tenants" / name / "catalog.toml"
        if not name.isidentifier() or not path.is_file():
            raise GrammarError(f"tenant {name!r} not found in {self.folder / 'tenants'}; available: {self.tenants()}")
        return load_catalog(path, base=self.catalog)

    def catalog_with(self, extra_catalog: ExtraCatalog = None) -> Catalog:
        """The base catalog plus ``extra_catalog`` (merged catalogs of tenants are cached)."""
        if extra_catalog is None:
            return self.catalog
        if isinstance(extra_catalog, Catalog):
            return self.catalog.merged(extra_catalog)
        if isinstance(extra_catalog, str) and extra_catalog.isidentifier():
            path = self.folder / "tenants" / extra_catalog / "catalog.toml"
            if not path.is_file():
                self.tenant_catalog(extra_catalog)  # raises, naming the available tenants
        else:
            path = Path(extra_catalog)
        try:
            stat = path.stat()
        except OSError as e:
            raise GrammarError(f"extra catalog {str(extra_catalog)!r} cannot be read: {e}") from e
        key = f"{path.resolve()}:{stat.st_mtime_ns}:{stat.st_size}"  # an edited file is read again
        if key not in self._merged:
            self._merged[key] = self.catalog.merged(load_catalog(path, base=self.catalog))
        return self._merged[key]

    # -- validation ---------------------------------------------------------------------------
    def validate(self, tree: Tree[Token], text: str, *, extra_catalog: ExtraCatalog = None) -> list[Diagnostic]:
        """Catalog, scope, type and trigger diagnostics in source order (see workflow_check)."""
        return check_flow(tree, self.catalog_with(extra_catalog))

    # -- metrics ------------------------------------------------------------------------------
    def api_calls(self, tree: Tree[Token]) -> list[str]:
        """``connector.action`` of every call in source order (the trigger first in a valid flow)."""
        return [call_api(c) for c in calls(tree)]

    def param_keys(self, tree: Tree[Token]) -> list[tuple[str, str]]:
        return [(call_api(c), str(key)) for c in calls(tree) for key, _ in call_args(c)]

    def known_apis(self, *, extra_catalog: ExtraCatalog = None) -> set[str]:
        return set(self.catalog_with(extra_catalog).apis())

    def known_params(self, api: str, *, extra_catalog: ExtraCatalog = None) -> set[str] | None:
        op = self.catalog_with(extra_catalog).operation(api)
        return {p.name for p in op.params} if op else None

    def api_calls_from_text(self, text: str) -> list[str]:
        """Dotted ``a.b(`` calls outside string literals (``if (`` is not a call here)."""
        return _API_CALL.findall(_blank_strings(text))

    def param_keys_from_text(self, text: str) -> list[tuple[str, str]]:
        """``key:`` at the top level of each call's parentheses (not inside objects or lists)."""
        source = _blank_strings(text)
        pairs: list[tuple[str, str]] = []
        for match in _API_CALL.finditer(source):
            depth, start = 0, match.end()
            for i in range(start, len(source)):
                char = source[i]
                if char in "([{":
                    depth += 1
                elif char in ")]}":
                    if depth == 0:
                        break
                    depth -= 1
                elif depth == 0 and char == ":":
                    key = _KEY.search(source, max(start, source.rfind(",", start, i) + 1, 0), i + 1)
                    if key:
                        pairs.append((match.group(1), key.group(1)))
        return pairs

    # -- the catalog-locked decoding grammar -------------------------------------------------
    @cached_property
    def _lock(self) -> GrammarLock:
        from dsl.format import spacing

        return GrammarLock(decoding_of(self.dsl), lambda terminal: spacing(self.dsl, terminal))

    def locked_decoding_grammar(self, extra_catalog: ExtraCatalog = None) -> str:
        """The decoding grammar in which only catalog operations and keys can be generated.

        Args:
            extra_catalog: more connectors for this request (a tenant name, a catalog file or a
                Catalog), added to the base catalog without editing grammar.lark.

        Returns:
            llguidance Lark text: the base decoding grammar with ``flow``, ``_stmt``,
            ``trigger`` and ``call`` rewritten from the catalog (see workflow_lock).

        Raises:
            GrammarError: a bad extra catalog, or one that redefines a base connector.
        """
        return self._lock.grammar(self.catalog_with(extra_catalog))

    def is_lock_valid(self, tree: Tree[Token], *, extra_catalog: ExtraCatalog = None) -> bool:
        """True when the locked grammar accepts the (canonical text of the) parsed program."""
        return not lock_violations(tree, self.catalog_with(extra_catalog))

    def lock_violations(self, tree: Tree[Token], *, extra_catalog: ExtraCatalog = None) -> list[str]:
        """Why the locked grammar refuses a parsed program, in words."""
        return lock_violations(tree, self.catalog_with(extra_catalog))


def _blank_strings(text: str) -> str:
    """``text`` with the contents of double-quoted strings replaced by spaces (offsets kept)."""
    return re.sub(r'"(?:[^"\\\n]|\\.)*"?', lambda m: '"' + " " * (len(m.group()) - 1), text)
