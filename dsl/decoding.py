"""Compile a DSL's Lark grammar into the llguidance Lark dialect, exactly.

The decoder must accept what Lark accepts — in canonical form — and nothing else. Lark is
loaded first (imports, templates, ``?rule``, ``_rule``, EBNF are all resolved by Lark itself);
the compiler then writes the resulting BNF rules and terminals in llguidance's dialect with
three changes that make the two agree:

1. **No free whitespace.** ``%ignore`` is dropped; each terminal carries the canonical spacing of
   ``dsl.toml [format]`` as separate literal atoms, so the decoder can only emit canonical text
   (and whitespace can never eat the token budget).
2. **Literals are split into atoms** — runs of word characters, single punctuation characters,
   single spaces. llguidance's lexer is greedy: a literal ``"city(all)"`` would swallow ``city(``
   and then refuse ``city(loc_2(...))`` which Lark accepts (NOTES.md: 140 of 200 gold programs).
3. **One optional leading space.** Sentencepiece tokenizers glue a space to the first word
   (``▁answer``); strip it from decoded text.

Constructs llguidance cannot express raise :class:`GrammarError` naming the construct, its
``file:line:col`` and the rewrite.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from lark.grammar import TOKEN_DEFAULT_PRIORITY, NonTerminal, Terminal
from lark.lexer import PatternRE, PatternStr, TerminalDef

from dsl.errors import GrammarError
from dsl.format import spacing

if TYPE_CHECKING:
    from dsl.language import DSL

ENTRY = "start"
_ATOM = re.compile(r"\w+|\s|[^\w\s]")

# Python-only regex syntax the decoder's regex engine cannot express:
# (construct, pattern that finds it, how to rewrite it, an example terminal regex).
KNOWN_MISTAKES: list[tuple[str, str, str, str]] = [
    ("lookaround", r"\(\?<?[=!]", "express the condition with grammar rules instead of a lookahead/lookbehind", r"a(?=b)"),
    ("backreference", r"\\[1-9]|\(\?P=", "backreferences are not regular; enumerate the cases in rules", r"(a)\1"),
    ("word boundary", r"\\[bB]", "drop \\b; keep words apart with canonical spacing in dsl.toml [format]", r"\bword"),
    ("anchor", r"\\[AZz]|(?<!\\)\^|(?<![\\\[])\$", "terminals always match whole tokens; drop the anchor", r"^a+$"),
    ("conditional group", r"\(\?\(", "split the terminal into alternatives in a rule", r"(a)?(?(1)b|c)"),
    ("atomic group or possessive quantifier", r"\(\?>|[*+?}]\+", "use a plain group and quantifier", r"(?>a+)b"),
]


@dataclass(frozen=True)
class DecodingGrammar:
    """The compiled grammar: rules as llguidance text bodies, terminals as definitions.

    ``rules`` maps a rule name to its body (``alt | alt``); ``terminals`` maps a terminal name to
    its definition (``/regex/`` or ``"literal"``). :meth:`with_rules` replaces or adds rule bodies
    without recompiling (the catalog-locked workflow grammar uses it per request).
    """

    rules: dict[str, str]
    terminals: dict[str, str]
    entry_rule: str
    rule_names: dict[str, str] = field(default_factory=dict)
    """Lark rule name -> llguidance rule name."""
    terminal_rules: dict[str, str] = field(default_factory=dict)
    """Lark terminal name -> the llguidance symbol (rule or terminal) that emits it with spacing."""

    @property
    def text(self) -> str:
        lines = [f'{ENTRY}: " "? {self.entry_rule}']
        lines += [f"{name}: {body}" for name, body in self.rules.items()]
        lines += [f"{name}: {body}" for name, body in self.terminals.items()]
        return "\n".join(lines) + "\n"

    def with_rules(self, overrides: dict[str, str]) -> DecodingGrammar:
        """A copy with some rule bodies replaced or added (llguidance text)."""
        return replace(self, rules={**self.rules, **overrides})

    def __str__(self) -> str:
        return self.text


def compile_decoding_grammar(dsl: DSL) -> DecodingGrammar:
    """Compile ``dsl``'s loaded Lark grammar to the llguidance dialect.

    Raises:
        GrammarError: for rule/terminal priorities, ``%declare``d terminals, Python-only regex
            syntax, or canonical spacing before the first / after the last token.
    """
    parser = dsl.lark
    source = dsl.spec.grammar_path.read_text(encoding="utf-8")
    path = str(dsl.spec.grammar_path)
    terminals = {t.name: t for t in parser.terminals}
    ignored = set(parser.ignore_tokens)

    rule_names: dict[str, str] = {}
    for rule in parser.rules:
        rule_names.setdefault(rule.origin.name, _rule_name(rule.origin.name))
        if rule.options.priority is not None:
            raise GrammarError(
                f"rule priority on {rule.origin.name!r} cannot be expressed for the decoder: remove "
                "`.N` and make the rules unambiguous (llguidance accepts every derivation)",
                location=_locate_definition(source, path, rule.origin.name),
                construct="rule priority",
            )
    if len(set(rule_names.values())) != len(rule_names):
        raise GrammarError("two rule names collide after renaming; rename one", location=path)

    terminal_rules: dict[str, str] = {}
    terminal_defs: dict[str, str] = {}
    spacing_rules: dict[str, str] = {}
    used = {s.name for r in parser.rules for s in r.expansion if isinstance(s, Terminal)}
    for name in sorted(used):
        if name not in terminals:
            raise GrammarError(
                f"terminal {name} has no pattern (%declare); the decoder cannot generate it — define "
                "it with a string or /regex/",
                location=_locate_definition(source, path, name, keyword="%declare"),
                construct="%declare",
            )
        definition = terminals[name]
        if definition.priority != TOKEN_DEFAULT_PRIORITY:
            raise GrammarError(
                f"terminal priority on {name} cannot be expressed for the decoder: remove `.{definition.priority}` "
                "and make the terminals disjoint (e.g. keywords as literals, identifiers as a regex "
                "that the grammar only uses where keywords cannot appear)",
                location=_locate_definition(source, path, name),
                construct="terminal priority",
            )
        before, after = spacing(dsl, name)
        pattern = definition.pattern
        assert isinstance(pattern, (PatternStr, PatternRE))
        symbol, body, extra_terminal = _emit_terminal(name, pattern, before, after, source, path)
        terminal_rules[name] = symbol
        if body is not None:
            spacing_rules[symbol] = body
        if extra_terminal is not None:
            terminal_defs[extra_terminal[0]] = extra_terminal[1]
    _check_spacing_is_ignored(dsl, terminals, ignored)

    _check_edges(dsl, parser, terminal_rules, path)

    bodies: dict[str, list[str]] = {}
    for rule in parser.rules:
        symbols = [
            rule_names[s.name] if isinstance(s, NonTerminal) else terminal_rules[s.name]
            for s in rule.expansion
        ]
        bodies.setdefault(rule_names[rule.origin.name], []).append(" ".join(symbols) if symbols else '""')
    rules = {name: " | ".join(alts) for name, alts in bodies.items()}
    rules.update(spacing_rules)
    entry = rule_names.get(dsl.spec.start)
    if entry is None:
        raise GrammarError(f"start rule {dsl.spec.start!r} not found in the grammar", location=path)
    return DecodingGrammar(
        rules=rules, terminals=terminal_defs, entry_rule=entry,
        rule_names=rule_names, terminal_rules=terminal_rules,
    )


def _emit_terminal(
    name: str, pattern: PatternStr | PatternRE, before: str, after: str, source: str, path: str
) -> tuple[str, str | None, tuple[str, str] | None]:
    """(symbol used in rules, body of its spacing rule or None, (terminal name, definition) or None)."""
    pre = [_literal(a) for a in _ATOM.findall(before)]
    post = [_literal(a) for a in _ATOM.findall(after)]
    if isinstance(pattern, PatternStr) and not pattern.flags:
        atoms = [_literal(a) for a in _ATOM.findall(pattern.value)]
        if len(atoms) == 1 and not pre and not post:
            return atoms[0], None, None
        return f"t_{name.lower()}", " ".join(pre + atoms + post), None
    regex = pattern.to_regexp() if isinstance(pattern, PatternStr) else _regex(pattern, name, source, path)
    if isinstance(pattern, PatternStr):
        regex = re.escape(pattern.value) if not pattern.flags else regex
    terminal = f"T_{name.upper().lstrip('_')}"
    definition = f"/{_slashes(regex)}/"
    if not pre and not post:
        return terminal, None, (terminal, definition)
    return f"t_{name.lower()}", " ".join(pre + [terminal] + post), (terminal, definition)


def _regex(pattern: PatternRE, name: str, source: str, path: str) -> str:
    regex = pattern.to_regexp()
    for construct, finder, fix, _example in KNOWN_MISTAKES:
        if re.search(finder, _strip_classes(pattern.value)):
            raise GrammarError(
                f"terminal {name} uses a {construct} (/{pattern.value}/), which the decoder's regex "
                f"engine cannot express: {fix}",
                location=_locate_definition(source, path, name, pattern=pattern.value),
                construct=construct,
            )
    # Named groups are Python syntax; groups carry no meaning in a lexeme.
    return re.sub(r"\(\?P<\w+>", "(?:", regex)


def _strip_classes(regex: str) -> str:
    """The regex without the contents of [...] classes (where ^, $ and \\b mean other things)."""
    return re.sub(r"\[(?:\\.|[^\]\\])*\]", "[]", regex)


def _literal(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'


def _slashes(regex: str) -> str:
    """Escape ``/`` and control characters: Lark turns ``\\n`` into a raw newline, and the
    decoding grammar keeps one rule per line."""
    regex = regex.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return re.sub(r"(?<!\\)/", r"\\/", regex)


def _rule_name(name: str) -> str:
    """llguidance rule names: lowercase; Lark's helper rules (``__start_star_0``) get a prefix."""
    clean = re.sub(r"[^a-z0-9_]", "_", name.lower())  # template instances: list{name}
    if clean.startswith("__"):
        clean = "x" + clean[1:]
    if clean.startswith("_"):
        clean = "u" + clean
    return "r_start" if clean == ENTRY else clean


