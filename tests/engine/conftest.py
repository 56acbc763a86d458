"""Shared fixtures of the engine tests: the real tokenizers (SmolLM2 49k BPE, Mistral v1 32k
sentencepiece), tiny random Llama/Mistral models over their vocabularies, and one torch thread
(a 2-core machine shared with other jobs: intra-op threads oversubscribe and run 10x slower on
models this small)."""

from __future__ import annotations

import functools

import pytest


@pytest.fixture(scope="session")
def smollm2_tokenizer():
    from engine.assets import load_reference_tokenizer

    return load_reference_tokenizer("smollm2")


@pytest.fixture(scope="session")
def mistral_tokenizer():
    from engine.assets import load_reference_tokenizer

    return load_reference_tokenizer("mistral-v1")


@pytest.fixture(scope="session")
def tokenizers(smollm2_tokenizer, mistral_tokenizer):
    return {"smollm2": smollm2_tokenizer, "mistral-v1": mistral_tokenizer}


@pytest.fixture(autouse=True)
def _one_torch_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@functools.lru_cache(maxsize=64)
def tiny_model(arch: str, vocab: int, eos: int, *, hidden: int = 32, layers: int = 1, seed: int = 0):
    """A random causal LM (float32, eval mode); cached per configuration (never mutated)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM

    heads = max(1, hidden // 16)
    common = dict(
        vocab_size=vocab, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=heads, max_position_embeddings=2048,
        eos_token_id=eos, pad_token_id=eos, tie_word_embeddings=True,
    )
    config, cls = (
        (LlamaConfig(**common), LlamaForCausalLM) if arch == "llama"
        else (MistralConfig(sliding_window=None, **common), MistralForCausalLM)
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = cls(config)
        # Spread the logits: at the default init (std 0.02) a 16-wide model is nearly uniform
        # and picks tokens by float noise, which says little about the decoder.
        for p in model.parameters():
            p.data.normal_(0.0, 0.5 if p.dim() > 1 else 0.1)
    return model.eval()


@pytest.fixture(scope="session")
def make_model():
    """The cached tiny-model factory (see :func:`tiny_model`)."""
    return tiny_model


@pytest.fixture(scope="session")
def engine_for(tokenizers):
    """A cached Engine per (tokenizer name, model configuration, DSL): engines keep compiled
    grammars, so property tests reuse them across examples."""
    from engine import Engine

    @functools.lru_cache(maxsize=None)
    def make(tokenizer: str, dsl_name: str, arch: str = "llama", hidden: int = 32, layers: int = 1, seed: int = 0):
        tok = tokenizers[tokenizer]
        model = tiny_model(arch, len(tok), tok.eos_token_id, hidden=hidden, layers=layers, seed=seed)
        return Engine(model, tok, dsl_name)

    return make


@pytest.fixture(scope="session")
def geoquery():
    import dsl

    return dsl.load("geoquery")
