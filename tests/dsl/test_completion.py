"""Shortest completions (dsl/completion.py): valid, shortest, and defined on every prefix."""

from __future__ import annotations

import itertools
import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dsl
from dsl.completion import Completer, _Regex
from dsl.errors import GrammarError

# A toy grammar small enough to enumerate every program up to a length.
TOY = r"""
start: " "? r
r: "f" "(" e ")"
e: "g" "(" e ")" | "h" "(" e "," " " e ")" | NUM | "xy" | "g" | "gh"
NUM: /[0-9]+/
"""
_TOY_NUMBERS = ("0", "1", "10")


def _toy_programs(limit: int) -> set[str]:
    """Every toy program of at most ``limit`` characters (numbers from _TOY_NUMBERS)."""

    def exprs(budget: int) -> list[str]:
        found = [n for n in _TOY_NUMBERS if len(n) <= budget] + [w for w in ("xy", "g", "gh") if len(w) <= budget]
        if budget >= 3:
            found += [f"g({x})" for x in exprs(budget - 3)]
        if budget >= 7:
            inner = exprs(budget - 6)
            found += [f"h({a}, {b})" for a in inner for b in inner if len(a) + len(b) <= budget - 6]
        return found

    bodies = [f"f({x})" for x in exprs(limit - 3)]
    return set(bodies) | {" " + b for b in bodies if len(b) < limit}


@pytest.fixture(scope="module")
def toy() -> Completer:
    return Completer.from_grammar(TOY)


@pytest.fixture(scope="module")
def geo() -> Completer:
    return Completer.from_grammar(dsl.load("geoquery").decoding_grammar())


def test_completions_are_the_shortest_on_every_prefix_of_small_programs(toy: Completer) -> None:
    limit = 19
    programs = _toy_programs(limit)
    assert len(programs) > 1000
    shortest: dict[str, int] = {}
    for program in programs:
        for cut in range(len(program) + 1):
            prefix = program[:cut]
            shortest[prefix] = min(shortest.get(prefix, limit), len(program) - cut)
    for prefix, best in shortest.items():
        found = toy.complete(prefix)
        assert found is not None, prefix
        assert toy.is_complete(prefix + found), (prefix, found)
        if len(prefix) + best < limit:  # `best` is exact only below the enumeration limit
            assert len(found) == best, (prefix, found, best)


@pytest.mark.parametrize(
    ("prefix", "completion"),
    [
        ("", "answer(0)"),
        (" ", "answer(0)"),  # the optional leading space of sentencepiece tokenizers
        ("ans", "wer(0)"),
        ("answer(stat", "e(0))"),  # unfinished keyword
        ("answer(countr", "yid('a'))"),  # the lexer split "countr" into "count" + "r"
        ("answer(cityid('new yo", "', _))"),  # inside a quoted name, spaces included
        ("answer(intersection(all,", " 0))"),  # spacing is part of the program
        ("answer(intersection(all, ", "0))"),
        ("answer(1.", "0)"),  # inside a regex terminal
        ("answer(state(all)", ")"),
        ("answer(all)", ""),
    ],
)
def test_geoquery_completions(geo: Completer, prefix: str, completion: str) -> None:
    assert geo.complete(prefix) == completion


@pytest.mark.parametrize("prefix", ["answer(all))", "answer(state(all), ", "x", "answer(intersection(all,  ", "answer( "])
def test_prefixes_that_cannot_be_finished_give_none(geo: Completer, prefix: str) -> None:
    assert geo.complete(prefix) is None


def test_every_prefix_of_gold_programs_completes(geo: Completer) -> None:
    language = dsl.load("geoquery")
    rows = random.Random(4).sample(language.examples(), 40)
    for row in rows:
        code = language.format(row["code"])
        for cut in range(len(code) + 1):
            found = geo.complete(code[:cut])
            assert found is not None and language.is_valid_syntax(code[:cut] + found), (code[:cut], found)
        assert geo.complete(code) == ""


def test_deep_nesting_does_not_hit_the_recursion_limit(geo: Completer) -> None:
    prefix = "answer(" + "state(" * 1500
    assert geo.complete(prefix) == "0" + ")" * 1501


def test_grammars_with_free_whitespace_or_earley_are_refused() -> None:
    with pytest.raises(GrammarError, match="without %ignore"):
        Completer.from_grammar('start: "a" "b"\n%import common.WS\n%ignore WS\n')
    import lark

    with pytest.raises(GrammarError, match="LALR"):
        Completer(lark.Lark('start: "a"', parser="earley"))


def test_a_grammar_that_lalr_cannot_parse_is_a_grammar_error() -> None:
    with pytest.raises(GrammarError, match="no LALR parser"):
        Completer.from_grammar('start: a | b\na: "x"\nb: "x"\n')


# -- the regex NFA against Python's re ----------------------------------------------------------
REGEXES = [r"'[a-z][a-z .]*'", r"[0-9]+(\.[0-9]+)?", r"(ab|cd)*e", r"a{2,3}b?", r"[^']x", r"\d\w", r"(?i:ab)c", r"x|yz+"]
ALPHABET = "abcdexyz0.' 1Z"


def _brute_shortest(regex: str, prefix: str, depth: int = 3) -> str | None:
    for size in range(depth + 1):
        for chars in itertools.product(ALPHABET, repeat=size):
            if re.fullmatch(regex, prefix + "".join(chars)):
                return "".join(chars)
    return None


@settings(max_examples=100, deadline=None)
@given(regex=st.sampled_from(REGEXES), prefix=st.text(alphabet=ALPHABET, max_size=4))
def test_regex_shortest_extension_matches_brute_force(regex: str, prefix: str) -> None:
    found = _Regex(regex).shortest_extension(prefix)
    brute = _brute_shortest(regex, prefix)
    if found is not None:
        assert re.fullmatch(regex, prefix + found)
    if brute is not None:
        assert found is not None and len(found) == len(brute)


def test_regex_with_unsupported_constructs_is_a_grammar_error() -> None:
    with pytest.raises(GrammarError, match="not supported"):
        _Regex(r"(a)\1")


def test_a_parser_with_numbered_states_gives_the_same_completions(toy: Completer) -> None:
    import lark

    numbered = Completer(lark.Lark(TOY, parser="lalr", lexer="contextual"))
    for prefix in ["", "f(", "f(h(g(", "f(h(1, g", " f(x", "f(10"]:
        assert numbered.complete(prefix) == toy.complete(prefix), prefix


@pytest.mark.skipif("workflow" not in dsl.available(), reason="the workflow DSL is not in grammars/")
def test_every_prefix_of_workflow_programs_completes_under_the_catalog_lock() -> None:
    language = dsl.load("workflow")
    locked = Completer.from_grammar(language.support.locked_decoding_grammar())
    rows = [r for r in language.examples() if "tenant" not in r]
    if len(rows) < 8:
        pytest.skip("grammars/workflow/data holds no programs yet")
    for row in random.Random(5).sample(rows, 8):
        code = language.format(row["code"])
        for cut in range(0, len(code) + 1, 3):
            found = locked.complete(code[:cut])
            assert found is not None and locked.is_complete(code[:cut] + found), (code[:cut], found)
            assert language.is_valid_syntax(code[:cut] + found)
