"""Generate the workflow NL→flow dataset: sample, render, check every pair, split, write.

Every pair is checked before it is kept — it parses, it is canonical, the validator finds
nothing (with its tenant's catalog), the catalog-locked grammar accepts it, every literal of the
code appears verbatim in the request, and the step count matches. A failure raises
:class:`GeneratorBug`; no row is ever dropped silently. The only re-draw is for a request text
that an earlier pair already has (identical requests must not map to two programs); the count
of re-draws is reported.

>>> from training.datagen import DatagenConfig, generate_dataset
>>> data = generate_dataset(DatagenConfig(n=20, tenant_pairs=4))
>>> len(data.pairs), len(data.tenant_pairs)
(20, 8)
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import dsl
from dsl import DSL, DSLSyntaxError
from dsl.languages.workflow_catalog import Catalog
from training.datagen.config import DatagenConfig
from training.datagen.flows import Flow, FlowSampler, GeneratorBug, flow_literals
from training.datagen.noise import add_typo
from training.datagen.render import RequestWriter, frame_of, plain, render_code
from training.datagen.splits import held_out_apis, iid_split, tenant_split, unseen_api_split

_REDRAWS = 25


@dataclass(frozen=True)
class Pair:
    """One (request, flow) pair and what the data card needs about it."""

    id: str
    text: str
    code: str
    steps: int
    apis: list[str]
    tenant: str | None = None
    frame: str = ""
    """The request with values, references, operation phrases and connector names masked."""
    typo: bool = False

    def row(self, split: str) -> dict[str, Any]:
        row: dict[str, Any] = {"id": self.id, "text": self.text, "code": self.code, "split": split,
                               "steps": self.steps}
        if self.tenant:
            row["tenant"] = self.tenant
        return row


@dataclass
class Dataset:
    config: DatagenConfig
    pairs: list[Pair]
    tenant_pairs: list[Pair]
    splits: dict[str, dict[str, list[str]]]
    held_out: list[str]
    redraws: int = 0
    """Draws replaced because their request text repeated an earlier pair's."""
    tenants: list[str] = field(default_factory=list)


def generate_dataset(config: DatagenConfig, *, language: DSL | None = None,
                     progress: Callable[[str], None] | None = None) -> Dataset:
    """Generate ``config.n`` base pairs and ``config.tenant_pairs`` per tenant, with the splits.

    Raises:
        GeneratorBug: a pair fails its checks (see the module docstring).
    """
    language = language or dsl.load("workflow")
    support: Any = language.support
    if not hasattr(support, "catalog_with"):
        raise ValueError(f"DSL '{language.name}' is not a workflow DSL (its support has no catalog)")
    say = progress or (lambda _m: None)
    state = _State(language, support, config)

    base = FlowSampler(support.catalog, config)
    pairs = [state.draw(base, support.catalog, f"wf-{i:05d}", None) for i in range(config.n)]
    say(f"{len(pairs)} base pairs")
    tenant_pairs: list[Pair] = []
    tenants = support.tenants()
    for tenant in tenants:
        own = support.tenant_catalog(tenant)
        merged = support.catalog_with(tenant)
        sampler = FlowSampler(merged, config, focus=set(own.connectors))
        tenant_pairs += [state.draw(sampler, merged, f"wf-{tenant}-{i:04d}", tenant)
                         for i in range(config.tenant_pairs)]
    say(f"{len(tenant_pairs)} tenant pairs ({', '.join(tenants)})")

    hidden = held_out_apis(support.catalog.apis(), config.unseen_fraction, config.seed)
    splits = {
        "iid": iid_split([p.id for p in pairs], config.iid_fractions, config.seed),
        "unseen_api": unseen_api_split(pairs, hidden, config.unseen_valid_fraction, config.seed),
        "tenant": tenant_split(tenant_pairs),
    }
    return Dataset(config, pairs, tenant_pairs, splits, hidden, state.redraws, tenants)


