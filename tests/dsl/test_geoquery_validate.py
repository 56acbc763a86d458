"""GeoQuery validation: diagnostics with locations, the catalog against the grammar, metrics hooks."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis.extra.lark import from_lark

import dsl
from dsl.languages.geoquery_catalog import Predicate, check_kinds, load_catalog

geo = dsl.load("geoquery")
CATALOG = geo.support.catalog

# (program, code, line, column, start, end, data that must be present)
DIAGNOSTICS = [
    ("answer(loc_2(count(state(all))))", "type-mismatch", 1, 14, 13, 30,
     {"function": "loc_2", "expected": "entities", "found": "numbers"}),
    ("answer(\n  loc_2(\n    population_1(stateid('texas'))))", "type-mismatch", 3, 5, 21, 51,
     {"function": "loc_2", "found": "measure"}),
    ("answer(largest_one(state(all)))", "type-mismatch", 1, 20, 19, 29,
     {"function": "largest_one", "expected": "measure", "found": "entities"}),
    ("answer(most(stateid('texas')))", "type-mismatch", 1, 13, 12, 28,
     {"function": "most", "expected": "relation"}),
    ("answer(major(all))", "type-mismatch", 1, 14, 13, 16, {"function": "major", "found": "all"}),
    ("answer(exclude(state(all), count(state(all))))", "type-mismatch", 1, 28, 27, 44,
     {"function": "exclude", "argument": "2"}),
    ("answer(all)", "type-mismatch", 1, 8, 7, 10, {"function": "answer"}),
    ("answer(state(stateid('texsa')))", "unknown-entity", 1, 22, 21, 28,
     {"function": "stateid", "name": "texsa", "suggestion": "texas"}),
    ("answer(len(riverid('misisippi')))", "unknown-entity", 1, 20, 19, 30,
     {"name": "misisippi", "suggestion": "mississippi"}),
    ("answer(population_1(cityid('austn', _)))", "unknown-entity", 1, 28, 27, 34,
     {"function": "cityid", "suggestion": "austin"}),
    ("answer(population_1(cityid('austin', 'zz')))", "unknown-entity", 1, 38, 37, 41,
     {"name": "zz"}),
    ("answer(state(intersection(all, stateid('texas'))))", "type-mismatch", 1, 27, 26, 29,
     {"function": "intersection", "argument": "1"}),
    ("answer(count(", "syntax-error", 1, 14, -1, -1, {}),
]


@pytest.mark.parametrize(("program", "code", "line", "column", "start", "end", "data"), DIAGNOSTICS)
def test_diagnostic_code_and_location(program: str, code: str, line: int, column: int, start: int,
                                      end: int, data: dict[str, str]) -> None:
    diagnostics = geo.validate(program)
    assert [d.code for d in diagnostics] == [code]
    span = diagnostics[0].span
    assert span is not None
    assert (span.line, span.column, span.start, span.end) == (line, column, start, end)
    assert data.items() <= diagnostics[0].data.items()
    if start >= 0:
        assert program[start:end].strip()  # the span covers the offending text


def test_type_mismatch_message_names_predicate_expected_and_found() -> None:
    [d] = geo.validate("answer(largest_one(state(all)))")
    assert "argument 1 of `largest_one` must be measure (e.g. population_1(state(all)))" in d.message
    assert "found entities (what `state` returns)" in d.message


def test_unknown_entity_suggests_the_closest_name() -> None:
    [d] = geo.validate("answer(state(stateid('texsa')))")
    assert "unknown state 'texsa'" in d.message and "did you mean 'texas'" in d.message


def test_one_mistake_gives_one_diagnostic() -> None:
    # the bad argument's callers are not blamed too (the mismatch yields a wildcard kind)
    assert len(geo.validate("answer(count(state(loc_2(count(state(all))))))")) == 1


def test_every_gold_program_validates_cleanly() -> None:
    bad = {r["id"]: geo.validate(r["code"]) for r in geo.examples()}
    assert {k: v for k, v in bad.items() if v} == {}


def test_unknown_function_and_arity_from_catalog_drift() -> None:
    # Not reachable through today's grammar: simulate a catalog that lags the grammar.
    tree = geo.parse("answer(exclude(loc_2(stateid('texas')), stateid('texas')))")
    predicates = dict(CATALOG.predicates)
    del predicates["loc_2"]
    predicates["exclude"] = dataclasses.replace(predicates["exclude"], args=(frozenset({"entities"}),))
    drifted = dataclasses.replace(CATALOG, predicates=predicates)
    diagnostics, _ = check_kinds(tree, drifted)
    assert [(d.code, d.span.column if d.span else None) for d in diagnostics] == [
        ("arity", 8), ("unknown-function", 16),
    ]
    assert "`exclude` takes 1 argument(s), got 2" in diagnostics[0].message
    assert diagnostics[1].data["function"] == "loc_2"


def _grammar_names() -> set[str]:
    names = set()
    for rule in geo.lark.rules:
        if rule.origin.name in ("unary", "binary", "entity_kind"):
            for symbol in rule.expansion:
                terminal = next(t for t in geo.lark.terminals if t.name == symbol.name)
                names.add(terminal.pattern.value)
    return names


def test_catalog_covers_every_predicate_the_grammar_allows() -> None:
    grammar = _grammar_names()
    assert len(grammar) == 42 + 2 + 4  # unary, binary, entity kinds
    assert grammar <= set(CATALOG.predicates)
    # and the catalog holds nothing else but the two names the grammar spells as keywords
    assert set(CATALOG.predicates) - grammar == {"answer", "cityid"}


def test_catalog_arity_matches_the_grammar_rule() -> None:
    for rule in geo.lark.rules:
        if rule.origin.name in ("unary", "binary"):
            arity = 1 if rule.origin.name == "unary" else 2
            for symbol in rule.expansion:
                name = next(t for t in geo.lark.terminals if t.name == symbol.name).pattern.value
                assert len(CATALOG.predicates[name].args) == arity, name


def test_catalog_problems_are_reported_together(tmp_path: Path) -> None:
    (tmp_path / "catalog.toml").write_text(
        'database = "missing.pl"\n'
        '[kinds.entities]\ndescription = "x"\nexample = "e"\nis_a = "nothing"\n'
        '[predicates.p]\nargs = ["entities", "bogus"]\nresult = "weird"\n',
        encoding="utf-8",
    )
    with pytest.raises(dsl.GrammarError) as info:
        load_catalog(tmp_path / "catalog.toml")
    message = str(info.value)
    for fragment in ("is_a 'nothing'", "'bogus' is not a kind", "`result` 'weird'",
                     "needs a one-line `description`", "'missing.pl' not found"):
        assert fragment in message
    assert str(tmp_path / "catalog.toml") in message


def test_api_calls_are_predicates_in_preorder() -> None:
    program = "answer(exclude(state(all), next_to_2(cityid('austin', _))))"
    assert geo.api_calls(program) == ["answer", "exclude", "state", "next_to_2", "cityid"]
    assert geo.param_keys(program) == []
    assert set(geo.api_calls(program)) <= geo.support.known_apis()
    assert isinstance(CATALOG.predicates["loc_1"], Predicate)


def test_known_apis_is_the_catalog() -> None:
    assert geo.support.known_apis() == set(CATALOG.predicates)
    assert "loc_2" in geo.support.known_apis() and "answer" in geo.support.known_apis()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(from_lark(geo.lark, start="start"))
def test_any_grammatical_program_validates_and_runs_or_says_why(program: str) -> None:
    # Random programs are mostly ill-kinded: validation must not crash, and execution either
    # returns plain values or raises ExecutionError exactly when a kind diagnostic exists.
    diagnostics = geo.validate(program)
    kind_problems = [d for d in diagnostics if d.code != "unknown-entity"]
    try:
        answer = geo.execute(program)
    except dsl.ExecutionError:
        assert kind_problems
    else:
        assert not kind_problems
        assert all(type(v) in (int, float, str) for v in answer)
