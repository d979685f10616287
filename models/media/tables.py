"""Plain CSV tables shared by the stages: media indexes, rejection lists, splits, predictions.

Rows are dataclass instances or dicts; ``None`` is written as an empty cell and every cell is read
back as a string (the stages convert the columns they use).

Every CSV the product writes passes its cells through :func:`safe_cell` (OWASP "CSV Injection"): a text
cell that a spreadsheet would run as a formula (leading ``=``, ``+``, ``-``, ``@``, tab or CR) gets a
leading ``'``, so Excel / LibreOffice show it as text. Numbers, and text that is exactly a number (``-3.5``,
``+1e3``), are left alone: a negative longitude stays a number. :func:`read_csv` undoes the prefix
(:func:`restore_cell`), so file names such as ``=cam.jpg`` survive a write and a read unchanged.
"""

from __future__ import annotations

import csv
import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: First characters that make a spreadsheet evaluate a cell (OWASP CSV Injection cheat sheet).
FORMULA_CHARS = frozenset("=+-@\t\r")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _triggers(text: str) -> bool:
    """True when ``text`` would be run as a formula, or is an escaped one (so the escape is reversible)."""
    if not text:
        return False
    if text[0] == "'":
        return _triggers(text[1:])
    return text[0] in FORMULA_CHARS and _NUMBER.fullmatch(text) is None


def safe_cell(value: Any) -> Any:
    """``value`` made safe for a spreadsheet: text starting with ``=``, ``+``, ``-``, ``@``, tab or CR (and
    not a plain number) gets a leading ``'``; any other value is returned unchanged (``None`` too).

    Source: OWASP, "CSV Injection" (https://owasp.org/www-community/attacks/CSV_Injection).
    """
    if isinstance(value, str) and _triggers(value):
        return "'" + value
    return value


def restore_cell(text: str) -> str:
    """Inverse of :func:`safe_cell` for a cell read back as text."""
    return text[1:] if text.startswith("'") and _triggers(text[1:]) else text


def safe_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A CSV row (dict) with every cell through :func:`safe_cell` and ``None`` as an empty cell."""
    return {k: ("" if v is None else safe_cell(v)) for k, v in row.items()}


@dataclass(frozen=True)
class Rejection:
    """A file left out of a batch, and why (``MediaError.reason`` codes, ``unknown_deployment``,
    ``duplicate``), with a human-readable ``detail``."""

    filePath: str
    reason: str
    detail: str


REJECTION_FIELDS = [f.name for f in dataclasses.fields(Rejection)]


def write_csv(path: str | Path, rows: list, fields: list[str]) -> None:
    """Write rows (dataclasses or dicts) with a fixed header, creating parent folders.

    Dict keys not in ``fields`` are ignored; ``None`` becomes an empty cell; text cells pass through
    :func:`safe_cell`.
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            d = dataclasses.asdict(r) if dataclasses.is_dataclass(r) else r
            w.writerow(safe_row(d))


def read_csv(path: str | Path) -> list[dict]:
    """Read a CSV with a header row into dicts of strings (cells neutralised by :func:`safe_cell` restored)."""
    with open(path, newline="", encoding="utf-8") as fh:
        return [{k: restore_cell(v) if isinstance(v, str) else v for k, v in row.items()}
                for row in csv.DictReader(fh)]
