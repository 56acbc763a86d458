"""Exceptions of :mod:`training`. Library code raises; only the CLI maps them to exit codes.

``TrainingError`` inherits :class:`dsl.DSLError` so that the CLI's existing mapping (exit 2,
"bad usage") applies without the CLI knowing this package.
"""

from __future__ import annotations

from dsl import DSLError


class TrainingError(DSLError, RuntimeError):
    """Root of every error raised by :mod:`training`."""


class ConfigError(TrainingError, ValueError):
    """A training/eval configuration is invalid. The message lists every problem at once."""

    def __init__(self, problems: list[str], *, source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        head = f"invalid configuration ({source})" if source else "invalid configuration"
        super().__init__(head + ":\n" + "\n".join(f"  - {p}" for p in self.problems))


class DataError(TrainingError, ValueError):
    """An input data file cannot be used at all (missing, empty after filtering, wrong shape).

    Single bad rows never raise: they go to ``rejects.jsonl`` with their reason.
    """
