"""`dslforge data prepare`, `dslforge train`, `dslforge eval`, `dslforge eval-compare`.

Heavy imports (torch, transformers, peft) happen inside the command functions.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

DslOption = Annotated[str, typer.Option("--dsl", help="A DSL name under grammars/ or a DSL folder.")]

# The `data` group is shared: other areas (the workflow dataset generator) add their commands to it.
data_app = typer.Typer(help="Prepare and generate NL→DSL data.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the training-area commands to `app`."""
    existing = next((g for g in app.registered_groups if g.name == "data"), None)
    group = existing.typer_instance if existing is not None and existing.typer_instance is not None else data_app
    group.command("prepare")(prepare)
    if existing is None:
        app.add_typer(data_app, name="data")
    extra = {"allow_extra_args": True, "ignore_unknown_options": True}
    app.command("train", context_settings=extra)(train)
    app.command("eval")(eval_)
    app.command("eval-compare")(eval_compare)


def _command_line() -> str:
    return "dslforge " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def prepare(
    dsl_name: DslOption,
    input_path: Annotated[Path, typer.Option("--input", help="JSONL with `text` and `code` (optional `id`).")],
    out: Annotated[Path, typer.Option("--out", help="Output folder (created).")],
    seed: Annotated[int, typer.Option(help="Seed of the iid split.")] = 0,
    iid_test: Annotated[float, typer.Option("--iid-test", help="Share of rows in the iid test split.")] = 0.1,
    as_json: Annotated[bool, typer.Option("--json", help="Print the data card as JSON.")] = False,
) -> None:
    """Validate, canonicalise, de-duplicate and split NL→DSL pairs; every refused row goes to
    OUT/rejects.jsonl with its reason, and OUT/data_card.md says what the training split covers."""
    from training.prepare import prepare as run_prepare

    card = run_prepare(language=dsl_name, input_path=input_path, out_dir=out, seed=seed, iid_test_fraction=iid_test)
    if as_json:
        print(json.dumps(card, indent=2))
        return
    reasons = ", ".join(f"{k} {v}" for k, v in card["reject_reasons"].items()) or "none"
    print(f"accepted {card['accepted']} of {card['lines'] - card['blank_lines']} rows; rejected {card['rejected']} "
          f"({reasons}) -> {out / 'rejects.jsonl'}")
    for scheme, parts in card["splits"].items():
        print(f"  {scheme}: " + ", ".join(f"{name} {n}" for name, n in parts.items()))
    print(f"data card: {out / 'data_card.md'}")


def train(
    ctx: typer.Context,
    dsl_name: DslOption,
    out: Annotated[Path, typer.Option("--out", help="The adapter folder to write.")],
    base: Annotated[Optional[Path], typer.Option("--base", help="Base model folder (default SmolLM2-135M-Instruct).")] = None,
    init_adapter: Annotated[Optional[Path], typer.Option("--init-adapter", help="Continue from this peft adapter.")] = None,
    data: Annotated[Optional[Path], typer.Option("--data", help="Training JSONL or a `data prepare` folder (default: the DSL's own train split).")] = None,
    eval_data: Annotated[Optional[Path], typer.Option("--eval-data", help="Rows for the final eval (default: the test split).")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="YAML with `lora:` and `train:` sections.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the latest checkpoint in OUT/checkpoints.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Fine-tune a LoRA adapter (loss on the program only) and write a peft folder with
    training_summary.json. Override any setting as --section.key=value, e.g.
    --train.epochs=4 --train.learning_rate=5e-4 --lora.r=8 --lora.target_modules=q_proj,v_proj."""
    from training.config import resolve_config
    from training.train import train as run_train

    cfg = resolve_config(path=config, overrides=list(ctx.args))
    print(f"config: {json.dumps(cfg.to_dict())}", file=sys.stderr)
    result = run_train(language=dsl_name, out_dir=out, config=cfg, base=base, init_adapter=init_adapter, data=data,
                       eval_data=eval_data, resume=resume, command=_command_line(), progress=not quiet)
    s = result.summary
    if result.stopped_early:
        print(f"stopped after {s['steps']} of {s['max_steps']} steps as asked (train.stop_after_steps); "
              f"continue with: dslforge train ... --out {out} --resume")
        return
    final = s.get("final_eval") or {}
    line = f"adapter: {out} ({s.get('adapter_mb')} MB); {s['steps']} steps, {s['epochs']} epochs, {s['wall_time_s']} s"
    if final:
        line += f"; final eval on {final.get('n')} rows: exact {final.get('exact_match')}%"
        if final.get("execution_accuracy") is not None:
            line += f", execution {final.get('execution_accuracy')}%"
    print(line)


def eval_(
    dsl_name: DslOption,
    out: Annotated[Path, typer.Option("--out", help="Output folder: predictions.jsonl, summary.{json,md}, chart.png.")],
    split: Annotated[str, typer.Option("--split", help="Split of the DSL's data to evaluate.")] = "test",
    scheme: Annotated[Optional[str], typer.Option("--scheme", help="Split scheme (default standard).")] = None,
    data: Annotated[Optional[Path], typer.Option("--data", help="Evaluate this JSONL instead of a split.")] = None,
    adapter: Annotated[Optional[Path], typer.Option("--adapter", help="A peft adapter folder (fine-tuned).")] = None,
    rag: Annotated[int, typer.Option("--rag", help="K retrieved training pairs as few-shot examples (BM25).")] = 0,
    mode: Annotated[str, typer.Option("--mode", help="constrained (grammar) or free (plain greedy).")] = "constrained",
    limit: Annotated[Optional[int], typer.Option("--limit", help="Only the first N rows.")] = None,
    base: Annotated[Optional[Path], typer.Option("--base", help="Base model folder (default SmolLM2-135M-Instruct).")] = None,
    train_data: Annotated[Optional[Path], typer.Option("--train-data", help="Retrieval pool (default: the DSL's train split).")] = None,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", help="Token budget per program.")] = 128,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Decode a split with one configuration ({base + --rag K, --adapter} × {free, constrained})
    and score it: exact match, execution accuracy, parse rate, hallucinated names/keys,
    API-sequence similarity, latency p50/p95, tokens/s."""
    from training.evaluate import EvalSettings, run_eval

    if mode not in ("constrained", "free"):
        raise typer.BadParameter(f"must be constrained or free, got {mode!r}", param_hint="--mode")
    settings = EvalSettings(mode=mode, rag_k=rag, max_new_tokens=max_new_tokens)  # type: ignore[arg-type]
    report = run_eval(language=dsl_name, out_dir=out, split=split, scheme=scheme, data=data, adapter=adapter,
                      base=base, settings=settings, train_data=train_data, limit=limit, progress=not quiet,
                      command=_command_line())
    if as_json:
        print(json.dumps(report.summary, indent=2))
    else:
        print((out / "summary.md").read_text(encoding="utf-8"))


def eval_compare(
    runs: Annotated[list[Path], typer.Argument(help="Output folders of `dslforge eval`.")],
    out: Annotated[Path, typer.Option("--out", help="Where comparison.md and comparison.png go.")],
) -> None:
    """Compare evaluation runs: a markdown table, latency ratios and a PNG chart."""
    from training.report import compare_runs

    print(compare_runs(list(runs), out))
