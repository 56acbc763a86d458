"""The reference path: Outlines' Transformers model and generator, with Outlines' llguidance
logits processor extended so that matcher errors raise and the budget guarantee holds.

Every decision comes from :class:`engine.budget.RequestState` (as on the fast path); the
processor then leaves exactly one token possible, so Hugging Face ``generate`` (greedy) emits
it. Forced tokens therefore go through the model one at a time here — the cost the fast path
removes.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from outlines.backends.llguidance import LLGuidanceLogitsProcessor
from outlines.models.transformers import TransformerTokenizer

from engine import sampling
from engine.budget import RequestState
from engine.prompting import prompt_token_ids


class EngineLogitsProcessor(LLGuidanceLogitsProcessor):
    """Outlines' llguidance processor driven by the engine's request states (one per row)."""

    def __init__(self, states: Sequence[RequestState], llg_tokenizer: Any, *, temperature: float, seeds: Sequence[int]):
        super().__init__("", llg_tokenizer, "torch")
        self.states = list(states)
        self.temperature = temperature
        self.seeds = list(seeds)
        self._queues: list[list[int]] = [[] for _ in self.states]
        self._generators: list[torch.Generator | None] = [None] * len(self.states)

    def reset(self) -> None:
        """One processor serves one call; nothing to reset."""

    def _setup(self, batch_size: int, device: Any = None) -> None:
        if batch_size != len(self.states):
            raise ValueError(f"the processor has {len(self.states)} request states but the batch has {batch_size} rows")
        # The engine's matchers, not fresh ones from a grammar string: they already hold the
        # request's state (and the engine checks them after every step).
        self.ll_matchers = [s.matcher for s in self.states]
        if device is not None and device.type == "cpu":
            # Outlines' numpy masking: its torch variant is a torch.compile'd kernel that took
            # 15 s to compile at the first call on this CPU (cached on disk afterwards).
            import llguidance.numpy

            self.bitmask = llguidance.numpy.allocate_token_bitmask(batch_size, self.llg_tokenizer.vocab_size)  # type: ignore[assignment]
            self._bias_logits = self._bias_cpu
        else:
            import llguidance.torch

            self.bitmask = llguidance.torch.allocate_token_bitmask(batch_size, self.llg_tokenizer.vocab_size)
            self._bias_logits = self._bias_logits_torch

    def _bias_cpu(self, input_ids: Any, logits: Any) -> Any:
        # numpy views share memory with the CPU tensors: Outlines masks ``logits`` in place.
        self._bias_logits_numpy(input_ids.numpy(), logits.numpy())
        return logits

    def process_logits(self, input_ids: Any, logits: Any) -> Any:
        rows = logits.shape[0]
        if self.is_first_token:
            self._setup(rows, logits.device)
            self.is_first_token = False
            self._queues = [s.take_forced() for s in self.states]
            if self.temperature > 0:
                self._generators = [torch.Generator(device=logits.device).manual_seed(int(s)) for s in self.seeds]
        choosing = [i for i, s in enumerate(self.states) if not s.done and not self._queues[i]]
        options: dict[int, Iterable[int]] = {}
        if choosing:
            biased = self._bias_logits(input_ids, logits.clone())  # Outlines' own masking
            picked = sampling.candidates(
                biased[choosing].float(), temperature=self.temperature,
                generators=[self._generators[i] for i in choosing],
            )
            options = dict(zip(choosing, picked))
        for row, state in enumerate(self.states):
            if state.done:
                token = state.eos_token
            elif self._queues[row]:
                token = self._queues[row].pop(0)
            else:
                token = state.choose(options[row])
                if not state.done:
                    self._queues[row] = state.take_forced()
            sampling.only(logits, row, token)
        return logits


class _PromptTokenizer(TransformerTokenizer):
    """Outlines' tokenizer wrapper, encoding prompts exactly as the fast path does."""

    def encode(self, prompt: str | list[str], **kwargs: Any) -> tuple[Any, Any]:
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        rows = [prompt_token_ids(self.tokenizer, p) for p in prompts]
        width = max(len(r) for r in rows)
        pad = self.pad_token_id
        ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows], dtype=torch.long)
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], dtype=torch.long)
        return ids, mask


def outlines_model(model: Any, tokenizer: Any) -> Any:
    """An Outlines model around ``model`` with a private copy of ``tokenizer`` (Outlines sets
    ``padding_side`` and a pad token on the tokenizer it is given)."""
    import outlines

    private = copy.deepcopy(tokenizer)
    wrapped = outlines.from_transformers(model, private)
    wrapped.tokenizer = _PromptTokenizer(private)
    wrapped.type_adapter.has_chat_template = False  # type: ignore[attr-defined]  # prompts are templated already
    return wrapped


def run(
    wrapped: Any,
    prompts: Sequence[str],
    states: Sequence[RequestState],
    llg_tokenizer: Any,
    *,
    temperature: float,
    seeds: Sequence[int],
) -> None:
    """Decode ``prompts`` through ``outlines.Generator``; results are left in ``states``."""
    import outlines
    from transformers import GenerationConfig

    processor = EngineLogitsProcessor(states, llg_tokenizer, temperature=temperature, seeds=seeds)
    generator = outlines.Generator(wrapped, processor=processor)
    eos = int(llg_tokenizer.eos_token)
    config = GenerationConfig(
        # +1: the EOS the processor emits after the last program token
        max_new_tokens=max(s.remaining for s in states) + 1,
        do_sample=False,
        eos_token_id=eos,
        pad_token_id=wrapped.tokenizer.pad_token_id if wrapped.tokenizer.pad_token_id is not None else eos,
    )
    if len(prompts) == 1:
        generator(prompts[0], generation_config=config)
    else:
        generator.batch(list(prompts), generation_config=config)
