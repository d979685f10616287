"""Plain CSV tables shared by the stages: media indexes, rejection lists, splits, predictions.

Rows are dataclass instances or dicts; ``None`` is written as an empty cell and every cell is read
back as a string (the stages convert the columns they use).
"""

from __future__ import annotations

import csv
import dataclasses
from dataclasses import dataclass
from pathlib import Path


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

    Dict keys not in ``fields`` are ignored; ``None`` becomes an empty cell.
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            d = dataclasses.asdict(r) if dataclasses.is_dataclass(r) else r
            w.writerow({k: ("" if v is None else v) for k, v in d.items()})


def read_csv(path: str | Path) -> list[dict]:
    """Read a CSV with a header row into dicts of strings."""
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))
