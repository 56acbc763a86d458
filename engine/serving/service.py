"""`GenerationService`: the request lifecycle shared by every generate route — resolve names,
admit into the batcher (503), wait for the result while watching the client (disconnect frees
the slot) and the clock (504), and turn engine errors into HTTP errors.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from engine.errors import BudgetTooSmall, ConstraintViolation, EngineError
from engine.serving.backend import Backend, GenerateOutcome, GenerateParams
from engine.serving.config import ServeConfig
from engine.serving.errors import Draining, QueueFull, RequestTimedOut
from engine.serving.http_errors import HTTPError
from engine.serving.metrics import ServeMetrics
from engine.serving.scheduler import Job, MicroBatcher

log = logging.getLogger("dslforge.serve")
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]


class ClientGone(Exception):
    """The client disconnected before its answer was ready; there is no one to answer."""


class GenerationService:
    """The batcher, the backend and the metrics behind the generate routes."""

    def __init__(self, backend: Backend, config: ServeConfig) -> None:
        self.backend = backend
        self.config = config
        self.batcher: MicroBatcher[GenerateParams, GenerateOutcome] = MicroBatcher(
            backend.run_batch,
            max_batch=config.max_batch,
            max_wait_s=config.max_wait_ms / 1000,
            wait_fraction=config.max_wait_fraction,
            queue_size=config.queue_size,
            batch_key=backend.batch_key,
            on_batch=self._on_batch,
        )
        self.metrics = ServeMetrics(in_flight=lambda: float(self.batcher.in_flight),
                                    queued=lambda: float(self.batcher.queued))
        self.draining = False

    def _on_batch(self, size: int, seconds: float) -> None:
        self.metrics.observe_batch(size, seconds)

    # -- names ----------------------------------------------------------------------
    def params(
        self, *, text: str, dsl: str | None, adapter: str | None, tenant: str | None,
        max_new_tokens: int | None, temperature: float | None, seed: int | None,
    ) -> GenerateParams:
        """Resolve defaults and check names; unknown ones are a 422 naming the field.

        Raises:
            HTTPError: 422 for an unknown dsl/adapter/tenant or a budget below the DSL's minimum.
        """
        served = self.backend.dsls
        name = dsl if dsl is not None else next(iter(served))
        if name not in served:
            raise HTTPError(422, "unknown_dsl", f"dsl {name!r} is not served here; served: {sorted(served)}",
                            param="dsl")
        if adapter is not None and adapter != "none" and adapter not in self.backend.adapters:
            raise HTTPError(422, "unknown_adapter",
                            f"adapter {adapter!r} is not loaded; loaded: {self.backend.adapters} "
                            "(or 'none' for the base model)", param="adapter")
        if tenant is not None and tenant not in self.backend.tenants_for(name):
            raise HTTPError(422, "unknown_tenant", f"tenant {tenant!r} is not known for dsl {name!r}; known: "
                            f"{self.backend.tenants_for(name)}", param="tenant")
        budget = max_new_tokens if max_new_tokens is not None else self.config.default_max_new_tokens
        least = self.backend.min_new_tokens(name)
        if budget < least:
            raise HTTPError(422, "budget_too_small",
                            f"max_new_tokens={budget} is below the {least} tokens of DSL {name!r}'s shortest "
                            f"program; send max_new_tokens >= {least}", param="max_new_tokens")
        return GenerateParams(text=text, dsl=name, max_new_tokens=budget,
                              temperature=0.0 if temperature is None else float(temperature),
                              seed=seed, adapter=adapter, tenant=tenant)

    # -- lifecycle ------------------------------------------------------------------
    async def generate(self, params: GenerateParams, receive: Receive) -> tuple[GenerateOutcome, Job[GenerateParams]]:
        """Admit, wait, answer.

        Raises:
            HTTPError: 503 (queue full or draining, with Retry-After), 504 (timeout), 422
                (budget), 500 (engine failure).
            ClientGone: the client disconnected; its slot is already free.
        """
        retry = {"Retry-After": str(self.config.retry_after_s)}
        try:
            if self.draining:
                raise Draining()
            job = self.batcher.submit(params)
        except QueueFull as e:
            self.metrics.outcomes.inc("queue_full")
            raise HTTPError(503, "queue_full", f"the server is at capacity ({e}); retry after "
                            f"{self.config.retry_after_s} s", headers=retry) from None
        except Draining:
            self.metrics.outcomes.inc("draining")
            raise HTTPError(503, "draining", "the server is shutting down; retry on another instance",
                            headers={**retry, "Connection": "close"}) from None
        waiter = asyncio.ensure_future(self.batcher.result(job, timeout_s=self.config.request_timeout_s))
        watcher = asyncio.ensure_future(_client_gone(receive))
        try:
            await asyncio.wait({waiter, watcher}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            watcher.cancel()
        if not waiter.done():
            waiter.cancel()  # batcher.result() abandons the job: its slot is freed now
            await asyncio.gather(waiter, return_exceptions=True)
            self.metrics.outcomes.inc("disconnected")
            raise ClientGone()
        try:
            outcome = waiter.result()
        except RequestTimedOut:
            self.metrics.outcomes.inc("timeout")
            where = "queued" if job.started_at is None else "decoding"
            raise HTTPError(504, "timeout", f"no answer within {self.config.request_timeout_s:g} s (the request "
                            f"was still {where}; server option --request-timeout)") from None
        except BudgetTooSmall as e:
            self.metrics.outcomes.inc("invalid")
            raise HTTPError(422, "budget_too_small", str(e), param="max_new_tokens") from None
        except (ConstraintViolation, EngineError) as e:
            self.metrics.outcomes.inc("error")
            log.error("generation failed for %r: %s", params.text[:200], e)
            raise HTTPError(500, "generation_failed", f"{type(e).__name__}: {e}") from None
        except Exception as e:
            self.metrics.outcomes.inc("error")
            log.exception("unexpected failure for %r", params.text[:200])
            raise HTTPError(500, "internal_error", f"{type(e).__name__}: {e}") from None
        self.metrics.outcomes.inc("ok")
        self.metrics.tokens.inc(amount=outcome.n_tokens)
        if job.started_at is not None:
            self.metrics.queue_wait.observe(job.started_at - job.enqueued_at)
        return outcome, job

    def begin_drain(self) -> None:
        """Refuse new requests (503) and report not-ready; in-flight ones continue."""
        self.draining = True
        self.metrics.draining.set(1)

    def timings(self, outcome: GenerateOutcome, job: Job[GenerateParams]) -> dict[str, float]:
        """The timings of an answer: queue and total seconds, batch size, then the engine's."""
        now = time.monotonic()
        started = job.started_at if job.started_at is not None else now
        return {"queue_s": round(started - job.enqueued_at, 6), "total_s": round(now - job.enqueued_at, 6),
                "batch_size": float(job.batch_size), **outcome.timings}


async def _client_gone(receive: Receive) -> None:
    """Return when the client disconnects (the body was already read, so only that can come)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
