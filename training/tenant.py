"""Tenant adapters: continue a general adapter on one customer's pairs, with replay, behind a gate.

A tenant is a customer with private connectors (a tenant catalog, e.g.
``grammars/workflow/tenants/contoso/catalog.toml``) and a few dozen (request, flow) pairs that use
them. :func:`train_tenant` does, in order:

1. **Checks** the tenant rows against the base catalog + the tenant catalog (a row the tenant
   cannot have written is an error naming it, before any training).
2. **Replay**: mixes a share of the general training rows into the tenant rows
   (``TenantConfig.replay``, default 0.5 of the mixed set) so that the model does not forget.
3. **Trains** a candidate adapter from ``--init-adapter`` (the general one) into ``OUT.candidate/``
   with :func:`training.train.train`.
4. **The gate**: decodes a fixed subsample of the general test split and the tenant test rows
   with the general adapter and with the candidate (one engine, both adapters on one base;
   tenant rows under the tenant's locked grammar, general rows under the base one). If general
   exact match or general similarity (in points, ×100) falls by more than ``margin`` (default
   1 point), the candidate is refused: :class:`TenantGateRefused` (the CLI exits 1), ``OUT`` is
   not written and ``OUT.candidate/tenant_report.json`` says why.
5. **Publishes** otherwise: ``OUT.candidate`` is renamed to ``OUT``, with ``tenant_report.json``
   (general before/after, tenant before/after, the examples whose exactness changed).

Run it::

    dslforge train --dsl workflow --tenant contoso --init-adapter adapters/workflow \\
        --data grammars/workflow/data/tenant_flows.jsonl --catalog contoso --out adapters/tenants/contoso

``--data`` rows may carry ``tenant`` (rows of other tenants are skipped) and ``split``
(``train`` rows are trained on, ``test`` rows are the tenant test unless ``--tenant-test`` is given).
"""

from __future__ import annotations

import dataclasses
import json
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dsl
from dsl import DSL
from training.config import RunConfig
from training.errors import ConfigError, DataError, TrainingError

REPORT = "tenant_report.json"
CATALOG_COPY = "tenant_catalog.toml"
GENERAL, CANDIDATE = "general", "tenant"  # adapter names inside the gate's engine


@dataclass(frozen=True)
class TenantConfig:
    """Replay and gate settings of a tenant run (the LoRA/optimiser ones are :class:`RunConfig`)."""

    replay: float = 0.5
    """Share of the mixed training set drawn from general training rows. 0: tenant rows only
    (forgets fastest); higher: safer for general quality, slower to learn the tenant's habits."""
    margin: float = 1.0
    """Points of general exact match (or similarity ×100) the candidate may lose and still publish."""
    general_eval_n: int = 100
    """General test rows decoded twice by the gate (seeded subsample, recorded by id). Fewer: a
    faster gate whose ±1-point decisions are noisier (one row of 100 is 1 point)."""
    max_new_tokens: int = 256
    """Token budget per decoded flow: the tenant flows take 88 SmolLM2 tokens on average, 241 at
    most; a smaller budget closes long flows early (counted wrong), a larger one costs nothing
    unless the model rambles."""
    seed: int = 0
    """Seeds the replay sample and the general subsample."""

    def __post_init__(self) -> None:
        problems = []
        if not 0.0 <= self.replay < 1.0:
            problems.append(f"--replay must be in [0, 1), got {self.replay}")
        if self.margin < 0:
            problems.append(f"--margin must be >= 0 (points), got {self.margin}")
        if self.general_eval_n <= 0:
            problems.append(f"--general-eval-n must be > 0, got {self.general_eval_n}")
        if self.max_new_tokens <= 0:
            problems.append(f"--max-new-tokens must be > 0, got {self.max_new_tokens}")
        if problems:
            raise ConfigError(problems)


class TenantGateRefused(TrainingError):
    """The candidate adapter lost general quality beyond the margin; it was not published."""

    def __init__(self, message: str, *, report: dict[str, Any], report_path: Path) -> None:
        super().__init__(message)
        self.report = report
        self.report_path = report_path


@dataclass
class TenantResult:
    """What :func:`train_tenant` did (it returns only when the adapter was published)."""

    out_dir: Path
    report: dict[str, Any]


