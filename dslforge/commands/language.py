"""`dslforge parse|validate|format|run` and `dslforge grammar check|sample|compile`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

grammar_app = typer.Typer(help="Inspect and prove a DSL grammar.", no_args_is_help=True)
# `dslforge data ...`: the training area adds `prepare` to this same group.
data_app = typer.Typer(help="Prepare and generate NL→DSL data.", no_args_is_help=True)

DslOption = Annotated[str, typer.Option("--dsl", help="A DSL name under grammars/ or a DSL folder.")]
TextArgument = Annotated[Optional[str], typer.Argument(help="The program; '-' or nothing reads standard input.")]


def register(app: typer.Typer) -> None:
    """Add the language-layer commands to `app`."""
    app.command("parse")(parse)
    app.command("validate")(validate)
    app.command("format")(format_)
    app.command("run")(run)
    app.add_typer(grammar_app, name="grammar")
    app.add_typer(data_app, name="data")


def _read(text: str | None) -> str | bytes:
    if text is None or text == "-":
        return sys.stdin.buffer.read()  # bytes: a non-UTF-8 input is reported where it breaks
    return text


def parse(text: TextArgument = None, dsl_name: DslOption = "geoquery") -> None:
    """Parse a program and print its tree; exit 1 with the located error if it does not parse."""
    import dsl

    print(dsl.load(dsl_name).parse(_read(text)).pretty(), end="")


def validate(
    text: TextArgument = None,
    dsl_name: DslOption = "geoquery",
    as_json: Annotated[bool, typer.Option("--json", help="Print diagnostics as JSON.")] = False,
) -> None:
    """Validate a program against the grammar and the DSL's catalog; exit 1 on any problem."""
    import dsl
    from dslforge.cli import ProgramRejected

    diagnostics = dsl.load(dsl_name).validate(_read(text))
    if as_json:
        print(json.dumps([{"code": d.code, "message": d.message, "line": d.span.line if d.span else None,
                           "column": d.span.column if d.span else None} for d in diagnostics], indent=2))
    for d in diagnostics if not as_json else []:
        print(d, file=sys.stderr)
    if diagnostics:
        raise ProgramRejected()
    if not as_json:
        print("valid")


def format_(text: TextArgument = None, dsl_name: DslOption = "geoquery") -> None:
    """Print the canonical form of a program."""
    import dsl

    print(dsl.load(dsl_name).format(_read(text)))


def run(text: TextArgument = None, dsl_name: DslOption = "geoquery") -> None:
    """Execute a program (DSLs with an executor, e.g. geoquery) and print the answer as JSON."""
    import dsl

    print(json.dumps(dsl.load(dsl_name).execute(_read(text))))


@grammar_app.command("check")
def check(
    path: Annotated[str, typer.Argument(help="A DSL folder or name.")],
    samples: Annotated[int, typer.Option(help="Programs sampled from the grammar.")] = 1000,
    near_misses: Annotated[int, typer.Option(help="Mutations of valid programs.")] = 1000,
    tokenizer: Annotated[list[str], typer.Option(help="Reference tokenizers: smollm2, mistral-v1, tekken.")] = ["smollm2", "mistral-v1"],  # noqa: B006
    locked: Annotated[bool, typer.Option(help="Check the catalog-locked decoding grammar.")] = False,
    seed: int = 0,
    show: Annotated[int, typer.Option(help="Disagreements to print.")] = 50,
) -> None:
    """Prove that Lark and the llguidance decoding grammar accept the same programs; exit 1 if not."""
    from rich.console import Console
    from rich.table import Table

    from dslforge.cli import ProgramRejected
    from engine.grammar_check import check_grammar

    console = Console(stderr=True)
    report = check_grammar(
        path, tokenizers=tokenizer, n_samples=samples, n_near_misses=near_misses, seed=seed,
        locked=locked, progress=lambda msg: console.print(f"[dim]{msg}[/dim]"),
    )
    table = Table(title=f"grammar check: {report.dsl} ({report.variant})")
    for column in ("source/tokenizer", "strings", "accepted by both", "disagreements"):
        table.add_column(column, justify="right" if column != "source/tokenizer" else "left")
    for key, checked, accepted, wrong in report.summary():
        table.add_row(key, str(checked), str(accepted), str(wrong))
    Console().print(table)
    for disagreement in report.disagreements[:show]:
        print(disagreement, file=sys.stderr)
    if not report.ok:
        print(f"{len(report.disagreements)} disagreements", file=sys.stderr)
        raise ProgramRejected()
    print("0 disagreements")


@grammar_app.command("sample")
def sample(
    path: Annotated[str, typer.Argument(help="A DSL folder or name.")],
    n: Annotated[int, typer.Option("-n", help="How many programs.")] = 10,
    seed: int = 0,
) -> None:
    """Print programs sampled from the grammar, in canonical form."""
    import dsl
    from engine.grammar_check import sample_programs

    for program in sample_programs(dsl.load(path), n, seed):
        print(program)


@grammar_app.command("compile")
def compile_(
    path: Annotated[str, typer.Argument(help="A DSL folder or name.")],
    out: Annotated[Optional[Path], typer.Option(help="Write to this file instead of standard output.")] = None,
) -> None:
    """Print the decoding grammar (llguidance Lark dialect)."""
    import dsl

    text = dsl.load(path).decoding_grammar()
    if out is None:
        print(text, end="")
    else:
        out.write_text(text, encoding="utf-8")


@data_app.command("generate")
def generate_data(
    dsl_name: DslOption = "workflow",
    n: Annotated[int, typer.Option("--n", help="Base (request, program) pairs; tenant pairs come on top.")] = 12000,
    seed: Annotated[int, typer.Option(help="Same seed and n, same files byte for byte.")] = 0,
    out: Annotated[Path, typer.Option(help="Output folder (grammars/workflow/data is what the DSL ships).")] = Path("out/data"),
) -> None:
    """Generate a seeded NL→program dataset with its splits (DSLs with a generator: workflow)."""
    from training.datagen.cli import generate_command

    counts = generate_command(dsl_name, n, seed, str(out))
    print(json.dumps(counts))
