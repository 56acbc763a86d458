"""The GeoQuery world: entities and the relations between them, indexed from a :class:`Geobase`.

An entity is a typed name (``Entity("state", "texas")``, ``Entity("city", "austin", "tx")``).
Every list here is in the order the reference Prolog evaluator (WASP's ``geoquery.pl`` /
``eval.pl``) enumerates solutions, because its superlatives keep the *first* of equal
candidates: ``largest``, ``most``, ... break ties by this order.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Literal, NamedTuple

from dsl.languages.geoquery_geobase import Geobase, load_geobase

EntityType = Literal["state", "city", "river", "place", "mountain", "lake", "country"]
Number = int | float


class Entity(NamedTuple):
    """A typed name. ``state`` is the state abbreviation of a city (None for other types)."""

    type: EntityType
    name: str
    state: str | None = None


@dataclass(frozen=True)
class World:
    """Indexes over a geobase; built once per database (:func:`build_world`)."""

    db: Geobase
    states: tuple[Entity, ...]
    cities: tuple[Entity, ...]
    capitals: tuple[Entity, ...]
    rivers: tuple[Entity, ...]
    places: tuple[Entity, ...]
    """High points (file order), then low points; each once."""
    mountains: tuple[Entity, ...]
    lakes: tuple[Entity, ...]
    countries: tuple[Entity, ...]
    population: dict[Entity, Number]
    area: dict[Entity, float]
    length: dict[Entity, Number]
    elevation: dict[Entity, Number]
    """The first elevation the reference finds: low points, then high points, then mountains."""
    elevations: tuple[tuple[Entity, Number], ...]
    """Every (thing, elevation) fact in the reference's order (``higher_2``/``lower_2`` scan it)."""
    located_in: dict[Entity, tuple[Entity, ...]] = field(default_factory=dict)
    """loc_1: the state(s) and the country a thing lies in."""
    contains: dict[Entity, tuple[Entity, ...]] = field(default_factory=dict)
    """loc_2: what lies in a state or the country."""
    borders: dict[Entity, tuple[Entity, ...]] = field(default_factory=dict)
    bordered_by: dict[Entity, tuple[Entity, ...]] = field(default_factory=dict)
    traverses: dict[Entity, tuple[Entity, ...]] = field(default_factory=dict)
    traversed_by: dict[Entity, tuple[Entity, ...]] = field(default_factory=dict)
    high_point: dict[Entity, Entity] = field(default_factory=dict)
    high_point_of: dict[Entity, tuple[Entity, ...]] = field(default_factory=dict)
    low_point: dict[Entity, Entity] = field(default_factory=dict)
    low_point_of: dict[Entity, tuple[Entity, ...]] = field(default_factory=dict)
    capital_of: dict[Entity, Entity] = field(default_factory=dict)
    """state -> its capital city."""
    capital_states: dict[Entity, tuple[Entity, ...]] = field(default_factory=dict)
    """capital city -> the state(s) it is the capital of."""
    cities_named: dict[str, tuple[Entity, ...]] = field(default_factory=dict)
    state_abbreviations: dict[str, str] = field(default_factory=dict)
    """abbreviation -> state name."""
    high_points: frozenset[Entity] = frozenset()

    @cached_property
    def members(self) -> dict[str, frozenset[Entity]]:
        """The entities of each type the database knows (type filters test membership)."""
        return {
            "state": frozenset(self.states), "city": frozenset(self.cities),
            "capital": frozenset(self.capitals), "river": frozenset(self.rivers),
            "place": frozenset(self.places), "mountain": frozenset(self.mountains),
            "lake": frozenset(self.lakes), "country": frozenset(self.countries),
        }

    def names(self, entity_type: EntityType) -> list[str]:
        """Every known name of one entity type (for did-you-mean suggestions)."""
        table = {
            "state": self.states, "city": self.cities + self.capitals, "river": self.rivers,
            "place": self.places, "mountain": self.mountains, "lake": self.lakes,
            "country": self.countries,
        }[entity_type]
        return list(dict.fromkeys(e.name for e in table))


def _unique(items: list[Entity]) -> tuple[Entity, ...]:
    return tuple(dict.fromkeys(items))


@lru_cache(maxsize=4)
def load_world(path: Path) -> World:
    """The world of the geobase file at ``path``, read and indexed once per process."""
    return build_world(load_geobase(path))


