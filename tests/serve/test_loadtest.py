"""`dslforge loadtest`: percentiles, the report table, and a real run against `dslforge serve`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine.serving.errors import ServeError
from engine.serving.loadtest import LevelResult, LoadReport, load_texts, markdown_table, percentile


@pytest.mark.parametrize(("values", "q", "expected"), [
    ([1.0], 50, 1.0),
    ([1.0, 2.0], 50, 1.5),
    ([3.0, 1.0, 2.0], 0, 1.0),
    ([3.0, 1.0, 2.0], 100, 3.0),
    (list(map(float, range(1, 101))), 95, 95.05),
    (list(map(float, range(1, 101))), 99, 99.01),
])
def test_percentile_interpolates_linearly(values: list[float], q: float, expected: float) -> None:
    assert percentile(values, q) == pytest.approx(expected)


def level(concurrency: int, latency: float, tokens: int, wall: float, statuses: dict[str, int]) -> LevelResult:
    n = statuses.get("200", 0)
    return LevelResult(concurrency=concurrency, n_requests=sum(statuses.values()), wall_s=wall,
                       latencies_s=[latency] * n, tokens=[tokens] * n, statuses=statuses,
                       peak_rss_bytes=512e6, mean_batch=float(concurrency))


def test_the_table_reports_errors_by_status_and_the_target_ratios() -> None:
    report = LoadReport(url="u", dsl="geoquery", max_new_tokens=32, server={}, levels=[
        level(1, 1.0, 20, 10.0, {"200": 10}),
        level(16, 3.0, 20, 2.0, {"200": 9, "503": 1}),
    ])
    table = markdown_table(report)
    rows = [line for line in table.splitlines() if line.startswith("| 1") or line.startswith("| 16")]
    assert rows[0].split("|")[4].strip() == "0" and rows[1].split("|")[4].strip() == "503: 1"
    assert "| 50.0 |" in rows[0] and "| 150.0 |" in rows[1]  # p95 ms per token
    assert "throughput at concurrency 16 / at 1: 4.50 (target >= 4)" in table
    assert "per generated token at concurrency 16 / at 1: 3.00 (target <= 3)" in table


def test_texts_come_from_a_jsonl_file_or_the_dsl_test_split(tmp_path: Path) -> None:
    good = tmp_path / "t.jsonl"
    good.write_text('{"text": "a"}\n\n{"text": "b", "code": "x"}\n', encoding="utf-8")
    assert load_texts(good, None) == ["a", "b"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a"}\n{"question": "b"}\n', encoding="utf-8")
    with pytest.raises(ServeError, match="bad.jsonl:2: a row needs a string field 'text'"):
        load_texts(bad, None)
    with pytest.raises(ServeError, match="cannot be read"):
        load_texts(tmp_path / "missing.jsonl", None)
    assert len(load_texts(None, "geoquery")) > 100


@pytest.mark.integration
def test_loadtest_command_against_a_running_server(server: Any, api_key_file: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "dslforge", "loadtest", "--url", server.url, "--concurrency", "1,4", "--requests", "8",
         "--dsl", "geoquery", "--max-new-tokens", "16", "--api-key-file", str(api_key_file), "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    table = result.stdout
    assert "| 1 | 8 | 8 | 0 |" in table and "| 4 | 8 | 8 | 0 |" in table
    data = json.loads((tmp_path / "loadtest.json").read_text(encoding="utf-8"))
    assert [lv["concurrency"] for lv in data["levels"]] == [1, 4]
    assert data["levels"][1]["mean_batch"] > 1 and data["levels"][1]["peak_rss_bytes"] > 50e6
    assert (tmp_path / "loadtest.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
