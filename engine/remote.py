"""`RemoteEngine`: the :class:`engine.Engine` API over any OpenAI-compatible endpoint — a
`dslforge serve`, or vLLM serving the model with ``dslforge export vllm``'s grammar and adapter.

Each request sends the DSL's decoding grammar as structured output (vLLM's ``structured_outputs``
field, llguidance's Lark dialect) and re-parses the reply with the DSL's own Lark parser: a reply
that does not parse raises :class:`UnparseableReply` and is never returned as code (a server that
ignores the grammar, a truncated reply, a proxy that rewrote the body).

>>> from engine.remote import RemoteEngine                           # doctest: +SKIP
>>> RemoteEngine("http://127.0.0.1:8000", dsl="geoquery").generate("which states border texas?").code  # doctest: +SKIP
"answer(state(next_to_2(stateid('texas'))))"
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import dsl as dsl_module
from dsl import DSL, DSLSyntaxError
from engine.errors import EngineError

GrammarField = Literal["structured_outputs", "guided_grammar"]


class RemoteError(EngineError):
    """The endpoint could not be reached or answered with an error. ``status`` is the HTTP
    status (None when no answer came); the message carries the server's own explanation."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class UnparseableReply(RemoteError, ValueError):
    """The endpoint answered with text the DSL does not parse; ``text`` is that reply and
    ``syntax_error`` the located :class:`dsl.DSLSyntaxError`."""

    def __init__(self, message: str, *, text: str, syntax_error: DSLSyntaxError) -> None:
        self.text = text
        self.syntax_error = syntax_error
        super().__init__(message)


