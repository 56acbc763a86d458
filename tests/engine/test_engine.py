"""The Engine API: results, streaming, batching, seeds, per-request grammars and clear errors."""

from __future__ import annotations

import copy
import json

import pytest

import dsl
from engine import BudgetTooSmall, ConstraintViolation, Engine, EngineError
from engine.budget import RequestState

QUESTIONS = ["which states border texas?", "what is the capital of ohio", "how long is the mississippi river",
             "population of austin", "¿dónde está?", "x", "a very long question " * 5, "rivers in alaska"]


@pytest.fixture(scope="module")
def engine(engine_for) -> Engine:
    return engine_for("smollm2", "geoquery", hidden=64, seed=1)


def test_result_fields_are_consistent_and_json_ready(engine: Engine) -> None:
    g = engine.generate(QUESTIONS[0], max_new_tokens=30)
    assert g.tree == dsl.load("geoquery").parse(g.code)
    assert g.finish_reason in ("stop", "budget") and 0 < g.n_tokens <= 30
    assert g.prompt_tokens > 0 and g.adapter is None
    assert g.timings.total_s >= g.timings.decode_s >= 0
    data = json.loads(json.dumps(g.as_dict()))
    assert data["code"] == g.code and data["timings"]["total_s"] == g.timings.total_s


@pytest.mark.parametrize("temperature", [0.0, 1.0])
@pytest.mark.parametrize("tokenizer", ["smollm2", "mistral-v1"])
def test_stream_pieces_join_to_the_generated_code(engine_for, tokenizer, temperature) -> None:
    engine = engine_for(tokenizer, "geoquery", hidden=32, seed=2)
    for text in QUESTIONS[:3]:
        pieces = list(engine.stream(text, max_new_tokens=25, temperature=temperature, seed=7))
        g = engine.generate(text, max_new_tokens=25, temperature=temperature, seed=7)
        assert "".join(pieces) == g.code
        assert len(pieces) > 1 and not pieces[0].startswith(" ")


def test_batch_rows_equal_single_greedy_requests(engine: Engine) -> None:
    """Left padding and per-row forced tokens must not change a row's result."""
    batch = engine.generate_batch(QUESTIONS, max_new_tokens=28)
    for text, row in zip(QUESTIONS, batch):
        assert engine.generate(text, max_new_tokens=28).code == row.code


def test_sampling_is_reproducible_by_seed(engine: Engine) -> None:
    first = [g.code for g in engine.generate_batch(QUESTIONS, max_new_tokens=30, temperature=1.0, seed=11)]
    again = [g.code for g in engine.generate_batch(QUESTIONS, max_new_tokens=30, temperature=1.0, seed=11)]
    other = [g.code for g in engine.generate_batch(QUESTIONS, max_new_tokens=30, temperature=1.0, seed=12)]
    assert first == again and first != other


def test_the_callers_tokenizer_is_not_modified(smollm2_tokenizer, make_model) -> None:
    tokenizer = copy.deepcopy(smollm2_tokenizer)
    before = (tokenizer.padding_side, tokenizer.pad_token, len(tokenizer))
    engine = Engine(make_model("llama", len(tokenizer), tokenizer.eos_token_id), tokenizer, "geoquery")
    engine.generate("q", max_new_tokens=12)
    engine.generate("q", max_new_tokens=12, backend="outlines")
    assert (tokenizer.padding_side, tokenizer.pad_token, len(tokenizer)) == before


