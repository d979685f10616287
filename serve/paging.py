"""Keyset pagination with opaque cursors, sorting, and CSV replies for the listing endpoints.

Keyset (seek) pagination: each page is ``WHERE (key, id) > (last key, last id) ORDER BY key, id LIMIT n``,
so page 1,000 costs what page 1 costs (an index range scan), unlike ``OFFSET`` which reads and drops every
earlier row (Winand, *SQL Performance Explained*, ch. 7 "Paging Through Results"). Rows whose sort key is
NULL (media without a known time) come after all others, ordered by ID, in a second phase of the same scan.
The cursor is URL-safe base64 of JSON holding the sort, the phase, the last key and ID, and a digest of
the filters, so a cursor is refused (422) when reused with other filters or another sort.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy import ColumnElement, Select, literal, tuple_
from sqlalchemy.orm import InstrumentedAttribute, Session

from models.media.tables import safe_cell


@dataclass(frozen=True)
class SortKey:
    """A sortable column: ``column`` (maybe nullable) with ``pk`` as the tie-breaker."""

    column: InstrumentedAttribute
    pk: InstrumentedAttribute
    nullable: bool
    is_datetime: bool = False


def filters_digest(params: dict[str, Any]) -> str:
    """Short digest of the query's filters (not paging parameters) that a cursor is bound to."""
    text = json.dumps({k: str(v) for k, v in sorted(params.items()) if v is not None}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def encode_cursor(sort: str, phase: int, key: Any, last_id: str, digest: str) -> str:
    """Opaque cursor for the row after ``(key, last_id)``."""
    if isinstance(key, datetime):
        key = key.isoformat()
    raw = json.dumps({"s": sort, "p": phase, "k": key, "i": last_id, "f": digest}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _bad_cursor(reason: str) -> HTTPException:
    return HTTPException(422, f"invalid cursor: {reason}")


def _cursor_time(value: Any) -> datetime:
    """A cursor's time key as the naive UTC ``datetime`` the table stores; ValueError when not one."""
    if not isinstance(value, str):
        raise TypeError("time key")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)  # OverflowError near year 1 / 9999: caught
    return parsed


def _cursor_number(value: Any) -> float:
    """A cursor's numeric key as a finite float; ValueError otherwise (NaN/inf never compare as expected)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError("numeric key")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError("non-finite key")
    return number


def decode_cursor(cursor: str, sort: str, digest: str, key: SortKey) -> tuple[int, Any, str]:
    """``(phase, key value, last id)`` of a cursor made by :func:`encode_cursor`.

    Raises:
        HTTPException: 422 when the cursor is malformed or belongs to another sort or other filters.
    """
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(data, dict):
            raise TypeError("not an object")
        phase, value, last_id = data["p"], data["k"], data["i"]
        if data["s"] != sort:
            raise _bad_cursor("it was made for another sort order")
        if data["f"] != digest:
            raise _bad_cursor("it was made for other filters")
        if type(phase) is not int or phase not in (0, 1) or not isinstance(last_id, str) or len(last_id) > 256:
            raise ValueError("phase or id")
        if phase == 0:
            value = _cursor_time(value) if key.is_datetime else _cursor_number(value)
    except HTTPException:
        raise
    except (ValueError, KeyError, TypeError, OverflowError, RecursionError, binascii.Error,
            UnicodeDecodeError) as exc:
        raise _bad_cursor("not a cursor of this listing") from exc
    return phase, value, last_id


def keyset_page(session: Session, query: Select, conds: Sequence[ColumnElement[bool]], key: SortKey,
                descending: bool, limit: int, after: tuple[int, Any, str] | None) -> tuple[list, tuple | None]:
    """One page of ``query`` (a Core ``select`` of the table's columns: rows come back as ``Row`` tuples,
    without the ORM's per-object cost) filtered by ``conds``, after the position ``after``.

    Returns:
        (rows, position of the last row or None when no row follows): a position is
        ``(phase, key value, id)``, phase 0 for rows with a key and 1 for rows whose key is NULL.
    """
    col, pk = key.column, key.pk
    conn = session.connection()  # Core execution: plain Row tuples, no ORM result machinery
    phase, value, last_id = after if after is not None else (0, None, None)
    rows: list = []
    if phase == 0:
        q = query.where(*conds)
        if key.nullable:
            q = q.where(col.is_not(None))
        if value is not None:  # typed binds: SQLite compares the stored DateTime text, not Python's default
            bound = tuple_(literal(value, col.type), literal(last_id, pk.type))
            q = q.where(tuple_(col, pk) < bound if descending else tuple_(col, pk) > bound)
        order = (col.desc(), pk.desc()) if descending else (col, pk)
        rows = conn.execute(q.order_by(*order).limit(limit + 1)).all()
        if len(rows) > limit:
            rows = rows[:limit]
            return rows, (0, getattr(rows[-1], col.key), getattr(rows[-1], pk.key))
        if not key.nullable:
            return rows, None
        last_id = None
    room = limit - len(rows)
    q = query.where(*conds, col.is_(None))
    if last_id:
        q = q.where(pk > last_id)
    tail = conn.execute(q.order_by(pk).limit(room + 1)).all()
    if len(tail) > room:
        rows += tail[:room]
        # the page ended on the last keyed row: the next one starts the NULL-key phase ("" = its start)
        return rows, (1, None, getattr(rows[-1], pk.key) if room else "")
    return rows + tail, None


def wants_csv(request: Request, fmt: str | None) -> bool:
    """True for ``format=csv``, or no ``format`` and an ``Accept`` header preferring ``text/csv``."""
    if fmt is not None:
        return fmt == "csv"
    accept = request.headers.get("accept", "")
    return "text/csv" in accept and "application/json" not in accept.split("text/csv")[0]


def row_dicts(rows: Sequence, fields: Sequence[str], catalogue) -> list[dict]:
    """API items from ``Row`` tuples: the schema's ``fields`` in order, plus the catalogue's vernacular names
    (None when unknown or empty). Equivalent to ``DetectionOut.from_row(...).model_dump()`` at a fraction of
    the cost (no ORM objects, no second validation)."""
    names: dict[str | None, tuple[str | None, str | None]] = {None: (None, None)}
    out = []
    if not rows:
        return out
    keys = list(rows[0]._fields)
    index = [(f, keys.index(f)) for f in fields]
    for row in rows:
        item = {f: row[i] for f, i in index}
        name = item.get("scientificName")
        if name not in names:
            sp = catalogue.get(name)
            names[name] = (sp.vernacularNameEN or None, sp.vernacularNameZH or None) if sp else (None, None)
        item["vernacularNameEN"], item["vernacularNameZH"] = names[name]
        out.append(item)
    return out


def json_response(body: dict) -> Response:
    """A JSON reply serialised with orjson (the page is built from plain values already)."""
    import orjson

    return Response(orjson.dumps(body), media_type="application/json")


def write_csv_rows(writer, items: Sequence[BaseModel | dict], columns: Sequence[str]) -> None:
    """Write ``items`` as CSV rows of ``columns`` (lists and dicts as JSON, ``None`` empty, text through
    ``models.media.tables.safe_cell`` so that no cell runs as a spreadsheet formula)."""
    for item in items:
        data = item if isinstance(item, dict) else item.model_dump(by_alias=True)
        writer.writerow([safe_cell(json.dumps(v)) if isinstance(v, list | dict) else ("" if v is None else safe_cell(v))
                         for v in (data.get(c) for c in columns)])


def csv_response(items: Sequence[BaseModel | dict], columns: Sequence[str], next_cursor: str | None,
                 total: int | None, filename: str) -> Response:
    """A ``text/csv`` reply: one row per item (lists and dicts as JSON; text through
    ``models.media.tables.safe_cell``, so no cell runs as a formula), the next cursor and the total in the
    ``X-Next-Cursor`` / ``X-Total-Count`` headers."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    write_csv_rows(writer, items, columns)
    headers = {"Content-Disposition": f'inline; filename="{filename}"'}
    if next_cursor:
        headers["X-Next-Cursor"] = next_cursor
    if total is not None:
        headers["X-Total-Count"] = str(total)
    return Response(buf.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)