class RemoteEngine:
    """Generate programs with a model served elsewhere; same results type as :class:`engine.Engine`.

    Args:
        url: the server's base URL (``http://host:port``; a trailing ``/v1`` is accepted).
        dsl: the DSL (name, folder or loaded :class:`dsl.DSL`); its grammar is sent and its
            parser checks every reply.
        model: the model name to ask for; default the first of ``GET /v1/models``.
        api_key: sent as ``Authorization: Bearer``.
        timeout_s: per request.
        grammar_field: ``structured_outputs`` (vLLM >= 0.10, `dslforge serve`) or
            ``guided_grammar`` (older vLLM).
        max_concurrency: requests in flight during :meth:`generate_batch` (the server batches them).
        max_retries: how often a 503 with ``Retry-After`` (a full queue) is retried after the
            wait it names (at most 30 s each).
    """

    def __init__(
        self,
        url: str,
        *,
        dsl: DSL | str,
        model: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        grammar_field: GrammarField = "structured_outputs",
        max_concurrency: int = 8,
        max_retries: int = 3,
    ) -> None:
        import httpx

        if grammar_field not in ("structured_outputs", "guided_grammar"):
            raise EngineError(f"`grammar_field` must be 'structured_outputs' or 'guided_grammar', got {grammar_field!r}")
        if max_concurrency < 1:
            raise EngineError(f"`max_concurrency` must be >= 1, got {max_concurrency}")
        self.dsl = dsl if isinstance(dsl, DSL) else dsl_module.load(dsl)
        self.base_url = url.rstrip("/").removesuffix("/v1")
        self.grammar_field = grammar_field
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self._grammar = self.dsl.decoding_grammar()
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout_s,
                                    limits=httpx.Limits(max_connections=max_concurrency))
        try:
            self.model = model if model is not None else self._first_model()
        except BaseException:
            self._client.close()  # the caller never gets an object to close
            raise

    def __repr__(self) -> str:
        return f"RemoteEngine({self.base_url!r}, dsl={self.dsl.name!r}, model={self.model!r})"

    def __enter__(self) -> RemoteEngine:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    # -- API --------------------------------------------------------------------------------
    def generate(
        self,
        text: str,
        *,
        max_new_tokens: int = 128,
        temperature: float = 0.0,
        seed: int = 0,
        adapter: str | None = None,
        tenant: str | None = None,
    ) -> Any:  # engine.Generation
        """One program for ``text`` from the remote model.

        ``adapter`` is sent as the model name (how vLLM serves LoRA adapters); ``tenant`` as the
        `dslforge serve` extension field.

        Returns:
            An :class:`engine.Generation` whose ``code`` parses.

        Raises:
            UnparseableReply: the reply does not parse under the DSL.
            RemoteError: transport failure or an error status (with the server's message).
        """
        from engine.engine import Generation, Timings

        if not isinstance(text, str) or not text.strip():
            raise EngineError(f"`text` must be a non-empty string, got {text!r}")
        started = time.perf_counter()
        body: dict[str, Any] = {
            "model": adapter or self.model,
            "messages": self._messages(text),
            "max_tokens": max_new_tokens,
            "temperature": temperature,
            "seed": seed,
            "dsl": self.dsl.name,
        }
        if tenant is not None:
            body["tenant"] = tenant
        if self.grammar_field == "structured_outputs":
            body["structured_outputs"] = {"grammar": self._grammar}
        else:
            body["guided_grammar"] = self._grammar
        reply = self._post("/v1/chat/completions", body)
        content, finish, usage = _chat_content(reply)
        raw = content[1:] if content.startswith(" ") else content  # the grammar's one optional space
        try:
            tree = self.dsl.parse(raw)
        except DSLSyntaxError as e:
            raise UnparseableReply(
                f"{self.base_url} answered with text that DSL {self.dsl.name!r} does not parse (finish_reason "
                f"{finish!r}; was the grammar applied?): {raw[:200]!r}\n{e}", text=raw, syntax_error=e) from e
        code = self.dsl.format(raw)
        elapsed = time.perf_counter() - started
        return Generation(
            code=code, tree=tree, diagnostics=tuple(self.dsl.validate(code)),
            finish_reason="budget" if finish == "length" else "stop",
            n_tokens=int(usage.get("completion_tokens", 0) or 0), n_forced=0, n_fast_forward=0,
            prompt_tokens=int(usage.get("prompt_tokens", 0) or 0), adapter=adapter,
            timings=Timings(grammar_s=0.0, prefill_s=0.0, decode_s=0.0, mask_s=0.0, total_s=elapsed),
        )

    def generate_batch(self, texts: Sequence[str], **options: Any) -> list[Any]:
        """:meth:`generate` for each text, ``max_concurrency`` at a time; results in order.
        The first failure is raised after all requests ended."""
        if isinstance(texts, str):
            raise EngineError("generate_batch takes a list of texts; use generate() for one")
        with ThreadPoolExecutor(self.max_concurrency) as pool:
            futures = [pool.submit(self.generate, t, **options) for t in texts]
            return [f.result() for f in futures]

    # -- internals --------------------------------------------------------------------------
    def _messages(self, text: str) -> list[dict[str, str]]:
        # The zero-shot chat of engine.prompting.build_prompt: the DSL's instruction as the
        # system turn, the request as the user turn. (`dslforge serve` builds its own prompt and
        # reads only the user turn; vLLM applies the model's chat template to these.)
        instruction = self.dsl.spec.prompt.instruction.strip()
        question = " ".join(text.split())
        return ([{"role": "system", "content": instruction}] if instruction else []) + [
            {"role": "user", "content": question}]

    def _first_model(self) -> str:
        reply = self._get("/v1/models")
        try:
            return str(reply["data"][0]["id"])
        except (KeyError, IndexError, TypeError) as e:
            raise RemoteError(f"{self.base_url}/v1/models lists no model; pass model=... ({reply!r:.200})") from e

    def _get(self, path: str) -> Any:
        return self._send("GET", path, None)

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        return self._send("POST", path, body)

    def _send(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        import httpx

        for attempt in range(self.max_retries + 1):
            try:
                response = self._client.request(method, path, json=body)
            except httpx.HTTPError as e:
                raise RemoteError(f"cannot reach {self.base_url}{path}: {type(e).__name__}: {e}") from e
            wait = _retry_after(response)
            if wait is None or attempt == self.max_retries:
                break
            time.sleep(wait)  # the server's queue is full: it says when to come back
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if response.status_code >= 400:
            message = _server_message(payload) or response.text[:300]
            raise RemoteError(f"{self.base_url}{path} answered {response.status_code}: {message}",
                              status=response.status_code)
        if payload is None:
            raise RemoteError(f"{self.base_url}{path} answered {response.status_code} with a body that is not JSON: "
                              f"{response.text[:200]!r}", status=response.status_code)
        return payload


def _retry_after(response: Any) -> float | None:
    """Seconds to wait before retrying a 503 that carries ``Retry-After``; None otherwise."""
    if response.status_code != 503:
        return None
    try:
        return min(max(float(response.headers["retry-after"]), 0.0), 30.0)
    except (KeyError, ValueError):
        return None


def _server_message(payload: Any) -> str | None:
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
        if isinstance(error, str):
            return error
        if isinstance(payload.get("detail"), str):
            return str(payload["detail"])
    return None


def _chat_content(reply: Any) -> tuple[str, str | None, dict[str, Any]]:
    try:
        choice = reply["choices"][0]
        content = choice["message"]["content"]
    except (KeyError, IndexError, TypeError) as e:
        raise RemoteError(f"the reply is not an OpenAI chat completion: {str(reply)[:200]}") from e
    if not isinstance(content, str):
        raise RemoteError(f"the reply's message content is not text: {content!r:.200}")
    usage = reply.get("usage") if isinstance(reply.get("usage"), dict) else {}
    return content, choice.get("finish_reason"), usage
