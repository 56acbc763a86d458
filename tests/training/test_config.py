"""`training.config`: defaults ← YAML ← --section.key=value, every problem reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.config import LoraSettings, RunConfig, TrainConfig, dump_yaml, resolve_config
from training.errors import ConfigError


def test_defaults_are_the_shipped_settings() -> None:
    cfg = resolve_config()
    assert cfg == RunConfig()
    assert cfg.lora.target_modules == ("all-linear",)


@pytest.mark.parametrize("override,section,key,value", [
    ("--lora.r=8", "lora", "r", 8),
    ("--lora.alpha=16", "lora", "alpha", 16),
    ("--lora.dropout=0.1", "lora", "dropout", 0.1),
    ("--lora.target_modules=q_proj,v_proj", "lora", "target_modules", ("q_proj", "v_proj")),
    ("--train.learning_rate=5e-4", "train", "learning_rate", 5e-4),
    ("--train.epochs=3", "train", "epochs", 3.0),
    ("--train.max_examples=none", "train", "max_examples", None),
    ("--train.max_steps=12", "train", "max_steps", 12),
    ("--train.precision=fp32", "train", "precision", "fp32"),
    ("--train.grad-accum=4", "train", "grad_accum", 4),
])
def test_overrides(override: str, section: str, key: str, value: object) -> None:
    cfg = resolve_config(overrides=[override])
    assert getattr(getattr(cfg, section), key) == value


def test_yaml_then_overrides(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("# dslforge train --dsl geoquery --out x --config c.yaml\n"
                    "lora:\n  r: 4\ntrain:\n  epochs: 2\n  seed: 7\n")
    cfg = resolve_config(path=path, overrides=["--train.epochs=5"])
    assert (cfg.lora.r, cfg.train.epochs, cfg.train.seed) == (4, 5.0, 7)


def test_dump_round_trips(tmp_path: Path) -> None:
    cfg = resolve_config(overrides=["--lora.target_modules=q_proj,v_proj", "--train.max_examples=100"])
    text = dump_yaml(cfg, command="dslforge train --dsl geoquery --out runs/x")
    assert text.splitlines()[0] == "# dslforge train --dsl geoquery --out runs/x"
    path = tmp_path / "c.yaml"
    path.write_text(text)
    assert resolve_config(path=path) == cfg


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as e:
        resolve_config(overrides=[
            "--lora.r=0", "--train.learning_rate=abc", "--train.nope=1", "--model.x=1", "--train.epochs",
            "--train.precision=fp8", "--train.batch_size=2.5",
        ])
    text = str(e.value)
    for needle in ("`lora.r` must be > 0, got 0", "`train.learning_rate`: must be a number, got 'abc'",
                   "unknown key `train.nope`", "unknown section `model`", "must look like --section.key=value",
                   "must be one of ['bf16', 'fp32']", "must be an integer, got '2.5'"):
        assert needle in text
    assert len(e.value.problems) == 7


def test_bad_yaml(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("lora: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        resolve_config(path=path)
    path.write_text("- 1\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        resolve_config(path=path)
    with pytest.raises(ConfigError, match="not found"):
        resolve_config(path=tmp_path / "missing.yaml")


def test_dataclasses_check_themselves() -> None:
    with pytest.raises(ConfigError, match="dropout"):
        LoraSettings(dropout=1.5)
    with pytest.raises(ConfigError, match="stop_after_steps"):
        TrainConfig(stop_after_steps=0)
