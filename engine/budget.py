"""One request's decoding state and the budget guarantee. Both decoding paths (the fast loop and
the Outlines processor) make every decision here, so they produce the same tokens.

The guarantee: a request always holds a *plan* — tokens that finish the program from where it
stands, checked by the llguidance matcher — no longer than the tokens it has left.

* Initially the plan is the grammar's shortest program (``BudgetTooSmall`` if it does not fit).
* When the tokens left equal the plan's length, the plan is forced and decoding ends.
* Otherwise the model's best candidate (best first, all allowed by the grammar mask) is taken
  only if a new plan from the text after it still fits in one token less; else the next
  candidate is tried, and if none fits the plan's first token is taken (its rest still fits).
* llguidance fast-forward tokens (bytes the grammar forces) are taken when a plan still fits.

So the matcher accepts the text when decoding ends, whatever the model does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from engine.constraint import CompiledGrammar, tokenize_exact
from engine.errors import ConstraintViolation

FinishReason = Literal["stop", "budget"]


class RequestState:
    """The matcher, plan, budget and text of one request (one row of a batch)."""

    def __init__(self, grammar: CompiledGrammar, llg_tokenizer: Any, *, max_new_tokens: int) -> None:
        self.grammar = grammar
        self.llg = llg_tokenizer
        self.matcher = grammar.new_matcher()
        self._check("start")
        self.plan: list[int] = list(grammar.shortest_tokens)
        self.remaining = max_new_tokens
        self.tokens: list[int] = []
        self.data = bytearray()
        self.n_budget_forced = 0
        """Tokens the engine chose to fit the budget (plan tokens instead of the model's)."""
        self.n_fast_forward = 0
        """Tokens the grammar forced (llguidance fast-forward)."""
        self.n_rejected = 0
        """Model candidates refused because the program could not be finished in budget."""
        self.finish_reason: FinishReason | None = None
        self._engine_closed = False
        self._eos = set(llg_tokenizer.eos_tokens) | {llg_tokenizer.eos_token}
        if len(self.plan) > self.remaining:  # callers check first; this is the invariant
            raise ConstraintViolation(f"budget {max_new_tokens} is below the shortest program ({len(self.plan)} tokens)")

    @property
    def done(self) -> bool:
        return self.finish_reason is not None

    @property
    def eos_token(self) -> int:
        return int(self.llg.eos_token)

    def text(self) -> str:
        """The decoded program so far (UTF-8; an unfinished character shows as U+FFFD)."""
        return bytes(self.data).decode("utf-8", errors="replace")

    # -- the two decisions ----------------------------------------------------------------
    def take_forced(self) -> list[int]:
        """Tokens to append now without asking the model: the whole plan when the budget is
        down to it, or the grammar's fast-forward tokens. They are committed on return."""
        taken: list[int] = []
        while not self.done:
            if self.matcher.is_stopped():
                self._finish()
                break
            if len(self.plan) >= self.remaining:
                plan = self.plan
                self._commit(plan)
                self.plan = []
                self.n_budget_forced += len(plan)
                taken += plan
                self._engine_closed = True
                if not self.matcher.is_accepting():
                    raise ConstraintViolation(
                        f"the forced completion left the program unfinished: {self.text()!r}"
                    )
                self._finish()
                break
            forward = list(self.matcher.compute_ff_tokens())
            if not forward or not self._try_take(forward):
                break
            self.n_fast_forward += len(forward)
            taken += forward
        return taken

    def choose(self, candidates: Iterable[int]) -> int:
        """Take the first candidate (best first) that keeps the program finishable within the
        budget; committed on return. EOS ends the request."""
        for token in candidates:
            token = int(token)
            if token in self._eos:
                if self.matcher.is_accepting():
                    self._finish()
                    return token
                continue
            if self._try_take([token]):
                self._after_choice()
                return token
            self.n_rejected += 1
        if not self.plan:  # complete program, and no continuation fits: close it
            self._engine_closed = True
            self._finish()
            return self.eos_token
        token = self.plan[0]
        self._engine_closed = True
        self.n_budget_forced += 1
        self._commit([token])
        self.plan = self.plan[1:]
        self._after_choice()
        return token

    # -- internals ----------------------------------------------------------------------------
    def _try_take(self, tokens: list[int]) -> bool:
        """Commit ``tokens`` if a plan from the text after them fits the remaining budget."""
        if self.plan[: len(tokens)] == tokens:  # the plan's own path: its rest still fits
            self._commit(tokens)
            self.plan = self.plan[len(tokens) :]
            return True
        if len(tokens) > self.remaining or self.matcher.validate_tokens(tokens) != len(tokens):
            return False
        self._commit(tokens)
        plan = self._plan_from_here()
        if plan is not None and len(plan) <= self.remaining:
            self.plan = plan
            return True
        self._uncommit(len(tokens))
        return False

    def _plan_from_here(self) -> list[int] | None:
        try:
            text = bytes(self.data).decode("utf-8")
        except UnicodeDecodeError:  # inside a character: no plan from here, refuse the token
            return None
        suffix = self.grammar.completer.complete(text)
        if suffix is None:
            return None
        tokens = tokenize_exact(self.llg, suffix)
        # The matcher must take every token (llguidance's greedy lexer is the ground truth);
        # that it then accepts is checked when a plan is forced (consuming each plan here to
        # check it, then rolling back, costs ~4x as much and has never disagreed with Lark).
        if tokens is None or self.matcher.validate_tokens(tokens) != len(tokens):
            return None
        return tokens

    def _after_choice(self) -> None:
        if self.matcher.is_stopped():
            self._finish()
        elif self.remaining == 0:  # only reachable with an empty plan: the program is complete
            self._engine_closed = True
            self._finish()

    def _commit(self, tokens: list[int]) -> None:
        if not self.matcher.consume_tokens(tokens):
            self._check("consume")
        self._check("consume")
        self.tokens += tokens
        self.data += self.llg.decode_bytes(tokens)
        self.remaining -= len(tokens)

    def _uncommit(self, count: int) -> None:
        if not self.matcher.rollback(count):
            raise ConstraintViolation(f"llguidance could not roll back {count} token(s): {self.matcher.get_error()}")
        removed = self.tokens[-count:]
        del self.tokens[-count:]
        del self.data[len(self.data) - len(self.llg.decode_bytes(removed)) :]
        self.remaining += count

    def _check(self, where: str) -> None:
        if self.matcher.is_error():
            raise ConstraintViolation(
                f"the grammar matcher failed at {where} after {len(self.tokens)} token(s) "
                f"(text so far {self.text()!r}): {self.matcher.get_error()}"
            )

    def _finish(self) -> None:
        if not self.matcher.is_accepting():
            raise ConstraintViolation(f"decoding ended on an unfinished program: {self.text()!r}")
        self.finish_reason = "budget" if self._engine_closed else "stop"
