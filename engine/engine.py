"""`Engine`: natural language in, a program that parses out — always.

>>> from engine import Engine                                    # doctest: +SKIP
>>> eng = Engine.load(dsl="geoquery")                            # doctest: +SKIP
>>> eng.generate("which states border texas?", max_new_tokens=64).code   # doctest: +SKIP
"answer(state(next_to_2(stateid('texas'))))"
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

import dsl as dsl_module
from dsl import DSL, Diagnostic
from engine.budget import FinishReason, RequestState
from engine.errors import BudgetTooSmall, ConstraintViolation, EngineError
from engine.prompting import Example, build_prompt, prompt_token_ids

if TYPE_CHECKING:
    import lark

    from engine.constraint import CompiledGrammar

Backend = Literal["fast", "outlines"]
_GRAMMAR_CACHE_SIZE = 32  # compiled grammars kept (extra catalogs make one each); ~1 MB each


@dataclass(frozen=True)
class Timings:
    """Seconds spent on one call (shared by the rows of a batch)."""

    grammar_s: float
    """Compiling the grammar (0 when cached)."""
    prefill_s: float
    decode_s: float
    """Forward passes after the prompt, choices and masks."""
    mask_s: float
    """Filling grammar masks on the host (part of it overlaps the forward pass)."""
    total_s: float


@dataclass(frozen=True)
class Generation:
    """One program from :meth:`Engine.generate`.

    ``code`` is canonical and always parses (``tree``); ``diagnostics`` are the DSL's semantic
    checks (an unknown entity, say). ``finish_reason`` is ``"stop"`` when the model ended the
    program and ``"budget"`` when the engine closed it within ``max_new_tokens``.
    """

    code: str
    tree: lark.Tree
    diagnostics: tuple[Diagnostic, ...]
    finish_reason: FinishReason
    n_tokens: int
    """Tokens generated (EOS not counted), forced ones included."""
    n_forced: int
    """Tokens the engine chose to close the program within the budget."""
    n_fast_forward: int
    """Tokens the grammar forced (fed to the model without a choice)."""
    prompt_tokens: int
    adapter: str | None
    timings: Timings

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the tree as its pretty string, diagnostics as dicts."""
        return {
            "code": self.code,
            "finish_reason": self.finish_reason,
            "n_tokens": self.n_tokens,
            "n_forced": self.n_forced,
            "n_fast_forward": self.n_fast_forward,
            "prompt_tokens": self.prompt_tokens,
            "adapter": self.adapter,
            "diagnostics": [asdict(d) for d in self.diagnostics],
            "tree": self.tree.pretty(),
            "timings": asdict(self.timings),
        }


