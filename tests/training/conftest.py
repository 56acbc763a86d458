"""Fixtures of the training tests: a tiny random Llama with the real SmolLM2 tokenizer.

The model is real (transformers' LlamaForCausalLM, safetensors on disk) but tiny (2 layers,
hidden 16: ~0.8 M parameters, almost all in the 49k-token embedding), so training steps take
milliseconds and the tests exercise the real Trainer, peft, tokenizer and engine.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest


def make_tiny_llama(folder: Path, *, seed: int = 0) -> Path:
    """Write a tiny random Llama + the SmolLM2 tokenizer to ``folder`` (safetensors)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from engine.assets import load_reference_tokenizer

    tokenizer = load_reference_tokenizer("smollm2")
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512,
        tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_llama(tmp_path_factory.mktemp("tiny") / "tiny-llama")


@pytest.fixture(autouse=True)
def _restore_torch_threads():
    """Training sets torch's thread count; put it back for other tests (only if torch is loaded:
    the data tests must not pay for importing it)."""
    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    yield
    torch = sys.modules.get("torch")
    if torch is not None and before is not None:
        torch.set_num_threads(before)
