"""Evaluation: decode a test split with one configuration and score every prediction.

A configuration is a base model, optionally a LoRA adapter (``--adapter DIR``) and/or
retrieved few-shot examples (``--rag K``: the K most similar training pairs, BM25), decoded
``constrained`` (the engine: grammar-constrained, always parses) or ``free`` (plain greedy
Hugging Face ``generate``, stopped by EOS or the budget). Decoding is greedy in both modes.

Per example: the prediction and the metrics of :mod:`dsl.metrics` (canonical exact match,
execution match where the DSL executes and the row has an ``answer``, parse, hallucinated
names and keys, API-sequence similarity), latency and tokens. Summary: the rates, latency
p50/p95, tokens/s.

Run it::

    dslforge eval --dsl geoquery --split test --adapter adapters/geoquery --mode constrained --out runs/eval/ft-c
    dslforge eval --dsl geoquery --split test --rag 8 --mode free --out runs/eval/rag-f
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import dsl
from dsl import DSL
from dsl.metrics import score, summarise
from training.errors import ConfigError, DataError

Mode = Literal["constrained", "free"]
ADAPTER_NAME = "tuned"  # not "eval": a peft adapter name must not shadow an nn.Module attribute


@dataclass(frozen=True)
class EvalSettings:
    """How predictions are decoded."""

    mode: Mode = "constrained"
    """constrained: the engine under the DSL grammar; free: plain greedy HF generate."""
    rag_k: int = 0
    """Retrieved few-shot examples per question (0: zero-shot prompt)."""
    max_new_tokens: int = 128
    """Token budget. GeoQuery programs take ≤ 60 SmolLM2 tokens; free decoding of a confused
    model runs to this limit, so a higher value only slows the baseline down."""

    def __post_init__(self) -> None:
        problems = []
        if self.mode not in ("constrained", "free"):
            problems.append(f"--mode must be constrained or free, got {self.mode!r}")
        if self.rag_k < 0:
            problems.append(f"--rag must be >= 0, got {self.rag_k}")
        if self.max_new_tokens <= 0:
            problems.append(f"--max-new-tokens must be > 0, got {self.max_new_tokens}")
        if problems:
            raise ConfigError(problems)


@dataclass
class EvalReport:
    """Per-example records and the summary."""

    records: list[dict[str, Any]]
    summary: dict[str, Any]


def load_eval_engine(language: DSL | str, *, base: str | Path | None = None, adapter: str | Path | None = None) -> Any:
    """An :class:`engine.Engine` on ``base`` with exactly the named adapter (or none).

    The shipped adapter is never added implicitly: an evaluation names what it measures.
    """
    from engine import Engine
    from training._warnings import third_party_warnings

    adapters = {ADAPTER_NAME: str(adapter)} if adapter is not None else None
    with third_party_warnings():
        return Engine.load(language, model=str(base) if base is not None else None, adapters=adapters,
                           shipped_adapter=False)


def evaluate_rows(engine: Any, rows: list[dict[str, Any]], *, settings: EvalSettings, retriever: Any = None,
                  progress: bool = True) -> EvalReport:
    """Decode and score ``rows`` (``text``, ``code``, optional ``answer``).

    Args:
        engine: an :class:`engine.Engine` (from :func:`load_eval_engine`).
        rows: the test rows.
        settings: mode, few-shot k, budget.
        retriever: a :class:`training.retrieval.BM25Retriever` when ``settings.rag_k > 0``.
        progress: show a progress bar (stderr).
    """
    if settings.rag_k > 0 and retriever is None:
        raise ConfigError([f"--rag {settings.rag_k} needs a retrieval pool (training rows)"])
    from tqdm.auto import tqdm

    from engine.errors import EngineError

    language = engine.dsl
    adapter = ADAPTER_NAME if ADAPTER_NAME in engine.adapters else "none"
    records = []
    if rows:
        # One untimed request first: llguidance's tokenizer and the grammar are built on first
        # use (~1 s), which would otherwise land in the first example's latency.
        with contextlib.suppress(EngineError):  # the real call on this row records any fault
            decode_one(engine, rows[0]["text"], settings=settings, adapter=adapter,
                       examples=retriever.retrieve(rows[0]["text"], k=settings.rag_k) if settings.rag_k else [])
    started = time.perf_counter()
    for row in tqdm(rows, desc=f"eval {settings.mode}", unit="ex", disable=not progress, dynamic_ncols=True):
        examples = retriever.retrieve(row["text"], k=settings.rag_k) if settings.rag_k else []
        record: dict[str, Any] = {"id": row.get("id"), "text": row["text"], "gold": row["code"]}
        t0 = time.perf_counter()
        try:
            record.update(decode_one(engine, row["text"], settings=settings, adapter=adapter, examples=examples))
            latency = time.perf_counter() - t0
            record["error"] = None
        except EngineError as e:  # a fault on one row is recorded (and counted), not fatal
            latency = time.perf_counter() - t0
            record.update(prediction="", n_tokens=0, prompt_tokens=0, finish_reason="error",
                          error=f"{type(e).__name__}: {e}")
        s = score(language, record["prediction"], row["code"], gold_answer=row.get("answer"))
        record.update(
            parsed=s.parsed, exact=s.exact, executed=s.executed,
            hallucinated_names=list(s.hallucinated_names),
            hallucinated_keys=[list(k) for k in s.hallucinated_keys],
            similarity=round(s.similarity, 4), latency_s=round(latency, 4), n_examples=len(examples),
        )
        record["_score"] = s
        records.append(record)
    wall = time.perf_counter() - started
    summary = summarise_records(records, settings=settings, wall_s=wall)
    for r in records:
        del r["_score"]
    summary["model"] = _model_name(engine)
    summary["adapter"] = adapter if adapter != "none" else None
    summary["dsl"] = language.name
    return EvalReport(records, summary)


def decode_one(engine: Any, text: str, *, settings: EvalSettings, adapter: str,
               examples: list[dict[str, Any]]) -> dict[str, Any]:
    """One prediction: ``prediction``, ``n_tokens``, ``prompt_tokens``, ``finish_reason``."""
    if settings.mode == "constrained":
        g = engine.generate(text, max_new_tokens=settings.max_new_tokens, temperature=0.0, adapter=adapter,
                            examples=examples)
        return {"prediction": g.code, "n_tokens": g.n_tokens, "prompt_tokens": g.prompt_tokens,
                "finish_reason": g.finish_reason}
    with engine.adapter_active(adapter):  # free decoding calls the model directly
        prediction, n, p, finish = free_generate(engine, text, examples=examples, max_new_tokens=settings.max_new_tokens)
    return {"prediction": prediction, "n_tokens": n, "prompt_tokens": p, "finish_reason": finish}


def free_generate(engine: Any, text: str, *, examples: list[dict[str, Any]], max_new_tokens: int
                  ) -> tuple[str, int, int, str]:
    """Unconstrained greedy decoding with the engine's model, tokenizer and prompt.

    Returns (text, generated tokens without EOS, prompt tokens, "stop" | "budget").
    """
    import torch
    from transformers import GenerationConfig

    from engine.prompting import prompt_token_ids

    tokenizer = engine.tokenizer
    ids = prompt_token_ids(tokenizer, engine.prompt(text, examples=examples))
    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    # A fresh config: the model's own generation_config may ask for sampling.
    config = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=eos, pad_token_id=pad)
    device = next(engine.model.parameters()).device
    input_ids = torch.tensor([ids], device=device)  # (1, T)
    with torch.inference_mode():
        out = engine.model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                                    generation_config=config)
    new = out[0, len(ids):].tolist()
    finish = "budget"
    if eos is not None and eos in new:
        new = new[: new.index(eos)]
        finish = "stop"
    decoded = tokenizer.decode(new, skip_special_tokens=True).strip()
    return decoded, len(new), len(ids), finish


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (``q`` in [0, 100]) of a non-empty list.

    >>> percentile([1.0, 2.0, 3.0, 4.0], 50)
    2.5
    """
    ordered = sorted(values)
    if not ordered:
        return math.nan
    pos = (len(ordered) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def summarise_records(records: list[dict[str, Any]], *, settings: EvalSettings, wall_s: float) -> dict[str, Any]:
    """The summary of a run (rates in percent, similarity in [0, 1], latency in ms)."""
    summary: dict[str, Any] = dict(summarise([r["_score"] for r in records]))
    latencies = [r["latency_s"] for r in records]
    tokens = sum(r["n_tokens"] for r in records)
    summary.update(
        mode=settings.mode,
        rag_k=settings.rag_k,
        max_new_tokens=settings.max_new_tokens,
        latency_p50_ms=round(1000 * percentile(latencies, 50), 1) if latencies else None,
        latency_p95_ms=round(1000 * percentile(latencies, 95), 1) if latencies else None,
        latency_mean_ms=round(1000 * sum(latencies) / len(latencies), 1) if latencies else None,
        tokens_per_s=round(tokens / sum(latencies), 2) if latencies and sum(latencies) > 0 else None,
        mean_prompt_tokens=round(sum(r["prompt_tokens"] for r in records) / len(records), 1) if records else None,
        mean_new_tokens=round(tokens / len(records), 1) if records else None,
        finished_by_budget=sum(r["finish_reason"] == "budget" for r in records),
        errors=sum(r["error"] is not None for r in records),
        wall_s=round(wall_s, 1),
    )
    for key in ("exact_match", "parse_rate", "hallucinated_names", "hallucinated_keys", "execution_accuracy"):
        if key in summary:
            summary[key] = round(summary[key], 2)
    if "similarity" in summary:
        summary["similarity"] = round(summary["similarity"], 4)
    return summary


def eval_rows(language: DSL, *, split: str, scheme: str | None, data: str | Path | None) -> tuple[list[dict[str, Any]], str]:
    """The rows to evaluate: a JSONL file, or the DSL's own split (``scheme``, default ``standard``)."""
    from training.prepare import read_jsonl

    if data is not None:
        return read_jsonl(data), str(data)
    chosen = scheme or "standard"
    try:
        rows = language.examples(split=split, scheme=chosen)
    except dsl.DSLError as e:
        raise DataError(f"cannot read split {split!r} of {language.name!r}: {e}; pass --scheme or --data") from e
    if not rows:
        raise DataError(f"split {chosen}/{split} of {language.name!r} is empty")
    return rows, f"{language.name} {chosen}/{split}"


def run_eval(
    *,
    language: DSL | str,
    out_dir: str | Path,
    split: str = "test",
    scheme: str | None = None,
    data: str | Path | None = None,
    adapter: str | Path | None = None,
    base: str | Path | None = None,
    settings: EvalSettings = EvalSettings(),
    train_data: str | Path | None = None,
    limit: int | None = None,
    progress: bool = True,
    command: str = "dslforge eval",
    num_threads: int | None = None,
) -> EvalReport:
    """Evaluate one configuration and write ``predictions.jsonl``, ``summary.json``, ``summary.md``
    and ``chart.png`` to ``out_dir``.

    Args:
        language: DSL name or object.
        out_dir: created if needed.
        split, scheme, data: which rows (see :func:`eval_rows`).
        adapter: a peft adapter folder (fine-tuned configuration), or None for the bare base.
        base: the base model folder (default SmolLM2-135M-Instruct).
        settings: mode, ``rag_k``, budget.
        train_data: the retrieval pool when ``rag_k > 0`` (default: the DSL's training split).
        limit: the first N rows only.
        num_threads: torch CPU threads (None: torch's default). On a shared machine 1 is steadier:
            2 threads spin at barriers whenever another process holds a core.

    Raises:
        ConfigError, DataError: bad options or rows; EngineError for unusable models/adapters.
    """
    from training.report import render_summary_markdown, write_metric_chart
    from training.retrieval import BM25Retriever
    from training.train import training_rows

    lang = dsl.load(language) if isinstance(language, str) else language
    if limit is not None and limit <= 0:
        raise ConfigError([f"--limit must be > 0, got {limit}"])
    if adapter is not None and not (Path(adapter) / "adapter_config.json").is_file():
        raise ConfigError([f"--adapter {adapter} is not a peft adapter folder (no adapter_config.json)"])
    if num_threads is not None:
        import torch

        torch.set_num_threads(num_threads)
    rows, source = eval_rows(lang, split=split, scheme=scheme, data=data)
    if limit is not None:
        rows = rows[:limit]
    retriever = None
    pool_source = None
    if settings.rag_k > 0:
        pool, pool_source = training_rows(lang, train_data, split="train")
        retriever = BM25Retriever(pool)
    engine = load_eval_engine(lang, base=base, adapter=adapter)
    report = evaluate_rows(engine, rows, settings=settings, retriever=retriever, progress=progress)
    report.summary.update(data=source, retrieval_pool=pool_source, adapter_path=str(adapter) if adapter else None,
                          command=command, configuration=configuration_name(adapter=adapter, settings=settings))

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with (out / "predictions.jsonl").open("w", encoding="utf-8") as f:
        for record in report.records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    (out / "summary.json").write_text(json.dumps(report.summary, indent=2) + "\n", encoding="utf-8")
    (out / "summary.md").write_text(render_summary_markdown(report.summary), encoding="utf-8")
    write_metric_chart([report.summary], out / "chart.png")
    return report


def configuration_name(*, adapter: Any, settings: EvalSettings) -> str:
    """A short label: ``fine-tuned + constrained``, ``base + 8-shot retrieval + free``..."""
    parts = ["fine-tuned" if adapter is not None else "base"]
    if settings.rag_k:
        parts.append(f"{settings.rag_k}-shot retrieval")
    parts.append(settings.mode)
    return " + ".join(parts)


def _model_name(engine: Any) -> str:
    config = getattr(engine.model, "config", None)
    return str(getattr(config, "_name_or_path", type(engine.model).__name__))


__all__ = ["EvalReport", "EvalSettings", "evaluate_rows", "load_eval_engine", "run_eval"]
