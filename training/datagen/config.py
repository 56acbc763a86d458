"""`DatagenConfig`: every knob of the NL→flow generator, with what moving it trades."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DatagenConfig:
    """Sizes, shape distribution and noise of the generated workflow dataset."""

    n: int = 12_000
    """Base-catalog pairs (the `iid` and `unseen_api` schemes split these)."""
    seed: int = 0
    tenant_pairs: int = 100
    """Pairs per tenant (contoso, fabrikam): half train, half test in the `tenant` scheme."""

    step_weights: tuple[int, ...] = (36, 26, 14, 9, 6, 4, 3, 2)
    # weights of 1..8 action steps; more mass on long flows: more composition to learn, but
    # longer sequences (median ~65 SmolLM2 tokens at these weights) and slower CPU training
    p_if: float = 0.22  # chance a statement is a condition; higher: more branching, longer flows
    p_loop: float = 0.14  # chance a statement is a loop (needs >= 2 steps left)
    p_else: float = 0.4  # chance a condition also gets an else branch
    p_compound: float = 0.1  # chance a condition joins two tests with && / ||
    p_same_connector: float = 0.15
    # chance a step uses a connector already in the flow (the trigger's, an earlier step's):
    # higher gives more coherent flows and more id-passing steps, lower more variety
    p_optional: float = 0.06  # chance each optional parameter is set; higher: longer calls
    p_text_ref: float = 0.45  # chance a text parameter takes an earlier output instead of a literal
    p_concat: float = 0.2  # chance such a reference gets a literal prefix ("New lead: " + lead.name)
    p_quote_entity: float = 0.3  # chance a name (channel, folder) is quoted in the request
    p_flow_name: float = 0.25  # chance the request names the flow (and the code carries the name)
    p_typo: float = 0.035  # chance a request carries one typo (never inside a value); issue: <= 5%

    iid_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    """train / valid / test of the `iid` scheme."""
    unseen_fraction: float = 0.08
    # share of base operations held out of `unseen_api` training; higher: a bigger, harder test
    # set and a smaller training set (a flow with any held-out operation is test-only)
    unseen_valid_fraction: float = 0.05
    """share of `unseen_api` training flows kept for validation."""

    flow_names: tuple[str, ...] = (
        "Invoice alerts", "Lead intake", "New hire setup", "Daily digest", "Ticket triage", "Order sync",
        "Backup files", "Weekly report", "Support escalation", "Deal tracker", "Signup welcome",
        "Expense log", "Release notes", "Meeting prep", "Form to CRM",
    )

    def __post_init__(self) -> None:
        problems = []
        if self.n < 1 or self.tenant_pairs < 0:
            problems.append(f"n must be >= 1 and tenant_pairs >= 0, got {self.n}, {self.tenant_pairs}")
        if len(self.step_weights) != 8 or min(self.step_weights) < 0 or sum(self.step_weights) == 0:
            problems.append(f"step_weights needs 8 non-negative weights (1..8 steps), got {self.step_weights}")
        if abs(sum(self.iid_fractions) - 1) > 1e-9 or min(self.iid_fractions) <= 0:
            problems.append(f"iid_fractions must be positive and sum to 1, got {self.iid_fractions}")
        for name in ("p_if", "p_loop", "p_else", "p_compound", "p_same_connector", "p_optional", "p_text_ref", "p_concat",
                     "p_quote_entity", "p_flow_name", "p_typo", "unseen_fraction", "unseen_valid_fraction"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                problems.append(f"{name} must be in [0, 1], got {value}")
        if self.p_if + self.p_loop > 1:
            problems.append(f"p_if + p_loop must be <= 1, got {self.p_if + self.p_loop}")
        if self.p_typo > 0.05:
            problems.append(f"p_typo must be <= 0.05 (at most 5% of requests carry a typo), got {self.p_typo}")
        if problems:
            raise ValueError("DatagenConfig: " + "; ".join(problems))
