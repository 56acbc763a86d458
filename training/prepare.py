"""Data preparation: validate, canonicalise, de-duplicate and split NL→DSL pairs.

Every input line ends up either as a clean row or in ``rejects.jsonl`` with a stable reason
code (never silently dropped):

=================  ================================================================
``non-utf8``       the line is not UTF-8
``bad-json``       the line is not a JSON object
``missing-field``  ``text`` or ``code`` is absent
``bad-field``      ``text``/``code`` is not a string, or ``id`` is not a string/number
``empty-text``     the natural-language side is empty or blank
``unparseable``    the program does not parse (the detail has line, column, expected)
``invalid``        the program parses but the validator reports a diagnostic
                   (hallucinated API, unknown parameter, ...); the detail lists the codes
``duplicate``      same normalised NL and same canonical program as an earlier row
``duplicate-id``   the ``id`` was already used by an earlier, different row
=================  ================================================================

Output folder::

    DIR/clean.jsonl                   accepted rows, ``code`` canonical, in input order
    DIR/rejects.jsonl                 {line, id, reason, detail, raw}
    DIR/splits/iid/{train,test}.jsonl seeded random split (unless the DSL ships its own ``iid``)
    DIR/splits/<scheme>/<split>.jsonl the DSL's own split tables (dsl.toml [data] splits), by id;
                                      a DSL table named like ours (``iid``) replaces ours
    DIR/splits/given/<split>.jsonl    when rows carry a ``split`` field
    DIR/data_card.{md,json}           counts, reject reasons, coverage

Each split file is JSON Lines that ``datasets.load_dataset("json", data_files=...)`` reads.

Run it as ``dslforge data prepare --dsl geoquery --input pairs.jsonl --out DIR``.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dsl
from dsl import DSL, DSLSyntaxError
from training.errors import DataError

REJECT_REASONS = (
    "non-utf8", "bad-json", "missing-field", "bad-field", "empty-text",
    "unparseable", "invalid", "duplicate", "duplicate-id",
)


@dataclass(frozen=True)
class Reject:
    """One refused input line."""

    line: int
    reason: str
    detail: str
    raw: str
    id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "id": self.id, "reason": self.reason, "detail": self.detail, "raw": self.raw}


@dataclass
class Prepared:
    """The result of :func:`clean_rows`: accepted rows (canonical code) and rejects, in input order."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    blank_lines: int = 0
    lines: int = 0

    def reject_counts(self) -> dict[str, int]:
        counts = Counter(r.reason for r in self.rejects)
        return {reason: counts[reason] for reason in REJECT_REASONS if counts[reason]}


def normalise_text(text: str) -> str:
    """The NL key for duplicate detection: NFKC, case-folded, punctuation → space, spaces collapsed.

    >>> normalise_text("Give me the cities in  Virginia .")
    'give me the cities in virginia'
    """
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(re.sub(r"[^\w]+", " ", folded).split())


def clean_rows(language: DSL, data: bytes) -> Prepared:
    """Check every line of a JSONL byte string; see the module docstring for the reasons.

    Args:
        language: the DSL whose parser, validator and formatter judge the ``code`` field.
        data: the raw file content (bytes: a non-UTF-8 line must be reported, not crash the read).

    Returns:
        :class:`Prepared` with accepted rows (``id``, ``text``, ``code`` canonical, extras kept)
        and one :class:`Reject` per refused line.
    """
    out = Prepared()
    seen_pairs: dict[tuple[str, str], tuple[int, str]] = {}
    seen_ids: dict[str, int] = {}
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # the newline that ends the last line is not an extra (blank) line
    for number, raw_bytes in enumerate(lines, start=1):
        out.lines += 1
        raw_bytes = raw_bytes.rstrip(b"\r")
        raw = raw_bytes.decode("utf-8", errors="backslashreplace")
        if not raw_bytes.strip():
            out.blank_lines += 1
            continue
        row, reject = _read_row(language, raw_bytes, raw, number)
        if reject is not None:
            out.rejects.append(reject)
            continue
        assert row is not None
        key = (normalise_text(row["text"]), row["code"])
        if key in seen_pairs:
            first_line, first_id = seen_pairs[key]
            out.rejects.append(Reject(number, "duplicate", f"same normalised text and canonical code as line "
                                      f"{first_line} (id {first_id})", raw, row["id"]))
            continue
        if row["id"] in seen_ids:
            out.rejects.append(Reject(number, "duplicate-id", f"id {row['id']!r} already used on line "
                                      f"{seen_ids[row['id']]}; ids must be unique", raw, row["id"]))
            continue
        seen_pairs[key] = (number, row["id"])
        seen_ids[row["id"]] = number
        out.rows.append(row)
    return out


