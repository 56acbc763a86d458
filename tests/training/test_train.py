"""`training.train` on a tiny random Llama with the real SmolLM2 tokenizer (issue #5).

- two seeded steps give exactly the expected losses;
- a run stopped after N steps and resumed ends with the same adapter as an uninterrupted run;
- train → save → load (Engine) → eval round trip;
- the same `dslforge train` command runs under torchrun (two CPU processes, gloo).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import dsl
from training.config import resolve_config
from training.errors import TrainingError
from training.features import IGNORE_INDEX, PadCollator, encode_pair

pytestmark = pytest.mark.integration

GEO = dsl.load("geoquery")
FAST = ["--train.precision=fp32", "--train.batch_size=4", "--train.max_examples=16", "--train.eval_limit=0",
        "--train.logging_steps=1", "--train.warmup_steps=0", "--train.learning_rate=0.05", "--train.seed=0"]


def _cfg(*extra: str):
    return resolve_config(overrides=FAST + list(extra))


def _adapter_tensors(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "adapter_model.safetensors"))


def test_loss_is_on_the_program_only(tiny_base: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_base))
    ex = encode_pair(GEO, tok, "how big is texas ?", "answer(size(stateid('texas')))")
    labelled = [t for t in ex["labels"] if t != IGNORE_INDEX]
    assert tok.decode(labelled) == "answer(size(stateid('texas')))" + tok.eos_token
    n_prompt = ex["labels"].count(IGNORE_INDEX)
    assert tok.decode(ex["input_ids"][:n_prompt]).endswith("<|im_start|>assistant\n")
    batch = PadCollator(tok.pad_token_id)([ex, {"input_ids": [5, 6], "labels": [IGNORE_INDEX, 6]}])
    assert batch["input_ids"].shape[1] % 8 == 0
    assert batch["attention_mask"][1, :-2].eq(0).all() and batch["labels"][1, :-1].eq(IGNORE_INDEX).all()


def test_two_seeded_steps_give_the_expected_losses(tiny_base: Path, tmp_path: Path) -> None:
    from training.train import train

    result = train(language=GEO, out_dir=tmp_path / "a", base=tiny_base, config=_cfg("--train.max_steps=2"),
                   progress=False)
    losses = [p["loss"] for p in result.losses]
    # Measured once on CPU (fp32, seed 0). A change here means training is no longer the same.
    assert losses == pytest.approx(EXPECTED_LOSSES, abs=2e-4)
    assert result.summary["steps"] == 2


EXPECTED_LOSSES = [10.79954, 10.74802]


def test_stopped_and_resumed_equals_uninterrupted(tiny_base: Path, tmp_path: Path) -> None:
    from training.train import train

    cfg = ["--train.max_steps=6", "--train.save_steps=3"]
    whole = train(language=GEO, out_dir=tmp_path / "whole", base=tiny_base, config=_cfg(*cfg), progress=False)
    part = train(language=GEO, out_dir=tmp_path / "part", base=tiny_base,
                 config=_cfg(*cfg, "--train.stop_after_steps=4"), progress=False)
    assert part.stopped_early and part.summary["steps"] == 4
    assert not (tmp_path / "part" / "adapter_model.safetensors").exists()
    with pytest.raises(TrainingError, match="--resume"):  # a second start without --resume is refused
        train(language=GEO, out_dir=tmp_path / "part", base=tiny_base, config=_cfg(*cfg), progress=False)
    with pytest.raises(TrainingError, match="learning_rate"):  # resuming with other settings too
        train(language=GEO, out_dir=tmp_path / "part", base=tiny_base, resume=True,
              config=_cfg(*cfg, "--train.learning_rate=0.01"), progress=False)
    resumed = train(language=GEO, out_dir=tmp_path / "part", base=tiny_base, config=_cfg(*cfg), resume=True,
                    progress=False)
    assert resumed.summary["resumed_from"] == "checkpoint-4"
    a, b = _adapter_tensors(tmp_path / "whole"), _adapter_tensors(tmp_path / "part")
    assert a.keys() == b.keys() and a
    for key in a:
        assert a[key].equal(b[key]), key
    assert [p["step"] for p in resumed.losses] == [1, 2, 3, 4, 5, 6]
    assert [p["loss"] for p in resumed.losses] == [p["loss"] for p in whole.losses]


def test_resume_without_checkpoint_is_refused(tiny_base: Path, tmp_path: Path) -> None:
    from training.train import train

    with pytest.raises(TrainingError, match="no checkpoint"):
        train(language=GEO, out_dir=tmp_path / "x", base=tiny_base, config=_cfg(), resume=True, progress=False)


def test_train_save_load_eval_round_trip(tiny_base: Path, tmp_path: Path) -> None:
    from engine.loading import base_model_id
    from training.evaluate import EvalSettings, run_eval
    from training.train import train

    out = tmp_path / "adapter"
    result = train(language=GEO, out_dir=out, base=tiny_base, config=_cfg("--train.max_steps=3"), progress=False)
    summary = json.loads((out / "training_summary.json").read_text())
    assert summary["base_model"] == base_model_id(tiny_base)
    for key in ("data", "grammar_sha256", "config", "wall_time_s", "loss_curve", "final_eval", "base_model_sha256"):
        assert key in summary
    assert summary["data"]["rows"] == 16 and len(summary["data"]["sha256"]) == 64
    assert (out / "adapter_config.json").is_file() and result.summary["adapter_mb"] < 1
    assert (out / "config.yaml").read_text().startswith("# dslforge train")

    for mode in ("constrained", "free"):
        report = run_eval(language=GEO, out_dir=tmp_path / mode, adapter=out, base=tiny_base, limit=2,
                          settings=EvalSettings(mode=mode, max_new_tokens=12), progress=False)
        s = report.summary
        assert s["n"] == 2 and s["adapter"] == "tuned" and s["configuration"] == f"fine-tuned + {mode}"
        for key in ("exact_match", "execution_accuracy", "parse_rate", "hallucinated_names", "hallucinated_keys",
                    "similarity", "latency_p50_ms", "latency_p95_ms", "tokens_per_s"):
            assert key in s, key
        lines = (tmp_path / mode / "predictions.jsonl").read_text().splitlines()
        assert len(lines) == 2 and json.loads(lines[0])["gold"]
        assert (tmp_path / mode / "chart.png").read_bytes()[:4] == b"\x89PNG"
        if mode == "constrained":
            assert s["parse_rate"] == 100.0  # the engine's guarantee, even for a random model


def test_rag_eval_uses_retrieved_examples(tiny_base: Path, tmp_path: Path) -> None:
    from training.evaluate import EvalSettings, run_eval

    report = run_eval(language=GEO, out_dir=tmp_path / "rag", base=tiny_base, limit=1,
                      settings=EvalSettings(mode="constrained", rag_k=3, max_new_tokens=12), progress=False)
    (record,) = report.records
    assert record["n_examples"] == 3
    assert report.summary["configuration"] == "base + 3-shot retrieval + constrained"
    assert report.summary["mean_prompt_tokens"] > 60  # three examples and the hints are in the prompt


def test_the_same_command_runs_under_torchrun(tiny_base: Path, tmp_path: Path) -> None:
    """The multi-GPU recipe of training/train.py, on two CPU processes: DDP shards the batches,
    only rank 0 writes the adapter and reports."""
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "dslforge", "train", "--dsl", "geoquery", "--base", str(tiny_base), "--out", str(out), "--quiet",
           *FAST, "--train.max_steps=2", "--train.num_threads=1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((out / "training_summary.json").read_text())
    assert summary["processes"] == 2 and summary["steps"] == 2
    assert summary["epochs"] == 1.0  # 2 steps x batch 4 x 2 processes = the 16 examples once
    assert done.stdout.count("adapter: ") == 1 and done.stderr.count("config: ") == 1
    assert _adapter_tensors(out)
