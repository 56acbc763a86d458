"""The data card of the workflow dataset, written into docs/workflow.md.

    .venv/bin/python scripts/workflow_datacard.py [--check-only]

Reads grammars/workflow/data (as `dsl.load("workflow").examples()` does), regenerates the same
pairs in memory from generation.json (and fails if any pair differs: the data is reproducible),
re-validates every pair, and writes the statistics between the `datacard` markers of
docs/workflow.md: counts per connector, step-count histogram, constructs, request and flow
lengths (words and SmolLM2 tokens), distinct wordings per program shape, splits.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from collections import Counter, defaultdict
from pathlib import Path

import dsl
from training.datagen import DatagenConfig, generate_dataset

DOC = Path(__file__).resolve().parent.parent / "docs" / "workflow.md"
START, END = "<!-- datacard:start -->", "<!-- datacard:end -->"


def skeleton(code: str, *, with_apis: bool) -> str:
    """The control structure of a flow (literals, names and fields dropped)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", code)
    # block braces stand between spaces; object braces touch their contents ({a: 1})
    words = re.findall(r"[A-Za-z_]\w*\.[A-Za-z_]\w*(?=\()|\b(?:trigger|let|if|else|foreach)\b|(?<= )[{}](?= |$)", text)
    out = []
    for w in words:
        if "." in w:
            out.append(w if with_apis else "call")
        elif w in ("{", "}", "if", "else", "foreach"):
            out.append(w)
    return " ".join(out)


