"""Benchmark the engine against plain Hugging Face `generate` and Outlines' `Generator(CFG)`.

Same model, prompts and greedy settings for all three, interleaved prompt by prompt so that load
from other processes falls on all of them alike. Also: grammar-mask time per token with three
tokenizers (SmolLM2 49k, Mistral v1 32k, tekken 131k), the share of forced tokens, and the time
to compile a new grammar in a warm process. Writes the tables to docs/BENCHMARKS.md.

Run:
    make bench
    .venv/bin/python scripts/bench.py --prompts 6 --max-new-tokens 40 --write docs/BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


@dataclass
class Runs:
    """Per method: seconds, tokens and whether the text parsed, one entry per prompt."""

    seconds: list[float] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    parsed: list[bool] = field(default_factory=list)

    def add(self, seconds: float, tokens: int, parsed: bool) -> None:
        self.seconds.append(seconds)
        self.tokens.append(tokens)
        self.parsed.append(parsed)

    @property
    def per_program(self) -> float:
        return statistics.mean(self.seconds)

    @property
    def tokens_per_s(self) -> float:
        return sum(self.tokens) / sum(self.seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsl", default="geoquery")
    parser.add_argument("--prompts", type=int, default=6, help="test questions, decoded by all three methods")
    parser.add_argument("--max-new-tokens", type=int, default=40)
    parser.add_argument("--shots", type=int, default=0, help="retrieved examples in each prompt")
    parser.add_argument("--mask-programs", type=int, default=120, help="gold programs replayed for mask timing")
    # One thread: this 2-core machine is shared, and two OpenMP threads stall at every barrier
    # when a core is taken (a 34-token forward of SmolLM2 took 8 s with 2 threads, 0.4 s with 1).
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    parser.add_argument("--write", default=str(REPO / "docs" / "BENCHMARKS.md"), help="markdown output ('' to skip)")
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    speed, first_calls, engine_stats = bench_speed(args)
    masks = bench_masks(args)
    compile_times = bench_compile()
    load_after = os.getloadavg()
    report = render(args, speed, first_calls, engine_stats, masks, compile_times, load_before, load_after)
    print(report)
    if args.write:
        Path(args.write).write_text(report, encoding="utf-8")
        print(f"written to {args.write}", file=sys.stderr)


# -- (a) HF generate, (b) Outlines Generator(CFG), (c) the fast path ------------------------------
def bench_speed(args: argparse.Namespace) -> tuple[dict[str, Runs], dict[str, float], dict[str, float]]:
    import outlines
    import torch
    from transformers import GenerationConfig
    from transformers.utils import logging as hf_logging

    import dsl
    from dslforge.commands.generate import retrieve_examples
    from engine import Engine
    from engine.prompting import prompt_token_ids

    hf_logging.disable_progress_bar()
    engine = Engine.load(args.dsl, shipped_adapter=False)  # the base model for all three
    language = engine.dsl
    model, tokenizer = engine.model, engine.tokenizer
    questions = [r["text"] for r in _test_rows(language)[: args.prompts]]
    prompts = {q: engine.prompt(q, examples=retrieve_examples(language, q, args.shots) if args.shots else []) for q in questions}

    eos = tokenizer.eos_token_id
    hf_config = GenerationConfig(max_new_tokens=args.max_new_tokens, do_sample=False, eos_token_id=eos, pad_token_id=eos)
    stock = outlines.from_transformers(model, _private(tokenizer))
    stock.type_adapter.has_chat_template = False  # the prompt is already templated, as for (a) and (c)

    def run_hf(question: str) -> tuple[float, int, bool]:
        ids = torch.tensor([prompt_token_ids(tokenizer, prompts[question])], device=model.device)
        started = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), generation_config=hf_config)
        seconds = time.perf_counter() - started
        new = out[0, ids.shape[1] :].tolist()
        new = new[: new.index(eos)] if eos in new else new
        return seconds, len(new), language.is_valid_syntax(tokenizer.decode(new).strip())

    grammar_text = engine._grammar_text(None)
    generator_holder: dict[str, object] = {}
    steps = [0]

    def run_outlines(question: str) -> tuple[float, int, bool]:
        started = time.perf_counter()
        if "g" not in generator_holder:  # stock: built on first use, as a user would
            generator_holder["g"] = generator = outlines.Generator(stock, outlines.types.CFG(grammar_text))
            processor = generator.logits_processor
            original = processor.process_logits

            def counting(input_ids, logits):  # instrumentation only: one call per generated token
                steps[0] += 1
                return original(input_ids, logits)

            processor.process_logits = counting
        steps[0] = 0
        text = generator_holder["g"](prompts[question], max_new_tokens=args.max_new_tokens, do_sample=False)
        seconds = time.perf_counter() - started
        tokens = steps[0]
        code = text[1:] if text.startswith(" ") else text
        return seconds, tokens, language.is_valid_syntax(code)

    totals = {"n_tokens": 0, "n_forced": 0, "n_fast_forward": 0, "mask_s": 0.0, "decode_s": 0.0}

    def run_fast(question: str) -> tuple[float, int, bool]:
        started = time.perf_counter()
        g = engine.generate(question, max_new_tokens=args.max_new_tokens,
                            examples=retrieve_examples(language, question, args.shots) if args.shots else [])
        seconds = time.perf_counter() - started
        for key in ("n_tokens", "n_forced", "n_fast_forward"):
            totals[key] += getattr(g, key)
        totals["mask_s"] += g.timings.mask_s
        totals["decode_s"] += g.timings.decode_s
        return seconds, g.n_tokens, language.is_valid_syntax(g.code)

    methods = {"a": run_hf, "b": run_outlines, "c": run_fast}
    first_calls = {}
    for name, method in methods.items():  # warm-up (first calls reported separately)
        first_calls[name] = method(questions[0])[0]
    for key in totals:
        totals[key] = 0 if key.startswith("n_") else 0.0
    runs = {name: Runs() for name in methods}
    for question in questions:
        for name, method in methods.items():
            runs[name].add(*method(question))
        print(f"  {question[:50]!r}: " + ", ".join(f"{n} {runs[n].seconds[-1]:.2f}s" for n in methods), file=sys.stderr)
    return runs, first_calls, totals


def _private(tokenizer):
    import copy

    return copy.deepcopy(tokenizer)  # Outlines sets padding_side / pad token on what it gets


def _test_rows(language):
    try:
        return language.examples("test")
    except Exception:
        return language.examples()


# -- mask time per token ------------------------------------------------------------------------
def bench_masks(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Replay gold programs token by token: time each grammar mask the engine computes (the
    fast path takes llguidance fast-forward tokens without one), and, for reference, a mask
    at every token as Outlines does."""
    import llguidance

    import dsl
    from engine import sampling
    from engine.assets import load_reference_tokenizer
    from engine.constraint import compile_grammar, grammar_slices, llg_tokenizer_for

    language = dsl.load(args.dsl)
    programs = [language.format(r["code"]) for r in language.examples()[: args.mask_programs]]
    results = {}
    for name in ("smollm2", "mistral-v1", "tekken"):
        text = language.decoding_grammar()
        tokenizer = load_reference_tokenizer(name)
        llg = llg_tokenizer_for(tokenizer, grammar_slices(text))  # as the engine builds it
        grammar = compile_grammar(text, llg)
        stock = compile_grammar(text, llg_tokenizer_for(tokenizer))  # llguidance's default slices
        executor = llguidance.LLExecutor()
        bitmask = sampling.allocate_bitmask(1, llg.vocab_size)
        engine_us: list[float] = []  # CPU time of the masks the engine computes
        engine_wall: list[float] = []
        every_us: list[float] = []
        tokens = forwarded = 0

        def timed(matcher) -> tuple[float, float]:
            wall, cpu = time.perf_counter(), time.thread_time()
            sampling.fill_bitmask(executor, [(matcher, 0)], bitmask)  # one row: this thread
            return (time.thread_time() - cpu) * 1e6, (time.perf_counter() - wall) * 1e6

        for program in programs:
            gold = list(llg.tokenize_str(program))
            matcher, reference = grammar.new_matcher(), stock.new_matcher()
            position = 0
            while position < len(gold):
                forward = list(matcher.compute_ff_tokens())
                if forward and gold[position : position + len(forward)] == forward:
                    matcher.consume_tokens(forward)
                    forwarded += len(forward)
                else:
                    cpu, wall = timed(matcher)
                    engine_us.append(cpu)
                    engine_wall.append(wall)
                    forward = gold[position : position + 1]
                    matcher.consume_tokens(forward)
                for token in forward:
                    every_us.append(timed(reference)[0])
                    reference.consume_token(token)
                position += len(forward)
            tokens += len(gold)
        results[name] = {
            "vocab": llg.vocab_size,
            "tokens": tokens,
            "p50": _percentile(engine_us, 50),
            "p99": _percentile(engine_us, 99),
            "per_token": sum(engine_us) / tokens,
            "wall_p50": _percentile(engine_wall, 50),
            "wall_p99": _percentile(engine_wall, 99),
            "every_p50": _percentile(every_us, 50),
            "every_p99": _percentile(every_us, 99),
            "forwarded": forwarded / tokens,
        }
        print(f"  masks {name}: {results[name]}", file=sys.stderr)
    return results


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


