"""A grammar compiled for one tokenizer: the llguidance grammar, a pristine matcher to copy per
request, the completer for the budget guarantee and the shortest program in tokens.

Compiled once per (tokenizer, grammar text) and cached on the Engine; every request gets its
own matcher copy (outlines PRs #1160 and #701 were bugs from shared stateful processors).
"""

from __future__ import annotations

import functools
import re
import threading
import weakref
from dataclasses import dataclass
from typing import Any

from dsl.completion import Completer
from dsl.errors import GrammarError
from engine.errors import ConstraintViolation, EngineError


@dataclass(frozen=True)
class CompiledGrammar:
    """Everything a request needs from one grammar."""

    text: str
    """The grammar in llguidance's Lark dialect."""
    completer: Completer
    shortest_program: str
    shortest_tokens: tuple[int, ...]
    """``shortest_program`` tokenized; its length is the smallest budget accepted."""
    _template: Any  # llguidance.LLMatcher in its initial state; only ever deep-copied

    def new_matcher(self) -> Any:
        """A fresh matcher for one request."""
        return self._template.deep_copy()


def compile_grammar(text: str, llg_tokenizer: Any) -> CompiledGrammar:
    """Validate ``text`` with llguidance, build the matcher template and the completer.

    Raises:
        GrammarError: when llguidance or the completer refuses the grammar, or the grammar's
            shortest program is not accepted by llguidance (a compiler bug, said plainly).
    """
    import llguidance

    grammar = llguidance.LLMatcher.grammar_from_lark(text)
    problem = llguidance.LLMatcher.validate_grammar(grammar, llg_tokenizer)
    if problem:
        raise GrammarError(f"llguidance refuses the decoding grammar: {problem}")
    # log_level=0: errors are read with get_error() after every step, never printed.
    template = llguidance.LLMatcher(llg_tokenizer, grammar, log_level=0)
    if template.is_error():
        raise GrammarError(f"llguidance cannot build a matcher for the decoding grammar: {template.get_error()}")
    completer = _completer(text)
    shortest = completer.shortest_program()
    tokens = tokenize_exact(llg_tokenizer, shortest)
    if tokens is None or not accepts_to_end(template.deep_copy(), tokens):
        raise GrammarError(
            f"the shortest program {shortest!r} is not accepted by llguidance under this grammar; "
            "the decoding grammar and its Lark reading disagree"
        )
    return CompiledGrammar(
        text=text, completer=completer, shortest_program=shortest,
        shortest_tokens=tuple(tokens), _template=template,
    )


@functools.lru_cache(maxsize=32)
def _completer(text: str) -> Completer:
    """Completers depend on the grammar only, not the tokenizer: shared by every engine (Lark's
    LALR construction takes ~1.5 s for the catalog-locked workflow grammar, ~20 ms for geoquery)."""
    return Completer.from_grammar(text)


_LLG_TOKENIZERS: weakref.WeakKeyDictionary[Any, dict[tuple[str, ...], Any]] = weakref.WeakKeyDictionary()
_LLG_LOCK = threading.Lock()
# A character class under * or + in a terminal regex: the body of a name, number or string.
_REPEATED_CLASS = re.compile(r"(?<!\\)(\[(?:\\.|[^\]\\])+\])(?:[*+]|\{\d+,\})")


def grammar_slices(text: str) -> tuple[str, ...]:
    """llguidance "slices" for a grammar: the character classes its terminals repeat
    (``[a-z .]`` in geoquery's ``'[a-z][a-z .]*'``), as token sets that llguidance can allow in
    one step inside such a terminal instead of walking the token trie. Measured on gold
    geoquery programs: mask p99 474 -> 141 µs with tekken, 296 -> 106 µs with SmolLM2."""
    found: list[str] = []
    for line in text.splitlines():
        name, _, definition = line.partition(":")
        if not name.strip().isupper() or "/" not in definition:
            continue
        for char_class in _REPEATED_CLASS.findall(definition):
            for slice_ in (f"{char_class}{{1,10}}", f"{char_class}+"):
                if slice_ not in found:
                    found.append(slice_)
    return tuple(found)


def llg_tokenizer_for(tokenizer: Any, slices: tuple[str, ...] = ()) -> Any:
    """The llguidance tokenizer of a Hugging Face fast tokenizer, built once per tokenizer object
    (0.3-0.7 s for SmolLM2's 49k vocabulary, 1.3-3 s for tekken's 131k) and shared by every
    engine that uses that object; ``slices`` (see :func:`grammar_slices`) are added to
    llguidance's general ones, once per set (0.2-0.8 s).

    Raises:
        EngineError: when the tokenizer is not a fast (Rust) tokenizer.
    """
    import llguidance

    with _LLG_LOCK:
        built = _LLG_TOKENIZERS.setdefault(tokenizer, {})
        if () not in built:
            import llguidance.hf

            try:
                built[()] = llguidance.hf.from_tokenizer(tokenizer)
            except ValueError as e:
                raise EngineError(f"llguidance needs a fast (Rust) tokenizer: {e}") from e
        if slices not in built:
            try:
                built[slices] = built[()].with_slices(list(llguidance.LLTokenizer.general_slices()) + list(slices))
            except (ValueError, RuntimeError):  # a class llguidance's regex syntax refuses: skip them
                built[slices] = built[()]
        return built[slices]


def tokenize_exact(llg_tokenizer: Any, text: str) -> list[int] | None:
    """Tokens whose bytes are exactly ``text`` (llguidance strips the sentencepiece space a
    tokenizer would glue to the first word), or None if no such tokenization was found."""
    if not text:
        return []
    data = text.encode("utf-8")
    tokens = list(llg_tokenizer.tokenize_bytes(data))
    if llg_tokenizer.decode_bytes(tokens) == data:
        return tokens
    # Byte-greedy over the vocabulary: at most one token per byte where every byte is a token.
    tokens = list(llg_tokenizer.greedy_tokenize(text))
    return tokens if llg_tokenizer.decode_bytes(tokens) == data else None


def accepts_to_end(matcher: Any, tokens: list[int]) -> bool:
    """True when ``matcher`` takes all of ``tokens`` and then accepts; the matcher is left as it
    was (validated first: a matcher never leaves an error state)."""
    if matcher.validate_tokens(tokens) != len(tokens):
        return False
    if not tokens:
        return bool(matcher.is_accepting())
    if not matcher.consume_tokens(tokens):
        raise ConstraintViolation(f"llguidance validated tokens it then refused: {matcher.get_error()}")
    accepting = bool(matcher.is_accepting())
    matcher.rollback(len(tokens))
    return accepting
