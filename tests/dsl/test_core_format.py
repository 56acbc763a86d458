"""Canonical formatting: round trips over gold data and over programs sampled from the grammar."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis.extra.lark import from_lark

import dsl

geo = dsl.load("geoquery")


def test_gold_programs_are_canonical_and_round_trip() -> None:
    changed = 0
    for row in geo.examples():
        canonical = geo.format(row["code"])
        assert geo.format(canonical) == canonical, row["id"]
        assert geo.equal(canonical, row["code"]), row["id"]
        changed += canonical != row["code"]
    assert changed < 10  # Geo880 is written almost canonically (a stray space before ',' here and there)


@pytest.mark.parametrize(
    ("messy", "canonical"),
    [
        ("answer ( state ( all ) )", "answer(state(all))"),
        ("answer(cityid('austin',_))", "answer(cityid('austin', _))"),
        ("answer(\n  exclude(state(all),\n          state(all)))", "answer(exclude(state(all), state(all)))"),
    ],
)
def test_format_canonicalises_spacing(messy: str, canonical: str) -> None:
    assert geo.format(messy) == canonical
    assert geo.equal(messy, canonical)


def test_equal_distinguishes_programs() -> None:
    assert not geo.equal("answer(state(all))", "answer(city(all))")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(from_lark(geo.lark, start="start"))
def test_parse_format_round_trip(program: str) -> None:
    formatted = geo.format(program)
    assert geo.equal(formatted, program)  # parse(format(t)) == t
    assert geo.format(formatted) == formatted  # format is idempotent