# -- pure pieces (unit-tested) ------------------------------------------------------------------
def mix_replay(tenant_rows: list[dict[str, Any]], general_rows: list[dict[str, Any]], *, replay: float,
               seed: int) -> list[dict[str, Any]]:
    """Tenant rows plus ``replay`` share of general rows, shuffled (seeded).

    With ``t`` tenant rows the mix holds ``round(t * replay / (1 - replay))`` general rows (all
    of them when there are fewer), each at most once.

    >>> rows = mix_replay([{"id": "t"}] * 4, [{"id": f"g{i}"} for i in range(10)], replay=0.5, seed=0)
    >>> len(rows), sum(r["id"] == "t" for r in rows)
    (8, 4)
    """
    if not 0.0 <= replay < 1.0:
        raise ConfigError([f"--replay must be in [0, 1), got {replay}"])
    wanted = min(len(general_rows), round(len(tenant_rows) * replay / (1.0 - replay)))
    rng = random.Random(seed)
    mixed = list(tenant_rows) + rng.sample(list(general_rows), wanted)
    rng.shuffle(mixed)
    return mixed


def general_subsample(rows: list[dict[str, Any]], n: int, *, seed: int) -> list[dict[str, Any]]:
    """A fixed subsample of the general test rows: seeded choice, kept in the split's order."""
    if n >= len(rows):
        return list(rows)
    chosen = set(random.Random(seed).sample(range(len(rows)), n))
    return [row for i, row in enumerate(rows) if i in chosen]


def gate(before: dict[str, Any], after: dict[str, Any], *, margin: float) -> list[str]:
    """Why the candidate must not be published (empty: it may be).

    ``before``/``after`` are general summaries (``exact_match`` in percent, ``similarity`` in
    [0, 1]); a fall of more than ``margin`` points in either refuses.

    >>> gate({"exact_match": 80.0, "similarity": 0.90}, {"exact_match": 79.0, "similarity": 0.895}, margin=1.0)
    []
    >>> gate({"exact_match": 80.0, "similarity": 0.90}, {"exact_match": 78.0, "similarity": 0.90}, margin=1.0)
    ['general exact match fell 2.0 points (80.0 -> 78.0), more than the margin of 1.0']
    """
    reasons = []
    for key, scale, label in (("exact_match", 1.0, "exact match"), ("similarity", 100.0, "similarity (x100)")):
        old, new = float(before[key]) * scale, float(after[key]) * scale
        if old - new > margin + 1e-9:
            reasons.append(f"general {label} fell {old - new:.1f} points ({old:.1f} -> {new:.1f}), "
                           f"more than the margin of {margin}")
    return reasons


