"""engine: natural language to programs that always parse — a Hugging Face model (plus peft
adapters) under a DSL's decoding grammar (llguidance), with a token-budget guarantee.

``import engine`` is cheap: torch, transformers and outlines load on first use.

>>> from engine import Engine                                    # doctest: +SKIP
>>> Engine.load(dsl="geoquery").generate("which states border texas?").code  # doctest: +SKIP
"answer(state(next_to_2(stateid('texas'))))"
"""

from engine.engine import Engine, Generation, Timings
from engine.errors import BudgetTooSmall, ConstraintViolation, EngineError
from engine.prompting import build_prompt
from engine.remote import RemoteEngine

__all__ = [
    "BudgetTooSmall",
    "ConstraintViolation",
    "Engine",
    "EngineError",
    "Generation",
    "RemoteEngine",
    "Timings",
    "build_prompt",
]
