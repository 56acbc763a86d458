"""The OpenAI-compatible surface: ``/v1/models``, ``/v1/completions``, ``/v1/chat/completions``.

What differs from OpenAI, on purpose:

* The grammar is the DSL's, chosen by the ``dsl`` field (extension); a ``structured_outputs``
  grammar (vLLM style) or ``guided_grammar`` is accepted only when it *is* that grammar, so a
  client written for vLLM (e.g. :class:`engine.remote.RemoteEngine`) works unchanged.
* The request text is the ``prompt`` (completions) or the last user message (chat); the model
  prompt is built from the DSL's ``dsl.toml``, as for ``/v1/generate``.
* ``temperature`` defaults to 0 (greedy), not 1.
* ``model`` is the base model or an adapter name (as vLLM serves LoRA adapters).
* ``finish_reason`` is ``stop``, or ``length`` when the engine closed the program at the budget
  (the program is still complete); ``dslforge.finish_reason`` says ``budget`` then.

No ``from __future__ import annotations``: FastAPI reads these annotations at definition time.
"""

import time
import uuid
from typing import Any

from fastapi import FastAPI, Request

from engine.serving.backend import GenerateOutcome, GenerateParams, diagnostic_json
from engine.serving.http_errors import HTTPError
from engine.serving.schemas import Schemas, chat_text
from engine.serving.service import GenerationService
from engine.serving.scheduler import Job


def add_openai_routes(app: FastAPI, service: GenerationService, schemas: Schemas) -> None:
    """Register the OpenAI-compatible routes on ``app``."""
    CompletionRequest = schemas.completion
    ChatRequest = schemas.chat

    @app.get("/v1/models", tags=["openai"])
    async def models() -> dict[str, Any]:
        """The base model and each adapter, as OpenAI model objects."""
        base = service.backend.model_name
        data = [{"id": base, "object": "model", "created": 0, "owned_by": "dslforge", "root": base, "parent": None}]
        data += [{"id": a, "object": "model", "created": 0, "owned_by": "dslforge", "root": a, "parent": base}
                 for a in service.backend.adapters]
        return {"object": "list", "data": data}

    @app.post("/v1/completions", tags=["openai"])
    async def completions(body: CompletionRequest, request: Request) -> Any:  # type: ignore[valid-type]
        """OpenAI completions; ``prompt`` is the natural-language request."""
        text = body.prompt if isinstance(body.prompt, str) else body.prompt[0]
        params, model = _params(service, body, text)
        outcome, job = await service.generate(params, request.receive)
        return {
            "id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion", "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "text": outcome.code, "logprobs": None,
                         "finish_reason": _finish(outcome)}],
            "usage": _usage(outcome), "dslforge": _extension(service, params, outcome, job),
        }

    @app.post("/v1/chat/completions", tags=["openai"])
    async def chat_completions(body: ChatRequest, request: Request) -> Any:  # type: ignore[valid-type]
        """OpenAI chat completions; the last user message is the request."""
        try:
            text = chat_text(body.messages, limit=service.config.max_text_chars)
        except ValueError as e:
            param = str(e).split(":", 1)[0]
            raise HTTPError(422, "invalid_request", str(e), param=param) from None
        params, model = _params(service, body, text)
        outcome, job = await service.generate(params, request.receive)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": outcome.code},
                         "logprobs": None, "finish_reason": _finish(outcome)}],
            "usage": _usage(outcome), "dslforge": _extension(service, params, outcome, job),
        }


def _params(service: GenerationService, body: Any, text: str) -> tuple[GenerateParams, str]:
    """Map an OpenAI body to generation parameters; returns them and the model name to echo."""
    base = service.backend.model_name
    adapter = body.adapter
    model = body.model if body.model is not None else base
    if model != base:
        if model not in service.backend.adapters:
            raise HTTPError(404, "model_not_found", f"model {model!r} is not served here; "
                            f"models: {[base, *service.backend.adapters]} (see /v1/models)", param="model")
        if adapter is not None and adapter != model:
            raise HTTPError(422, "invalid_request", f"model {model!r} names an adapter and `adapter` names "
                            f"{adapter!r}; send one of them", param="adapter")
        adapter = model
    if body.logprobs not in (None, False, 0):
        raise HTTPError(422, "invalid_request", "logprobs are not offered; omit the field", param="logprobs")
    response_format = getattr(body, "response_format", None)
    if isinstance(response_format, dict) and response_format.get("type", "text") != "text":
        raise HTTPError(422, "invalid_request", "response_format is fixed by the DSL's grammar; omit it or send "
                        "{\"type\": \"text\"}", param="response_format")
    budget = body.max_tokens if body.max_tokens is not None else body.max_completion_tokens
    params = service.params(text=text, dsl=body.dsl, adapter=adapter, tenant=body.tenant, max_new_tokens=budget,
                            temperature=body.temperature, seed=body.seed)
    _check_grammar(service, body, params.dsl)
    return params, model


def _check_grammar(service: GenerationService, body: Any, dsl: str) -> None:
    """A grammar sent by the client must be the DSL's own decoding grammar."""
    sent: Any = body.guided_grammar
    param = "guided_grammar"
    if isinstance(body.structured_outputs, dict) and "grammar" in body.structured_outputs:
        sent, param = body.structured_outputs["grammar"], "structured_outputs.grammar"
    elif body.structured_outputs:
        raise HTTPError(422, "invalid_request", "structured_outputs may only carry `grammar` (the DSL's decoding "
                        f"grammar); got keys {sorted(body.structured_outputs)}", param="structured_outputs")
    if sent is None:
        return
    expected = service.backend.dsls[dsl].decoding_grammar()
    if not isinstance(sent, str) or sent.strip() != expected.strip():
        raise HTTPError(422, "grammar_mismatch", f"this server decodes dsl {dsl!r} with its own grammar; the "
                        f"{param} sent differs. Omit it, or send `dslforge grammar compile {dsl}`'s output",
                        param=param)


def _finish(outcome: GenerateOutcome) -> str:
    return "length" if outcome.finish_reason == "budget" else "stop"


def _usage(outcome: GenerateOutcome) -> dict[str, int]:
    return {"prompt_tokens": outcome.prompt_tokens, "completion_tokens": outcome.n_tokens,
            "total_tokens": outcome.prompt_tokens + outcome.n_tokens}


def _extension(service: GenerationService, params: GenerateParams, outcome: GenerateOutcome,
               job: Job[GenerateParams]) -> dict[str, Any]:
    return {"dsl": params.dsl, "adapter": params.adapter, "tenant": params.tenant,
            "finish_reason": outcome.finish_reason,
            "diagnostics": [diagnostic_json(d) for d in outcome.diagnostics],
            "timings": service.timings(outcome, job)}
