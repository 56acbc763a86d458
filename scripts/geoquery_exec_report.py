"""Run every Geo880 gold program through the GeoQuery executor and write docs/geoquery-executor.md.

    .venv/bin/python scripts/geoquery_exec_report.py            # writes the report
    .venv/bin/python scripts/geoquery_exec_report.py --check    # exit 1 if the report is stale

The report gives the match count (``answers_match`` of the executed gold program against the
gold ``answer``), the semantic choices the executor makes, and every program that does not
match with the reason. Reasons are written by hand in ``REASONS`` below after looking at the
row; a mismatch without one is reported as unexplained (and fails ``--check``), and a reason
whose row now matches is reported as stale.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import dsl
from dsl.languages.geoquery import answers_match

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "docs" / "geoquery-executor.md"

_HIGH_POINT_ROWS = "geo880_363, geo880_370 to geo880_373, geo880_593, geo880_594"
REASONS = {
    "geo880_344": "The gold `answer` is NaN, not a list: the source data has no answer for this "
                  "row, so there is nothing to match.",
    "geo880_349": "The gold `answer` is NaN, not a list: the source data has no answer for this "
                  "row, so there is nothing to match.",
    "geo880_430": "The gold `answer` is NaN, not a list: the source data has no answer for this "
                  "row, so there is nothing to match.",
    "geo880_601": "The gold answers disagree on what `mountain` keeps. Here the gold holds only "
                  "the 18 mountain-table entries. But 7 other rows "
                  f"({_HIGH_POINT_ROWS}) need states' high points to count as mountains "
                  "(`highest(mountain(loc_2(stateid('texas'))))` is 'guadalupe peak', which is "
                  "not in the mountain table). We follow the 7, so we also return 'mount "
                  "mckinley', Alaska's high point.",
    "geo880_640": "`fewest(state(next_to_2(state(all))))`: the gold says 'alaska', but Alaska "
                  "borders no state, so it is not in `next_to_2(state(all))`, the set `fewest` "
                  "chooses from. We answer 'maine' (one neighbour). The Prolog-query gold of the "
                  "same question in the source data (`prolog_ans`) also says 'maine'.",
    "geo880_775": "This program is the same as geo880_372, 373, 593 and 594, whose gold is "
                  "'mount mckinley'. Here the gold is 'mckinley' (the mountain-table entry for "
                  "the same peak). Both golds cannot match one program.",
    "geo880_825": "`lowest(place(loc_2(next_to_2(stateid('idaho')))))` is one place: the "
                  "Pacific Ocean (0 m), whose states are alaska, hawaii, oregon and washington. "
                  "The gold lists the states of every high and low point of Idaho's neighbours, "
                  "as if `lowest` had returned all its candidates. This is a fault in the "
                  "reference run: the other 29 rows that use `lowest` and have a gold answer match.",
}

SEMANTICS = """\
## Semantics

The executor follows the reference FunQL evaluator that produced the gold answers (WASP's
`eval.pl` over `geoquery.pl`). It uses sets instead of Prolog lists:

- **Values.** A value is an ordered set of entities or a list of numbers. A measure
  (`population_1`, `area_1`, ...) gives one number per entity, so `sum` counts equal values
  twice, as the reference does. `count` counts different entities.
- **Answer.** The final answer is the names (lowercase) and numbers, sorted and
  de-duplicated. This is how the reference prints its answer.
