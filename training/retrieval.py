"""The retrieval few-shot baseline: for each question, the k most similar training pairs.

This is the older production approach the fine-tuned adapter is compared against: no training,
the same base model, and the retrieved pairs go into the ONE prompt function
(``engine.prompting.build_prompt(..., examples=...)``) as demonstrations.

BM25 (Okapi, ``rank-bm25``) over lower-cased word tokens of the NL side. Ties are broken by
training order, so retrieval is deterministic.

>>> r = BM25Retriever([{"text": "rivers in texas", "code": "a"}, {"text": "capital of ohio", "code": "b"}])
>>> [row["code"] for row in r.retrieve("what is the capital of texas", k=1)]
['b']
"""

from __future__ import annotations

import re
from typing import Any

from training.errors import DataError

_WORD = re.compile(r"\w+")


def tokenize_words(text: str) -> list[str]:
    """Lower-cased word tokens (the BM25 vocabulary)."""
    return _WORD.findall(text.lower())


class BM25Retriever:
    """BM25 over the ``text`` field of training rows.

    Args:
        rows: training rows with ``text`` and ``code``.
        k1, b: the usual BM25 parameters (rank-bm25 defaults).
    """

    def __init__(self, rows: list[dict[str, Any]], *, k1: float = 1.5, b: float = 0.75) -> None:
        if not rows:
            raise DataError("retrieval needs at least one training row; the training split is empty")
        from rank_bm25 import BM25Okapi

        self.rows = list(rows)
        # rank-bm25 divides by the mean document length: an all-empty corpus must not reach it.
        corpus = [tokenize_words(r["text"]) or ["<empty>"] for r in self.rows]
        self._bm25 = BM25Okapi(corpus, k1=k1, b=b)

    def scores(self, question: str) -> list[float]:
        return [float(s) for s in self._bm25.get_scores(tokenize_words(question))]

    def retrieve(self, question: str, *, k: int, exclude_text: bool = True) -> list[dict[str, Any]]:
        """The ``k`` best rows, best first.

        Args:
            question: the NL query.
            k: how many; fewer when the corpus is smaller.
            exclude_text: skip rows whose text equals the question (a test question must not see
                its own answer when the pool and the test set overlap).
        """
        if k < 0:
            raise DataError(f"--rag must be >= 0, got {k}")
        scores = self.scores(question)
        order = sorted(range(len(self.rows)), key=lambda i: (-scores[i], i))
        wanted = question.strip().lower()
        picked = []
        for i in order:
            if len(picked) == k:
                break
            if exclude_text and self.rows[i]["text"].strip().lower() == wanted:
                continue
            picked.append(self.rows[i])
        return picked
