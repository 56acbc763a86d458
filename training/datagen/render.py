"""Flows to canonical code, and flows to a natural-language request.

The request is built from marked segments — values ``\\x01..\\x02``, references ``\\x03..\\x04``,
operation phrases ``\\x05..\\x06``, connector names ``\\x07..\\x08`` — so that typos never touch a
value and the data card can mask values to compare wordings (:func:`frame_of`). The markers are
removed from the final text.
"""

from __future__ import annotations

import json
import random
import re

from dsl.languages.workflow_catalog import Catalog, Operation, Param
from training.datagen import phrases as P
from training.datagen import pools
from training.datagen.config import DatagenConfig
from training.datagen.flows import (
    Binding, Call, Concat, Cond, Flow, If, ListVal, Lit, Loop, Obj, Ref, Statement, Step, Value, flow_refs, plural,
)

V0, V1, R0, R1, O0, O1, C0, C1 = (chr(c) for c in range(1, 9))
_MARKED = re.compile(r"\x01[^\x02]*\x02|\x03[^\x04]*\x04|\x05[^\x06]*\x06|\x07[^\x08]*\x08")
_PLACEHOLDER = {"\x01": "<v>", "\x03": "<ref>", "\x05": "<op>", "\x07": "<app>"}
_ADJECTIVAL = re.compile(r"the \{v\} |#\{v\}|:\{v\}:")


# -- code ------------------------------------------------------------------------------------------
def render_code(flow: Flow) -> str:
    """The canonical text of a flow (the spacing of grammars/workflow/dsl.toml [format])."""
    head = f"flow {_string(flow.name)} {{" if flow.name else "flow {"
    body = [f"trigger {_call(flow.trigger)}"] + [_statement(s) for s in flow.body]
    return head + " " + " ".join(body) + " }"


def _statement(node: Statement) -> str:
    if isinstance(node, Step):
        call = _call(node.call)
        return f"let {node.binding.var} = {call}" if node.binding else call
    if isinstance(node, If):
        text = f"if {_cond(node.cond)} {{ {' '.join(_statement(s) for s in node.then)} }}"
        if node.otherwise:
            text += f" else {{ {' '.join(_statement(s) for s in node.otherwise)} }}"
        return text
    loop = f"foreach {node.var.var} in {_value(node.source)} {{ {' '.join(_statement(s) for s in node.body)} }}"
    return f"{_statement(node.source_step)} {loop}" if node.source_step else loop


def _call(call: Call) -> str:
    return f"{call.op.api}(" + ", ".join(f"{p.name}: {_value(v)}" for p, v in call.args) + ")"


def _value(value: Value) -> str:
    if isinstance(value, Lit):
        if isinstance(value.value, bool):
            return "true" if value.value else "false"
        if isinstance(value.value, (int, float)):
            return str(value.value)
        return _string(value.value)
    if isinstance(value, Ref):
        return value.binding.var + (f".{value.field}" if value.field else "")
    if isinstance(value, Concat):
        return f"{_value(value.prefix)} + {_value(value.ref)}"
    if isinstance(value, Obj):
        return "{" + ", ".join(f"{k}: {_value(v)}" for k, v in value.pairs) + "}"
    return "[" + ", ".join(_value(v) for v in value.items) + "]"


def _cond(cond: Cond) -> str:
    if cond.kind in ("and", "or"):
        op = "&&" if cond.kind == "and" else "||"
        return f"{_cond(cond.left)} {op} {_cond(cond.right)}"  # type: ignore[arg-type]
    left = _value(cond.left)  # type: ignore[arg-type]
    if cond.kind == "truthy":
        return ("!" if cond.negate else "") + left
    return f"{left} {cond.op} {_value(cond.right)}"  # type: ignore[arg-type]


def _string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # escapes " and \ exactly as the grammar reads them


# -- the request ---------------------------------------------------------------------------------
def frame_of(marked: str) -> str:
    """The request with values, references, operations and connector names masked."""
    return _MARKED.sub(lambda m: _PLACEHOLDER[m.group()[0]], marked)


def plain(marked: str) -> str:
    return re.sub(r"[\x01-\x08]", "", marked)


