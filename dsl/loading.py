"""`dsl.load`: find a DSL folder by name or path."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from dsl.errors import GrammarError
from dsl.language import DSL
from dsl.spec import read_spec


def grammars_root() -> Path:
    """Where named DSLs live: ``$DSLFORGE_GRAMMARS`` or the repository's ``grammars/``."""
    override = os.environ.get("DSLFORGE_GRAMMARS")
    return Path(override) if override else Path(__file__).resolve().parent.parent / "grammars"


def available() -> list[str]:
    """Names of the DSL folders under :func:`grammars_root`."""
    root = grammars_root()
    return sorted(p.name for p in root.iterdir() if (p / "dsl.toml").is_file()) if root.is_dir() else []


def load(name_or_path: str | os.PathLike[str]) -> DSL:
    """Load a DSL: a name under ``grammars/`` or a path to a DSL folder.

    Args:
        name_or_path: ``"geoquery"`` or ``"path/to/folder"``.

    Returns:
        The loaded :class:`DSL` (cached per folder).

    Raises:
        GrammarError: when the folder, its ``dsl.toml`` or its grammar is unusable.

    >>> load("geoquery").name
    'geoquery'
    """
    raw = str(name_or_path)
    candidate = Path(raw)
    if candidate.is_dir():
        folder = candidate.resolve()
    elif raw.isidentifier():
        folder = (grammars_root() / raw).resolve()
        if not folder.is_dir():
            raise GrammarError(f"grammar {raw!r} not found in {grammars_root()}; available: {available()}")
    else:
        raise GrammarError(f"{raw!r} is neither a DSL name ({available()}) nor a DSL folder")
    return _load_folder(folder)


@lru_cache(maxsize=32)
def _load_folder(folder: Path) -> DSL:
    return DSL(read_spec(folder))
