"""Tenant routing and isolation (issue #6).

Isolation is shown on the grammar itself (llguidance matchers with the real SmolLM2 tokenizer):
a request for tenant A decodes under base + A's catalog, and at every call position of any
flow, B's connectors cannot even begin — while B's own grammar takes the same bytes (the
positive control: the refusal is the tenant lock, not a tokenization or position accident).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dsl
from engine.errors import EngineError
from engine.tenants import Route, catalogs_of_adapters, known_tenants, route

WF = dsl.load("workflow")
DATA = WF.folder / "data"
SUPPORT = WF.support
TENANTS = ("contoso", "fabrikam")


def _rows(name: str, limit: int) -> list[dict]:
    with (DATA / name).open(encoding="utf-8") as f:
        return [json.loads(line) for _, line in zip(range(limit), f)]


BASE_FLOWS = [r["code"] for r in _rows("flows.jsonl", 300)]
TENANT_ROWS = _rows("tenant_flows.jsonl", 1000)
OPS = {t: sorted(SUPPORT.tenant_catalog(t).operations(), key=lambda op: op.api) for t in TENANTS}


@lru_cache(maxsize=None)
def _llg_tokenizer():
    import llguidance

    from engine.assets import default_model_dir

    return llguidance.LLTokenizer(str(default_model_dir(quiet=True) / "tokenizer.json"))


@lru_cache(maxsize=None)
def _template(tenant: str):
    import llguidance

    grammar = llguidance.grammar_from("lark", SUPPORT.locked_decoding_grammar(tenant))
    return llguidance.LLMatcher(_llg_tokenizer(), grammar, log_level=0)


def _takes(tenant: str, text: str, *, whole: bool) -> bool:
    """True when tenant's locked grammar takes ``text`` (as a prefix, or as a whole program)."""
    from engine.constraint import accepts_to_end, tokenize_exact

    tokens = tokenize_exact(_llg_tokenizer(), text)
    assert tokens is not None
    matcher = _template(tenant).deep_copy()
    if whole:
        return accepts_to_end(matcher, tokens)
    return matcher.validate_tokens(tokens) == len(tokens)


def _call_starts(code: str) -> list[tuple[int, str]]:
    """(offset, kind) of each call's ``connector.name(`` outside strings; the first is the trigger."""
    blanked = re.sub(r'"(?:[^"\\]|\\.)*"', lambda m: '"' + " " * (len(m.group()) - 2) + '"', code)
    starts = [m.start() for m in re.finditer(r"\b[a-z_]\w*\.[a-z_]\w*\(", blanked)
              if not blanked[:m.start()].endswith(".")]
    return [(s, "trigger" if blanked[:s].endswith("trigger ") else "action") for s in starts]


# -- isolation ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("row", TENANT_ROWS, ids=lambda r: r["id"])
def test_each_tenant_program_is_taken_only_under_its_own_tenant(row) -> None:
    owner = row["tenant"]
    other = next(t for t in TENANTS if t != owner)
    assert _takes(owner, row["code"], whole=True)
    assert not _takes(other, row["code"], whole=True)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_no_call_position_of_any_flow_can_begin_another_tenants_connector(data) -> None:
    """Property: for a flow (base or tenant A's), a call position in it, and an operation of
    tenant B of the right kind, A's grammar refuses ``prefix + B.op(`` and B's grammar takes it."""
    tenant_a = data.draw(st.sampled_from(TENANTS), label="request tenant")
    tenant_b = next(t for t in TENANTS if t != tenant_a)
    own = [r["code"] for r in TENANT_ROWS if r["tenant"] == tenant_a]
    code = data.draw(st.sampled_from(BASE_FLOWS + own), label="flow")
    start, kind = data.draw(st.sampled_from(_call_starts(code)), label="call position")
    candidates = [op for op in OPS[tenant_b] if op.kind == kind]
    if not candidates:
        return
    op = data.draw(st.sampled_from(candidates), label="other tenant's op")
    attempt = code[:start] + op.api + "("
    assert not _takes(tenant_a, attempt, whole=False), attempt
    if code in BASE_FLOWS:  # the control: the prefix is base-only, so B's grammar must take it
        assert _takes(tenant_b, attempt, whole=False), attempt


def test_base_requests_can_emit_no_tenant_connector() -> None:
    from engine.constraint import tokenize_exact

    import llguidance

    base = llguidance.LLMatcher(_llg_tokenizer(), llguidance.grammar_from("lark", SUPPORT.locked_decoding_grammar()),
                                log_level=0)
    for tenant in TENANTS:
        for op in OPS[tenant]:
            prefix = "flow { trigger " if op.kind == "trigger" else "flow { trigger button.on_press() "
            tokens = tokenize_exact(_llg_tokenizer(), prefix + op.api + "(")
            assert base.deep_copy().validate_tokens(tokens) < len(tokens), op.api
            assert _takes(tenant, prefix + op.api + "(", whole=False), op.api


