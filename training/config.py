"""Training configuration: one frozen dataclass per concern, read from YAML and ``--section.key=value``.

A run is described by :class:`RunConfig` = ``lora`` (:class:`LoraSettings`) + ``train``
(:class:`TrainConfig`). A YAML file holds the same two sections; command-line overrides
``--train.learning_rate=5e-4`` win over the file, which wins over the defaults. Every problem
is collected and raised once as :class:`training.errors.ConfigError`.

>>> cfg = resolve_config(overrides=["--lora.r=8", "--train.epochs=2"])
>>> (cfg.lora.r, cfg.train.epochs)
(8, 2.0)
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from training.errors import ConfigError


@dataclass(frozen=True)
class LoraSettings:
    """The LoRA options we use (peft's ``LoraConfig`` has 30+; the rest stay at peft defaults)."""

    r: int = 16
    """Rank. Higher: more capacity, a bigger adapter file, slightly slower steps."""
    alpha: int = 32
    """Scale is alpha / r; 2·r is the usual choice and keeps the effective lr stable when r changes."""
    dropout: float = 0.0
    """> 0 regularises, but peft then runs a separate dropout per module: measured +70% step time
    on this 2-core CPU (2.4 s → 4.1 s per batch of 8) for no gain on 600 pairs × few epochs."""
    target_modules: tuple[str, ...] = ("all-linear",)
    """``all-linear`` (every projection but the LM head) learns fastest per step; ("q_proj",
    "v_proj") halves the adapter size and learns slower."""

    def __post_init__(self) -> None:
        problems = []
        if self.r <= 0:
            problems.append(f"`lora.r` must be > 0, got {self.r}")
        if self.alpha <= 0:
            problems.append(f"`lora.alpha` must be > 0, got {self.alpha}")
        if not 0.0 <= self.dropout < 1.0:
            problems.append(f"`lora.dropout` must be in [0, 1), got {self.dropout}")
        if not self.target_modules:
            problems.append("`lora.target_modules` must name at least one module (or 'all-linear')")
        if problems:
            raise ConfigError(problems)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and bookkeeping. Defaults are the shipped GeoQuery run (docs/RESULTS.md)."""

    learning_rate: float = 1e-3
    """LoRA on a 135M model tolerates a high lr; 2e-4 (the usual 7B value) needs ~3× the epochs."""
    epochs: float = 8.0
    """Passes over the training data. More: better exact match until ~8 on GeoQuery, linear wall time."""
    batch_size: int = 8
    """Per device. 8 is the most examples/s on 2 CPU cores (measured: 4 → 0.34 s/ex, 8 → 0.30, 16 → 0.38)."""
    grad_accum: int = 1
    """Steps accumulated per update: effective batch = batch_size × grad_accum × devices."""
    warmup_steps: int = 10
    """Linear warm-up; protects the fresh LoRA B=0 start from a first large update."""
    scheduler: Literal["cosine", "linear", "constant"] = "cosine"
    """Decay to 0 over the run; 'constant' makes checkpoints of a longer run comparable to shorter runs."""
    weight_decay: float = 0.0
    """On LoRA weights only; 0 is standard for short runs."""
    max_grad_norm: float = 1.0
    """Gradient clipping."""
    seed: int = 0
    """Seeds weights init, data order and dropout: same seed, same data → same adapter on CPU."""
    precision: Literal["bf16", "fp32"] = "bf16"
    """bf16 autocast: 1.7× faster steps on this CPU (AVX512-BF16); fp32 is bit-reproducible everywhere."""
    group_by_length: bool = False
    """Batch examples of similar length (Trainer's ``group_by_length`` sampling): far less padding
    when lengths vary a lot (workflow: 60-515 tokens); GeoQuery's 40-90 gain little."""
    max_seq_len: int = 1024
    """Longer examples are rejected up front with their id (never silently truncated)."""
    max_examples: int | None = None
    """Subsample the training rows (seeded) — learning curves, long workflow flows within 30 min."""
    max_steps: int | None = None
    """Hard limit on optimizer steps (overrides epochs); tests and smoke runs."""
    stop_after_steps: int | None = None
    """Stop (with a checkpoint) after this many steps without changing the schedule: a planned "kill";
    ``--resume`` then finishes the identical run."""
    save_steps: int = 50
    """Checkpoint every N steps (and at the end); `--resume` restarts from the latest one."""
    save_total_limit: int = 2
    """Checkpoints kept on disk."""
    logging_steps: int = 5
    """Loss is logged (and recorded in the summary's loss curve) every N steps."""
    eval_limit: int | None = 100
    """Examples of the eval split decoded for the summary's final eval (None: all; 0: skip)."""
    num_threads: int | None = 2
    """torch CPU threads (None: torch's default). The machine is shared: 2."""

    def __post_init__(self) -> None:
        problems = []
        positive = {
            "learning_rate": self.learning_rate, "epochs": self.epochs, "batch_size": self.batch_size,
            "grad_accum": self.grad_accum, "save_steps": self.save_steps, "logging_steps": self.logging_steps,
            "max_seq_len": self.max_seq_len, "save_total_limit": self.save_total_limit,
        }
        for name, value in positive.items():
            if not value > 0:
                problems.append(f"`train.{name}` must be > 0, got {value}")
        for name in ("max_examples", "max_steps", "stop_after_steps", "num_threads"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                problems.append(f"`train.{name}` must be > 0 or null, got {value}")
        if self.eval_limit is not None and self.eval_limit < 0:
            problems.append(f"`train.eval_limit` must be >= 0 or null, got {self.eval_limit}")
        if self.warmup_steps < 0:
            problems.append(f"`train.warmup_steps` must be >= 0, got {self.warmup_steps}")
        if self.weight_decay < 0:
            problems.append(f"`train.weight_decay` must be >= 0, got {self.weight_decay}")
        if self.scheduler not in ("cosine", "linear", "constant"):
            problems.append(f"`train.scheduler` must be cosine, linear or constant, got {self.scheduler!r}")
        if self.precision not in ("bf16", "fp32"):
            problems.append(f"`train.precision` must be bf16 or fp32, got {self.precision!r}")
        if problems:
            raise ConfigError(problems)


@dataclass(frozen=True)
class RunConfig:
    """Everything a training run is configured by (paths and the model come from the CLI)."""

    lora: LoraSettings = field(default_factory=LoraSettings)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_SECTIONS: dict[str, type] = {"lora": LoraSettings, "train": TrainConfig}


def resolve_config(*, path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """Defaults ← YAML file ← ``--section.key=value`` overrides, checked all at once.

    Args:
        path: a YAML file with ``lora:`` and/or ``train:`` sections (optional).
        overrides: strings such as ``"--train.learning_rate=5e-4"`` or ``"--lora.target_modules=q_proj,v_proj"``.

    Raises:
        ConfigError: listing every unknown key, malformed override and bad value.
    """
    raw: dict[str, dict[str, Any]] = {name: {} for name in _SECTIONS}
    problems: list[str] = []
    source = None
    if path is not None:
        source = str(path)
        for section, values in _read_yaml(Path(path)).items():
            if section not in _SECTIONS:
                problems.append(f"unknown section `{section}` in {path}; known: {sorted(_SECTIONS)}")
                continue
            if not isinstance(values, dict):
                problems.append(f"section `{section}` in {path} must be a mapping, got {values!r}")
                continue
            raw[section].update(values)
    for item in overrides:
        parsed = _split_override(item, problems)
        if parsed is not None:
            section, key, value = parsed
            raw[section][key] = value

    built: dict[str, Any] = {}
    for section, cls in _SECTIONS.items():
        kwargs: dict[str, Any] = {}
        fields = {f.name: f for f in dataclasses.fields(cls)}
        hints = typing.get_type_hints(cls)
        for key, value in raw[section].items():
            if key not in fields:
                problems.append(f"unknown key `{section}.{key}`; known: {sorted(fields)}")
                continue
            try:
                kwargs[key] = _coerce(value, hints[key])
            except ValueError as e:
                problems.append(f"`{section}.{key}`: {e}")
        try:
            built[section] = cls(**kwargs)
        except ConfigError as e:
            problems += e.problems
    if problems:
        raise ConfigError(problems, source=source)
    return RunConfig(**built)


def dump_yaml(cfg: RunConfig, *, command: str) -> str:
    """The config as YAML whose first line is the command that uses it (house style)."""
    import yaml

    body = yaml.safe_dump(_plain(cfg.to_dict()), sort_keys=False)
    return f"# {command}\n{body}"


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        import yaml
    except ImportError as e:  # pragma: no cover - yaml ships with the training extra
        raise ConfigError(["reading a config file needs PyYAML: `pip install pyyaml`"], source=str(path)) from e
    if not path.is_file():
        raise ConfigError([f"config file not found: {path}"], source=str(path))
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ConfigError([f"not valid YAML: {e}"], source=str(path)) from e
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([f"top level must be a mapping with `lora`/`train` sections, got {type(data).__name__}"],
                          source=str(path))
    return data


def _split_override(item: str, problems: list[str]) -> tuple[str, str, str] | None:
    text = item[2:] if item.startswith("--") else item
    if "=" not in text or "." not in text.split("=", 1)[0]:
        problems.append(f"override {item!r} must look like --section.key=value (e.g. --train.learning_rate=5e-4)")
        return None
    dotted, value = text.split("=", 1)
    section, key = dotted.split(".", 1)
    if section not in _SECTIONS:
        problems.append(f"override {item!r}: unknown section `{section}`; known: {sorted(_SECTIONS)}")
        return None
    return section, key.replace("-", "_"), value


def _coerce(value: Any, hint: Any) -> Any:
    """Turn a YAML value or an override string into the field's type (raises ValueError)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        non_none = [a for a in args if a is not type(None)]
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            return None
        return _coerce(value, non_none[0])
    if origin is Literal:
        if value not in args:
            raise ValueError(f"must be one of {list(args)}, got {value!r}")
        return value
    if origin is tuple:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            raise ValueError(f"must be a list, got {value!r}")
        return tuple(str(i).strip() for i in items if str(i).strip())
    if hint is bool:
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "1", "yes"):
            return True
        if str(value).lower() in ("false", "0", "no"):
            return False
        raise ValueError(f"must be true or false, got {value!r}")
    if hint is int:
        if isinstance(value, bool):
            raise ValueError(f"must be an integer, got {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"must be an integer, got {value!r}") from None
        if not number.is_integer():
            raise ValueError(f"must be an integer, got {value!r}")
        return int(number)
    if hint is float:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f"must be a number, got {value!r}") from None
    if hint is str:
        return str(value)
    raise ValueError(f"unsupported type {hint}")  # pragma: no cover - all fields are covered above
