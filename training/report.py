"""Tables and charts of evaluation summaries: one run, a comparison of runs, a learning curve.

Charts use matplotlib's object API (``Figure``), never pyplot: no global backend state.

Run it::

    dslforge eval-compare runs/eval/rag-free runs/eval/rag-con runs/eval/ft-free runs/eval/ft-con --out runs/eval/compare
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from training.errors import DataError

# (summary key, column title, format)
COLUMNS = [
    ("exact_match", "exact %", "{:.1f}"),
    ("execution_accuracy", "execution %", "{:.1f}"),
    ("parse_rate", "parses %", "{:.1f}"),
    ("hallucinated_names", "halluc. names %", "{:.1f}"),
    ("hallucinated_keys", "halluc. keys %", "{:.1f}"),
    ("similarity", "API-seq sim.", "{:.3f}"),
    ("latency_p50_ms", "p50 ms", "{:.0f}"),
    ("latency_p95_ms", "p95 ms", "{:.0f}"),
    ("tokens_per_s", "tok/s", "{:.1f}"),
    ("mean_prompt_tokens", "prompt tok", "{:.0f}"),
]


def render_summary_markdown(summary: dict[str, Any]) -> str:
    """One run's summary for people."""
    lines = [
        f"# Evaluation: {summary.get('configuration', '?')}",
        "",
        f"- DSL: {summary.get('dsl')}; data: {summary.get('data')} ({summary.get('n')} examples)",
        f"- model: {summary.get('model')}; adapter: {summary.get('adapter_path') or 'none'}; "
        f"mode: {summary.get('mode')}; retrieved examples: {summary.get('rag_k')}; "
        f"max_new_tokens: {summary.get('max_new_tokens')}",
        f"- command: `{summary.get('command')}`",
        "",
        comparison_table([summary]),
        "",
        f"Finished by the token budget: {summary.get('finished_by_budget')}; engine errors: "
        f"{summary.get('errors')}; wall time {summary.get('wall_s')} s.",
        "",
    ]
    return "\n".join(lines)


def comparison_table(summaries: list[dict[str, Any]]) -> str:
    """A markdown table, one row per configuration; columns absent from every run are left out."""
    columns = [c for c in COLUMNS if any(s.get(c[0]) is not None for s in summaries)]
    head = "| configuration | n | " + " | ".join(title for _, title, _ in columns) + " |"
    rule = "|---|---:|" + "---:|" * len(columns)
    rows = [head, rule]
    for s in summaries:
        cells = []
        for key, _, fmt in columns:
            value = s.get(key)
            cells.append(fmt.format(value) if isinstance(value, (int, float)) else "–")
        rows.append(f"| {s.get('configuration', '?')} | {s.get('n', '?')} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def latency_ratio(fine_tuned: dict[str, Any], retrieval: dict[str, Any]) -> float | None:
    """p50 latency of the fine-tuned run divided by the retrieval run's (< 1: fine-tuned is faster)."""
    a, b = fine_tuned.get("latency_p50_ms"), retrieval.get("latency_p50_ms")
    if not a or not b:
        return None
    return float(a) / float(b)


def load_summaries(run_dirs: list[str | Path]) -> list[dict[str, Any]]:
    """``summary.json`` of each eval output folder, in the order given."""
    out = []
    for d in run_dirs:
        path = Path(d) / "summary.json"
        if not path.is_file():
            raise DataError(f"{d} has no summary.json; is it the --out folder of `dslforge eval`?")
        out.append(json.loads(path.read_text(encoding="utf-8")))
    return out


def write_metric_chart(summaries: list[dict[str, Any]], path: str | Path, *, title: str | None = None) -> None:
    """Grouped bars (quality, %) and p50 latency bars, one colour per configuration."""
    from matplotlib.figure import Figure

    metrics = [(k, t) for k, t in (("exact_match", "exact"), ("execution_accuracy", "execution"),
                                    ("parse_rate", "parses"), ("similarity", "API-seq sim. ×100"))
               if any(s.get(k) is not None for s in summaries)]
    fig = Figure(figsize=(10, 4.6), layout="constrained")
    quality, speed = fig.subplots(1, 2, width_ratios=[3, 1.3])
    width = 0.8 / max(1, len(summaries))
    for i, s in enumerate(summaries):
        values = [(s.get(k) or 0.0) * (100.0 if k == "similarity" else 1.0) for k, _ in metrics]
        xs = [m + i * width for m in range(len(metrics))]
        bars = quality.bar(xs, values, width, label=s.get("configuration", f"run {i}"))
        quality.bar_label(bars, fmt="%.0f", fontsize=7)
        speed.bar([i], [s.get("latency_p50_ms") or 0.0], 0.7, color=bars.patches[0].get_facecolor())
    quality.set_xticks([m + width * (len(summaries) - 1) / 2 for m in range(len(metrics))], [t for _, t in metrics])
    quality.set_ylim(0, 110)
    quality.set_ylabel("%")
    fig.legend(*quality.get_legend_handles_labels(), loc="outside lower center", ncols=min(4, len(summaries)),
               fontsize=8)
    speed.set_xticks(range(len(summaries)), [str(i + 1) for i in range(len(summaries))])
    speed.set_xlabel("configuration (legend order)")
    speed.set_ylabel("p50 latency per example (ms)")
    if title:
        fig.suptitle(title)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(str(path), dpi=110)


def write_learning_curve(points: list[dict[str, Any]], path: str | Path, *, title: str = "Learning curve") -> None:
    """Quality against the number of training pairs (``points``: {pairs, exact_match, ...})."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    xs = [p["pairs"] for p in points]
    for key, label in (("exact_match", "exact %"), ("execution_accuracy", "execution %"),
                       ("similarity", "API-seq sim. ×100")):
        ys = [p.get(key) for p in points]
        if all(y is not None for y in ys):
            ax.plot(xs, [y * (100 if key == "similarity" else 1) for y in ys], marker="o", label=label)
    if len(xs) > 1 and max(xs) >= 4 * min(xs):  # sizes that double: equal steps on a log axis
        ax.set_xscale("log", base=2)
    ax.set_xticks(xs, [str(x) for x in xs])
    ax.minorticks_off()
    ax.set_xlabel("training pairs")
    ax.set_ylabel("%")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(title)
    fig.savefig(str(path), dpi=110)


def compare_runs(run_dirs: list[str | Path], out_dir: str | Path) -> str:
    """Write ``comparison.md`` and ``comparison.png`` for several eval runs; returns the markdown."""
    summaries = load_summaries(run_dirs)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    text = comparison_table(summaries)
    ft = [s for s in summaries if s.get("adapter_path") and not s.get("rag_k")]
    rag = [s for s in summaries if s.get("rag_k") and not s.get("adapter_path")]
    notes = []
    for f in ft:
        for r in rag:
            if f.get("mode") == r.get("mode"):
                ratio = latency_ratio(f, r)
                if ratio is not None:
                    notes.append(f"- {f['mode']}: fine-tuned p50 latency / retrieval p50 latency = {ratio:.2f}")
    if notes:
        text += "\n\n" + "\n".join(notes)
    (out / "comparison.md").write_text(text + "\n", encoding="utf-8")
    first = summaries[0]
    title = f"{first.get('dsl')}: {first['data']}" if first.get("data") else first.get("dsl")
    write_metric_chart(summaries, out / "comparison.png", title=title)
    return text
