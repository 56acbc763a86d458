"""`EngineBackend` over a real Engine (tiny random model): batches, keys, isolation of a bad row."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import dsl
from engine.errors import EngineError
from engine.serving.backend import GenerateOutcome, GenerateParams
from engine.serving.engine_backend import EngineBackend
from engine.serving.scheduler import Job

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def backend(tiny_model_dir: Path) -> EngineBackend:
    import torch

    torch.set_num_threads(1)
    return EngineBackend.load(["geoquery", "workflow"], model=str(tiny_model_dir))


def job(params: GenerateParams) -> Job[GenerateParams]:
    loop = asyncio.new_event_loop()
    try:
        return Job(params, loop.create_future(), 0.0)
    finally:
        loop.close()


def params(text: str, **options) -> GenerateParams:
    return GenerateParams(text=text, **{"dsl": "geoquery", "max_new_tokens": 16, **options})


def test_names_and_minimum_budgets(backend: EngineBackend) -> None:
    assert list(backend.dsls) == ["geoquery", "workflow"] and backend.model_name.startswith("tiny-llama")
    assert backend.adapters == [] and backend.tenants_for("geoquery") == []
    assert backend.tenants_for("workflow") == ["contoso", "fabrikam"]
    assert 1 <= backend.min_new_tokens("geoquery") < backend.min_new_tokens("workflow")


def test_a_batch_answers_each_row_in_order_like_single_requests(backend: EngineBackend) -> None:
    texts = ["which states border texas?", "what is the capital of ohio?", "how long is the rio grande?"]
    batch = backend.run_batch([job(params(t)) for t in texts])
    alone = [backend.run_batch([job(params(t))])[0] for t in texts]
    assert all(isinstance(o, GenerateOutcome) for o in batch)
    assert [o.code for o in batch] == [o.code for o in alone]  # greedy: batching changes nothing
    assert all(dsl.load("geoquery").parse(o.code) for o in batch)


def test_one_bad_row_fails_alone_and_its_neighbours_are_answered(backend: EngineBackend) -> None:
    too_long = " ".join(["word"] * 3000)  # more positions than the tiny model has
    outcomes = backend.run_batch([job(params("which states border texas?")), job(params(too_long))])
    assert isinstance(outcomes[0], GenerateOutcome)
    assert isinstance(outcomes[1], EngineError) and "positions" in str(outcomes[1])


def test_abandoned_jobs_are_not_decoded(backend: EngineBackend) -> None:
    gone = job(params("q"))
    gone.cancelled.set()
    kept = job(params("which states border texas?"))
    outcomes = backend.run_batch([gone, kept])
    assert isinstance(outcomes[0], Exception) and isinstance(outcomes[1], GenerateOutcome)


def test_batch_keys_group_greedy_requests_and_keep_sampled_ones_alone(backend: EngineBackend) -> None:
    assert backend.batch_key(params("a")) == backend.batch_key(params("b"))
    assert backend.batch_key(params("a")) != backend.batch_key(params("a", max_new_tokens=17))
    assert backend.batch_key(params("a", tenant="contoso")) != backend.batch_key(params("a"))
    hot = params("a", temperature=0.7, seed=1)
    assert backend.batch_key(hot) != backend.batch_key(hot)  # decoded alone: reproducible per seed
    first = backend.run_batch([job(hot)])[0]
    again = backend.run_batch([job(hot)])[0]
    assert isinstance(first, GenerateOutcome) and isinstance(again, GenerateOutcome) and first.code == again.code


def test_a_tenant_request_decodes_under_its_catalog(backend: EngineBackend) -> None:
    outcome = backend.run_batch([job(params("open a ticket", dsl="workflow", tenant="contoso",
                                            max_new_tokens=48))])[0]
    assert isinstance(outcome, GenerateOutcome), outcome
    workflow = dsl.load("workflow")
    tree = workflow.parse(outcome.code)
    assert workflow.support.is_lock_valid(tree, extra_catalog="contoso")  # type: ignore[attr-defined]

