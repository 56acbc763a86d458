"""Validate a parsed workflow against a catalog: names, keys, types, scopes, the trigger.

Codes (stable, machine-readable; each message names the thing and suggests the fix):

- ``unknown-connector``  the connector of ``connector.action`` is not in the catalog
- ``unknown-action``     the connector has no such action/trigger (or a trigger is used as a step)
- ``unknown-param``      the operation has no such parameter key
- ``duplicate-param``    a key is given twice
- ``missing-param``      a required parameter is not given
- ``type-mismatch``      a value (or an operand, or a foreach source) has the wrong type
- ``undefined-variable`` a name that no ``let``/``foreach`` in scope binds
- ``unknown-field``      a field that the trigger's or a step's output does not have
- ``trigger-not-first``  no trigger, a trigger after the first statement, or more than one
- ``reserved-name``      a variable named ``trigger``, ``true``, ``false`` or ``null``
- ``duplicate-variable`` a name bound twice in the same block
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator

from lark import Token, Tree

from dsl.errors import Diagnostic, Span
from dsl.languages.workflow_catalog import (
    ANY, BOOL, INTEGER, LIST, NONE, NULL, NUMBER, OBJECT, RESERVED, STRING, Catalog, Operation, WfType,
)

_STRINGY = {"string", "email", "url", "datetime", "enum"}
_NUMERIC = {"number", "integer"}
_EMAIL = re.compile(r"[^@\s\"]+@[^@\s\"]+\.[^@\s\"]+")
_URL = re.compile(r"https?://\S+")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2})?)?(Z|[+-]\d{2}:\d{2})?")
_STATEMENTS = {"trigger", "let", "step", "if_", "foreach"}


def check_flow(tree: Tree[Token], catalog: Catalog) -> list[Diagnostic]:
    """Every catalog/scope/type problem of a parsed flow, in source order; ``[]`` when valid."""
    checker = _Checker(catalog)
    checker.run(tree)
    return sorted(checker.diagnostics, key=lambda d: (d.span.start if d.span else -1))


def calls(tree: Tree[Token]) -> Iterator[Tree[Token]]:
    """The ``call`` subtrees in source order (iterative)."""
    stack: list[Tree[Token] | Token] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, Tree):
            if node.data == "call":
                yield node
            stack.extend(reversed([c for c in node.children if isinstance(c, Tree)]))


def call_api(call: Tree[Token]) -> str:
    return str(call.children[0])


def call_args(call: Tree[Token]) -> list[tuple[Token, Tree[Token] | Token]]:
    """(key token, value expression) of each argument."""
    return [(tok(arg.children[0]), arg.children[1]) for arg in call.children[1:] if isinstance(arg, Tree)]


def tok(node: Tree[Token] | Token) -> Token:
    """A child that the grammar makes a token (a NAME, an API)."""
    assert isinstance(node, Token), node
    return node


def sub(node: Tree[Token] | Token) -> Tree[Token]:
    """A child that the grammar makes a subtree."""
    assert isinstance(node, Tree), node
    return node


def span_of(node: Tree[Token] | Token) -> Span:
    if isinstance(node, Token):
        return Span(line=node.line or 1, column=node.column or 1, start=node.start_pos or 0,
                    end=node.end_pos or 0)
    meta = node.meta
    return Span(line=meta.line, column=meta.column, start=meta.start_pos, end=meta.end_pos)


def _suggest(name: str, options: list[str] | set[str]) -> str | None:
    found = difflib.get_close_matches(name, sorted(options), n=1, cutoff=0.6)
    return found[0] if found else None


def _listing(names: list[str], limit: int = 12) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


class _Checker:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.diagnostics: list[Diagnostic] = []
        self.scopes: list[dict[str, WfType]] = []
        self.trigger_type: WfType = ANY
        self.binders: dict[str, str] = {}  # variable -> api whose output it holds (for messages)

    def report(self, code: str, message: str, node: Tree[Token] | Token, **data: str) -> None:
        self.diagnostics.append(Diagnostic(code, message, span_of(node), dict(data)))

    # -- statements ---------------------------------------------------------------------------
    def run(self, flow: Tree[Token]) -> None:
        body = [c for c in flow.children if isinstance(c, Tree)]
        self._check_trigger_placement(flow, body)
        self.scopes.append({})
        self._statements(body)
        self.scopes.pop()

    def _check_trigger_placement(self, flow: Tree[Token], body: list[Tree[Token]]) -> None:
        triggers = [t for t in flow.iter_subtrees_topdown() if t.data == "trigger"]  # type: ignore[no-untyped-call]
        if not triggers:
            first = body[0] if body else flow
            self.report("trigger-not-first",
                        "the flow has no trigger; start it with `trigger connector.event(...)`, "
                        'e.g. `trigger outlook.on_new_email(folder: "Inbox")`', first)
            return
        for t in triggers:
            if t is body[0]:
                continue
            api = call_api(sub(t.children[0]))
            extra = " (a flow has exactly one trigger)" if len(triggers) > 1 else ""
            self.report("trigger-not-first",
                        f"`trigger {api}(...)` must be the first statement of the flow{extra}; "
                        "move it to the top" + (" or turn it into a step" if body[0].data == "trigger" else ""),
                        t, api=api)

    def _statements(self, statements: list[Tree[Token]]) -> None:
        for stmt in statements:
            getattr(self, f"_stmt_{stmt.data}")(stmt)

    def _stmt_trigger(self, stmt: Tree[Token]) -> None:
        op = self._call(sub(stmt.children[0]), want="trigger")
        if self.trigger_type is ANY and op is not None:
            self.trigger_type = op.output

    def _stmt_let(self, stmt: Tree[Token]) -> None:
        name, call = tok(stmt.children[0]), sub(stmt.children[1])
        op = self._call(call, want="action")
        self._bind(name, op.output if op else ANY)
        self.binders[str(name)] = call_api(call)

    def _stmt_step(self, stmt: Tree[Token]) -> None:
        self._call(sub(stmt.children[0]), want="action")

    def _stmt_if_(self, stmt: Tree[Token]) -> None:
        self._type(stmt.children[0])
        for branch in map(sub, stmt.children[1:]):
            if branch.data == "block":
                self._block(branch)
            else:
                self._stmt_if_(branch)

    def _stmt_foreach(self, stmt: Tree[Token]) -> None:
        name, source, block = tok(stmt.children[0]), stmt.children[1], sub(stmt.children[2])
        source_type = self._type(source)
        if source_type.kind == "list":
            item = source_type.item or ANY
        elif source_type.kind == "any":
            item = ANY
        else:
            self.report("type-mismatch",
                        f"`foreach {name} in ...` needs a list, but `{_text(source)}` is {_describe(source_type)}; "
                        "loop over a list output such as a `list_rows`/`get_items` step", source,
                        expected="list", got=str(source_type))
            item = ANY
        self.scopes.append({})
        self._bind(name, item)
        self._statements([c for c in block.children if isinstance(c, Tree)])
        self.scopes.pop()

    def _block(self, block: Tree[Token]) -> None:
        self.scopes.append({})
        self._statements([c for c in block.children if isinstance(c, Tree)])
        self.scopes.pop()

    def _bind(self, name: Token, t: WfType) -> None:
        text = str(name)
        if text in RESERVED:
            self.report("reserved-name",
                        f"`{text}` is reserved ({', '.join(sorted(RESERVED))}); pick another variable name",
                        name, name=text)
        elif text in self.scopes[-1]:
            self.report("duplicate-variable",
                        f"`{text}` is already bound in this block; give the second one another name",
                        name, name=text)
        self.scopes[-1][text] = t

    # -- calls -------------------------------------------------------------------------------
    def _call(self, call: Tree[Token], *, want: str) -> Operation | None:
        api_token = tok(call.children[0])
        api = str(api_token)
        connector_name, _, action = api.partition(".")
        args = call_args(call)
        op = self._resolve(api_token, connector_name, action, want)
        if op is None:
            for _key, value in args:  # still check the values' names and fields
                self._type(value)
            return None
        seen: set[str] = set()
        for key, value in args:
            value_type = self._type(value)
            param = op.param(str(key))
            if param is None:
                hint = _suggest(str(key), [p.name for p in op.params])
                self.report(
                    "unknown-param",
                    f"`{api}` has no parameter `{key}`" + (f"; did you mean `{hint}`?" if hint else ";")
                    + f" its parameters: {_params(op)}",
                    key, api=api, param=str(key), **({"suggestion": hint} if hint else {}),
                )
                continue
            if str(key) in seen:
                self.report("duplicate-param", f"parameter `{key}` is given twice to `{api}`; keep one",
                            key, api=api, param=str(key))
            seen.add(str(key))
            problem = _mismatch(param.type, value_type, value)
            if problem:
                self.report("type-mismatch",
                            f"`{api}` parameter `{key}` expects {_describe(param.type)}, but {problem}",
                            value, api=api, param=str(key), expected=str(param.type), got=str(value_type))
        for param in op.required:
            if param.name not in seen:
                self.report("missing-param",
                            f"`{api}` needs parameter `{param.name}` ({_describe(param.type)}); add "
                            f"`{param.name}: {_placeholder(param.type)}`",
                            call, api=api, param=param.name)
        return op

    def _resolve(self, token: Token, connector_name: str, action: str, want: str) -> Operation | None:
        api = str(token)
        connector = self.catalog.connectors.get(connector_name)
        if connector is None:
            hint = _suggest(connector_name, set(self.catalog.connectors))
            owners = sorted(o.connector for o in self.catalog.operations() if o.name == action and o.kind == want)
            if owners:  # the action exists: name the closest connector that has it
                best = hint if hint in owners else (_suggest(connector_name, owners) or owners[0])
                suggestion = f"{best}.{action}"
                fix = f"did you mean `{suggestion}`? (`{action}` exists in: {_listing(owners)})"
            else:
                suggestion = hint or ""
                fix = f"did you mean `{hint}`?" if hint else "the catalog has no connector like it"
            self.report("unknown-connector",
                        f"unknown connector `{connector_name}` in `{api}`; {fix} "
                        f"(connectors: {_listing(sorted(self.catalog.connectors))})",
                        token, api=api, connector=connector_name,
                        **({"suggestion": suggestion} if suggestion else {}))
            return None
        op = connector.ops.get(action)
        same_kind = [n for n, o in connector.ops.items() if o.kind == want]
        noun = "triggers" if want == "trigger" else "actions"
        if op is None:
            hint = _suggest(action, same_kind) or _suggest(action, list(connector.ops))
            self.report("unknown-action",
                        f"`{connector_name}` has no {want} `{action}`"
                        + (f"; did you mean `{connector_name}.{hint}`?" if hint else ";")
                        + f" {noun} of {connector_name}: {_listing(same_kind) or 'none'}",
                        token, api=api, **({"suggestion": f"{connector_name}.{hint}"} if hint else {}))
            return None
        if op.kind != want:
            if want == "action":
                message = (f"`{api}` is a trigger, not an action: it can only start the flow as "
                           f"`trigger {api}(...)`; actions of {connector_name}: {_listing(same_kind) or 'none'}")
            else:
                message = (f"`{api}` is an action, not a trigger; triggers of {connector_name}: "
                           f"{_listing(same_kind) or 'none (pick another connector)'}")
            self.report("unknown-action", message, token, api=api)
            return None
        return op

    # -- expressions -------------------------------------------------------------------------
    def _type(self, node: Tree[Token] | Token) -> WfType:
        if isinstance(node, Token):
            return ANY
        kind = node.data
        if kind == "string":
            return STRING
        if kind == "number":
            return NUMBER if "." in str(node.children[0]) else INTEGER
        if kind == "ref":
            return self._ref(node)
        if kind == "list":
            items = [self._type(c) for c in node.children]
            first = items[0] if items else None
            if first is not None and first.kind == "record" and all(i == first for i in items):
                return WfType("list", item=first)
            return LIST
        if kind == "object":
            for pair in map(sub, node.children):
                self._type(pair.children[1])
            return OBJECT
        if kind in ("and_", "or_", "not_"):
            for child in node.children:
                self._type(child)
            return BOOL
        if kind == "contains":
            left, right = (self._type(c) for c in node.children)
            if left.kind not in _STRINGY | {"list", "any", "null"}:
                self.report("type-mismatch",
                            f"`contains` looks inside text or a list, but `{_text(node.children[0])}` is "
                            f"{_describe(left)}", node.children[0], expected="string or list", got=str(left))
            return BOOL
        if kind == "compare":
            left_node, op, right_node = node.children
            left, right = self._type(left_node), self._type(right_node)
            if str(op) not in ("==", "!="):
                for side, t in ((left_node, left), (right_node, right)):
                    if t.kind not in _STRINGY | _NUMERIC | {"any", "null"}:
                        self.report("type-mismatch",
                                    f"`{op}` compares numbers, dates or text, but `{_text(side)}` is {_describe(t)}",
                                    side, expected="number", got=str(t))
            return BOOL
        if kind == "arith":
            return self._arith(node)
        return ANY

    def _arith(self, node: Tree[Token]) -> WfType:
        left_node, op, right_node = node.children
        left, right = self._type(left_node), self._type(right_node)
        kinds = {left.kind, right.kind}
        if str(op) == "+" and kinds & (_STRINGY | {"any"}) and not kinds & {"list", "object", "record", "none"}:
            return ANY if kinds <= {"any"} else STRING
        for side, t in ((left_node, left), (right_node, right)):
            if t.kind not in _NUMERIC | {"any"}:
                what = "joins text or adds numbers" if str(op) == "+" else "works on numbers"
                self.report("type-mismatch", f"`{op}` {what}, but `{_text(side)}` is {_describe(t)}",
                            side, expected="number", got=str(t))
                return ANY
        return INTEGER if kinds == {"integer"} else NUMBER

    def _ref(self, node: Tree[Token]) -> WfType:
        head, *fields = map(tok, node.children)
        name = str(head)
        if name in ("true", "false", "null"):
            t = BOOL if name != "null" else NULL
        elif name == "trigger":
            t = self.trigger_type
        else:
            found = next((s[name] for s in reversed(self.scopes) if name in s), None)
            if found is None:
                visible = sorted({n for s in self.scopes for n in s} | {"trigger"})
                hint = _suggest(name, visible)
                self.report("undefined-variable",
                            f"`{name}` is not defined here" + (f"; did you mean `{hint}`?" if hint else ";")
                            + f" in scope: {', '.join(visible)} (bind a step's output with `let {name} = ...`)",
                            head, name=name, **({"suggestion": hint} if hint else {}))
                return ANY
            t = found
        path = name
        for field_token in fields:
            t = self._field(t, path, field_token, root=name)
            path += f".{field_token}"
            if t is ANY:
                break
        return t

    def _field(self, t: WfType, path: str, token: Token, *, root: str) -> WfType:
        field_name = str(token)
        if t.kind == "record":
            record = self.catalog.record(t)
            if record is None or field_name in record.fields:
                return record.fields[field_name] if record else ANY
            if record.open:
                return ANY
            hint = _suggest(field_name, list(record.fields))
            owner = "the trigger's output" if root == "trigger" and path == "trigger" else f"`{path}`"
            self.report("unknown-field",
                        f"{owner} ({record.name}) has no field `{field_name}`"
                        + (f"; did you mean `{path}.{hint}`?" if hint else ";")
                        + f" fields: {', '.join(record.fields)}",
                        token, field=field_name, type=record.name, **({"suggestion": hint} if hint else {}))
            return ANY
        if t.kind in ("any", "object"):
            return ANY
        if t.kind == "list":
            item = t.item.record if t.item else "item"
            fix = f"loop over it: `foreach {item} in {path} {{ ... {item}.{field_name} ... }}`"
            message = f"`{path}` is a list, it has no field `{field_name}`; {fix}"
        elif t.kind == "none":
            source = self.binders.get(root)
            message = (f"`{path}` holds nothing (`{source}` returns no output), so it has no field "
                       f"`{field_name}`" if source else f"`{path}` has no fields")
        else:
            message = f"`{path}` is {_describe(t)} and has no field `{field_name}`"
        self.report("unknown-field", message, token, field=field_name, type=str(t))
        return ANY


# -- types in words ---------------------------------------------------------------------------
def _describe(t: WfType) -> str:
    if t.kind == "enum":
        return "one of " + ", ".join(f'"{o}"' for o in t.options)
    if t.kind == "list":
        return f"a list of {t.item}" if t.item else "a list"
    if t.kind == "record":
        return f"a {t.record} record"
    return {
        "string": "text", "number": "a number", "integer": "a whole number", "bool": "true or false",
        "datetime": "a date/time", "email": "an email address", "url": "a URL", "object": "an object",
        "any": "any value", "none": "nothing (the step has no output)", "null": "null",
    }.get(t.kind, t.kind)


def _placeholder(t: WfType) -> str:
    if t.kind == "enum":
        return f'"{t.options[0]}"'
    return {
        "string": '"..."', "email": '"name@example.com"', "url": '"https://..."',
        "datetime": '"2024-01-31T09:00"', "number": "0", "integer": "1", "bool": "true",
        "list": "[...]", "object": "{...}",
    }.get(t.kind, "...")


def _params(op: Operation) -> str:
    return ", ".join(p.name + ("" if p.required else "?") for p in op.params) or "none"


def _text(node: Tree[Token] | Token) -> str:
    """A short rendering of an expression for messages."""
    if isinstance(node, Token):
        return str(node)
    if node.data == "ref":
        return ".".join(str(c) for c in node.children)
    if node.data in ("string", "number"):
        return str(node.children[0])
    if node.data == "list":
        return "[...]"
    if node.data == "object":
        return "{...}"
    return "(expression)"


def _literal(node: Tree[Token] | Token) -> str | None:
    """The unquoted value of a string literal expression, else None."""
    if isinstance(node, Tree) and node.data == "string":
        raw = str(node.children[0])[1:-1]
        return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m[1], m[1]), raw)
    return None


def _mismatch(expected: WfType, got: WfType, node: Tree[Token] | Token) -> str | None:
    """Why a value of type ``got`` (the expression ``node``) cannot fill ``expected``; None if it can."""
    if got.kind in ("any", "null") or expected.kind == "any":
        return None
    shown = _text(node)
    if got.kind == "none":
        return f"`{shown}` holds nothing (its step has no output)"
    literal = _literal(node)
    e = expected.kind
    if e == "string":
        ok = got.kind in _STRINGY | _NUMERIC | {"bool"}
    elif e in ("email", "url", "datetime"):
        ok = got.kind in (e, "string", "enum")
        pattern = {"email": _EMAIL, "url": _URL, "datetime": _DATETIME}[e]
        if ok and literal is not None and not pattern.fullmatch(literal):
            example = {"email": "name@example.com", "url": "https://example.com/x",
                       "datetime": "2024-01-31T09:00"}[e]
            return f'{shown} is not {_describe(expected)} (write it like "{example}")'
    elif e in _NUMERIC:
        ok = got.kind in _NUMERIC
        if ok and e == "integer" and isinstance(node, Tree) and node.data == "number" and got.kind == "number":
            return f"{shown} is not a whole number"
        if not ok and literal is not None and re.fullmatch(r"-?\d+(\.\d+)?", literal):
            return f"{shown} is text; write the number without quotes: {literal}"
    elif e == "bool":
        ok = got.kind == "bool"
        if not ok and literal in ("true", "false"):
            return f"{shown} is text; write {literal} without quotes"
    elif e == "enum":
        ok = got.kind in _STRINGY
        if got.kind == "enum" and set(got.options) - set(expected.options):
            ok = False
        if literal is not None and literal not in expected.options:
            hint = _suggest(literal, list(expected.options))
            return f"{shown} is not one of them" + (f'; did you mean "{hint}"?' if hint else "")
        if not ok and isinstance(node, Tree) and node.data == "number" and str(node.children[0]) in expected.options:
            return f'{shown} is a number; write it as text: "{node.children[0]}"'
    elif e == "list":
        ok = got.kind == "list" and not (expected.item and got.item and expected.item != got.item)
    elif e == "object":
        ok = got.kind in ("object", "record")
    elif e == "record":
        ok = got == expected or got.kind == "object"
    else:
        ok = True
    return None if ok else f"`{shown}` is {_describe(got)}"
