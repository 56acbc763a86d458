"""Metrics of the field, in pure Python: exact match, execution match, parse rate, hallucinated
API names and parameter keys, API-sequence similarity. Evaluation (``training/``) builds on these.

>>> import dsl
>>> from dsl.metrics import sequence_similarity
>>> sequence_similarity(["a.x", "b.y", "c.z"], ["a.x", "c.z"])
0.6666666666666666
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dsl.errors import DSLError, DSLSyntaxError

if TYPE_CHECKING:
    from dsl.language import DSL


def parses(language: DSL, text: str) -> bool:
    """True when ``text`` parses under the DSL's grammar."""
    return language.is_valid_syntax(text)


def exact_match(language: DSL, predicted: str, gold: str) -> bool:
    """Canonical exact match: the same program up to formatting (False if either does not parse)."""
    try:
        return language.equal(predicted, gold)
    except DSLSyntaxError:
        return False


def execution_match(language: DSL, predicted: str, gold_answer: Any) -> bool:
    """The predicted program runs and its answer equals the gold answer.

    Equality is the DSL's own (``support.answers_match``) where it defines one, else ``==``.
    """
    try:
        answer = language.execute(predicted)
    except DSLError:
        return False
    same: Callable[[Any, Any], bool] = getattr(language.support, "answers_match", lambda a, b: a == b)
    return bool(same(answer, gold_answer))


def hallucinated_names(language: DSL, predicted: str) -> list[str]:
    """Function/API names the program uses that the catalog does not define (``[]`` without catalog)."""
    known = language.support.known_apis()
    if known is None:
        return []
    return [name for name in language.api_calls(predicted) if name not in known]


def hallucinated_keys(language: DSL, predicted: str) -> list[tuple[str, str]]:
    """(api, key) pairs whose API exists but does not take that parameter key."""
    out = []
    for api, key in language.param_keys(predicted):
        allowed = language.support.known_params(api)
        if allowed is not None and key not in allowed:
            out.append((api, key))
    return out


def sequence_similarity(predicted: Sequence[str], gold: Sequence[str]) -> float:
    """Normalised longest common subsequence of two API-name sequences: LCS / max length.

    1.0 for identical sequences (and for two empty ones), 0.0 when nothing is shared.
    """
    if not predicted and not gold:
        return 1.0
    previous = [0] * (len(gold) + 1)
    for p in predicted:
        current = [0]
        for j, g in enumerate(gold):
            current.append(previous[j] + 1 if p == g else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1] / max(len(predicted), len(gold))


@dataclass(frozen=True)
class ProgramScore:
    """Every metric for one prediction."""

    parsed: bool
    exact: bool
    executed: bool | None
    """None when there is no gold answer to compare with."""
    hallucinated_names: tuple[str, ...]
    hallucinated_keys: tuple[tuple[str, str], ...]
    similarity: float


def score(language: DSL, predicted: str, gold: str, *, gold_answer: Any = None) -> ProgramScore:
    """Score one prediction against its gold program (and gold answer, where the DSL executes)."""
    gold_calls = language.api_calls(gold)
    return ProgramScore(
        parsed=parses(language, predicted),
        exact=exact_match(language, predicted, gold),
        executed=None if gold_answer is None else execution_match(language, predicted, gold_answer),
        hallucinated_names=tuple(hallucinated_names(language, predicted)),
        hallucinated_keys=tuple(hallucinated_keys(language, predicted)),
        similarity=sequence_similarity(language.api_calls(predicted), gold_calls),
    )


def summarise(scores: Sequence[ProgramScore]) -> dict[str, float]:
    """Rates over many predictions, in percent (similarity as a mean in [0, 1])."""
    n = len(scores)
    if n == 0:
        return {"n": 0}
    executed = [s.executed for s in scores if s.executed is not None]
    summary = {
        "n": n,
        "exact_match": 100.0 * sum(s.exact for s in scores) / n,
        "parse_rate": 100.0 * sum(s.parsed for s in scores) / n,
        "hallucinated_names": 100.0 * sum(bool(s.hallucinated_names) for s in scores) / n,
        "hallucinated_keys": 100.0 * sum(bool(s.hallucinated_keys) for s in scores) / n,
        "similarity": sum(s.similarity for s in scores) / n,
    }
    if executed:
        summary["execution_accuracy"] = 100.0 * sum(executed) / len(executed)
    return summary
