"""Micro-batching: requests that arrive close together share one ``generate_batch`` call.

One dispatcher coroutine owns the queue. Once the model is idle (at start, or when a batch
ends) and the queue holds fewer than ``max_batch`` requests, the next batch waits a bounded time
for company: at most ``max_wait_s``, and at most ``wait_fraction`` of the last batch's duration,
so the wait never costs more than that share of throughput. Measuring the wait from the moment
the model is idle (not from each request's arrival) matters for clients that send their next
request when the last one is answered: without it, groups of clients phase-lock into half-full
batches (measured: 16 clients ran as alternating batches of about 8), because the group
answered by one batch returns a few milliseconds after the next batch already started.
Batches run one at a time on one worker thread: one model in memory, and the event loop stays
free to accept, refuse (503) and time out (504) requests meanwhile.

Only requests with the same batch key (DSL, adapter, tenant, ...) share a batch; the oldest
request always goes in the next batch, so no key starves.

A request that is abandoned (its client disconnected or its timeout passed) leaves the queue at
once; if it is already decoding, its ``cancelled`` flag is raised for the backend to stop that
row early, and its slot is free when the batch returns.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from engine.serving.errors import Draining, QueueFull, RequestTimedOut

P = TypeVar("P")
R = TypeVar("R")


@dataclass(eq=False)
class Job(Generic[P]):
    """One admitted request: its parameters and where its result goes."""

    params: P
    future: asyncio.Future[Any]
    enqueued_at: float
    """``time.monotonic()`` at admission."""
    started_at: float | None = None
    """When its batch began decoding; None while queued."""
    batch_size: int = 0
    """How many requests shared its batch."""
    cancelled: threading.Event = field(default_factory=threading.Event)
    """Set when nobody waits for the result any more; read by the backend's worker thread."""


RunBatch = Callable[[Sequence[Job[P]]], Sequence["R | Exception"]]
"""Decode a batch on the worker thread: one result or exception per job, in order."""