# -- routing ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def wf_engine(smollm2_tokenizer):
    """An engine with adapter names ``general`` and ``contoso`` (routing looks at names only)."""
    from engine import Engine
    from tests.engine.conftest import tiny_model

    model = tiny_model("llama", len(smollm2_tokenizer), smollm2_tokenizer.eos_token_id)
    return Engine(model, smollm2_tokenizer, WF, adapters=["general", "contoso"], default_adapter="general")


ROUTES = [  # (kwargs, expected Route)
    ({"tenant": None}, Route(None, None)),
    ({"tenant": None, "adapter": "contoso"}, Route("contoso", None)),
    ({"tenant": "contoso"}, Route("contoso", "contoso")),  # its adapter and its catalog
    ({"tenant": "fabrikam"}, Route(None, "fabrikam")),  # no adapter loaded: default adapter, own catalog
    ({"tenant": "contoso", "adapter": "general"}, Route("general", "contoso")),  # compare under its grammar
    ({"tenant": "contoso", "adapter": "none"}, Route("none", "contoso")),
    ({"tenant": "initech", "catalogs": {"initech": "/x/catalog.toml"}}, Route(None, "/x/catalog.toml")),
]


@pytest.mark.parametrize("kwargs,expected", ROUTES)
def test_route(wf_engine, kwargs, expected) -> None:
    assert route(wf_engine, **kwargs) == expected


ROUTE_ERRORS = [
    ({"tenant": "initech"}, r"tenant 'initech' is not known.*known: \['contoso', 'fabrikam', 'general'\]"),
    ({"tenant": "contoso", "adapter": "fabrikam"}, r"adapter 'fabrikam' is not loaded; loaded: \['general', 'contoso'\]"),
    ({"tenant": "contoso", "extra_catalog": "fabrikam"}, r"brings its own catalog; leave `extra_catalog` out"),
]


@pytest.mark.parametrize("kwargs,message", ROUTE_ERRORS)
def test_route_errors_name_the_problem(wf_engine, kwargs, message) -> None:
    with pytest.raises(EngineError, match=message):
        route(wf_engine, **kwargs)


def test_known_tenants_and_shipped_catalogs(wf_engine, tmp_path: Path) -> None:
    assert known_tenants(wf_engine) == ["contoso", "fabrikam", "general"]
    (tmp_path / "initech").mkdir()
    (tmp_path / "initech" / "tenant_catalog.toml").write_text("", encoding="utf-8")
    (tmp_path / "plain").mkdir()
    found = catalogs_of_adapters({"initech": tmp_path / "initech", "plain": tmp_path / "plain"})
    assert found == {"initech": tmp_path / "initech" / "tenant_catalog.toml"}


@pytest.mark.integration
def test_sampled_tenant_requests_use_only_base_and_own_connectors(smollm2_tokenizer) -> None:
    """A tiny random model sampling at temperature 2 under tenant routing (no adapters)."""
    from engine import Engine
    from engine.tenants import generate
    from tests.engine.conftest import tiny_model

    engine = Engine(tiny_model("llama", len(smollm2_tokenizer), smollm2_tokenizer.eos_token_id),
                    smollm2_tokenizer, WF)
    base_apis = SUPPORT.known_apis()
    for tenant in TENANTS:
        allowed = base_apis | {op.api for op in OPS[tenant]}
        for seed in range(3):
            g = generate(engine, "when an employee leaves, post to teams", tenant=tenant, temperature=2.0,
                         seed=seed, max_new_tokens=96)
            apis = set(WF.api_calls(g.code))
            assert apis <= allowed, (tenant, g.code)
            assert not any(a.startswith(next(t for t in TENANTS if t != tenant)) for a in apis)


def test_engine_generate_routes_tenant_to_its_adapter_and_catalog(wf_engine) -> None:
    # Engine.generate(tenant=...) itself, not only engine.tenants.generate (Issue #6).
    run = wf_engine._prepare(["post to teams"], 96, 0.0, 0, None, "fabrikam", None, (), "fast")
    assert (run.adapter, run.extra_catalog) == ("general", "fabrikam")
    run = wf_engine._prepare(["post to teams"], 96, 0.0, 0, None, "contoso", None, (), "fast")
    assert (run.adapter, run.extra_catalog) == ("contoso", "contoso")
    with pytest.raises(EngineError, match="tenant 'initech' is not known"):
        wf_engine.generate("post to teams", tenant="initech", max_new_tokens=96)
