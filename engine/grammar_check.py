"""`dslforge grammar check`: prove that Lark and the llguidance decoding grammar agree.

For every string tried, the reference answer is *decodable(s)*: Lark parses ``s`` and ``s`` is
canonical (``format(s) == s``; one leading space allowed, which tokenizers glue to the first
word) — plus, for a catalog-locked grammar, the program passes the catalog lock. The other side
walks an llguidance matcher token by token, with real tokenizers, the way generation feeds it.
Strings come from three sources: the DSL's data, samples drawn from the Lark grammar
(hypothesis), and near misses (mutations of valid programs). Any disagreement is reported with
the string, the side that rejects it and the terminal involved.
"""

from __future__ import annotations

import functools
import random
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import dsl
from dsl import DSL, DSLSyntaxError

# Generation continues a prompt; a newline before the program is what our prompts end with.
_PROMPT = "Q: which state?\nA:\n"
Source = Literal["data", "sample", "near-miss"]


@dataclass(frozen=True)
class Disagreement:
    """One string on which Lark (reference) and llguidance differ."""

    source: Source
    tokenizer: str
    text: str
    rejected_by: Literal["lark", "llguidance"]
    terminal: str
    detail: str

    def __str__(self) -> str:
        return (f"[{self.source}/{self.tokenizer}] {self.rejected_by} rejects {self.text!r} "
                f"(terminal {self.terminal}): {self.detail}")


@dataclass
class CheckReport:
    """Counts per source and tokenizer, and every disagreement."""

    dsl: str
    variant: str
    checked: Counter[str] = field(default_factory=Counter)
    accepted: Counter[str] = field(default_factory=Counter)
    disagreements: list[Disagreement] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.disagreements

    def summary(self) -> list[tuple[str, int, int, int]]:
        """(source/tokenizer, strings checked, accepted by both, disagreements)."""
        wrong = Counter(f"{d.source}/{d.tokenizer}" for d in self.disagreements)
        return [(key, self.checked[key], self.accepted[key], wrong[key]) for key in sorted(self.checked)]


class _Walker:
    """Feeds token ids to one reusable llguidance matcher."""

    def __init__(self, name: str, grammar_text: str) -> None:
        import llguidance
        import llguidance.hf

        from engine.assets import load_reference_tokenizer

        self.name = name
        self.tokenizer = load_reference_tokenizer(name)
        self.ll_tokenizer = llguidance.hf.from_tokenizer(self.tokenizer)
        grammar = llguidance.grammar_from("lark", grammar_text)
        error = llguidance.LLMatcher.validate_grammar(grammar, self.ll_tokenizer)
        if error:
            raise dsl.GrammarError(f"llguidance refuses the decoding grammar: {error}")
        self.matcher = llguidance.LLMatcher(self.ll_tokenizer, grammar, log_level=0)
        if self.matcher.is_error():
            raise dsl.GrammarError(f"llguidance matcher error: {self.matcher.get_error()}")
        self._prompt_ids = self.tokenizer.encode(_PROMPT, add_special_tokens=False)

    def tokenizations(self, text: str) -> list[list[int]]:
        """The program alone, and as the continuation of a prompt."""
        alone = self.tokenizer.encode(text, add_special_tokens=False)
        full = self.tokenizer.encode(_PROMPT + text, add_special_tokens=False)
        n = len(self._prompt_ids)
        continued = full[n:] if full[:n] == self._prompt_ids else alone
        return [alone] if continued == alone else [alone, continued]

    def spelled(self, ids: list[int]) -> str | None:
        """The text the tokens spell; None when the bytes are not UTF-8 (never a program)."""
        try:
            return bytes(self.ll_tokenizer.decode_bytes(ids)).decode("utf-8")
        except UnicodeDecodeError:
            return None

    def accepts(self, ids: list[int]) -> tuple[bool, int]:
        """(accepted, index of the first refused token or len(ids))."""
        self.matcher.reset()
        n = self.matcher.validate_tokens(ids)
        if n < len(ids):
            return False, n
        self.matcher.consume_tokens(ids)
        return self.matcher.is_accepting() and not self.matcher.is_error(), n


