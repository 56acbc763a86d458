"""Grammar masks on logits and the model's candidates, best first, for a whole batch at once.

One bitmask (B, ceil(V/32)) int32 is filled on the host by llguidance and moved to the logits'
device in one transfer per step; it is unpacked there. Candidates are the top-k of the masked
scores (greedy) or of scores plus Gumbel noise (sampling): the Gumbel-top-k order is a sample
without replacement, so trying candidates in order samples from the model's distribution
restricted to the tokens the budget allows (Kool et al. 2019, "Stochastic Beams").
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import torch

# Candidates moved to the host per row and step: the budget rarely refuses more than a few.
TOP_K = 8

_SHIFTS: dict[torch.device, torch.Tensor] = {}
# Masks go to llguidance's thread pool from this many rows, on machines with this many cores.
_PARALLEL_ROWS = 4
_CORES = os.cpu_count() or 1


def allocate_bitmask(batch_size: int, vocab_size: int) -> torch.Tensor:
    """A host bitmask for ``batch_size`` rows (pinned where a CUDA device will read it)."""
    shape = (batch_size, (vocab_size + 31) // 32)
    pin = torch.cuda.is_available()
    return torch.full(shape, -1, dtype=torch.int32, pin_memory=pin)


def fill_bitmask(executor: Any, matchers: Sequence[tuple[Any, int]], bitmask: torch.Tensor) -> None:
    """Fill the rows of ``bitmask`` named in ``matchers`` ((matcher, row) pairs): in
    llguidance's thread pool for large batches on machines with cores to spare, else here.

    Calls llguidance directly: ``llguidance.torch`` (same calls, plus asserts) imports
    torch._dynamo for its compiled kernel, ~2.5 s at first use on this CPU.
    """
    if not matchers:
        return
    if bitmask.dtype != torch.int32 or bitmask.device.type != "cpu" or not bitmask.is_contiguous():
        raise ValueError("the bitmask must be a contiguous int32 tensor on the CPU")
    batch, words = bitmask.shape
    if len(matchers) >= _PARALLEL_ROWS and _CORES >= _PARALLEL_ROWS:
        executor.unsafe_compute_mask_ptr(list(matchers), bitmask.data_ptr(), words * 4, batch)
        return
    for matcher, row in matchers:  # a mask costs ~5-40 µs; the pool hand-off ~80 µs on 2 cores
        matcher.unsafe_compute_mask_ptr(bitmask[row].data_ptr(), words * 4)


def apply_bitmask(logits: torch.Tensor, bitmask: torch.Tensor) -> torch.Tensor:
    """``logits`` (B, V) with disallowed tokens at -inf (a new float32 tensor)."""
    device = logits.device
    words = bitmask.to(device, non_blocking=True)  # (B, W): the one transfer per step
    shifts = _SHIFTS.get(device)
    if shifts is None:
        shifts = _SHIFTS[device] = torch.arange(32, dtype=torch.int32, device=device)
    bits = (words.unsqueeze(-1) >> shifts) & 1  # (B, W, 32)
    allowed = bits.reshape(words.shape[0], -1).bool()  # (B, 32W)
    vocab = logits.shape[-1]
    covered = min(vocab, allowed.shape[1])
    scores = logits.to(torch.float32, copy=True)
    scores[:, :covered].masked_fill_(~allowed[:, :covered], float("-inf"))
    if vocab > covered:  # model rows beyond the tokenizer's vocabulary are never valid
        scores[:, covered:] = float("-inf")
    return scores


def candidates(
    scores: torch.Tensor, *, temperature: float, generators: Sequence[torch.Generator | None], k: int = TOP_K
) -> list[Iterable[int]]:
    """Per row, allowed token ids best first: the top ``k`` (greedy), or a sample and then, only
    if the budget refuses it, further samples without replacement."""
    if temperature <= 0:
        values, indices = scores.topk(min(k, scores.shape[-1]), dim=-1)
        values, indices = values.cpu(), indices.cpu()  # (B, k): one small transfer
        finite = torch.isfinite(values)
        return [[int(t) for t, ok in zip(indices[r], finite[r]) if ok] for r in range(scores.shape[0])]
    # Inverse-CDF: one uniform number per row (drawing Gumbel noise for a 49k vocabulary costs
    # ~1 ms per row on a CPU; a softmax and a cumsum, ~0.1 ms).
    probs = torch.softmax(scores / temperature, dim=-1)  # (B, V); masked tokens get 0
    cdf = probs.cumsum(-1)  # (B, V)
    uniform = torch.stack([1.0 - torch.rand((), generator=g, device=scores.device) for g in generators])  # (B,) in (0, 1]
    first = torch.searchsorted(cdf, (uniform * cdf[:, -1]).unsqueeze(1).contiguous()).squeeze(1)
    first = first.clamp(max=scores.shape[-1] - 1).cpu()
    return [_Sampled(int(first[r]), scores[r], temperature, generators[r], k) for r in range(scores.shape[0])]


class _Sampled:
    """A sampled token, then (lazily, when the budget refused it) a sample without replacement
    of the other allowed tokens: Gumbel-top-k (Kool et al. 2019). The first of those not yet
    tried is distributed as the model's distribution restricted to the untried tokens."""

    def __init__(self, first: int, scores: torch.Tensor, temperature: float, generator: torch.Generator | None, k: int):
        self.first, self.scores, self.temperature, self.generator, self.k = first, scores, temperature, generator, k

    def __iter__(self) -> Iterator[int]:
        if torch.isfinite(self.scores[self.first]):
            yield self.first
        allowed = torch.isfinite(self.scores).nonzero().squeeze(1)  # (n,)
        noise = torch.empty(allowed.shape[0], device=self.scores.device).exponential_(generator=self.generator)
        perturbed = self.scores[allowed] / self.temperature - noise.log()  # Gumbel-max: -log(Exp(1))
        order = perturbed.topk(min(self.k, allowed.shape[0])).indices
        for token in allowed[order].cpu().tolist():
            if token != self.first:
                yield int(token)


def only(logits: torch.Tensor, row: int, token: int) -> None:
    """Make ``token`` the only possible choice of ``row`` (in place)."""
    logits[row] = float("-inf")
    logits[row, token] = 0.0
