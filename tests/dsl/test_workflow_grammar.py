"""The workflow grammar: parsing, canonical one-line form, round trips, decoding grammar (Issue #3)."""

from __future__ import annotations

import llguidance
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.lark import from_lark

import dsl
from dsl import DSLSyntaxError

wf = dsl.load("workflow")

ISSUE_EXAMPLE = """
flow "Large invoices to finance" {
  trigger outlook.on_new_email(folder: "Inbox", from: "billing@contoso.com")
  let row = excel.get_row(file: "invoices.xlsx", table: "Invoices", key: trigger.subject)
  if row.amount > 1000 {
    teams.post_message(channel: "finance", text: "Large invoice: " + row.amount)
  } else {
    outlook.flag_email(id: trigger.id)   // small ones just get a flag
  }
  let items = sharepoint.get_items(site: "hr", list: "Onboarding")
  foreach item in items {
    planner.create_task(plan: "IT", title: "Laptop for " + item.title)
  }
}
"""
ISSUE_CANONICAL = (
    'flow "Large invoices to finance" { trigger outlook.on_new_email(folder: "Inbox", from: "billing@contoso.com") '
    'let row = excel.get_row(file: "invoices.xlsx", table: "Invoices", key: trigger.subject) '
    'if row.amount > 1000 { teams.post_message(channel: "finance", text: "Large invoice: " + row.amount) } '
    "else { outlook.flag_email(id: trigger.id) } "
    'let items = sharepoint.get_items(site: "hr", list: "Onboarding") '
    'foreach item in items { planner.create_task(plan: "IT", title: "Laptop for " + item.title) } }'
)


def test_issue_example_parses_formats_to_one_line_and_validates() -> None:
    assert wf.format(ISSUE_EXAMPLE) == ISSUE_CANONICAL
    assert wf.validate(ISSUE_EXAMPLE) == []
    assert wf.equal(ISSUE_EXAMPLE, ISSUE_CANONICAL)


@pytest.mark.parametrize(
    "messy, canonical",
    [
        ("flow{trigger a.b()}", "flow { trigger a.b() }"),
        ('flow"n"{trigger a.b(k:1,j:"x")}', 'flow "n" { trigger a.b(k: 1, j: "x") }'),
        ("flow { trigger a.b() if x.y>=2&&!z||w contains \"q\" { c.d() } else if (u) { e.f() } }",
         'flow { trigger a.b() if x.y >= 2 && !z || w contains "q" { c.d() } else if (u) { e.f() } }'),
        ("flow { trigger a.b(v: {a:[1,2],\"b c\":null}, w: -2.5 * (x - 1)) }",
         'flow { trigger a.b(v: {a: [1, 2], "b c": null}, w: -2.5 * (x - 1)) }'),
        ("flow {\n  trigger a.b()\n  let   r=c.d()  // comment\n  foreach i in r { e.f(x: i.y) }\n}",
         "flow { trigger a.b() let r = c.d() foreach i in r { e.f(x: i.y) } }"),
        ("flow { trigger a.b() let.x() }", "flow { trigger a.b() let.x() }"),  # a dotted name is a call
    ],
)
def test_canonical_form(messy: str, canonical: str) -> None:
    assert wf.format(messy) == canonical
    assert wf.format(canonical) == canonical


@pytest.mark.parametrize(
    "text, line, column, expected",
    [
        ("flow { trigger a.b( }", 1, 21, "')'"),
        ("flow {\n  trigger a.b()\n  let = c.d()\n}", 3, 7, "NAME"),
        ('flow { trigger a.b(k: "unterminated) }', 1, 23, None),
        ("flow { }", 1, 8, None),
        ("flow { trigger a.b(k: 1 2) }", 1, 25, "','"),
        ('flow { trigger a.b(k: "tab\there") }', 1, 23, None),  # raw tab in a string: write \t
    ],
)
def test_syntax_errors_are_located(text: str, line: int, column: int, expected: str | None) -> None:
    with pytest.raises(DSLSyntaxError) as info:
        wf.parse(text)
    assert (info.value.line, info.value.column) == (line, column)
    if expected:
        assert expected in info.value.expected


def _padded(*words: str) -> st.SearchStrategy[str]:
    """A word with varied whitespace around it, so hypothesis' samples lex (and test spacing)."""
    return st.tuples(st.sampled_from([" ", "\n", "  ", "\t "]), st.sampled_from(words),
                     st.sampled_from([" ", "\n", " // c\n"])).map("".join)


_EXPLICIT = {name.upper(): _padded(name) for name in
             ("flow", "trigger", "let", "if", "else", "foreach", "in", "contains")}
_EXPLICIT.update({
    "API": _padded("teams.post_message", "outlook.on_new_email", "a.b", "let.x"),
    "NAME": _padded("x", "row", "trigger", "true", "null", "amount", "in"),
    "NUMBER": _padded("0", "12", "-3.5"),
    "STRING": _padded('"hi"', '""', '"a \\" b"', '"ü \\n"'),
    "FLOW_NAME": _padded('"My flow"'),
    "COMMENT": st.just("// note\n"),
    "WS": st.sampled_from([" ", "\n  "]),
})


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(from_lark(wf.lark, start="flow", explicit=_EXPLICIT))
def test_format_round_trip_on_grammar_samples(program: str) -> None:
    try:
        tree = wf.parse(program)
    except DSLSyntaxError:
        return  # `a /// c`: the division sign then a comment lexes as one comment, as in JavaScript
    canonical = wf.format(program)
    assert "\n" not in canonical and "  " not in canonical
    assert wf.parse(canonical) == tree
    assert wf.format(canonical) == canonical


def test_decoding_grammar_is_accepted_by_llguidance() -> None:
    text = wf.decoding_grammar()
    assert llguidance.LLMatcher.validate_grammar(llguidance.grammar_from("lark", text)) == ""


def test_true_false_null_are_names_not_keywords() -> None:
    # Keywords that are also NAMEs in the same place would make Lark and the decoder disagree.
    tree = wf.parse("flow { trigger a.b(k: true, j: true.x) }")
    refs = [t for t in tree.find_data("ref")]
    assert [str(r.children[0]) for r in refs] == ["true", "true"]
