"""`training.prepare`: every bad row ends in rejects.jsonl with the right reason (issue #5)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import dsl
from training.errors import DataError
from training.prepare import clean_rows, make_splits, normalise_text, prepare

GEO = dsl.load("geoquery")
GOOD = {"id": "a", "text": "What is the capital of Texas ?", "code": "answer(capital_1(stateid('texas')))"}

# (description, raw line, expected reason) — one row per reject reason.
BAD_ROWS = [
    ("unparseable target", json.dumps({"id": "u", "text": "rivers?", "code": "answer(river(all)"}).encode(), "unparseable"),
    ("hallucinated API", json.dumps({"id": "h", "text": "what is the gdp of ohio", "code": "answer(gdp_1(stateid('ohio')))"}).encode(), "unparseable"),
    ("unknown entity (validator)", json.dumps({"id": "v", "text": "capital of atlantis", "code": "answer(capital_1(stateid('atlantis')))"}).encode(), "invalid"),
    ("empty NL", json.dumps({"id": "e", "text": "   ", "code": GOOD["code"]}).encode(), "empty-text"),
    ("duplicate", json.dumps({"id": "d", "text": "what is the capital of texas?", "code": "answer( capital_1( stateid('texas') ) )"}).encode(), "duplicate"),
    ("non-UTF-8 line", b'{"id": "n", "text": "caf\xe9 in texas", "code": "answer(state(all))"}', "non-utf8"),
    ("missing field", json.dumps({"id": "m", "text": "states"}).encode(), "missing-field"),
    ("bad JSON", b'{"id": "j", "text": "states", "code": ', "bad-json"),
    ("not an object", b'["states", "answer(state(all))"]', "bad-json"),
    ("wrong type", json.dumps({"id": "t", "text": 3, "code": "answer(state(all))"}).encode(), "bad-field"),
    ("duplicate id", json.dumps({"id": "a", "text": "which states are there", "code": "answer(state(all))"}).encode(), "duplicate-id"),
]


def _file(lines: list[bytes]) -> bytes:
    return b"\n".join(lines) + b"\n"


@pytest.mark.parametrize("description,line,reason", BAD_ROWS, ids=[r[0] for r in BAD_ROWS])
def test_each_bad_row_is_rejected_with_its_reason(description: str, line: bytes, reason: str) -> None:
    result = clean_rows(GEO, _file([json.dumps(GOOD).encode(), line]))
    assert [r["id"] for r in result.rows] == ["a"]
    assert len(result.rejects) == 1, description
    reject = result.rejects[0]
    assert reject.reason == reason
    assert reject.line == 2
    assert reject.detail  # says what is wrong


def test_hallucinated_api_detail_names_the_place() -> None:
    result = clean_rows(GEO, _file([BAD_ROWS[1][1]]))
    assert "line 1, column 8" in result.rejects[0].detail


def test_invalid_detail_carries_the_diagnostic_code() -> None:
    result = clean_rows(GEO, _file([BAD_ROWS[2][1]]))
    assert "atlantis" in result.rejects[0].detail


def test_blank_lines_are_counted_not_rejected_and_crlf_is_fine() -> None:
    data = json.dumps(GOOD).encode() + b"\r\n\n   \n"
    result = clean_rows(GEO, data)
    assert len(result.rows) == 1 and not result.rejects and result.blank_lines == 2


def test_code_is_canonicalised_and_extras_kept() -> None:
    row = {"id": 7, "text": " Cities ? ", "code": "answer( city( all ) )", "answer": ["x"]}
    (clean,) = clean_rows(GEO, _file([json.dumps(row).encode()])).rows
    assert clean == {"id": "7", "text": "Cities ?", "code": "answer(city(all))", "answer": ["x"]}


def test_normalised_text_ignores_case_spacing_and_punctuation() -> None:
    assert normalise_text("What  is the Capital of TEXAS ?") == normalise_text("what is the capital of texas")


def test_prepare_writes_everything(tmp_path: Path) -> None:
    lines = [json.dumps(GOOD).encode()] + [line for _, line, _ in BAD_ROWS]
    lines += [json.dumps({"id": f"s{i}", "text": f"cities in state number {i}", "code": "answer(city(all))"}).encode()
              for i in range(9)]
    source = tmp_path / "pairs.jsonl"
    source.write_bytes(_file(lines))
    card = prepare(language=GEO, input_path=source, out_dir=tmp_path / "out", seed=0, iid_test_fraction=0.2)

    rejects = [json.loads(x) for x in (tmp_path / "out" / "rejects.jsonl").read_text().splitlines()]
    assert sorted(r["reason"] for r in rejects) == sorted(reason for _, _, reason in BAD_ROWS)
    assert card["accepted"] == 10 and card["rejected"] == len(BAD_ROWS)
    train = (tmp_path / "out" / "splits" / "iid" / "train.jsonl").read_text().splitlines()
    test = (tmp_path / "out" / "splits" / "iid" / "test.jsonl").read_text().splitlines()
    assert (len(train), len(test)) == (8, 2)
    assert "## Reject reasons" in (tmp_path / "out" / "data_card.md").read_text()
    # the coverage lists what the training split never uses
    assert "low_point_1" in card["coverage"]["iid"]["keywords_unused"]


def test_splits_are_readable_by_datasets(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    source = tmp_path / "pairs.jsonl"
    source.write_text("\n".join(json.dumps({"text": f"q {i}", "code": "answer(state(all))", "answer": ["x"]})
                                for i in range(10)) + "\n")
    prepare(language=GEO, input_path=source, out_dir=tmp_path / "out")
    ds = datasets.load_dataset("json", data_files=str(tmp_path / "out" / "splits" / "iid" / "train.jsonl"),
                               split="train", cache_dir=str(tmp_path / "cache"))
    assert len(ds) == 9 and set(ds.column_names) >= {"id", "text", "code"}


def test_dsl_split_schemes_follow_ids() -> None:
    rows = GEO.examples()[:40]
    schemes = make_splits(GEO, clean_rows(GEO, _file([json.dumps(r).encode() for r in rows])).rows)
    table = json.loads((GEO.folder / "data" / "splits" / "standard.json").read_text())
    assert {r["id"] for r in schemes["standard"]["test"]} <= set(table["test"])
    assert "iid" in schemes


def test_no_usable_rows_is_an_error_with_the_reasons(tmp_path: Path) -> None:
    source = tmp_path / "bad.jsonl"
    source.write_bytes(_file([b"not json", json.dumps({"text": "x"}).encode()]))
    with pytest.raises(DataError, match="bad-json"):
        prepare(language=GEO, input_path=source, out_dir=tmp_path / "out")


def test_missing_input_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        prepare(language=GEO, input_path=tmp_path / "nope.jsonl", out_dir=tmp_path / "out")