class Engine:
    """A model, its tokenizer and one DSL; generates programs that always parse.

    Build it with :meth:`Engine.load`, or hand it objects: ``Engine(model, tokenizer, dsl)``.
    The caller's tokenizer is never modified. Requests are serialised (one lock): the adapter
    switch and the KV cache belong to one request at a time.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        dsl: DSL | str,
        *,
        adapters: Sequence[str] = (),
        default_adapter: str | None = None,
        overlap_masks: bool | None = None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.dsl = dsl if isinstance(dsl, DSL) else dsl_module.load(dsl)
        self.adapters = tuple(adapters)
        if default_adapter is not None and default_adapter not in self.adapters:
            raise EngineError(f"default_adapter {default_adapter!r} is not among the adapters {list(self.adapters)}")
        self.default_adapter = default_adapter
        # None: overlap grammar masks with the forward pass on accelerators only; on a CPU both
        # compete for the same cores and the thread hand-off costs more than it hides.
        self.overlap_masks = overlap_masks
        self._lock = threading.RLock()
        self._llg: Any = None
        self._executor: Any = None
        self._outlines: Any = None
        self._grammars: OrderedDict[str, CompiledGrammar] = OrderedDict()

    @classmethod
    def load(
        cls,
        dsl: DSL | str,
        model: str | None = None,
        adapters: Mapping[str, str] | None = None,
        *,
        device: str | None = None,
        dtype: str | None = None,
        allow_pickle: bool = False,
        shipped_adapter: bool = True,
    ) -> Engine:
        """Load a model folder (or hub id), its tokenizer and adapters; see :mod:`engine.loading`.

        Args:
            dsl: a DSL name under ``grammars/``, a DSL folder, or a loaded :class:`dsl.DSL`.
            model: a local Hugging Face folder or hub id; default SmolLM2-135M-Instruct.
            adapters: name -> peft LoRA folder, loaded once on the base model.
            device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; default CUDA when available.
            dtype: ``"float32"``, ``"bfloat16"`` or ``"float16"``; default float32 on CPU,
                bfloat16 on CUDA.
            allow_pickle: accept ``.bin``/``.pt`` weights (they can run code when loaded).
            shipped_adapter: apply ``adapters/<dsl>/`` when it was trained on this base model.

        Raises:
            EngineError: naming the folder and what is missing, or the refused pickle.
        """
        from engine.loading import load_engine

        return load_engine(
            dsl, model, adapters, device=device, dtype=dtype,
            allow_pickle=allow_pickle, shipped_adapter=shipped_adapter,
        )

    def __repr__(self) -> str:
        name = getattr(getattr(self.model, "config", None), "_name_or_path", type(self.model).__name__)
        return f"Engine(dsl={self.dsl.name!r}, model={name!r}, adapters={list(self.adapters)})"

    # -- public API -----------------------------------------------------------------------
    def generate(
        self,
        text: str,
        *,
        max_new_tokens: int = 128,
        temperature: float = 0.0,
        seed: int = 0,
        adapter: str | None = None,
        tenant: str | None = None,
        extra_catalog: Any = None,
        examples: Sequence[Example] = (),
        backend: Backend = "fast",
    ) -> Generation:
        """One program for ``text``.

        Args:
            text: the request in natural language.
            max_new_tokens: the token budget; the program always fits in it.
            temperature: 0 is greedy; above 0 samples (reproducible with ``seed``).
            seed: the sampling seed.
            adapter: a loaded adapter's name; default: the engine's default adapter (the
                shipped one, if it applied), ``"none"`` for the bare base model.
            tenant: a caller label; when ``adapter`` is not given and an adapter of this name
                is loaded, it is used.
            extra_catalog: entries added to a catalog-locked grammar for this request only
                (DSLs whose support has ``locked_decoding_grammar``, e.g. workflow).
            examples: few-shot ``(text, code)`` pairs put in the prompt.
            backend: ``"fast"`` (own decode loop) or ``"outlines"`` (Outlines' generator,
                same decisions; slower; the reference for tests and benchmarks).

        Returns:
            A :class:`Generation`.

        Raises:
            BudgetTooSmall: ``max_new_tokens`` is below the grammar's shortest program.
            ConstraintViolation: the matcher failed (never returned as code).
            EngineError: bad arguments (unknown adapter, extra_catalog on a DSL without one).
        """
        (result,) = self.generate_batch(
            [text], max_new_tokens=max_new_tokens, temperature=temperature, seed=seed,
            adapter=adapter, tenant=tenant, extra_catalog=extra_catalog, examples=examples,
            backend=backend,
        )
        return result

    def generate_batch(
        self,
        texts: Sequence[str],
        *,
        max_new_tokens: int = 128,
        temperature: float = 0.0,
        seed: int = 0,
        adapter: str | None = None,
        tenant: str | None = None,
        extra_catalog: Any = None,
        examples: Sequence[Example] = (),
        backend: Backend = "fast",
    ) -> list[Generation]:
        """Programs for several requests decoded together (one adapter and grammar for all).

        Row ``i`` samples with seed ``seed + i``. Arguments as in :meth:`generate`.
        """
        if isinstance(texts, str):
            raise EngineError("generate_batch takes a list of texts; use generate() for one")
        texts = list(texts)
        if not texts:
            return []
        with self._lock:
            run = self._prepare(texts, max_new_tokens, temperature, seed, adapter, tenant, extra_catalog, examples, backend)
            with self._adapter_scope(run.adapter):
                if backend == "fast":
                    for _ in self._fast_steps(run):
                        pass
                else:
                    self._outlines_run(run)
            return self._results(run)

    def stream(
        self,
        text: str,
        *,
        max_new_tokens: int = 128,
        temperature: float = 0.0,
        seed: int = 0,
        adapter: str | None = None,
        tenant: str | None = None,
        extra_catalog: Any = None,
        examples: Sequence[Example] = (),
    ) -> Iterator[str]:
        """Yield the program's text as it is decoded (fast path); the pieces join to the code
        that :meth:`generate` would return with the same arguments.

        The engine stays locked until the iterator is exhausted or closed.
        """
        with self._lock:
            run = self._prepare([text], max_new_tokens, temperature, seed, adapter, tenant, extra_catalog, examples, "fast")
            state = run.states[0]
            skip: int | None = None  # 1 when the text opens with the optional leading space
            sent = 0
            with self._adapter_scope(run.adapter):
                for _ in self._fast_steps(run):
                    data = bytes(state.data)
                    if skip is None:
                        if not data:
                            continue
                        skip = sent = 1 if data.startswith(b" ") else 0
                    ready = _complete_utf8(data)
                    if len(ready) > sent:
                        yield ready[sent:].decode("utf-8")
                        sent = len(ready)
            self._results(run)  # raises if the program does not parse

    def min_new_tokens(self, *, extra_catalog: Any = None) -> int:
        """The smallest ``max_new_tokens`` accepted: the grammar's shortest program, in tokens."""
        with self._lock:
            return len(self._grammar(extra_catalog)[0].shortest_tokens)

    def prompt(self, text: str, *, examples: Sequence[Example] = ()) -> str:
        """The prompt the model sees for ``text`` (from :func:`engine.prompting.build_prompt`)."""
        return build_prompt(self.dsl, text, tokenizer=self.tokenizer, examples=examples)

    # -- internals ------------------------------------------------------------------------
    def _prepare(
        self, texts: list[str], max_new_tokens: int, temperature: float, seed: int, adapter: str | None,
        tenant: str | None, extra_catalog: Any, examples: Sequence[Example], backend: str,
    ) -> _Run:
        started = time.perf_counter()
        problems = []
        if not isinstance(max_new_tokens, int) or isinstance(max_new_tokens, bool) or max_new_tokens <= 0:
            problems.append(f"`max_new_tokens` must be a positive integer, got {max_new_tokens!r}")
        if not isinstance(temperature, (int, float)) or not 0 <= temperature < float("inf"):
            problems.append(f"`temperature` must be a number >= 0, got {temperature!r}")
        if backend not in ("fast", "outlines"):
            problems.append(f"`backend` must be 'fast' or 'outlines', got {backend!r}")
        if problems:
            raise EngineError("; ".join(problems))
        if tenant is not None and extra_catalog is None:  # the tenant's adapter and catalog, this request only
            from engine.tenants import route

            routed = route(self, tenant=tenant, adapter=adapter, extra_catalog=extra_catalog)
            adapter, extra_catalog, tenant = routed.adapter, routed.extra_catalog, None
        chosen = self._resolve_adapter(adapter, tenant)
        grammar, compile_s = self._grammar(extra_catalog)
        needed = len(grammar.shortest_tokens)
        if max_new_tokens < needed:
            raise BudgetTooSmall(
                f"max_new_tokens={max_new_tokens} is below the shortest program of DSL "
                f"{self.dsl.name!r}, {grammar.shortest_program!r}, which takes {needed} tokens with "
                f"this tokenizer; use max_new_tokens >= {needed}"
            )
        prompts = [self.prompt(t, examples=examples) for t in texts]
        prompt_ids = [prompt_token_ids(self.tokenizer, p) for p in prompts]
        limit = getattr(getattr(self.model, "config", None), "max_position_embeddings", None)
        longest = max(len(p) for p in prompt_ids)
        if isinstance(limit, int) and longest + max_new_tokens > limit:
            raise EngineError(
                f"prompt ({longest} tokens) + max_new_tokens ({max_new_tokens}) exceeds the model's "
                f"{limit} positions; shorten the request or the examples, or lower max_new_tokens"
            )
        states = [RequestState(grammar, self._llg_tokenizer(), max_new_tokens=max_new_tokens) for _ in texts]
        return _Run(
            prompts=prompts, prompt_ids=prompt_ids, states=states, temperature=float(temperature),
            seeds=[seed + i for i in range(len(texts))], adapter=chosen, grammar_s=compile_s,
            started=started, stats=None, extra_catalog=extra_catalog,
        )

    def _fast_steps(self, run: _Run) -> Iterator[None]:
        from engine import fastpath

        run.stats = fastpath.LoopStats()
        for _ in fastpath.decode(
            self.model, run.states, run.prompt_ids, temperature=run.temperature, seeds=run.seeds,
            pad_token_id=self._pad_id(), executor=self._mask_executor(), stats=run.stats,
            overlap=self._overlap(),
        ):
            yield None

    def _outlines_run(self, run: _Run) -> None:
        from engine import outlines_path

        if self._outlines is None:
            self._outlines = outlines_path.outlines_model(self.model, self.tokenizer)
        started = time.perf_counter()
        outlines_path.run(
            self._outlines, run.prompts, run.states, self._llg_tokenizer(),
            temperature=run.temperature, seeds=run.seeds,
        )
        from engine.fastpath import LoopStats

        run.stats = LoopStats(forward_s=time.perf_counter() - started)

    def _results(self, run: _Run) -> list[Generation]:
        total = time.perf_counter() - run.started
        stats = run.stats
        timings = Timings(
            grammar_s=run.grammar_s,
            prefill_s=stats.prefill_s if stats else 0.0,
            decode_s=(stats.forward_s + stats.select_s + stats.mask_wait_s) if stats else 0.0,
            mask_s=stats.mask_s if stats else 0.0,
            total_s=total,
        )
        results: list[Generation] = []
        for state in run.states:
            if not state.done:
                raise ConstraintViolation(f"decoding stopped before the program was complete: {state.text()!r}")
            raw = bytes(state.data).decode("utf-8", errors="strict")
            code = raw[1:] if raw.startswith(" ") else raw
            try:
                tree = self.dsl.parse(code)
            except dsl_module.DSLSyntaxError as e:
                raise ConstraintViolation(
                    f"the decoder produced text the DSL does not parse (decoding grammar and DSL "
                    f"grammar disagree): {code!r}\n{e}"
                ) from e
            results.append(Generation(
                code=code, tree=tree, diagnostics=tuple(self._diagnostics(tree, code, run.extra_catalog)),
                finish_reason=state.finish_reason or "stop", n_tokens=len(state.tokens),
                n_forced=state.n_budget_forced, n_fast_forward=state.n_fast_forward,
                prompt_tokens=len(run.prompt_ids[len(results)]), adapter=run.adapter, timings=timings,
            ))
        return results

    def _diagnostics(self, tree: lark.Tree, code: str, extra_catalog: Any) -> list[Diagnostic]:
        """The DSL's checks; a request's extra catalog counts as part of the catalog."""
        if extra_catalog is None:
            return self.dsl.validate(code)
        return list(self.dsl.support.validate(tree, code, extra_catalog=extra_catalog))  # type: ignore[call-arg]

    def _grammar(self, extra_catalog: Any) -> tuple[CompiledGrammar, float]:
        from engine.constraint import compile_grammar

        text = self._grammar_text(extra_catalog)
        found = self._grammars.get(text)
        if found is not None:
            self._grammars.move_to_end(text)
            return found, 0.0
        started = time.perf_counter()
        compiled = compile_grammar(text, self._llg_tokenizer())
        self._grammars[text] = compiled
        while len(self._grammars) > _GRAMMAR_CACHE_SIZE:
            self._grammars.popitem(last=False)
        return compiled, time.perf_counter() - started

    def _grammar_text(self, extra_catalog: Any) -> str:
        locked = getattr(self.dsl.support, "locked_decoding_grammar", None)
        if locked is not None:
            return str(locked(extra_catalog=extra_catalog))
        if extra_catalog is not None:
            raise EngineError(
                f"DSL {self.dsl.name!r} has no catalog-locked grammar, so `extra_catalog` cannot apply; "
                "leave it out"
            )
        return self.dsl.decoding_grammar()

    def _llg_tokenizer(self) -> Any:
        """The llguidance tokenizer, built once per tokenizer object (~0.3-1.3 s)."""
        if self._llg is None:
            from engine.constraint import grammar_slices, llg_tokenizer_for

            self._llg = llg_tokenizer_for(self.tokenizer, grammar_slices(self.dsl.decoding_grammar()))
        return self._llg

    def _overlap(self) -> bool:
        if self.overlap_masks is not None:
            return self.overlap_masks
        from engine.fastpath import device_of

        return device_of(self.model).type != "cpu"

    def _mask_executor(self) -> Any:
        if self._executor is None:
            import llguidance

            self._executor = llguidance.LLExecutor()
        return self._executor

    def _pad_id(self) -> int:
        for candidate in (self.tokenizer.pad_token_id, self.tokenizer.eos_token_id, 0):
            if candidate is not None:
                return int(candidate)
        return 0  # pragma: no cover

    def _resolve_adapter(self, adapter: str | None, tenant: str | None) -> str | None:
        if adapter is None and tenant is not None and tenant in self.adapters:
            adapter = tenant
        if adapter is None:
            return self.default_adapter
        if adapter == "none":
            return None
        if adapter not in self.adapters:
            raise EngineError(f"adapter {adapter!r} is not loaded; loaded: {list(self.adapters)} (or 'none')")
        return adapter

    def adapter_active(self, adapter: str | None) -> contextlib.AbstractContextManager[None]:
        """A block in which ``self.model`` runs as a request with ``adapter=`` would: that adapter
        (``None``: the default one, ``"none"``: the bare base), eval mode. For callers that use
        the model directly, e.g. unconstrained generation in the evaluation harness."""
        return self._adapter_scope(self._resolve_adapter(adapter, None))

    @contextlib.contextmanager
    def _adapter_scope(self, adapter: str | None) -> Iterator[None]:
        """For one call: the model in eval mode (dropout off; a caller's training mode is put
        back afterwards) with ``adapter`` active, or adapters disabled."""
        training = bool(getattr(self.model, "training", False))
        if training:
            self.model.eval()
        try:
            if not self.adapters:
                yield
            elif adapter is None:
                with self.model.disable_adapter():
                    yield
            else:
                if getattr(self.model, "active_adapter", None) != adapter:
                    self.model.set_adapter(adapter)  # walks every LoRA layer: skip it when nothing changes
                yield
        finally:
            if training:
                self.model.train()


@dataclass
class _Run:
    prompts: list[str]
    prompt_ids: list[list[int]]
    states: list[RequestState]
    temperature: float
    seeds: list[int]
    adapter: str | None
    grammar_s: float
    started: float
    stats: Any
    extra_catalog: Any


def _complete_utf8(data: bytes) -> bytes:
    """The longest prefix of ``data`` that ends on a character boundary."""
    for cut in range(len(data), max(-1, len(data) - 4), -1):
        try:
            data[:cut].decode("utf-8")
            return data[:cut]
        except UnicodeDecodeError:
            continue
    return b""
