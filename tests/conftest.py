"""Test tiers (markers are declared in pyproject.toml):

- default: unit tests on CPU, no network, each well under a second or two;
- ``integration``: a tiny real model, the real SmolLM2 or real tokenizers on CPU (seconds to a
  minute each); part of ``make test``;
- ``slow`` / ``gpu``: long runs or a CUDA device; excluded from ``make test`` (``make test-all``).

Real components only: real tokenizers (SmolLM2's, Mistral's), tiny random real models, real
servers on loopback.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest


@pytest.fixture
def make_dsl(tmp_path: Path):
    """Write a DSL folder from a grammar and dsl.toml text; returns its path."""

    def make(grammar: str, toml: str = 'name = "t"\n', name: str = "t") -> Path:
        folder = tmp_path / name
        folder.mkdir(exist_ok=True)
        (folder / "grammar.lark").write_text(textwrap.dedent(grammar), encoding="utf-8")
        (folder / "dsl.toml").write_text(textwrap.dedent(toml), encoding="utf-8")
        return folder

    return make
