"""`training.evaluate` and `training.report`: summaries, percentiles, tables, charts (no model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import dsl
from dsl.metrics import score
from training.errors import ConfigError
from training.evaluate import EvalSettings, configuration_name, eval_rows, percentile, summarise_records
from training.learning_curve import main as learning_curve_main
from training.learning_curve import render_table
from training.report import comparison_table, latency_ratio, write_learning_curve

GEO = dsl.load("geoquery")


@pytest.mark.parametrize("values,q,expected", [
    ([5.0], 95, 5.0),
    ([1.0, 2.0, 3.0, 4.0], 50, 2.5),
    ([1.0, 2.0, 3.0, 4.0, 5.0], 95, 4.8),
    ([3.0, 1.0, 2.0], 0, 1.0),
])
def test_percentile(values: list[float], q: float, expected: float) -> None:
    assert percentile(values, q) == pytest.approx(expected)


def _record(pred: str, gold: str, answer: object, latency: float, tokens: int, finish: str = "stop") -> dict:
    return {"_score": score(GEO, pred, gold, gold_answer=answer), "latency_s": latency, "n_tokens": tokens,
            "prompt_tokens": 30, "finish_reason": finish, "error": None}


def test_summary_rates_latency_and_tokens() -> None:
    gold = "answer(capital_1(stateid('texas')))"
    answer = GEO.execute(gold)
    records = [
        _record(gold, gold, answer, 0.1, 10),
        _record("answer(capital_1(stateid( 'texas' )))", gold, answer, 0.2, 10),  # same program, other spacing
        _record("answer(capital_1(stateid('ohio')))", gold, answer, 0.3, 10),      # parses, wrong answer
        _record("answer(capital_1(stateid('texas'", gold, answer, 0.4, 10, "budget"),  # does not parse
    ]
    s = summarise_records(records, settings=EvalSettings(), wall_s=1.0)
    assert s["n"] == 4
    assert s["exact_match"] == 50.0 and s["execution_accuracy"] == 50.0 and s["parse_rate"] == 75.0
    assert s["latency_p50_ms"] == pytest.approx(250.0) and s["latency_p95_ms"] == pytest.approx(385.0)
    assert s["tokens_per_s"] == pytest.approx(40.0) and s["finished_by_budget"] == 1


def test_settings_are_checked_all_at_once() -> None:
    with pytest.raises(ConfigError) as e:
        EvalSettings(mode="fast", rag_k=-1, max_new_tokens=0)  # type: ignore[arg-type]
    assert len(e.value.problems) == 3


def test_configuration_names() -> None:
    assert configuration_name(adapter=None, settings=EvalSettings(mode="free", rag_k=8)) == "base + 8-shot retrieval + free"
    assert configuration_name(adapter="x", settings=EvalSettings()) == "fine-tuned + constrained"


def test_eval_rows_default_split_and_errors() -> None:
    rows, source = eval_rows(GEO, split="test", scheme=None, data=None)
    assert len(rows) == 280 and source == "geoquery standard/test"
    with pytest.raises(Exception, match="split 'nope'"):
        eval_rows(GEO, split="nope", scheme=None, data=None)


def test_tables_and_ratio() -> None:
    a = {"configuration": "ft", "n": 2, "exact_match": 80.0, "latency_p50_ms": 200.0}
    b = {"configuration": "rag", "n": 2, "exact_match": 10.0, "latency_p50_ms": 800.0}
    table = comparison_table([a, b])
    assert "| ft | 2 | 80.0 | 200 |" in table and "execution" not in table
    assert latency_ratio(a, b) == 0.25


def test_learning_curve_table_and_png(tmp_path: Path) -> None:
    points = [{"pairs": 100, "steps": 80, "train_wall_s": 300.0, "exact_match": 40.0, "execution_accuracy": 50.0,
               "similarity": 0.8, "n_test": 280},
              {"pairs": 593, "steps": 450, "train_wall_s": 1800.0, "exact_match": 80.0, "execution_accuracy": 85.0,
               "similarity": 0.95, "n_test": 280}]
    assert "| 593 | 450 | 1800 | 80.0 | 85.0 | 0.950 | 280 |" in render_table(points)
    write_learning_curve(points, tmp_path / "lc.png")
    assert (tmp_path / "lc.png").read_bytes()[:4] == b"\x89PNG"


def _curve_point(root: Path, pairs: int, *, exact: float, mode: str = "constrained") -> Path:
    """An adapter folder's training summary and its cached eval, as a finished curve run leaves them."""
    adapter = root / f"adapter-{pairs}"
    adapter.mkdir(parents=True)
    (adapter / "training_summary.json").write_text(json.dumps(
        {"data": {"rows": pairs}, "steps": pairs // 8, "wall_time_s": 10.0 * pairs}), encoding="utf-8")
    cached = root / "curve" / f"eval-{pairs}"
    cached.mkdir(parents=True)
    (cached / "summary.json").write_text(json.dumps(
        {"n": 4, "mode": mode, "max_new_tokens": 64, "exact_match": exact, "similarity": exact / 100,
         "parse_rate": 100.0}), encoding="utf-8")
    return adapter


def test_learning_curve_resumes_from_cached_evals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    small, large = _curve_point(tmp_path, 16, exact=25.0), _curve_point(tmp_path, 64, exact=75.0)
    argv = ["--dsl", "geoquery", "--reuse", f"64={large}", "--reuse", f"16={small}", "--limit", "4",
            "--max-new-tokens", "64", "--out", str(tmp_path / "curve")]
    assert learning_curve_main(argv) == 0
    points = json.loads((tmp_path / "curve" / "learning_curve.json").read_text(encoding="utf-8"))
    assert [(p["pairs"], p["exact_match"]) for p in points] == [(16, 25.0), (64, 75.0)]
    assert "| 64 | 8 | 640 | 75.0 |" in capsys.readouterr().out
    assert (tmp_path / "curve" / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"


def test_learning_curve_refuses_a_cached_eval_decoded_differently(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    adapter = _curve_point(tmp_path, 16, exact=25.0, mode="free")
    argv = ["--dsl", "geoquery", "--reuse", f"16={adapter}", "--limit", "4", "--max-new-tokens", "64",
            "--out", str(tmp_path / "curve")]
    assert learning_curve_main(argv) == 2
    err = capsys.readouterr().err
    assert "eval-16" in err and "'mode': 'free'" in err and "remove its folder" in err
