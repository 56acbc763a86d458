"""The fast decode loop: KV cache, forced tokens in one forward pass, one bitmask transfer per
step for the whole batch, masks computed while the model runs, stop as soon as every program is
complete. Decisions come from :class:`engine.budget.RequestState`, exactly as on the Outlines
path, so greedy decoding gives the same programs on both (tests/engine/test_differential.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import torch

from engine import sampling
from engine.budget import RequestState


@dataclass
class LoopStats:
    """Where the time went, summed over steps (seconds), and step counts."""

    prefill_s: float = 0.0
    forward_s: float = 0.0
    mask_s: float = 0.0
    """Host time filling grammar masks (overlapped with the forward pass where possible)."""
    mask_wait_s: float = 0.0
    """Time spent waiting for masks after the forward pass: the part not hidden by overlap."""
    select_s: float = 0.0
    steps: int = 0
    forwards: int = 0


def decode(
    model: Any,
    states: Sequence[RequestState],
    prompts: Sequence[Sequence[int]],
    *,
    temperature: float,
    seeds: Sequence[int],
    pad_token_id: int,
    executor: Any,
    stats: LoopStats,
    overlap: bool = True,
) -> Iterator[list[list[int]]]:
    """Decode all rows to completion; yields, per step, the tokens each row appended.

    Args:
        model: a Hugging Face causal LM (or a peft model around one), in eval mode.
        states: one request state per row (matchers fresh, budgets set).
        prompts: prompt token ids per row.
        temperature: 0 for greedy; otherwise Gumbel-top-k sampling at this temperature.
        seeds: per row, for sampling.
        pad_token_id: any token id; pads are masked out of attention.
        executor: an ``llguidance.LLExecutor`` (parallel mask filling).
        stats: filled in place.
        overlap: compute the next masks in a thread while the forward pass runs.
    """
    device = device_of(model)
    rows = len(states)
    generators: list[torch.Generator | None] = [None] * rows
    if temperature > 0:
        generators = [torch.Generator(device=device).manual_seed(int(s)) for s in seeds]
    bitmask = sampling.allocate_bitmask(rows, states[0].llg.vocab_size)
    pool = ThreadPoolExecutor(max_workers=1) if overlap else None
    try:
        first = [s.take_forced() for s in states]
        yield first
        if all(s.done for s in states):
            return
        chunks = [list(p) + f for p, f in zip(prompts, first)]
        cache_name, keep_last = _forward_arguments(model)
        extra = {"logits_to_keep": 1} if keep_last else {}
        cache = None
        attention = torch.zeros((rows, 0), dtype=torch.long, device=device)
        while True:
            active = [i for i, s in enumerate(states) if not s.done]
            if not active:
                return
            # Matchers are up to date: masks for the next choice can be filled during the forward.
            pending = pool.submit(_fill, executor, states, active, bitmask) if pool else None
            input_ids, chunk_mask = _pad_left(chunks, pad_token_id, device)
            attention = torch.cat([attention, chunk_mask], dim=1)
            positions = (attention.cumsum(-1) - 1).clamp(min=0)[:, -input_ids.shape[1] :]
            before = time.perf_counter()
            with torch.inference_mode():
                output = model(
                    input_ids=input_ids, attention_mask=attention, position_ids=positions,
                    use_cache=True, **{cache_name: cache}, **extra,
                )
            logits = output.logits[:, -1, :]  # (B, V)
            cache = getattr(output, cache_name)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            after = time.perf_counter()
            if stats.forwards == 0:
                stats.prefill_s += after - before
            else:
                stats.forward_s += after - before
            stats.forwards += 1
            if pending is not None:
                mask_time = pending.result()
                stats.mask_wait_s += time.perf_counter() - after
            else:
                mask_time = _fill(executor, states, active, bitmask)
                stats.mask_wait_s += mask_time
            stats.mask_s += mask_time
            picked = time.perf_counter()
            scores = sampling.apply_bitmask(logits, bitmask)
            options = sampling.candidates(scores, temperature=temperature, generators=generators)
            appended: list[list[int]] = [[] for _ in range(rows)]
            for i in active:
                token = states[i].choose(options[i])
                if states[i].done:  # EOS (not fed) or a closing token
                    appended[i] = [] if token == states[i].eos_token else [token]
                else:
                    appended[i] = [token] + states[i].take_forced()
            stats.select_s += time.perf_counter() - picked
            stats.steps += 1
            yield appended
            # Rows that finished feed nothing (a masked pad keeps the batch rectangular).
            chunks = [a if not states[i].done else [] for i, a in enumerate(appended)]
            if all(s.done for s in states):
                return
    finally:
        if pool is not None:
            pool.shutdown(wait=True)


def _fill(executor: Any, states: Sequence[RequestState], active: list[int], bitmask: torch.Tensor) -> float:
    started = time.perf_counter()
    sampling.fill_bitmask(executor, [(states[i].matcher, i) for i in active], bitmask)
    return time.perf_counter() - started


def _pad_left(chunks: Sequence[Sequence[int]], pad: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(input ids, attention mask), both (B, T): each row's tokens right-aligned so the last
    position is every active row's newest token."""
    width = max(1, max(len(c) for c in chunks))
    ids = torch.full((len(chunks), width), pad, dtype=torch.long)
    mask = torch.zeros((len(chunks), width), dtype=torch.long)
    for row, chunk in enumerate(chunks):
        if chunk:
            ids[row, width - len(chunk) :] = torch.tensor(chunk, dtype=torch.long)
            mask[row, width - len(chunk) :] = 1
    return ids.to(device), mask.to(device)


def _forward_arguments(model: Any) -> tuple[str, bool]:
    """What the model's forward takes: the cache argument's name (``cache`` in transformers
    >= 5.2x, ``past_key_values`` before; the old name warns where the new exists) and whether
    it can compute logits for the last position only (``logits_to_keep``: the prefill then
    skips a (T, vocab) projection)."""
    import inspect

    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    parameters = inspect.signature(inner.forward).parameters
    return ("cache" if "cache" in parameters else "past_key_values"), "logits_to_keep" in parameters


def device_of(model: Any) -> torch.device:
    """The device of the model's first parameter (where inputs go)."""
    try:
        return next(model.parameters()).device
    except StopIteration:  # pragma: no cover - a model without parameters
        return torch.device("cpu")
