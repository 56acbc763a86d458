"""Latency of the fine-tuned adapter vs the retrieval few-shot baseline, measured side by side.

Separate ``dslforge eval`` runs are minutes apart on a shared machine, so their latencies drift
with the load. Here ONE engine (base model + the adapter) decodes each test question twice, in
alternating order: fine-tuned zero-shot (adapter on, short prompt) and base + K retrieved
examples (adapter off, long prompt), same mode and budget. The ratio of the two p50s, and the
median of per-question ratios, are the claim.

Run it::

    .venv/bin/python -m training.latency --dsl geoquery --adapter adapters/geoquery --rag 8 \\
        --mode constrained --n 60 --out runs/latency-geoquery.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dsl", required=True)
    parser.add_argument("--adapter", required=True)
    parser.add_argument("--rag", type=int, default=8)
    parser.add_argument("--mode", default="constrained", choices=["constrained", "free"])
    parser.add_argument("--n", type=int, default=60)
    parser.add_argument("--split", default="test")
    parser.add_argument("--scheme", default=None)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)

    import torch

    import dsl
    from training.evaluate import ADAPTER_NAME, EvalSettings, decode_one, eval_rows, load_eval_engine, percentile
    from training.retrieval import BM25Retriever
    from training.train import training_rows

    torch.set_num_threads(args.threads)
    language = dsl.load(args.dsl)
    rows, source = eval_rows(language, split=args.split, scheme=args.scheme, data=None)
    rows = rows[: args.n]
    pool, _ = training_rows(language, None, split="train")
    retriever = BM25Retriever(pool)
    engine = load_eval_engine(language, adapter=args.adapter)
    settings = {
        "fine-tuned": (EvalSettings(mode=args.mode, max_new_tokens=args.max_new_tokens), ADAPTER_NAME),
        "retrieval": (EvalSettings(mode=args.mode, rag_k=args.rag, max_new_tokens=args.max_new_tokens), "none"),
    }
    timings: dict[str, list[float]] = {name: [] for name in settings}
    tokens: dict[str, list[int]] = {name: [] for name in settings}
    prompts: dict[str, list[int]] = {name: [] for name in settings}
    for name, (s, adapter) in settings.items():  # warm-up, untimed
        decode_one(engine, rows[0]["text"], settings=s, adapter=adapter,
                   examples=retriever.retrieve(rows[0]["text"], k=s.rag_k) if s.rag_k else [])
    for i, row in enumerate(rows):
        order = list(settings) if i % 2 == 0 else list(reversed(settings))  # cancel drift
        for name in order:
            s, adapter = settings[name]
            examples = retriever.retrieve(row["text"], k=s.rag_k) if s.rag_k else []
            t0 = time.perf_counter()
            out = decode_one(engine, row["text"], settings=s, adapter=adapter, examples=examples)
            timings[name].append(time.perf_counter() - t0)
            tokens[name].append(out["n_tokens"])
            prompts[name].append(out["prompt_tokens"])
        print(f"\r{i + 1}/{len(rows)}", end="", file=sys.stderr)
    print(file=sys.stderr)
    result: dict[str, Any] = {"dsl": args.dsl, "data": source, "n": len(rows), "mode": args.mode, "rag_k": args.rag,
                              "adapter": args.adapter, "threads": args.threads, "command": "python -m training.latency "
                              + " ".join(sys.argv[1:] if argv is None else argv)}
    for name in settings:
        result[name] = {
            "p50_ms": round(1000 * percentile(timings[name], 50), 1),
            "p95_ms": round(1000 * percentile(timings[name], 95), 1),
            "mean_new_tokens": round(statistics.mean(tokens[name]), 1),
            "mean_prompt_tokens": round(statistics.mean(prompts[name]), 1),
        }
    result["p50_ratio_finetuned_over_retrieval"] = round(result["fine-tuned"]["p50_ms"] / result["retrieval"]["p50_ms"], 3)
    per_question = [a / b for a, b in zip(timings["fine-tuned"], timings["retrieval"]) if b > 0]
    result["median_per_question_ratio"] = round(statistics.median(per_question), 3)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