def check_grammar(
    target: DSL | str,
    *,
    tokenizers: Iterable[str] = ("smollm2", "mistral-v1"),
    n_samples: int = 1000,
    n_near_misses: int = 1000,
    seed: int = 0,
    locked: bool = False,
    limit_data: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> CheckReport:
    """Run every check; see the module docstring.

    Args:
        target: a loaded DSL, a name under ``grammars/`` or a folder.
        tokenizers: reference tokenizer names (see ``engine.assets.REFERENCE_TOKENIZERS``).
        locked: check the catalog-locked decoding grammar (DSLs whose support provides one).

    Returns:
        The report; ``report.ok`` is False when any string is judged differently.
    """
    language = target if isinstance(target, DSL) else dsl.load(target)
    grammar_text, is_locked_ok = _variant(language, locked)
    report = CheckReport(dsl=language.name, variant="locked" if locked else "base")

    @functools.lru_cache(maxsize=None)
    def decodable(text: str | None) -> bool:
        if text is None:
            return False
        body = text[1:] if text.startswith(" ") else text
        try:
            canonical = language.format(body)
        except DSLSyntaxError:
            return False
        return canonical == body and is_locked_ok(body)

    programs = _data_programs(language, limit_data)
    samples = sample_programs(language, n_samples, seed)
    canonical_pool = [p for p in programs + samples if decodable(p)] or programs
    near_misses = _near_misses(language, canonical_pool, n_near_misses, seed)
    say = progress or (lambda _msg: None)
    for name in tokenizers:
        say(f"{language.name}: tokenizer {name}")
        walker = _Walker(name, grammar_text)
        for source, texts in (("data", programs), ("sample", samples), ("near-miss", near_misses)):
            key = f"{source}/{name}"
            for text in texts:
                for ids in walker.tokenizations(text):
                    spelled = walker.spelled(ids)
                    expected = decodable(spelled)
                    got, stop = walker.accepts(ids)
                    report.checked[key] += 1
                    report.accepted[key] += int(got and expected)
                    if got != expected:
                        report.disagreements.append(
                            _explain(language, source, name, spelled or repr(text), walker, ids, stop, got)  # type: ignore[arg-type]
                        )
    return report


def _variant(language: DSL, locked: bool) -> tuple[str, Callable[[str], bool]]:
    if not locked:
        return language.decoding_grammar(), lambda _text: True
    support: Any = language.support
    if not hasattr(support, "locked_decoding_grammar"):
        raise dsl.GrammarError(f"DSL '{language.name}' has no catalog-locked decoding grammar")
    lock_ok: Callable[[Any], bool] = support.is_lock_valid
    return support.locked_decoding_grammar(), lambda text: lock_ok(language.parse(text))


def _data_programs(language: DSL, limit: int | None) -> list[str]:
    rows = language.examples()
    codes = []
    for row in rows[:limit] if limit else rows:
        try:
            codes.append(language.format(row["code"]))
        except DSLSyntaxError:
            codes.append(row["code"])  # kept: Lark's refusal then shows as a disagreement
    return codes


def sample_programs(language: DSL, n: int, seed: int) -> list[str]:
    """``n`` distinct programs drawn from the Lark grammar with hypothesis, in canonical form.

    Hypothesis repeats small programs often; rounds with new seeds continue until ``n`` distinct
    programs are found (or six rounds have run).
    """
    if n <= 0:
        return []
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis.extra.lark import from_lark

    from hypothesis import strategies as st

    # Ignored terminals (comments, whitespace) become one space: a drawn `// comment` would
    # otherwise swallow the rest of the program.
    ignored = {name: st.just(" ") for name in language.lark.ignore_tokens}
    strategy = from_lark(language.lark, start=language.spec.start, explicit=ignored)
    distinct: dict[str, None] = {}
    for round_ in range(6):
        drawn: list[str] = []

        @hypothesis_seed(seed * 1000 + round_)
        @settings(max_examples=n, database=None, deadline=None,
                  suppress_health_check=list(HealthCheck), phases=["generate"])
        @given(strategy)
        def draw(program: str) -> None:
            drawn.append(program)

        draw()
        for program in drawn:
            try:
                distinct.setdefault(language.format(program))
            except DSLSyntaxError:
                distinct.setdefault(program)  # Lark refuses its own sample: reported as a disagreement
        if len(distinct) >= n:
            break
    return list(distinct)[:n]


def _near_misses(language: DSL, pool: list[str], n: int, seed: int) -> list[str]:
    """Mutations of valid programs: delete/insert/swap characters, drop/duplicate/replace tokens."""
    rng = random.Random(seed)
    alphabet = sorted({c for p in pool for c in p} | {" ", "\n"})
    collisions = _keyword_collisions(language)
    out: list[str] = []
    while len(out) < n and pool:
        text = rng.choice(pool)
        kind = rng.randrange(7)
        if kind == 6:  # a keyword where a pattern token stands: Lark lexes it as the keyword
            tokens = [t for t in language.tokens(text) if t.type in collisions]
            if not tokens:
                continue
            token = rng.choice(tokens)
            start, end = token.start_pos or 0, token.end_pos or 0
            out.append(text[:start] + rng.choice(collisions[token.type]) + text[end:])
            continue
        if kind < 3 or len(text) < 2:
            i = rng.randrange(len(text) + 1)
            if kind == 0 and text:
                i = min(i, len(text) - 1)
                mutant = text[:i] + text[i + 1 :]
            elif kind == 1 or len(text) < 2:
                mutant = text[:i] + rng.choice(alphabet) + text[i:]
            else:
                i = min(i, len(text) - 2)
                mutant = text[:i] + text[i + 1] + text[i] + text[i + 2 :]
        else:
            tokens = [str(t) for t in language.tokens(text)]
            spans = _token_spans(text, tokens)
            j = rng.randrange(len(spans))
            start, end = spans[j]
            if kind == 3:
                mutant = text[:start] + text[end:]
            elif kind == 4:
                mutant = text[:end] + text[start:end] + text[end:]
            else:
                mutant = text[:start] + rng.choice(tokens) + text[end:]
        if mutant.strip():
            out.append(mutant)
    return out


def _keyword_collisions(language: DSL) -> dict[str, list[str]]:
    """For each pattern terminal, the grammar's literals it also matches (``let`` vs ``NAME``)."""
    import re

    from lark.lexer import PatternRE, PatternStr

    literals = [t.pattern.value for t in language.lark.terminals if isinstance(t.pattern, PatternStr)]
    found: dict[str, list[str]] = {}
    for terminal in language.lark.terminals:
        if isinstance(terminal.pattern, PatternRE):
            regex = re.compile(terminal.pattern.to_regexp())
            hits = [lit for lit in literals if regex.fullmatch(lit)]
            if hits:
                found[terminal.name] = hits
    return found


def _token_spans(text: str, tokens: list[str]) -> list[tuple[int, int]]:
    spans, cursor = [], 0
    for token in tokens:
        start = text.find(token, cursor)
        spans.append((start, start + len(token)))
        cursor = start + len(token)
    return spans


def _explain(
    language: DSL, source: Source, tokenizer: str, text: str, walker: _Walker, ids: list[int], stop: int, got: bool
) -> Disagreement:
    if got:  # llguidance accepted what the reference refuses
        try:
            body = text[1:] if text.startswith(" ") else text
            canonical = language.format(body)
            detail = f"not canonical; canonical form is {canonical!r}" if canonical != body else "fails the catalog lock"
            terminal = "-"
        except DSLSyntaxError as e:
            detail = str(e).splitlines()[0]
            terminal = ", ".join(e.expected[:5]) or "-"
        return Disagreement(source, tokenizer, text, "lark", terminal, detail)
    offset = len(bytes(walker.ll_tokenizer.decode_bytes(ids[:stop])).decode("utf-8", "replace"))
    terminal = "end of input" if stop >= len(ids) else _terminal_at(language, text, offset)
    where = "at end (not accepting)" if stop >= len(ids) else f"at token {stop} ({bytes(walker.ll_tokenizer.decode_bytes(ids[stop:stop + 1]))!r}, char {offset})"
    return Disagreement(source, tokenizer, text, "llguidance", terminal, f"refused {where}")


def _terminal_at(language: DSL, text: str, offset: int) -> str:
    body = text[1:] if text.startswith(" ") else text
    shift = len(text) - len(body)
    try:
        for token in language.tokens(body):
            if token.start_pos is not None and token.start_pos <= offset - shift < (token.end_pos or 0) + 1:
                return token.type
    except DSLSyntaxError:
        pass
    return "?"
