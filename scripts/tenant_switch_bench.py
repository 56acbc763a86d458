"""What switching tenant adapters between requests costs (issue #6 target: < 50 ms).

One base model, two LoRA adapters (r=16, all linear layers, the shipped settings; random but
non-zero B so they change the output), loaded once by ``Engine``. Measured side by side, in
interleaved rounds so that machine load hits both arms alike:

* ``set_adapter``: the switch itself, alternating names (what ``Engine`` does per request);
* the same requests (half general, half tenant ``contoso`` with its catalog) grouped by tenant
  vs interleaved (a switch every request): the difference of the mean request time is the
  switch cost a caller sees (noisy on a shared machine; ``set_adapter`` is the direct number).

Run it::

    .venv/bin/python scripts/tenant_switch_bench.py                 # default SmolLM2-135M, ~2 min on 2 cores
    .venv/bin/python scripts/tenant_switch_bench.py --rounds 5 --json out.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path


def _random_adapter(base_dir: Path, out: Path, seed: int) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=torch.float32, use_safetensors=True)
    peft_model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear",
                                                  task_type="CAUSAL_LM"))
    for name, p in peft_model.named_parameters():
        if "lora_B" in name:  # B starts at 0 (a no-op adapter); make it a real one
            p.data.normal_(0.0, 0.02)
    peft_model.save_pretrained(str(out), safe_serialization=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of each arm")
    parser.add_argument("--requests", type=int, default=8, help="requests per round (even: half tenant)")
    parser.add_argument("--switches", type=int, default=200, help="set_adapter calls timed")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args()

    import torch

    from engine import Engine
    from engine.assets import default_model_dir
    from engine.tenants import generate

    torch.set_num_threads(args.threads)
    base = default_model_dir()
    texts = ["when an employee leaves, post a message in the HR channel on Teams",
             "every monday at 9, list the open purchase orders and email them to me",
             "when a new deal is won in Salesforce, create a task in Planner"]
    with tempfile.TemporaryDirectory() as tmp:
        adapters = {name: str(_random_adapter(base, Path(tmp) / name, seed))
                    for seed, name in enumerate(("general", "contoso"))}
        started = time.perf_counter()
        engine = Engine.load("workflow", model=str(base), adapters=adapters, shipped_adapter=False)
        load_s = time.perf_counter() - started

        names = ["general", "contoso"]
        switch_ms: dict[str, list[float]] = {"set_adapter": [], "set_adapter_inference_mode": []}
        for i in range(args.switches):
            for arm, kwargs in (("set_adapter", {}), ("set_adapter_inference_mode", {"inference_mode": True})):
                t0 = time.perf_counter()
                engine.model.set_adapter(names[i % 2], **kwargs)
                switch_ms[arm].append((time.perf_counter() - t0) * 1e3)

        # The same requests in two orders: grouped by tenant (one switch) or interleaved (a switch
        # every request). Same programs, same tokens; the difference is the switching.
        work = [(texts[i % len(texts)], "contoso" if i % 2 else None) for i in range(args.requests)]
        orders = {"grouped": sorted(work, key=lambda w: w[1] or ""), "interleaved": work}

        def request(text: str, tenant: str | None) -> float:
            t0 = time.perf_counter()
            generate(engine, text, tenant=tenant, adapter=None if tenant else "general", max_new_tokens=48)
            return (time.perf_counter() - t0) * 1e3

        for text, tenant in work[:2]:  # warm-up: compile both grammars, first forward passes
            request(text, tenant)
        per_request: dict[str, list[float]] = {"grouped": [], "interleaved": []}
        for _ in range(args.rounds):
            for arm, order in orders.items():
                started = time.perf_counter()
                for text, tenant in order:
                    request(text, tenant)
                per_request[arm].append((time.perf_counter() - started) * 1e3 / len(order))
    def pct(values: list[float], q: float) -> float:
        ordered = sorted(values)
        return round(ordered[int(q * (len(ordered) - 1))], 3)

    result: dict[str, object] = {
        "model": base.name,
        "engine_load_s": round(load_s, 2),
        "threads": args.threads,
        **{f"{arm}_ms": {"p50": pct(v, 0.5), "p99": pct(v, 0.99), "n": len(v)} for arm, v in switch_ms.items()},
        "request_ms_grouped_by_tenant": [round(v, 1) for v in per_request["grouped"]],
        "request_ms_interleaved": [round(v, 1) for v in per_request["interleaved"]],
        "requests_per_round": len(work),
    }
    grouped, interleaved = statistics.median(per_request["grouped"]), statistics.median(per_request["interleaved"])
    result["interleaved_over_grouped"] = round(interleaved / grouped, 4)
    result["switch_cost_per_request_ms"] = round(interleaved - grouped, 1)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