def _read_row(language: DSL, raw_bytes: bytes, raw: str, number: int) -> tuple[dict[str, Any] | None, Reject | None]:
    try:
        line = raw_bytes.decode("utf-8")
    except UnicodeDecodeError as e:
        return None, Reject(number, "non-utf8", f"byte 0x{raw_bytes[e.start]:02x} at column {e.start + 1} "
                            "is not UTF-8; re-encode the file as UTF-8", raw)
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        return None, Reject(number, "bad-json", f"{e.msg} at column {e.colno}", raw)
    if not isinstance(obj, dict):
        return None, Reject(number, "bad-json", f"expected a JSON object, got {type(obj).__name__}", raw)
    row_id = obj.get("id", f"line{number}")
    if isinstance(row_id, bool) or not isinstance(row_id, (str, int)):
        return None, Reject(number, "bad-field", f"`id` must be a string or a number, got {row_id!r}", raw)
    row_id = str(row_id)
    missing = [k for k in ("text", "code") if k not in obj]
    if missing:
        return None, Reject(number, "missing-field", f"missing {', '.join(f'`{k}`' for k in missing)}; "
                            "each row needs `text` (natural language) and `code` (the program)", raw, row_id)
    for key in ("text", "code"):
        if not isinstance(obj[key], str):
            return None, Reject(number, "bad-field", f"`{key}` must be a string, got {type(obj[key]).__name__}",
                                raw, row_id)
    if not obj["text"].strip():
        return None, Reject(number, "empty-text", "`text` is empty: no natural language to learn from", raw, row_id)
    try:
        canonical = language.format(obj["code"])
    except DSLSyntaxError as e:
        detail = f"{e.problem} at line {e.line}, column {e.column}"
        if e.expected:
            detail += f"; expected one of: {', '.join(e.expected[:12])}"
        return None, Reject(number, "unparseable", detail, raw, row_id)
    diagnostics = language.validate(canonical)
    if diagnostics:
        detail = "; ".join(str(d) for d in diagnostics)
        return None, Reject(number, "invalid", detail, raw, row_id)
    row = {"id": row_id, "text": obj["text"].strip(), "code": canonical}
    row.update({k: v for k, v in obj.items() if k not in row})
    return row, None


def make_splits(language: DSL, rows: list[dict[str, Any]], *, seed: int = 0,
                iid_test_fraction: float = 0.1) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Split tables: ``iid`` (seeded), the DSL's own schemes by id, ``given`` from a ``split`` field.

    Returns ``{scheme: {split: rows}}``; a DSL scheme none of whose ids occur in ``rows`` is left out.
    """
    if not 0.0 < iid_test_fraction < 1.0:
        raise DataError(f"--iid-test must be between 0 and 1 (exclusive), got {iid_test_fraction}")
    schemes: dict[str, dict[str, list[dict[str, Any]]]] = {}
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    n_test = max(1, round(len(rows) * iid_test_fraction)) if len(rows) > 1 else 0
    test_idx = set(order[:n_test])
    schemes["iid"] = {
        "train": [r for i, r in enumerate(rows) if i not in test_idx],
        "test": [r for i, r in enumerate(rows) if i in test_idx],
    }
    by_id = {r["id"]: r for r in rows}
    if language.spec.data.splits is not None:
        folder = language.folder / language.spec.data.splits
        for table_path in sorted(folder.glob("*.json")):
            table = json.loads(table_path.read_text(encoding="utf-8"))
            splits = {name: [by_id[i] for i in ids if i in by_id] for name, ids in table.items()}
            if any(splits.values()):
                schemes[table_path.stem] = splits
    given = [r for r in rows if isinstance(r.get("split"), str)]
    if given:
        names = sorted({r["split"] for r in given})
        schemes["given"] = {name: [r for r in given if r["split"] == name] for name in names}
    return schemes


def prepare(*, language: DSL | str, input_path: str | Path, out_dir: str | Path, seed: int = 0,
            iid_test_fraction: float = 0.1) -> dict[str, Any]:
    """Run the whole preparation and write the output folder (see the module docstring).

    Args:
        language: a loaded DSL or its name.
        input_path: JSONL with ``text`` and ``code`` (optional ``id``, extras kept).
        out_dir: created if needed; files in it are overwritten.
        seed: the iid split's shuffle.
        iid_test_fraction: share of clean rows in the iid test split.

    Returns:
        The data card as a dict (also written to ``data_card.json``/``.md``).

    Raises:
        DataError: the input file is missing, or no row survives.

    >>> card = prepare(language="geoquery", input_path="pairs.jsonl", out_dir="data/geo")  # doctest: +SKIP
    """
    from training.datacard import build_card, render_card_markdown

    lang = dsl.load(language) if isinstance(language, str) else language
    source = Path(input_path)
    if not source.is_file():
        raise DataError(f"input file not found: {source}")
    data = source.read_bytes()
    prepared = clean_rows(lang, data)
    if not prepared.rows:
        reasons = prepared.reject_counts()
        raise DataError(f"no usable rows in {source}: {prepared.lines} lines, rejects by reason {reasons}; "
                        "see the reasons above (each row needs `text` and a valid `code`)")
    schemes = make_splits(lang, prepared.rows, seed=seed, iid_test_fraction=iid_test_fraction)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / "clean.jsonl", prepared.rows)
    write_jsonl(out / "rejects.jsonl", [r.to_dict() for r in prepared.rejects])
    for scheme, splits in schemes.items():
        for split, split_rows in splits.items():
            write_jsonl(out / "splits" / scheme / f"{split}.jsonl", split_rows)

    card = build_card(lang, prepared, schemes, input_path=source, input_sha256=hashlib.sha256(data).hexdigest(),
                      seed=seed)
    (out / "data_card.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    (out / "data_card.md").write_text(render_card_markdown(card), encoding="utf-8")
    return card


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write rows as UTF-8 JSON Lines (atomically: a killed run leaves no half file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(path)


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Read a clean JSONL file (ours); a bad line is a DataError naming the file and line."""
    rows = []
    p = Path(path)
    if not p.is_file():
        raise DataError(f"data file not found: {p}")
    with p.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{p}:{number}: not JSON ({e.msg}); run `dslforge data prepare` on it first") from e
            if not isinstance(row, dict) or not isinstance(row.get("text"), str) or not isinstance(row.get("code"), str):
                raise DataError(f"{p}:{number}: each row needs string `text` and `code`; "
                                "run `dslforge data prepare` on it first")
            rows.append(row)
    return rows
