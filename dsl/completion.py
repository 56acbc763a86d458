"""Shortest completions: from any prefix of a program, the shortest text that finishes it.

The engine's budget guarantee rests on this: when the tokens left equal the tokens of the
shortest completion, it forces that completion, so a program is never cut off mid-grammar
(TruncProof, arXiv 2605.13076, does the same with a bound from the grammar).

How it works, on a grammar without free whitespace (the decoding grammar of :mod:`dsl.decoding`,
whose texts are exactly the canonical programs):

1. The prefix is lexed and parsed with Lark's interactive LALR parser. The last token may be
   unfinished (``stat`` of ``stateid``), or the lexer may have split it (``count`` + ``r`` of
   ``countryid``); each of the last few token starts is tried as the start of a partial token,
   and the partial text is extended to the shortest string of an acceptable terminal
   (a small Thompson NFA over Python's own regex parser; stdlib only).
2. From an LALR stack, the shortest completion follows the LR(0) items of the top state: for
   a kernel item ``A -> α • β`` finish ``β`` with its shortest yield, reduce ``A`` (pop ``|α|``
   states, take the goto), and continue from the new stack; the minimum over items is exact
   because every kernel item of a state is valid for every stack that reaches it (Knuth 1965).
   Results are memoised per stack.
3. The candidate text is parsed with Lark before it is returned (a regex's shortest string
   could lex as a keyword); the next-best candidate is tried when it fails.

Costs are characters. The engine tokenizes the text and checks it with llguidance, the ground
truth of what the decoder accepts.
"""

from __future__ import annotations

import bisect
import contextlib
import importlib
import logging
import re
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import lark
from lark.exceptions import LarkError, UnexpectedInput
from lark.lexer import PatternStr
from lark.parsers.lalr_analysis import LALR_Analyzer, Shift

from dsl.errors import GrammarError

# How many of the last lexed tokens may be the start of one unfinished token: Lark's greedy
# lexer can split "countr" (of countryid) into "count" + "r"; 4 covers splits like a_b_c_d.
_PARTIAL_LOOKBACK = 4
_MEMO_LIMIT = 200_000  # memoised stacks before the cache is cleared (memory bound)
_Stack = tuple[Any, ...]  # LALR parser states, bottom first
_CHECKPOINTS = 64  # lexing checkpoints kept (a batch of requests interleaves its prefixes)


@dataclass(frozen=True)
class _StateLexer:
    """The terminals one parser state accepts, indexed for lexing and for unfinished tokens."""

    by_length: list[tuple[int, dict[str, str]]]  # literal length -> {value: terminal}, longest first
    sorted_values: list[tuple[str, str]]  # (literal value, terminal), sorted: prefix search
    patterns: list[tuple[re.Pattern[str], str]]  # regex terminals


@dataclass(frozen=True)
class _Item:
    origin: str
    dot: int
    tail_cost: int
    tail: tuple[str, ...]  # shortest terminal sequence deriving what follows the dot
    accept: bool = False


