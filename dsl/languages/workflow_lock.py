"""The catalog-locked decoding grammar: only catalog names and keys can be generated.

The base decoding grammar (:mod:`dsl.decoding`) lets any ``connector.action`` and any key
through; locking swaps four of its rules for ones written from the catalog, without touching
``grammar.lark`` and without recompiling:

- ``call`` — one alternative per *action*: ``" " "teams" "." "post_message" "(" args ")"``;
- ``trigger`` — the ``trigger`` keyword, then one alternative per *trigger* operation;
- ``flow`` and ``_stmt`` — the trigger is the first statement and the only one.

Arguments are locked to the canonical order: the required parameters in catalog order, then any
subset of the optional ones, in catalog order (the dataset generator writes that order; programs
in another order are valid for the validator but cannot be decoded). An enum parameter takes one
of its literal values; every other value is the base grammar's free ``expr``.

:func:`lock_violations` says which of these rules a parsed program breaks, so a program is
accepted by the locked grammar exactly when it is canonical and has no violations.

Rule text is built per operation and cached, so adding a tenant's catalog at request time costs
only its own operations (``scripts/workflow_lock_bench.py`` measures it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from lark import Token, Tree

from dsl.errors import GrammarError
from dsl.languages.workflow_catalog import Catalog, Operation, Param
from dsl.languages.workflow_check import call_api, call_args, sub

if TYPE_CHECKING:
    from dsl.language import DSL

_ATOM = re.compile(r"\w+|\s|[^\w\s]")  # the atoms dsl.decoding splits literals into (greedy lexing)
_CACHE_LIMIT = 50_000
_NEEDED_RULES = ("flow", "_stmt", "trigger", "let", "step", "if_", "foreach", "call", "expr")
_NEEDED_TERMINALS = ("FLOW", "FLOW_NAME", "_LBRACE", "_RBRACE", "TRIGGER", "API", "LPAR", "RPAR",
                     "COMMA", "COLON", "NAME", "STRING")


def literal_atoms(text: str) -> str:
    """``text`` as a sequence of llguidance literals, one per word run / punctuation / space."""
    out = []
    for atom in _ATOM.findall(text):
        escaped = atom.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
        out.append(f'"{escaped}"')
    return " ".join(out)


class GrammarLock:
    """Builds locked grammars for one DSL's compiled decoding grammar.

    ``decoding`` is the :class:`dsl.decoding.DecodingGrammar`; ``spacing(terminal)`` gives the
    canonical (before, after) of a terminal (:func:`dsl.format.spacing`).
    """

    def __init__(self, decoding: Any, spacing: Callable[[str], tuple[str, str]]) -> None:
        missing = [r for r in _NEEDED_RULES if r not in decoding.rule_names]
        missing += [t for t in _NEEDED_TERMINALS if t not in decoding.terminal_rules]
        if missing:
            raise GrammarError(
                f"the workflow decoding grammar lacks {missing}; the catalog lock rewrites these "
                "rules of grammars/workflow/grammar.lark — keep their names"
            )
        self.decoding = decoding
        self.rule = decoding.rule_names
        self.sym = decoding.terminal_rules
        before, after = spacing("API")
        self._api_before, self._api_after = literal_atoms(before), literal_atoms(after)
        string_before, string_after = spacing("STRING")
        self._string = (literal_atoms(string_before), literal_atoms(string_after))
        name_before, name_after = spacing("NAME")
        self._key = (literal_atoms(name_before), literal_atoms(name_after))
        self._cache: dict[Operation, tuple[str, str]] = {}

    def grammar(self, catalog: Catalog) -> str:
        """The locked grammar text (llguidance Lark) for every operation of ``catalog``."""
        if len(self._cache) > _CACHE_LIMIT:  # many tenants over a long run: start afresh
            self._cache.clear()
        actions: list[str] = []
        triggers: list[str] = []
        op_rules: dict[str, str] = {}
        for op in catalog.operations():
            name, body = self._op_rule(op)
            op_rules[name] = body
            (triggers if op.kind == "trigger" else actions).append(name)
        if not triggers or not actions:
            raise GrammarError("a locked workflow grammar needs at least one trigger and one action "
                               f"in the catalog ({', '.join(catalog.sources)})")
        r, s = self.rule, self.sym
        overrides = {
            r["flow"]: f"{s['FLOW']} {s['FLOW_NAME']}? {s['_LBRACE']} {r['trigger']} {r['_stmt']}* {s['_RBRACE']}",
            r["_stmt"]: " | ".join(r[k] for k in ("let", "step", "if_", "foreach")),
            r["trigger"]: f"{s['TRIGGER']} wf_triggers",
            r["call"]: "wf_actions",
            "wf_triggers": " | ".join(triggers),
            "wf_actions": " | ".join(actions),
            **op_rules,
        }
        return str(self.decoding.with_rules(overrides).text)

    def _op_rule(self, op: Operation) -> tuple[str, str]:
        cached = self._cache.get(op)  # keyed by value: a tenant's op with the same name may differ
        if cached is None:
            name = f"wf_{len(self._cache)}_{op.connector}_{op.name}"
            cached = (name, self._op_body(op))
            self._cache[op] = cached
        return cached

    def _op_body(self, op: Operation) -> str:
        s = self.sym
        head = " ".join(a for a in (self._api_before, literal_atoms(op.api), self._api_after, s["LPAR"]) if a)
        required = [self._param(p) for p in op.required]
        optional = [self._param(p) for p in op.optional]
        comma = s["COMMA"]
        if required:
            parts = [required[0]] + [f"{comma} {p}" for p in required[1:]]
            parts += [f"({comma} {p})?" for p in optional]
            args = " ".join(parts)
        elif optional:
            # a non-empty ordered subset starts at some optional parameter i; the rest may follow
            starts = []
            for i, first in enumerate(optional):
                rest = " ".join(f"({comma} {p})?" for p in optional[i + 1 :])
                starts.append(f"{first} {rest}".strip())
            args = "(" + " | ".join(starts) + ")?"
        else:
            args = ""
        return " ".join(x for x in (head, args, s["RPAR"]) if x)

    def _param(self, param: Param) -> str:
        key = " ".join(a for a in (self._key[0], literal_atoms(param.name), self._key[1]) if a)
        if param.type.kind == "enum":
            before, after = self._string
            values = [" ".join(a for a in (before, literal_atoms(f'"{o}"'), after) if a)
                      for o in param.type.options]
            value = "(" + " | ".join(values) + ")"
        else:
            value = self.rule["expr"]
        return f"{key} {self.sym['COLON']} {value}"


def lock_violations(tree: Tree[Token], catalog: Catalog) -> list[str]:
    """Why the locked grammar refuses a parsed program (``[]``: it accepts its canonical text)."""
    problems: list[str] = []
    body = [c for c in tree.children if isinstance(c, Tree)]
    if not body or body[0].data != "trigger":
        problems.append("the first statement is not a trigger")
    for node in _statements(body):
        if node.data == "trigger" and node is not body[0]:
            problems.append("a trigger after the first statement")
    for node in _statements(body):
        if node.data not in ("trigger", "let", "step"):
            continue
        call = sub(node.children[-1])
        api = call_api(call)
        op = catalog.operation(api)
        want = "trigger" if node.data == "trigger" else "action"
        if op is None or op.kind != want:
            problems.append(f"`{api}` is not a catalog {want}")
            continue
        problems += _arg_violations(op, call_args(call))
    return problems


def _arg_violations(op: Operation, args: list[tuple[Token, Any]]) -> list[str]:
    keys = [str(k) for k, _ in args]
    required = [p.name for p in op.required]
    optional = [p.name for p in op.optional]
    problems = []
    rest = keys[len(required):]
    if keys[: len(required)] != required or not _is_ordered_subset(rest, optional):
        problems.append(f"`{op.api}` keys {keys} are not the required {required} then optional ones in "
                        f"catalog order {optional}")
    for key, value in args:
        param = op.param(str(key))
        if param is not None and param.type.kind == "enum":
            spelled = str(value.children[0]) if isinstance(value, Tree) and value.data == "string" else None
            if spelled not in {f'"{o}"' for o in param.type.options}:
                problems.append(f"`{op.api}` {key} is not an enum literal of {param.type}")
    return problems


def _is_ordered_subset(keys: list[str], order: list[str]) -> bool:
    position = -1
    for key in keys:
        if key not in order or order.index(key) <= position:
            return False
        position = order.index(key)
    return True


def _statements(body: Iterable[Tree[Token]]) -> list[Tree[Token]]:
    """Every statement, nested ones included, in source order."""
    out: list[Tree[Token]] = []
    stack = list(reversed(list(body)))
    while stack:
        node = stack.pop()
        out.append(node)
        children = [c for c in node.children if isinstance(c, Tree)]
        nested: list[Tree[Token]] = []
        for child in children:
            if child.data == "block":
                nested += [c for c in child.children if isinstance(c, Tree)]
            elif child.data == "if_" and node.data == "if_":
                nested.append(child)
        stack.extend(reversed(nested))
    return out


def decoding_of(language: DSL) -> Any:
    """The compiled :class:`dsl.decoding.DecodingGrammar` of a loaded DSL (cached by the DSL)."""
    return language.compiled_decoding_grammar()
