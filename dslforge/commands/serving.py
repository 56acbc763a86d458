"""`dslforge serve`, `dslforge loadtest` and `dslforge export vllm`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

export_app = typer.Typer(help="Export a DSL (and adapter) for another serving engine.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the serving commands to `app`."""
    app.command("serve")(serve)
    app.command("loadtest")(loadtest)
    app.add_typer(export_app, name="export")


def serve(
    dsl_names: Annotated[list[str], typer.Option("--dsl", help="A DSL to serve (repeat for several; the first is the default).")] = ["geoquery"],  # noqa: B006
    model: Annotated[Optional[str], typer.Option(help="A local Hugging Face model folder; default SmolLM2-135M-Instruct.")] = None,
    adapter: Annotated[list[str], typer.Option("--adapter", help="NAME=DIR: a peft LoRA adapter a request may pick (repeat).")] = [],  # noqa: B006
    host: Annotated[str, typer.Option(help="Interface to bind; loopback unless you mean to expose it.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port; 0 lets the system choose (printed at start).")] = 8000,
    api_key_file: Annotated[Optional[Path], typer.Option(help="A file of API keys, one per line; requests without one get 401.")] = None,
    max_batch: Annotated[int, typer.Option(help="Most requests decoded together.")] = 8,
    max_wait_ms: Annotated[float, typer.Option(help="The longest an idle model waits to fill a batch.")] = 100.0,
    max_wait_fraction: Annotated[float, typer.Option(help="...and at most this share of the last batch's duration.")] = 0.05,
    queue_size: Annotated[int, typer.Option(help="Requests waiting beyond the running batch; more get 503.")] = 64,
    request_timeout: Annotated[float, typer.Option(help="Seconds from admission to answer; later gets 504.")] = 120.0,
    max_new_tokens_limit: Annotated[int, typer.Option(help="Largest max_new_tokens a request may ask for.")] = 256,
    default_max_new_tokens: Annotated[int, typer.Option(help="max_new_tokens when a request does not say.")] = 128,
    max_text_chars: Annotated[int, typer.Option(help="Longest request text.")] = 2000,
    max_body_bytes: Annotated[int, typer.Option(help="Larger request bodies get 413.")] = 1_000_000,
    body_timeout: Annotated[float, typer.Option(help="Longest pause while a body arrives; slower gets 408.")] = 10.0,
    drain_timeout: Annotated[float, typer.Option(help="After SIGTERM, seconds in-flight requests may take.")] = 60.0,
    device: Annotated[Optional[str], typer.Option(help="cpu, cuda, cuda:1 ...; default CUDA when present.")] = None,
    dtype: Annotated[Optional[str], typer.Option(help="float32, bfloat16 or float16.")] = None,
    torch_threads: Annotated[int, typer.Option(help="torch CPU threads; 0 keeps torch's default. On a shared CPU, 1 avoids "
                                                    "spinning threads fighting other processes.")] = 0,
    warm_up: Annotated[bool, typer.Option(help="Run one request per DSL before accepting traffic.")] = True,
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error.")] = "info",
) -> None:
    """Serve DSL generation over HTTP: /v1/generate, /v1/validate, OpenAI-compatible
    /v1/completions and /v1/chat/completions, /healthz, /readyz, /metrics, /docs.

    Requests are micro-batched on one model; a full queue answers 503 with Retry-After, a slow
    request 504. SIGTERM drains: in-flight requests finish, new ones get 503, exit 0.
    """
    import logging

    from engine.errors import EngineError
    from engine.serving.config import ServeConfig, read_api_keys
    from engine.serving.errors import ServeConfigError

    _require_serve_extras()
    named = _parse_adapters(adapter)
    config = ServeConfig(
        host=host, port=port, max_batch=max_batch, max_wait_ms=max_wait_ms, max_wait_fraction=max_wait_fraction,
        queue_size=queue_size,
        request_timeout_s=request_timeout, max_text_chars=max_text_chars,
        max_new_tokens_limit=max_new_tokens_limit, default_max_new_tokens=default_max_new_tokens,
        max_body_bytes=max_body_bytes, body_timeout_s=body_timeout, drain_timeout_s=drain_timeout,
        api_keys=read_api_keys(str(api_key_file)) if api_key_file is not None else (),
    )
    if torch_threads < 0:
        raise ServeConfigError(f"--torch-threads must be >= 0, got {torch_threads}")
    if log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ServeConfigError(f"--log-level must be debug, info, warning or error, got {log_level!r}")
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    shown = {k: v for k, v in vars(config).items() if k != "api_keys"}
    print(f"dslforge serve: dsl={dsl_names} model={model or 'default'} adapters={sorted(named)} "
          f"api_keys={len(config.api_keys)} {shown}", file=sys.stderr, flush=True)
    if torch_threads:
        import torch

        torch.set_num_threads(torch_threads)
    from engine.serving.engine_backend import EngineBackend
    from engine.serving.server import serve as run_server

    backend = EngineBackend.load(dsl_names, model=model, adapters=named, device=device, dtype=dtype)
    if warm_up:
        print(f"dslforge serve: warmed up in {backend.warm_up():.1f} s", file=sys.stderr, flush=True)
    status = run_server(backend, config, log_level=log_level.lower())
    if status:
        raise EngineError("the drain after SIGTERM timed out; some requests were cut (see the log)")


