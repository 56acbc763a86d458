"""geobase.pl reading: the real file, the fact shapes, and errors that name the line."""

from __future__ import annotations

import pytest

import dsl
from dsl.languages.geoquery_geobase import parse_geobase

geo = dsl.load("geoquery")


def test_real_geobase_tables() -> None:
    db = geo.support.world.db
    counts = (len(db.states), len(db.cities), len(db.rivers), len(db.borders), len(db.highlows),
              len(db.mountains), len(db.lakes), len(db.roads), len(db.countries))
    assert counts == (51, 387, 46, 51, 51, 50, 22, 40, 1)
    texas = next(s for s in db.states if s.name == "texas")
    assert (texas.abbreviation, texas.capital, texas.population, texas.area) == (
        "tx", "austin", 14229000.0, 266807.0)
    mississippi = next(r for r in db.rivers if r.name == "mississippi")
    assert mississippi.states.count("louisiana") == 1  # the file lists it twice


def test_numbers_keep_their_prolog_type() -> None:
    db = parse_geobase(
        "# comment\n/* block */\n\n"
        "state('a b','ab','c',1.5e+3,2044,7,'w','x','y','z').\n"
        "city('a b','ab','c',177857).\n"
        "river('r',-12,['a b','a b','q']).\n"
        "border('a b','ab',[]).\n"
    )
    state = db.states[0]
    assert (state.population, type(state.population)) == (1500.0, float)
    assert (state.area, type(state.area)) == (2044, int)
    assert db.cities[0].population == 177857 and type(db.cities[0].population) is int
    assert db.rivers[0].length == -12 and db.rivers[0].states == ("a b", "q")
    assert db.borders[0] == ("a b", ())


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("state('a').", "state/10 expected, got state/1"),
        ("volcano('x',1).", "unknown fact 'volcano'"),
        ("city('a','b','c',X).", "cannot read"),
        ("river('r',1,['a',).", "unbalanced"),
        ("city('a','b',3,4).", "argument of the wrong type"),
        ("city('a','b','c',4)", "not a fact"),
    ],
)
def test_bad_lines_name_file_and_line(text: str, fragment: str) -> None:
    with pytest.raises(dsl.GrammarError) as info:
        parse_geobase("state('a','b','c',1,2,3,'w','x','y','z').\n" + text, source="db.pl")
    assert fragment in str(info.value)
    assert "db.pl:2" in str(info.value)
