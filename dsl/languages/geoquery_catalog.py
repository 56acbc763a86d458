"""The GeoQuery catalog (``catalog.toml``) and the checks it drives: unknown predicates, arity,
argument kinds, unknown entity names.

Kinds form a small hierarchy declared in the catalog (``relation`` is a kind of ``entities``,
``measure`` a kind of ``numbers``); an argument is accepted when its kind, or a kind it is a
kind of, is listed. A mismatched argument yields the wildcard kind so that one mistake gives
one diagnostic, not one per enclosing call.
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lark import Token, Tree

from dsl.errors import Diagnostic, GrammarError, Span
from dsl.languages.geoquery_world import EntityType, World

WILDCARD = "?"  # the kind of a node that already has a diagnostic: accepted everywhere
_RESULT_MODES = {"same", "base"}
_ENTITY_TYPES: tuple[EntityType, ...] = ("state", "city", "river", "place", "mountain", "lake", "country")


@dataclass(frozen=True)
class Kind:
    name: str
    description: str
    example: str
    """A short program fragment of this kind, quoted in diagnostics."""
    is_a: str | None = None


@dataclass(frozen=True)
class Predicate:
    name: str
    args: tuple[frozenset[str], ...]
    """Per argument, the kinds it accepts."""
    result: str
    """A kind, or "same" / "base" (see catalog.toml)."""
    description: str
    entity: EntityType | None = None
    """For entity constants (stateid, ...): the entity type they build."""


@dataclass(frozen=True)
class Catalog:
    kinds: dict[str, Kind]
    predicates: dict[str, Predicate]
    database: Path
    """The geobase file, resolved against the catalog's folder."""

    def accepts(self, allowed: frozenset[str], found: str) -> bool:
        """True when ``found`` or a kind it is a kind of is in ``allowed``."""
        kind: str | None = found
        while kind is not None:
            if kind == WILDCARD or kind in allowed:
                return True
            kind = self.kinds[kind].is_a if kind in self.kinds else None
        return False

    def base(self, kind: str) -> str:
        """The most general kind above ``kind`` (relation -> entities)."""
        while kind in self.kinds and self.kinds[kind].is_a is not None:
            kind = self.kinds[kind].is_a  # type: ignore[assignment]
        return kind

    def describe(self, allowed: frozenset[str]) -> str:
        """``entities (e.g. state(all)) or numbers (e.g. ...)``, for messages."""
        return " or ".join(
            f"{k} (e.g. {self.kinds[k].example})" if k in self.kinds else k for k in sorted(allowed)
        )


def load_catalog(path: Path) -> Catalog:
    """Read and check ``catalog.toml``; every problem in one GrammarError.

    Raises:
        GrammarError: naming the file and each bad entry.
    """
    try:
        raw: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise GrammarError(f"cannot read the catalog: {e}", location=str(path)) from e
    problems: list[str] = []
    unknown = sorted(set(raw) - {"database", "kinds", "predicates"})
    if unknown:
        problems.append(f"unknown top-level keys {unknown}; known: database, kinds, predicates")

    kinds: dict[str, Kind] = {}
    for name, entry in raw.get("kinds", {}).items():
        if not isinstance(entry, dict) or not all(
            isinstance(entry.get(key), str) for key in ("description", "example")
        ):
            problems.append(f"[kinds.{name}] needs `description` and `example` strings")
            continue
        kinds[name] = Kind(name, entry["description"], entry["example"], entry.get("is_a"))
    for kind in kinds.values():
        if kind.is_a is not None and kind.is_a not in kinds:
            problems.append(f"[kinds.{kind.name}] is_a {kind.is_a!r} is not a kind; known: {sorted(kinds)}")
    _check_no_cycles(kinds, problems)

    predicates: dict[str, Predicate] = {}
    for name, entry in raw.get("predicates", {}).items():
        where = f"[predicates.{name}]"
        if not isinstance(entry, dict):
            problems.append(f"{where} must be a table")
            continue
        extra = sorted(set(entry) - {"args", "result", "description", "entity"})
        if extra:
            problems.append(f"{where} unknown keys {extra}; known: args, result, description, entity")
        args = entry.get("args")
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            problems.append(f'{where} `args` must be a list of kinds such as ["entities"]')
            continue
        arg_kinds = tuple(frozenset(a.split("|")) for a in args)
        for allowed in arg_kinds:
            for kind_name in sorted(allowed - set(kinds)):
                problems.append(f"{where} argument kind {kind_name!r} is not a kind; known: {sorted(kinds)}")
        result = entry.get("result")
        if not isinstance(result, str) or (result not in kinds and result not in _RESULT_MODES):
            problems.append(f"{where} `result` {result!r} must be a kind, 'same' or 'base'")
        description = entry.get("description")
        if not isinstance(description, str) or not description:
            problems.append(f"{where} needs a one-line `description`")
        entity = entry.get("entity")
        if entity is not None and entity not in _ENTITY_TYPES:
            problems.append(f"{where} `entity` {entity!r} must be one of {list(_ENTITY_TYPES)}")
        predicates[name] = Predicate(name, arg_kinds, str(result), str(description), entity)

    database = raw.get("database")
    if not isinstance(database, str):
        problems.append("`database` must name the geobase file, e.g. \"data/geobase.pl\"")
        database = ""
    elif not (path.parent / database).is_file():
        problems.append(f"`database` file {database!r} not found next to the catalog")
    if problems:
        raise GrammarError("; ".join(problems), location=str(path))
    return Catalog(kinds=kinds, predicates=predicates, database=path.parent / database)


