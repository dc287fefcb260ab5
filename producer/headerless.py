"""Telling a CSV/TSV header from a first row of data, so no row is lost to a wrong guess.

A CSV file does not say whether its first row names the columns. Reading a headerless file
with a header drops its first document, and names the columns after it; the messages here
point to `--no-header`, where columns are named by number.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Collection
from itertools import islice

from nlpbatch import storage

log = logging.getLogger("nlpbatch.readers")

#: Column names are short; a first-row cell longer than this is text, so the row is data.
LONG_CELL = 40
#: Rows the sniffer sees to compare the first row with the rest.
SAMPLE_ROWS = 20


def _first_rows(path: str, fmt: str) -> list[str]:
    with storage.open_read(path) as fh:
        text = io.TextIOWrapper(fh, encoding="utf-8", errors="replace", newline="")
        return list(islice(text, SAMPLE_ROWS))


def _first_row(lines: list[str], fmt: str) -> list[str]:
    return next(csv.reader(lines, delimiter="," if fmt == "csv" else "\t"), [])


def _has_long_cell(row: list[str]) -> bool:
    return any(len(cell) > LONG_CELL for cell in row)


def first_row_looks_like_data(path: str, fmt: str) -> bool:
    """True when the first row of a CSV/TSV file reads as data rather than column names.

    It is data when a cell is long text, or when csv.Sniffer finds the first row typed like
    the rows below it (numbers over numbers, say).
    """
    lines = _first_rows(path, fmt)
    if _has_long_cell(_first_row(lines, fmt)):
        return True
    if len(lines) < 2:
        return False  # nothing to compare the first row with
    try:
        return not csv.Sniffer().has_header("".join(lines))
    except csv.Error:  # the sniffer gives up on some files: no evidence either way
        return False


def missing_field_message(
    path: str, fmt: str, where: str, column: str, name: str, present: Collection[str], no_header: bool
) -> str:
    """Why `column` (feeding the task's `name`) is not in a file, and what to type instead."""
    hint = " (choose it with --text-field)" if name == "text" else f" (choose it with --field {name}=COLUMN)"
    message = f"field {column!r} not found in {where}{hint}"
    if fmt in ("csv", "tsv"):
        if no_header:
            message += f"; with --no-header, fields are column numbers 1 to {len(present)}"
        elif column.isdigit():
            message += "; column numbers name fields only with --no-header"
        elif first_row_looks_like_data(path, fmt):
            row = _first_row(_first_rows(path, fmt), fmt)
            longest = max(range(len(row)), key=lambda i: len(row[i])) + 1 if row else 1
            message += (
                "; its first row looks like data, not a header: read it with --no-header and "
                f"name fields by column number, counted from 1 (e.g. --text-field {longest} --id-field 1)"
            )
    shown = sorted(present, key=lambda c: (len(c), c)) if no_header else sorted(present)
    return f"{message}; fields there: {', '.join(shown) or 'none'}"


def warn_if_header_looks_like_data(path: str, fmt: str, where: str, used: Collection[str]) -> None:
    """Log a warning when a column the job reads is named by what looks like data (text, a number).

    The first row is then most likely a document, which reading it as a header would drop.
    """
    if fmt not in ("csv", "tsv"):
        return
    # Column names are seldom long, and seldom bare numbers (an id, a year).
    suspect = [c for c in used if len(c) > LONG_CELL or c.strip().isdigit()]
    if suspect:
        log.warning(
            "%s: the first row is read as a header, yet the column %r looks like data; if that row "
            "is a document, read the file with --no-header (columns by number) to keep it",
            where,
            suspect[0][:60],
        )