def test_budget_below_the_shortest_program_is_refused_before_decoding(engine: Engine) -> None:
    smallest = engine.min_new_tokens()
    with pytest.raises(BudgetTooSmall) as caught:
        engine.generate("q", max_new_tokens=smallest - 1)
    message = str(caught.value)
    assert "'answer(0)'" in message and f"takes {smallest} tokens" in message
    assert isinstance(caught.value, ValueError)  # BudgetTooSmall is also a ValueError


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_new_tokens": 0}, r"`max_new_tokens` must be a positive integer, got 0"),
        ({"max_new_tokens": 2.5}, r"`max_new_tokens` must be a positive integer, got 2.5"),
        ({"max_new_tokens": True}, r"`max_new_tokens` must be a positive integer, got True"),
        ({"temperature": -1}, r"`temperature` must be a number >= 0, got -1"),
        ({"temperature": float("nan")}, r"`temperature` must be a number >= 0, got nan"),
        ({"backend": "vllm"}, r"`backend` must be 'fast' or 'outlines', got 'vllm'"),
        ({"adapter": "contoso"}, r"adapter 'contoso' is not loaded; loaded: \[\]"),
        ({"extra_catalog": "contoso"}, r"DSL 'geoquery' has no catalog-locked grammar"),
        ({"max_new_tokens": 5000}, r"exceeds the model's 2048 positions"),
    ],
)
def test_bad_arguments_say_what_is_wrong(engine: Engine, kwargs, message) -> None:
    arguments = {"max_new_tokens": 20, **kwargs}
    with pytest.raises(EngineError, match=message):
        engine.generate("q", **arguments)


def test_two_problems_are_reported_together(engine: Engine) -> None:
    with pytest.raises(EngineError, match="max_new_tokens.*; `temperature`"):
        engine.generate("q", max_new_tokens=-1, temperature=-1)


def test_batch_takes_a_list(engine: Engine) -> None:
    with pytest.raises(EngineError, match="takes a list of texts"):
        engine.generate_batch("q")  # type: ignore[arg-type]
    assert engine.generate_batch([]) == []


def test_empty_request_is_an_input_error(engine: Engine) -> None:
    with pytest.raises(EngineError, match="`text` must be a non-empty string"):
        engine.generate("   ", max_new_tokens=20)


def test_a_plan_the_matcher_refuses_raises_instead_of_returning_text(engine: Engine) -> None:
    grammar, _ = engine._grammar(None)
    state = RequestState(grammar, engine._llg_tokenizer(), max_new_tokens=8)
    state.plan = list(engine._llg_tokenizer().tokenize_str(")))"))  # not a program
    state.remaining = len(state.plan)  # the budget is down to the plan: it is forced
    with pytest.raises(ConstraintViolation, match="grammar matcher failed"):
        state.take_forced()


def test_grammars_are_compiled_once_per_engine(engine_for) -> None:
    engine = engine_for("mistral-v1", "geoquery", hidden=16, seed=3)
    first = engine.generate("q", max_new_tokens=10)
    second = engine.generate("q", max_new_tokens=10)
    assert second.timings.grammar_s == 0.0
    assert first.timings.grammar_s >= 0.0 and len(engine._grammars) == 1


@pytest.mark.skipif("workflow" not in dsl.available(), reason="the workflow DSL is not in grammars/")
def test_extra_catalog_widens_the_lock_for_one_request(engine_for) -> None:
    engine = engine_for("smollm2", "workflow", hidden=32, seed=4)
    tenants = sorted(p.name for p in (dsl.load("workflow").folder / "tenants").iterdir())
    base = engine.generate("when a ticket arrives", max_new_tokens=40)
    widened = engine.generate("when a ticket arrives", max_new_tokens=40, extra_catalog=tenants[0])
    assert len(engine._grammars) == 2  # base and tenant grammars, each compiled once
    for g in (base, widened):
        assert dsl.load("workflow").parse(g.code) == g.tree
    assert not [d for d in widened.diagnostics if d.code == "syntax-error"]


def test_a_model_in_training_mode_decodes_without_dropout_and_stays_in_training_mode(tokenizers, make_model) -> None:
    import copy as copy_module

    tokenizer = tokenizers["smollm2"]
    model = copy_module.deepcopy(make_model("llama", len(tokenizer), tokenizer.eos_token_id, hidden=32, seed=6))
    model.config.attention_dropout = 0.5  # dropout that would change results if left on
    reference = Engine(model, tokenizer, "geoquery").generate_batch(QUESTIONS[:4], max_new_tokens=20)
    model.train()
    again = Engine(model, tokenizer, "geoquery").generate_batch(QUESTIONS[:4], max_new_tokens=20)
    assert [g.code for g in again] == [g.code for g in reference]
    assert model.training


def test_importing_engine_loads_no_heavy_dependency() -> None:
    import subprocess
    import sys

    code = "import sys, engine; print(sorted(m for m in ('torch', 'transformers', 'outlines', 'peft', 'llguidance') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
