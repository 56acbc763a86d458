"""The language-layer CLI: exit codes 0 ok / 1 bad program / 2 bad usage or grammar, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def dslforge(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "dslforge", *args], input=stdin, capture_output=True, timeout=120)


@pytest.mark.parametrize(
    ("args", "stdin", "code", "out", "err"),
    [
        (["format", "--dsl", "geoquery", "answer( state(all) )"], b"", 0, "answer(state(all))", ""),
        (["format", "--dsl", "geoquery", "-"], b"answer(cityid('austin',_))", 0, "answer(cityid('austin', _))", ""),
        (["parse", "--dsl", "geoquery", "answer(foo)"], b"", 1, "", "line 1, column 8"),
        (["validate", "--dsl", "geoquery", "-"], b"answer(\xff)", 1, "", "not UTF-8"),
        (["parse", "--dsl", "nope", "x"], b"", 2, "", "available"),
        (["parse", "--no-such-flag"], b"", 2, "", "No such option"),
    ],
)
def test_exit_codes_and_messages(args: list[str], stdin: bytes, code: int, out: str, err: str) -> None:
    result = dslforge(*args, stdin=stdin)
    assert result.returncode == code, result.stderr.decode()
    assert out in result.stdout.decode()
    assert err in result.stderr.decode()
    assert b"Traceback" not in result.stderr


def test_run_prints_the_answer_as_json() -> None:
    result = dslforge("run", "--dsl", "geoquery", "answer(capital(loc_2(stateid('texas'))))")
    if result.returncode == 2 and b"no executor" in result.stderr:
        pytest.skip("geoquery executor not merged yet")
    assert result.returncode == 0, result.stderr.decode()
    assert json.loads(result.stdout) == ["austin"]


def test_help_lists_the_commands() -> None:
    result = dslforge("--help")
    for command in ("parse", "validate", "format", "run", "grammar"):
        assert command in result.stdout.decode()
    assert "check" in dslforge("grammar", "--help").stdout.decode()


def test_data_generate_writes_a_reproducible_dataset(tmp_path) -> None:
    outputs = []
    for name in ("a", "b"):
        result = dslforge("data", "generate", "--dsl", "workflow", "--n", "30", "--seed", "3", "--out", str(tmp_path / name))
        assert result.returncode == 0, result.stderr.decode()
        assert json.loads(result.stdout)["pairs"] == 30
        outputs.append((tmp_path / name / "flows.jsonl").read_bytes())
    assert outputs[0] == outputs[1]
