"""The workflow connector catalog: typed operations read from ``catalog.toml`` (and tenant catalogs).

A catalog file holds record types (``[types.<name>]``), connectors (``[<connector>]``) and their
operations (``[<connector>.<op>]``); see the header of ``grammars/workflow/catalog.toml``. Loading
checks everything and raises one :class:`GrammarError` listing every problem with its place.

>>> from pathlib import Path
>>> cat = load_catalog(Path("grammars/workflow/catalog.toml"))
>>> op = cat.operation("teams.post_message")
>>> [p.name for p in op.required]
['channel', 'text']
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from dsl.errors import GrammarError

SCALARS = ("string", "number", "integer", "bool", "datetime", "email", "url", "object", "any")
"""Built-in type names; `list`, `list[<record>]`, `enum(a|b)` and record names complete the set."""

KEYWORDS = frozenset({"flow", "trigger", "let", "if", "else", "foreach", "in", "contains"})
RESERVED = frozenset({"true", "false", "null", "trigger"})
"""Names a variable may not take: literals (parsed as names) and the trigger's outputs."""

_IDENT = re.compile(r"[a-z_][a-z0-9_]*")
_TYPE = re.compile(r"(?P<base>[a-z_][a-z0-9_]*)(?:\[(?P<item>[a-z_][a-z0-9_]*)\]|\((?P<options>[^()]*)\))?(?P<opt>\?)?")
_CONNECTOR_KEYS = {"title", "category", "names", "doc"}
_OP_KEYS = {"kind", "params", "output", "say", "doc"}
OPEN_FIELD = "*"


@dataclass(frozen=True)
class WfType:
    """A type: a scalar name, ``list`` (``item`` = element type or None), ``enum`` (``options``),
    ``record`` (``record`` = its name), or ``none`` (what an operation without output binds)."""

    kind: str
    item: WfType | None = None
    options: tuple[str, ...] = ()
    record: str | None = None

    def __str__(self) -> str:
        if self.kind == "list":
            return f"list[{self.item}]" if self.item else "list"
        if self.kind == "enum":
            return "enum(" + "|".join(self.options) + ")"
        if self.kind == "record":
            return str(self.record)
        return self.kind


ANY = WfType("any")
NONE = WfType("none")
STRING = WfType("string")
NUMBER = WfType("number")
INTEGER = WfType("integer")
BOOL = WfType("bool")
NULL = WfType("null")
OBJECT = WfType("object")
LIST = WfType("list")


@dataclass(frozen=True)
class RecordType:
    """Fields of a record; an ``open`` record also allows fields it does not list (typed any)."""

    name: str
    fields: Mapping[str, WfType]
    open: bool = False


@dataclass(frozen=True)
class Param:
    name: str
    type: WfType
    required: bool


@dataclass(frozen=True)
class Operation:
    """One trigger or action, ``connector.name``."""

    connector: str
    name: str
    kind: Literal["trigger", "action"]
    params: tuple[Param, ...]
    """Required ones first, then optional ones, each in catalog order (the canonical order)."""
    output: WfType
    say: tuple[str, ...] = ()
    doc: str = ""

    @property
    def api(self) -> str:
        return f"{self.connector}.{self.name}"

    @property
    def required(self) -> tuple[Param, ...]:
        return tuple(p for p in self.params if p.required)

    @property
    def optional(self) -> tuple[Param, ...]:
        return tuple(p for p in self.params if not p.required)

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)


@dataclass(frozen=True)
class Connector:
    name: str
    title: str
    category: str
    names: tuple[str, ...]
    ops: Mapping[str, Operation]
    source: str = ""
    """The catalog file that defined it."""