def _check_edges(dsl: DSL, parser: object, terminal_rules: dict[str, str], path: str) -> None:
    """Canonical text never starts or ends with spacing; the first and last tokens must have none."""
    first, last = _edge_terminals(dsl)
    for name in sorted(first):
        if spacing(dsl, name)[0]:
            raise GrammarError(
                f"dsl.toml [format] puts spacing before {name}, which can be the first token; "
                "move it to `after` of the tokens that precede it",
                location=str(dsl.folder / "dsl.toml"), construct="format spacing",
            )
    for name in sorted(last):
        if spacing(dsl, name)[1]:
            raise GrammarError(
                f"dsl.toml [format] puts spacing after {name}, which can be the last token; "
                "move it to `before` of the tokens that follow it",
                location=str(dsl.folder / "dsl.toml"), construct="format spacing",
            )


def _check_spacing_is_ignored(dsl: DSL, terminals: dict[str, TerminalDef], ignored: set[str]) -> None:
    """Canonical spacing must be something Lark skips (``%ignore``), or the formatter's own
    output would not parse. ``%ignore`` itself is dropped from the decoding grammar on purpose."""
    table = dsl.spec.format
    gaps = {v for v in [*table.before.values(), *table.after.values()] if v}
    patterns = [re.compile(terminals[name].pattern.to_regexp()) for name in ignored if name in terminals]
    for gap in sorted(gaps):
        if not any(p.fullmatch(gap) for p in patterns):
            raise GrammarError(
                f"dsl.toml [format] inserts {gap!r} but the grammar does not skip it; add "
                "`%import common.WS` and `%ignore WS` to grammar.lark",
                location=str(dsl.spec.grammar_path), construct="format spacing",
            )


