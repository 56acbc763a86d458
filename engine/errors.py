"""Exceptions of the engine. Library code raises; only the CLI maps them to exit codes."""

from __future__ import annotations

from dsl import DSLError


class EngineError(DSLError, RuntimeError):
    """Root of every error raised by :mod:`engine`."""


class BudgetTooSmall(EngineError, ValueError):
    """``max_new_tokens`` is below the shortest program the grammar allows, in tokens."""


class ConstraintViolation(EngineError):
    """The grammar matcher entered an error state; the text so far is not returned as code."""
