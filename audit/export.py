"""CSV and JSON Lines exports of a filtered view of the access log, streamed."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

from sqlalchemy.engine import Engine
from sqlmodel import Session

from audit.access_log import LEAF_FIELDS, entry_fields
from audit.search import LogFilter, iter_filtered
from core.db import read_only

FORMATS = {"csv": ("text/csv", "csv"), "jsonl": ("application/x-ndjson", "jsonl")}
COLUMNS = (*LEAF_FIELDS, "note", "note_status", "prev_hash", "leaf_hash", "entry_hash")
# Spreadsheets run cells that start like formulas; labels are user-chosen text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def export_row(entry, note: str | None) -> dict:
    """One entry as exported: the hashed fields of its format (to recompute the leaf), note,
    hashes in hex."""
    row = entry_fields(entry)
    status = "none"
    if entry.note_commitment:
        status = "present" if note is not None else "redacted"
    row.update(
        note=note,
        note_status=status,
        prev_hash=bytes(entry.prev_hash).hex(),
        leaf_hash=bytes(entry.leaf_hash).hex(),
        entry_hash=bytes(entry.entry_hash).hex(),
    )
    return row


def _csv_cell(value) -> str:
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _csv_line(values) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(values)
    return buffer.getvalue()


def export_stream(engine: Engine, *, log_filter: LogFilter, fmt: str) -> Iterator[str]:
    """Yield the export line by line from its own read-only session."""
    with Session(read_only(engine)) as session:
        if fmt == "csv":
            yield _csv_line(COLUMNS)
        for entry, note in iter_filtered(session, log_filter=log_filter):
            row = export_row(entry, note)
            if fmt == "csv":
                yield _csv_line(_csv_cell(row.get(name)) for name in COLUMNS)
            else:
                yield json.dumps(row, sort_keys=True, ensure_ascii=False) + "\n"
