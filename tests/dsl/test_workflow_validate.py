"""Workflow validation: every diagnostic code, located, naming the thing and the fix (Issue #3)."""

from __future__ import annotations

import pytest

import dsl
from dsl.errors import Diagnostic

wf = dsl.load("workflow")
T = 'flow { trigger outlook.on_new_email(folder: "Inbox") '


def _only(code: str, program: str) -> Diagnostic:
    found = wf.validate(program)
    assert [d.code for d in found] == [code], "\n".join(map(str, found))
    return found[0]


# (code, program with @@ where the diagnostic starts, words the message must contain)
CASES = [
    ("unknown-connector", T + '@@outlok.send_email(to: "a@b.co", subject: "s", body: "b") }',
     ["`outlok`", "did you mean `outlook.send_email`?"]),
    ("unknown-connector", T + '@@mailer.send_email(to: "a@b.co") }',
     ["`mailer`", "did you mean `gmail.send_email`?", "exists in: gmail, notifications, outlook"]),
    ("unknown-action", T + '@@teams.post_mesage(channel: "x", text: "y") }',
     ["no action `post_mesage`", "did you mean `teams.post_message`?"]),
    ("unknown-action", T + '@@outlook.on_new_email(folder: "x") }',
     ["is a trigger, not an action", "trigger outlook.on_new_email(...)"]),
    ("unknown-action", 'flow { trigger @@outlook.send_email(to: "a@b.co", subject: "s", body: "b") }',
     ["is an action, not a trigger", "on_new_email"]),
    ("unknown-param", T + 'teams.post_message(@@chanel: "x", channel: "x", text: "y") }',
     ["no parameter `chanel`", "did you mean `channel`?", "channel, text, team?"]),
    ("duplicate-param", T + 'teams.post_message(channel: "x", text: "y", @@text: "z") }', ["`text` is given twice"]),
    ("missing-param", T + '@@teams.post_message(channel: "x") }', ["needs parameter `text`", 'add `text: "..."`']),
    ("type-mismatch", T + 'outlook.send_email(to: @@"finance", subject: "s", body: "b") }',
     ["expects an email address", "name@example.com"]),
    ("type-mismatch", T + 'outlook.send_email(to: "a@b.co", subject: "s", body: "b", importance: @@"urgent") }',
     ['one of "low", "normal", "high"']),
    ("type-mismatch", T + 'zoom.create_meeting(topic: "t", start: "2024-01-02", duration: @@"30") }',
     ["write the number without quotes: 30"]),
    ("type-mismatch", T + 'slack.create_channel(name: "n", private: @@"true") }', ["write true without quotes"]),
    ("type-mismatch", T + 'foreach x in @@trigger.subject { teams.post_message(channel: "c", text: x) } }',
     ["needs a list", "trigger.subject"]),
    ("type-mismatch", T + 'teams.post_message(channel: "c", text: @@trigger.attachments * 2) }', ["`*` works on numbers"]),
    ("undefined-variable", T + 'let row = excel.get_row(file: "f", table: "t", key: "k") '
     'teams.post_message(channel: "c", text: @@rows.name) }', ["`rows` is not defined", "did you mean `row`?"]),
    ("undefined-variable", T + 'if trigger.subject contains "x" { let user = office365_users.get_user(email: trigger.from) } '
     'teams.send_chat(to: @@user.email, text: "hi") }', ["`user` is not defined"]),
    ("unknown-field", T + 'teams.post_message(channel: "c", text: trigger.@@subjct) }',
     ["has no field `subjct`", "did you mean `trigger.subject`?"]),
    ("unknown-field", T + 'let rows = excel.list_rows(file: "f", table: "t") teams.post_message(channel: "c", text: rows.@@name) }',
     ["`rows` is a list", "foreach row in rows"]),
    ("unknown-field", T + 'let x = outlook.flag_email(id: trigger.id) teams.post_message(channel: "c", text: x.@@id) }',
     ["holds nothing", "`outlook.flag_email` returns no output"]),
    ("trigger-not-first", 'flow { @@teams.post_message(channel: "c", text: "t") }', ["has no trigger", "trigger connector.event(...)"]),
    ("trigger-not-first", T + '@@trigger gmail.on_new_email() }', ["must be the first statement", "exactly one trigger"]),
    ("reserved-name", T + 'let @@trigger = outlook.get_email(id: "1") }', ["`trigger` is reserved"]),
    ("duplicate-variable", T + 'let m = outlook.get_email(id: "1") let @@m = outlook.get_email(id: "2") }',
     ["already bound in this block"]),
]