@dataclass(frozen=True)
class Catalog:
    """Connectors and record types; :meth:`merged` adds a tenant's private catalog."""

    connectors: Mapping[str, Connector]
    types: Mapping[str, RecordType]
    sources: tuple[str, ...] = ()
    _ops: dict[str, Operation] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for connector in self.connectors.values():
            for op in connector.ops.values():
                self._ops[op.api] = op

    def operation(self, api: str) -> Operation | None:
        """The operation called ``connector.name``, or None."""
        return self._ops.get(api)

    def operations(self) -> Iterator[Operation]:
        """Every operation, connectors and operations in catalog order."""
        return iter(self._ops.values())

    def apis(self) -> list[str]:
        return list(self._ops)

    def record(self, t: WfType) -> RecordType | None:
        return self.types.get(t.record or "") if t.kind == "record" else None

    def merged(self, extra: Catalog) -> Catalog:
        """This catalog plus ``extra``'s connectors and types.

        Raises:
            GrammarError: when ``extra`` redefines a connector or gives a type other fields.
        """
        problems = [
            f"connector `{name}` of {extra.connectors[name].source or 'the extra catalog'} is already "
            f"defined by {self.connectors[name].source or 'the base catalog'}; rename it"
            for name in extra.connectors if name in self.connectors
        ]
        problems += [
            f"type `{name}` of the extra catalog differs from the base catalog's; rename it or make "
            "the fields identical"
            for name, t in extra.types.items() if name in self.types and self.types[name] != t
        ]
        if problems:
            raise GrammarError("; ".join(problems), location=", ".join(extra.sources) or None)
        return Catalog(
            connectors={**self.connectors, **extra.connectors},
            types={**self.types, **extra.types},
            sources=self.sources + extra.sources,
        )


def load_catalog(path: Path, *, base: Catalog | None = None) -> Catalog:
    """Read a catalog file; ``base`` supplies record types a tenant catalog may use.

    Raises:
        GrammarError: listing every problem, located ``file: [section] key``.
    """
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise GrammarError(f"catalog file not found: {path}") from e
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise GrammarError(f"catalog is not valid TOML: {e}", location=str(path)) from e
    return parse_catalog(raw, source=str(path), base=base)


