"""`dslforge data prepare | train | eval | eval-compare`: help text, exit codes, messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dslforge.cli import main


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(argv)
        raise SystemExit(0)
    out, err = capsys.readouterr()
    return int(e.value.code or 0), out, err


@pytest.mark.parametrize("argv,needle", [
    (["train", "--help"], "--section.key=value"),
    (["eval", "--help"], "--rag"),
    (["data", "prepare", "--help"], "rejects.jsonl"),
    (["eval-compare", "--help"], "PNG"),
])
def test_help(argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(argv, capsys)
    assert code == 0 and needle in " ".join(out.split())


def test_data_prepare(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "pairs.jsonl"
    rows = [{"id": str(i), "text": f"cities number {i}", "code": "answer(city(all))"} for i in range(5)]
    source.write_text("\n".join(json.dumps(r) for r in rows) + "\n{broken\n")
    code, out, _ = _run(["data", "prepare", "--dsl", "geoquery", "--input", str(source), "--out",
                         str(tmp_path / "out")], capsys)
    assert code == 0
    assert "accepted 5 of 6 rows; rejected 1 (bad-json 1)" in out
    assert (tmp_path / "out" / "rejects.jsonl").read_text().count("\n") == 1


def test_data_prepare_missing_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(["data", "prepare", "--dsl", "geoquery", "--input", str(tmp_path / "no.jsonl"),
                         "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "input file not found" in err


def test_train_bad_overrides_exit_2_listing_all(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(["train", "--dsl", "geoquery", "--out", str(tmp_path / "a"), "--lora.r=-1",
                         "--train.epochs=x"], capsys)
    assert code == 2
    assert "`lora.r` must be > 0, got -1" in err and "`train.epochs`: must be a number" in err


def test_eval_bad_mode_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(["eval", "--dsl", "geoquery", "--out", str(tmp_path / "e"), "--mode", "fast"], capsys)
    assert code == 2 and "constrained or free" in err


def test_eval_missing_adapter_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(["eval", "--dsl", "geoquery", "--out", str(tmp_path / "e"), "--adapter",
                         str(tmp_path)], capsys)
    assert code == 2 and "not a peft adapter folder" in err


def test_eval_compare(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = []
    for name, adapter, rag, p50 in (("rag", None, 8, 900.0), ("ft", "adapters/geoquery", 0, 300.0)):
        folder = tmp_path / name
        folder.mkdir()
        summary = {"configuration": name, "n": 10, "exact_match": 50.0, "parse_rate": 100.0, "similarity": 0.9,
                   "latency_p50_ms": p50, "mode": "constrained", "adapter_path": adapter, "rag_k": rag,
                   "dsl": "geoquery"}
        (folder / "summary.json").write_text(json.dumps(summary))
        runs.append(str(folder))
    code, out, _ = _run(["eval-compare", *runs, "--out", str(tmp_path / "cmp")], capsys)
    assert code == 0
    assert "| rag | 10 | 50.0 |" in out
    assert "fine-tuned p50 latency / retrieval p50 latency = 0.33" in out
    assert (tmp_path / "cmp" / "comparison.png").read_bytes()[:4] == b"\x89PNG"


def test_eval_compare_on_a_folder_without_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(["eval-compare", str(tmp_path), "--out", str(tmp_path / "c")], capsys)
    assert code == 2 and "no summary.json" in err
