"""How long the catalog-locked workflow grammar takes to build for a tenant, side by side.

    .venv/bin/python scripts/workflow_lock_bench.py [--connectors 50] [--repeats 20]

Writes a tenant catalog of N connectors (copies of base connectors under new names, ~5
operations each) to a temporary file, then times, per request (the tenant catalog is new each
time: nothing tenant-specific is cached):

- lock from file: read + check the tenant TOML, merge with the base catalog, write the locked
  grammar text (what `Support.locked_decoding_grammar(path)` does at request time);
- lock from Catalog: the same from an already-loaded tenant Catalog;
- base lock: the locked grammar without a tenant (operation rules cached);
- rebuild from grammar.lark: what editing the grammar per tenant would cost — read and load
  grammar.lark with Lark, then compile the decoding grammar (the reference of the ratios);
- llguidance validate / matcher: checking the locked text and building a matcher with the
  SmolLM2 tokenizer (the decoder's own cost, paid by any grammar of that size).

Prints medians and p90 in milliseconds and the ratio of each to "rebuild from grammar.lark".
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import dsl
from dsl.decoding import compile_decoding_grammar
from dsl.language import DSL
from dsl.spec import read_spec
from dsl.languages.workflow_catalog import Catalog, load_catalog


def tenant_toml(base: Catalog, n: int, tag: str) -> str:
    """A catalog file with ``n`` connectors copied from the base catalog under new names."""
    lines: list[str] = []
    for connector in list(base.connectors.values())[:n]:
        name = f"{tag}_{connector.name}"
        lines += [f"[{name}]", f"title = {json.dumps(connector.title + ' (' + tag + ')')}", ""]
        for op in connector.ops.values():
            params = ", ".join(f"{p.name} = {json.dumps(str(p.type) + ('' if p.required else '?'))}" for p in op.params)
            lines += [f"[{name}.{op.name}]", f'kind = "{op.kind}"', f"params = {{ {params} }}"]
            if op.output.kind != "none":
                lines.append(f"output = {json.dumps(str(op.output))}")
            lines += [f"say = {json.dumps(list(op.say))}", ""]
    return "\n".join(lines)


def timed(fn: Callable[[], object], repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connectors", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()

    wf = dsl.load("workflow")
    support = wf.support
    base = support.catalog
    if args.connectors > len(base.connectors):
        parser.error(f"--connectors must be <= {len(base.connectors)} (copies of base connectors)")
    support.locked_decoding_grammar()  # warm: base catalog read, base operation rules built

    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i in range(args.repeats):
            path = Path(tmp) / f"tenant{i}.toml"
            path.write_text(tenant_toml(base, args.connectors, f"t{i}"), encoding="utf-8")
            paths.append(path)
        tenant_ops = sum(len(c.ops) for c in load_catalog(paths[0], base=base).connectors.values())
        queue = iter(paths)
        from_file = timed(lambda: support.locked_decoding_grammar(next(queue)), args.repeats)
        loaded = [load_catalog(p, base=base) for p in paths]
        queue2 = iter(loaded)
        from_catalog = timed(lambda: support.locked_decoding_grammar(next(queue2)), args.repeats)
        text = support.locked_decoding_grammar(loaded[0])

    results = {
        "lock from file": from_file,
        "lock from Catalog": from_catalog,
        "base lock": timed(support.locked_decoding_grammar, args.repeats),
        "rebuild from grammar.lark": timed(lambda: compile_decoding_grammar(DSL(read_spec(wf.folder))),
                                           max(3, args.repeats // 4)),
    }
    try:
        import llguidance

        from engine.assets import default_model_dir

        tokenizer = llguidance.LLTokenizer(str(default_model_dir(quiet=True) / "tokenizer.json"))
        grammar = llguidance.grammar_from("lark", text)
        results["llguidance validate"] = timed(lambda: llguidance.LLMatcher.validate_grammar(grammar), 5)
        results["llguidance matcher (SmolLM2)"] = timed(lambda: llguidance.LLMatcher(tokenizer, grammar), 5)
    except ImportError:
        pass

    reference = statistics.median(results["rebuild from grammar.lark"])
    print(f"tenant catalog: {args.connectors} connectors, {tenant_ops} operations; base catalog "
          f"{len(base.connectors)} connectors, {len(base.apis())} operations; locked grammar {len(text):,} chars")
    print(f"{'step':32} {'median ms':>10} {'p90 ms':>8} {'vs rebuild':>11}")
    for name, samples in results.items():
        p90 = statistics.quantiles(samples, n=10)[-1] if len(samples) >= 2 else samples[0]
        median = statistics.median(samples)
        print(f"{name:32} {median:10.1f} {p90:8.1f} {median / reference:10.2f}x")


if __name__ == "__main__":
    main()