def _check_no_cycles(kinds: dict[str, Kind], problems: list[str]) -> None:
    for start in kinds:
        seen = {start}
        kind = kinds[start].is_a
        while kind is not None and kind in kinds:
            if kind in seen:
                problems.append(f"[kinds.{start}] is_a forms a cycle through {kind!r}")
                break
            seen.add(kind)
            kind = kinds[kind].is_a


# -- walking programs ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Call:
    """One predicate application in a program, however the grammar spells it."""

    name: str
    args: tuple[Tree[Token] | Token, ...]
    node: Tree[Token]
    name_token: Token | None
    """The token holding the name (None where the grammar drops it: answer, cityid)."""


def as_call(node: Tree[Token]) -> Call | None:
    """The call a tree node stands for; None for `all` and numbers.

    Raises:
        GrammarError: for a tree shape grammar.lark does not produce (grammar and this module
            out of step).
    """
    if node.data == "start":
        return Call("answer", tuple(node.children), node, None)
    if node.data in ("call", "entity"):
        head = node.children[0] if node.children else None
        name = head.children[0] if isinstance(head, Tree) and head.children else None
        if not isinstance(name, Token):
            raise GrammarError(
                f"a `{node.data}` node without a name token: grammar.lark and "
                "dsl/languages/geoquery_catalog.py disagree on the tree shape"
            )
        return Call(str(name), tuple(node.children[1:]), node, name)
    if node.data == "city":
        return Call("cityid", tuple(node.children), node, None)
    if node.data in ("all", "number"):
        return None
    raise GrammarError(
        f"unknown tree node `{node.data}`: grammar.lark has a rule that "
        "dsl/languages/geoquery_catalog.py does not handle"
    )


