"""Differential test: greedy decoding gives exactly the same programs on the fast path (own loop,
KV cache, forced tokens batched into one forward pass) and the Outlines path (outlines.Generator
over Hugging Face generate, one token per step), on >= 200 prompts."""

from __future__ import annotations

import dsl

BATCH = 8


def _questions(count: int) -> list[str]:
    rows = dsl.load("geoquery").examples()
    return [r["text"] for r in rows[:count]]


def _compare(engine, texts: list[str], budget: int, seen: list | None = None) -> int:
    same = 0
    for start in range(0, len(texts), BATCH):
        chunk = texts[start : start + BATCH]
        fast = engine.generate_batch(chunk, max_new_tokens=budget, backend="fast")
        reference = engine.generate_batch(chunk, max_new_tokens=budget, backend="outlines")
        for text, f, r in zip(chunk, fast, reference):
            assert f.code == r.code, f"prompt {text!r}: fast {f.code!r} != outlines {r.code!r}"
            assert (f.finish_reason, f.n_tokens, f.n_forced) == (r.finish_reason, r.n_tokens, r.n_forced)
            same += 1
            if seen is not None:
                seen.append(f)
    return same


def test_greedy_fast_path_equals_outlines_path_on_200_prompts(engine_for) -> None:
    texts = _questions(208)
    seen: list = []
    same = _compare(engine_for("smollm2", "geoquery", hidden=64, layers=2, seed=1), texts[:144], 24, seen)
    same += _compare(engine_for("mistral-v1", "geoquery", arch="mistral", hidden=32, seed=2), texts[144:], 20, seen)
    assert same >= 200
    # Not a trivial agreement: the models chose most tokens, programs differ, both endings occur.
    assert len({g.code for g in seen}) >= 20
    assert {g.finish_reason for g in seen} == {"stop", "budget"}
    assert sum(g.n_forced for g in seen) < 0.25 * sum(g.n_tokens for g in seen)


def test_paths_agree_on_the_catalog_locked_workflow_grammar(engine_for) -> None:
    if "workflow" not in dsl.available():
        return
    texts = ["when an email arrives, post it to teams", "every monday create a jira issue", "save new files to dropbox",
             "if the invoice is large, flag it", "a", "?", "notify slack on new leads", "back up the sheet"]
    assert _compare(engine_for("smollm2", "workflow", hidden=32, seed=3), texts, budget=40) == len(texts)
