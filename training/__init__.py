"""training: data preparation, LoRA fine-tuning, the retrieval few-shot baseline and evaluation.

``import training`` is cheap; torch, transformers and peft load inside the functions that need
them (:func:`training.train.train`, :func:`training.evaluate.run_eval`).

>>> from training import resolve_config
>>> resolve_config(overrides=["--lora.r=8"]).lora.r
8
"""

from training.config import LoraSettings, RunConfig, TrainConfig, resolve_config
from training.errors import ConfigError, DataError, TrainingError

__all__ = [
    "ConfigError",
    "DataError",
    "LoraSettings",
    "RunConfig",
    "TrainConfig",
    "TrainingError",
    "resolve_config",
]