def quantiles(values: list[int]) -> str:
    q = statistics.quantiles(values, n=10)
    return f"{statistics.median(values):.0f} (p10 {q[0]:.0f}, p90 {q[-1]:.0f}, max {max(values)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check-only", action="store_true", help="verify and print, do not write the doc")
    args = parser.parse_args()

    wf = dsl.load("workflow")
    support = wf.support
    data_dir = wf.folder / "data"
    manifest = json.loads((data_dir / "generation.json").read_text(encoding="utf-8"))
    config = DatagenConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in manifest["config"].items()})
    rows = wf.examples()
    base = [r for r in rows if not r.get("tenant")]
    tenant_rows = [r for r in rows if r.get("tenant")]

    print("regenerating the dataset from generation.json ...", file=sys.stderr)
    regenerated = generate_dataset(config, language=wf)
    pairs = regenerated.pairs + regenerated.tenant_pairs
    mismatched = [p.id for p, r in zip(pairs, base + tenant_rows) if (p.id, p.text, p.code) != (r["id"], r["text"], r["code"])]
    if len(pairs) != len(rows) or mismatched:
        sys.exit(f"the shipped data differs from a regeneration ({len(mismatched)} pairs, first {mismatched[:3]}); "
                 f"rerun: {manifest['command']}")

    print("re-validating every pair ...", file=sys.stderr)
    invalid = 0
    lock_refused = 0
    for row in rows:
        tree = wf.parse(row["code"])
        invalid += bool(support.validate(tree, row["code"], extra_catalog=row.get("tenant")))
        lock_refused += not support.is_lock_valid(tree, extra_catalog=row.get("tenant"))

    from engine.assets import load_reference_tokenizer

    tokenizer = load_reference_tokenizer("smollm2")
    code_tokens = [len(tokenizer(r["code"])["input_ids"]) for r in base]
    text_tokens = [len(tokenizer(r["text"])["input_ids"]) for r in base]
    text_words = [len(r["text"].split()) for r in base]

    calls_per_connector: Counter[str] = Counter()
    flows_per_connector: Counter[str] = Counter()
    for p in regenerated.pairs:
        connectors = [api.split(".")[0] for api in p.apis]
        calls_per_connector.update(connectors)
        flows_per_connector.update(set(connectors))
    categories = {c.name: c.category for c in support.catalog.connectors.values()}
    used_ops = {api for p in regenerated.pairs for api in p.apis}

    by_shape: dict[str, set[str]] = defaultdict(set)
    by_shape_n: Counter[str] = Counter()
    by_skeleton: dict[str, set[str]] = defaultdict(set)
    by_skeleton_n: Counter[str] = Counter()
    for p in regenerated.pairs:
        shape = skeleton(p.code, with_apis=True)
        by_shape[shape].add(p.frame)
        by_shape_n[shape] += 1
        sk = skeleton(p.code, with_apis=False)
        by_skeleton[sk].add(p.frame)
        by_skeleton_n[sk] += 1
    repeated = [s for s, n in by_shape_n.items() if n >= 2]
    ratio = [len(by_shape[s]) / by_shape_n[s] for s in repeated]

    codes = [r["code"] for r in base]
    constructs = {
        "if": sum(" if " in c for c in codes), "else": sum(" else " in c for c in codes),
        "foreach": sum(" foreach " in c for c in codes), "let": sum(" let " in c for c in codes),
        "&& / ||": sum(" && " in c or " || " in c for c in codes),
        "string concatenation": sum('" + ' in c for c in codes), "object literal": sum(": {" in c for c in codes),
        "flow name": sum(c.startswith('flow "') for c in codes),
    }
    typos = sum(p.typo for p in regenerated.pairs)

    lines = [
        START,
        "",
        f"Generated by `{manifest['command']}` (training/datagen, seed {config.seed}); this section by "
        "`scripts/workflow_datacard.py`, which also regenerated every pair and found it identical.",
        "",
        "### Size and validity",
        "",
        f"- {len(base):,} base pairs and {len(tenant_rows)} tenant pairs "
        f"({', '.join(f'{t}: {n}' for t, n in sorted(Counter(r['tenant'] for r in tenant_rows).items()))}).",
        f"- Valid: {len(rows) - invalid:,} / {len(rows):,} pass the validator (tenant pairs with their tenant's "
        f"catalog); {len(rows) - lock_refused:,} / {len(rows):,} are accepted by the catalog-locked grammar.",
        f"- Operations used: {len(used_ops)} of {len(support.catalog.apis())}; connectors used: "
        f"{len(flows_per_connector)} of {len(support.catalog.connectors)}.",
        f"- Requests with a typo: {typos} ({typos / len(base):.1%}); re-drawn duplicates: {manifest['redraws']}.",
        "",
        "### Steps per flow (action calls after the trigger)",
        "",
        "| steps | pairs | share |",
        "| ---: | ---: | ---: |",
    ]
    steps = Counter(r["steps"] for r in base)
    lines += [f"| {n} | {steps[n]:,} | {steps[n] / len(base):.1%} |" for n in sorted(steps)]
    lines += ["", "Constructs (pairs containing them): " + ", ".join(f"{k} {v:,}" for k, v in constructs.items()) + ".", ""]
    lines += [
        "### Lengths",
        "",
        "| | median (p10, p90, max) |",
        "| --- | --- |",
        f"| flow, SmolLM2 tokens | {quantiles(code_tokens)} |",
        f"| request, SmolLM2 tokens | {quantiles(text_tokens)} |",
        f"| request, words | {quantiles(text_words)} |",
        "",
        "Median flow length per step count (SmolLM2 tokens): " + ", ".join(
            f"{n}: {statistics.median([t for t, r in zip(code_tokens, base) if r['steps'] == n]):.0f}" for n in sorted(steps)) + ".",
        "",
        "### Wording",
        "",
        "A *frame* is a request with its values, references, operation phrases and connector names masked",
        "(`When <op> in <app> in the <v> folder, <op> in <ref> ...`).",
        "",
        f"- {len(set(p.frame for p in regenerated.pairs)):,} distinct frames over {len(base):,} requests.",
        f"- Program shapes (control structure plus the API sequence) with at least two pairs: {len(repeated):,}; "
        f"they have {statistics.mean(ratio):.2f} distinct frames per pair on average "
        f"({sum(len(by_shape[s]) == by_shape_n[s] for s in repeated):,} of them a different frame for every pair).",
        "",
        "| control structure (calls abstracted) | pairs | distinct frames |",
        "| --- | ---: | ---: |",
    ]
    for sk, n in by_skeleton_n.most_common(8):
        lines.append(f"| `{sk}` | {n:,} | {len(by_skeleton[sk]):,} |")
    lines += [
        "",
        "### Connectors",
        "",
        "| connector | category | flows | calls |",
        "| --- | --- | ---: | ---: |",
    ]
    for name, n in sorted(flows_per_connector.items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"| {name} | {categories.get(name, 'tenant')} | {n:,} | {calls_per_connector[name]:,} |")
    lines += ["", "### Splits", "", "| scheme | split | pairs |", "| --- | --- | ---: |"]
    for scheme, table in manifest["splits"].items():
        for split, n in table.items():
            lines.append(f"| {scheme} | {split} | {n:,} |")
    lines += [
        "",
        f"`unseen_api` holds out {len(regenerated.held_out)} operations "
        f"({len(regenerated.held_out) / len(support.catalog.apis()):.0%} of the base catalog, listed in "
        "`data/held_out_apis.json`): its test split is every flow that calls one of them, its train and valid",
        "splits every other flow. `tenant` keeps each tenant's first half for training and second half for test.",
        "",
        END,
    ]
    card = "\n".join(lines)
    print(card)
    if not args.check_only:
        doc = DOC.read_text(encoding="utf-8")
        if START not in doc or END not in doc:
            sys.exit(f"{DOC} has no {START} ... {END} section to fill")
        DOC.write_text(doc[: doc.index(START)] + card + doc[doc.index(END) + len(END):], encoding="utf-8")
        print(f"wrote the data card into {DOC}", file=sys.stderr)


if __name__ == "__main__":
    main()
