"""The one place where prompts are built. Generation and training both call :func:`build_prompt`,
so a model is always asked the way it was trained (litgpt #1603 shows the drift otherwise)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from engine.errors import EngineError

if TYPE_CHECKING:
    from dsl import DSL

Example = tuple[str, str] | Mapping[str, Any]
"""A few-shot example: a ``(text, code)`` pair or a data row with ``text`` and ``code``."""


def build_prompt(dsl: DSL, text: str, *, tokenizer: Any, examples: Sequence[Example] = ()) -> str:
    """The prompt for one request, ending where the program must begin.

    Zero-shot prompts hold only the DSL's instruction and the question: a fine-tuned model has
    learned the conventions from its data, and every prompt token costs prefill time. With
    few-shot examples (an untuned model, the retrieval baseline) the ``hints`` of
    ``dsl.toml [prompt]`` are added, then each example as a question/answer turn.

    Where the tokenizer has a chat template the prompt is a chat (system: instruction; user:
    question; the assistant turn is opened); otherwise plain ``Q:``/``A:`` lines. The training
    text of a pair is ``build_prompt(...) + code + eos``.

    Args:
        dsl: the language (its ``spec.prompt`` supplies instruction and hints).
        text: the natural-language request.
        tokenizer: a Hugging Face tokenizer; only its chat template is used.
        examples: few-shot ``(text, code)`` pairs or rows with ``text`` and ``code``.

    Returns:
        The prompt string (special tokens included as text where the template has them).

    Raises:
        EngineError: when ``text`` is empty or an example lacks ``text``/``code``.

    >>> import dsl
    >>> print(build_prompt(dsl.load("geoquery"), "which states border texas?", tokenizer=None))
    Translate the question about US geography into a FunQL query.
    Q: which states border texas?
    A:
    """
    question = _one_line(text, "text")
    pairs = [_pair(e, i) for i, e in enumerate(examples)]
    system = dsl.spec.prompt.instruction.strip()
    if pairs and dsl.spec.prompt.hints.strip():
        system = f"{system}\n{dsl.spec.prompt.hints.strip()}".strip()
    if getattr(tokenizer, "chat_template", None):
        return _chat(tokenizer, system, pairs, question)
    lines = [system] if system else []
    for q, a in pairs:
        lines += [f"Q: {q}", f"A: {a}"]
    lines += [f"Q: {question}", "A:"]
    return "\n".join(lines)


def _chat(tokenizer: Any, system: str, pairs: list[tuple[str, str]], question: str) -> str:
    turns: list[dict[str, str]] = []
    for q, a in pairs:
        turns += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
    turns.append({"role": "user", "content": question})
    # A system turn replaces template defaults such as SmolLM2's "You are a helpful AI
    # assistant named SmolLM..." (15 tokens of prefill that say nothing about the task).
    messages = ([{"role": "system", "content": system}] if system else []) + turns
    try:
        return str(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
    except Exception:  # jinja TemplateError: some templates (Mistral) refuse a system role
        if not system:
            raise
    turns[0] = {"role": "user", "content": f"{system}\n\n{turns[0]['content']}"}
    return str(tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=True))


def _one_line(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise EngineError(f"`{name}` must be a non-empty string, got {value!r}")
    # Newlines would read as new Q:/A: turns in the plain format.
    return " ".join(value.split())


def _pair(example: Example, index: int) -> tuple[str, str]:
    if isinstance(example, Mapping):
        if "text" not in example or "code" not in example:
            raise EngineError(f"examples[{index}] needs keys 'text' and 'code', got {sorted(example)}")
        return _one_line(example["text"], f"examples[{index}].text"), _one_line(example["code"], f"examples[{index}].code")
    if isinstance(example, (tuple, list)) and len(example) == 2:
        return _one_line(example[0], f"examples[{index}][0]"), _one_line(example[1], f"examples[{index}][1]")
    raise EngineError(f"examples[{index}] must be a (text, code) pair or a row with 'text' and 'code', got {example!r}")


def prompt_token_ids(tokenizer: Any, prompt: str) -> list[int]:
    """The one tokenization of a prompt from :func:`build_prompt`.

    A chat-templated prompt already holds its special tokens as text, so none are added
    (adding them again doubles the BOS of Mistral-style templates); a plain prompt gets the
    tokenizer's usual ones.
    """
    add_special = not getattr(tokenizer, "chat_template", None)
    return list(tokenizer(prompt, add_special_tokens=add_special)["input_ids"])
