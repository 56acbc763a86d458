"""Masks on logits and candidate order: what both decoding paths rely on."""

from __future__ import annotations

import collections

import pytest
import torch

from engine import sampling


def _reference_allowed(bitmask: torch.Tensor, vocab: int) -> torch.Tensor:
    bits = [[(int(word) >> b) & 1 for word in row for b in range(32)] for row in bitmask.tolist()]
    allowed = torch.tensor(bits, dtype=torch.bool)
    if allowed.shape[1] < vocab:
        allowed = torch.cat([allowed, torch.zeros(allowed.shape[0], vocab - allowed.shape[1], dtype=torch.bool)], 1)
    return allowed[:, :vocab]


@pytest.mark.parametrize("vocab", [70, 96, 130])  # not a multiple of 32; larger than the mask (130 > 96)
def test_apply_bitmask_unpacks_bits_little_endian(vocab: int) -> None:
    generator = torch.Generator().manual_seed(vocab)
    bitmask = torch.randint(-(2**31), 2**31 - 1, (3, 3), dtype=torch.int32, generator=generator)
    logits = torch.randn(3, vocab, generator=generator)
    scores = sampling.apply_bitmask(logits, bitmask)
    allowed = _reference_allowed(bitmask, vocab)
    assert torch.equal(torch.isfinite(scores), allowed)
    assert torch.equal(scores[allowed], logits[allowed])
    assert torch.isfinite(logits).all()  # the caller's logits are untouched


def test_greedy_candidates_are_allowed_tokens_best_first() -> None:
    scores = torch.tensor([[0.5, float("-inf"), 2.0, 1.0], [float("-inf")] * 3 + [0.0]])
    assert sampling.candidates(scores, temperature=0.0, generators=[None, None], k=8) == [[2, 3, 0], [3]]


def test_sampling_follows_the_distribution_and_never_repeats_a_token() -> None:
    logits = torch.tensor([[1.0, 0.0, float("-inf"), -1.0, 2.0]])
    expected = torch.softmax(logits, dim=-1)[0]
    counts: collections.Counter[int] = collections.Counter()
    generator = torch.Generator().manual_seed(0)
    draws = 3000
    for _ in range(draws):
        (options,) = sampling.candidates(logits, temperature=1.0, generators=[generator])
        order = list(options)
        assert sorted(order) == [0, 1, 3, 4]  # every allowed token, each once, the masked one never
        counts[order[0]] += 1
    for token in (0, 1, 3, 4):
        assert abs(counts[token] / draws - float(expected[token])) < 0.03


def test_only_leaves_one_token() -> None:
    logits = torch.zeros(2, 5)
    sampling.only(logits, 1, 3)
    assert torch.isfinite(logits[1]).nonzero().flatten().tolist() == [3]
    assert torch.isfinite(logits[0]).all()
