"""Running FunQL over the GeoQuery world, and comparing answers.

Semantics follow the reference evaluator that produced the gold answers of Geo880 (WASP's
``eval.pl`` over ``geoquery.pl``), with sets instead of Prolog lists:

- a value is an ordered set of entities or a list of numbers (one per entity measured, so
  that ``sum`` counts equal values twice, as the reference does);
- ties in superlatives go to the first candidate in database order, as the reference's
  ``max_key``/``min_key`` do;
- ``cityid('springfield', _)`` stands for every city of that name;
- an entity the database does not know (``stateid('atlantis')``) is kept as a name with no
  facts: relations from it are empty, and ``answer(stateid('atlantis'))`` is ``['atlantis']``.

Where the gold answers disagree with one another or with these rules is listed, with reasons,
in docs/geoquery-executor.md (``scripts/geoquery_exec_report.py``).

Evaluation is iterative (post-order over the tree): no recursion, whatever the nesting.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from lark import Token, Tree

from dsl.errors import ExecutionError
from dsl.languages.geoquery_catalog import as_call, postorder
from dsl.languages.geoquery_world import Entity, Number, World

Item = Entity | int | float

_NUMBER_TOLERANCE = 1e-6  # relative; float sums differ in the last bits with summation order


@dataclass
class Value:
    """What an expression evaluates to.

    ``origins`` (relations only): for each item, the argument entities it was reached from —
    what ``most``/``fewest`` count. ``measured`` (measures only): (entity, number) pairs —
    what ``largest_one``/``smallest_one`` rank.
    """

    items: list[Item]
    origins: dict[Item, list[Item]] | None = None
    measured: list[tuple[Item, Number]] | None = None
    is_all: bool = False


@dataclass(frozen=True)
class _Ops:
    """The predicate tables, by behaviour."""

    filters: dict[str, Callable[[World, Item], bool]] = field(default_factory=dict)
    universes: dict[str, Callable[[World], Sequence[Entity]]] = field(default_factory=dict)
    relations: dict[str, Callable[[World, Item], Iterable[Item]]] = field(default_factory=dict)
    measures: dict[str, Callable[[World, Item], Number | None]] = field(default_factory=dict)
    superlatives: dict[str, tuple[str, bool]] = field(default_factory=dict)
    """name -> (measure used, True for the largest)."""


def _member(entity_type: str) -> Callable[[World, Item], bool]:
    return lambda w, e: isinstance(e, Entity) and e in w.members[entity_type]


def _is_mountain(w: World, e: Item) -> bool:
    # why high points too: the gold answers treat a state's highest point as a mountain
    # (highest(mountain(loc_2(stateid('texas'))))) is 'guadalupe peak', which is not in the
    # mountain table); see docs/geoquery-executor.md
    return isinstance(e, Entity) and (e in w.members["mountain"] or e in w.high_points)


def _is_major(w: World, e: Item) -> bool:
    if not isinstance(e, Entity):
        return False
    if e.type == "city" and e in w.members["city"]:
        return w.population.get(e, 0) > 150_000
    if e.type == "river":
        return w.length.get(e, 0) > 750
    return False


def _lookup(table_name: str) -> Callable[[World, Item], tuple[Item, ...]]:
    def relation(w: World, e: Item) -> tuple[Item, ...]:
        table: dict[Entity, tuple[Entity, ...]] = getattr(w, table_name)
        return table.get(e, ()) if isinstance(e, Entity) else ()
    return relation


def _single(table_name: str) -> Callable[[World, Item], tuple[Item, ...]]:
    def relation(w: World, e: Item) -> tuple[Item, ...]:
        table: dict[Entity, Entity] = getattr(w, table_name)
        found = table.get(e) if isinstance(e, Entity) else None
        return (found,) if found is not None else ()
    return relation


def _compare_elevation(higher: bool) -> Callable[[World, Item], tuple[Item, ...]]:
    def relation(w: World, e: Item) -> tuple[Item, ...]:
        if not isinstance(e, Entity) or e not in w.elevation:
            return ()
        own = w.elevation[e]
        return tuple(dict.fromkeys(
            thing for thing, value in w.elevations if (value > own if higher else value < own)
        ))
    return relation


def _longer(w: World, e: Item) -> tuple[Item, ...]:
    if not isinstance(e, Entity) or e not in w.length:
        return ()
    own = w.length[e]
    return tuple(r for r in w.rivers if w.length[r] > own)


def _at_elevation(w: World, n: Item) -> tuple[Item, ...]:
    if isinstance(n, Entity):
        return ()
    return tuple(dict.fromkeys(thing for thing, value in w.elevations if value == n))


def _density(w: World, e: Item) -> Number | None:
    if not isinstance(e, Entity) or e not in w.population or not w.area.get(e):
        return None  # no area, or an area of 0: no density
    return w.population[e] / w.area[e]


def _size(w: World, e: Item) -> Number | None:
    if not isinstance(e, Entity):
        return e  # the size of a number is the number (largest(population_1(...)))
    table: dict[str, dict[Entity, Any]] = {
        "state": w.area, "city": w.population, "river": w.length, "place": w.elevation,
    }
    found: Number | None = table.get(e.type, {}).get(e)
    return found


def _get(table_name: str) -> Callable[[World, Item], Number | None]:
    def measure(w: World, e: Item) -> Number | None:
        table: dict[Entity, Number] = getattr(w, table_name)
        return table.get(e) if isinstance(e, Entity) else None
    return measure


OPS = _Ops(
    filters={
        "state": _member("state"), "city": _member("city"), "capital": _member("capital"),
        "river": _member("river"), "lake": _member("lake"), "place": _member("place"),
        "mountain": _is_mountain, "major": _is_major,
    },
    universes={
        "state": lambda w: w.states, "city": lambda w: w.cities, "capital": lambda w: w.capitals,
        "river": lambda w: w.rivers, "lake": lambda w: w.lakes, "place": lambda w: w.places,
        "mountain": lambda w: w.mountains,
    },
    relations={
        "loc_1": _lookup("located_in"), "loc_2": _lookup("contains"),
        "next_to_1": _lookup("borders"), "next_to_2": _lookup("bordered_by"),
        "traverse_1": _lookup("traverses"), "traverse_2": _lookup("traversed_by"),
        "high_point_1": _single("high_point"), "high_point_2": _lookup("high_point_of"),
        "low_point_1": _single("low_point"), "low_point_2": _lookup("low_point_of"),
        "higher_2": _compare_elevation(True), "lower_2": _compare_elevation(False),
        "longer": _longer, "capital_1": _single("capital_of"),
        "capital_2": _lookup("capital_states"), "elevation_2": _at_elevation,
    },
    measures={
        "area_1": _get("area"), "population_1": _get("population"), "density_1": _density,
        "elevation_1": _get("elevation"), "len": _get("length"), "size": _size,
    },
    superlatives={
        "largest": ("size", True), "smallest": ("size", False),
        "highest": ("elevation_1", True), "lowest": ("elevation_1", False),
        "longest": ("len", True), "shortest": ("len", False),
    },
)


def execute_tree(tree: Tree[Token], world: World) -> list[Any]:
    """The answer of a parsed (and kind-checked) program: sorted, de-duplicated names/numbers.

    Raises:
        ExecutionError: for a construct the executor does not know (catalog drift).
    """
    values: dict[int, Value] = {}
    for node in postorder(tree):
        values[id(node)] = _evaluate(node, values, world)
    return _answer(values[id(tree)])


def _evaluate(node: Tree[Token], values: dict[int, Value], world: World) -> Value:
    if node.data == "all":
        return Value([], is_all=True)
    if node.data == "number":
        text = str(node.children[0])
        return Value([float(text) if "." in text else int(text)])
    call = as_call(node)
    if call is None:
        raise ExecutionError(f"cannot run `{node.data}`: not a FunQL expression")
    if call.name == "answer":
        return _arg(call.args[0], values)
    if node.data in ("entity", "city"):
        return _constant(call.name, call.args, world)
    args = [_arg(a, values) for a in call.args]
    name = call.name
    if name in OPS.filters:
        return _filter(name, args[0], world)
    if args[0].is_all:
        raise ExecutionError(f"`{name}(all)` cannot run: `all` only goes inside a type such as state(all)")
    if name in OPS.relations:
        return _relate(OPS.relations[name], args[0], world)
    if name in OPS.measures:
        measure = OPS.measures[name]
        pairs = [(e, m) for e in args[0].items if (m := measure(world, e)) is not None]
        return Value([m for _, m in pairs], measured=pairs)
    if name in OPS.superlatives:
        measure_name, largest = OPS.superlatives[name]
        measure = OPS.measures[measure_name]
        scored = [(e, m) for e in args[0].items if (m := measure(world, e)) is not None]
        return Value(_best(scored, largest))
    if name in ("largest_one", "smallest_one"):
        return Value(_best(args[0].measured or [], name == "largest_one"))
    if name in ("most", "fewest"):
        origins = args[0].origins or {}
        # why sorted: candidates are taken in sorted order, so ties go to the alphabetically first
        # (the gold: missouri, not tennessee, borders the most states -- both border 8)
        counted = [(e, len(origins.get(e, ()))) for e in sorted(args[0].items, key=_order)]
        return Value(_best(counted, name == "most"))
    if name == "count":
        return Value([len(dict.fromkeys(args[0].items))])
    if name == "sum":
        numbers = [n for n in args[0].items if not isinstance(n, Entity)]
        return Value([sum(numbers, 0)])
    if name == "exclude":
        drop = set(args[1].items)
        return Value([e for e in args[0].items if e not in drop])
    if name == "intersection":
        keep = set(args[1].items)
        return Value([e for e in args[0].items if e in keep])
    raise ExecutionError(f"the executor has no rule for `{name}` (catalog and executor disagree)")


def _arg(node: Tree[Token] | Token, values: dict[int, Value]) -> Value:
    if isinstance(node, Token):
        raise ExecutionError(f"unexpected token {node!r} where an expression was expected")
    return values[id(node)]


def _constant(name: str, args: Sequence[Tree[Token] | Token], world: World) -> Value:
    text = str(args[0])[1:-1]
    if name == "cityid":
        code = args[1]
        if isinstance(code, Token) and code.type == "ANY":
            return Value(list(world.cities_named.get(text, (Entity("city", text, None),))))
        return Value([Entity("city", text, str(code)[1:-1])])
    types = {"stateid": "state", "riverid": "river", "placeid": "place", "countryid": "country"}
    if name not in types:
        raise ExecutionError(f"unknown entity constant `{name}`")
    return Value([Entity(types[name], text)])  # type: ignore[arg-type]


def _filter(name: str, arg: Value, world: World) -> Value:
    if arg.is_all:
        return Value(list(OPS.universes[name](world)))
    test = OPS.filters[name]
    kept = [e for e in arg.items if test(world, e)]
    origins = None
    if arg.origins is not None:
        origins = {e: arg.origins[e] for e in kept if e in arg.origins}
    return Value(kept, origins=origins)


def _relate(relation: Callable[[World, Item], Iterable[Item]], arg: Value, world: World) -> Value:
    origins: dict[Item, list[Item]] = {}
    for source in arg.items:
        for target in relation(world, source):
            sources = origins.setdefault(target, [])
            if source not in sources:
                sources.append(source)
    return Value(list(origins), origins=origins)


def _order(item: Item) -> tuple[int, str, str, float]:
    """Standard order: numbers before entities; entities by type, name, state."""
    if isinstance(item, Entity):
        return (1, item.type, item.name + "\0" + (item.state or ""), 0.0)
    return (0, "", "", float(item))


def _best(scored: Sequence[tuple[Item, Number]], largest: bool) -> list[Item]:
    """The first item with the strictly best score (the reference's max_key/min_key)."""
    best: tuple[Item, Number] | None = None
    for item, score in scored:
        if best is None or (score > best[1] if largest else score < best[1]):
            best = (item, score)
    return [best[0]] if best is not None else []


def _answer(value: Value) -> list[Any]:
    if value.is_all:
        raise ExecutionError("answer(all) cannot run: `all` only goes inside a type such as state(all)")
    names: list[Any] = [e.name if isinstance(e, Entity) else e for e in value.items]
    unique = list(dict.fromkeys(names))
    return sorted(unique, key=lambda v: (isinstance(v, str), v))


# -- comparing answers ---------------------------------------------------------------------------
def answers_match(predicted: Any, gold: Any) -> bool:
    """Whether two GeoQuery answers are the same, as sets.

    Equality means: the same set of values, where names compare as lowercase strings with
    surrounding spaces ignored, numbers compare by value within a relative tolerance of 1e-6
    (``591000`` equals ``591000.0``; float sums differ in the last bits with summation order),
    and a name never equals a number. Order and repeats do not matter: the reference evaluator
    sorts and de-duplicates its output, and the gold ``answer`` lists were printed that way.
    A gold answer that is not a list (the three Geo880 rows whose reference run produced no
    answer hold NaN) matches nothing.

    >>> answers_match(["Austin"], ["austin"])
    True
    >>> answers_match([591000], [591000.0])
    True
    >>> answers_match([], float("nan"))
    False
    """
    if not isinstance(predicted, (list, tuple)) or not isinstance(gold, (list, tuple)):
        return False
    left, right = _normalise(predicted), _normalise(gold)
    if left is None or right is None:
        return False
    (names_a, numbers_a), (names_b, numbers_b) = left, right
    if names_a != names_b:
        return False
    return _covers(numbers_a, numbers_b) and _covers(numbers_b, numbers_a)


def _normalise(values: Sequence[Any]) -> tuple[set[str], list[float]] | None:
    names: set[str] = set()
    numbers: list[float] = []
    for v in values:
        if isinstance(v, str):
            names.add(v.strip().lower())
        elif isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            numbers.append(float(v))
        else:
            return None  # NaN, None, nested lists: not an answer
    return names, numbers


def _covers(a: list[float], b: list[float]) -> bool:
    return all(any(math.isclose(x, y, rel_tol=_NUMBER_TOLERANCE, abs_tol=1e-9) for y in b) for x in a)