def changed_examples(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows whose exactness differs between two decodings of the same rows (same order)."""
    out = []
    for b, a in zip(before, after):
        if b["exact"] != a["exact"]:
            out.append({"id": b["id"], "text": b["text"], "gold": b["gold"], "before": b["prediction"],
                        "after": a["prediction"], "change": "fixed" if a["exact"] else "broken"})
    return out


# -- rows and catalogs ----------------------------------------------------------------------------
def tenant_rows(language: DSL, data: str | Path, *, tenant: str, split: str) -> list[dict[str, Any]]:
    """Rows of ``data`` for ``tenant`` (rows without ``tenant`` count as its own) and ``split``
    (rows without ``split`` count as ``train``)."""
    from training.prepare import read_jsonl

    rows = [r for r in read_jsonl(data) if r.get("tenant", tenant) == tenant and r.get("split", "train") == split]
    return rows


def check_rows(language: DSL, rows: list[dict[str, Any]], *, catalog: Any, where: str) -> None:
    """Every row parses and passes the validator under base + tenant catalog, else DataError
    naming up to 10 bad rows and their first diagnostic."""
    bad = []
    for number, row in enumerate(rows, start=1):
        try:
            tree = language.parse(row["code"])
        except dsl.DSLSyntaxError as e:
            bad.append(f"{row.get('id', f'row {number}')}: {str(e).splitlines()[0]}")
            continue
        diags = language.support.validate(tree, row["code"], extra_catalog=catalog)  # type: ignore[call-arg]
        if diags:
            bad.append(f"{row.get('id', f'row {number}')}: {diags[0].code}: {diags[0].message}")
    if bad:
        shown = "; ".join(bad[:10]) + (f"; and {len(bad) - 10} more" if len(bad) > 10 else "")
        raise DataError(f"{len(bad)} of {len(rows)} rows in {where} are not valid flows for this tenant "
                        f"(base catalog + --catalog): {shown}")


def resolve_catalog(language: DSL, catalog: str | Path) -> tuple[Any, str]:
    """(the extra catalog to hand to the DSL, a description): a tenant name or a catalog file."""
    support = language.support
    if not hasattr(support, "catalog_with"):
        raise TrainingError(f"DSL {language.name!r} has no connector catalog, so --tenant/--catalog do not apply "
                            "(tenant adapters need a catalog DSL such as workflow)")
    text = str(catalog)
    extra: Any = text if text.isidentifier() and not Path(text).exists() else Path(text)
    try:
        support.catalog_with(extra)
    except dsl.GrammarError as e:
        raise TrainingError(f"--catalog {text}: {e}") from e
    return extra, text


# -- the run ------------------------------------------------------------------------------------------
def train_tenant(
    *,
    language: DSL | str,
    tenant: str,
    init_adapter: str | Path,
    data: str | Path,
    catalog: str | Path,
    out_dir: str | Path,
    config: RunConfig | None = None,
    tenant_config: TenantConfig | None = None,
    base: str | Path | None = None,
    tenant_test: str | Path | None = None,
    general_data: str | Path | None = None,
    resume: bool = False,
    command: str = "dslforge train --tenant",
    progress: bool = True,
) -> TenantResult:
    """Train a tenant adapter from a general one, gate it, publish it (see the module docstring).

    Args:
        language: the DSL (name or loaded); it must have a catalog (workflow).
        tenant: the tenant's name (an identifier; used to pick rows and name the report).
        init_adapter: the general adapter folder to continue from and to compare against.
        data: tenant JSONL (``text``, ``code``, optional ``tenant``/``split``).
        catalog: the tenant catalog: a tenant name of the DSL or a ``catalog.toml`` path.
        out_dir: where the published adapter goes (must not exist yet).
        config: LoRA/optimiser settings (``train.eval_limit`` is ignored: the gate evaluates).
        tenant_config: replay share, margin, general subsample size, budget.
        base: the base model folder (default SmolLM2-135M-Instruct).
        tenant_test: tenant test rows (default: ``split == "test"`` rows of ``data``).
        general_data: general rows for replay (``train``) and the gate (``test``): a JSONL with
            ``split`` fields or a prepared folder; default the DSL's shipped data.
        resume: continue an interrupted candidate training in ``OUT.candidate``.

    Returns:
        :class:`TenantResult` once published.

    Raises:
        TenantGateRefused: general quality fell beyond the margin (nothing published).
        TrainingError / DataError / ConfigError: bad arguments, named.
    """
    from training.train import _write_json, train

    tcfg = tenant_config or TenantConfig()
    cfg = config or RunConfig()
    lang = dsl.load(language) if isinstance(language, str) else language
    out = Path(out_dir)
    candidate = out.with_name(out.name + ".candidate")
    problems = []
    if not tenant.isidentifier():
        problems.append(f"--tenant must be an identifier (letters, digits, _), got {tenant!r}")
    if out.exists():
        problems.append(f"--out {out} already exists; a published adapter is never overwritten: choose another "
                        "--out or delete it")
    init = Path(init_adapter)
    if not (init / "adapter_config.json").is_file():
        problems.append(f"--init-adapter {init} is not a peft adapter folder (adapter_config.json missing); "
                        "train the general adapter first (dslforge train --dsl workflow --out adapters/workflow)")
    if candidate.exists() and not resume:
        problems.append(f"{candidate} holds an earlier candidate (refused or interrupted); delete it, or pass "
                        "--resume to continue its training")
    if problems:
        raise ConfigError(problems)
    extra, catalog_label = resolve_catalog(lang, catalog)

    train_rows = tenant_rows(lang, data, tenant=tenant, split="train")
    test_rows = (tenant_rows(lang, tenant_test, tenant=tenant, split="test") if tenant_test is not None
                 else tenant_rows(lang, data, tenant=tenant, split="test"))
    if not train_rows:
        raise DataError(f"--data {data} holds no training rows for tenant {tenant!r} (rows with another `tenant`, "
                        "or `split` other than train, are skipped)")
    if not test_rows:
        raise DataError(f"no tenant test rows for {tenant!r}: give rows with \"split\": \"test\" in --data "
                        "or pass --tenant-test")
    check_rows(lang, train_rows, catalog=extra, where=f"--data {data}")
    check_rows(lang, test_rows, catalog=extra, where="the tenant test rows")

    general_train, general_train_src = _general_rows(lang, general_data, split="train")
    general_test_all, general_test_src = _general_rows(lang, general_data, split="test")
    general_test = general_subsample(general_test_all, tcfg.general_eval_n, seed=tcfg.seed)
    mixed = mix_replay(train_rows, general_train, replay=tcfg.replay, seed=tcfg.seed)

    candidate.mkdir(parents=True, exist_ok=True)
    mixed_path = candidate / "train_mixed.jsonl"
    if not resume or not mixed_path.is_file():
        from training.prepare import write_jsonl

        write_jsonl(mixed_path, mixed)
    # The gate is the evaluation: the trainer's own final eval would decode the general test again.
    run_cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, eval_limit=0))
    started = time.perf_counter()
    trained = train(language=lang, out_dir=candidate, config=run_cfg, base=base, init_adapter=init,
                    data=mixed_path, resume=resume, command=command, progress=progress)
    if trained.stopped_early:
        raise TrainingError(f"training stopped after {trained.summary['steps']} steps as asked "
                            f"(train.stop_after_steps); continue with --resume (candidate in {candidate})")
    train_s = time.perf_counter() - started

    started = time.perf_counter()
    evals = _gate_evals(lang, base=base, general=init, candidate=candidate, general_rows=general_test,
                        tenant_rows_=test_rows, extra_catalog=extra, max_new_tokens=tcfg.max_new_tokens,
                        progress=progress)
    gate_s = time.perf_counter() - started
    reasons = gate(evals["general_before"]["summary"], evals["general_after"]["summary"], margin=tcfg.margin)
    report: dict[str, Any] = {
        "tenant": tenant,
        "dsl": lang.name,
        "published": not reasons,
        "refused_because": reasons,
        "command": command,
        "init_adapter": str(init),
        "catalog": catalog_label,
        "tenant_config": dataclasses.asdict(tcfg),
        "train": {
            "tenant_rows": len(train_rows), "replay_rows": len(mixed) - len(train_rows), "mixed_rows": len(mixed),
            "general_source": general_train_src, "steps": trained.summary["steps"],
            "epochs": trained.summary["epochs"], "wall_time_s": round(train_s, 1),
        },
        "gate_wall_time_s": round(gate_s, 1),
        "general": {
            "source": general_test_src, "n": len(general_test), "ids": [r.get("id") for r in general_test],
            "before": _headline(evals["general_before"]["summary"]),
            "after": _headline(evals["general_after"]["summary"]),
            "changed": changed_examples(evals["general_before"]["records"], evals["general_after"]["records"]),
        },
        "tenant_test": {
            "n": len(test_rows),
            "before": _headline(evals["tenant_before"]["summary"]),
            "after": _headline(evals["tenant_after"]["summary"]),
            "changed": changed_examples(evals["tenant_before"]["records"], evals["tenant_after"]["records"]),
        },
    }
    if reasons:
        path = candidate / REPORT
        _write_json(path, report)
        raise TenantGateRefused(
            f"tenant adapter for {tenant!r} refused by the gate: " + "; ".join(reasons)
            + f". Nothing was published to {out}; the candidate and its report are in {candidate} "
            "(more --replay, fewer epochs or a lower learning rate usually keep general quality)",
            report=report, report_path=path,
        )
    if isinstance(extra, Path):  # a catalog file travels with the adapter; a tenant name is in the DSL
        shutil.copyfile(extra, candidate / CATALOG_COPY)
        report["catalog_file"] = CATALOG_COPY
    _write_json(candidate / REPORT, report)
    candidate.rename(out)
    return TenantResult(out, report)


def _general_rows(lang: DSL, data: str | Path | None, *, split: str) -> tuple[list[dict[str, Any]], str]:
    """General rows of ``split``: a JSONL file's rows whose ``split`` matches (``training_rows``
    would return the whole file), else a prepared folder or the DSL's shipped data."""
    from training.prepare import read_jsonl
    from training.train import training_rows

    if data is not None and Path(data).is_file():
        rows = [r for r in read_jsonl(data) if r.get("split") == split]
        if not rows:
            raise DataError(f"--general-data {data} has no rows with \"split\": \"{split}\" (the gate needs "
                            "train rows for replay and test rows to compare on)")
        return rows, f"{data} ({split})"
    return training_rows(lang, data, split=split)


