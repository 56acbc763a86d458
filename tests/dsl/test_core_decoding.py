"""The decoding compiler: exact output for a small grammar, and a named GrammarError for each
construct the decoder cannot express."""

from __future__ import annotations

import pytest

import dsl
from dsl.decoding import KNOWN_MISTAKES

WS = "%import common.WS\n%ignore WS\n"


def test_literals_are_split_into_atoms_and_spacing_is_explicit(make_dsl) -> None:
    folder = make_dsl(
        'start: "city(all)" | "city" "(" NAME ("," NAME)* ")"\nNAME: /[a-z]+/\n' + WS,
        'name = "t"\n[format]\nafter = { "," = " " }\n',
    )
    text = dsl.load(folder).decoding_grammar()
    assert 'start: " "? r_start' in text
    assert 't_city_all_: "city" "(" "all" ")"' in text or '"city" "(" "all" ")"' in text
    assert 't_comma: "," " "' in text
    assert "%ignore" not in text  # canonical spacing only: whitespace cannot eat the budget


def test_templates_imports_and_inlining_are_resolved_by_lark(make_dsl) -> None:
    folder = make_dsl(
        """
        start: list{NAME}
        _sep{x}: x ("," x)*
        list{x}: "[" _sep{x} "]"
        ?maybe: NAME
        NAME: /[a-z]+/
        %import common.WS
        %ignore WS
        """,
        'name = "t"\n[format]\nafter = { "," = " " }\n',
    )
    language = dsl.load(folder)
    assert language.format("[ a,b ]") == "[a, b]"
    assert "{" not in language.decoding_grammar()


# (grammar, construct named in the error, where)
UNSUPPORTED = [
    ('start: a\na.2: "x"\n', "rule priority", ":2:1"),
    ('start: X\nX.2: "x"\n', "terminal priority", ":2:1"),
    ("start: X\n%declare X\n", "%declare", ":2:1"),
] + [(f"start: X\nX: /{example}/\n", construct, ":2:1") for construct, _, _, example in KNOWN_MISTAKES]


@pytest.mark.parametrize(("grammar", "construct", "where"), UNSUPPORTED, ids=[c for _, c, _ in UNSUPPORTED])
def test_unsupported_construct_is_a_named_grammar_error(make_dsl, grammar: str, construct: str, where: str) -> None:
    folder = make_dsl(grammar)
    with pytest.raises(dsl.GrammarError) as caught:
        dsl.load(folder)
    assert caught.value.construct == construct
    assert caught.value.location is not None and caught.value.location.endswith(where)
    assert str(folder / "grammar.lark") in str(caught.value)


def test_import_outside_the_folder_is_refused(make_dsl, tmp_path) -> None:
    (tmp_path / "evil.lark").write_text('X: "x"\n')
    folder = make_dsl("start: X\n%import ..evil.X\n")
    with pytest.raises(dsl.GrammarError, match="only Lark's library"):
        dsl.load(folder)


def test_import_inside_the_folder_is_allowed(make_dsl) -> None:
    folder = make_dsl("start: WORD\n%import words.WORD\n")
    (folder / "words.lark").write_text("WORD: /[a-z]+/\n")
    assert "T_WORD" in dsl.load(folder).decoding_grammar()


def test_spacing_that_lark_does_not_skip_is_refused(make_dsl) -> None:
    folder = make_dsl('start: "a" ("," "a")*\n', 'name = "t"\n[format]\nafter = { "," = " " }\n')
    with pytest.raises(dsl.GrammarError, match="does not skip it"):
        dsl.load(folder)


def test_spacing_before_the_first_token_is_refused(make_dsl) -> None:
    folder = make_dsl('start: "a" "b"\n' + WS, 'name = "t"\n[format]\nbefore = { "a" = " " }\n')
    with pytest.raises(dsl.GrammarError, match="can be the first token"):
        dsl.load(folder)


def test_bad_dsl_toml_reports_every_problem_at_once(make_dsl) -> None:
    folder = make_dsl("start: \"a\"\n", 'name = "t"\nparser = "cyk"\ncolour = 1\nmax_depth = -3\n')
    with pytest.raises(dsl.GrammarError) as caught:
        dsl.load(folder)
    message = str(caught.value)
    assert "parser" in message and "colour" in message and "max_depth" in message


def test_lark_grammar_error_is_located(make_dsl) -> None:
    folder = make_dsl("start: a\n")  # rule 'a' is never defined
    with pytest.raises(dsl.GrammarError, match="grammar.lark"):
        dsl.load(folder)