class Completer:
    """Shortest completions for one grammar (LALR, no ``%ignore``).

    Build it with :meth:`from_grammar`; it is immutable apart from its memo and safe to share
    between requests in one thread.

    >>> import dsl
    >>> c = Completer.from_grammar(dsl.load("geoquery").decoding_grammar())
    >>> c.shortest_program()
    'answer(0)'
    >>> c.complete("answer(intersection(stat")
    'e(0), 0))'
    """

    def __init__(self, parser: lark.Lark) -> None:
        if parser.options.parser != "lalr":
            raise GrammarError("shortest completions need an LALR parser (parser='lalr')")
        if parser.ignore_tokens:
            raise GrammarError(
                "shortest completions need a grammar without %ignore (the decoding grammar): "
                f"ignored {sorted(parser.ignore_tokens)}"
            )
        self._parser = parser
        frontend = parser.parser
        table = frontend.parser._parse_table
        self._states: dict[Any, dict[str, tuple[Any, Any]]] = table.states
        (self._start,) = frontend.parser_conf.start
        self._start_state: Any = table.start_states[self._start]
        self._end_state: Any = table.end_states[self._start]
        self._regexes = {t.name: _terminal_matcher(t.pattern) for t in parser.terminals}
        self._compiled = {t.name: re.compile(_pattern_regex(t.pattern)) for t in parser.terminals}
        self._checkpoints: OrderedDict[str, tuple[int, _Stack, int]] = OrderedDict()
        self._lexers: dict[Any, _StateLexer] = {}
        self._shortest_terminal = {}
        for name, regex in self._regexes.items():
            shortest = regex.shortest_extension("")
            if shortest is None:
                raise GrammarError(f"terminal {name} matches no string")
            self._shortest_terminal[name] = shortest
        self._yields = _shortest_yields(frontend.parser_conf.rules, self._shortest_terminal)
        self._kernels = self._kernel_items(frontend.parser_conf)
        self._memo: dict[tuple[Any, ...], tuple[int, _Item | None, tuple[Any, ...] | None]] = {}
        self.conflicts: tuple[str, ...] = ()
        """Shift/reduce conflicts Lark resolved by shifting (completions may miss programs
        that need the other reading; llguidance still checks every plan)."""

    @classmethod
    def from_grammar(cls, text: str) -> Completer:
        """A completer for a grammar in Lark syntax (the llguidance dialect of
        :meth:`dsl.DSL.decoding_grammar` is plain Lark).

        The grammar is first rewritten so that every run of adjacent terminals in a rule is one
        terminal (:func:`lalr_view`): decoding grammars spell canonical spacing as separate atoms
        (``" " "{"``, ``" " T_MUL_OP " "``), so after an expression one space of lookahead cannot
        tell ``{`` from ``*`` and LALR(1) would pick one silently. The language is unchanged.

        Raises:
            GrammarError: when Lark cannot build an LALR parser for it.
        """
        view = lalr_view(text)
        with _lark_warnings() as warnings:
            try:
                # debug=True keeps LR(0) item sets as parser states (no renumbering), so kernel
                # items come straight from the stack; in this mode Lark logs its conflicts.
                parser = lark.Lark(view, parser="lalr", lexer="contextual", start="start", debug=True)
            except LarkError as e:
                raise GrammarError(f"the decoding grammar has no LALR parser for completions: {e}") from e
        completer = cls(parser)
        completer.conflicts = tuple(w for w in warnings if "conflict" in w.lower())
        return completer

    # -- public -------------------------------------------------------------------------
    def shortest_program(self) -> str:
        """The shortest complete program (fewest characters)."""
        found = self.complete("")
        if found is None:  # pragma: no cover - a grammar with a start rule always has one
            raise GrammarError("the grammar derives no finite program")
        return found

    def complete(self, prefix: str) -> str | None:
        """The shortest ``s`` such that ``prefix + s`` is a complete program, or None when
        ``prefix`` cannot be extended to one.

        >>> import dsl
        >>> c = Completer.from_grammar(dsl.load("geoquery").decoding_grammar())
        >>> c.complete("answer(cityid('new yo")
        "', _))"
        >>> c.complete("answer(all))") is None
        True
        """
        candidates = sorted(self._candidates(prefix))
        for _cost, _order, text in candidates:
            if self._parses(prefix + text):
                return text
        return None

    def is_complete(self, text: str) -> bool:
        """True when ``text`` is a whole program of the grammar."""
        return self._parses(text)

    # -- candidates ---------------------------------------------------------------------
    def _candidates(self, prefix: str) -> Iterable[tuple[int, int, str]]:
        """(cost, tie-break, completion text) for each way to read the end of ``prefix``."""
        stack, failed_at, starts = self._lex(prefix, checkpoint=True)
        order = 0
        if failed_at is None:
            found = self._stack_completion(stack)
            if found is not None:
                yield found[0], order, found[1]
        # The unfinished token starts at one of the last token starts (or where lexing failed).
        for start, before in reversed(starts):
            partial = prefix[start:]
            for terminal, extension in self._extensions(before[-1], partial):
                after = self._feed(before, terminal)
                if after is None:
                    continue
                rest = self._stack_completion(after)
                if rest is None:
                    continue
                order += 1
                yield len(extension) + rest[0], order, extension + rest[1]

    def _lex(self, prefix: str, *, checkpoint: bool = False) -> tuple[_Stack, int | None, list[tuple[int, _Stack]]]:
        """Lex and parse every complete token; return the stack, where lexing failed (or None),
        and the (start offset, stack before it) of the last few tokens and of the failure point.

        Lark's contextual lexer decides with LALR lookahead sets, which merge contexts: after
        the ``, `` of an object literal it may read ``owner`` as a call's parameter keyword and
        then fail. Here each match is offered to the parser, longest first (literals before
        patterns of the same length, as in Lark), and the first one it takes is kept.
        """
        stack: _Stack = (self._start_state,)
        starts: deque[tuple[int, _Stack]] = deque(maxlen=_PARTIAL_LOOKBACK + 1)
        position, end = 0, len(prefix)
        resumed = self._resume(prefix)
        if resumed is not None:
            position, stack = resumed
        while position < end:
            for length, name in self._matches(stack[-1], prefix, position):
                following = self._feed(stack, name)
                if following is not None:
                    break
            else:
                starts.append((position, stack))
                return stack, position, list(starts)
            starts.append((position, stack))
            stack, position = following, position + length
        if checkpoint:
            self._checkpoint(prefix, starts)
        return stack, None, list(starts)

    def _resume(self, prefix: str) -> tuple[int, _Stack] | None:
        """The latest checkpoint inside ``prefix``: decoding extends one text a token at a
        time, so lexing resumes a few tokens before the previous end instead of at 0."""
        best = None
        for key, (position, stack, made_from) in self._checkpoints.items():
            # Only from a prefix no longer than this one: the tokens after the checkpoint (the
            # lookback window for an unfinished token) are then all lexed again.
            if made_from <= len(prefix) and prefix.startswith(key) and (best is None or position > best[0]):
                best = (position, stack)
        return best

    def _checkpoint(self, prefix: str, starts: deque[tuple[int, _Stack]]) -> None:
        """Remember where the lookback window began: the tokens before it are final (a later
        character cannot re-read a token followed by several others)."""
        if len(starts) < (starts.maxlen or 0) or starts[0][0] == 0:
            return
        position, stack = starts[0]
        # The key runs to the last token's start, not to `position`: where the token before
        # `position` ends depends on the text after it ("1" or "10"); a text that matches the
        # key through several more tokens reads it the same way.
        key = prefix[: starts[-1][0]]
        self._checkpoints[key] = (position, stack, len(prefix))
        self._checkpoints.move_to_end(key)
        while len(self._checkpoints) > _CHECKPOINTS:
            self._checkpoints.popitem(last=False)

    def _matches(self, state: Any, text: str, position: int) -> list[tuple[int, str]]:
        """(length, terminal) of each terminal of ``state`` that matches at ``position``."""
        lexer = self._lexer(state)
        found = []
        for length, table in lexer.by_length:  # one dict lookup per literal length
            name = table.get(text[position : position + length])
            if name is not None:
                found.append((length, 1, name))
        for pattern, name in lexer.patterns:
            match = pattern.match(text, position)
            if match and match.end() > position:
                found.append((match.end() - position, 0, name))
        found.sort(key=lambda f: (-f[0], -f[1]))
        return [(length, name) for length, _literal, name in found]

    def _extensions(self, state: Any, partial: str) -> Iterator[tuple[str, str]]:
        """(terminal, shortest extension) of each terminal of ``state`` that ``partial`` begins."""
        lexer = self._lexer(state)
        values = lexer.sorted_values
        index = bisect.bisect_left(values, (partial, ""))
        while index < len(values) and values[index][0].startswith(partial):
            value, name = values[index]
            yield name, value[len(partial) :]
            index += 1
        for _pattern, name in lexer.patterns:
            extension = self._regexes[name].shortest_extension(partial)
            if extension is not None:
                yield name, extension

    def _lexer(self, state: Any) -> _StateLexer:
        lexer = self._lexers.get(state)
        if lexer is None:
            by_length: dict[int, dict[str, str]] = {}
            values: list[tuple[str, str]] = []
            patterns: list[tuple[re.Pattern[str], str]] = []
            for name in self._terminals_at(state):
                matcher = self._regexes[name]
                if isinstance(matcher, _Literal):
                    by_length.setdefault(len(matcher.value), {})[matcher.value] = name
                    values.append((matcher.value, name))
                else:
                    patterns.append((self._compiled[name], name))
            lexer = self._lexers[state] = _StateLexer(
                by_length=sorted(by_length.items(), reverse=True), sorted_values=sorted(values), patterns=patterns
            )
        return lexer

    def _terminals_at(self, state: Any) -> list[str]:
        return [name for name in self._states[state] if name in self._regexes]

    def _feed(self, stack: _Stack, terminal: str) -> _Stack | None:
        """The stack after shifting ``terminal`` (with the reductions before it), or None."""
        current = list(stack)
        while True:
            action = self._states[current[-1]].get(terminal)
            if action is None:
                return None
            kind, argument = action
            if kind is Shift:
                current.append(argument)
                return tuple(current)
            size = len(argument.expansion)
            if size:
                del current[-size:]
            goto = self._states[current[-1]].get(argument.origin.name)
            if goto is None:
                return None
            current.append(goto[1])

    # -- shortest completion of a stack -------------------------------------------------
    def _stack_completion(self, stack: _Stack) -> tuple[int, str] | None:
        cost = self._best(stack)
        if cost is None:
            return None
        parts: list[str] = []
        current: _Stack | None = stack
        while current is not None:
            _cost, item, following = self._memo[current]
            if item is None:
                return None
            parts += [self._shortest_terminal[t] for t in item.tail]
            current = following
        return cost, "".join(parts)

    def _best(self, root: _Stack) -> int | None:
        """Shortest completion cost of ``root``, memoised. The stacks reachable by reductions
        form a finite graph with cycles (left recursion: ``sum -> sum • op product`` leads back
        to the same stack), so costs are relaxed to a fixed point (Bellman-Ford) over the new
        part of the graph; memoised stacks are exact already. No recursion: programs nest deeper
        than Python's recursion limit."""
        if root in self._memo:
            return self._finite(root)
        if len(self._memo) > _MEMO_LIMIT:
            self._memo.clear()
        order: list[_Stack] = []
        edges: dict[_Stack, list[tuple[_Item, _Stack]]] = {}
        queue = deque([root])
        while queue:  # collect the new part of the graph
            stack = queue.popleft()
            if stack in edges or stack in self._memo:
                continue
            order.append(stack)
            edges[stack] = [s for s in self._successors(stack) if s is not None]
            queue.extend(following for item, following in edges[stack] if not item.accept)
        best: dict[_Stack, tuple[int, _Item | None, _Stack | None]] = {s: (_INF, None, None) for s in order}
        changed = True
        while changed:  # successors are no longer than their stack: reverse order converges fast
            changed = False
            for stack in reversed(order):
                current = best[stack]
                for item, following in edges[stack]:
                    if item.accept:
                        candidate: tuple[int, _Item | None, _Stack | None] = (0, item, None)
                    else:
                        known = best.get(following) or self._memo[following]
                        if known[0] >= _INF:
                            continue
                        candidate = (item.tail_cost + known[0], item, following)
                    if candidate[0] < current[0]:
                        current = candidate
                if current[0] < best[stack][0]:
                    best[stack] = current
                    changed = True
        self._memo.update(best)
        return self._finite(root)

    def _finite(self, stack: _Stack) -> int | None:
        cost = self._memo[stack][0]
        return None if cost >= _INF else cost

    def _successors(self, stack: _Stack) -> list[tuple[_Item, _Stack] | None]:
        """For each kernel item of the top state: the item and the stack after reducing it."""
        found: list[tuple[_Item, _Stack] | None] = []
        for item in self._kernels[stack[-1]]:
            if item.accept:
                found.append((item, stack))
                continue
            if len(stack) <= item.dot:
                found.append(None)
                continue
            below = stack[: len(stack) - item.dot]
            goto = self._states[below[-1]].get(item.origin)
            found.append(None if goto is None else (item, below + (goto[1],)))
        return found

    def _kernel_items(self, conf: Any) -> dict[Any, list[_Item]]:
        """Kernel items of each parser state. A ``debug=True`` parser's states are the item sets
        themselves; an ordinary one numbers them, so the LR(0) automaton is rebuilt with Lark's
        analyzer and matched to the table by following the same transitions from the start
        (the numbering follows set order, which differs between runs)."""
        if all(isinstance(state, int) for state in self._states):
            analyzer = LALR_Analyzer(conf, debug=True)
            analyzer.compute_lr0_states()
            start_set = analyzer.lr0_start_states[self._start]
            sets: dict[Any, Any] = {self._start_state: start_set.kernel}
            queue = deque([(self._start_state, start_set)])
            while queue:
                state, itemset = queue.popleft()
                by_name = {sym.name: target for sym, target in itemset.transitions.items()}
                for symbol, (kind, target) in self._states[state].items():
                    if kind is Shift and target not in sets and symbol in by_name:
                        sets[target] = by_name[symbol].kernel
                        queue.append((target, by_name[symbol]))
        else:
            sets = {state: [p for p in state if p.index > 0 or p.rule.origin.name.startswith("$root_")] for state in self._states}
        kernels: dict[Any, list[_Item]] = {}
        for state in self._states:
            if state not in sets:
                kernels[state] = []
                continue
            items = []
            for pointer in sets[state]:
                rule, dot = pointer.rule, pointer.index
                origin = rule.origin.name
                if origin.startswith("$root_"):
                    if dot == len(rule.expansion):
                        items.append(_Item(origin, dot, 0, (), accept=True))
                    continue  # the start state: handled by its closure items below
                tail = [s.name for s in rule.expansion[dot:]]
                cost, terminals = self._tail_yield(tail)
                items.append(_Item(origin, dot, cost, terminals))
            if state == self._start_state:
                cost, terminals = self._tail_yield([self._start])
                items.append(_Item(self._start, 0, cost, terminals))
            kernels[state] = items
        return kernels

    def _tail_yield(self, symbols: list[str]) -> tuple[int, tuple[str, ...]]:
        cost, terminals = 0, list[str]()
        for symbol in symbols:
            c, ts = self._yields[symbol]
            cost += c
            terminals += ts
        return cost, tuple(terminals)

    def _parses(self, text: str) -> bool:
        stack, failed_at, _starts = self._lex(text)
        if failed_at is not None:
            return False
        current = list(stack)
        while current[-1] != self._end_state:  # reduce on end of input until the start rule is done
            action = self._states[current[-1]].get("$END")
            if action is None or action[0] is Shift:
                return False
            size = len(action[1].expansion)
            if size:
                del current[-size:]
            goto = self._states[current[-1]].get(action[1].origin.name)
            if goto is None:
                return False
            current.append(goto[1])
        return True


