"""The function behind `dslforge data generate` (registered by dslforge/commands/language.py)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from dsl import GrammarError
from dsl import load as load_dsl
from training.datagen.config import DatagenConfig
from training.datagen.generate import generate_dataset, write_dataset

GENERATORS = ("workflow",)
"""DSLs that have a dataset generator."""


def generate_command(dsl: str, n: int, seed: int, out: str, *, tenant_pairs: int | None = None) -> dict[str, int]:
    """Generate a seeded (request, flow) dataset and write it to ``out``.

    Writes ``flows.jsonl``, ``tenant_flows.jsonl``, ``splits/{iid,unseen_api,tenant}.json``,
    ``held_out_apis.json`` and ``generation.json``. Every pair is checked; a bad one raises
    :class:`training.datagen.GeneratorBug` (nothing is dropped).

    Args:
        dsl: the DSL (a name under grammars/ or a folder); only workflow DSLs have a generator.
        n: base pairs (>= 1); tenant pairs come on top (``tenant_pairs`` per tenant, default 100).
        seed: the same seed and n give the same files, byte for byte.
        out: output folder (``grammars/workflow/data`` is what the DSL ships).

    Returns:
        Counts: pairs, tenant_pairs, and the size of each split.

    Raises:
        GrammarError: the DSL has no generator. ValueError: bad n / tenant_pairs.

    >>> generate_command("workflow", 10, 0, "/tmp/wf-data", tenant_pairs=2)["pairs"]  # doctest: +SKIP
    10
    """
    language = load_dsl(dsl)
    if language.spec.language not in GENERATORS:
        raise GrammarError(f"no dataset generator for DSL '{language.name}'; generators exist for: {list(GENERATORS)}")
    config = DatagenConfig(n=n, seed=seed) if tenant_pairs is None else DatagenConfig(n=n, seed=seed, tenant_pairs=tenant_pairs)
    started = time.perf_counter()
    data = generate_dataset(config, language=language, progress=lambda m: print(f"data generate: {m}", file=sys.stderr))
    command = f"dslforge data generate --dsl {dsl} --n {n} --seed {seed} --out {out}"
    write_dataset(data, Path(out), command=command)
    counts = {"pairs": len(data.pairs), "tenant_pairs": len(data.tenant_pairs), "redraws": data.redraws}
    counts.update({f"{scheme}/{split}": len(ids) for scheme, table in data.splits.items() for split, ids in table.items()})
    print(f"data generate: wrote {counts['pairs']} + {counts['tenant_pairs']} pairs to {out} "
          f"in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return counts