def _edge_terminals(dsl: DSL) -> tuple[set[str], set[str]]:
    """Terminals that can begin / end a program (fixed point over nullable rules)."""
    rules = dsl.lark.rules
    nullable: set[str] = set()
    changed = True
    while changed:
        changed = False
        for r in rules:
            if r.origin.name not in nullable and all(
                isinstance(s, NonTerminal) and s.name in nullable for s in r.expansion
            ):
                nullable.add(r.origin.name)
                changed = True

    def edge(reverse: bool) -> set[str]:
        sets: dict[str, set[str]] = {r.origin.name: set() for r in rules}
        changed = True
        while changed:
            changed = False
            for r in rules:
                target = sets[r.origin.name]
                size = len(target)
                for s in reversed(r.expansion) if reverse else r.expansion:
                    if isinstance(s, Terminal):
                        target.add(s.name)
                        break
                    target |= sets[s.name]
                    if s.name not in nullable:
                        break
                changed |= len(target) != size
        return sets[dsl.spec.start]

    return edge(False), edge(True)


def _locate_definition(source: str, path: str, name: str, *, keyword: str = "", pattern: str = "") -> str:
    """``file:line:col`` of a rule/terminal definition (or the keyword / pattern that made it)."""
    candidates = [rf"^\s*[?!_]?{re.escape(name)}\b"]
    if keyword:
        candidates.insert(0, rf"{re.escape(keyword)}\s+{re.escape(name)}\b")
    if pattern:
        candidates.append(re.escape(pattern))
    for candidate in candidates:
        found = re.search(candidate, source, re.MULTILINE)
        if found:
            line = source.count("\n", 0, found.start()) + 1
            column = found.start() - (source.rfind("\n", 0, found.start()) + 1) + 1
            return f"{path}:{line}:{column}"
    return path
