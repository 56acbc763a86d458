"""Engine.load: safetensors only, named adapters on one base, shipped adapters only for their base."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from engine import Engine, EngineError
from engine import loading
from engine.loading import base_model_id, find_shipped_adapter


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, smollm2_tokenizer, make_model) -> Path:
    folder = tmp_path_factory.mktemp("models") / "tiny-llama"
    model = make_model("llama", len(smollm2_tokenizer), smollm2_tokenizer.eos_token_id, hidden=16, seed=5)
    model.save_pretrained(folder)
    smollm2_tokenizer.save_pretrained(folder)
    return folder


def _lora(model_dir: Path, target: Path, seed: int) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(model_dir)
    with warnings.catch_warnings():
        for action, message, category in loading.PEFT_WARNINGS:
            warnings.filterwarnings(action, message=message, category=category)
        peft_model = get_peft_model(base, LoraConfig(r=4, lora_alpha=32, target_modules=["q_proj", "v_proj", "down_proj"]))
    generator = torch.Generator().manual_seed(seed)
    for name, parameter in peft_model.named_parameters():
        if "lora_" in name:  # lora_B starts at zero (a no-op adapter); make it matter
            parameter.data = torch.randn(parameter.shape, generator=generator)
    peft_model.save_pretrained(target)
    return target


@pytest.fixture(scope="module")
def adapter_dirs(model_dir, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("adapters")
    return {"a": _lora(model_dir, root / "a", 1), "b": _lora(model_dir, root / "b", 2)}


def test_a_local_safetensors_folder_loads(model_dir) -> None:
    engine = Engine.load("geoquery", str(model_dir), device="cpu", dtype="float32", shipped_adapter=False)
    g = engine.generate("which states border texas?", max_new_tokens=16)
    assert engine.dsl.parse(g.code) == g.tree and engine.adapters == ()


def test_pickle_weights_are_refused_unless_allowed(model_dir, tmp_path, smollm2_tokenizer) -> None:
    import shutil

    import torch
    from safetensors.torch import load_file

    folder = tmp_path / "pickled"
    shutil.copytree(model_dir, folder)
    # transformers 5 always writes safetensors; write the pickle the old way
    torch.save(load_file(folder / "model.safetensors"), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    with pytest.raises(EngineError, match=r"only pickle weights \(pytorch_model.bin\).*allow_pickle=True"):
        Engine.load("geoquery", str(folder), shipped_adapter=False)
    engine = Engine.load("geoquery", str(folder), allow_pickle=True, shipped_adapter=False)
    assert engine.generate("q", max_new_tokens=12).code


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dtype": "float64"}, r"`dtype` must be one of \['float32', 'bfloat16', 'float16'\], got 'float64'"),
        ({"device": "cuda:0"}, "asks for CUDA but torch sees no CUDA device"),
        ({"device": "warp-drive"}, r"`device` 'warp-drive' is not a torch device"),
        ({"adapters": {"none": "x"}}, "adapter name 'none' is reserved"),
    ],
)
def test_bad_options_are_named(model_dir, kwargs, message) -> None:
    import torch

    if kwargs.get("device", "").startswith("cuda") and torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(EngineError, match=message):
        Engine.load("geoquery", str(model_dir), shipped_adapter=False, **kwargs)


def test_folders_that_are_not_models_are_named(tmp_path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(EngineError, match="has no config.json"):
        Engine.load("geoquery", str(tmp_path / "empty"), shipped_adapter=False)


def test_named_adapters_share_one_base_and_switch_per_request(model_dir, adapter_dirs) -> None:
    engine = Engine.load("geoquery", str(model_dir), adapters={k: str(v) for k, v in adapter_dirs.items()}, shipped_adapter=False)
    assert engine.adapters == ("a", "b") and engine.default_adapter is None
    questions = [f"question {i}" for i in range(6)]
    codes = {
        name: [g.code for g in engine.generate_batch(questions, max_new_tokens=20, adapter=name)]
        for name in ("a", "b", "none")
    }
    assert codes["a"] != codes["none"] and codes["b"] != codes["none"] and codes["a"] != codes["b"]
    again = [g.code for g in engine.generate_batch(questions, max_new_tokens=20, adapter="a")]
    assert again == codes["a"]  # switching back restores the same weights
    assert engine.generate("q", max_new_tokens=12, adapter="b").adapter == "b"
    assert engine.generate("q", max_new_tokens=12, tenant="a").adapter == "a"  # a tenant's adapter


def test_an_adapter_with_pickle_weights_is_refused(model_dir, adapter_dirs, tmp_path) -> None:
    import shutil

    folder = tmp_path / "adapter"
    shutil.copytree(adapter_dirs["a"], folder)
    (folder / "adapter_model.safetensors").rename(folder / "adapter_model.bin")
    with pytest.raises(EngineError, match="adapter 'x' folder .* only pickle weights"):
        Engine.load("geoquery", str(model_dir), adapters={"x": str(folder)}, shipped_adapter=False)


def _ship(root: Path, adapter: Path, base: str) -> None:
    import shutil

    target = root / "geoquery"
    shutil.copytree(adapter, target)
    (target / "training_summary.json").write_text(json.dumps({"base_model": base}))


def test_the_shipped_adapter_applies_only_to_its_base(model_dir, adapter_dirs, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(loading, "adapters_root", lambda: tmp_path)
    _ship(tmp_path, adapter_dirs["a"], base=f"some/hub/{model_dir.name.upper()}")
    assert find_shipped_adapter("geoquery", model_dir) == tmp_path / "geoquery"
    engine = Engine.load("geoquery", str(model_dir))
    assert engine.default_adapter == "geoquery" and engine.generate("q", max_new_tokens=12).adapter == "geoquery"
    assert engine.generate("q", max_new_tokens=12, adapter="none").adapter is None
    assert Engine.load("geoquery", str(model_dir), shipped_adapter=False).adapters == ()

    (tmp_path / "geoquery" / "training_summary.json").write_text(json.dumps({"base_model": "other-model"}))
    assert find_shipped_adapter("geoquery", model_dir) is None
    assert Engine.load("geoquery", str(model_dir)).adapters == ()


@pytest.mark.parametrize(
    ("model", "identity"),
    [
        ("HuggingFaceTB/SmolLM2-135M-Instruct", "smollm2-135m-instruct"),
        ("/root/.cache/dslforge/models/smollm2-135m-instruct/", "smollm2-135m-instruct"),
        (Path("models") / "Tiny", "tiny"),
    ],
)
def test_base_model_identity(model, identity) -> None:
    assert base_model_id(model) == identity
