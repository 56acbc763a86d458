"""`dslforge export vllm`: what it takes to serve a DSL with vLLM when one machine is not enough.

vLLM already has what scale-out needs — continuous batching on GPUs, LoRA adapters served as
model names, structured outputs with llguidance (its ``guidance`` backend). We do not rebuild it;
we hand it our pieces:

* ``grammar.lark`` — the DSL's compiled decoding grammar (llguidance's Lark dialect), sent per
  request as ``structured_outputs.grammar``;
* ``adapter/<name>/`` — the peft LoRA adapter (safetensors only);
* ``serve.sh`` — the ``vllm serve`` command line: LoRA on, the guidance backend;
* ``request.json`` — one chat request in the shape :class:`engine.remote.RemoteEngine` sends;
* ``manifest.json`` and ``README.md``.

Point :class:`engine.remote.RemoteEngine` at the server and every reply is re-parsed by the
DSL's Lark parser. One limit to know: vLLM stops at ``max_tokens`` without closing the program
(our engine's budget guarantee is not there), so give it a generous ``max_tokens``; a cut reply
raises :class:`engine.remote.UnparseableReply` rather than returning broken code.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from engine.serving.errors import ServeError

if TYPE_CHECKING:
    from dsl import DSL

# The hub id of the default model (our cache holds its GGUF converted to safetensors; vLLM
# loads the original from the hub or a mirror).
DEFAULT_HUB_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
_PICKLES = (".bin", ".pt", ".pth", ".ckpt")


def export_vllm(dsl_name: str, *, out: Path, adapter: Path | None = None, model: str | None = None,
                port: int = 8000, adapter_name: str | None = None) -> list[Path]:
    """Write the vLLM bundle for ``dsl_name`` into ``out``; returns the files written.

    Raises:
        ServeError: ``out`` is a non-empty folder, the adapter is not a peft LoRA folder with
            safetensors weights, or the grammar does not compile with llguidance.
        GrammarError: the DSL cannot be loaded or compiled.
    """
    import dsl

    language = dsl.load(dsl_name)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ServeError(f"--out {str(out)!r} exists and is not an empty folder; choose a new folder")
    name = adapter_name or language.name
    rank, recorded_base = (_check_adapter(adapter) if adapter is not None else (None, None))
    base = model or _hub_id(recorded_base)
    grammar = language.decoding_grammar()
    _check_grammar(grammar)

    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    grammar_path = out / "grammar.lark"
    grammar_path.write_text(grammar, encoding="utf-8")
    written.append(grammar_path)
    if adapter is not None:
        target = out / "adapter" / name
        shutil.copytree(adapter, target, ignore=shutil.ignore_patterns(*(f"*{s}" for s in _PICKLES)))
        written.append(target)

    command = ["vllm", "serve", base, "--host", "127.0.0.1", "--port", str(port),
               "--structured-outputs-config.backend", "guidance",
               # sampling defaults from the model's generation_config.json would override ours
               "--generation-config", "vllm"]
    if adapter is not None:
        command += ["--enable-lora", "--lora-modules", f"{name}=ADAPTER_DIR", "--max-lora-rank", str(_lora_slot(rank))]
    script = out / "serve.sh"
    line = shlex.join(command).replace("ADAPTER_DIR", '"$HERE/adapter/' + name + '"')
    script.write_text("#!/bin/sh\n# Serve DSL %r with vLLM (written by `dslforge export vllm`).\n"
                      'HERE="$(cd "$(dirname "$0")" && pwd)"\nexec %s "$@"\n' % (language.name, line),
                      encoding="utf-8")
    script.chmod(0o755)
    written.append(script)

    served_model = name if adapter is not None else base
    instruction = language.spec.prompt.instruction.strip()
    request = {
        "model": served_model,
        "messages": ([{"role": "system", "content": instruction}] if instruction else [])
        + [{"role": "user", "content": _example_text(language)}],
        "max_tokens": 256, "temperature": 0, "structured_outputs": {"grammar": grammar},
    }
    request_path = out / "request.json"
    request_path.write_text(json.dumps(request, indent=1) + "\n", encoding="utf-8")
    written.append(request_path)

    manifest = {
        "dsl": language.name, "base_model": base, "served_model": served_model,
        "adapter": name if adapter is not None else None, "lora_rank": rank,
        "grammar_sha256": hashlib.sha256(grammar.encode()).hexdigest(),
        "structured_outputs_backend": "guidance", "port": port,
    }
    manifest_path = out / "manifest.json"
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    written.append(manifest_path)

    readme = out / "README.md"
    readme.write_text(_README.format(dsl=language.name, model=served_model, port=port), encoding="utf-8")
    written.append(readme)
    return written


def _check_adapter(folder: Path) -> tuple[int, str | None]:
    """The LoRA rank and recorded base model of a peft adapter folder."""
    config_path = folder / "adapter_config.json"
    if not config_path.is_file():
        raise ServeError(f"--adapter {str(folder)!r} has no adapter_config.json; pass a peft LoRA folder")
    if not list(folder.glob("*.safetensors")):
        raise ServeError(f"--adapter {str(folder)!r} has no *.safetensors weights (pickles are not exported); "
                         "save it with save_pretrained(safe_serialization=True)")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ServeError(f"{config_path} is not JSON: {e}") from e
    if config.get("peft_type", "LORA") != "LORA" or not isinstance(config.get("r"), int):
        raise ServeError(f"{config_path} is not a LoRA adapter (peft_type {config.get('peft_type')!r}, "
                         f"r {config.get('r')!r}); vLLM serves LoRA adapters only")
    base = config.get("base_model_name_or_path")
    return int(config["r"]), base if isinstance(base, str) else None


def _hub_id(recorded: str | None) -> str:
    """The base model vLLM should load: the adapter's recorded base, where that is our local
    conversion of the default model its hub id."""
    from engine.loading import base_model_id

    if recorded is None or base_model_id(recorded) == base_model_id(DEFAULT_HUB_MODEL):
        return DEFAULT_HUB_MODEL
    return recorded


def _lora_slot(rank: int | None) -> int:
    """vLLM's --max-lora-rank accepts 8, 16, 32, 64, ...: the smallest one that fits."""
    slot = 8
    while rank is not None and slot < rank:
        slot *= 2
    return slot


