"""The workflow catalog file: size, shape, strict loading, tenant merging (Issue #3)."""

from __future__ import annotations

import textwrap
from collections import Counter
from pathlib import Path

import pytest

import dsl
from dsl import GrammarError
from dsl.languages.workflow_catalog import load_catalog, parse_catalog

wf = dsl.load("workflow")
catalog = wf.support.catalog


def test_catalog_size_and_coverage() -> None:
    ops = list(catalog.operations())
    assert len(catalog.connectors) >= 40
    assert len(ops) >= 200
    categories = Counter(c.category for c in catalog.connectors.values())
    for needed in ("mail", "chat", "calendar", "spreadsheet", "files", "crm", "ticketing", "approvals",
                   "database", "http", "forms"):
        assert categories[needed] >= 1, needed
    assert all(op.say for op in ops), [op.api for op in ops if not op.say]
    assert sum(op.kind == "trigger" for op in ops) >= 40
    assert any(p.type.kind == "enum" for op in ops for p in op.params)
    assert all(any(o.kind == "action" for o in c.ops.values()) or c.name == "button"
               for c in catalog.connectors.values())


def test_params_are_required_first_then_optional_in_catalog_order() -> None:
    op = catalog.operation("outlook.send_email")
    assert op is not None
    assert [(p.name, p.required) for p in op.params] == [
        ("to", True), ("subject", True), ("body", True), ("cc", False), ("importance", False)]
    assert str(op.param("importance").type) == "enum(low|normal|high)"  # type: ignore[union-attr]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalog.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_a_bad_catalog_reports_every_problem_at_once(tmp_path: Path) -> None:
    path = _write(tmp_path, """
        [types.thing]
        id = "strin"
        [if]
        title = "Keyword"
        [if.go]
        params = { a = "enum(x|x)", b = "list[nothing]" }
        [crm]
        colour = "red"
        [crm.Bad_Name]
        kind = "sometimes"
        extra = 1
    """)
    with pytest.raises(GrammarError) as info:
        load_catalog(path)
    message = str(info.value)
    for expected in ("unknown type 'strin'", "[if]: connector name must be a lowercase identifier and not a keyword",
                     "an enum lists distinct values", "unknown record type `nothing`", "unknown key `colour`",
                     "[crm.Bad_Name]: operation name must be a lowercase identifier", 'kind must be "trigger" or "action"',
                     "unknown key `extra`"):
        assert expected in message, message
    assert str(path) in message


def test_missing_and_malformed_files_are_grammar_errors(tmp_path: Path) -> None:
    with pytest.raises(GrammarError, match="catalog file not found"):
        load_catalog(tmp_path / "nope.toml")
    with pytest.raises(GrammarError, match="not valid TOML"):
        load_catalog(_write(tmp_path, "[a\n"))


def test_tenant_catalogs_merge_and_may_use_base_types() -> None:
    assert wf.support.tenants() == ["contoso", "fabrikam"]
    merged = wf.support.catalog_with("contoso")
    assert merged.operation("contoso_erp.create_po") is not None
    assert merged.operation("teams.post_message") is not None
    assert catalog.operation("contoso_erp.create_po") is None  # kept apart from the base
    invoice = merged.operation("contoso_erp.on_invoice_posted")
    assert invoice is not None and invoice.output.record == "invoice"  # a base type


def test_a_tenant_may_not_redefine_a_base_connector() -> None:
    clash = parse_catalog({"teams": {"post_message": {"params": {"x": "string"}}}}, source="tenant.toml")
    with pytest.raises(GrammarError, match="connector `teams` of tenant.toml is already defined"):
        catalog.merged(clash)


def test_an_edited_extra_catalog_file_is_read_again(tmp_path: Path) -> None:
    path = _write(tmp_path, '[acme]\n[acme.ping]\nparams = { host = "string" }\n')
    assert wf.support.known_params("acme.ping", extra_catalog=path) == {"host"}
    path.write_text('[acme]\n[acme.ping]\nparams = { host = "string", port = "integer?" }\n', encoding="utf-8")
    assert wf.support.known_params("acme.ping", extra_catalog=path) == {"host", "port"}
    with pytest.raises(GrammarError, match="cannot be read"):
        wf.support.known_apis(extra_catalog=tmp_path / "missing.toml")
