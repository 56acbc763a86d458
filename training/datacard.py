"""The data card of a prepared data set: counts, reject reasons, and grammar/catalog coverage.

Coverage answers "what can the model not learn from this training split?": grammar rules that
no training program uses, keywords (identifier-like literals such as ``capital``) that never
occur, and — where the DSL has a catalog — API names never called.
"""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING, Any

from lark.lexer import PatternStr

from dsl import DSL, DSLSyntaxError
from dsl.language import iter_trees

if TYPE_CHECKING:
    from training.prepare import Prepared


def grammar_names(language: DSL) -> tuple[set[str], set[str]]:
    """(rule names that can appear in a parse tree, identifier-like keyword literals)."""
    rules: set[str] = set()
    for rule in language.lark.rules:
        name = rule.alias or rule.origin.name
        if name.startswith("_"):
            continue  # _rules are inlined by Lark and never appear in trees
        if rule.options.expand1 and rule.alias is None:
            continue  # ?rule: inlined when it has one child, so its absence says nothing
        rules.add(str(name))
    keywords = {
        t.pattern.value for t in language.lark.terminals
        if isinstance(t.pattern, PatternStr) and t.pattern.value.isidentifier()
    }
    return rules, keywords


def coverage(language: DSL, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """What the programs in ``rows`` use of the grammar and catalog, and what they never use."""
    rules, keywords = grammar_names(language)
    seen_rules: set[str] = set()
    seen_keywords: set[str] = set()
    seen_apis: set[str] = set()
    for row in rows:
        try:
            tree = language.parse(row["code"])
            tokens = language.tokens(row["code"])
        except DSLSyntaxError:
            continue  # clean rows always parse; tolerate hand-made inputs
        seen_rules.update(str(t.data) for t in iter_trees(tree))
        seen_keywords.update(str(t) for t in tokens if str(t) in keywords)
        seen_apis.update(language.api_calls(row["code"]))
    result: dict[str, Any] = {
        "rules_total": len(rules),
        "rules_unused": sorted(rules - seen_rules),
        "keywords_total": len(keywords),
        "keywords_unused": sorted(keywords - seen_keywords),
    }
    known_apis = language.support.known_apis()
    if known_apis is not None:
        result["catalog_apis_total"] = len(known_apis)
        result["catalog_apis_unused"] = sorted(known_apis - seen_apis)
        result["catalog_apis_used"] = len(known_apis & seen_apis)
    return result


def build_card(language: DSL, prepared: Prepared, schemes: dict[str, dict[str, list[dict[str, Any]]]], *,
               input_path: Any, input_sha256: str, seed: int) -> dict[str, Any]:
    """The card as plain data (JSON-ready)."""
    rows = prepared.rows
    splits = {scheme: {name: len(r) for name, r in parts.items()} for scheme, parts in schemes.items()}
    coverage_by_scheme = {}
    for scheme, parts in schemes.items():
        if "train" in parts:
            coverage_by_scheme[scheme] = coverage(language, parts["train"])
    overlap = {}
    from training.prepare import normalise_text

    for scheme, parts in schemes.items():
        if "train" in parts:
            train_texts = {normalise_text(r["text"]) for r in parts["train"]}
            for name, part in parts.items():
                if name != "train" and part:
                    shared = sum(normalise_text(r["text"]) in train_texts for r in part)
                    overlap[f"{scheme}/{name}"] = shared
    return {
        "dsl": language.name,
        "input": str(input_path),
        "input_sha256": input_sha256,
        "seed": seed,
        "lines": prepared.lines,
        "blank_lines": prepared.blank_lines,
        "accepted": len(rows),
        "rejected": len(prepared.rejects),
        "reject_reasons": prepared.reject_counts(),
        "splits": splits,
        "test_questions_also_in_train": overlap,
        "text_words": _stats([len(r["text"].split()) for r in rows]),
        "code_chars": _stats([len(r["code"]) for r in rows]),
        "coverage": coverage_by_scheme,
    }


def _stats(values: list[int]) -> dict[str, float]:
    if not values:
        return {}
    return {"min": min(values), "mean": round(statistics.mean(values), 1),
            "median": statistics.median(values), "max": max(values)}


def render_card_markdown(card: dict[str, Any]) -> str:
    """The card for people."""
    lines = [
        f"# Data card: {card['dsl']}",
        "",
        f"Input `{card['input']}` (sha256 `{card['input_sha256'][:16]}…`), seed {card['seed']}.",
        "",
        f"- lines: {card['lines']} ({card['blank_lines']} blank)",
        f"- accepted: {card['accepted']}",
        f"- rejected: {card['rejected']} (every one in `rejects.jsonl` with its reason)",
        "",
        "## Reject reasons",
        "",
    ]
    if card["reject_reasons"]:
        lines += ["| reason | rows |", "|---|---:|"]
        lines += [f"| {reason} | {n} |" for reason, n in card["reject_reasons"].items()]
    else:
        lines.append("none")
    lines += ["", "## Splits", "", "| scheme | split | rows | NL also in train |", "|---|---|---:|---:|"]
    for scheme, parts in card["splits"].items():
        for name, n in parts.items():
            shared = card["test_questions_also_in_train"].get(f"{scheme}/{name}", "")
            lines.append(f"| {scheme} | {name} | {n} | {shared} |")
    lines += ["", "## Lengths", "",
              f"- NL words: {card['text_words']}",
              f"- program characters: {card['code_chars']}",
              "", "## Coverage of the training split", "",
              "What never occurs in a training program cannot be learned from it.", ""]
    for scheme, cov in card["coverage"].items():
        lines.append(f"### {scheme}/train")
        lines.append("")
        lines.append(f"- grammar rules never used: {len(cov['rules_unused'])}/{cov['rules_total']}"
                     + (f": {', '.join(cov['rules_unused'])}" if cov["rules_unused"] else ""))
        lines.append(f"- keywords never used: {len(cov['keywords_unused'])}/{cov['keywords_total']}"
                     + (f": {', '.join(cov['keywords_unused'])}" if cov["keywords_unused"] else ""))
        if "catalog_apis_total" in cov:
            unused = cov["catalog_apis_unused"]
            shown = ", ".join(unused[:40]) + (f", … ({len(unused) - 40} more)" if len(unused) > 40 else "")
            lines.append(f"- catalog APIs never called: {len(unused)}/{cov['catalog_apis_total']}"
                         + (f": {shown}" if unused else ""))
        lines.append("")
    return "\n".join(lines)
