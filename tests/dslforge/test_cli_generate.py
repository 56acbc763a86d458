"""`dslforge generate | demo | model pull`: output, JSON, streaming, exit codes, --help."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import dsl
from dslforge.cli import main


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from engine.assets import load_reference_tokenizer

    tokenizer = load_reference_tokenizer("smollm2")
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=1, num_key_value_heads=1, eos_token_id=tokenizer.eos_token_id)
    folder = tmp_path_factory.mktemp("cli") / "tiny"
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def run(capsys, *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_generate_prints_a_program_that_parses(capsys, model_dir) -> None:
    code, out, err = run(capsys, "generate", "--dsl", "geoquery", "--model", str(model_dir), "--max-new-tokens", "20",
                         "which states border texas?")
    assert code == 0, err
    dsl.load("geoquery").parse(out.strip())


def test_json_holds_the_whole_result(capsys, model_dir) -> None:
    code, out, err = run(capsys, "generate", "--model", str(model_dir), "--json", "--shots", "2", "--temperature", "0.8", "--max-new-tokens", "24",
                         "--seed", "3", "how long is the colorado river")
    assert code == 0, err
    data = json.loads(out)
    assert {"code", "finish_reason", "n_tokens", "timings", "diagnostics", "tree"} <= set(data)
    dsl.load("geoquery").parse(data["code"])


def test_stream_prints_the_same_program(capsys, model_dir) -> None:
    args = ["--model", str(model_dir), "--max-new-tokens", "24", "rivers in texas"]
    _, streamed, _ = run(capsys, "generate", "--stream", *args)
    _, printed, _ = run(capsys, "generate", *args)
    assert streamed == printed and streamed.strip()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-new-tokens", "2"], "below the shortest program"),
        (["--stream", "--json"], "cannot be combined"),
        (["--dsl", "nope"], "not found"),
        (["--adapter", "contoso"], "adapter 'contoso' is not loaded"),
    ],
)
def test_usage_errors_exit_2_with_the_reason(capsys, model_dir, args, message) -> None:
    code, _out, err = run(capsys, "generate", "--model", str(model_dir), *args, "q")
    assert code == 2 and message in err


def test_help_documents_the_options(capsys) -> None:
    code, out, _ = run(capsys, "generate", "--help")
    assert code == 0
    for flag in ("--dsl", "--json", "--execute", "--stream", "--max-new-tokens", "--shots", "--adapter"):
        assert flag in out


def test_model_pull_prints_the_cached_folder(capsys) -> None:
    code, out, _ = run(capsys, "model", "pull")
    assert code == 0 and (Path(out.strip()) / "model.safetensors").is_file()


@pytest.mark.integration
def test_generate_with_the_default_model_answers_a_question() -> None:
    """The real SmolLM2-135M with retrieved examples, as on a fresh clone (~20 s)."""
    result = subprocess.run([sys.executable, "-m", "dslforge", "generate", "--dsl", "geoquery", "--execute", "--shots", "2", "--threads", "1",
                             "which states border texas?"], capture_output=True, timeout=600)
    assert result.returncode in (0, 1), result.stderr.decode()
    program, *answer = result.stdout.decode().strip().splitlines()
    dsl.load("geoquery").parse(program)
    assert b"Traceback" not in result.stderr