_INF = 1 << 60


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def _lark_warnings() -> Iterator[list[str]]:
    """Collect what Lark logs while building a parser (its conflicts), printing nothing."""
    logger = lark.logger
    capture = _Capture()
    level, handlers, propagate = logger.level, list(logger.handlers), logger.propagate
    logger.handlers, logger.propagate = [capture], False
    logger.setLevel(logging.WARNING)
    try:
        yield capture.messages
    finally:
        logger.handlers, logger.propagate = handlers, propagate
        logger.setLevel(level)


def lalr_view(text: str) -> str:
    """``text`` with each run of adjacent terminals in a rule merged into one terminal (same
    language; fewer, longer tokens), as Lark grammar text. See :meth:`Completer.from_grammar`.

    >>> print(lalr_view('start: "a" " " B\\nB: /[0-9]+/'))
    start: M_0
    M_0: /(?:a)(?:\\ )(?:[0-9]+)/
    """
    from lark.load_grammar import load_grammar

    try:
        grammar, _ = load_grammar(text, "<decoding grammar>", [], False)  # type: ignore[no-untyped-call]
        terminals, rules, ignored = grammar.compile(["start"], set())
    except LarkError as e:
        raise GrammarError(f"Lark cannot read the decoding grammar: {e}") from e
    if ignored:
        raise GrammarError(
            f"shortest completions need a grammar without %ignore (the decoding grammar): ignored {sorted(ignored)}"
        )
    patterns = {t.name: t.pattern for t in terminals}
    definitions: dict[str, str] = {}  # terminal name -> Lark definition
    merged: dict[str, str] = {}  # definition -> merged terminal name
    bodies: dict[str, list[str]] = {}

    def terminal(run: list[str]) -> str:
        if len(run) == 1:
            name = _name(run[0], terminal=True)
            definitions.setdefault(name, _definition(patterns[run[0]]))
            return name
        parts = [patterns[name] for name in run]
        if all(isinstance(p, PatternStr) and not p.flags for p in parts):
            definition = _string_literal("".join(p.value for p in parts))
        else:
            definition = "/" + _slashes("".join(f"(?:{_pattern_regex(p)})" for p in parts)) + "/"
        if definition not in merged:
            merged[definition] = f"M_{len(merged)}"
            definitions[merged[definition]] = definition
        return merged[definition]

    for rule in rules:
        symbols: list[str] = []
        run: list[str] = []
        for symbol in [*rule.expansion, None]:
            if symbol is not None and symbol.is_term:
                run.append(symbol.name)
                continue
            if run:
                symbols.append(terminal(run))
                run = []
            if symbol is not None:
                symbols.append(_name(symbol.name, terminal=False))
        bodies.setdefault(_name(rule.origin.name, terminal=False), []).append(" ".join(symbols))
    lines = [f"{name}: {' | '.join(alternatives)}" for name, alternatives in bodies.items()]
    lines += [f"{name}: {definition}" for name, definition in definitions.items()]
    return "\n".join(lines)