# -- compiling a new grammar in a warm process ----------------------------------------------------
def bench_compile() -> dict[str, tuple[float, float]]:
    """(llguidance part, completer part) in ms, for each DSL, tokenizer already built."""
    import llguidance

    import dsl
    from dsl.completion import Completer
    from engine.assets import load_reference_tokenizer
    from engine.constraint import llg_tokenizer_for

    llg = llg_tokenizer_for(load_reference_tokenizer("smollm2"))
    found = {}
    for name in dsl.available():
        language = dsl.load(name)
        locked = getattr(language.support, "locked_decoding_grammar", None)
        text = locked() if locked else language.decoding_grammar()
        started = time.perf_counter()
        grammar = llguidance.LLMatcher.grammar_from_lark(text)
        llguidance.LLMatcher.validate_grammar(grammar, llg)
        llguidance.LLMatcher(llg, grammar, log_level=0)
        middle = time.perf_counter()
        Completer.from_grammar(text)
        found[name] = ((middle - started) * 1e3, (time.perf_counter() - middle) * 1e3)
    return found


# -- report ---------------------------------------------------------------------------------------
def render(args, speed, first_calls, totals, masks, compile_times, load_before, load_after) -> str:
    import torch

    a, b, c = speed["a"], speed["b"], speed["c"]
    command = " ".join(["python scripts/bench.py", *sys.argv[1:]])
    lines = [
        "# Benchmarks",
        "",
        f"Command: `{command}` (what `make bench` runs). Written by the script; rerun to refresh.",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} torch threads; load average {load_before[0]:.1f} before / "
        f"{load_after[0]:.1f} after (other jobs share this machine: compare the ratios, measured "
        "side by side, not the absolute times).",
        f"Model: SmolLM2-135M-Instruct (fp32, CPU), DSL `{args.dsl}`, {len(a.seconds)} test questions, "
        f"{args.shots} examples per prompt, greedy, `max_new_tokens={args.max_new_tokens}`.",
        "",
        "## Speed: (a) plain HF generate, (b) Outlines Generator + CFG, (c) the engine's fast path",
        "",
        "| method | s / program | tokens / program | tokens / s | programs that parse | first call (s) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for key, label, runs in (("a", "(a) HF `generate`, unconstrained", a), ("b", "(b) Outlines `Generator(CFG)`", b),
                             ("c", "(c) engine fast path", c)):
        lines.append(
            f"| {label} | {runs.per_program:.2f} | {statistics.mean(runs.tokens):.1f} | {runs.tokens_per_s:.1f} | "
            f"{sum(runs.parsed)}/{len(runs.parsed)} | {first_calls[key]:.2f} |"
        )
    per_prompt_ca = statistics.median(ci / ai for ci, ai in zip(c.seconds, a.seconds))
    per_prompt_cb = statistics.median(ci / bi for ci, bi in zip(c.seconds, b.seconds))
    lines += [
        "",
        f"Ratios per program (mean s / program): **c/a = {c.per_program / a.per_program:.2f}** (target ≤ 0.8), "
        f"**c/b = {c.per_program / b.per_program:.2f}** (target ≤ 0.7); medians of the per-prompt ratios: "
        f"c/a {per_prompt_ca:.2f}, c/b {per_prompt_cb:.2f}.",
        "",
        f"Forced tokens on the fast path: {totals['n_fast_forward']} of {totals['n_tokens']} "
        f"({totals['n_fast_forward'] / max(1, totals['n_tokens']):.0%}) fast-forwarded by the grammar (fed "
        f"to the model in the same forward pass, no mask), {totals['n_forced']} "
        f"({totals['n_forced'] / max(1, totals['n_tokens']):.0%}) forced by the budget.",
        "",
        "## Grammar mask time",
        "",
        f"Gold `{args.dsl}` programs replayed token by token ({args.mask_programs} programs), CPU time "
        "of the thread computing the mask (wall time, last column, includes preemption by the other "
        "jobs on this machine). *Engine*: masks the fast path computes (none for fast-forward "
        "tokens; slices from the grammar's repeated character classes), µs per mask, and total mask "
        "time divided by all tokens. *Every token*: a mask before each token with llguidance's "
        "default tokenizer, as Outlines does.",
        "",
        "| tokenizer | vocab | engine p50 (µs) | engine p99 (µs) | engine µs / token | every token p50 | every token p99 | fast-forwarded | wall p50 / p99 (µs) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, m in masks.items():
        lines.append(
            f"| {name} | {m['vocab']:,} | {m['p50']:.0f} | {m['p99']:.0f} | {m['per_token']:.0f} | "
            f"{m['every_p50']:.0f} | {m['every_p99']:.0f} | {m['forwarded']:.0%} | {m['wall_p50']:.0f} / {m['wall_p99']:.0f} |"
        )
    lines += [
        "",
        "Targets: p50 ≤ 50 µs, p99 ≤ 400 µs (raw llguidance measured before the engine: p50 60–94 µs, "
        "p99 160–340 µs).",
        "",
        "## A new grammar in a warm process (tokenizer already built)",
        "",
        "| DSL | llguidance: validate + matcher (ms) | completer: Lark LALR tables (ms) |",
        "|---|---:|---:|",
    ]
    for name, (llg_ms, completer_ms) in compile_times.items():
        lines.append(f"| {name} | {llg_ms:.0f} | {completer_ms:.0f} |")
    lines += [
        "",
        "The completer (shortest completions for the budget guarantee) is built once per grammar "
        "text and cached; the catalog-locked workflow grammar is large, so its LALR tables take "
        "longest. Target for the first request of a new grammar: < 100 ms.",
        "",
        "## Notes",
        "",
        "- Why (c) is faster: it stops as soon as the program is complete (no EOS step), feeds the "
        "grammar's fast-forward tokens to the model in the same forward pass as the chosen token, "
        "skips the mask for them, and keeps its own KV cache. (a) runs to EOS or the budget; (b) "
        "masks every token, moves the bitmask per row, and forwards one token per step.",
        "- (a) and (b) return programs that do not parse when the budget ends first (here, with "
        "an untuned model, always); (c) closes the program within the budget "
        "(`finish_reason=\"budget\"`), so its tokens per program are close to the budget too.",
        "- Mask p50 comes from llguidance itself on the canonical grammar (no free whitespace); "
        "p99 from the tokens inside quoted names, cut by the grammar-derived slices. Wall-clock "
        "p99 also counts preemption by the other jobs of this shared machine.",
        "- What misses a target: a new catalog-locked workflow grammar (a new `extra_catalog`) "
        "costs seconds once, in Lark's LALR construction for the completer, not in llguidance; it "
        "is cached per grammar text afterwards. geoquery meets the target.",
        "- Torch threads: with 2 threads on this shared 2-core machine a 34-token SmolLM2 forward "
        "took 8 s (OpenMP barriers wait for a preempted core), with 1 thread 0.4 s; all three "
        "methods run under the same setting.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
