"""The `dslforge` command. Each area registers its subcommands from `dslforge/commands/`;
this module only maps exceptions to exit codes: 0 ok, 1 bad program, 2 bad usage or grammar."""

from __future__ import annotations

import sys

import typer

from dsl import DSLError, DSLSyntaxError, GrammarError
from dslforge.commands import generate, language, serving, training

app = typer.Typer(
    name="dslforge",
    help="Natural language to always-parseable DSL programs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
for area in (language, generate, training, serving):
    area.register(app)


class ProgramRejected(Exception):
    """A command found the program invalid; it already printed why (exit 1)."""


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script."""
    try:
        app(args=argv)  # standalone: typer itself reports usage errors with exit 2
    except ProgramRejected:
        sys.exit(1)
    except DSLSyntaxError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    except GrammarError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except DSLError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except (FileNotFoundError, IsADirectoryError, PermissionError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