def _headline(summary: dict[str, Any]) -> dict[str, Any]:
    keys = ("n", "exact_match", "similarity", "parse_rate", "hallucinated_names")
    return {k: (round(summary[k], 4) if isinstance(summary[k], float) else summary[k]) for k in keys if k in summary}


def _gate_evals(lang: DSL, *, base: str | Path | None, general: Path, candidate: Path,
                general_rows: list[dict[str, Any]], tenant_rows_: list[dict[str, Any]], extra_catalog: Any,
                max_new_tokens: int, progress: bool) -> dict[str, dict[str, Any]]:
    """Four greedy decodings on one engine (base loaded once, two adapters): general rows under
    the base locked grammar, tenant rows under base + tenant catalog, each with both adapters."""
    from engine import Engine
    from training._warnings import third_party_warnings

    with third_party_warnings():
        engine = Engine.load(lang, model=str(base) if base is not None else None,
                             adapters={GENERAL: str(general), CANDIDATE: str(candidate)}, shipped_adapter=False)
    plan = {
        "general_before": (general_rows, GENERAL, None),
        "general_after": (general_rows, CANDIDATE, None),
        "tenant_before": (tenant_rows_, GENERAL, extra_catalog),
        "tenant_after": (tenant_rows_, CANDIDATE, extra_catalog),
    }
    return {name: decode_and_score(engine, rows, adapter=adapter, extra_catalog=catalog,
                                   max_new_tokens=max_new_tokens, progress=progress, desc=name)
            for name, (rows, adapter, catalog) in plan.items()}


