"""Learning curve: quality against the number of training pairs, same settings otherwise.

For each size N, train on N pairs (``--train.max_examples=N``, a seeded subsample of the
training split) and evaluate the adapter on the test split; write a markdown table, a JSON file
and a PNG. A size whose adapter already exists (``--reuse 600=adapters/geoquery``) is only
evaluated. A killed run resumes: an adapter folder that holds weights is not trained again, an
``eval-N`` folder that holds a ``summary.json`` is not decoded again.

Run it::

    .venv/bin/python -m training.learning_curve --dsl geoquery --sizes 75,150,300 \\
        --reuse 593=adapters/geoquery --out runs/lc-geoquery --limit 280 -- --train.epochs=10

Arguments after ``--`` are training overrides (as for ``dslforge train``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def main(argv: list[str] | None = None) -> int:
    """Exit 0 with the table printed, or 2 with the reason on stderr (bad settings or data)."""
    from dsl import DSLError

    try:
        return _run(argv)
    except DSLError as e:  # training errors and the DSL's: a message, not a traceback
        print(f"error: {e}", file=sys.stderr)
        return 2


def _run(argv: list[str] | None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    overrides: list[str] = []
    if "--" in args_list:
        cut = args_list.index("--")
        args_list, overrides = args_list[:cut], args_list[cut + 1:]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dsl", required=True)
    parser.add_argument("--sizes", default="", help="Comma-separated training-set sizes to train.")
    parser.add_argument("--reuse", action="append", default=[], help="SIZE=ADAPTER_DIR: evaluate, do not train.")
    parser.add_argument("--out", required=True)
    parser.add_argument("--data", default=None, help="Training JSONL (default: the DSL's train split).")
    parser.add_argument("--eval-data", default=None, help="Test JSONL (default: the DSL's standard test split).")
    parser.add_argument("--split", default="test")
    parser.add_argument("--scheme", default=None)
    parser.add_argument("--limit", type=int, default=None, help="Evaluate on the first N test rows.")
    parser.add_argument("--mode", default="constrained", choices=["constrained", "free"])
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--config", default=None, help="Training YAML (as `dslforge train --config`).")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads for decoding.")
    args = parser.parse_args(args_list)

    from training.config import resolve_config
    from training.evaluate import EvalSettings, run_eval
    from training.report import write_learning_curve
    from training.train import train

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plan: list[tuple[int, Path | None]] = [(int(s), None) for s in args.sizes.split(",") if s.strip()]
    for item in args.reuse:
        size, _, folder = item.partition("=")
        plan.append((int(size), Path(folder)))
    points: list[dict[str, Any]] = []
    for size, adapter in sorted(plan, key=lambda p: p[0]):
        if adapter is None:
            adapter = out / f"adapter-{size}"
            if not (adapter / "adapter_model.safetensors").is_file():
                cfg = resolve_config(path=args.config,
                                     overrides=[*overrides, f"--train.max_examples={size}", "--train.eval_limit=0"])
                train(language=args.dsl, out_dir=adapter, config=cfg, data=args.data,
                      resume=(adapter / "checkpoints").is_dir(),
                      command=f"python -m training.learning_curve (size {size}) " + " ".join(overrides))
        summary = json.loads((adapter / "training_summary.json").read_text(encoding="utf-8"))
        done = out / f"eval-{size}" / "summary.json"
        if done.is_file():
            s = json.loads(done.read_text(encoding="utf-8"))
            _check_same_settings(s, done, mode=args.mode, max_new_tokens=args.max_new_tokens, limit=args.limit)
        else:
            s = run_eval(language=args.dsl, out_dir=out / f"eval-{size}", split=args.split, scheme=args.scheme,
                         data=args.eval_data, adapter=adapter, limit=args.limit, num_threads=args.threads,
                         settings=EvalSettings(mode=args.mode, max_new_tokens=args.max_new_tokens)).summary
        points.append({
            "pairs": summary["data"]["rows"], "adapter": str(adapter), "steps": summary["steps"],
            "train_wall_s": summary["wall_time_s"], "exact_match": s.get("exact_match"),
            "execution_accuracy": s.get("execution_accuracy"), "similarity": s.get("similarity"),
            "parse_rate": s.get("parse_rate"), "n_test": s["n"],
        })
        (out / "learning_curve.json").write_text(json.dumps(points, indent=2) + "\n", encoding="utf-8")
    write_learning_curve(points, out / "learning_curve.png", title=f"{args.dsl}: quality vs training pairs")
    table = render_table(points)
    (out / "learning_curve.md").write_text(table + "\n", encoding="utf-8")
    print(table)
    return 0


def _check_same_settings(summary: dict[str, Any], path: Path, *, mode: str, max_new_tokens: int,
                         limit: int | None) -> None:
    """A resumed point must have been decoded like the others, or the curve compares apples and pears."""
    found = {"mode": summary.get("mode"), "max_new_tokens": summary.get("max_new_tokens")}
    wanted: dict[str, Any] = {"mode": mode, "max_new_tokens": max_new_tokens}
    if limit is not None:
        found["n"], wanted["n"] = summary.get("n"), limit
    if found != wanted:
        from training.errors import DataError

        raise DataError(f"{path} was decoded with {found}, this curve asks for {wanted}; "
                        "remove its folder to decode it again")


def render_table(points: list[dict[str, Any]]) -> str:
    """The learning curve as a markdown table."""
    lines = ["| training pairs | steps | train wall s | exact % | execution % | API-seq sim. | test n |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for p in points:
        def fmt(v: Any, f: str) -> str:
            return f.format(v) if isinstance(v, (int, float)) else "–"
        lines.append(f"| {p['pairs']} | {p['steps']} | {fmt(p['train_wall_s'], '{:.0f}')} | "
                     f"{fmt(p['exact_match'], '{:.1f}')} | {fmt(p['execution_accuracy'], '{:.1f}')} | "
                     f"{fmt(p['similarity'], '{:.3f}')} | {p['n_test']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
