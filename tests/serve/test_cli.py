"""`dslforge serve|loadtest|export vllm` on the command line: help text and usage errors (exit 2,
one line that names the flag, no traceback). Run in-process through `dslforge.cli.main`, the
console script's entry point; every error here is raised before a model loads."""

from __future__ import annotations

import pytest

from dslforge.cli import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


@pytest.mark.parametrize(("args", "words"), [
    (["serve", "--help"], ["--api-key-file", "--max-batch", "--queue-size", "--max-wait-ms", "SIGTERM", "127.0.0.1"]),
    (["loadtest", "--help"], ["--concurrency", "--requests", "p95"]),
    (["export", "vllm", "--help"], ["--adapter", "--out", "llguidance"]),
])
def test_help_names_the_options(capsys, monkeypatch, args: list[str], words: list[str]) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = run(capsys, *args)
    assert code == 0
    assert all(w in out for w in words), out


@pytest.mark.parametrize(("args", "message"), [
    (["serve", "--port", "70000"], "`port` must be in 0..65535, got 70000"),
    (["serve", "--max-batch", "0", "--queue-size", "-1"], "`max_batch` must be a positive integer, got 0; `queue_size`"),
    (["serve", "--adapter", "contoso"], "--adapter must be NAME=DIR, got 'contoso'"),
    (["serve", "--api-key-file", "/nonexistent/keys"], "--api-key-file '/nonexistent/keys' cannot be read"),
    (["serve", "--log-level", "loud"], "--log-level must be debug, info, warning or error"),
    (["loadtest", "--url", "http://127.0.0.1:9", "--concurrency", "1,x"], "--concurrency must be comma-separated"),
    (["loadtest", "--url", "http://127.0.0.1:9", "--requests", "1"], "cannot reach http://127.0.0.1:9"),
    (["export", "vllm", "--dsl", "nope", "--out", "/tmp/x"], "grammar 'nope' not found"),
])
def test_usage_errors_exit_2_with_one_clear_line(capsys, args: list[str], message: str) -> None:
    code, _, err = run(capsys, *args)
    assert code == 2, err
    assert message in err and "Traceback" not in err