def build_world(db: Geobase) -> World:
    """Index the facts of ``db``."""
    usa = [Entity("country", c.name) for c in db.countries]
    states = _unique([Entity("state", s.name) for s in db.states])
    abbreviations = {s.abbreviation: s.name for s in db.states}
    # why population 0 is skipped: the file's last city fact, city('delaware','de','dover',0), is
    # a placeholder that the database behind the gold answers did not hold (its count of US
    # cities is 386, and its smallest city is 'scotts valley', not dover)
    city_facts = [c for c in db.cities if c.population != 0]
    cities = _unique([Entity("city", c.name, c.state_abbreviation) for c in city_facts])
    capital_of = {Entity("state", s.name): Entity("city", s.capital, s.abbreviation) for s in db.states}
    capitals = _unique(list(capital_of.values()))
    rivers = _unique([Entity("river", r.name) for r in db.rivers])
    high = [Entity("place", h.high_point) for h in db.highlows]
    low = [Entity("place", h.low_point) for h in db.highlows]
    places = _unique(high + low)
    mountains = _unique([Entity("mountain", m.name) for m in db.mountains])
    lakes = _unique([Entity("lake", lake.name) for lake in db.lakes])

    population: dict[Entity, Number] = {}
    area: dict[Entity, float] = {}
    for s in db.states:
        population.setdefault(Entity("state", s.name), s.population)
        area.setdefault(Entity("state", s.name), float(s.area))  # the reference: `is float(Area)`
    for c in city_facts:
        population.setdefault(Entity("city", c.name, c.state_abbreviation), c.population)
    for fact in db.countries:
        population.setdefault(Entity("country", fact.name), fact.population)
        area.setdefault(Entity("country", fact.name), float(fact.area))
    length: dict[Entity, Number] = {}
    for r in db.rivers:
        length.setdefault(Entity("river", r.name), r.length)

    # why this order: elevation/2 tries low points, then high points, then mountains
    elevations = (
        [(Entity("place", h.low_point), h.low_elevation) for h in db.highlows]
        + [(Entity("place", h.high_point), h.high_elevation) for h in db.highlows]
        + [(Entity("mountain", m.name), m.height) for m in db.mountains]
    )
    elevation: dict[Entity, Number] = {}
    for thing, value in elevations:
        elevation.setdefault(thing, value)

    located: dict[Entity, list[Entity]] = defaultdict(list)
    contains: dict[Entity, list[Entity]] = defaultdict(list)

    def locate(thing: Entity, where: Entity) -> None:
        located[thing].append(where)
        contains[where].append(thing)

    # The country holds everything the tables list (the reference's first loc/2 clause: cities,
    # states, rivers, places, lakes, mountains, in that order) -- not the 15 capitals that are
    # missing from the city table: the gold capital(loc_2(countryid('usa'))) has 35 names.
    for country in usa:
        for thing in cities + states + rivers + places + lakes + mountains:
            locate(thing, country)
    for c in city_facts:  # then the clauses per state: cities, capitals, places, mountains, ...
        locate(Entity("city", c.name, c.state_abbreviation), Entity("state", c.state))
    for state, capital in capital_of.items():
        locate(capital, state)
    for h in db.highlows:
        locate(Entity("place", h.high_point), Entity("state", h.state))
    for h in db.highlows:
        locate(Entity("place", h.low_point), Entity("state", h.state))
    for m in db.mountains:
        locate(Entity("mountain", m.name), Entity("state", m.state))
    for r in db.rivers:
        for state_name in r.states:
            locate(Entity("river", r.name), Entity("state", state_name))
    for lake in db.lakes:
        for state_name in lake.states:
            locate(Entity("lake", lake.name), Entity("state", state_name))

    borders: dict[Entity, list[Entity]] = defaultdict(list)
    bordered_by: dict[Entity, list[Entity]] = defaultdict(list)
    for name, neighbours in db.borders:
        for other in neighbours:
            borders[Entity("state", name)].append(Entity("state", other))
            bordered_by[Entity("state", other)].append(Entity("state", name))

    traverses: dict[Entity, list[Entity]] = defaultdict(list)
    traversed_by: dict[Entity, list[Entity]] = defaultdict(list)
    for r in db.rivers:
        river = Entity("river", r.name)
        for where in [Entity("state", n) for n in r.states] + usa:  # every river is in the country
            traverses[river].append(where)
            traversed_by[where].append(river)

    high_point: dict[Entity, Entity] = {}
    low_point: dict[Entity, Entity] = {}
    high_point_of: dict[Entity, list[Entity]] = defaultdict(list)
    low_point_of: dict[Entity, list[Entity]] = defaultdict(list)
    if db.highlows:
        # the country's extremes are its states' extremes (mount mckinley, death valley)
        top = max(db.highlows, key=lambda h: h.high_elevation)
        bottom = min(db.highlows, key=lambda h: h.low_elevation)
        for country in usa:
            high_point[country] = Entity("place", top.high_point)
            high_point_of[Entity("place", top.high_point)].append(country)
            low_point[country] = Entity("place", bottom.low_point)
            low_point_of[Entity("place", bottom.low_point)].append(country)
    for h in db.highlows:
        state = Entity("state", h.state)
        high_point.setdefault(state, Entity("place", h.high_point))
        low_point.setdefault(state, Entity("place", h.low_point))
        high_point_of[Entity("place", h.high_point)].append(state)
        low_point_of[Entity("place", h.low_point)].append(state)

    capital_states: dict[Entity, list[Entity]] = defaultdict(list)
    for state, capital in capital_of.items():
        capital_states[capital].append(state)
    cities_named: dict[str, list[Entity]] = defaultdict(list)
    for city in cities + capitals:
        if city not in cities_named[city.name]:
            cities_named[city.name].append(city)

    def freeze(table: dict[Entity, list[Entity]]) -> dict[Entity, tuple[Entity, ...]]:
        return {k: _unique(v) for k, v in table.items()}

    return World(
        db=db, states=states, cities=cities, capitals=capitals, rivers=rivers, places=places,
        mountains=mountains, lakes=lakes, countries=tuple(usa), population=population, area=area,
        length=length, elevation=elevation, elevations=tuple(elevations),
        located_in=freeze(located), contains=freeze(contains),
        borders=freeze(borders), bordered_by=freeze(bordered_by),
        traverses=freeze(traverses), traversed_by=freeze(traversed_by),
        high_point=high_point, high_point_of=freeze(high_point_of),
        low_point=low_point, low_point_of=freeze(low_point_of),
        capital_of=capital_of, capital_states=freeze(capital_states),
        cities_named={k: tuple(v) for k, v in cities_named.items()},
        state_abbreviations=abbreviations,
        high_points=frozenset(Entity("place", h.high_point) for h in db.highlows),
    )