def postorder(tree: Tree[Token]) -> list[Tree[Token]]:
    """Subtrees that are expressions, children before parents (iterative)."""
    order: list[Tree[Token]] = []
    stack: list[tuple[Tree[Token], bool]] = [(tree, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        stack.append((node, True))
        call = as_call(node)
        children = call.args if call is not None else ()
        stack.extend((c, False) for c in reversed(children) if isinstance(c, Tree))
    return order


def span_of(node: Tree[Token] | Token) -> Span | None:
    """Where a node sits in the source (1-based line/column, character offsets)."""
    if isinstance(node, Token):
        if node.line is None or node.column is None:
            return None
        return Span(line=node.line, column=node.column, start=node.start_pos or 0,
                    end=node.end_pos or 0)
    meta = node.meta
    if getattr(meta, "empty", True):
        return None
    return Span(line=meta.line, column=meta.column, start=meta.start_pos, end=meta.end_pos)


def leaf_kind(node: Tree[Token] | Token) -> str | None:
    if isinstance(node, Token):
        return "any" if node.type == "ANY" else "name"
    if node.data == "all":
        return "all"
    if node.data == "number":
        return "numbers"
    return None


def check_kinds(tree: Tree[Token], catalog: Catalog) -> tuple[list[Diagnostic], dict[int, str]]:
    """unknown-function, arity and type-mismatch diagnostics, and the kind of every node.

    Returns:
        (diagnostics in source order, {id(node): kind}).
    """
    diagnostics: list[Diagnostic] = []
    kinds: dict[int, str] = {}
    for node in postorder(tree):
        leaf = leaf_kind(node)
        if leaf is not None:
            kinds[id(node)] = leaf
            continue
        call = as_call(node)
        if call is None:  # leaf_kind covers every node that is not a call
            continue
        predicate = catalog.predicates.get(call.name)
        if predicate is None:
            close = difflib.get_close_matches(call.name, list(catalog.predicates), n=1)
            hint = f"; did you mean `{close[0]}`?" if close else ""
            diagnostics.append(Diagnostic(
                "unknown-function", f"unknown predicate `{call.name}`{hint}",
                span_of(call.name_token or node), {"function": call.name},
            ))
            kinds[id(node)] = WILDCARD
            continue
        if len(call.args) != len(predicate.args):
            diagnostics.append(Diagnostic(
                "arity",
                f"`{call.name}` takes {len(predicate.args)} argument(s), got {len(call.args)}",
                span_of(node), {"function": call.name, "expected": str(len(predicate.args)),
                                "found": str(len(call.args))},
            ))
            kinds[id(node)] = WILDCARD
            continue
        ok = True
        found_kinds = []
        for position, (arg, allowed) in enumerate(zip(call.args, predicate.args), start=1):
            found = kinds[id(arg)] if isinstance(arg, Tree) else leaf_kind(arg) or WILDCARD
            found_kinds.append(found)
            if catalog.accepts(allowed, found):
                continue
            ok = False
            diagnostics.append(Diagnostic(
                "type-mismatch",
                f"argument {position} of `{call.name}` must be {catalog.describe(allowed)}, "
                f"found {_found(arg, found)}",
                span_of(arg), {"function": call.name, "argument": str(position),
                               "expected": "|".join(sorted(allowed)), "found": found},
            ))
        kinds[id(node)] = _result_kind(predicate, found_kinds, catalog) if ok else WILDCARD
    diagnostics.sort(key=lambda d: d.span.start if d.span else -1)
    return diagnostics, kinds


def _found(arg: Tree[Token] | Token, kind: str) -> str:
    if isinstance(arg, Token):
        return f"{kind} {arg}"
    call = as_call(arg)
    if call is not None:
        return f"{kind} (what `{call.name}` returns)"
    return f"`{arg.data}`" if arg.data == "all" else kind


def _result_kind(predicate: Predicate, found: list[str], catalog: Catalog) -> str:
    if predicate.result == "same":
        kind = found[0]
        return "entities" if kind == "all" else kind
    if predicate.result == "base":
        return catalog.base(found[0])
    return predicate.result


def check_entities(tree: Tree[Token], catalog: Catalog, world: World) -> list[Diagnostic]:
    """unknown-entity diagnostics: constants whose name the database does not hold."""
    diagnostics: list[Diagnostic] = []
    for node in postorder(tree):
        call = as_call(node)
        if call is None:
            continue
        predicate = catalog.predicates.get(call.name)
        if predicate is None or predicate.entity is None or not call.args:
            continue
        name_token = call.args[0]
        if not isinstance(name_token, Token):
            continue  # the kind check reports it
        name = str(name_token)[1:-1]
        known = world.names(predicate.entity)
        if name not in known:
            diagnostics.append(_unknown(predicate.entity, name, known, name_token, call))
        if predicate.entity == "city" and len(call.args) == 2:
            code = call.args[1]
            if isinstance(code, Token) and code.type != "ANY" and str(code)[1:-1] not in world.state_abbreviations:
                abbreviations = sorted(world.state_abbreviations)
                diagnostics.append(_unknown("state abbreviation", str(code)[1:-1], abbreviations,
                                            code, call))
    return diagnostics


def _unknown(what: str, name: str, known: list[str], token: Token, call: Call) -> Diagnostic:
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return Diagnostic(
        "unknown-entity",
        f"unknown {what} '{name}' in `{call.name}`: the GeoQuery database has no such {what}{hint}",
        span_of(token),
        {"function": call.name, "name": name, "suggestion": close[0] if close else ""},
    )
