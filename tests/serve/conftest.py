"""Fixtures of the serving tests: a tiny random Llama saved as a real model folder (safetensors,
the real SmolLM2 tokenizer), and `dslforge serve` started as a real process on loopback.

The server runs with one torch thread: on this shared 2-core machine intra-op threads fight
other jobs and a model this small runs tens of times slower with two (tests/engine/conftest.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
API_KEY = "test-key-0123456789"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 32-wide random Llama over SmolLM2's 49k vocabulary, saved like any HF model."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from engine.assets import default_model_dir

    folder = tmp_path_factory.mktemp("tiny-llama")
    tokenizer = AutoTokenizer.from_pretrained(default_model_dir())
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.eos_token_id, tie_word_embeddings=True,
    )
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = LlamaForCausalLM(config)
        # At the default init a 32-wide model is nearly uniform; wider weights give varied programs.
        for p in model.parameters():
            p.data.normal_(0.0, 0.5 if p.dim() > 1 else 0.1)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


class ServerProcess:
    """`python -m dslforge serve ...` on 127.0.0.1 with a port the OS picks."""

    def __init__(self, model_dir: Path, *args: str, api_key_file: Path | None = None) -> None:
        command = [sys.executable, "-m", "dslforge", "serve", "--model", str(model_dir), "--port", "0",
                   "--torch-threads", "1", "--log-level", "warning", *args]
        if api_key_file is not None:
            command += ["--api-key-file", str(api_key_file)]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, env=env)
        self.lines: list[str] = []
        self._port_seen = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.url = self._wait_for_port()
        self._wait_ready()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:  # drained always: a full pipe would block the server
            self.lines.append(line.rstrip("\n"))
            if "listening on http://" in line:
                self._port_seen.set()

    def _wait_for_port(self, timeout_s: float = 120) -> str:
        if not self._port_seen.wait(timeout_s) or self.proc.poll() is not None:
            self.kill()
            raise RuntimeError("dslforge serve did not start:\n" + self.log())
        line = next(line for line in self.lines if "listening on http://" in line)
        return line.rsplit(" ", 1)[-1]

    def _wait_ready(self, timeout_s: float = 60) -> None:
        import httpx

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.kill()
        raise RuntimeError("dslforge serve never became ready:\n" + self.log())

    def log(self) -> str:
        return "\n".join(self.lines[-60:])

    def terminate(self) -> None:
        self.proc.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._reader.join(10)  # the reader ends at EOF; then the pipe can be closed
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture(scope="session")
def api_key() -> str:
    return API_KEY


@pytest.fixture
def start_server(tiny_model_dir: Path) -> Iterator[Any]:
    """Start extra servers inside a test (``start_server(*cli_args)``); all are killed after it."""
    started: list[ServerProcess] = []

    def start(*args: str, api_key_file: Path | None = None) -> ServerProcess:
        proc = ServerProcess(tiny_model_dir, *args, api_key_file=api_key_file)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()


@pytest.fixture(scope="session")
def api_key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "keys.txt"
    path.write_text(f"# keys of the test server\n{API_KEY}\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def server(tiny_model_dir: Path, api_key_file: Path) -> Iterator[ServerProcess]:
    """One server for the session: geoquery (the default) and workflow (with tenant catalogs),
    API key required, small queue, short body timeout. Tests
    that use it leave it idle and read metrics as differences."""
    proc = ServerProcess(tiny_model_dir, "--dsl", "geoquery", "--dsl", "workflow", "--max-batch", "4", "--queue-size", "4", "--body-timeout", "1",
                         "--max-new-tokens-limit", "64", "--default-max-new-tokens", "32",
                         "--max-body-bytes", "100000", api_key_file=api_key_file)
    yield proc
    proc.terminate()
    try:
        proc.proc.wait(30)
    finally:
        proc.kill()
