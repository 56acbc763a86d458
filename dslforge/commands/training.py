"""`dslforge data prepare`, `dslforge train`, `dslforge eval`, `dslforge eval-compare`.

Heavy imports (torch, transformers, peft) happen inside the command functions.
"""

from __future__ import annotations

import json
import os
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
    tenant: Annotated[Optional[str], typer.Option("--tenant", help="Train a tenant adapter from --init-adapter on --data, gated (see training/tenant.py).")] = None,
    catalog: Annotated[Optional[str], typer.Option("--catalog", help="With --tenant: the tenant catalog (a tenant name of the DSL or a catalog.toml).")] = None,
    tenant_test: Annotated[Optional[Path], typer.Option("--tenant-test", help="With --tenant: tenant test JSONL (default: split=test rows of --data).")] = None,
    general_data: Annotated[Optional[Path], typer.Option("--general-data", help="With --tenant: general rows for replay and the gate (default: the DSL's data).")] = None,
    replay: Annotated[float, typer.Option("--replay", help="With --tenant: share of general rows in the mixed training set.")] = 0.5,
    margin: Annotated[float, typer.Option("--margin", help="With --tenant: general points the adapter may lose and still publish.")] = 1.0,
    general_eval_n: Annotated[int, typer.Option("--general-eval-n", help="With --tenant: general test rows the gate decodes.")] = 100,
) -> None:
    """Fine-tune a LoRA adapter (loss on the program only) and write a peft folder with
    training_summary.json. Override any setting as --section.key=value, e.g.
    --train.epochs=4 --train.learning_rate=5e-4 --lora.r=8 --lora.target_modules=q_proj,v_proj.
    With --tenant NAME: continue --init-adapter on the tenant's --data mixed with --replay general
    rows, then publish OUT with tenant_report.json only if general quality held (else exit 1)."""
    from training.config import resolve_config
    from training.train import train as run_train

    cfg = resolve_config(path=config, overrides=list(ctx.args))
    # Under torchrun/accelerate every process runs this command; only rank 0 reports.
    lead = os.environ.get("RANK", "0") == "0"
    if lead:
        print(f"config: {json.dumps(cfg.to_dict())}", file=sys.stderr)
    if tenant is not None or catalog is not None:
        _train_tenant(dsl_name, out, cfg, base=base, init_adapter=init_adapter, data=data, resume=resume,
                      quiet=quiet, tenant=tenant, catalog=catalog, tenant_test=tenant_test,
                      general_data=general_data, replay=replay, margin=margin, general_eval_n=general_eval_n)
        return
    result = run_train(language=dsl_name, out_dir=out, config=cfg, base=base, init_adapter=init_adapter, data=data,
                       eval_data=eval_data, resume=resume, command=_command_line(), progress=not quiet)
    s = result.summary
    if not lead:
        return
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


def _train_tenant(dsl_name: str, out: Path, cfg: object, *, base: Optional[Path], init_adapter: Optional[Path],
                  data: Optional[Path], resume: bool, quiet: bool, tenant: Optional[str], catalog: Optional[str],
                  tenant_test: Optional[Path], general_data: Optional[Path], replay: float, margin: float,
                  general_eval_n: int) -> None:
    from dslforge.cli import ProgramRejected
    from training.tenant import TenantConfig, TenantGateRefused, train_tenant

    missing = [flag for flag, value in (("--tenant", tenant), ("--init-adapter", init_adapter), ("--data", data),
                                        ("--catalog", catalog)) if value is None]
    if missing:
        raise typer.BadParameter(f"a tenant run needs {', '.join(missing)} too "
                                 "(dslforge train --dsl workflow --tenant NAME --init-adapter GENERAL_DIR "
                                 "--data tenant.jsonl --catalog NAME --out DIR)", param_hint=missing[0])
    tcfg = TenantConfig(replay=replay, margin=margin, general_eval_n=general_eval_n)
    try:
        result = train_tenant(language=dsl_name, tenant=str(tenant), init_adapter=str(init_adapter), data=str(data),
                              catalog=str(catalog), out_dir=out, config=cfg, tenant_config=tcfg,  # type: ignore[arg-type]
                              base=base, tenant_test=tenant_test, general_data=general_data, resume=resume,
                              command=_command_line(), progress=not quiet)
    except TenantGateRefused as e:
        print(f"REFUSED: {e}", file=sys.stderr)
        print(_tenant_table(e.report))
        print(f"report: {e.report_path}")
        raise ProgramRejected() from e
    print(_tenant_table(result.report))
    print(f"published: {out} (report: {out / 'tenant_report.json'})")


def _tenant_table(report: dict) -> str:
    rows = ["| set | adapter | exact match % | similarity |", "|---|---|---:|---:|"]
    for part, label in (("general", "general test"), ("tenant_test", "tenant test")):
        for when, name in (("before", "general"), ("after", f"tenant {report['tenant']}")):
            s = report[part][when]
            rows.append(f"| {label} (n={s.get('n')}) | {name} | {s.get('exact_match', 0):.1f} | "
                        f"{s.get('similarity', 0):.3f} |")
    return "\n".join(rows)


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
    threads: Annotated[Optional[int], typer.Option("--threads", help="torch CPU threads (default: torch's choice; 1 on a shared machine).")] = None,
    record: Annotated[bool, typer.Option("--record", help="Also store the summary as `final_eval` in ADAPTER/training_summary.json.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Decode a split with one configuration ({base + --rag K, --adapter} × {free, constrained})
    and score it: exact match, execution accuracy, parse rate, hallucinated names/keys,
    API-sequence similarity, latency p50/p95, tokens/s."""
    from training.evaluate import EvalSettings, run_eval

    if mode not in ("constrained", "free"):
        raise typer.BadParameter(f"must be constrained or free, got {mode!r}", param_hint="--mode")
    if record and adapter is None:
        raise typer.BadParameter("--record stores the result in an adapter's training summary; pass --adapter",
                                 param_hint="--record")
    settings = EvalSettings(mode=mode, rag_k=rag, max_new_tokens=max_new_tokens)  # type: ignore[arg-type]
    report = run_eval(language=dsl_name, out_dir=out, split=split, scheme=scheme, data=data, adapter=adapter,
                      base=base, settings=settings, train_data=train_data, limit=limit, progress=not quiet,
                      command=_command_line(), num_threads=threads)
    if record:
        from training.train import record_final_eval

        record_final_eval(adapter, report.summary)  # type: ignore[arg-type]
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
