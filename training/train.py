"""LoRA fine-tuning with the transformers ``Trainer``: loss on the program only, checkpoints,
``--resume`` after a kill, deterministic with a seed.

Run it::

    dslforge train --dsl geoquery --out runs/geoquery            # default base, shipped settings
    dslforge train --dsl geoquery --out runs/geo-r8 --lora.r=8 --train.epochs=4
    dslforge train --dsl geoquery --out runs/geoquery --resume   # after a kill: continues

Output folder (a standard peft adapter folder, loadable with ``PeftModel.from_pretrained`` or
``Engine.load(adapters={...})``)::

    OUT/adapter_config.json, OUT/adapter_model.safetensors
    OUT/training_summary.json   base model, data/grammar hashes, hyper-parameters, wall time,
                                loss curve, final eval
    OUT/config.yaml             the resolved config; line 1 is the command
    OUT/checkpoints/            Trainer checkpoints (optimizer, scheduler, RNG) for --resume

Several GPUs: the same command runs unchanged under a launcher, one process per device; the
Trainer shards batches (DDP), ``--train.batch_size`` is per device and the effective batch is
``batch_size × grad_accum × devices``; only rank 0 writes the adapter and summary::

    torchrun --nproc_per_node 4 -m dslforge train --dsl workflow --out runs/wf
    accelerate launch --num_processes 4 -m dslforge train --dsl workflow --out runs/wf

On GPUs use ``--train.precision=bf16`` (default) and a larger ``--train.batch_size``.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dsl
from dsl import DSL
from training._warnings import third_party_warnings
from training.config import RunConfig, dump_yaml
from training.errors import DataError, TrainingError

CHECKPOINTS = "checkpoints"
SUMMARY = "training_summary.json"


@dataclass
class TrainResult:
    """What :func:`train` did."""

    out_dir: Path
    summary: dict[str, Any]
    stopped_early: bool = False
    """True when ``train.stop_after_steps`` ended the run: a checkpoint, no final adapter."""
    losses: list[dict[str, float]] = field(default_factory=list)


def train(
    *,
    language: DSL | str,
    out_dir: str | Path,
    config: RunConfig | None = None,
    base: str | Path | None = None,
    init_adapter: str | Path | None = None,
    data: str | Path | None = None,
    eval_data: str | Path | None = None,
    resume: bool = False,
    command: str = "dslforge train",
    progress: bool = True,
) -> TrainResult:
    """Fine-tune a LoRA adapter for one DSL.

    Args:
        language: a DSL name or a loaded :class:`dsl.DSL`.
        out_dir: the adapter folder to write (created).
        config: hyper-parameters; default :class:`RunConfig()` (the shipped GeoQuery settings).
        base: a local Hugging Face model folder; default SmolLM2-135M-Instruct (pulled once).
        init_adapter: continue from this peft adapter (its rank and targets are kept).
        data: training rows: a JSONL file (``text``, ``code``; run ``dslforge data prepare``
            first for untrusted data) or a prepared folder (``splits/<scheme>/train.jsonl`` is
            picked as for the default). Default: the DSL's own data, validated and
            de-duplicated, ``standard`` scheme's train split (else ``iid``).
        eval_data: rows for the summary's final eval; default: the matching test split.
        resume: continue from the latest checkpoint in ``out_dir/checkpoints``.
        command: recorded in the summary and on line 1 of ``config.yaml``.
        progress: show the Trainer's progress bar.

    Returns:
        :class:`TrainResult` with the summary (also written to ``training_summary.json``).

    Raises:
        TrainingError: checkpoints exist without ``--resume`` (or none with it), a bad base or
            adapter folder; DataError for unusable data.
    """
    import torch
    from transformers import AutoTokenizer, Trainer, TrainingArguments, set_seed

    from engine import assets
    from engine.loading import base_model_id
    from training.features import PadCollator, encode_rows, pad_token_id

    cfg = config or RunConfig()
    lang = dsl.load(language) if isinstance(language, str) else language
    out = Path(out_dir)
    ckpt_dir = out / CHECKPOINTS
    last = _last_checkpoint(ckpt_dir)
    if resume and last is None:
        raise TrainingError(f"--resume: no checkpoint in {ckpt_dir}; start the run without --resume")
    if not resume and last is not None:
        raise TrainingError(f"{out} already holds checkpoints of a run ({last.name}); pass --resume to continue "
                            "it, or choose another --out")
    if resume:
        _check_same_config(out, cfg)
    if cfg.train.num_threads is not None:
        torch.set_num_threads(cfg.train.num_threads)

    base_dir = Path(base) if base is not None else assets.default_model_dir()
    _check_model_folder(base_dir)
    tokenizer = AutoTokenizer.from_pretrained(str(base_dir), trust_remote_code=False)

    rows, data_source = training_rows(lang, data)
    rows = sample_rows(rows, max_examples=cfg.train.max_examples, seed=cfg.train.seed)
    encoded = encode_rows(lang, tokenizer, rows, max_seq_len=cfg.train.max_seq_len)

    set_seed(cfg.train.seed)  # before the model: LoRA's A matrices are drawn from torch's RNG
    with third_party_warnings():
        model = _build_model(base_dir, cfg, init_adapter)
    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)

    use_cpu = not torch.cuda.is_available()
    args = TrainingArguments(
        output_dir=str(ckpt_dir),
        per_device_train_batch_size=cfg.train.batch_size,
        gradient_accumulation_steps=cfg.train.grad_accum,
        learning_rate=cfg.train.learning_rate,
        num_train_epochs=cfg.train.epochs,
        max_steps=cfg.train.max_steps if cfg.train.max_steps is not None else -1,
        lr_scheduler_type=cfg.train.scheduler,
        warmup_steps=cfg.train.warmup_steps,
        weight_decay=cfg.train.weight_decay,
        max_grad_norm=cfg.train.max_grad_norm,
        bf16=cfg.train.precision == "bf16",
        use_cpu=use_cpu,
        seed=cfg.train.seed,
        data_seed=cfg.train.seed,
        save_strategy="steps",
        save_steps=cfg.train.save_steps,
        save_total_limit=cfg.train.save_total_limit,
        logging_steps=cfg.train.logging_steps,
        logging_first_step=True,
        report_to=[],
        disable_tqdm=not progress,
        dataloader_num_workers=0,
        remove_unused_columns=False,  # our collator reads input_ids/labels itself
        ddp_find_unused_parameters=False,  # every LoRA weight gets a gradient: skip DDP's extra graph walk
        train_sampling_strategy="group_by_length" if cfg.train.group_by_length else "random",
    )
    recorder, callbacks = _make_callbacks(cfg.train.stop_after_steps)
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=encoded,
        data_collator=PadCollator(pad_token_id(tokenizer)),
        callbacks=callbacks,
    )
    out.mkdir(parents=True, exist_ok=True)
    if trainer.is_world_process_zero():
        (out / "config.yaml").write_text(dump_yaml(cfg, command=command), encoding="utf-8")
    started = time.perf_counter()
    cpu_started = time.process_time()
    with third_party_warnings():
        output = trainer.train(resume_from_checkpoint=str(last) if resume and last else None)
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_started  # all threads of this process: the load-independent cost
    losses = _merge_losses(out, recorder.losses, resume=resume)
    step = trainer.state.global_step
    stopped = cfg.train.stop_after_steps is not None and step < trainer.state.max_steps

    summary: dict[str, Any] = {
        "dsl": lang.name,
        "base_model": base_model_id(base_dir),
        "base_model_path": str(base_dir),
        "base_model_sha256": _weights_sha256(base_dir),
        "init_adapter": str(init_adapter) if init_adapter else None,
        "command": command,
        "data": {
            "source": data_source,
            "rows": len(rows),
            "sha256": rows_sha256(rows),
            "tokens": sum(len(e["input_ids"]) for e in encoded),
            "completion_tokens": sum(sum(1 for x in e["labels"] if x != -100) for e in encoded),
        },
        "grammar_sha256": grammar_sha256(lang),
        "config": cfg.to_dict(),
        "trainable_parameters": n_trainable,
        "steps": step,
        "max_steps": trainer.state.max_steps,
        "epochs": round(float(trainer.state.epoch or 0.0), 3),
        "train_loss": float(output.training_loss),
        "wall_time_s": round(wall + _previous(out, resume, "wall_time_s"), 1),
        "wall_time_this_session_s": round(wall, 1),
        "cpu_time_s": round(cpu + _previous(out, resume, "cpu_time_s"), 1),
        "load_average_at_end": _load_average(),
        "resumed_from": last.name if resume and last else None,
        "loss_curve": losses,
        "device": "cuda" if not use_cpu else f"cpu ({torch.get_num_threads()} threads)",
        "processes": trainer.args.world_size,  # > 1 under torchrun/accelerate: batch_size is per process
        "precision": cfg.train.precision,
        "versions": _versions(),
    }
    if stopped:
        summary["stopped_after_steps"] = step
        if trainer.is_world_process_zero():
            _write_json(out / "partial_summary.json", summary)
        return TrainResult(out, summary, stopped_early=True, losses=losses)

    if trainer.is_world_process_zero():
        _save_adapter(trainer.model, out, cfg)
        (out / "partial_summary.json").unlink(missing_ok=True)
        summary["adapter_mb"] = round((out / "adapter_model.safetensors").stat().st_size / 1e6, 2)
        summary["final_eval"] = None
        _write_json(out / SUMMARY, summary)
        if cfg.train.eval_limit != 0:
            try:
                summary["final_eval"] = _final_eval(lang, base_dir, out, eval_data, limit=cfg.train.eval_limit,
                                                    progress=progress)
            except Exception as e:  # noqa: BLE001 - the adapter is saved; an eval fault must not lose it
                summary["final_eval"] = {"error": f"{type(e).__name__}: {e}"}
                print(f"warning: the adapter in {out} is saved, but its final eval failed: {type(e).__name__}: "
                      f"{e}\nrun `dslforge eval --dsl {lang.name} --adapter {out} --record ...` to fill it in",
                      file=sys.stderr)
            _write_json(out / SUMMARY, summary)
    return TrainResult(out, summary, losses=losses)


def record_final_eval(adapter_dir: str | Path, eval_summary: dict[str, Any]) -> None:
    """Put an eval summary into the adapter's ``training_summary.json`` as ``final_eval``.

    Raises:
        TrainingError: the folder has no training summary (not written by ``dslforge train``).
    """
    path = Path(adapter_dir) / SUMMARY
    if not path.is_file():
        raise TrainingError(f"{adapter_dir} has no {SUMMARY}; --record needs an adapter written by `dslforge train`")
    summary = json.loads(path.read_text(encoding="utf-8"))
    summary["final_eval"] = eval_summary
    _write_json(path, summary)


# -- data -------------------------------------------------------------------------------------
def training_rows(language: DSL, data: str | Path | None, *, split: str = "train") -> tuple[list[dict[str, Any]], str]:
    """The rows to train (or evaluate) on, and a description of where they came from.

    ``data`` may be a JSONL file, a prepared folder (from ``dslforge data prepare``), or None
    for the DSL's own data (validated and de-duplicated in memory, like ``data prepare``).
    """
    from training.prepare import clean_rows, make_splits, read_jsonl

    if data is not None:
        path = Path(data)
        if path.is_dir():
            for scheme in ("standard", "iid", "given"):
                candidate = path / "splits" / scheme / f"{split}.jsonl"
                if candidate.is_file():
                    return read_jsonl(candidate), str(candidate)
            raise DataError(f"{path} holds no splits/<standard|iid|given>/{split}.jsonl; "
                            "make it with `dslforge data prepare`, or pass a JSONL file")
        return read_jsonl(path), str(path)
    raw = b"".join(
        (language.folder / relative).read_bytes().rstrip(b"\n") + b"\n" for relative in language.spec.data.programs
    )
    prepared = clean_rows(language, raw)
    schemes = make_splits(language, prepared.rows)
    for scheme in ("standard", "iid"):
        if scheme in schemes and schemes[scheme].get(split):
            return schemes[scheme][split], f"{language.name} shipped data, {scheme}/{split} (validated, de-duplicated)"
    raise DataError(f"DSL {language.name!r} has no {split!r} split in its shipped data; pass --data")


def sample_rows(rows: list[dict[str, Any]], *, max_examples: int | None, seed: int) -> list[dict[str, Any]]:
    """The rows a run trains on: all of them, or a seeded subsample of ``max_examples``."""
    if max_examples is None or max_examples >= len(rows):
        return rows
    return random.Random(seed).sample(rows, max_examples)


def rows_sha256(rows: list[dict[str, Any]]) -> str:
    """A hash of the (text, code) pairs actually trained on, order included."""
    h = hashlib.sha256()
    for row in rows:
        h.update(json.dumps([row["text"], row["code"]], ensure_ascii=False).encode("utf-8") + b"\n")
    return h.hexdigest()


def grammar_sha256(language: DSL) -> str:
    """A hash of what defines the language: grammar, dsl.toml and catalog."""
    h = hashlib.sha256()
    for path in (language.spec.grammar_path, language.folder / "dsl.toml", language.spec.catalog):
        if path is not None and Path(path).is_file():
            h.update(Path(path).name.encode() + b"\0" + Path(path).read_bytes() + b"\0")
    return h.hexdigest()


# -- model ------------------------------------------------------------------------------------
def _check_model_folder(folder: Path) -> None:
    if not folder.is_dir():
        raise TrainingError(f"--base {folder} is not a folder; pass a local Hugging Face model folder "
                            "(config.json + *.safetensors)")
    if not (folder / "config.json").is_file():
        raise TrainingError(f"--base {folder} has no config.json; is it a Hugging Face model folder?")
    if not list(folder.glob("*.safetensors")):
        raise TrainingError(f"--base {folder} has no *.safetensors weights (pickle weights are refused)")


def _build_model(base_dir: Path, cfg: RunConfig, init_adapter: str | Path | None) -> Any:
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM

    # fp32 master weights; bf16 only inside autocast (Trainer) — LoRA updates stay exact.
    model = AutoModelForCausalLM.from_pretrained(
        str(base_dir), dtype=torch.float32, trust_remote_code=False, use_safetensors=True
    )
    if init_adapter is not None:
        folder = Path(init_adapter)
        if not (folder / "adapter_config.json").is_file() or not (folder / "adapter_model.safetensors").is_file():
            raise TrainingError(f"--init-adapter {folder} is not a peft adapter folder "
                                "(adapter_config.json + adapter_model.safetensors)")
        peft_model = PeftModel.from_pretrained(model, str(folder), is_trainable=True)
        for name, param in peft_model.named_parameters():
            if "lora_" in name:  # a shipped fp16 adapter continues in fp32
                param.data = param.data.float()
        return peft_model
    targets: str | list[str] = (
        "all-linear" if cfg.lora.target_modules == ("all-linear",) else list(cfg.lora.target_modules)
    )
    lora = LoraConfig(
        r=cfg.lora.r, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout,
        target_modules=targets, task_type="CAUSAL_LM", bias="none",
    )
    try:
        return get_peft_model(model, lora)
    except ValueError as e:
        raise TrainingError(f"--lora.target_modules={','.join(cfg.lora.target_modules)} does not fit "
                            f"the model: {e}") from e


def _save_adapter(model: Any, out: Path, cfg: RunConfig) -> None:
    """The standard peft folder, weights in fp16 (half the size; measured eval identical)."""
    import torch

    for name, param in model.named_parameters():
        if "lora_" in name:
            param.data = param.data.to(torch.float16)
    model.save_pretrained(str(out), safe_serialization=True)
    # peft also writes a blank model-card template; adapters/README.md documents the folder instead.
    (out / "README.md").unlink(missing_ok=True)


def _weights_sha256(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.glob("*.safetensors")):
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
    return h.hexdigest()


# -- bookkeeping ------------------------------------------------------------------------------
# Settings that may change between a run and its resumption (they do not change the result).
_RESUME_FREE = {("train", "stop_after_steps"), ("train", "eval_limit"), ("train", "num_threads")}


def _check_same_config(out: Path, cfg: RunConfig) -> None:
    """A resumed run must use the settings of the run it continues, else the adapter is neither."""
    from training.config import resolve_config

    saved_path = out / "config.yaml"
    if not saved_path.is_file():
        return
    saved = resolve_config(path=saved_path).to_dict()
    now = cfg.to_dict()
    changed = [f"{section}.{key}: {saved[section][key]!r} -> {now[section][key]!r}"
               for section in now for key in now[section]
               if (section, key) not in _RESUME_FREE and saved[section][key] != now[section][key]]
    if changed:
        raise TrainingError(f"--resume with settings that differ from the run in {out} ({'; '.join(changed)}); "
                            "resume with the same settings, or start a new run with another --out")


def _last_checkpoint(folder: Path) -> Path | None:
    if not folder.is_dir():
        return None
    found = [p for p in folder.glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()]
    return max(found, key=lambda p: int(p.name.split("-")[-1])) if found else None


def _merge_losses(out: Path, new: list[dict[str, float]], *, resume: bool) -> list[dict[str, float]]:
    """The loss curve across sessions: earlier sessions' points (from the partial summary) + this one's."""
    earlier: list[dict[str, float]] = []
    partial = out / "partial_summary.json"
    if resume and partial.is_file():
        earlier = json.loads(partial.read_text(encoding="utf-8")).get("loss_curve", [])
    first_new = new[0]["step"] if new else float("inf")
    return [p for p in earlier if p["step"] < first_new] + new


def _previous(out: Path, resume: bool, key: str) -> float:
    """A time spent by the earlier sessions of a resumed run (from their partial summary)."""
    partial = out / "partial_summary.json"
    if resume and partial.is_file():
        return float(json.loads(partial.read_text(encoding="utf-8")).get(key, 0.0))
    return 0.0


def _load_average() -> list[float] | None:
    """1/5/15-minute load averages: how shared the machine was (None where unknown)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _versions() -> dict[str, str]:
    import peft
    import torch
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


