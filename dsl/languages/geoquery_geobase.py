"""Geobase: the GeoQuery database (``geobase.pl``, Prolog facts) read into Python tables.

The file holds one ground fact a line — ``state(...)``, ``city(...)``, ``river(...)``,
``border(...)``, ``highlow(...)``, ``mountain(...)``, ``road(...)``, ``lake(...)``,
``country(...)`` — whose arguments are quoted atoms, numbers and lists. We read exactly that
subset of Prolog (no rules, no operators); anything else is a :class:`GrammarError` naming the
line. Facts keep the file's order: the reference evaluator breaks ties by it (the first of two
equally large states wins), so every table here is a tuple in file order.

Numbers keep their Prolog type: ``3894.0e+3`` is a float, ``177857`` an int — the gold
answers were printed from those values (state populations as ``3894000.0``, city
populations as ``177857``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Union

from dsl.errors import GrammarError

Term = Union[str, int, float, list["Term"]]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<atom>'(?:[^'\\]|\\.)*'|[a-z][A-Za-z0-9_]*)
      | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
      | (?P<punct>[\[\](),])
    )""",
    re.VERBOSE,
)
_FACT = re.compile(r"^\s*([a-z][a-z_]*)\((.*)\)\.\s*$")


@dataclass(frozen=True)
class State:
    name: str
    abbreviation: str
    capital: str
    population: int | float
    area: int | float
    number: int
    biggest_cities: tuple[str, ...]


@dataclass(frozen=True)
class City:
    state: str
    state_abbreviation: str
    name: str
    population: int | float


@dataclass(frozen=True)
class River:
    name: str
    length: int | float
    states: tuple[str, ...]
    """In the file's order; repeats removed (the file lists 'louisiana' twice for the mississippi)."""


@dataclass(frozen=True)
class HighLow:
    state: str
    state_abbreviation: str
    high_point: str
    high_elevation: int | float
    low_point: str
    low_elevation: int | float


@dataclass(frozen=True)
class Mountain:
    state: str
    state_abbreviation: str
    name: str
    height: int | float


@dataclass(frozen=True)
class Lake:
    name: str
    area: int | float
    states: tuple[str, ...]


@dataclass(frozen=True)
class Country:
    name: str
    population: int | float
    area: int | float


@dataclass(frozen=True)
class Geobase:
    """Every fact of ``geobase.pl``, one tuple per predicate, in file order."""

    states: tuple[State, ...]
    cities: tuple[City, ...]
    rivers: tuple[River, ...]
    borders: tuple[tuple[str, tuple[str, ...]], ...]
    """(state, the states it borders), as ``border/3`` lists them."""
    highlows: tuple[HighLow, ...]
    mountains: tuple[Mountain, ...]
    lakes: tuple[Lake, ...]
    roads: tuple[tuple[str, tuple[str, ...]], ...]
    countries: tuple[Country, ...]


def parse_geobase(text: str, *, source: str = "geobase.pl") -> Geobase:
    """Read the facts of a geobase file.

    Args:
        text: the file's content.
        source: the name used in error messages.

    Raises:
        GrammarError: at ``source:line`` for a line that is not a fact of a known shape.

    >>> db = parse_geobase("state('texas','tx','austin',14.229e+6,266.807e+3,28,'a','b','c','d').")
    >>> db.states[0].population
    14229000.0
    """
    tables: dict[str, list[object]] = {k: [] for k in _SHAPES}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", "%", "/*", "*")):
            continue  # the file's header is a comment block written with '#' and '/* */'
        where = f"{source}:{number}"
        match = _FACT.match(line)
        if match is None:
            raise GrammarError(f"not a fact `name(args).`: {line[:60]!r}", location=where)
        functor = match.group(1)
        if functor not in _SHAPES:
            raise GrammarError(
                f"unknown fact {functor!r}; known: {sorted(_SHAPES)}", location=where
            )
        args = _parse_args(match.group(2), where)
        arity, build = _SHAPES[functor]
        if len(args) != arity:
            raise GrammarError(
                f"{functor}/{arity} expected, got {functor}/{len(args)}", location=where
            )
        try:
            tables[functor].append(build(args))
        except (TypeError, ValueError) as e:
            raise GrammarError(f"{functor}: argument of the wrong type ({e})", location=where) from e
    return Geobase(
        states=tuple(tables["state"]),  # type: ignore[arg-type]
        cities=tuple(tables["city"]),  # type: ignore[arg-type]
        rivers=tuple(tables["river"]),  # type: ignore[arg-type]
        borders=tuple(tables["border"]),  # type: ignore[arg-type]
        highlows=tuple(tables["highlow"]),  # type: ignore[arg-type]
        mountains=tuple(tables["mountain"]),  # type: ignore[arg-type]
        lakes=tuple(tables["lake"]),  # type: ignore[arg-type]
        roads=tuple(tables["road"]),  # type: ignore[arg-type]
        countries=tuple(tables["country"]),  # type: ignore[arg-type]
    )