def _name(name: str, *, terminal: bool) -> str:
    """A name Lark's grammar syntax accepts (its own BNF names, ``__flow_star_0`` or
    ``__ANON_0``, are reserved): prefixed, which cannot collide with a name that needs none."""
    if terminal:
        return name if re.fullmatch(r"_?[A-Z][_A-Z0-9]*", name) else f"T{name}"
    return name if re.fullmatch(r"_?[a-z][_a-z0-9]*", name) else f"x{name}"


def _definition(pattern: Any) -> str:
    if isinstance(pattern, PatternStr) and not pattern.flags:
        return _string_literal(pattern.value)
    return "/" + _slashes(_pattern_regex(pattern)) + "/"


def _slashes(regex: str) -> str:
    """Escape the slashes a /regex/ literal would end at."""
    return re.sub(r"(?<!\\)/", r"\/", regex)


def _string_literal(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'


def _shortest_yields(rules: list[Any], terminal_text: dict[str, str]) -> dict[str, tuple[int, tuple[str, ...]]]:
    """Shortest terminal sequence (by characters) each symbol derives: a fixed point."""
    best: dict[str, tuple[int, tuple[str, ...]]] = {t: (len(s), (t,)) for t, s in terminal_text.items()}
    changed = True
    while changed:
        changed = False
        for rule in rules:
            total, sequence = 0, list[str]()
            for symbol in rule.expansion:
                known = best.get(symbol.name)
                if known is None:
                    break
                total += known[0]
                sequence += known[1]
            else:
                name = rule.origin.name
                if name not in best or total < best[name][0]:
                    best[name] = (total, tuple(sequence))
                    changed = True
    return best


def _pattern_regex(pattern: Any) -> str:
    if isinstance(pattern, PatternStr) and not pattern.flags:
        return re.escape(pattern.value)
    return str(pattern.to_regexp())


# -- a small NFA over Python's regex syntax tree ---------------------------------------------
# Lark's optional `interegular` would do this, but `dsl` depends on lark alone (stdlib + lark).
# stdlib, typed loosely (no stubs); the public `sre_parse` / `sre_constants` aliases warn.
_sre: Any = importlib.import_module("re._constants")
_sre_parse: Any = importlib.import_module("re._parser")

# Characters tried, in order, when a character class must be satisfied: the shortest string
# prefers lowercase letters and digits (likely single tokens), then everything printable.
_PREFERRED = "abcdefghijklmnopqrstuvwxyz0123456789_ABCDEFGHIJKLMNOPQRSTUVWXYZ" + "".join(
    chr(c) for c in range(32, 127) if not chr(c).isalnum() and chr(c) != "_"
) + "".join(chr(c) for c in range(0xA0, 0x250))


class _Literal:
    """A literal terminal: its extensions are its own suffixes (most terminals are literals)."""

    def __init__(self, value: str) -> None:
        self.value = value

    def shortest_extension(self, prefix: str) -> str | None:
        return self.value[len(prefix) :] if self.value.startswith(prefix) else None


def _terminal_matcher(pattern: Any) -> _Literal | _Regex:
    if isinstance(pattern, PatternStr) and not pattern.flags:
        return _Literal(pattern.value)
    return _Regex(_pattern_regex(pattern))


class _Regex:
    """A Thompson NFA for one terminal: which states each character reaches, and the shortest
    string that takes a given prefix to an accepting state (memoised per prefix)."""

    def __init__(self, regex: str) -> None:
        try:
            parsed = _sre_parse.parse(regex)
        except re.error as e:
            raise GrammarError(f"terminal regex /{regex}/ does not compile: {e}") from e
        self._edges: list[list[tuple[Callable[[str], bool] | None, int]]] = []
        ignore_case = bool(parsed.state.flags & re.IGNORECASE)
        self._start = self._new()
        self._accept = self._build(list(parsed), self._start, ignore_case)
        self._closure_cache: dict[frozenset[int], frozenset[int]] = {}
        self._answers: dict[str, str | None] = {}

    def shortest_extension(self, prefix: str) -> str | None:
        """Shortest ``s`` with ``prefix + s`` fully matched, or None."""
        if prefix in self._answers:
            return self._answers[prefix]
        if len(self._answers) > 4096:  # bounded: prefixes are the tails of programs
            self._answers.clear()
        found = self._search(prefix)
        self._answers[prefix] = found
        return found

    def _search(self, prefix: str) -> str | None:
        states = self._closure(frozenset([self._start]))
        for char in prefix:
            states = self._step(states, char)
            if not states:
                return None
        seen = {states}
        queue: deque[tuple[frozenset[int], str]] = deque([(states, "")])
        while queue:
            states, text = queue.popleft()
            if self._accept in states:
                return text
            for char in self._next_chars(states):
                following = self._step(states, char)
                if following and following not in seen:
                    seen.add(following)
                    queue.append((following, text + char))
        return None

    # -- construction -------------------------------------------------------------------
    def _new(self) -> int:
        self._edges.append([])
        return len(self._edges) - 1

    def _build(self, items: list[tuple[Any, Any]], start: int, ignore_case: bool) -> int:
        current = start
        for op, arg in items:
            current = self._build_one(op, arg, current, ignore_case)
        return current

    def _build_one(self, op: Any, arg: Any, start: int, ignore_case: bool) -> int:
        if op in (_sre.LITERAL, _sre.NOT_LITERAL, _sre.ANY, _sre.IN, _sre.CATEGORY):
            end = self._new()
            self._edges[start].append((_char_test(op, arg, ignore_case), end))
            return end
        if op is _sre.SUBPATTERN:
            _group, add_flags, del_flags, body = arg
            case = (ignore_case or bool(add_flags & re.IGNORECASE)) and not del_flags & re.IGNORECASE
            return self._build(list(body), start, case)
        if op is _sre.ATOMIC_GROUP:
            return self._build(list(arg), start, ignore_case)
        if op is _sre.BRANCH:
            end = self._new()
            for body in arg[1]:
                branch = self._new()
                self._edges[start].append((None, branch))
                self._edges[self._build(list(body), branch, ignore_case)].append((None, end))
            return end
        if op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT, _sre.POSSESSIVE_REPEAT):
            low, high, body = arg
            current = start
            for _ in range(low):
                current = self._build(list(body), current, ignore_case)
            if high is _sre.MAXREPEAT:
                loop = self._new()
                self._edges[current].append((None, loop))
                self._edges[self._build(list(body), loop, ignore_case)].append((None, loop))
                return loop
            end = self._new()
            self._edges[current].append((None, end))
            for _ in range(min(high, 1000) - low):
                current = self._build(list(body), current, ignore_case)
                self._edges[current].append((None, end))
            return end
        if op is _sre.AT:  # anchors: a terminal always matches a whole token
            return start
        raise GrammarError(f"regex construct {op} is not supported for completions")

    # -- simulation ---------------------------------------------------------------------
    def _closure(self, states: frozenset[int]) -> frozenset[int]:
        cached = self._closure_cache.get(states)
        if cached is not None:
            return cached
        found = set(states)
        todo = list(states)
        while todo:
            for test, target in self._edges[todo.pop()]:
                if test is None and target not in found:
                    found.add(target)
                    todo.append(target)
        result = frozenset(found)
        self._closure_cache[states] = result
        return result

    def _step(self, states: frozenset[int], char: str) -> frozenset[int]:
        moved = frozenset(t for s in states for test, t in self._edges[s] if test is not None and test(char))
        return self._closure(moved) if moved else moved

    def _next_chars(self, states: frozenset[int]) -> list[str]:
        chars: list[str] = []
        for state in sorted(states):
            for test, _target in self._edges[state]:
                if test is None:
                    continue
                char = next((c for c in _PREFERRED if test(c)), None)
                if char is not None and char not in chars:
                    chars.append(char)
        return chars


