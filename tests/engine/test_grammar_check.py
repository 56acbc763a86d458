"""Lark and llguidance agree: the grammar check over real tokenizers (Issue #2)."""

from __future__ import annotations

import pytest

import dsl
from engine.grammar_check import check_grammar

pytestmark = pytest.mark.integration


def test_geoquery_check_passes_on_all_gold_programs_with_both_tokenizers() -> None:
    report = check_grammar("geoquery", n_samples=1000, n_near_misses=1000)
    assert report.ok, "\n".join(map(str, report.disagreements[:10]))
    counts = dict((key, checked) for key, checked, _, _ in report.summary())
    assert counts["data/smollm2"] >= 880 and counts["data/mistral-v1"] >= 880
    assert counts["sample/smollm2"] >= 1000 and counts["near-miss/mistral-v1"] >= 1000
    near_miss_accepted = [a for key, _, a, _ in report.summary() if key.startswith("near-miss")]
    assert all(0 < a < 1000 for a in near_miss_accepted)  # mutations include both valid and invalid


def test_check_finds_a_greedy_lexing_disagreement(make_dsl) -> None:
    # NUMBER may end in '.<digits>', so llguidance's greedy lexer swallows the '.' of "0.a"
    # that Lark's backtracking regex gives back. The check must report it, naming the terminal.
    folder = make_dsl(
        'start: item ("," item)*\nitem: NUMBER "." WORD | WORD\n'
        "NUMBER: /[0-9]+(\\.[0-9]+)?/\nWORD: /[a-z]+/\n%import common.WS\n%ignore WS\n",
        'name = "t"\n[format]\nafter = { "," = " " }\n',
    )
    report = check_grammar(dsl.load(folder), tokenizers=["smollm2"], n_samples=200, n_near_misses=0)
    assert not report.ok
    refused = [d for d in report.disagreements if d.rejected_by == "llguidance"]
    assert refused and refused[0].terminal in {"DOT", "NUMBER"}


def test_check_runs_with_the_tekken_tokenizer() -> None:
    report = check_grammar("geoquery", tokenizers=["tekken"], n_samples=100, n_near_misses=100, limit_data=200)
    assert report.ok, "\n".join(map(str, report.disagreements[:10]))


def test_check_finds_a_keyword_that_is_also_a_name(make_dsl) -> None:
    # Lark's LALR lexer makes every `let` the keyword; llguidance also accepts `let` as a NAME.
    folder = make_dsl(
        'start: stmt+\nstmt: "let" NAME "=" NAME ";" | NAME ";"\nNAME: /[a-z]+/\n%import common.WS\n%ignore WS\n',
        'name = "t"\n[format]\nafter = { "let" = " ", "=" = " " }\nbefore = { "=" = " " }\n',
    )
    report = check_grammar(dsl.load(folder), tokenizers=["smollm2"], n_samples=100, n_near_misses=300)
    assert any(d.rejected_by == "lark" and d.terminal == "NAME" and "let" in d.text for d in report.disagreements)