def _final_eval(lang: DSL, base_dir: Path, out: Path, eval_data: str | Path | None, *, limit: int | None,
                progress: bool) -> dict[str, Any]:
    from training.evaluate import EvalSettings, evaluate_rows, load_eval_engine

    rows, source = training_rows(lang, eval_data, split="test")
    if limit is not None:
        rows = rows[:limit]
    engine = load_eval_engine(lang, base=base_dir, adapter=out)
    report = evaluate_rows(engine, rows, settings=EvalSettings(mode="constrained"), progress=progress)
    summary = dict(report.summary)
    summary["data"] = source
    return summary


def _make_callbacks(stop_after: int | None) -> tuple[Any, list[Any]]:
    """(the loss recorder, every callback); built here so that importing this module stays cheap."""
    from transformers import TrainerCallback

    class LossRecorder(TrainerCallback):  # type: ignore[misc]
        """Keeps every logged training loss: the summary's loss curve."""

        def __init__(self) -> None:
            self.losses: list[dict[str, float]] = []

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None,
                   **kwargs: Any) -> None:
            if logs and "loss" in logs:
                self.losses.append({
                    "step": int(state.global_step),
                    "epoch": round(float(state.epoch or 0.0), 3),
                    "loss": round(float(logs["loss"]), 5),
                    "learning_rate": float(logs.get("learning_rate", 0.0)),
                })

    class StopAfter(TrainerCallback):  # type: ignore[misc]
        """A planned kill: save a checkpoint and stop after ``steps`` optimizer steps."""

        def __init__(self, steps: int) -> None:
            self.steps = steps

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            # == (not >=): a resumed run that starts past the planned stop runs to the end.
            if state.global_step == self.steps and state.global_step < state.max_steps:
                control.should_save = True
                control.should_training_stop = True
            return control

    recorder = LossRecorder()
    callbacks: list[Any] = [recorder]
    if stop_after is not None:
        callbacks.append(StopAfter(stop_after))
    return recorder, callbacks