class RequestWriter:
    """Writes the request for one flow (one instance per flow: it tracks nouns in use)."""

    def __init__(self, flow: Flow, catalog: Catalog, rng: random.Random, config: DatagenConfig) -> None:
        self.flow, self.catalog, self.rng, self.config = flow, catalog, rng, config
        self.register = rng.choice(P.REGISTERS)
        self.unique_say = _unique_phrases(catalog)
        self.nouns = self._assign_nouns()

    def request(self) -> str:
        """The marked request (see :func:`plain` and :func:`frame_of`)."""
        rng, flow, reg = self.rng, self.flow, self.register
        steps = self._sequence([self._statement(s) for s in flow.body])
        starts_with_verb = isinstance(flow.body[0], Step) or (
            isinstance(flow.body[0], Loop) and flow.body[0].source_step is not None and steps.startswith(O0))
        simple = len(flow.body) <= 2 and all(isinstance(s, Step) for s in flow.body)
        if flow.trigger.op.api == "schedule.recurrence":
            text = self._schedule(steps, starts_with_verb)
        else:
            trigger = self._trigger_clause(flow.trigger)
            r = rng.random()
            frames = P.TRIGGER_FIRST if r < 0.7 or not simple else P.TRIGGER_LAST if r < 0.9 else P.TRIGGER_SPLIT
            text = _pick(rng, frames[reg], starts_with_verb).format(T=trigger, S=steps)
        if flow.name:
            quoted = f'{V0}"{flow.name}"{V1}'
            if rng.random() < 0.5:
                text = rng.choice(P.NAMED).format(q=quoted) + text
            else:
                text = text + rng.choice(P.NAMED_AFTER).format(q=quoted)
        else:
            text = rng.choice(P.OPENERS[reg]) + text
        return _case(text, lower=reg == "casual")

    # -- clauses -----------------------------------------------------------------------------------
    def _trigger_clause(self, call: Call) -> str:
        op = call.op
        parts = [self._param(p, v, op) for p, v in call.args]
        parts = [p for p in parts if p]
        parts.append(self.rng.choice(P.TRIGGER_CONNECTOR).format(T=self._connector(op)))
        self.rng.shuffle(parts)
        return f"{O0}{self.rng.choice(op.say)}{O1} " + " ".join(parts)

    def _schedule(self, steps: str, starts_with_verb: bool) -> str:
        values = {p.name: v for p, v in self.flow.trigger.args}
        every, unit = (f"{V0}{self._lit_text(values[k])}{V1}" for k in ("every", "unit"))  # type: ignore[arg-type]
        rest = [self._param(p, v, self.flow.trigger.op) for p, v in self.flow.trigger.args if p.name not in ("every", "unit")]
        text = _pick(self.rng, P.SCHEDULE_FRAMES[self.register], starts_with_verb).format(every=every, unit=unit, S=steps)
        return text + ("" if not rest else " Run it " + " ".join(r for r in rest if r) + ".")

    def _statement(self, node: Statement) -> str:
        rng = self.rng
        if isinstance(node, Step):
            return self._action(node.call)
        if isinstance(node, If):
            cond = self._cond(node.cond)
            then = self._sequence([self._statement(s) for s in node.then], inner=True)
            if node.otherwise:
                other = self._sequence([self._statement(s) for s in node.otherwise], inner=True)
                return rng.choice(P.IF_ELSE).format(c=cond, t=then, e=other)
            return rng.choice(P.IF).format(c=cond, t=then)
        body = self._sequence([self._statement(s) for s in node.body], inner=True)
        noun = self.nouns[id(node.var)]
        if node.source_step is not None:
            return rng.choice(P.LOOP_LIST).format(s=self._action(node.source_step.call), n=noun, b=body)
        owner = self.nouns[id(node.source.binding)]
        return rng.choice(P.LOOP_FIELD).format(n=noun, ns=plural(noun), p=owner, b=body)

    def _action(self, call: Call) -> str:
        rng, op = self.rng, call.op
        say = rng.choice(op.say)
        ids = [self._param(p, v, op) for p, v in call.args if pools.role(op, p) == "id"]
        rest = [self._param(p, v, op) for p, v in call.args if pools.role(op, p) != "id"]
        rng.shuffle(rest)
        params = " ".join(x for x in ids + rest if x)
        verb = f"{O0}{say}{O1}"
        if say in self.unique_say and rng.random() < 0.3:
            return f"{verb} {params}".strip()
        connector = self._connector(op)
        if rng.random() < 0.2:
            return rng.choice(P.ACTION_CONNECTOR_FRONT).format(T=connector) + f"{verb} {params}".strip()
        return " ".join(x for x in (verb, params, rng.choice(P.ACTION_CONNECTOR_END).format(T=connector)) if x)

    def _sequence(self, clauses: list[str], *, inner: bool = False) -> str:
        rng, reg = self.rng, self.register
        if len(clauses) == 1:
            return clauses[0]
        if len(clauses) == 3 and not inner and rng.random() < 0.25:
            a, b, c = clauses
            return rng.choice(P.FIRST_FINALLY).format(a=a, b=b, c=c)
        if not inner and len(clauses) >= 3 and rng.random() < 0.15 and reg != "casual":
            return " ".join(f"{i}) {c}" for i, c in enumerate(clauses, 1))
        text = clauses[0]
        for clause in clauses[1:]:
            template = "{a} and {b}" if inner and rng.random() < 0.6 else rng.choice(P.SEQUENCE[reg])
            if inner and ". " in template:
                template = "{a}, then {b}"
            text = template.format(a=text, b=clause)
        return text

    # -- parameters and values -------------------------------------------------------------------
    def _param(self, param: Param, value: Value, op: Operation) -> str:
        rng = self.rng
        name, words = param.name, param.name.replace("_", " ")
        if isinstance(value, Lit) and isinstance(value.value, bool):
            table = P.BOOL.get(name)
            if table is None:
                return f"with {words} {V0}{'true' if value.value else 'false'}{V1}"
            return rng.choice(table[value.value])
        if pools.role(op, param) == "id":
            if isinstance(value, Ref):
                if name not in P.ID_REF:
                    return ""  # the verb phrase names it: "flag the email"
                phrase = f"{R0}{rng.choice(P.ID_NOUN).format(n=self.nouns[id(value.binding)])}{R1}"
                return rng.choice(P.ID_REF[name]).format(v=phrase)
            templates = P.PARAM.get(f"{name}_literal") or P.PARAM["id_literal"]
            if isinstance(value, Lit) and isinstance(value.value, str):
                templates = [t for t in templates if not t.startswith("#")] or P.PARAM["id_literal"]  # "#42", not "#PO-1"
            return rng.choice(templates).format(v=self._lit(value))  # type: ignore[arg-type]
        if isinstance(value, Obj):
            outer, inner = rng.choice(P.OBJECT)
            pairs = [inner.format(k=k.replace("_", " "), x=self._value(v)) for k, v in value.pairs]
            return outer.format(v=" and ".join(pairs))
        rendered = self._value(value)
        if isinstance(value, (Ref, Concat)):
            friendly = [t for t in P.PARAM.get(name, []) if not _ADJECTIVAL.search(t)]
            return rng.choice(friendly + P.GENERIC_REF).format(v=rendered, w=words)
        return rng.choice(P.PARAM.get(name) or P.GENERIC_LITERAL).format(v=rendered, w=words)

    def _value(self, value: Value) -> str:
        rng = self.rng
        if isinstance(value, Lit):
            return self._lit(value)
        if isinstance(value, Ref):
            return self._ref(value)
        if isinstance(value, Concat):
            return rng.choice(P.CONCAT).format(p=self._lit(value.prefix), r=self._ref(value.ref))
        if isinstance(value, Obj):
            outer, inner = rng.choice(P.OBJECT)
            return " and ".join(inner.format(k=k.replace("_", " "), x=self._value(v)) for k, v in value.pairs)
        items = [self._lit(i) for i in value.items]
        return " and ".join(items)

    def _lit(self, lit: Lit) -> str:
        return f"{V0}{self._lit_text(lit)}{V1}"

    def _lit_text(self, lit: Lit) -> str:
        text = str(lit.value)
        quoted = lit.quoted or lit.role in ("text", "query")
        return f'"{text}"' if quoted else text

    def _ref(self, ref: Ref) -> str:
        noun = self.nouns[id(ref.binding)]
        if ref.field is None:
            return f"{R0}the {noun}{R1}"
        words = P.field_words(ref.field, self.rng)
        return f"{R0}{self.rng.choice(P.REF).format(n=noun, f=words)}{R1}"

    def _cond(self, cond: Cond) -> str:
        rng = self.rng
        if cond.kind in ("and", "or"):
            return rng.choice(P.JOIN[cond.kind]).format(a=self._cond(cond.left), b=self._cond(cond.right))  # type: ignore[arg-type]
        ref = cond.left
        assert isinstance(ref, Ref) and ref.field is not None
        if cond.kind == "truthy":
            positive, negative = P.TRUTHY.get(ref.field, P.TRUTHY_DEFAULT)
            template = rng.choice(negative if cond.negate else positive)
            return template.format(n=f"{R0}{self.nouns[id(ref.binding)]}{R1}", l=self._ref(ref))
        right = self._lit(cond.right)  # type: ignore[arg-type]
        table = P.CONTAINS if cond.kind == "contains" else P.COMPARE[cond.op]
        return rng.choice(table).format(l=self._ref(ref), r=right)

    # -- names -------------------------------------------------------------------------------------
    def _connector(self, op: Operation) -> str:
        connector = self.catalog.connectors[op.connector]
        options = list(connector.names) if connector.names and self.rng.random() < 0.3 else [connector.title]
        return f"{C0}{self.rng.choice(options)}{C1}"

    def _assign_nouns(self) -> dict[int, str]:
        """A distinct noun per binding; the trigger's gets an adjective when a step's shares it."""
        bindings: list[Binding] = [self.flow.trigger_binding]
        for ref in flow_refs(self.flow):
            if all(ref.binding is not b for b in bindings):
                bindings.append(ref.binding)
        for step in self.flow.steps():
            if step.binding is not None and all(step.binding is not b for b in bindings):
                bindings.append(step.binding)
        for loop in _loops(self.flow.body):
            if all(loop.var is not b for b in bindings):
                bindings.append(loop.var)
        nouns: dict[int, str] = {}
        taken: set[str] = set()
        for b in bindings[1:]:
            options = [b.noun] + _alternatives(b)
            noun = next((n for n in options if n not in taken), f"other {b.noun}")
            nouns[id(b)] = noun
            taken.add(noun)
        trigger = self.flow.trigger_binding
        base = trigger.noun
        if base in taken or self.rng.random() < 0.3:
            base = f"{self.rng.choice(P.TRIGGER_ADJECTIVES)} {base}"
        nouns[id(trigger)] = base
        return nouns


