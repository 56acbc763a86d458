"""One place for the third-party warnings we cannot fix (the suite turns warnings into errors)."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator


@contextlib.contextmanager
def third_party_warnings() -> Iterator[None]:
    """Silence the FutureWarning that peft and the Trainer raise on transformers' own deprecated
    alias ``is_gradient_checkpointing`` (transformers 5.x); nothing in our code calls it."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        yield
