"""The three split schemes: `iid`, `unseen_api` and `tenant` (each a {split: [ids]} table)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Protocol


class _Row(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def apis(self) -> list[str]: ...
    @property
    def tenant(self) -> str | None: ...


def iid_split(ids: Sequence[str], fractions: tuple[float, float, float], seed: int) -> dict[str, list[str]]:
    """Random train/valid/test by ``fractions``."""
    order = sorted(ids)
    random.Random(f"iid:{seed}").shuffle(order)
    n_train = round(len(order) * fractions[0])
    n_valid = round(len(order) * fractions[1])
    return {
        "train": sorted(order[:n_train]),
        "valid": sorted(order[n_train : n_train + n_valid]),
        "test": sorted(order[n_train + n_valid :]),
    }


def held_out_apis(apis: Sequence[str], fraction: float, seed: int) -> list[str]:
    """The operations `unseen_api` keeps out of training (a seeded sample of the catalog's)."""
    pool = sorted(apis)
    k = max(1, round(len(pool) * fraction))
    return sorted(random.Random(f"unseen:{seed}").sample(pool, k))


def unseen_api_split(rows: Sequence[_Row], held_out: Sequence[str], valid_fraction: float,
                     seed: int) -> dict[str, list[str]]:
    """Test: every flow that calls a held-out operation. Train (and valid): every other flow, so
    no held-out operation is ever seen in training."""
    hidden = set(held_out)
    test = sorted(r.id for r in rows if hidden & set(r.apis))
    seen = sorted(r.id for r in rows if not hidden & set(r.apis))
    random.Random(f"unseen-valid:{seed}").shuffle(seen)
    n_valid = round(len(seen) * valid_fraction)
    return {"train": sorted(seen[n_valid:]), "valid": sorted(seen[:n_valid]), "test": test}


def tenant_split(rows: Sequence[_Row]) -> dict[str, list[str]]:
    """Per tenant, the first half of its flows for training and the second half for test."""
    out: dict[str, list[str]] = {"train": [], "test": []}
    tenants = sorted({r.tenant for r in rows if r.tenant})
    for tenant in tenants:
        ids = sorted(r.id for r in rows if r.tenant == tenant)
        half = len(ids) // 2
        out["train"] += ids[:half]
        out["test"] += ids[half:]
    return out
