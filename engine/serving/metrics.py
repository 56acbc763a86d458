"""Prometheus text exposition (format 0.0.4) without a client library: counters, gauges and
histograms, plus the process's current and peak resident memory.

Only what the service needs; the names follow Prometheus conventions (``_total``, ``_seconds``,
``_bytes``) so any scraper reads them.
"""

from __future__ import annotations

import bisect
import os
import resource
import threading
from collections.abc import Callable, Sequence

LabelValues = tuple[str, ...]

# Latency buckets from 5 ms (a tiny model's step) to 2 min (the default timeout).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)


class _Metric:
    kind = ""

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        self.name = name
        self.help = help_text
        self.labels = tuple(labels)
        self._lock = threading.Lock()

    def _check(self, values: LabelValues) -> None:
        if len(values) != len(self.labels):
            raise ValueError(f"{self.name} takes labels {self.labels}, got {values}")

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]

    def _label_text(self, values: LabelValues, extra: str = "") -> str:
        parts = [f'{k}="{_escape(v)}"' for k, v in zip(self.labels, values)]
        if extra:
            parts.append(extra)
        return "{" + ",".join(parts) + "}" if parts else ""


class Counter(_Metric):
    kind = "counter"

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, labels)
        self._values: dict[LabelValues, float] = {}

    def inc(self, *values: str, amount: float = 1.0) -> None:
        self._check(values)
        with self._lock:
            self._values[values] = self._values.get(values, 0.0) + amount

    def value(self, *values: str) -> float:
        return self._values.get(values, 0.0)

    def render(self) -> list[str]:
        with self._lock:
            items = sorted(self._values.items())
        lines = self.header()
        lines += [f"{self.name}{self._label_text(k)} {_num(v)}" for k, v in items]
        return lines


class Gauge(_Metric):
    """A value read when scraped (``read``), or set by the code."""

    kind = "gauge"

    def __init__(self, name: str, help_text: str, read: Callable[[], float] | None = None) -> None:
        super().__init__(name, help_text)
        self._read = read
        self._value = 0.0

    def set(self, value: float) -> None:
        self._value = value

    def value(self) -> float:
        return self._read() if self._read is not None else self._value

    def render(self) -> list[str]:
        return self.header() + [f"{self.name} {_num(self.value())}"]


class Histogram(_Metric):
    kind = "histogram"

    def __init__(self, name: str, help_text: str, buckets: Sequence[float], labels: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, labels)
        self.buckets = tuple(sorted(buckets))
        self._counts: dict[LabelValues, list[int]] = {}
        self._sums: dict[LabelValues, float] = {}

    def observe(self, value: float, *values: str) -> None:
        self._check(values)
        with self._lock:
            counts = self._counts.setdefault(values, [0] * (len(self.buckets) + 1))
            counts[bisect.bisect_left(self.buckets, value)] += 1
            self._sums[values] = self._sums.get(values, 0.0) + value

    def count(self, *values: str) -> int:
        return sum(self._counts.get(values, []))

    def render(self) -> list[str]:
        with self._lock:
            items = sorted((k, list(c), self._sums[k]) for k, c in self._counts.items())
        lines = self.header()
        for key, counts, total in items:
            running = 0
            for bound, n in zip(self.buckets, counts):
                running += n
                le = 'le="' + _num(bound) + '"'
                lines.append(f"{self.name}_bucket{self._label_text(key, le)} {running}")
            running += counts[-1]
            inf = self._label_text(key, 'le="+Inf"')
            lines.append(f"{self.name}_bucket{inf} {running}")
            lines.append(f"{self.name}_sum{self._label_text(key)} {_num(total)}")
            lines.append(f"{self.name}_count{self._label_text(key)} {running}")
        return lines


def current_rss_bytes() -> int:
    """Resident memory of this process now (``/proc/self/statm``; peak RSS where unavailable)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return peak_rss_bytes()


def peak_rss_bytes() -> int:
    """Highest resident memory of this process so far (``getrusage``: kilobytes on Linux)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


class ServeMetrics:
    """Every metric `dslforge serve` exports, in one registry."""

    def __init__(self, *, in_flight: Callable[[], float], queued: Callable[[], float]) -> None:
        self.requests = Counter("dslforge_requests_total", "HTTP requests answered, by route and status.",
                                ("route", "status"))
        self.latency = Histogram("dslforge_request_duration_seconds", "Time from request to response, by route.",
                                 LATENCY_BUCKETS, ("route",))
        self.outcomes = Counter("dslforge_generations_total",
                                "Generation requests by outcome (ok, queue_full, timeout, disconnected, draining, error).",
                                ("outcome",))
        self.tokens = Counter("dslforge_generated_tokens_total", "Tokens generated for answered requests.")
        self.queue_wait = Histogram("dslforge_queue_wait_seconds", "Time a request waited before its batch began.",
                                    LATENCY_BUCKETS)
        self.batch_size = Histogram("dslforge_batch_size", "Requests decoded together per batch.", BATCH_BUCKETS)
        self.batch_seconds = Histogram("dslforge_batch_duration_seconds", "Wall time of one batch.", LATENCY_BUCKETS)
        self.slots = Gauge("dslforge_slots_in_use", "Requests admitted and not yet answered (queued + decoding).",
                           in_flight)
        self.queued = Gauge("dslforge_queue_depth", "Requests waiting for a batch.", queued)
        self.draining = Gauge("dslforge_draining", "1 after SIGTERM while in-flight requests finish.")
        self.rss = Gauge("process_resident_memory_bytes", "Resident memory of the server process.",
                         lambda: float(current_rss_bytes()))
        self.peak_rss = Gauge("dslforge_peak_resident_memory_bytes", "Highest resident memory so far.",
                              lambda: float(peak_rss_bytes()))
        self.tasks = Gauge("dslforge_event_loop_tasks", "asyncio tasks alive (a leak shows as growth at idle).",
                           _task_count)
        self._all: list[Counter | Gauge | Histogram] = [
            self.requests, self.latency, self.outcomes, self.tokens, self.queue_wait, self.batch_size,
            self.batch_seconds, self.slots, self.queued, self.draining, self.tasks, self.rss, self.peak_rss,
        ]

    def observe_batch(self, size: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.batch_seconds.observe(seconds)

    def render(self) -> str:
        lines: list[str] = []
        for metric in self._all:
            lines += metric.render()
        return "\n".join(lines) + "\n"


def _task_count() -> float:
    import asyncio

    try:
        return float(len(asyncio.all_tasks()))
    except RuntimeError:  # no running loop (rendered outside the server)
        return 0.0


def parse_prometheus(text: str) -> dict[str, float]:
    """Samples of a Prometheus text page as ``{'name{labels}': value}`` (the load-test client
    and the tests read ``/metrics`` with it)."""
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        try:
            samples[name] = float(value)
        except ValueError:
            continue
    return samples


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
