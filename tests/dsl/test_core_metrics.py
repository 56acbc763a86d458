"""Metrics: table-driven checks on GeoQuery programs and API sequences."""

from __future__ import annotations

import pytest

import dsl
from dsl.metrics import exact_match, hallucinated_names, score, sequence_similarity, summarise

geo = dsl.load("geoquery")


@pytest.mark.parametrize(
    ("predicted", "gold", "expected"),
    [
        (["a", "b", "c"], ["a", "b", "c"], 1.0),
        (["a", "b", "c"], ["a", "c"], 2 / 3),
        (["a"], ["b"], 0.0),
        ([], [], 1.0),
        ([], ["a"], 0.0),
        (["c", "b", "a"], ["a", "b", "c"], 1 / 3),
    ],
)
def test_sequence_similarity(predicted: list[str], gold: list[str], expected: float) -> None:
    assert sequence_similarity(predicted, gold) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("predicted", "gold", "same"),
    [
        ("answer(state(all))", "answer( state( all ) )", True),
        ("answer(state(all))", "answer(city(all))", False),
        ("answer(state(all", "answer(state(all))", False),
    ],
)
def test_exact_match_is_canonical(predicted: str, gold: str, same: bool) -> None:
    assert exact_match(geo, predicted, gold) is same


def test_unparseable_prediction_scores_zero_but_is_scanned_for_names() -> None:
    result = score(geo, "answer(stat(all)", "answer(state(all))")
    assert not result.parsed and not result.exact
    assert summarise([result])["parse_rate"] == 0.0
    if geo.support.known_apis() is not None:  # with the catalog: 'stat' is a made-up predicate
        assert hallucinated_names(geo, "answer(stat(all)") == ["stat"]