def decode_and_score(engine: Any, rows: list[dict[str, Any]], *, adapter: str, extra_catalog: Any,
                     max_new_tokens: int, progress: bool = False, desc: str = "decode",
                     batch_size: int = 8) -> dict[str, Any]:
    """Greedy constrained decoding of ``rows`` with one adapter (and extra catalog), scored with
    :func:`dsl.metrics.score`: ``{"records": [...], "summary": {...}}``."""
    from tqdm.auto import tqdm

    from dsl.metrics import score, summarise

    records, scores = [], []
    with tqdm(total=len(rows), desc=desc, unit="ex", disable=not progress, dynamic_ncols=True) as bar:
        for i in range(0, len(rows), batch_size):
            chunk = rows[i:i + batch_size]
            # Greedy batched decoding gives the programs of one-by-one decoding (tests/engine)
            # at several times the throughput on CPU.
            generations = engine.generate_batch([r["text"] for r in chunk], max_new_tokens=max_new_tokens,
                                                temperature=0.0, adapter=adapter, extra_catalog=extra_catalog)
            for row, g in zip(chunk, generations):
                s = score(engine.dsl, g.code, row["code"])
                scores.append(s)
                records.append({"id": row.get("id"), "text": row["text"], "gold": row["code"],
                                "prediction": g.code, "exact": s.exact, "similarity": round(s.similarity, 4)})
            bar.update(len(chunk))
    return {"records": records, "summary": dict(summarise(scores))}


def read_report(folder: str | Path) -> dict[str, Any]:
    """The ``tenant_report.json`` of a published (or refused candidate) adapter folder."""
    path = Path(folder) / REPORT
    if not path.is_file():
        raise TrainingError(f"{path} not found; is {folder} a tenant adapter written by `dslforge train --tenant`?")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data
