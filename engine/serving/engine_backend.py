"""`EngineBackend`: serves one model (and its adapters) through :class:`engine.Engine`, one
Engine per DSL over the same weights.

A tenant is known for a DSL when an adapter has its name (the engine then uses that adapter) or
the DSL ships a tenant catalog of that name (``grammars/workflow/tenants/<name>/``): its requests
then decode under the catalog-locked grammar widened by that catalog only (``extra_catalog``),
so one tenant's connectors never appear in another's programs.

A batch becomes one ``Engine.generate_batch`` call. That call takes one budget, temperature,
adapter, tenant and seed for all rows, so those are part of the batch key. Sampled requests
(temperature > 0) are decoded alone: ``generate_batch`` seeds row ``i`` with ``seed + i``, so a
batched sampled request would depend on its position in the batch; alone it is reproducible.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import asdict
from itertools import count
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.serving.backend import GenerateOutcome, GenerateParams
from engine.serving.errors import Draining

if TYPE_CHECKING:
    from dsl import DSL
    from engine import Engine, Generation
    from engine.serving.scheduler import Job

log = logging.getLogger("dslforge.serve")
_WARM_UP_TEXT = "warm up"


class EngineBackend:
    """One model in memory, several DSLs and adapters, decoded in batches."""

    def __init__(self, engines: Mapping[str, Engine], *, model_name: str) -> None:
        if not engines:
            raise ValueError("EngineBackend needs at least one engine")
        self._engines = dict(engines)
        first = next(iter(self._engines.values()))
        self.model_name = model_name
        self._adapters = list(first.adapters)
        self._catalog_tenants = {name: _catalog_tenants(eng.dsl) for name, eng in self._engines.items()}
        # Asked on the event loop for every request: computed here (it compiles the grammar
        # and takes the engine's lock), never there.
        self._min_tokens = {name: eng.min_new_tokens() for name, eng in self._engines.items()}
        self._unique = count()

    @classmethod
    def load(
        cls,
        dsls: Sequence[str],
        *,
        model: str | None = None,
        adapters: Mapping[str, str] | None = None,
        device: str | None = None,
        dtype: str | None = None,
    ) -> EngineBackend:
        """Load the model once and build an Engine per DSL over it.

        Each DSL's shipped adapter (``adapters/<dsl>/``, when trained on this base) is loaded
        under the DSL's name and is that DSL's default, as ``Engine.load`` does for one DSL.

        Raises:
            EngineError / GrammarError: from loading (unknown DSL, bad folder, refused pickle).
        """
        import dsl as dsl_module
        from engine import Engine, assets
        from engine.loading import base_model_id, find_shipped_adapter

        if not dsls:
            raise ValueError("serve at least one DSL")
        languages = [dsl_module.load(name) for name in dsls]
        source = str(assets.default_model_dir()) if model is None else model
        named: dict[str, str | Path] = {}
        defaults: dict[str, str | None] = {}
        for language in languages:
            shipped = find_shipped_adapter(language.name, source)
            if shipped is not None and language.name not in (adapters or {}):
                named[language.name] = shipped
            defaults[language.name] = language.name if shipped is not None else None
        named.update(adapters or {})
        first = Engine.load(languages[0], model=source, adapters={k: str(v) for k, v in named.items()} or None,
                            device=device, dtype=dtype, shipped_adapter=False)
        engines = {languages[0].name: _with_default(first, defaults[languages[0].name])}
        for language in languages[1:]:
            engines[language.name] = Engine(first.model, first.tokenizer, language, adapters=first.adapters,
                                            default_adapter=defaults[language.name])
        return cls(engines, model_name=base_model_id(source))

    # -- Backend protocol ---------------------------------------------------------------
    @property
    def dsls(self) -> dict[str, DSL]:
        return {name: eng.dsl for name, eng in self._engines.items()}

    @property
    def adapters(self) -> list[str]:
        return list(self._adapters)

    def tenants_for(self, dsl: str) -> list[str]:
        return sorted(set(self._adapters) | set(self._catalog_tenants.get(dsl, ())))

    def min_new_tokens(self, dsl: str) -> int:
        return self._min_tokens[dsl]

    def batch_key(self, params: GenerateParams) -> Hashable:
        shared = (params.dsl, params.adapter, params.tenant, params.max_new_tokens, params.temperature)
        if params.temperature > 0:
            return (*shared, next(self._unique))  # decoded alone: reproducible per seed
        return shared

    def run_batch(self, jobs: Sequence[Job[GenerateParams]]) -> list[GenerateOutcome | Exception]:
        live = [j for j in jobs if not j.cancelled.is_set()]
        outcomes: dict[int, GenerateOutcome | Exception] = {
            id(j): Draining("abandoned before decoding") for j in jobs if j.cancelled.is_set()}
        if live:
            try:
                for job, generation in zip(live, self._decode([j.params for j in live])):
                    outcomes[id(job)] = _outcome(generation)
            except Exception as e:
                if len(live) == 1:
                    outcomes[id(live[0])] = e
                else:
                    # One bad row must not fail its neighbours: decode each alone to find it.
                    log.warning("a batch of %d failed (%s); decoding its rows one by one", len(live), e)
                    for job in live:
                        try:
                            outcomes[id(job)] = _outcome(self._decode([job.params])[0])
                        except Exception as single:
                            outcomes[id(job)] = single
        return [outcomes[id(j)] for j in jobs]

    # -- helpers --------------------------------------------------------------------------
    def warm_up(self) -> float:
        """Compile every DSL's grammar (and each tenant catalog's) and run one request per DSL
        (the first call of a process is slow); returns the seconds it took."""
        started = time.perf_counter()
        for name, eng in self._engines.items():
            budget = self.min_new_tokens(name)
            self._decode([GenerateParams(text=_WARM_UP_TEXT, dsl=name, max_new_tokens=budget)])
            for tenant in self._catalog_tenants[name]:
                eng.min_new_tokens(extra_catalog=tenant)  # compiles and caches the tenant's grammar
        return time.perf_counter() - started

    def _decode(self, rows: Sequence[GenerateParams]) -> list[Generation]:
        p = rows[0]
        catalog = p.tenant if p.tenant in self._catalog_tenants[p.dsl] else None
        return self._engines[p.dsl].generate_batch(
            [r.text for r in rows], max_new_tokens=p.max_new_tokens, temperature=p.temperature,
            seed=p.seed or 0, adapter=p.adapter, tenant=p.tenant, extra_catalog=catalog,
        )


def _catalog_tenants(language: DSL) -> list[str]:
    """The tenant catalogs a DSL ships (languages with a ``tenants()`` hook, e.g. workflow)."""
    hook = getattr(language.support, "tenants", None)
    return list(hook()) if callable(hook) else []


def _with_default(engine: Engine, default: str | None) -> Engine:
    engine.default_adapter = default
    return engine


def _outcome(generation: Generation) -> GenerateOutcome:
    timings: dict[str, Any] = {
        f"engine_{k}": float(v) for k, v in asdict(generation.timings).items() if isinstance(v, (int, float))}
    return GenerateOutcome(
        code=generation.code, finish_reason=generation.finish_reason, diagnostics=tuple(generation.diagnostics),
        n_tokens=generation.n_tokens, prompt_tokens=generation.prompt_tokens, timings=timings,
    )
