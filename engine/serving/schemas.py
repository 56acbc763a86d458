"""Request and response bodies, with the configured limits inside the schema so that OpenAPI
shows them and a violation is a 422 naming the field.

The native bodies are strict (``"64"`` is not an integer) and closed (an unknown field such as
``max_tokens`` on ``/v1/generate`` is an error, not silently ignored). The OpenAI-compatible
bodies accept and ignore the many optional fields OpenAI clients send, but refuse the ones whose
meaning we cannot honour (``n > 1``, ``stream``, ``logprobs``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from engine.serving.config import ServeConfig

Name = Annotated[StrictStr, Field(min_length=1, max_length=128)]


class DiagnosticOut(BaseModel):
    code: str
    message: str
    line: int | None = None
    column: int | None = None


class GenerateResponse(BaseModel):
    """A program that parses under the DSL's grammar."""

    code: str = Field(description="The program, in the DSL's canonical form; always parses.")
    finish_reason: Literal["stop", "budget"] = Field(
        description="`stop`: the model ended the program; `budget`: the engine closed it within max_new_tokens.")
    diagnostics: list[DiagnosticOut] = Field(description="Semantic problems found by the DSL's validator.")
    n_tokens: int
    prompt_tokens: int
    dsl: str
    adapter: str | None
    tenant: str | None
    timings: dict[str, float] = Field(description="Seconds: queue_s, batch_s (shared by the batch), total_s, "
                                                  "engine phases; batch_size.")


class ValidateResponse(BaseModel):
    valid: bool
    canonical: str | None = Field(description="The canonical form when the program parses.")
    diagnostics: list[DiagnosticOut]


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: int
    details: list[dict[str, Any]] | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


@dataclass(frozen=True)
class Schemas:
    """Request models built for one :class:`ServeConfig`."""

    generate: type[BaseModel]
    validate: type[BaseModel]
    completion: type[BaseModel]
    chat: type[BaseModel]


def build_schemas(config: ServeConfig) -> Schemas:
    """The request bodies with ``config``'s limits."""
    Text = Annotated[StrictStr, Field(min_length=1, max_length=config.max_text_chars,
                                      pattern=r"\S", description="The request in natural language.")]
    MaxNew = Annotated[StrictInt, Field(ge=1, le=config.max_new_tokens_limit,
                                        description=f"Token budget (default {config.default_max_new_tokens}).")]
    Temperature = Annotated[float, Field(ge=0.0, le=5.0, strict=True, description="0 is greedy.")]
    Seed = Annotated[StrictInt, Field(ge=0, le=2**31 - 1)]

    class GenerateRequest(BaseModel):
        """Natural language in, a program out."""

        model_config = ConfigDict(strict=True, extra="forbid")
        text: Text
        dsl: Name | None = Field(None, description="A served DSL; default: the first one served.")
        adapter: Name | None = Field(None, description="A loaded LoRA adapter, or 'none' for the base model.")
        tenant: Name | None = Field(None, description="A known tenant (selects its adapter).")
        max_new_tokens: MaxNew | None = None
        temperature: Temperature = 0.0
        seed: Seed | None = None

    class ValidateRequest(BaseModel):
        """Check a program against a DSL's grammar and catalog."""

        model_config = ConfigDict(strict=True, extra="forbid")
        code: Annotated[StrictStr, Field(max_length=config.max_code_chars)]
        dsl: Name | None = None

    class _OpenAIBase(BaseModel):
        # OpenAI clients send many optional fields; the ones we cannot honour are checked below.
        model_config = ConfigDict(extra="allow")
        model: Name | None = Field(None, description="The base model or an adapter name (see /v1/models).")
        max_tokens: MaxNew | None = None
        max_completion_tokens: MaxNew | None = None
        temperature: Temperature | None = None
        seed: Seed | None = None
        n: Annotated[StrictInt, Field(ge=1, le=1, description="Only 1.")] = 1
        stream: Literal[False] = Field(False, description="Streaming is not offered; omit it or send false.")
        logprobs: Any = Field(None, description="Not offered; omit it.")
        dsl: Name | None = Field(None, description="Selects the grammar (dslforge extension).")
        adapter: Name | None = None
        tenant: Name | None = None
        structured_outputs: dict[str, Any] | None = Field(
            None, description="vLLM style; a `grammar` here must equal the DSL's decoding grammar.")
        guided_grammar: StrictStr | None = Field(None, description="Older vLLM style; as structured_outputs.grammar.")

    class CompletionRequest(_OpenAIBase):
        """OpenAI ``/v1/completions``: ``prompt`` is the natural-language request; the server
        builds the model prompt from the DSL's ``dsl.toml``."""

        prompt: Text | Annotated[list[Text], Field(min_length=1, max_length=1)]

    class ChatMessage(BaseModel):
        model_config = ConfigDict(extra="allow")
        role: Literal["system", "user", "assistant", "developer", "tool"]
        content: StrictStr | list[dict[str, Any]] | None = None

    class ChatRequest(_OpenAIBase):
        """OpenAI ``/v1/chat/completions``: the last user message is the request; the DSL's
        own instruction replaces any system message."""

        messages: Annotated[list[ChatMessage], Field(min_length=1, max_length=64)]

    return Schemas(generate=GenerateRequest, validate=ValidateRequest, completion=CompletionRequest,
                   chat=ChatRequest)


def chat_text(messages: list[Any], *, limit: int) -> str:
    """The request text of a chat: the last user message (text parts joined).

    Raises:
        ValueError: with the field path, when there is no user text or it is too long.
    """
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if message.role != "user":
            continue
        content = message.content
        if isinstance(content, list):
            parts = [p["text"] for p in content
                     if isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)]
            if len(parts) != len(content):
                raise ValueError(f"messages[{index}].content: only text parts are accepted")
            content = "\n".join(parts)
        if not isinstance(content, str) or not content.strip():
            raise ValueError(f"messages[{index}].content: the last user message has no text")
        if len(content) > limit:
            raise ValueError(f"messages[{index}].content: {len(content)} characters; the limit is {limit}")
        return content
    raise ValueError("messages: no user message; send the request as a message with role 'user'")

