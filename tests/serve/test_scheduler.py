"""The micro-batcher on its own: batch formation, bounded wait, keys, backpressure, abandonment,
timeouts, failures and drain.

The backend here is a recording function gated by an Event, not a model: these tests pin exact
queue states (three queued while one decodes), which a real model's timing cannot promise. The
real model behind the same batcher is exercised in test_server.py.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence

import pytest

from engine.serving.errors import Draining, QueueFull, RequestTimedOut
from engine.serving.scheduler import Job, MicroBatcher


class Recorder:
    """Returns each job's params doubled; records batches; blocks while ``gate`` is clear."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.fail_with: Exception | None = None
        self.seen_cancelled: list[bool] = []
        self.delay_s = 0.0

    def __call__(self, jobs: Sequence[Job[int]]) -> list[int | Exception]:
        self.entered.set()
        self.batches.append([j.params for j in jobs])
        self.gate.wait(10)
        time.sleep(self.delay_s)
        self.seen_cancelled = [j.cancelled.is_set() for j in jobs]
        if self.fail_with is not None:
            raise self.fail_with
        return [ValueError("odd") if j.params == 13 else j.params * 2 for j in jobs]


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


async def started(recorder: Recorder, **options) -> MicroBatcher[int, int]:
    settings = dict(max_batch=4, max_wait_s=0.05, queue_size=8)
    settings.update(options)
    batcher: MicroBatcher[int, int] = MicroBatcher(recorder, **settings)
    batcher.start()
    return batcher


async def wait_until(predicate, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.005)


def test_concurrent_requests_share_a_batch_up_to_max_batch() -> None:
    async def main() -> None:
        rec = Recorder()
        b = await started(rec, max_batch=4, max_wait_s=0.2)
        jobs = [b.submit(i) for i in range(6)]
        results = [await b.result(j, timeout_s=5) for j in jobs]
        assert results == [0, 2, 4, 6, 8, 10]
        assert rec.batches == [[0, 1, 2, 3], [4, 5]]
        assert [j.batch_size for j in jobs] == [4, 4, 4, 4, 2, 2]
        assert b.in_flight == 0
        await b.stop()

    run(main())


def test_a_lone_request_waits_at_most_max_wait() -> None:
    async def main() -> None:
        rec = Recorder()
        b = await started(rec, max_wait_s=0.05)
        job = b.submit(1)
        assert await b.result(job, timeout_s=5) == 2
        assert job.started_at is not None
        waited = job.started_at - job.enqueued_at
        assert 0.04 <= waited < 1.0
        await b.stop()

    run(main())


def test_requests_queued_behind_a_running_batch_start_without_waiting() -> None:
    async def main() -> None:
        rec = Recorder()
        b = await started(rec, max_wait_s=5.0, max_batch=2)
        rec.gate.clear()
        first = [b.submit(0), b.submit(1)]  # a full batch starts at once despite max_wait 5 s
        await wait_until(rec.entered.is_set)
        later = [b.submit(2), b.submit(3)]
        assert b.queued == 2 and b.running == 2 and b.in_flight == 4
        rec.gate.set()
        assert [await b.result(j, timeout_s=5) for j in first + later] == [0, 2, 4, 6]
        assert rec.batches == [[0, 1], [2, 3]]
        await b.stop()

    run(main())


def test_clients_answered_by_one_batch_join_the_next_instead_of_phase_locking() -> None:
    # Closed-loop clients send again right after their answer. The next batch waits for them,
    # counted from when the model went idle, even though its first jobs arrived long ago.
    async def main() -> None:
        rec = Recorder()
        rec.delay_s = 0.2
        b = await started(rec, max_batch=4, max_wait_s=0.1, wait_fraction=0.5)
        first = [b.submit(0), b.submit(1)]
        await wait_until(rec.entered.is_set)
        waiting = [b.submit(2), b.submit(3)]  # queued for longer than max_wait by the time it ends
        await asyncio.gather(*(b.result(j, timeout_s=5) for j in first))
        await asyncio.sleep(0.03)  # the answered clients come back
        back = [b.submit(4), b.submit(5)]
        await asyncio.gather(*(b.result(j, timeout_s=5) for j in waiting + back))
        assert rec.batches == [[0, 1], [2, 3, 4, 5]]
        await b.stop()

    run(main())


def test_the_wait_is_bounded_by_a_share_of_the_last_batch() -> None:
    async def main() -> None:
        rec = Recorder()
        b = await started(rec, max_batch=4, max_wait_s=0.5, wait_fraction=0.1)
        assert b.wait_bound() == 0.5  # nothing ran yet
        rec.delay_s = 0.2
        await b.result(b.submit(1), timeout_s=5)
        assert 0.02 <= b.wait_bound() < 0.05  # a tenth of a 0.2 s batch
        rec.delay_s = 0.0
        lone = b.submit(2)
        await b.result(lone, timeout_s=5)
        assert lone.started_at is not None and lone.started_at - lone.enqueued_at < 0.1
        await b.stop()

    run(main())


