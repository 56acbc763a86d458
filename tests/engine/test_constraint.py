"""Compiled grammars: llguidance validation, exact tokenization, plans checked without side effects."""

from __future__ import annotations

import pytest

import dsl
from dsl import GrammarError
from engine.constraint import accepts_to_end, compile_grammar, grammar_slices, llg_tokenizer_for, tokenize_exact


@pytest.fixture(scope="module")
def llg(smollm2_tokenizer):
    return llg_tokenizer_for(smollm2_tokenizer)


def test_slices_are_the_repeated_character_classes_of_terminals() -> None:
    assert grammar_slices(dsl.load("geoquery").decoding_grammar()) == (
        "[a-z .]{1,10}", "[a-z .]+", "[0-9]{1,10}", "[0-9]+",
    )
    assert grammar_slices('start: "a"\nT_X: /abc/\n') == ()


def test_llguidance_tokenizers_are_built_once_per_tokenizer_and_slices(smollm2_tokenizer, llg) -> None:
    assert llg_tokenizer_for(smollm2_tokenizer) is llg
    sliced = llg_tokenizer_for(smollm2_tokenizer, ("[a-z]+",))
    assert sliced is not llg and llg_tokenizer_for(smollm2_tokenizer, ("[a-z]+",)) is sliced


def test_a_grammar_llguidance_refuses_is_a_grammar_error(llg) -> None:
    with pytest.raises(GrammarError, match="llguidance refuses the decoding grammar"):
        compile_grammar('start: "a" undefined_rule\n', llg)


def test_the_shortest_program_is_tokenized_and_accepted(llg) -> None:
    grammar = compile_grammar(dsl.load("geoquery").decoding_grammar(), llg)
    assert grammar.shortest_program == "answer(0)"
    assert llg.decode_bytes(list(grammar.shortest_tokens)) == b"answer(0)"


@pytest.mark.parametrize("text", ["answer(0)", " answer(all)", "(all))", "'new york'"])
def test_tokenize_exact_spells_the_text(mistral_tokenizer, text: str) -> None:
    llg = llg_tokenizer_for(mistral_tokenizer)  # sentencepiece: no space glued to the first word
    tokens = tokenize_exact(llg, text)
    assert tokens is not None and llg.decode_bytes(tokens) == text.encode()


def test_checking_a_plan_leaves_the_matcher_as_it_was(llg) -> None:
    grammar = compile_grammar(dsl.load("geoquery").decoding_grammar(), llg)
    matcher = grammar.new_matcher()
    matcher.consume_tokens(tokenize_exact(llg, "answer(state("))
    finish = tokenize_exact(llg, "all))")
    assert accepts_to_end(matcher, finish)
    assert not accepts_to_end(matcher, tokenize_exact(llg, "all)"))  # valid so far, not finished
    assert not accepts_to_end(matcher, tokenize_exact(llg, "all)))"))  # refused
    assert not matcher.is_error() and accepts_to_end(matcher, finish)