- **Ties.** `largest`, `highest`, `longest`, `largest_one` and their opposites keep the first
  of equal candidates in database order (the reference's `max_key`/`min_key`). `most` and
  `fewest` take their candidates in sorted order, so missouri, not tennessee, "borders the most
  states" (both border 8).
- **`most`/`fewest`.** They take a relation under type filters, such as
  `most(state(loc_1(river(all))))`. For each state in the result, they count the rivers it was
  reached from, and return the state with the most: here, the state with the most rivers.
- **Cities.** `cityid('springfield', _)` is every city of that name. A state's capital lies in
  that state even when the city table does not list it (montpelier). Only cities in the city
  table lie in the country: the gold has 35 capitals in `loc_2(countryid('usa'))`, not 51.
  The city fact `city('delaware','de','dover',0)` is skipped. It is a placeholder that the
  database behind the gold did not hold: the gold has 386 US cities, and 'scotts valley' as
  the smallest city.
- **Mountains.** `mountain(all)` is the mountain table. `mountain(x)` keeps mountain-table
  entries and states' high points (see geo880_601 below).
- **The country.** It holds every city, state, river, place, lake and mountain. Every river
  traverses it. Its high and low points are the highest and lowest points of its states.
- **Unknown names.** A name the database does not hold (`stateid('atlantis')`) stays as a
  name with no facts: `validate` reports it as `unknown-entity`, and relations from it are
  empty.
- **Kinds.** A program whose argument kinds do not check (see `catalog.toml`) is not run:
  `execute` raises `ExecutionError` with the first problem.

## Equality (`answers_match`)

Two answers match when they hold the same set of values:

- names compare as lowercase strings, with surrounding spaces ignored;
- numbers compare by value, within a relative tolerance of 1e-6 (`591000` equals `591000.0`);
- a name never equals a number;
- order and repeats do not matter.

A gold answer that is not a list (NaN) matches nothing.
"""


def _short(value: Any, limit: int = 8) -> str:
    if isinstance(value, list) and len(value) > limit:
        return repr(value[:limit])[:-1] + f", ... ({len(value)} in all)]"
    return repr(value)


def build_report() -> tuple[str, int, list[str]]:
    """The report text, the number of mismatches, and the problems that fail ``--check``."""
    geo = dsl.load("geoquery")
    rows = geo.examples()
    mismatches: list[tuple[dict[str, Any], Any]] = []
    for row in rows:
        try:
            answer: Any = geo.execute(row["code"])
        except dsl.DSLError as e:
            answer = f"error: {e}"
        if not answers_match(answer, row["answer"]):
            mismatches.append((row, answer))
    matched = len(rows) - len(mismatches)
    problems = [f"{row['id']}: no reason in REASONS" for row, _ in mismatches if row["id"] not in REASONS]
    mismatched_ids = {row["id"] for row, _ in mismatches}
    stale = sorted(set(REASONS) - mismatched_ids)
    problems += [f"{rid}: has a reason but now matches (remove it from REASONS)" for rid in stale]

    lines = [
        "# GeoQuery executor: gold-answer match",
        "",
        "Generated by `scripts/geoquery_exec_report.py` (rerun: `.venv/bin/python "
        "scripts/geoquery_exec_report.py`). Do not edit by hand.",
        "",
        f"**{matched} of {len(rows)} gold programs ({100 * matched / len(rows):.1f} %)** "
        "reproduce their gold answer. Each program in `grammars/geoquery/data/geo880.jsonl` is "
        "executed with `dsl.load(\"geoquery\").execute(code)` and compared with the row's "
        "`answer` by `dsl.languages.geoquery.answers_match`.",
        "",
        SEMANTICS,
        f"## The {len(mismatches)} programs that do not match",
        "",
    ]
    for row, answer in mismatches:
        lines += [
            f"### {row['id']}: `{row['code']}`",
            "",
            f"- question: {row['text']}",
            f"- executor: `{_short(answer)}`",
            f"- gold: `{_short(row['answer'])}`",
            f"- why: {REASONS.get(row['id'], 'UNEXPLAINED: a new mismatch, investigate')}",
            "",
        ]
    return "\n".join(lines), len(mismatches), problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if the report is stale or a mismatch is unexplained")
    args = parser.parse_args()
    text, mismatches, problems = build_report()
    for problem in problems:
        print(problem, file=sys.stderr)
    if args.check:
        current = REPORT.read_text(encoding="utf-8") if REPORT.is_file() else ""
        if current != text:
            print(f"{REPORT} is out of date: rerun without --check", file=sys.stderr)
            return 1
        return 1 if problems else 0
    REPORT.write_text(text, encoding="utf-8")
    print(f"wrote {REPORT.relative_to(ROOT)}: {mismatches} mismatches")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
