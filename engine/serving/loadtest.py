"""The load-test client behind `dslforge loadtest`: closed-loop async clients (httpx) at several
concurrency levels against a running `dslforge serve`; latency percentiles, throughput, errors by
status, batch sizes and the server's peak RSS (scraped from ``/metrics``); a table and a PNG.

Every level sends the same requests (the first ``n_requests`` texts, cycled), greedy, so levels
differ only in concurrency.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from engine.serving.errors import ServeError
from engine.serving.metrics import parse_prometheus


@dataclass(frozen=True)
class LevelResult:
    """One concurrency level."""

    concurrency: int
    n_requests: int
    wall_s: float
    latencies_s: list[float]
    """Of the answered (200) requests, in completion order."""
    tokens: list[int]
    """Generated tokens of each answered request (same order)."""
    statuses: dict[str, int]
    """Count per HTTP status, or ``transport:<Error>`` when no answer came."""
    peak_rss_bytes: float
    mean_batch: float
    """Mean requests per decoded batch during the level (server-side)."""

    @property
    def ok(self) -> int:
        return self.statuses.get("200", 0)

    @property
    def errors(self) -> dict[str, int]:
        return {k: v for k, v in sorted(self.statuses.items()) if k != "200"}

    def latency(self, q: float) -> float:
        return percentile(self.latencies_s, q)

    def latency_per_token(self, q: float) -> float:
        return percentile([lat / max(n, 1) for lat, n in zip(self.latencies_s, self.tokens)], q)

    @property
    def throughput_rps(self) -> float:
        return self.ok / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def tokens_per_s(self) -> float:
        return sum(self.tokens) / self.wall_s if self.wall_s > 0 else 0.0


@dataclass(frozen=True)
class LoadReport:
    url: str
    dsl: str | None
    max_new_tokens: int
    server: dict[str, Any]
    """``/readyz`` of the server: model, DSLs, adapters."""
    levels: list[LevelResult] = field(default_factory=list)

    def ratio(self, attribute: str, high: int, low: int) -> float | None:
        """``attribute`` at concurrency ``high`` over its value at ``low`` (None if missing)."""
        by_level = {lv.concurrency: lv for lv in self.levels}
        if high not in by_level or low not in by_level:
            return None
        a, b = _value(by_level[high], attribute), _value(by_level[low], attribute)
        return a / b if b else None


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def load_texts(path: Path | None, dsl_name: str | None) -> list[str]:
    """Request texts: a JSONL file's ``text`` fields, else the DSL's test split (all examples
    when it declares no splits).

    Raises:
        ServeError: when the file is missing, malformed or holds no text.
    """
    if path is not None:
        texts: list[str] = []
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as e:
            raise ServeError(f"--texts {str(path)!r} cannot be read: {e.strerror}") from e
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ServeError(f"{path}:{number}: not JSON ({e.msg})") from e
            if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                raise ServeError(f"{path}:{number}: a row needs a string field 'text'")
            texts.append(row["text"])
        if not texts:
            raise ServeError(f"--texts {str(path)!r} holds no rows")
        return texts
    import dsl

    language = dsl.load(dsl_name or "geoquery")
    rows = language.examples("test") if language.spec.data.splits else language.examples()
    if not rows:
        raise ServeError(f"DSL {language.name!r} ships no examples; pass --texts FILE")
    return [r["text"] for r in rows]


def run(
    url: str,
    *,
    levels: list[int],
    n_requests: int,
    texts: list[str],
    dsl: str | None = None,
    max_new_tokens: int = 64,
    api_key: str | None = None,
    timeout_s: float = 300.0,
    warm_up: int = 2,
) -> LoadReport:
    """Run every level in turn and return the report.

    Raises:
        ServeError: bad arguments, or the server is not ready.
    """
    problems = []
    if not levels or any(c < 1 for c in levels):
        problems.append(f"--concurrency levels must be positive, got {levels}")
    if n_requests < 1:
        problems.append(f"--requests must be >= 1, got {n_requests}")
    if not texts:
        problems.append("no request texts")
    if problems:
        raise ServeError("; ".join(problems))
    return asyncio.run(_run(url.rstrip("/"), levels, n_requests, texts, dsl, max_new_tokens, api_key, timeout_s,
                            warm_up))


async def _run(url: str, levels: list[int], n_requests: int, texts: list[str], dsl: str | None,
               max_new_tokens: int, api_key: str | None, timeout_s: float, warm_up: int) -> LoadReport:
    import httpx

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    limits = httpx.Limits(max_connections=max(levels) + 4, max_keepalive_connections=max(levels) + 4)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=timeout_s, limits=limits) as client:
        try:
            ready = await client.get("/readyz")
        except httpx.HTTPError as e:
            raise ServeError(f"cannot reach {url}: {type(e).__name__}: {e}") from e
        if ready.status_code != 200:
            raise ServeError(f"{url}/readyz answered {ready.status_code}: {ready.text[:200]}")
        report = LoadReport(url=url, dsl=dsl, max_new_tokens=max_new_tokens, server=ready.json())
        bodies = [{"text": texts[i % len(texts)], "max_new_tokens": max_new_tokens, "temperature": 0.0,
                   **({"dsl": dsl} if dsl else {})} for i in range(n_requests)]
        for body in bodies[:warm_up]:
            await client.post("/v1/generate", json=body)
        for concurrency in levels:
            report.levels.append(await _level(client, bodies, concurrency))
    return report


async def _level(client: Any, bodies: list[dict[str, Any]], concurrency: int) -> LevelResult:
    import httpx

    before = parse_prometheus((await client.get("/metrics")).text)
    latencies: list[float] = []
    tokens: list[int] = []
    statuses: Counter[str] = Counter()
    queue = list(reversed(bodies))

    async def worker() -> None:
        while queue:
            body = queue.pop()
            started = time.perf_counter()
            try:
                response = await client.post("/v1/generate", json=body)
            except httpx.HTTPError as e:
                statuses[f"transport:{type(e).__name__}"] += 1
                continue
            statuses[str(response.status_code)] += 1
            if response.status_code == 200:
                latencies.append(time.perf_counter() - started)
                tokens.append(int(response.json().get("n_tokens", 0)))

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    after = parse_prometheus((await client.get("/metrics")).text)
    batches = after.get("dslforge_batch_size_count", 0) - before.get("dslforge_batch_size_count", 0)
    rows = after.get("dslforge_batch_size_sum", 0) - before.get("dslforge_batch_size_sum", 0)
    return LevelResult(
        concurrency=concurrency, n_requests=len(bodies), wall_s=wall, latencies_s=latencies, tokens=tokens,
        statuses=dict(statuses), peak_rss_bytes=after.get("dslforge_peak_resident_memory_bytes", float("nan")),
        mean_batch=rows / batches if batches else float("nan"),
    )


def markdown_table(report: LoadReport) -> str:
    """The report as a Markdown table plus the ratios the issue sets targets for."""
    lines = [
        "| concurrency | requests | ok | errors | p50 s | p95 s | p99 s | p95 ms/token | req/s | tokens/s | mean batch | server peak RSS MB |",
        "|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for lv in report.levels:
        errors = ", ".join(f"{k}: {v}" for k, v in lv.errors.items()) or "0"
        lines.append(
            f"| {lv.concurrency} | {lv.n_requests} | {lv.ok} | {errors} | {lv.latency(50):.2f} | {lv.latency(95):.2f} | "
            f"{lv.latency(99):.2f} | {1000 * lv.latency_per_token(95):.1f} | {lv.throughput_rps:.2f} | "
            f"{lv.tokens_per_s:.1f} | {lv.mean_batch:.2f} | {lv.peak_rss_bytes / 1e6:.0f} |")
    low, high = min(lv.concurrency for lv in report.levels), max(lv.concurrency for lv in report.levels)
    if high != low:
        throughput = report.ratio("throughput_rps", high, low)
        per_token = report.ratio("p95_per_token", high, low)
        lines.append("")
        lines.append(f"- throughput at concurrency {high} / at {low}: {_fmt(throughput)} (target >= 4)")
        lines.append(f"- p95 latency per generated token at concurrency {high} / at {low}: {_fmt(per_token)} "
                     "(target <= 3)")
    return "\n".join(lines)


def write_outputs(report: LoadReport, out: Path) -> list[Path]:
    """``loadtest.json`` (every latency), ``loadtest.md`` (the table) and ``loadtest.png``."""
    out.mkdir(parents=True, exist_ok=True)
    data = asdict(report)
    for raw, lv in zip(data["levels"], report.levels):
        raw.update({"p50_s": lv.latency(50), "p95_s": lv.latency(95), "p99_s": lv.latency(99),
                    "p95_s_per_token": lv.latency_per_token(95), "throughput_rps": lv.throughput_rps,
                    "tokens_per_s": lv.tokens_per_s})
    paths = [out / "loadtest.json", out / "loadtest.md", out / "loadtest.png"]
    paths[0].write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    paths[1].write_text(markdown_table(report) + "\n", encoding="utf-8")
    _plot(report, paths[2])
    return paths


def _plot(report: LoadReport, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display; chosen before pyplot loads
    import matplotlib.pyplot as plt

    levels = [lv.concurrency for lv in report.levels]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for q in (50, 95, 99):
        left.plot(levels, [lv.latency(q) for lv in report.levels], marker="o", label=f"p{q}")
    left.set(xlabel="concurrent clients", ylabel="latency (s)", xscale="log", title="Latency")
    left.set_xticks(levels, [str(c) for c in levels])
    left.legend()
    right.plot(levels, [lv.throughput_rps for lv in report.levels], marker="o", color="tab:green")
    right.set(xlabel="concurrent clients", ylabel="requests / s", xscale="log", title="Throughput")
    right.set_xticks(levels, [str(c) for c in levels])
    model = report.server.get("model", "?")
    fig.suptitle(f"dslforge serve — {model}, max_new_tokens={report.max_new_tokens}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _value(level: LevelResult, attribute: str) -> float:
    if attribute == "p95_per_token":
        return level.latency_per_token(95)
    return float(getattr(level, attribute))


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"
