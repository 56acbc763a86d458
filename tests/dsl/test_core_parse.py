"""Parsing: located errors, and bad input that fails fast and clearly."""

from __future__ import annotations

import subprocess
import sys

import pytest

import dsl

GEO = "geoquery"


@pytest.fixture(scope="module")
def geo() -> dsl.DSL:
    return dsl.load(GEO)


def test_parses_gold_program(geo: dsl.DSL) -> None:
    tree = geo.parse("answer(city(loc_2(stateid('virginia'))))")
    assert tree.data == "start"


@pytest.mark.parametrize(
    ("text", "problem", "line", "column", "expected"),
    [
        ("answer(foo)", "unexpected character 'f'", 1, 8, "'state'"),
        ("answer(state(all)", "unexpected end of input", 1, 18, "')'"),
        ("answer(state(all)))", "unexpected ')'", 1, 19, "end of input"),
        ("answer(\n  state(all),\n)", "unexpected ','", 2, 13, "')'"),
        ("", "empty program", 1, 1, "'answer'"),
    ],
)
def test_syntax_error_is_located(geo: dsl.DSL, text: str, problem: str, line: int, column: int, expected: str) -> None:
    with pytest.raises(dsl.DSLSyntaxError) as caught:
        geo.parse(text)
    error = caught.value
    assert error.problem.startswith(problem)
    assert (error.line, error.column) == (line, column)
    assert expected in error.expected
    assert str(error).splitlines()[-1].startswith("expected one of:")
    assert "^" in str(error)


def test_caret_points_at_the_column(geo: dsl.DSL) -> None:
    with pytest.raises(dsl.DSLSyntaxError) as caught:
        geo.parse("answer(state(al))")
    source_line, caret_line = str(caught.value).splitlines()[1:3]
    assert source_line[caret_line.index("^")] == "a"  # 'al' is where it breaks


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x" * 1_048_576, "longer than the limit"),
        (b"answer(stateid('te\xffxas'))", "not UTF-8: byte 0xff at offset 18"),
        ("(" * 10_000 + ")" * 10_000, "nested deeper than 200"),
        ("answer(" * 10_000 + "all" + ")" * 10_000, "nested deeper than 200"),
        ("   \n\t ", "empty program"),
    ],
    ids=["1MB", "non-utf8", "10k-parens", "10k-calls", "blank"],
)
def test_bad_input_gets_a_clear_error(geo: dsl.DSL, text: str | bytes, message: str) -> None:
    with pytest.raises(dsl.DSLSyntaxError, match=message):
        geo.parse(text)


def test_deep_but_allowed_nesting_has_no_recursion_error(geo: dsl.DSL) -> None:
    program = "answer(" + "state(" * 150 + "all" + ")" * 151
    assert geo.equal(program, program.replace("(", "( "))
    assert geo.format(program) == program


def test_validate_reports_syntax_error_as_diagnostic(geo: dsl.DSL) -> None:
    [diagnostic] = geo.validate("answer(state(all)")
    assert diagnostic.code == "syntax-error"
    assert diagnostic.span is not None and diagnostic.span.column == 18


def test_unknown_dsl_lists_what_exists() -> None:
    with pytest.raises(dsl.GrammarError, match=r"grammar 'sql' not found .*available: \[.*'geoquery'"):
        dsl.load("sql")


def test_dsl_never_imports_torch() -> None:
    code = "import sys, dsl; dsl.load('geoquery').decoding_grammar(); assert 'torch' not in sys.modules, 'torch'"
    subprocess.run([sys.executable, "-c", code], check=True)
