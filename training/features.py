"""Training texts: the ONE prompt (:func:`engine.prompting.build_prompt`) + canonical code + EOS.

The model is trained exactly as the engine asks it: the prompt tokens come from
:func:`engine.prompting.prompt_token_ids` (the engine's own tokenization), the completion is
the canonical program tokenized on its own (what the decoder emits after the prompt, without
the optional leading space) followed by EOS. Loss is on the completion only: prompt positions
carry the label ``-100``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dsl import DSL
from training.errors import DataError

IGNORE_INDEX = -100
"""Label of positions without loss (PyTorch's cross-entropy default ``ignore_index``)."""


def completion_token_ids(tokenizer: Any, code: str) -> list[int]:
    """The tokens the model must produce after the prompt: the program, then EOS."""
    eos = tokenizer.eos_token_id
    if eos is None:
        raise DataError("the tokenizer has no eos_token_id; the model could not learn where a program ends")
    return list(tokenizer(code, add_special_tokens=False)["input_ids"]) + [int(eos)]


def encode_pair(language: DSL, tokenizer: Any, text: str, code: str) -> dict[str, list[int]]:
    """``input_ids`` (prompt + completion) and ``labels`` (-100 on the prompt).

    >>> from engine.assets import load_reference_tokenizer          # doctest: +SKIP
    >>> import dsl                                                   # doctest: +SKIP
    >>> ex = encode_pair(dsl.load("geoquery"), load_reference_tokenizer("smollm2"),
    ...                  "how big is texas?", "answer(size(stateid('texas')))")  # doctest: +SKIP
    >>> ex["labels"][:3]                                             # doctest: +SKIP
    [-100, -100, -100]
    """
    from engine.prompting import build_prompt, prompt_token_ids

    prompt_ids = prompt_token_ids(tokenizer, build_prompt(language, text, tokenizer=tokenizer))
    completion = completion_token_ids(tokenizer, code)
    return {
        "input_ids": prompt_ids + completion,
        "labels": [IGNORE_INDEX] * len(prompt_ids) + completion,
    }


def encode_rows(language: DSL, tokenizer: Any, rows: list[dict[str, Any]], *, max_seq_len: int) -> list[dict[str, list[int]]]:
    """Encode every row; rows longer than ``max_seq_len`` are an error naming them (no truncation)."""
    encoded = []
    too_long = []
    for row in rows:
        ex = encode_pair(language, tokenizer, row["text"], row["code"])
        if len(ex["input_ids"]) > max_seq_len:
            too_long.append(f"{row.get('id', '?')} ({len(ex['input_ids'])} tokens)")
        encoded.append(ex)
    if too_long:
        shown = ", ".join(too_long[:10]) + (f" and {len(too_long) - 10} more" if len(too_long) > 10 else "")
        raise DataError(f"{len(too_long)} training rows exceed --train.max_seq_len={max_seq_len}: {shown}; "
                        "raise it or drop those rows (they are never truncated silently)")
    return encoded


@dataclass(frozen=True)
class PadCollator:
    """Batches for the Trainer: LEFT-padded, with ``position_ids`` and completion-only logits.

    Left padding puts every program at the right edge, so the logits the loss needs are the
    last ``K`` positions (K = longest completion + 1) for every row. The model computes only
    those (``logits_to_keep=K``) and the labels are cut to the same K columns; the LM head over
    a 49k vocabulary then runs on ~20 positions per row instead of ~55. ``position_ids`` count
    from each row's first real token, as in an unpadded forward pass.
    """

    pad_token_id: int
    multiple: int = 8
    """Pad the width to a multiple of this: few distinct shapes. On CPU, bf16 kernels (oneDNN)
    are built per shape — measured 3-15 s for each new sequence length."""

    def __call__(self, batch: list[dict[str, list[int]]]) -> dict[str, Any]:
        import torch

        longest = max(len(ex["input_ids"]) for ex in batch)
        width = -(-longest // self.multiple) * self.multiple
        ids = torch.full((len(batch), width), self.pad_token_id, dtype=torch.long)  # (B, T)
        labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)  # (B, T)
        mask = torch.zeros((len(batch), width), dtype=torch.long)  # (B, T)
        keep = 1
        for i, ex in enumerate(batch):
            n = len(ex["input_ids"])
            ids[i, width - n:] = torch.tensor(ex["input_ids"])
            labels[i, width - n:] = torch.tensor(ex["labels"])
            mask[i, width - n:] = 1
            completion = sum(1 for x in ex["labels"] if x != IGNORE_INDEX)
            keep = max(keep, completion + 1)  # + 1: the last prompt position predicts the first code token
        keep = min(keep, width)
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)  # (B, T)
        return {
            "input_ids": ids,
            "attention_mask": mask,
            "position_ids": positions,
            "labels": labels[:, width - keep:],  # (B, K): aligned with the kept logits
            "logits_to_keep": keep,
        }


def pad_token_id(tokenizer: Any) -> int:
    """The pad id for training batches: the tokenizer's pad, else its EOS (masked out anyway)."""
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if candidate is not None:
            return int(candidate)
    raise DataError("the tokenizer has neither a pad nor an eos token")
