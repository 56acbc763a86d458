"""Typos in requests: one slip in one word, never inside a value (values must stay copyable)."""

from __future__ import annotations

import random
import re

_VALUE = re.compile(r"\x01[^\x02]*\x02")
_WORD = re.compile(r"[A-Za-z]{4,}")
_NEIGHBOURS = {
    "a": "qsz", "b": "vgn", "c": "xdv", "d": "sfe", "e": "wrd", "f": "dgr", "g": "fht", "h": "gjy",
    "i": "uok", "j": "hku", "k": "jli", "l": "ko", "m": "nj", "n": "bmh", "o": "ipl", "p": "ol",
    "q": "wa", "r": "etf", "s": "adw", "t": "ryg", "u": "yij", "v": "cbf", "w": "qes", "x": "zcs",
    "y": "tuh", "z": "xa",
}


def add_typo(marked: str, rng: random.Random) -> str:
    """``marked`` (see training.datagen.render) with one typo in a word outside every value.

    The slip is a swap of two inner letters, a dropped or doubled letter, or a neighbouring key.
    Text without a word of four letters outside values comes back unchanged.
    """
    protected = [m.span() for m in _VALUE.finditer(marked)]
    words = [m for m in _WORD.finditer(marked)
             if not any(a <= m.start() < b for a, b in protected)]
    if not words:
        return marked
    word = rng.choice(words)
    w = word.group()
    i = rng.randrange(1, len(w) - 2)
    kind = rng.randrange(4)
    if kind == 0:
        slipped = w[:i] + w[i + 1] + w[i] + w[i + 2:]
    elif kind == 1:
        slipped = w[:i] + w[i + 1:]
    elif kind == 2:
        slipped = w[:i] + w[i] + w[i:]
    else:
        near = _NEIGHBOURS.get(w[i].lower(), w[i])
        slipped = w[:i] + rng.choice(near) + w[i + 1:]
    if slipped == w:  # a swap of two equal letters changes nothing: drop one instead
        slipped = w[:i] + w[i + 1:]
    return marked[: word.start()] + slipped + marked[word.end():]