def loadtest(
    url: Annotated[str, typer.Option(help="The server, e.g. http://127.0.0.1:8000")],
    concurrency: Annotated[str, typer.Option(help="Comma-separated client counts, one run each.")] = "1,4,16",
    requests: Annotated[int, typer.Option(help="Requests per concurrency level.")] = 64,
    dsl_name: Annotated[Optional[str], typer.Option("--dsl", help="The DSL to ask for; default the server's first.")] = None,
    texts: Annotated[Optional[Path], typer.Option(help="JSONL with a `text` field; default the DSL's test split.")] = None,
    max_new_tokens: Annotated[int, typer.Option(help="Budget per request.")] = 64,
    api_key_file: Annotated[Optional[Path], typer.Option(help="Send the first key of this file.")] = None,
    timeout: Annotated[float, typer.Option(help="Client timeout per request, seconds.")] = 300.0,
    warm_up: Annotated[int, typer.Option(help="Requests sent (and not measured) before the first level.")] = 2,
    out: Annotated[Path, typer.Option(help="Folder for loadtest.json and loadtest.png.")] = Path("loadtest-out"),
) -> None:
    """Load-test a running `dslforge serve`: p50/p95/p99 latency, throughput, errors by status and
    the server's peak RSS per concurrency level; prints a table, writes JSON and a PNG."""
    from engine.serving import loadtest as lt
    from engine.serving.config import read_api_keys
    from engine.serving.errors import ServeConfigError

    _require_serve_extras("matplotlib")  # checked before minutes of load, not after
    try:
        levels = [int(c) for c in concurrency.split(",") if c.strip()]
    except ValueError:
        raise ServeConfigError(f"--concurrency must be comma-separated integers, got {concurrency!r}") from None
    key = read_api_keys(str(api_key_file))[0] if api_key_file is not None else None
    prompts = lt.load_texts(texts, dsl_name)
    report = lt.run(url, levels=levels, n_requests=requests, texts=prompts, dsl=dsl_name,
                    max_new_tokens=max_new_tokens, api_key=key, timeout_s=timeout, warm_up=warm_up)
    print(lt.markdown_table(report))
    written = lt.write_outputs(report, out)
    print(f"wrote {', '.join(str(p) for p in written)}", file=sys.stderr)


@export_app.command("vllm")
def export_vllm(
    dsl_name: Annotated[str, typer.Option("--dsl", help="A DSL name under grammars/ or a DSL folder.")],
    out: Annotated[Path, typer.Option(help="Folder to write (created; must be empty if it exists).")],
    adapter: Annotated[Optional[Path], typer.Option(help="A peft LoRA adapter folder to serve with the DSL.")] = None,
    model: Annotated[Optional[str], typer.Option(help="The base model for vLLM; default: the adapter's recorded base, "
                                                      "else HuggingFaceTB/SmolLM2-135M-Instruct.")] = None,
    port: Annotated[int, typer.Option(help="The port in the written command line.")] = 8000,
) -> None:
    """Write what `vllm serve` needs for this DSL: the compiled llguidance grammar, the adapter,
    the command line (LoRA on, structured outputs with the llguidance backend) and a request."""
    from engine.serving.vllm_export import export_vllm as do_export

    written = do_export(dsl_name, out=out, adapter=adapter, model=model, port=port)
    for path in written:
        print(path)


def _parse_adapters(items: list[str]) -> dict[str, str]:
    from engine.serving.errors import ServeConfigError

    named: dict[str, str] = {}
    for item in items:
        name, sep, folder = item.partition("=")
        if not sep or not name or not folder:
            raise ServeConfigError(f"--adapter must be NAME=DIR, got {item!r}")
        if name in named:
            raise ServeConfigError(f"--adapter {name!r} is given twice")
        named[name] = folder
    return named


def _require_serve_extras(*more: str) -> None:
    import importlib.util

    from engine.serving.errors import ServeConfigError

    missing = [m for m in ("fastapi", "uvicorn", "httpx", *more) if importlib.util.find_spec(m) is None]
    if missing:
        raise ServeConfigError(f"this command needs {missing}: pip install 'dslforge[serve]' {' '.join(more)}")