def _char_test(op: Any, arg: Any, ignore_case: bool) -> Callable[[str], bool]:
    def fold(test: Callable[[str], bool]) -> Callable[[str], bool]:
        if not ignore_case:
            return test
        return lambda c: test(c) or test(c.lower()) or test(c.upper())

    if op is _sre.LITERAL:
        return fold(_is(arg))
    if op is _sre.NOT_LITERAL:
        return fold(_is_not(arg))
    if op is _sre.ANY:
        return lambda c: c != "\n"
    if op is _sre.CATEGORY:
        return _category(arg)
    tests: list[Callable[[str], bool]] = []
    negate = False
    for kind, value in arg:
        if kind is _sre.NEGATE:
            negate = True
        elif kind is _sre.LITERAL:
            tests.append(_is(value))
        elif kind is _sre.RANGE:
            tests.append(_between(value[0], value[1]))
        elif kind is _sre.CATEGORY:
            tests.append(_category(value))
        else:
            raise GrammarError(f"regex class item {kind} is not supported for completions")
    member = fold(lambda c: any(t(c) for t in tests))
    return (lambda c: not member(c)) if negate else member


def _is(code: int) -> Callable[[str], bool]:
    return lambda c: ord(c) == code


def _is_not(code: int) -> Callable[[str], bool]:
    return lambda c: ord(c) != code and c != "\n"


def _between(low: int, high: int) -> Callable[[str], bool]:
    return lambda c: low <= ord(c) <= high


def _category(category: Any) -> Callable[[str], bool]:
    table: dict[Any, Callable[[str], bool]] = {
        _sre.CATEGORY_DIGIT: lambda c: c.isdigit(),
        _sre.CATEGORY_NOT_DIGIT: lambda c: not c.isdigit(),
        _sre.CATEGORY_SPACE: lambda c: c.isspace(),
        _sre.CATEGORY_NOT_SPACE: lambda c: not c.isspace(),
        _sre.CATEGORY_WORD: lambda c: c.isalnum() or c == "_",
        _sre.CATEGORY_NOT_WORD: lambda c: not (c.isalnum() or c == "_"),
    }
    if category not in table:
        raise GrammarError(f"regex category {category} is not supported for completions")
    return table[category]


__all__ = ["Completer"]
