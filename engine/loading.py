"""`Engine.load`: the one factory that reads models, tokenizers and adapters from disk (or a hub).

Rules:

* **safetensors only.** A folder whose weights are only ``.bin``/``.pt``/``.pth`` (pickles, which
  run code when loaded) is refused unless ``allow_pickle=True``; ``trust_remote_code`` is never
  set, so a model folder cannot run its own Python.
* **Adapters** are peft LoRA folders, loaded once on one base model under a name; a request picks
  one with ``adapter=`` (``set_adapter``), ``"none"`` runs the bare base.
* **Shipped adapters**: ``adapters/<dsl>/`` at the repository root (written by training) holds
  ``training_summary.json`` with ``"base_model"``. It is applied by default only when it was
  trained on this base: :func:`base_model_id` of the recorded base equals that of the model being
  loaded. The identity is the last path component of the folder or hub id, lowercased
  (``HuggingFaceTB/SmolLM2-135M-Instruct`` and the default folder ``.../smollm2-135m-instruct``
  are the same base); the default model's folder is named for it. Training should record
  ``base_model_id(model)``. Another base gets no adapter unless one is named.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import dsl as dsl_module
from dsl import DSL
from engine.errors import EngineError

if TYPE_CHECKING:
    from engine.engine import Engine

_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")
_DTYPES = ("float32", "bfloat16", "float16")


def adapters_root() -> Path:
    """Where shipped adapters live: ``<repo>/adapters``."""
    return Path(__file__).resolve().parent.parent / "adapters"


def base_model_id(model: str | Path) -> str:
    """The identity of a base model for matching adapters: the folder or hub id's last
    component, lowercased.

    >>> base_model_id("HuggingFaceTB/SmolLM2-135M-Instruct")
    'smollm2-135m-instruct'
    """
    text = str(model).rstrip("/\\")
    return text.replace("\\", "/").rsplit("/", 1)[-1].lower()


def find_shipped_adapter(dsl_name: str, model: str | Path) -> Path | None:
    """``adapters/<dsl_name>/`` when it exists and was trained on ``model``'s base, else None."""
    folder = adapters_root() / dsl_name
    summary = folder / "training_summary.json"
    if not (folder / "adapter_config.json").is_file():
        return None
    recorded = None
    if summary.is_file():
        try:
            recorded = json.loads(summary.read_text(encoding="utf-8")).get("base_model")
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as e:
            raise EngineError(f"{summary} is not a JSON object with \"base_model\": {e}") from e
    if recorded is None:  # peft's own record of the base
        config = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
        recorded = config.get("base_model_name_or_path")
    if not recorded or base_model_id(recorded) != base_model_id(model):
        return None
    return folder


def load_engine(
    dsl: DSL | str,
    model: str | Path | None = None,
    adapters: Mapping[str, str | Path] | None = None,
    *,
    device: str | None = None,
    dtype: str | None = None,
    allow_pickle: bool = False,
    shipped_adapter: bool = True,
) -> Engine:
    """See :meth:`engine.Engine.load`."""
    from engine import assets
    from engine.engine import Engine

    language = dsl if isinstance(dsl, DSL) else dsl_module.load(dsl)
    problems = []
    if dtype is not None and dtype not in _DTYPES:
        problems.append(f"`dtype` must be one of {list(_DTYPES)}, got {dtype!r}")
    named = dict(adapters or {})
    if "none" in named:
        problems.append("adapter name 'none' is reserved (it selects the bare base model)")
    if problems:
        raise EngineError("; ".join(problems))
    source: str | Path = assets.default_model_dir() if model is None else model
    torch_device = _device(device)
    torch_dtype = _dtype(dtype, torch_device)
    _check_model_folder(source, allow_pickle=allow_pickle)
    tokenizer = _load_tokenizer(source, allow_pickle=allow_pickle)
    base = _load_model(source, device=torch_device, dtype=torch_dtype, allow_pickle=allow_pickle)

    default = None
    if shipped_adapter:
        found = find_shipped_adapter(language.name, source)
        if found is not None and language.name not in named:
            named = {language.name: found, **named}
            default = language.name
    if not named:
        return Engine(base, tokenizer, language)
    peft_model = _attach_adapters(base, named, allow_pickle=allow_pickle)
    return Engine(peft_model, tokenizer, language, adapters=list(named), default_adapter=default)