def test_only_equal_keys_share_a_batch_and_the_oldest_goes_first() -> None:
    async def main() -> None:
        rec = Recorder()
        b = await started(rec, max_batch=8, max_wait_s=0.1, batch_key=lambda p: p % 2)
        jobs = [b.submit(i) for i in (1, 2, 3, 4, 5)]
        await asyncio.gather(*(b.result(j, timeout_s=5) for j in jobs))
        assert rec.batches == [[1, 3, 5], [2, 4]]
        await b.stop()

    run(main())


def test_a_full_queue_refuses_and_recovers() -> None:
    async def main() -> None:
        rec = Recorder()
        b = await started(rec, max_batch=1, queue_size=2, max_wait_s=0)
        rec.gate.clear()
        running = b.submit(0)
        await wait_until(rec.entered.is_set)
        queued = [b.submit(1), b.submit(2)]
        with pytest.raises(QueueFull, match="queue size 2"):
            b.submit(3)
        rec.gate.set()
        assert [await b.result(j, timeout_s=5) for j in [running, *queued]] == [0, 2, 4]
        assert await b.result(b.submit(4), timeout_s=5) == 8
        assert b.in_flight == 0
        await b.stop()

    run(main())


def test_an_abandoned_queued_job_frees_its_slot_at_once_and_never_runs() -> None:
    async def main() -> None:
        rec = Recorder()
        b = await started(rec, max_batch=1, max_wait_s=0)
        rec.gate.clear()
        running = b.submit(0)
        await wait_until(rec.entered.is_set)
        queued = b.submit(1)
        assert b.in_flight == 2
        b.abandon(queued)
        assert b.in_flight == 1  # freed while the model is still busy
        rec.gate.set()
        assert await b.result(running, timeout_s=5) == 0
        await wait_until(lambda: b.in_flight == 0)
        assert rec.batches == [[0]]
        await b.stop()

    run(main())


def test_abandoning_a_running_job_flags_it_for_the_backend() -> None:
    async def main() -> None:
        rec = Recorder()
        b = await started(rec, max_batch=2, max_wait_s=0)
        rec.gate.clear()
        job = b.submit(0)
        await wait_until(rec.entered.is_set)
        waiter = asyncio.ensure_future(b.result(job, timeout_s=5))
        await asyncio.sleep(0.01)
        waiter.cancel()  # what a client disconnect does to the handler's wait
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert job.cancelled.is_set() and b.running == 1
        rec.gate.set()
        await wait_until(lambda: b.in_flight == 0)
        assert rec.seen_cancelled == [True]
        await b.stop()

    run(main())


def test_a_timed_out_job_raises_and_frees_its_queue_slot() -> None:
    async def main() -> None:
        rec = Recorder()
        b = await started(rec, max_batch=1, max_wait_s=0)
        rec.gate.clear()
        b.submit(0)
        await wait_until(rec.entered.is_set)
        late = b.submit(1)
        with pytest.raises(RequestTimedOut, match="0.05 s"):
            await b.result(late, timeout_s=0.05)
        assert b.queued == 0
        rec.gate.set()
        await wait_until(lambda: b.in_flight == 0)
        await b.stop()

    run(main())


def test_backend_errors_reach_their_own_request_only() -> None:
    async def main() -> None:
        rec = Recorder()
        b = await started(rec, max_batch=4, max_wait_s=0.1)
        jobs = [b.submit(p) for p in (1, 13, 2)]
        outcomes = await asyncio.gather(*(b.result(j, timeout_s=5) for j in jobs), return_exceptions=True)
        assert outcomes[0] == 2 and outcomes[2] == 4
        assert isinstance(outcomes[1], ValueError)
        rec.fail_with = RuntimeError("engine crashed")
        crashed = await asyncio.gather(b.result(b.submit(5), timeout_s=5), return_exceptions=True)
        assert isinstance(crashed[0], RuntimeError)
        rec.fail_with = None
        assert await b.result(b.submit(6), timeout_s=5) == 12  # the dispatcher survived
        await b.stop()

    run(main())


def test_drain_refuses_new_jobs_and_waits_for_admitted_ones() -> None:
    async def main() -> None:
        rec = Recorder()
        b = await started(rec, max_batch=1, max_wait_s=0)
        rec.gate.clear()
        jobs = [b.submit(i) for i in range(3)]
        await wait_until(rec.entered.is_set)
        drain = asyncio.ensure_future(b.drain(5))
        await asyncio.sleep(0.02)
        with pytest.raises(Draining):
            b.submit(9)
        assert not drain.done()
        rec.gate.set()
        assert await drain is True
        assert [j.future.result() for j in jobs] == [0, 2, 4]
        await b.stop()

    run(main())


def test_drain_reports_a_timeout() -> None:
    async def main() -> None:
        rec = Recorder()
        b = await started(rec, max_batch=1, max_wait_s=0)
        rec.gate.clear()
        b.submit(0)
        await wait_until(rec.entered.is_set)
        assert await b.drain(0.05) is False
        rec.gate.set()
        await wait_until(lambda: b.in_flight == 0)
        await b.stop()

    run(main())
