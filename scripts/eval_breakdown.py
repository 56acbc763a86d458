"""Where the misses of one `dslforge eval` run come from: a markdown breakdown for docs/RESULTS.md.

    .venv/bin/python scripts/eval_breakdown.py runs/workflow/iid-ft-constrained --adapter adapters/workflow

Tables from ``predictions.jsonl``:

* exact match by the size of the gold program (number of API calls): whether long programs are
  what the model misses;
* each miss in one class, first match wins: *unparseable*; *right calls, wrong details* (the
  API-call sequence equals the gold one, so an argument value, a condition or the nesting
  differs); *wrong calls* (the sequences differ);
* with ``--adapter``: exact match by how often the rarest API of the gold program occurs in the
  pairs that adapter was trained on (rebuilt from its ``training_summary.json`` and checked
  against the recorded hash): whether the model misses what it has rarely seen;
* with ``--held-out FILE`` (a JSON list of API names, or ``{scheme: [...]}`` such as
  ``grammars/workflow/data/held_out_apis.json``): how many predictions call a held-out API at
  all, and how many call every held-out API their gold program calls.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import dsl


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="an output folder of `dslforge eval`")
    parser.add_argument("--adapter", type=Path, help="the adapter evaluated: also break down by training frequency")
    parser.add_argument("--held-out", type=Path, help="JSON of API names held out of training")
    args = parser.parse_args()
    summary = json.loads((args.run / "summary.json").read_text(encoding="utf-8"))
    language = dsl.load(summary["dsl"])
    rows = [json.loads(line) for line in (args.run / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]

    seen = _training_api_counts(language, args.adapter) if args.adapter else None
    by_seen: dict[str, list[bool]] = {}
    by_size: dict[str, list[bool]] = {}
    misses: Counter[str] = Counter()
    for row in rows:
        gold_calls = language.api_calls(row["gold"])
        bucket = _bucket(len(gold_calls))
        by_size.setdefault(bucket, []).append(bool(row["exact"]))
        if seen is not None:
            rarest = min((seen[name] for name in gold_calls), default=0)
            by_seen.setdefault(_seen_bucket(rarest), []).append(bool(row["exact"]))
        if row["exact"]:
            continue
        if not row["parsed"]:
            misses["unparseable"] += 1
        elif language.api_calls(row["prediction"] or "") == gold_calls:
            misses["right calls, wrong details"] += 1
        else:
            misses["wrong calls"] += 1

    print(f"{summary.get('configuration')}, {len(rows)} rows of {summary.get('data')}\n")
    print("| API calls in the gold program | rows | exact % |\n|---|---:|---:|")
    for bucket in sorted(by_size, key=lambda b: int(b.split("–")[0].rstrip("+"))):
        hits = by_size[bucket]
        print(f"| {bucket} | {len(hits)} | {100 * sum(hits) / len(hits):.0f} |")
    if seen is not None:
        print("\n| rarest gold API: pairs in training | rows | exact % |\n|---|---:|---:|")
        for bucket in [b for b in _SEEN_BUCKETS if b in by_seen]:
            hits = by_seen[bucket]
            print(f"| {bucket} | {len(hits)} | {100 * sum(hits) / len(hits):.0f} |")
    if args.held_out:
        held = _held_out(args.held_out, summary.get("data") or "")
        calls = [(set(language.api_calls(r["prediction"] or "")), set(language.api_calls(r["gold"]))) for r in rows]
        any_held = sum(bool(held & predicted) for predicted, _ in calls)
        all_gold_held = sum((held & gold) <= predicted for predicted, gold in calls)
        print(f"\n{len(held)} held-out APIs: {any_held} of {len(rows)} predictions call one; "
              f"{all_gold_held} call every held-out API of their gold program")
    total = sum(misses.values())
    print(f"\n| miss | rows | share of misses |\n|---|---:|---:|")
    for kind in ("right calls, wrong details", "wrong calls", "unparseable"):
        print(f"| {kind} | {misses[kind]} | {100 * misses[kind] / max(1, total):.0f}% |")


_SEEN_BUCKETS = ["0", "1–4", "5–9", "10–19", "20+"]


def _seen_bucket(count: int) -> str:
    if count >= 20:
        return "20+"
    if count >= 10:
        return "10–19"
    if count >= 5:
        return "5–9"
    return "1–4" if count else "0"


def _held_out(path: Path, data: str) -> set[str]:
    """The held-out names; from a ``{scheme: names}`` file, the scheme named in the eval's data."""
    loaded = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(loaded, dict):
        scheme = next((key for key in loaded if f" {key}/" in f" {data}"), None)
        if scheme is None:
            raise SystemExit(f"{path} has schemes {sorted(loaded)}; the eval's data ({data!r}) names none of them")
        loaded = loaded[scheme]
    return set(loaded)


def _training_api_counts(language: dsl.DSL, adapter: Path) -> Counter[str]:
    """In how many of the adapter's training pairs each API occurs (the seeded subsample rebuilt)."""
    from training.train import rows_sha256, sample_rows, training_rows

    summary = json.loads((adapter / "training_summary.json").read_text(encoding="utf-8"))
    source = summary["data"]["source"]
    rows, _ = training_rows(language, None if "shipped data" in source else source)
    train_cfg = summary["config"]["train"]
    rows = sample_rows(rows, max_examples=train_cfg["max_examples"], seed=train_cfg["seed"])
    if rows_sha256(rows) != summary["data"]["sha256"]:
        raise SystemExit(f"could not rebuild the training pairs of {adapter}: their hash differs from the summary's")
    return Counter(name for row in rows for name in set(language.api_calls(row["code"])))


def _bucket(calls: int) -> str:
    for low, high in ((1, 2), (3, 4), (5, 6)):
        if low <= calls <= high:
            return f"{low}–{high}"
    return "7+" if calls > 6 else "0"


if __name__ == "__main__":
    main()
