"""`training.retrieval`: BM25 few-shot retrieval, deterministic, never the question itself."""

from __future__ import annotations

import pytest

import dsl
from training.errors import DataError
from training.retrieval import BM25Retriever, tokenize_words

ROWS = [
    {"text": "What rivers are in Texas ?", "code": "answer(river(loc_2(stateid('texas'))))"},
    {"text": "What is the capital of Ohio ?", "code": "answer(capital_1(stateid('ohio')))"},
    {"text": "How long is the Mississippi river ?", "code": "answer(len(riverid('mississippi')))"},
    {"text": "What is the capital of Texas ?", "code": "answer(capital_1(stateid('texas')))"},
]


def test_best_match_first() -> None:
    r = BM25Retriever(ROWS)
    got = r.retrieve("what is the capital of utah", k=2)
    assert [g["code"] for g in got] == [ROWS[1]["code"], ROWS[3]["code"]]


def test_the_question_itself_is_excluded() -> None:
    got = BM25Retriever(ROWS).retrieve("What is the capital of Texas ?", k=1)
    assert got[0] is ROWS[1]


def test_k_larger_than_pool_and_zero() -> None:
    r = BM25Retriever(ROWS)
    assert len(r.retrieve("rivers", k=10, exclude_text=False)) == 4
    assert r.retrieve("rivers", k=0) == []
    with pytest.raises(DataError):
        r.retrieve("rivers", k=-1)


def test_ties_break_by_training_order() -> None:
    r = BM25Retriever(ROWS)
    assert r.retrieve("zebra", k=4, exclude_text=False) == ROWS


def test_empty_pool_is_an_error() -> None:
    with pytest.raises(DataError, match="at least one"):
        BM25Retriever([])


def test_retrieval_on_geoquery_finds_same_predicate() -> None:
    geo = dsl.load("geoquery")
    train = geo.examples(split="train")
    r = BM25Retriever(train)
    got = r.retrieve("what is the population of seattle washington", k=4)
    assert any("population_1" in g["code"] for g in got)


def test_tokenize_words() -> None:
    assert tokenize_words("What's the Capital?") == ["what", "s", "the", "capital"]