class _State:
    def __init__(self, language: DSL, support: Any, config: DatagenConfig) -> None:
        self.language, self.support, self.config = language, support, config
        self.seen: set[str] = set()
        self.redraws = 0

    def draw(self, sampler: FlowSampler, catalog: Catalog, pair_id: str, tenant: str | None) -> Pair:
        config = self.config
        for attempt in range(_REDRAWS):
            rng = random.Random(f"{config.seed}:{pair_id}:{attempt}")  # str seeds: stable across runs
            n_steps = rng.choices(range(1, 9), weights=config.step_weights)[0]
            flow = sampler.sample(rng, n_steps)
            flow.tenant = tenant
            code = render_code(flow)
            marked = RequestWriter(flow, catalog, rng, config).request()
            typo = rng.random() < config.p_typo
            if typo:
                marked = add_typo(marked, rng)
            text = plain(marked)
            if text in self.seen:
                self.redraws += 1
                continue
            pair = Pair(pair_id, text, code, n_steps, flow.apis(), tenant, frame_of(marked), typo)
            check_pair(self.language, pair, flow)
            self.seen.add(text)
            return pair
        raise GeneratorBug(f"{pair_id}: {_REDRAWS} draws in a row repeat earlier requests; "
                           "the phrase tables are too small for this many pairs")


def check_pair(language: DSL, pair: Pair, flow: Flow | None = None) -> None:
    """Raise :class:`GeneratorBug` unless the pair passes every check of the module docstring."""
    support: Any = language.support
    where = f"{pair.id}: {pair.code}"
    try:
        tree = language.parse(pair.code)
    except DSLSyntaxError as e:
        raise GeneratorBug(f"{where}\ndoes not parse: {e}") from e
    canonical = language.format(pair.code)
    if canonical != pair.code:
        raise GeneratorBug(f"{where}\nis not canonical; format() gives {canonical}")
    problems = [str(d) for d in support.validate(tree, pair.code, extra_catalog=pair.tenant)]
    problems += support.lock_violations(tree, extra_catalog=pair.tenant)
    calls = support.api_calls(tree)
    if len(calls) != pair.steps + 1 or calls[0] != pair.apis[0]:
        problems.append(f"{len(calls) - 1} steps, expected {pair.steps}")
    if flow is not None:
        missing = [v for v in flow_literals(flow) if v not in pair.text]
        if missing:
            problems.append(f"values {missing} do not appear in the request {pair.text!r}")
    if problems:
        raise GeneratorBug(f"{where}\n" + "\n".join(problems))


def write_dataset(data: Dataset, out: Path, *, command: str = "") -> list[Path]:
    """Write the JSONL files, the split tables and a manifest under ``out``; returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "splits").mkdir(exist_ok=True)
    iid = {i: s for s, ids in data.splits["iid"].items() for i in ids}
    tenant = {i: s for s, ids in data.splits["tenant"].items() for i in ids}
    written = [
        _write_lines(out / "flows.jsonl", [p.row(iid[p.id]) for p in data.pairs]),
        _write_lines(out / "tenant_flows.jsonl", [p.row(tenant[p.id]) for p in data.tenant_pairs]),
    ]
    for scheme, table in data.splits.items():
        written.append(_write_json(out / "splits" / f"{scheme}.json", table))
    written.append(_write_json(out / "held_out_apis.json", {"unseen_api": data.held_out}))
    manifest = {
        "generator": "training.datagen", "command": command, "config": asdict(data.config),
        "pairs": len(data.pairs), "tenant_pairs": len(data.tenant_pairs), "tenants": data.tenants,
        "redraws": data.redraws, "splits": {s: {k: len(v) for k, v in t.items()} for s, t in data.splits.items()},
    }
    written.append(_write_json(out / "generation.json", manifest))
    return written


def _write_lines(path: Path, rows: list[dict[str, Any]]) -> Path:
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    return _atomic(path, text)


def _write_json(path: Path, value: Any) -> Path:
    return _atomic(path, json.dumps(value, indent=1, ensure_ascii=False) + "\n")


def _atomic(path: Path, text: str) -> Path:
    staging = path.with_name(path.name + ".partial")
    staging.write_text(text, encoding="utf-8")
    os.replace(staging, path)
    return path


__all__ = ["Dataset", "GeneratorBug", "Pair", "check_pair", "generate_dataset", "write_dataset"]