class MicroBatcher(Generic[P, R]):
    """A bounded queue in front of one batch-decoding worker thread.

    Args:
        run_batch: decodes jobs; called on the worker thread, one batch at a time.
        max_batch: most jobs per call.
        max_wait_s: the longest an idle model waits to fill a batch.
        wait_fraction: the wait is also at most this share of the last batch's duration.
        queue_size: most jobs waiting (not decoding); :meth:`submit` raises beyond it.
        batch_key: jobs share a batch only when their keys are equal.
        on_batch: called on the event loop after each batch with (size, seconds).
    """

    def __init__(
        self,
        run_batch: RunBatch[P, R],
        *,
        max_batch: int,
        max_wait_s: float,
        queue_size: int,
        wait_fraction: float = 0.05,
        batch_key: Callable[[P], Hashable] = lambda _: None,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        self._run_batch = run_batch
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.wait_fraction = wait_fraction
        self.queue_size = queue_size
        self._key = batch_key
        self._on_batch = on_batch
        self._pending: deque[Job[P]] = deque()
        self._running = 0
        self._idle_since = time.monotonic()
        self._last_batch_s: float | None = None
        self._closed = False
        self._wakeup: asyncio.Event | None = None
        self._idle: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        # one thread: batches never overlap, so the model is used by one caller at a time
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dslforge-batch")

    # -- state ----------------------------------------------------------------------
    @property
    def queued(self) -> int:
        """Jobs admitted and waiting for a batch."""
        return len(self._pending)

    @property
    def running(self) -> int:
        """Jobs in the batch now decoding (abandoned ones included until it returns)."""
        return self._running

    @property
    def in_flight(self) -> int:
        """Slots in use: queued plus decoding. Back to 0 whenever the server is idle."""
        return len(self._pending) + self._running

    @property
    def closed(self) -> bool:
        return self._closed

    # -- lifecycle ------------------------------------------------------------------
    def start(self) -> None:
        """Start the dispatcher on the running event loop."""
        if self._task is not None:
            raise RuntimeError("MicroBatcher.start() called twice")
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task = asyncio.get_running_loop().create_task(self._dispatch(), name="dslforge-dispatcher")

    async def drain(self, timeout_s: float) -> bool:
        """Admit nothing more and wait until every admitted job has an answer.

        Returns:
            True when all finished within ``timeout_s``.
        """
        self._closed = True
        assert self._idle is not None, "start() first"
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    async def stop(self) -> None:
        """Stop the dispatcher; jobs still queued get :class:`Draining`."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        while self._pending:
            job = self._pending.popleft()
            if not job.future.done():
                job.future.set_exception(Draining("the server stopped before this request ran"))
        self._executor.shutdown(wait=False, cancel_futures=True)

    # -- requests -------------------------------------------------------------------
    def submit(self, params: P) -> Job[P]:
        """Admit a request (call on the event loop).

        Raises:
            Draining: after :meth:`drain` began.
            QueueFull: when ``queue_size`` jobs already wait.
        """
        if self._closed:
            raise Draining("the server is shutting down and admits no new request")
        if len(self._pending) >= self.queue_size:
            raise QueueFull(f"{len(self._pending)} requests are already queued (queue size {self.queue_size})")
        assert self._wakeup is not None and self._idle is not None, "start() first"
        job: Job[P] = Job(params, asyncio.get_running_loop().create_future(), time.monotonic())
        self._pending.append(job)
        self._idle.clear()
        self._wakeup.set()
        return job

    async def result(self, job: Job[P], *, timeout_s: float) -> R:
        """Wait for a job's result; the job is abandoned if this wait ends any other way.

        Raises:
            RequestTimedOut: after ``timeout_s``.
            asyncio.CancelledError: when the waiting task is cancelled (client gone).
            Exception: whatever the backend raised for this job.
        """
        try:
            value: R = await asyncio.wait_for(asyncio.shield(job.future), timeout_s)
            return value
        except TimeoutError:
            self.abandon(job)
            raise RequestTimedOut(f"no answer within {timeout_s:g} s") from None
        except asyncio.CancelledError:
            self.abandon(job)
            raise

    def abandon(self, job: Job[P]) -> None:
        """Nobody waits for ``job`` any more: free its queue slot, or flag its running row."""
        job.cancelled.set()
        try:
            self._pending.remove(job)
        except ValueError:
            pass  # already decoding (or done): the batch returns the slot
        if not job.future.done():
            job.future.cancel()
        self._check_idle()

    # -- dispatcher -----------------------------------------------------------------
    async def _dispatch(self) -> None:
        assert self._wakeup is not None
        loop = asyncio.get_running_loop()
        while True:
            while not self._pending:
                self._wakeup.clear()
                await self._wakeup.wait()
            await self._gather_company()
            if not self._pending:
                continue
            batch = self._take_batch()
            started = time.monotonic()
            for job in batch:
                job.started_at, job.batch_size = started, len(batch)
            self._running = len(batch)
            try:
                outcomes = await loop.run_in_executor(self._executor, self._run_batch, batch)
                if len(outcomes) != len(batch):
                    raise RuntimeError(f"backend returned {len(outcomes)} results for {len(batch)} requests")
            except asyncio.CancelledError:
                self._running = 0
                raise
            except Exception as e:  # a backend crash fails this batch, not the server
                outcomes = [e] * len(batch)
            self._running = 0
            self._idle_since = time.monotonic()
            self._last_batch_s = self._idle_since - started
            for job, outcome in zip(batch, outcomes):
                if job.future.done():
                    continue  # abandoned while decoding
                if isinstance(outcome, Exception):
                    job.future.set_exception(outcome)
                else:
                    job.future.set_result(outcome)
            if self._on_batch is not None:
                self._on_batch(len(batch), time.monotonic() - started)
            self._check_idle()

    async def _gather_company(self) -> None:
        """Give the oldest job a bounded wait for company, counted from when the model became
        idle (see the module docstring)."""
        assert self._wakeup is not None
        first = self._pending[0]
        key = self._key(first.params)
        deadline = max(first.enqueued_at, self._idle_since) + self.wait_bound()
        while self._pending and self._pending[0] is first:
            if sum(1 for j in self._pending if self._key(j.params) == key) >= self.max_batch:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), remaining)
            except TimeoutError:
                return

    def wait_bound(self) -> float:
        """The longest the next batch may wait for company: ``max_wait_s``, and no more than
        ``wait_fraction`` of the last batch's duration once one has run."""
        if self._last_batch_s is None:
            return self.max_wait_s
        return min(self.max_wait_s, self.wait_fraction * self._last_batch_s)

    def _take_batch(self) -> list[Job[P]]:
        """The oldest job and, in arrival order, up to ``max_batch - 1`` more with its key."""
        key = self._key(self._pending[0].params)
        batch: list[Job[P]] = []
        kept: deque[Job[P]] = deque()
        while self._pending:
            job = self._pending.popleft()
            if len(batch) < self.max_batch and self._key(job.params) == key:
                batch.append(job)
            else:
                kept.append(job)
        self._pending = kept
        return batch

    def _check_idle(self) -> None:
        if self._idle is not None and self.in_flight == 0:
            self._idle.set()