def parse_catalog(raw: Mapping[str, Any], *, source: str, base: Catalog | None = None) -> Catalog:
    """Build a :class:`Catalog` from parsed TOML (see :func:`load_catalog`)."""
    problems: list[str] = []
    type_names = set(raw.get("types", {})) | set(base.types if base else ())
    types: dict[str, RecordType] = {}
    raw_types = raw.get("types", {})
    if not isinstance(raw_types, dict):
        problems.append("[types] must be a table of record types")
        raw_types = {}
    for tname, fields in raw_types.items():
        where = f"[types.{tname}]"
        if not _IDENT.fullmatch(tname) or tname in SCALARS or tname in ("list", "enum", "none"):
            problems.append(f"{where}: type name must be a lowercase identifier, not a built-in type")
        if not isinstance(fields, dict) or not fields:
            problems.append(f"{where}: must list fields, e.g. id = \"string\"")
            continue
        parsed: dict[str, WfType] = {}
        is_open = False
        for fname, spec in fields.items():
            if fname == OPEN_FIELD:
                if spec != "any":
                    problems.append(f'{where}: "*" (any other field) may only be "any", got {spec!r}')
                is_open = True
                continue
            if not _IDENT.fullmatch(fname):
                problems.append(f"{where}: field `{fname}` must be a lowercase identifier")
            ftype, optional = _parse_type(spec, type_names, f"{where} {fname}", problems)
            if optional:
                problems.append(f"{where} {fname}: record fields cannot be optional (`?`)")
            parsed[fname] = ftype
        types[tname] = RecordType(tname, parsed, is_open)

    connectors: dict[str, Connector] = {}
    for cname, body in raw.items():
        if cname == "types":
            continue
        where = f"[{cname}]"
        if not isinstance(body, dict):
            problems.append(f"{where}: a top-level key must be a connector table, got {body!r}")
            continue
        if not _IDENT.fullmatch(cname) or cname in KEYWORDS | RESERVED:
            problems.append(f"{where}: connector name must be a lowercase identifier and not a keyword")
        ops: dict[str, Operation] = {}
        for key, value in body.items():
            if isinstance(value, dict):
                op = _parse_op(cname, key, value, type_names, problems)
                if op is not None:
                    ops[key] = op
            elif key not in _CONNECTOR_KEYS:
                problems.append(f"{where}: unknown key `{key}`; connector keys: {sorted(_CONNECTOR_KEYS)}, "
                                "operations are sub-tables")
        if not ops:
            problems.append(f"{where}: a connector needs at least one operation ([{cname}.<op>])")
        names = body.get("names", [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            problems.append(f"{where}: `names` must be a list of strings")
            names = []
        connectors[cname] = Connector(
            name=cname, title=str(body.get("title", cname)), category=str(body.get("category", "")),
            names=tuple(names), ops=ops, source=source,
        )
    if problems:
        raise GrammarError(f"{len(problems)} problem(s): " + "; ".join(problems), location=source)
    return Catalog(connectors=connectors, types=types, sources=(source,))


def _parse_op(connector: str, name: str, raw: dict[str, Any], type_names: set[str],
              problems: list[str]) -> Operation | None:
    where = f"[{connector}.{name}]"
    start = len(problems)
    if not _IDENT.fullmatch(name):
        problems.append(f"{where}: operation name must be a lowercase identifier")
    for key in sorted(set(raw) - _OP_KEYS):
        problems.append(f"{where}: unknown key `{key}`; known: {sorted(_OP_KEYS)}")
    kind = raw.get("kind", "action")
    if kind not in ("trigger", "action"):
        problems.append(f'{where}: kind must be "trigger" or "action", got {kind!r}')
    params_raw = raw.get("params", {})
    if not isinstance(params_raw, dict):
        problems.append(f"{where}: params must be a table key = \"type\"")
        params_raw = {}
    required: list[Param] = []
    optional: list[Param] = []
    for pname, spec in params_raw.items():
        if not _IDENT.fullmatch(pname):
            problems.append(f"{where}: parameter `{pname}` must be a lowercase identifier")
        ptype, is_optional = _parse_type(spec, type_names, f"{where} params.{pname}", problems)
        (optional if is_optional else required).append(Param(pname, ptype, not is_optional))
    output = NONE
    if "output" in raw:
        output, opt = _parse_type(raw["output"], type_names, f"{where} output", problems)
        if opt:
            problems.append(f"{where}: output cannot be optional")
    say = raw.get("say", [])
    if not isinstance(say, list) or not all(isinstance(s, str) and s.strip() for s in say):
        problems.append(f"{where}: `say` must be a list of non-empty phrases")
        say = []
    if len(problems) > start:
        return None
    return Operation(
        connector=connector, name=name, kind=kind, params=tuple(required + optional),
        output=output, say=tuple(say), doc=str(raw.get("doc", "")),
    )


def _parse_type(spec: Any, type_names: set[str], where: str, problems: list[str]) -> tuple[WfType, bool]:
    """(type, optional) from a spec such as ``"email?"``, ``"list[row]"``, ``"enum(a|b)"``."""
    match = _TYPE.fullmatch(spec) if isinstance(spec, str) else None
    if match is None:
        problems.append(f"{where}: bad type {spec!r}; write e.g. \"string\", \"integer?\", \"list[row]\", "
                        "\"enum(low|high)\" or a record type name")
        return ANY, False
    base, item, options, optional = match["base"], match["item"], match["options"], bool(match["opt"])
    if options is not None:
        values = tuple(o.strip() for o in options.split("|"))
        if base != "enum" or not all(values) or len(set(values)) != len(values):
            problems.append(f"{where}: an enum lists distinct values: enum(a|b|c), got {spec!r}")
        elif any(re.search(r'["\\\n]', v) for v in values):
            problems.append(f"{where}: enum values cannot contain quotes, backslashes or newlines")
        return WfType("enum", options=values), optional
    if item is not None:
        if base != "list":
            problems.append(f"{where}: only list takes [element type], got {spec!r}")
        elif item not in type_names:
            problems.append(f"{where}: unknown record type `{item}` in {spec!r}; known: {sorted(type_names)}")
        return WfType("list", item=WfType("record", record=item)), optional
    if base == "list":
        return LIST, optional
    if base in SCALARS:
        return WfType(base), optional
    if base in type_names:
        return WfType("record", record=base), optional
    problems.append(f"{where}: unknown type {base!r}; built-ins: {list(SCALARS)}, records: {sorted(type_names)}")
    return ANY, optional