@lru_cache(maxsize=4)
def load_geobase(path: Path) -> Geobase:
    """Read ``path`` once per process (the executor calls this lazily, on first use)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise GrammarError(f"cannot read the geobase: {e}", location=str(path)) from e
    return parse_geobase(text, source=str(path))


# -- the fact shapes ----------------------------------------------------------------------------
def _s(value: Term) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected an atom, got {value!r}")
    return value


def _n(value: Term) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected a number, got {value!r}")
    return value


def _atoms(value: Term) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise TypeError(f"expected a list, got {value!r}")
    return tuple(dict.fromkeys(_s(v) for v in value))


_SHAPES: dict[str, tuple[int, Callable[[list[Term]], object]]] = {
    "state": (10, lambda a: State(
        _s(a[0]), _s(a[1]), _s(a[2]), _n(a[3]), _n(a[4]), int(_n(a[5])),
        tuple(_s(c) for c in a[6:10]),
    )),
    "city": (4, lambda a: City(_s(a[0]), _s(a[1]), _s(a[2]), _n(a[3]))),
    "river": (3, lambda a: River(_s(a[0]), _n(a[1]), _atoms(a[2]))),
    "border": (3, lambda a: (_s(a[0]), _atoms(a[2]))),
    "highlow": (6, lambda a: HighLow(_s(a[0]), _s(a[1]), _s(a[2]), _n(a[3]), _s(a[4]), _n(a[5]))),
    "mountain": (4, lambda a: Mountain(_s(a[0]), _s(a[1]), _s(a[2]), _n(a[3]))),
    "lake": (3, lambda a: Lake(_s(a[0]), _n(a[1]), _atoms(a[2]))),
    "road": (2, lambda a: (_s(a[0]), _atoms(a[1]))),
    "country": (3, lambda a: Country(_s(a[0]), _n(a[1]), _n(a[2]))),
}


def _parse_args(text: str, where: str) -> list[Term]:
    """The comma-separated arguments of a fact: atoms, numbers, (nested) lists."""
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None:
            raise GrammarError(f"cannot read {text[position:position + 20]!r}", location=where)
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()

    # iterative list building: a stack of open lists (no recursion on nesting)
    stack: list[list[Term]] = [[]]
    expect_value = True
    for kind, value in tokens:
        if kind == "punct" and value == "[":
            if not expect_value:
                raise GrammarError("'[' where ',' was expected", location=where)
            stack.append([])
        elif kind == "punct" and value == "]":
            if len(stack) == 1:
                raise GrammarError("unbalanced ']'", location=where)
            done = stack.pop()
            stack[-1].append(done)
            expect_value = False
        elif kind == "punct" and value == ",":
            if expect_value:
                raise GrammarError("',' where a value was expected", location=where)
            expect_value = True
        elif kind == "punct":
            raise GrammarError(f"unexpected {value!r} (only ground facts are read)", location=where)
        else:
            if not expect_value:
                raise GrammarError(f"{value!r} where ',' was expected", location=where)
            stack[-1].append(_value(kind, value))
            expect_value = False
    if len(stack) != 1:
        raise GrammarError("unbalanced '['", location=where)
    return stack[0]


def _value(kind: str, text: str) -> Term:
    if kind == "number":
        return float(text) if any(c in text for c in ".eE") else int(text)
    if text.startswith("'"):
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text
