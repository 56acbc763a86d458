"""What the HTTP layer needs from a model: the :class:`Backend` protocol, the per-request
parameters and outcome, and :class:`EngineBackend`, which serves an :class:`engine.Engine`.

The app never touches the engine directly: it checks names, then hands jobs to the
micro-batcher, which calls :meth:`Backend.run_batch` on its worker thread.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from dsl import DSL, Diagnostic
    from engine.serving.scheduler import Job


@dataclass(frozen=True)
class GenerateParams:
    """One generation request after validation (names checked, defaults applied)."""

    text: str
    dsl: str
    max_new_tokens: int
    temperature: float = 0.0
    seed: int | None = None
    adapter: str | None = None
    tenant: str | None = None


@dataclass(frozen=True)
class GenerateOutcome:
    """What one request produced."""

    code: str
    finish_reason: str
    """``stop`` (the model ended the program) or ``budget`` (the engine closed it in budget)."""
    diagnostics: tuple[Diagnostic, ...] = ()
    n_tokens: int = 0
    prompt_tokens: int = 0
    timings: dict[str, float] = field(default_factory=dict)


class Backend(Protocol):
    """A loaded model that decodes batches of :class:`GenerateParams`."""

    model_name: str
    """The base model's name, as ``/v1/models`` lists it."""

    @property
    def dsls(self) -> dict[str, DSL]:
        """Served DSLs by name; the first is the default."""
        ...

    @property
    def adapters(self) -> list[str]:
        """Named LoRA adapters a request may pick."""
        ...

    def tenants_for(self, dsl: str) -> list[str]:
        """Tenants a request for ``dsl`` may name (a tenant adapter, or a tenant catalog of the DSL)."""
        ...

    def min_new_tokens(self, dsl: str) -> int:
        """The smallest budget ``dsl`` accepts (its shortest program, in tokens); cheap."""
        ...

    def batch_key(self, params: GenerateParams) -> Hashable:
        """Requests with equal keys may share a ``run_batch`` call."""
        ...

    def run_batch(self, jobs: Sequence[Job[GenerateParams]]) -> list[GenerateOutcome | Exception]:
        """Decode ``jobs`` (on the batcher's worker thread); a result or an exception per job.
        A job whose ``cancelled`` event is set may be stopped early."""
        ...


def diagnostic_json(d: Diagnostic) -> dict[str, Any]:
    """A diagnostic as the API returns it."""
    return {"code": d.code, "message": d.message,
            "line": d.span.line if d.span else None, "column": d.span.column if d.span else None}