def _device(device: str | None) -> Any:
    import torch

    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as e:
        raise EngineError(f"`device` {device!r} is not a torch device (cpu, cuda, cuda:1, mps): {e}") from e
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise EngineError(f"`device` {device!r} asks for CUDA but torch sees no CUDA device; use device='cpu'")
    return resolved


def _dtype(dtype: str | None, device: Any) -> Any:
    import torch

    if dtype is None:
        # CPU kernels are fastest (and exact) in fp32; GPUs halve memory with bf16.
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    return getattr(torch, dtype)


def _check_weights(folder: Path, *, allow_pickle: bool, what: str) -> None:
    safe = list(folder.glob("*.safetensors"))
    pickled = [p for p in folder.iterdir() if p.suffix in _PICKLE_SUFFIXES]
    if not safe and pickled and not allow_pickle:
        raise EngineError(
            f"{what} {folder} has only pickle weights ({', '.join(sorted(p.name for p in pickled))}), "
            "which can run code when loaded; convert them to safetensors, or pass allow_pickle=True "
            "if you trust the source"
        )
    if not safe and not pickled:
        raise EngineError(f"{what} {folder} has no weights (*.safetensors)")


def _load_tokenizer(source: str | Path, *, allow_pickle: bool) -> Any:
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(source), trust_remote_code=False)
    except (OSError, ValueError) as e:
        raise EngineError(f"cannot load a tokenizer from {str(source)!r}: {e}") from e
    if not getattr(tokenizer, "is_fast", False):
        raise EngineError(f"the tokenizer of {str(source)!r} is not a fast (Rust) tokenizer, which llguidance needs")
    return tokenizer


def _check_model_folder(source: str | Path, *, allow_pickle: bool) -> None:
    folder = Path(source)
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            raise EngineError(f"model folder {folder} has no config.json; is it a Hugging Face model folder?")
        _check_weights(folder, allow_pickle=allow_pickle, what="model folder")
    elif folder.exists():
        raise EngineError(f"model {str(source)!r} is a file; pass the folder that holds config.json")


def _load_model(source: str | Path, *, device: Any, dtype: Any, allow_pickle: bool) -> Any:
    from transformers import AutoModelForCausalLM

    folder = Path(source)
    try:
        model = AutoModelForCausalLM.from_pretrained(
            str(source), dtype=dtype, trust_remote_code=False,
            use_safetensors=None if allow_pickle else True,
        )
    except (OSError, ValueError) as e:
        hint = "" if folder.is_dir() else " (not a local folder, and the hub could not provide it)"
        raise EngineError(f"cannot load model {str(source)!r}{hint}: {e}") from e
    return model.to(device).eval()


# peft 0.21 calls a transformers 5 alias that warns (FutureWarning); we cannot fix it there.
PEFT_WARNINGS: list[tuple[Literal["ignore"], str, type[Warning]]] = [
    ("ignore", r"`is_gradient_checkpointing` is deprecated", FutureWarning),
]


def _attach_adapters(base: Any, adapters: Mapping[str, str | Path], *, allow_pickle: bool) -> Any:
    import warnings

    with warnings.catch_warnings():
        for action, message, category in PEFT_WARNINGS:
            warnings.filterwarnings(action, message=message, category=category)
        return _attach(base, adapters, allow_pickle=allow_pickle)


def _attach(base: Any, adapters: Mapping[str, str | Path], *, allow_pickle: bool) -> Any:
    from peft import PeftModel

    model = None
    for name, path in adapters.items():
        folder = Path(path)
        if not (folder / "adapter_config.json").is_file():
            raise EngineError(f"adapter {name!r}: {folder} has no adapter_config.json (a peft LoRA folder)")
        _check_weights(folder, allow_pickle=allow_pickle, what=f"adapter {name!r} folder")
        try:
            if model is None:
                model = PeftModel.from_pretrained(base, str(folder), adapter_name=name, is_trainable=False)
            else:
                model.load_adapter(str(folder), adapter_name=name, is_trainable=False)
        except (OSError, ValueError, KeyError, RuntimeError) as e:
            raise EngineError(f"adapter {name!r} at {folder} does not fit the base model: {e}") from e
    assert model is not None
    return model.eval()
