"""`training.features`: the training batch computes the same loss as unpadded examples."""

from __future__ import annotations

from pathlib import Path

import pytest

import dsl
from training.features import IGNORE_INDEX, PadCollator, encode_pair, encode_rows

GEO = dsl.load("geoquery")


def test_collator_shapes_and_alignment() -> None:
    a = {"input_ids": [1, 2, 3, 4, 5], "labels": [IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX, 4, 5]}
    b = {"input_ids": [7, 8, 9], "labels": [IGNORE_INDEX, 8, 9]}
    batch = PadCollator(pad_token_id=0, multiple=4)([a, b])
    assert batch["input_ids"].tolist() == [[0, 0, 0, 1, 2, 3, 4, 5], [0, 0, 0, 0, 0, 7, 8, 9]]
    assert batch["attention_mask"].tolist() == [[0, 0, 0, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 1, 1, 1]]
    assert batch["position_ids"][0, 3:].tolist() == [0, 1, 2, 3, 4] and batch["position_ids"][1, 5:].tolist() == [0, 1, 2]
    assert batch["logits_to_keep"] == 3
    assert batch["labels"].tolist() == [[IGNORE_INDEX, 4, 5], [IGNORE_INDEX, 8, 9]]


@pytest.mark.integration
def test_batched_loss_equals_unpadded_loss(tiny_base: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_base))
    model = AutoModelForCausalLM.from_pretrained(str(tiny_base), dtype=torch.float32).eval()
    rows = GEO.examples(split="train")[:4]
    encoded = encode_rows(GEO, tok, rows, max_seq_len=256)
    with torch.no_grad():
        batched = model(**PadCollator(tok.pad_token_id)(encoded)).loss
        total, count = 0.0, 0
        for ex in encoded:
            ids = torch.tensor([ex["input_ids"]])
            logits = model(input_ids=ids).logits[0, :-1]  # (T-1, V)
            targets = torch.tensor(ex["labels"][1:])
            keep = targets != IGNORE_INDEX
            total += torch.nn.functional.cross_entropy(logits[keep], targets[keep], reduction="sum").item()
            count += int(keep.sum())
    assert batched.item() == pytest.approx(total / count, rel=1e-5)


def test_rows_longer_than_the_limit_are_an_error_never_truncated() -> None:
    from engine.assets import load_reference_tokenizer
    from training.errors import DataError

    tok = load_reference_tokenizer("smollm2")
    rows = [{"id": "long1", "text": "what is the capital of texas", "code": "answer(capital_1(stateid('texas')))"}]
    with pytest.raises(DataError, match="1 training rows exceed --train.max_seq_len=10: long1"):
        encode_rows(GEO, tok, rows, max_seq_len=10)
    (ok,) = encode_rows(GEO, tok, rows, max_seq_len=200)
    assert ok["labels"][-1] == tok.eos_token_id
