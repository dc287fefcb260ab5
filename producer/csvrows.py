"""CSV and TSV rows as documents, one row at a time, so one broken row spoils nothing else."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import IO

from nlpbatch.schema import Doc
from producer.fields import FieldMap, column_numbers, doc_from_row, error_doc

# A quoted cell may span lines; a row still open after this many lines is a broken quote.
CSV_ROW_MAX_LINES = 100


def _csv_lines(stream: IO[bytes]) -> Iterator[tuple[int, str | None]]:
    """(line number, text), or None as text for a line that is not UTF-8."""
    for number, raw in enumerate(stream, start=1):
        try:
            yield number, raw.decode("utf-8")
        except UnicodeDecodeError:
            yield number, None


def read_csv(stream: IO[bytes], name: str, fields: FieldMap, delimiter: str) -> Iterator[Doc]:
    """Rows as documents, named by their first line.

    Each row is parsed on its own, so one bad line cannot swallow the rest of the file: a
    row that does not parse (a quote never closed) becomes an error for its first line, and
    the lines it took in are read again as rows of their own.
    """
    source = _csv_lines(stream)
    pending: list[tuple[int, str | None]] = []  # lines given back, next one last
    header: list[str] | None = None

    def next_line() -> tuple[int, str | None] | None:
        return pending.pop() if pending else next(source, None)

    while (first := next_line()) is not None:
        number, text = first
        where = f"{name}:{number}"
        if text is None:
            yield error_doc(where, "MalformedInput", "invalid UTF-8")
            continue
        taken = [text]
        rows: list[list[str]] | None = None
        problem = ""
        while rows is None:
            try:
                rows = list(csv.reader(io.StringIO("".join(taken)), delimiter=delimiter, strict=True))
            except csv.Error as exc:
                problem = str(exc)
                following = next_line() if "unexpected end" in problem else None
                if following is None or following[1] is None or len(taken) >= CSV_ROW_MAX_LINES:
                    if following is not None:
                        pending.append(following)
                    break
                taken.append(following[1])
        if rows is None:
            yield error_doc(where, "MalformedInput", f"unreadable CSV row: {problem}")
            pending.extend((number + i, line) for i, line in reversed(list(enumerate(taken))[1:]))
            continue
        for row in rows:
            if fields.no_header:
                if row:
                    yield doc_from_row(column_numbers(row), where, fields)
            elif header is None:
                header = row
            elif len(row) > len(header):
                yield error_doc(where, "MalformedInput", "more cells than header columns")
            elif row:
                cells = dict(zip(header, row, strict=False))
                yield doc_from_row({h: cells.get(h) for h in header}, where, fields)