def _alternatives(b: Binding) -> list[str]:
    """Other nouns for a binding's type, so that two things in one flow never share a noun."""
    t = b.type.item if b.type.kind == "list" and b.type.item else b.type
    record = str(t.record or t.kind)
    words = P.NOUN_BY_CONNECTOR.get((b.op.connector, record)) or P.NOUNS.get(record) or [record.replace("_", " ")]
    return [plural(w) for w in words] if b.type.kind == "list" else list(words)


def _pick(rng: random.Random, frames: list[str], starts_with_verb: bool) -> str:
    """A frame; those that put a verb slot before {S} only when the steps start with a verb."""
    usable = frames if starts_with_verb else [f for f in frames if not P.VERB_SLOT.search(f)]
    return rng.choice(usable or frames)


def _loops(statements: list[Statement]) -> list[Loop]:
    out: list[Loop] = []
    for node in statements:
        if isinstance(node, Loop):
            out.append(node)
            out += _loops(node.body)
        elif isinstance(node, If):
            out += _loops(node.then) + _loops(node.otherwise or [])
    return out


def _unique_phrases(catalog: Catalog) -> set[str]:
    """Verb phrases that only one operation of the catalog uses (the connector may go unsaid)."""
    seen: dict[str, int] = {}
    for op in catalog.operations():
        for say in set(op.say):
            seen[say] = seen.get(say, 0) + 1
    return {s for s, n in seen.items() if n == 1}


def _case(text: str, *, lower: bool) -> str:
    """Upper- (or lower-) case the first visible letter unless it belongs to a value."""
    i = 0
    in_value = False
    while i < len(text):
        ch = text[i]
        if ch == V0:
            in_value = True
        elif ch == V1:
            in_value = False
        elif ch.isalpha():
            if in_value:
                return text
            return text[:i] + (ch.lower() if lower else ch.upper()) + text[i + 1:]
        elif not ch.isspace() and ch not in "\x03\x04\x05\x06\x07\x08":
            return text
        i += 1
    return text
