"""`dslforge export vllm`: the bundle vLLM needs — grammar, adapter, command line, request."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest

import dsl
from engine.serving.errors import ServeError
from engine.serving.vllm_export import export_vllm


@pytest.fixture(scope="module")
def lora_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real peft LoRA (r=4) on the tiny model, saved as safetensors."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    folder = tmp_path_factory.mktemp("lora")
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    with warnings.catch_warnings():
        # peft 0.21 reads transformers' deprecated `is_gradient_checkpointing` (a FutureWarning)
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated", FutureWarning)
        peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    peft_model.save_pretrained(folder, safe_serialization=True)
    return folder


@pytest.mark.integration
def test_the_bundle_holds_grammar_adapter_command_and_request(lora_dir: Path, tiny_model_dir: Path,
                                                            tmp_path: Path) -> None:
    import llguidance
    import llguidance.hf

    from engine.assets import load_reference_tokenizer

    out = tmp_path / "bundle"
    written = export_vllm("geoquery", out=out, adapter=lora_dir, port=8123)
    assert {p.name for p in written} == {"grammar.lark", "geoquery", "serve.sh", "request.json", "manifest.json",
                                         "README.md"}
    geo = dsl.load("geoquery")
    grammar = (out / "grammar.lark").read_text(encoding="utf-8")
    assert grammar == geo.decoding_grammar()
    # vLLM's guidance backend compiles it this way, then validates it against the tokenizer
    tokenizer = llguidance.hf.from_tokenizer(load_reference_tokenizer("smollm2"))
    assert llguidance.LLMatcher.validate_grammar(llguidance.grammar_from("grammar", grammar), tokenizer) == ""
    assert (out / "adapter" / "geoquery" / "adapter_model.safetensors").is_file()
    script = (out / "serve.sh").read_text(encoding="utf-8")
    assert f"vllm serve {tiny_model_dir} --host 127.0.0.1 --port 8123" in script  # the adapter's recorded base
    assert "--structured-outputs-config.backend guidance" in script
    assert '--enable-lora --lora-modules geoquery="$HERE/adapter/geoquery" --max-lora-rank 8' in script
    request = json.loads((out / "request.json").read_text(encoding="utf-8"))
    assert request["model"] == "geoquery" and request["structured_outputs"] == {"grammar": grammar}
    assert request["messages"][0] == {"role": "system", "content": geo.spec.prompt.instruction}
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["lora_rank"] == 4 and manifest["served_model"] == "geoquery"


@pytest.mark.integration
def test_the_exported_request_is_accepted_by_dslforge_serve(server: Any, api_key: str, tmp_path: Path) -> None:
    import httpx

    export_vllm("geoquery", out=tmp_path / "b")
    request = json.loads((tmp_path / "b" / "request.json").read_text(encoding="utf-8"))
    request.update(model=None, max_tokens=24)  # the test server serves no adapter and caps max_tokens
    r = httpx.post(server.url + "/v1/chat/completions", json=request, headers={"Authorization": f"Bearer {api_key}"},
                   timeout=60)
    assert r.status_code == 200, r.text
    dsl.load("geoquery").parse(r.json()["choices"][0]["message"]["content"])


def test_export_refuses_what_vllm_could_not_use(tmp_path: Path) -> None:
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "x").write_text("x")
    with pytest.raises(ServeError, match="not an empty folder"):
        export_vllm("geoquery", out=taken)
    empty = tmp_path / "no-config"
    empty.mkdir()
    with pytest.raises(ServeError, match="no adapter_config.json"):
        export_vllm("geoquery", out=tmp_path / "o1", adapter=empty)
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "adapter_config.json").write_text('{"peft_type": "LORA", "r": 8}')
    (pickled / "adapter_model.bin").write_bytes(b"\x80\x04")
    with pytest.raises(ServeError, match="no \\*.safetensors weights"):
        export_vllm("geoquery", out=tmp_path / "o2", adapter=pickled)
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()


def test_export_without_an_adapter_serves_the_base_model(tmp_path: Path) -> None:
    written = export_vllm("geoquery", out=tmp_path / "base", model="my-org/my-model")
    script = next(p for p in written if p.name == "serve.sh").read_text(encoding="utf-8")
    assert "vllm serve my-org/my-model" in script and "--enable-lora" not in script
    assert json.loads((tmp_path / "base" / "request.json").read_text())["model"] == "my-org/my-model"


@pytest.mark.parametrize(("recorded", "expected"), [
    (None, "HuggingFaceTB/SmolLM2-135M-Instruct"),
    ("/home/me/.cache/dslforge/models/smollm2-135m-instruct", "HuggingFaceTB/SmolLM2-135M-Instruct"),
    ("mistralai/Mistral-7B-v0.1", "mistralai/Mistral-7B-v0.1"),
])
def test_the_base_model_is_the_adapters_with_our_local_default_mapped_to_its_hub_id(recorded, expected) -> None:
    from engine.serving.vllm_export import _hub_id

    assert _hub_id(recorded) == expected
