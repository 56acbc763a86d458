"""Tenant routing: one request for tenant ``contoso`` gets contoso's adapter (if loaded) and
contoso's catalog in the locked grammar, for that request only.

A tenant is known to an engine when

* an adapter of that name is loaded (``Engine.load(..., adapters={"general": G, "contoso": C})``), or
* the DSL ships a tenant catalog of that name (``grammars/workflow/tenants/<name>/catalog.toml``), or
* the caller registers a catalog for it (``catalogs={"initech": "path/catalog.toml"}``; a
  published tenant adapter folder carries one as ``tenant_catalog.toml``, see
  :func:`catalogs_of_adapters`).

Isolation: the grammar of a request for tenant A is the base catalog plus A's catalog, never
another tenant's, so B's connectors cannot be generated (tests/engine/test_tenants.py walks the
grammar to show it). ``Engine.generate(tenant=...)`` today selects the adapter only; until the
engine routes through :func:`route` itself, call :func:`generate` here (or pass ``**route(...)``).

>>> from engine import Engine                                               # doctest: +SKIP
>>> eng = Engine.load("workflow", adapters={"general": "adapters/workflow",
...                                         "contoso": "adapters/tenants/contoso"})  # doctest: +SKIP
>>> generate(eng, "when a PO is approved in Contoso ERP, ...", tenant="contoso").code  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import EngineError

TENANT_CATALOG = "tenant_catalog.toml"  # written next to a published tenant adapter (training.tenant)

__all__ = ["Route", "catalogs_of_adapters", "generate", "known_tenants", "route"]


@dataclass(frozen=True)
class Route:
    """What a tenant request decodes with: ``Engine.generate(adapter=..., extra_catalog=...)``."""

    adapter: str | None
    """None: the engine's default adapter."""
    extra_catalog: Any
    """A tenant name or catalog file of the DSL, or None (the base catalog)."""

    def as_kwargs(self) -> dict[str, Any]:
        return {"adapter": self.adapter, "extra_catalog": self.extra_catalog}


def catalogs_of_adapters(adapters: Mapping[str, str | Path]) -> dict[str, Path]:
    """Catalog files shipped inside tenant adapter folders (``<folder>/tenant_catalog.toml``),
    by adapter name."""
    return {name: Path(folder) / TENANT_CATALOG for name, folder in adapters.items()
            if (Path(folder) / TENANT_CATALOG).is_file()}


def _dsl_tenants(engine: Any) -> list[str]:
    hook = getattr(engine.dsl.support, "tenants", None)
    return list(hook()) if hook is not None else []


def known_tenants(engine: Any, *, catalogs: Mapping[str, str | Path] | None = None) -> list[str]:
    """Every tenant name a request to ``engine`` may give."""
    return sorted(set(engine.adapters) | set(_dsl_tenants(engine)) | set(catalogs or {}))


def route(engine: Any, *, tenant: str | None, adapter: str | None = None, extra_catalog: Any = None,
          catalogs: Mapping[str, str | Path] | None = None) -> Route:
    """The adapter and extra catalog of one request.

    Args:
        engine: an :class:`engine.Engine`.
        tenant: the tenant's name, or None (``adapter``/``extra_catalog`` pass through).
        adapter: an explicit adapter wins over the tenant's (e.g. the general adapter under the
            tenant's grammar, for comparisons); default: the tenant's adapter if one is loaded,
            else the engine's default.
        extra_catalog: not together with a tenant that has a catalog (which one would apply?).
        catalogs: tenant name -> catalog file, for tenants the DSL does not ship.

    Raises:
        EngineError: an unknown tenant (naming the known ones), an unknown adapter, or a tenant
            catalog and ``extra_catalog`` both given.
    """
    if tenant is None:
        return Route(adapter, extra_catalog)
    known = known_tenants(engine, catalogs=catalogs)
    if not isinstance(tenant, str) or tenant not in known:
        raise EngineError(f"tenant {tenant!r} is not known to this engine (DSL {engine.dsl.name!r}); known: {known} "
                          "(a loaded adapter's name, a tenant catalog of the DSL, or one passed in `catalogs`)")
    catalog: Any = None
    if catalogs and tenant in catalogs:
        catalog = str(catalogs[tenant])
    elif tenant in _dsl_tenants(engine):
        catalog = tenant
    if catalog is not None and extra_catalog is not None:
        raise EngineError(f"tenant {tenant!r} brings its own catalog; leave `extra_catalog` out "
                          f"(got {extra_catalog!r})")
    if adapter is not None and adapter != "none" and adapter not in engine.adapters:
        raise EngineError(f"adapter {adapter!r} is not loaded; loaded: {list(engine.adapters)} (or 'none')")
    chosen = adapter if adapter is not None else (tenant if tenant in engine.adapters else None)
    return Route(chosen, catalog if catalog is not None else extra_catalog)


def generate(engine: Any, text: str, *, tenant: str | None, adapter: str | None = None,
             catalogs: Mapping[str, str | Path] | None = None, **kwargs: Any) -> Any:
    """``engine.generate`` for a tenant: its adapter and its catalog, this request only."""
    r = route(engine, tenant=tenant, adapter=adapter, extra_catalog=kwargs.pop("extra_catalog", None),
              catalogs=catalogs)
    return engine.generate(text, **r.as_kwargs(), **kwargs)
