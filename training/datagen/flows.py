"""Random flows from a catalog: the program model and the sampler.

A flow is sampled as a small tree (trigger, steps, conditions, loops) whose values refer only to
outputs that are in scope and typed right, so every flow passes the validator by construction —
and :mod:`training.datagen.generate` still validates each one and raises if not.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Union

from dsl.languages.workflow_catalog import Catalog, Operation, Param, RecordType, WfType
from training.datagen import pools
from training.datagen.config import DatagenConfig


class GeneratorBug(RuntimeError):
    """The generator produced a pair that fails its own checks (a bug, never a dropped row)."""


# -- the program model -------------------------------------------------------------------------
@dataclass(eq=False)
class Binding:
    """Something a later value can refer to: the trigger's output, a step's, a loop variable."""

    var: str
    type: WfType
    op: Operation
    noun: str
    is_trigger: bool = False
    is_loop_var: bool = False
    used: bool = False


@dataclass
class Lit:
    value: str | int | float | bool
    role: str  # how it reads in the request: text/entity/query are strings, quoted or not
    quoted: bool = False


@dataclass
class Ref:
    binding: Binding
    field: str | None
    implicit: bool = False  # an id the verb phrase already names ("flag the email")


@dataclass
class Concat:
    prefix: Lit
    ref: Ref


@dataclass
class Obj:
    pairs: list[tuple[str, Union[Lit, Ref]]]


@dataclass
class ListVal:
    items: list[Lit]


Value = Union[Lit, Ref, Concat, Obj, ListVal]


@dataclass
class Call:
    op: Operation
    args: list[tuple[Param, Value]]


@dataclass
class Step:
    call: Call
    binding: Binding | None = None  # `let <var> = ...` when the binding is used later


@dataclass
class Cond:
    kind: str  # compare, contains, truthy, and, or
    left: Union[Ref, "Cond"]
    op: str = ""
    right: Union[Lit, "Cond", None] = None
    negate: bool = False


@dataclass
class If:
    cond: Cond
    then: list[Statement]
    otherwise: list[Statement] | None = None


@dataclass
class Loop:
    var: Binding
    source: Ref
    body: list[Statement]
    source_step: Step | None = None  # the step right before that produced the list


Statement = Union[Step, If, Loop]


@dataclass
class Flow:
    name: str | None
    trigger: Call
    trigger_binding: Binding
    body: list[Statement]
    tenant: str | None = None

    def steps(self) -> list[Step]:
        out: list[Step] = []
        stack: list[Statement] = list(reversed(self.body))
        while stack:
            node = stack.pop()
            if isinstance(node, Step):
                out.append(node)
            elif isinstance(node, If):
                stack.extend(reversed(node.then + (node.otherwise or [])))
            else:
                stack.extend(reversed(node.body))
                if node.source_step is not None:
                    stack.append(node.source_step)
        return out

    def apis(self) -> list[str]:
        return [self.trigger.op.api] + [s.call.op.api for s in self.steps()]


# -- the sampler --------------------------------------------------------------------------------
def plural(word: str) -> str:
    if word.endswith("y") and word[-2:-1] not in "aeiou":
        return word[:-1] + "ies"
    if word.endswith(("s", "x", "ch", "sh")):
        return word + "es"
    return word + "s"


@dataclass
class _Scope:
    bindings: list[Binding] = field(default_factory=list)


class FlowSampler:
    """Samples flows over ``catalog``; ``focus`` connectors (a tenant's) appear in every flow."""

    def __init__(self, catalog: Catalog, config: DatagenConfig, *, focus: set[str] | None = None) -> None:
        self.catalog = catalog
        self.config = config
        self.focus = focus or set()
        ops = list(catalog.operations())
        self.triggers = [o for o in ops if o.kind == "trigger"]
        self.actions = [o for o in ops if o.kind == "action"]
        self.list_actions = [o for o in self.actions if o.output.kind == "list" and o.output.item]

    # -- flows --------------------------------------------------------------------------------
    def sample(self, rng: random.Random, n_steps: int) -> Flow:
        """A flow with exactly ``n_steps`` action calls (lists for loops included)."""
        for _ in range(200):
            flow = self._try(rng, n_steps)
            if flow is not None:
                return flow
        raise GeneratorBug(f"no flow with {n_steps} steps after 200 tries (focus={sorted(self.focus)})")

    def _try(self, rng: random.Random, n_steps: int) -> Flow | None:
        self.names: set[str] = {"trigger"}
        self.rng = rng
        self.need_focus = bool(self.focus)
        triggers = self.triggers
        if self.focus and rng.random() < 0.4:
            triggers = [t for t in self.triggers if t.connector in self.focus] or triggers
        op = rng.choice(triggers)
        binding = Binding("trigger", op.output, op, self._noun(op), is_trigger=True, used=True)
        scope = _Scope([])
        trigger = self._call(op, scope)
        if trigger is None:
            return None
        if op.connector in self.focus:
            self.need_focus = False
        scope.bindings.append(binding)
        body = self._block(n_steps, scope, allow_if=True, allow_loop=True)
        if body is None or self.need_focus:
            return None
        name = rng.choice(self.config.flow_names) if rng.random() < self.config.p_flow_name else None
        flow = Flow(name, trigger, binding, body)
        referenced = {id(ref.binding) for ref in flow_refs(flow)}
        for step in flow.steps():  # `let` only where a later value really uses the output
            if step.binding is not None and id(step.binding) not in referenced:
                step.binding = None
        return flow

    def _block(self, budget: int, scope: _Scope, *, allow_if: bool, allow_loop: bool) -> list[Statement] | None:
        """Statements using exactly ``budget`` steps. No if directly inside an if and no loop in a
        loop: requests that nest those read as riddles."""
        out: list[Statement] = []
        cfg = self.config
        while budget > 0:
            r = self.rng.random()
            if allow_loop and budget >= 2 and r < cfg.p_loop:
                made = self._loop(budget, scope)
            elif allow_if and r < cfg.p_loop + cfg.p_if:
                made = self._if(budget, scope, allow_loop=allow_loop)
            else:
                made = self._step(scope)
            if made is None:
                made = self._step(scope)
                if made is None:
                    return None
            statement, used = made
            out.append(statement)
            budget -= used
        return out

    def _step(self, scope: _Scope, *, prefer: Binding | None = None,
              ops: list[Operation] | None = None) -> tuple[Statement, int] | None:
        candidates = ops or self.actions
        if self.need_focus and self.rng.random() < 0.7:
            candidates = [o for o in candidates if o.connector in self.focus] or candidates
        elif self.rng.random() < self.config.p_same_connector:  # "... then reply to the email": coherent flows
            present = {b.op.connector for b in scope.bindings}
            candidates = [o for o in candidates if o.connector in present] or candidates
        for _ in range(30):
            op = self.rng.choice(candidates)
            call = self._call(op, scope, prefer=prefer)
            if call is None:
                continue
            if op.connector in self.focus:
                self.need_focus = False
            step = Step(call)
            if op.output.kind == "record" and op.output.record not in self.names:
                step.binding = Binding(str(op.output.record), op.output, op, self._noun(op))
                self.names.add(step.binding.var)
                scope.bindings.append(step.binding)
            return step, 1
        return None

    def _if(self, budget: int, scope: _Scope, *, allow_loop: bool) -> tuple[Statement, int] | None:
        cond = self._condition(scope)
        if cond is None:
            return None
        n_then = self.rng.randint(1, min(2, budget))
        n_else = 0
        if budget - n_then > 0 and self.rng.random() < self.config.p_else:
            n_else = self.rng.randint(1, min(2, budget - n_then))
        then = self._block(n_then, _Scope(list(scope.bindings)), allow_if=False, allow_loop=allow_loop)
        otherwise = (self._block(n_else, _Scope(list(scope.bindings)), allow_if=False, allow_loop=allow_loop)
                     if n_else else None)
        if then is None or (n_else and otherwise is None):
            return None
        return If(cond, then, otherwise), n_then + n_else

    def _loop(self, budget: int, scope: _Scope) -> tuple[Statement, int] | None:
        source_step: Step | None = None
        trig = next(b for b in scope.bindings if b.is_trigger)
        list_fields = [(f, t) for f, t in self._fields(trig) if t.kind == "list" and t.item]
        if list_fields and self.rng.random() < 0.5:
            fname, ftype = self.rng.choice(list_fields)
            source, used = Ref(trig, fname), 0
            item_type = ftype.item
        else:
            options = [o for o in self.list_actions if plural(str(o.output.item.record)) not in self.names  # type: ignore[union-attr]
                       and str(o.output.item.record) not in self.names]  # type: ignore[union-attr]
            made = self._step(scope, ops=options) if options else None
            if made is None:
                return None
            step = made[0]
            assert isinstance(step, Step)
            source_step = step
            op = step.call.op
            item_type = op.output.item
            var = plural(str(item_type.record))  # type: ignore[union-attr]
            step.binding = Binding(var, op.output, op, plural(self._noun(op)), used=True)
            self.names.add(var)
            scope.bindings.append(step.binding)
            source, used = Ref(step.binding, None), 1
        assert item_type is not None and item_type.record is not None
        if item_type.record in self.names:
            return None
        item = Binding(item_type.record, item_type, source.binding.op, self._type_noun(item_type.record, source.binding.op),
                       is_loop_var=True, used=True)
        self.names.add(item.var)
        inner = _Scope(scope.bindings + [item])
        n_body = self.rng.randint(1, min(2, budget - used)) if budget - used >= 1 else 0
        if n_body == 0:
            return None
        first = self._step(inner, prefer=item)
        if first is None:
            return None
        rest = self._block(n_body - 1, inner, allow_if=True, allow_loop=False) if n_body > 1 else []
        if rest is None:
            return None
        return Loop(item, source, [first[0]] + rest, source_step), used + n_body

    # -- calls and values ----------------------------------------------------------------------
    def _call(self, op: Operation, scope: _Scope, *, prefer: Binding | None = None) -> Call | None:
        args: list[tuple[Param, Value]] = []
        for param in op.params:
            if not param.required and self.rng.random() >= self.config.p_optional:
                continue
            value = self._value(op, param, scope, prefer)
            if value is None:
                if param.required:
                    return None
                continue
            args.append((param, value))
        return Call(op, args)

    def _value(self, op: Operation, param: Param, scope: _Scope, prefer: Binding | None) -> Value | None:
        rng, cfg = self.rng, self.config
        role = pools.role(op, param)
        keys = pools.pool_key(op, param)
        if role == "id":
            return self._id_value(op, param, scope, keys)
        if role == "enum":
            return Lit(rng.choice(param.type.options), "enum")
        if role == "bool":
            return Lit(rng.random() < 0.7, "bool")
        if role == "object":
            return self._object(scope, prefer)
        if role == "list":
            if param.name == "attendees":
                return ListVal([Lit(e, "person") for e in rng.sample(pools.EMAILS, rng.randint(1, 2))])
            return ListVal([Lit(w, "text", quoted=True) for w in rng.sample(pools.LABEL_LISTS, rng.randint(1, 2))])
        wanted = {"person": {"email"}, "datetime": {"datetime"}, "url": {"url"},
                  "number": {"number", "integer"} if param.type.kind == "number" else {"integer"},
                  "text": {"string"}, "entity": {"string"}, "query": set()}[role]
        refs = self._refs(scope, wanted, same_name=param.name if role in ("entity", "person") else None,
                          text_only=role == "text")
        if prefer is not None:
            refs = [r for r in refs if r.binding is prefer] or refs
        p_ref = {"person": 0.5, "datetime": 0.7, "url": 0.6, "number": 0.3, "text": cfg.p_text_ref,
                 "entity": 0.35, "query": 0.0}[role]
        if prefer is not None and refs:
            p_ref = max(p_ref, 0.8)
        if refs and rng.random() < p_ref:
            ref = rng.choice(refs)
            ref.binding.used = True
            if role == "text" and param.name not in ("key", "value") and rng.random() < cfg.p_concat:
                return Concat(Lit(rng.choice(pools.PREFIXES), "text", quoted=True), ref)
            return ref
        return self._literal(role, param, keys)

    def _literal(self, role: str, param: Param, keys: list[str]) -> Lit:
        rng = self.rng
        if role == "person":
            return Lit(rng.choice(pools.EMAILS), "person")
        if role == "datetime":
            return Lit(rng.choice(pools.DATETIMES), "datetime")
        if role == "url":
            return Lit(rng.choice(pools.URLS), "url")
        if role == "number":
            numbers: list[Any] = list(pools.NUMBERS.get(param.name, [1, 5, 10, 100]))
            value = rng.choice(numbers)
            return Lit(int(value) if param.type.kind == "integer" else value, "number")
        if role == "query":
            queries = next((pools.QUERIES[k] for k in keys if k in pools.QUERIES), pools.QUERIES["query"])
            return Lit(rng.choice(queries), "query", quoted=True)
        if role == "text":
            return Lit(rng.choice(pools.text_pool(param)), "text", quoted=True)
        pool = next((pools.ENTITIES[k] for k in keys if k in pools.ENTITIES), pools.GENERIC_ENTITIES)
        return Lit(rng.choice(pool), "entity", quoted=rng.random() < self.config.p_quote_entity)

    def _id_value(self, op: Operation, param: Param, scope: _Scope, keys: list[str]) -> Value | None:
        source = pools.ID_SOURCE_FIELD.get(param.name, "id")
        fits = {"integer"} if param.type.kind == "integer" else {"string"}
        owners = [b for b in scope.bindings
                  if b.op.connector == op.connector and b.type.kind == "record"
                  and any(f == source and t.kind in fits for f, t in self._fields(b))]
        if len(owners) == 1 and self.rng.random() < 0.85:  # one candidate: the verb names it
            owners[0].used = True
            return Ref(owners[0], source, implicit=True)
        literal: list[Any] | None = next((list(pools.LITERAL_IDS[k]) for k in keys if k in pools.LITERAL_IDS), None)
        if literal is not None:
            value = self.rng.choice(literal)
            return Lit(value, "id" if isinstance(value, str) else "number")
        return None

    def _object(self, scope: _Scope, prefer: Binding | None) -> Obj:
        rng = self.rng
        pairs: list[tuple[str, Lit | Ref]] = []
        for key in rng.sample(pools.OBJECT_KEYS, 1 if rng.random() < 0.75 else 2):
            refs = self._refs(scope, {"string", "email", "number", "integer", "datetime"}, same_name=key,
                              text_only=False, exact=True)
            if prefer is not None:
                refs = [r for r in refs if r.binding is prefer] or refs
            if refs and rng.random() < 0.75:
                ref = rng.choice(refs)
                ref.binding.used = True
                pairs.append((key, ref))
            elif key == "amount":
                pairs.append((key, Lit(rng.choice(pools.NUMBERS["amount"]), "number")))
            elif key == "email":
                pairs.append((key, Lit(rng.choice(pools.EMAILS), "person")))
            elif key == "date":
                pairs.append((key, Lit(rng.choice(pools.DATETIMES), "datetime")))
            else:
                pool = pools.COMPARE_STRINGS.get(key) or pools.ENTITIES.get(key) or pools.TITLES
                pairs.append((key, Lit(rng.choice(pool), "text", quoted=True)))
        return Obj(pairs)

    def _refs(self, scope: _Scope, kinds: set[str], *, same_name: str | None, text_only: bool,
              exact: bool = False) -> list[Ref]:
        """Fields in scope whose type fits; ``same_name`` keeps only fields named like the parameter."""
        out: list[Ref] = []
        for b in scope.bindings:
            for fname, ftype in self._fields(b):
                if ftype.kind not in kinds:
                    continue
                if same_name is not None and fname != same_name and (exact or ftype.kind == "string"):
                    continue
                if text_only and fname not in pools.TEXT_FIELDS:
                    continue
                out.append(Ref(b, fname))
        return out

    def _condition(self, scope: _Scope) -> Cond | None:
        rng = self.rng
        options: list[Cond] = []
        for b in scope.bindings:
            for fname, ftype in self._fields(b):
                ref = Ref(b, fname)
                if ftype.kind in ("number", "integer") and fname in pools.THRESHOLDS:
                    options.append(Cond("compare", ref, rng.choice([">", ">", "<", ">=", "<=", "==", "!="]),
                                        Lit(rng.choice(pools.THRESHOLDS[fname]), "number")))
                elif ftype.kind in ("string", "email") and fname in pools.COMPARE_STRINGS:
                    options.append(Cond("compare", ref, rng.choice(["==", "==", "!="]),
                                        Lit(rng.choice(pools.COMPARE_STRINGS[fname]), "text", quoted=True)))
                elif ftype.kind == "string" and fname in pools.TEXT_FIELDS:
                    options.append(Cond("contains", ref, "contains",
                                        Lit(rng.choice(pools.CONTAINS_WORDS), "text", quoted=True)))
                elif ftype.kind == "bool":
                    options.append(Cond("truthy", ref, negate=rng.random() < 0.3))
        if not options:
            return None
        first = rng.choice(options)
        if len(options) > 1 and rng.random() < self.config.p_compound:
            second = rng.choice([o for o in options if o is not first])
            first = Cond(rng.choice(["and", "or"]), first, right=second)
        for ref in _cond_refs(first):
            ref.binding.used = True
        return first

    # -- catalog views ---------------------------------------------------------------------------
    def _fields(self, b: Binding) -> list[tuple[str, WfType]]:
        record: RecordType | None = self.catalog.record(b.type)
        return list(record.fields.items()) if record else []

    def _noun(self, op: Operation) -> str:
        t = op.output.item if op.output.kind == "list" and op.output.item else op.output
        return self._type_noun(str(t.record or t.kind), op)

    def _type_noun(self, record: str, op: Operation) -> str:
        from training.datagen.phrases import noun_for

        return noun_for(record, op.connector, self.rng)


def flow_refs(flow: Flow) -> list[Ref]:
    """Every reference in a flow (values, conditions, loop sources), in no particular order."""
    out: list[Ref] = []

    def value_refs(value: Value) -> None:
        if isinstance(value, Ref):
            out.append(value)
        elif isinstance(value, Concat):
            out.append(value.ref)
        elif isinstance(value, Obj):
            out.extend(v for _, v in value.pairs if isinstance(v, Ref))

    def walk(statements: list[Statement]) -> None:
        for node in statements:
            if isinstance(node, Step):
                for _, value in node.call.args:
                    value_refs(value)
            elif isinstance(node, If):
                out.extend(_cond_refs(node.cond))
                walk(node.then)
                walk(node.otherwise or [])
            else:
                out.append(node.source)
                walk(([node.source_step] if node.source_step else []) + node.body)

    walk(flow.body)
    return out


def flow_literals(flow: Flow) -> list[str]:
    """Every literal of a flow as the request must spell it (booleans excepted), and its name."""
    out = [flow.name] if flow.name else []

    def lit(value: Lit | Cond | None) -> None:
        if isinstance(value, Lit) and not isinstance(value.value, bool):
            out.append(str(value.value))

    def value_lits(value: Value) -> None:
        if isinstance(value, Lit):
            lit(value)
        elif isinstance(value, Concat):
            lit(value.prefix)
        elif isinstance(value, Obj):
            for _, v in value.pairs:
                lit(v if isinstance(v, Lit) else None)
        elif isinstance(value, ListVal):
            for item in value.items:
                lit(item)

    def cond_lits(cond: Cond) -> None:
        if cond.kind in ("and", "or"):
            cond_lits(cond.left)  # type: ignore[arg-type]
            cond_lits(cond.right)  # type: ignore[arg-type]
        else:
            lit(cond.right)

    for _, value in flow.trigger.args:
        value_lits(value)
    for step in flow.steps():
        for _, value in step.call.args:
            value_lits(value)
    stack: list[Statement] = list(flow.body)
    while stack:
        node = stack.pop()
        if isinstance(node, If):
            cond_lits(node.cond)
            stack += node.then + (node.otherwise or [])
        elif isinstance(node, Loop):
            stack += node.body
    return out


def _cond_refs(cond: Cond) -> list[Ref]:
    if cond.kind in ("and", "or"):
        return _cond_refs(cond.left) + _cond_refs(cond.right)  # type: ignore[arg-type]
    return [cond.left]  # type: ignore[list-item]