def _check_grammar(grammar: str) -> None:
    """Compile the grammar the way vLLM's guidance backend does (``grammar_from("grammar", ...)``)."""
    import llguidance

    try:
        compiled = llguidance.grammar_from("grammar", grammar)
    except (ValueError, RuntimeError) as e:
        raise ServeError(f"llguidance refuses the DSL's decoding grammar: {e}") from e
    problem = llguidance.LLMatcher.validate_grammar(compiled)
    if problem:
        raise ServeError(f"llguidance refuses the DSL's decoding grammar: {problem}")


def _example_text(language: DSL) -> str:
    rows = language.examples()
    return str(rows[0]["text"]) if rows else "your request here"


_README = """# {dsl} on vLLM

Written by `dslforge export vllm`. On a machine with vLLM (>= 0.10, for `structured_outputs`):

    ./serve.sh                       # extra `vllm serve` flags pass through, e.g. --tensor-parallel-size 2
    curl -s localhost:{port}/v1/chat/completions -H 'content-type: application/json' -d @request.json

From Python, with every reply re-parsed by the DSL's Lark parser:

    from engine.remote import RemoteEngine
    remote = RemoteEngine("http://127.0.0.1:{port}", dsl="{dsl}", model="{model}")
    remote.generate("...", max_new_tokens=256).code

`grammar.lark` is the decoding grammar (llguidance's Lark dialect); it accepts exactly the
canonical programs, after at most one leading space. vLLM stops at `max_tokens` without closing
the program, so keep `max_tokens` generous: a cut reply raises UnparseableReply, never returns.
"""