@pytest.mark.parametrize("code, marked, words", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_each_error_kind_is_located_and_says_the_fix(code: str, marked: str, words: list[str]) -> None:
    start = marked.index("@@")
    program = marked.replace("@@", "")
    d = _only(code, program)
    assert d.span is not None
    assert (d.span.line, d.span.column, d.span.start) == (1, start + 1, start), str(d)
    assert d.span.end > d.span.start
    for word in words:
        assert word in d.message, d.message


def test_spans_count_lines_and_columns_in_multiline_programs() -> None:
    program = 'flow {\n  trigger outlook.on_new_email()\n  teams.post_message(channel: "c",\n    txt: "hi")\n}'
    found = {d.code: d for d in wf.validate(program)}
    assert set(found) == {"unknown-param", "missing-param"}
    assert (found["unknown-param"].span.line, found["unknown-param"].span.column) == (4, 5)
    assert (found["missing-param"].span.line, found["missing-param"].span.column) == (3, 3)


def test_a_hallucinated_api_does_not_cascade_into_param_or_field_errors() -> None:
    found = wf.validate(T + 'let x = crm.make_thing(a: 1, b: trigger.nope) teams.post_message(channel: "c", text: x.y) }')
    assert [d.code for d in found] == ["unknown-connector", "unknown-field"]  # x.y is fine: x is unknown


def test_valid_flows_have_no_diagnostics() -> None:
    programs = [
        T + "outlook.flag_email(id: trigger.id) }",
        T + 'foreach a in trigger.attachments { onedrive.create_file(folder: "x", name: a.name, content: a.content) } }',
        'flow { trigger schedule.recurrence(every: 1, unit: "day") let rows = excel.list_rows(file: "f", table: "t") '
        'foreach row in rows { if row.amount >= 10 && row.anything != null { teams.post_message(channel: "c", text: "A " + row.amount) } } }',
        T + 'http.post(url: "https://x.io/a", body: {a: [1, 2], b: trigger.subject}) }',
    ]
    for program in programs:
        assert wf.validate(program) == [], program


def test_tenant_connectors_validate_only_with_the_tenant_catalog() -> None:
    program = 'flow { trigger fabrikam_hr.on_employee_hired() teams.send_chat(to: trigger.manager, text: trigger.name) }'
    assert [d.code for d in wf.validate(program)] == ["unknown-connector"]
    assert wf.support.validate(wf.parse(program), program, extra_catalog="fabrikam") == []
    with pytest.raises(dsl.GrammarError, match="available: \\['contoso', 'fabrikam'\\]"):
        wf.support.validate(wf.parse(program), program, extra_catalog="umbrella")


def test_api_calls_and_param_keys() -> None:
    assert wf.api_calls(ISSUE := T + 'if trigger.subject contains "x" { teams.post_message(channel: "c", text: "t") } }') == [
        "outlook.on_new_email", "teams.post_message"]
    assert wf.param_keys(ISSUE) == [("outlook.on_new_email", "folder"), ("teams.post_message", "channel"),
                                    ("teams.post_message", "text")]
    broken = 'flow { trigger outlook.on_new_email(folder: "a (b") if (x) { teams.post_message(channel: "c", meta: {k: 1}, text: "t"'
    assert wf.api_calls(broken) == ["outlook.on_new_email", "teams.post_message"]
    assert wf.param_keys(broken) == [("outlook.on_new_email", "folder"), ("teams.post_message", "channel"),
                                     ("teams.post_message", "meta"), ("teams.post_message", "text")]
    assert "teams.post_message" in wf.support.known_apis()
    assert wf.support.known_params("teams.post_message") == {"channel", "text", "team"}
    assert wf.support.known_params("teams.nope") is None
    assert "fabrikam_hr.get_employee" in wf.support.known_apis(extra_catalog="fabrikam")
