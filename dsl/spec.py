"""``dsl.toml``: what a DSL folder declares about itself, checked all at once."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from dsl.errors import GrammarError
from dsl.languages import SUPPORT_MODULES

_KNOWN_KEYS = {
    "name", "description", "start", "parser", "language", "catalog",
    "max_chars", "max_depth", "data", "prompt", "format",
}


@dataclass(frozen=True)
class FormatSpec:
    """Canonical spacing: text emitted before/after a token, keyed by literal or terminal name."""

    before: dict[str, str] = field(default_factory=dict)
    after: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PromptSpec:
    """What the model is told before a request."""

    instruction: str = ""
    """One line that says what to produce."""
    hints: str = ""
    """Conventions the model cannot guess (entity spelling, quoting)."""


@dataclass(frozen=True)
class DataSpec:
    """Data shipped with the DSL, relative to its folder."""

    programs: tuple[str, ...] = ()
    """JSONL files with a ``code`` field: the programs `grammar check` must accept."""
    splits: str | None = None
    """A folder of ``<split>.json`` files mapping split names to lists of ids."""


@dataclass(frozen=True)
class DSLSpec:
    """The parsed ``dsl.toml`` of one DSL folder."""

    name: str
    folder: Path
    description: str = ""
    start: str = "start"
    parser: Literal["lalr", "earley"] = "lalr"
    language: str | None = None
    catalog: Path | None = None
    max_chars: int = 100_000  # longer programs are refused before parsing
    max_depth: int = 200  # deeper bracket nesting is refused before parsing (no RecursionError)
    data: DataSpec = field(default_factory=DataSpec)
    prompt: PromptSpec = field(default_factory=PromptSpec)
    format: FormatSpec = field(default_factory=FormatSpec)

    @property
    def grammar_path(self) -> Path:
        return self.folder / "grammar.lark"


def read_spec(folder: Path) -> DSLSpec:
    """Read and check ``folder/dsl.toml``; every problem is reported in one GrammarError."""
    path = folder / "dsl.toml"
    if not path.is_file():
        raise GrammarError(f"{folder} has no dsl.toml; a DSL folder holds grammar.lark and dsl.toml")
    try:
        raw: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise GrammarError(f"dsl.toml is not valid TOML: {e}", location=str(path)) from e

    problems: list[str] = []
    unknown = sorted(set(raw) - _KNOWN_KEYS)
    if unknown:
        problems.append(f"unknown keys {unknown}; known: {sorted(_KNOWN_KEYS)}")
    name = raw.get("name", folder.name)
    if not isinstance(name, str) or not name.isidentifier():
        problems.append(f"`name` must be an identifier, got {name!r}")
    parser = raw.get("parser", "lalr")
    if parser not in ("lalr", "earley"):
        problems.append(f"`parser` must be 'lalr' or 'earley', got {parser!r}")
    language = raw.get("language")
    if language is not None and language not in SUPPORT_MODULES:
        problems.append(f"`language` {language!r} is not one of {sorted(SUPPORT_MODULES)}")
    catalog = raw.get("catalog")
    catalog_path = None
    if catalog is not None:
        catalog_path = _inside(folder, catalog, "catalog", problems)
        if catalog_path is not None and not catalog_path.is_file():
            problems.append(f"`catalog` file {catalog!r} not found in {folder}")
    for key in ("max_chars", "max_depth"):
        value = raw.get(key, 1)
        if not isinstance(value, int) or value <= 0:
            problems.append(f"`{key}` must be a positive integer, got {value!r}")

    data_raw = raw.get("data", {})
    programs = tuple(data_raw.get("programs", ()))
    for p in programs:
        resolved = _inside(folder, p, "data.programs", problems)
        if resolved is not None and not resolved.is_file():
            problems.append(f"`data.programs` file {p!r} not found in {folder}")
    splits = data_raw.get("splits")
    if splits is not None:
        _inside(folder, splits, "data.splits", problems)

    fmt = raw.get("format", {})
    for key in ("before", "after"):
        table = fmt.get(key, {})
        if not all(isinstance(v, str) and v.strip(" ") == "" for v in table.values()):
            problems.append(f"`format.{key}` values must be spaces only, got {table!r}")
    if not (folder / "grammar.lark").is_file():
        problems.append(f"{folder} has no grammar.lark")
    if problems:
        raise GrammarError("; ".join(problems), location=str(path))

    prompt = raw.get("prompt", {})
    return DSLSpec(
        name=name,
        folder=folder,
        description=raw.get("description", ""),
        start=raw.get("start", "start"),
        parser=parser,
        language=language,
        catalog=catalog_path,
        max_chars=raw.get("max_chars", 100_000),
        max_depth=raw.get("max_depth", 200),
        data=DataSpec(programs=programs, splits=splits),
        prompt=PromptSpec(instruction=prompt.get("instruction", ""), hints=prompt.get("hints", "")),
        format=FormatSpec(before=dict(fmt.get("before", {})), after=dict(fmt.get("after", {}))),
    )


def _inside(folder: Path, relative: str, key: str, problems: list[str]) -> Path | None:
    """Resolve a path from dsl.toml, refusing anything that escapes the DSL folder."""
    resolved = (folder / relative).resolve()
    if not resolved.is_relative_to(folder.resolve()):
        problems.append(f"`{key}` path {relative!r} leaves the DSL folder")
        return None
    return resolved
