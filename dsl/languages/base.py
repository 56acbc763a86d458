"""The hooks a DSL may implement beyond syntax. Defaults: no catalog, no executor."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lark import Token, Tree

from dsl.errors import Diagnostic, ExecutionError

if TYPE_CHECKING:
    from dsl.language import DSL

# Fallbacks for text that does not parse (free decoding): `name(` and `key:` shapes.
_CALL_NAME = re.compile(r"([A-Za-z_][\w.]*)\s*\(")
_PARAM_KEY = re.compile(r"([A-Za-z_]\w*)\s*:(?!:)")


class LanguageSupport:
    """Semantics of one DSL. Subclasses override what their DSL has.

    ``folder`` is the DSL folder; ``catalog_path`` the catalog file named in ``dsl.toml``
    (or None).
    """

    def __init__(self, dsl: DSL, *, folder: Path, catalog_path: Path | None) -> None:
        self.dsl = dsl
        self.folder = folder
        self.catalog_path = catalog_path

    # -- validation -----------------------------------------------------------------
    def validate(self, tree: Tree[Token], text: str) -> list[Diagnostic]:
        """Problems beyond syntax (unknown function, wrong parameter, type mismatch)."""
        return []

    # -- execution ------------------------------------------------------------------
    def execute(self, tree: Tree[Token]) -> list[Any]:
        """Run a parsed program and return plain values."""
        raise ExecutionError(f"DSL '{self.dsl.name}' has no executor")

    # -- metrics --------------------------------------------------------------------
    def api_calls(self, tree: Tree[Token]) -> list[str]:
        """The sequence of function/API names the program calls, in source order."""
        return []

    def param_keys(self, tree: Tree[Token]) -> list[tuple[str, str]]:
        """(api, key) for every named parameter the program passes."""
        return []

    def known_apis(self) -> set[str] | None:
        """Every function/API name the catalog defines; None when the DSL has no catalog."""
        return None

    def known_params(self, api: str) -> set[str] | None:
        """The parameter keys ``api`` accepts; None when unknown or not applicable."""
        return None

    def api_calls_from_text(self, text: str) -> list[str]:
        """Best-effort API names from text that may not parse (used for free decoding)."""
        return _CALL_NAME.findall(text)

    def param_keys_from_text(self, text: str) -> list[tuple[str, str]]:
        """Best-effort (api, key) pairs from text that may not parse."""
        pairs: list[tuple[str, str]] = []
        for call in re.finditer(r"([A-Za-z_][\w.]*)\s*\(([^()]*)\)", text):
            pairs += [(call.group(1), k) for k in _PARAM_KEY.findall(call.group(2))]
        return pairs
