"""Stream documents out of corpora: JSONL, CSV/TSV, TXT, Parquet, folders, globs and stdin.

Nothing is loaded whole: files are read line by line (or row group by row group), and every
input line yields exactly one document. A line that cannot be read becomes a document with
an `error` naming the file and line, so the job records it and goes on.
"""

from __future__ import annotations

import csv
import glob
import io
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from nlpbatch import storage
from nlpbatch.errors import InputError, OutputError
from nlpbatch.schema import Doc
from producer.headerless import missing_field_message, warn_if_header_looks_like_data

FORMATS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".tsv": "tsv",
    ".txt": "txt",
    ".parquet": "parquet",
}
STDIN = "-"
#: `--id-field none`: documents are named `<file>:<line>` even where the input has ids.
NO_ID = "none"


@dataclass(frozen=True)
class Source:
    """One file to read (or stdin), with its format and the name used in document ids."""

    path: str
    format: str
    label: str = ""

    @property
    def name(self) -> str:
        if self.path == STDIN:
            return "<stdin>"
        return self.label or self.path


@dataclass(frozen=True)
class FieldMap:
    """Which input columns feed the task: `text` from `text_field`, the rest by their names.

    With `no_header`, a CSV/TSV's first row is data and its columns are named "1", "2", ...
    (counted from 1, as cut and awk count them).
    """

    text_field: str = "text"
    id_field: str = "id"
    other_fields: tuple[str, ...] = ()
    no_header: bool = False

    def wanted(self) -> dict[str, str]:
        """Column name -> document field name."""
        out = {self.text_field: "text"}
        out.update({name: name for name in self.other_fields})
        return out


def expand_inputs(
    inputs: Sequence[str], *, stdin_format: str | None = None, base: str | None = None
) -> list[Source]:
    """The files behind the inputs, in a stable order; InputError if any is unusable.

    Relative inputs are looked up under `base` (default: the current folder), and documents
    are named by the path as given, so ids do not depend on where the job runs.
    """
    root = Path(base) if base else Path.cwd()
    sources: list[Source] = []
    for item in inputs:
        if item == STDIN:
            sources.append(Source(STDIN, stdin_format or "auto"))
            continue
        if storage.is_url(item):
            sources += _expand_url(item)
            continue
        given = Path(item).expanduser()
        path = given if given.is_absolute() else root / given
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in FORMATS)
            if not found:
                raise InputError(f"folder {item} has no readable files ({', '.join(FORMATS)})")
            sources += [
                Source(str(p), FORMATS[p.suffix.lower()], str(given / p.relative_to(path))) for p in found
            ]
        elif path.is_file():
            fmt = FORMATS.get(path.suffix.lower())
            if fmt is None:
                raise InputError(
                    f"unknown input format {path.suffix or '(no extension)'!r} for {item}; "
                    f"valid: {', '.join(FORMATS)}"
                )
            sources.append(Source(str(path), fmt, item))
        elif glob.has_magic(item):
            matched = sorted(
                Path(p)
                for p in glob.glob(str(path), recursive=True)
                if Path(p).is_file() and Path(p).suffix.lower() in FORMATS
            )
            if not matched:
                raise InputError(f"no readable files match {item}")
            sources += [
                Source(
                    str(p),
                    FORMATS[p.suffix.lower()],
                    str(p.relative_to(root)) if not given.is_absolute() else str(p),
                )
                for p in matched
            ]
        else:
            raise InputError(f"input {item} does not exist")
    if not sources:
        raise InputError("no input given")
    return sources


def _expand_url(item: str) -> list[Source]:
    """The readable files behind an fsspec URL: one file, a folder, or a glob."""
    try:
        if storage.is_file(item):
            fmt = FORMATS.get(Path(item).suffix.lower())
            if fmt is None:
                raise InputError(f"unknown input format for {item}; valid: {', '.join(FORMATS)}")
            return [Source(item, fmt, item)]
        if storage.is_dir(item):
            prefix: str | None = item.rstrip("/") + "/"
        elif glob.has_magic(item):
            prefix = None  # a glob's files are named by their full URL
        else:
            raise InputError(f"input {item} does not exist")
        found = list(storage.list_files(item))
    except OutputError as exc:  # an unknown protocol or a missing fsspec driver
        raise InputError(str(exc)) from None
    except OSError as exc:
        raise InputError(f"cannot read {item}: {exc}") from None
    sources = [
        Source(url, FORMATS[Path(url).suffix.lower()], prefix + rel if prefix else url)
        for url, rel in found
        if Path(url).suffix.lower() in FORMATS
    ]
    if not sources:
        raise InputError(f"no readable files ({', '.join(FORMATS)}) in {item}")
    return sources


def _doc_from_row(row: Any, where: str, fields: FieldMap) -> Doc:
    if not isinstance(row, dict):
        return {"id": where, "error": {"type": "MalformedInput", "message": f"{where}: not a JSON object"}}
    raw_id = None if fields.id_field == NO_ID else row.get(fields.id_field)
    doc: Doc = {"id": raw_id if raw_id not in (None, "") else where}
    for column, name in fields.wanted().items():
        if column in row:
            doc[name] = row[column]
    return doc


def _error_doc(where: str, kind: str, message: str) -> Doc:
    return {"id": where, "error": {"type": kind, "message": f"{where}: {message}"}}


def _binary(source: Source) -> IO[bytes]:
    if source.path == STDIN:
        return sys.stdin.buffer
    return storage.open_read(source.path)


def _read_jsonl(stream: IO[bytes], name: str, fields: FieldMap) -> Iterator[Doc]:
    for number, raw in enumerate(stream, start=1):
        where = f"{name}:{number}"
        if not raw.strip():
            continue
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield _error_doc(where, "MalformedInput", f"invalid UTF-8 at byte {exc.start}")
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            yield _error_doc(where, "MalformedInput", f"invalid JSON: {exc.msg} at column {exc.colno}")
            continue
        yield _doc_from_row(row, where, fields)


def _read_txt(stream: IO[bytes], name: str, fields: FieldMap) -> Iterator[Doc]:
    for number, raw in enumerate(stream, start=1):
        where = f"{name}:{number}"
        try:
            text = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as exc:
            yield _error_doc(where, "MalformedInput", f"invalid UTF-8 at byte {exc.start}")
            continue
        yield {"id": where, "text": text}


# A quoted cell may span lines; a row still open after this many lines is a broken quote.
CSV_ROW_MAX_LINES = 100


def _csv_lines(stream: IO[bytes]) -> Iterator[tuple[int, str | None]]:
    """(line number, text), or None as text for a line that is not UTF-8."""
    for number, raw in enumerate(stream, start=1):
        try:
            yield number, raw.decode("utf-8")
        except UnicodeDecodeError:
            yield number, None


def _read_csv(stream: IO[bytes], name: str, fields: FieldMap, delimiter: str) -> Iterator[Doc]:
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
            yield _error_doc(where, "MalformedInput", "invalid UTF-8")
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
            yield _error_doc(where, "MalformedInput", f"unreadable CSV row: {problem}")
            pending.extend((number + i, line) for i, line in reversed(list(enumerate(taken))[1:]))
            continue
        for row in rows:
            if fields.no_header:
                if row:
                    yield _doc_from_row(column_numbers(row), where, fields)
            elif header is None:
                header = row
            elif len(row) > len(header):
                yield _error_doc(where, "MalformedInput", "more cells than header columns")
            elif row:
                cells = dict(zip(header, row, strict=False))
                yield _doc_from_row({h: cells.get(h) for h in header}, where, fields)


def _read_parquet(path: str, name: str, fields: FieldMap) -> Iterator[Doc]:
    import pyarrow.parquet as pq

    # pre_buffer (on by default) fetches every row group up front: the whole file in memory.
    source = storage.open_read(path) if storage.is_url(path) else path
    pf = pq.ParquetFile(source, pre_buffer=False)
    available = set(pf.schema_arrow.names)
    columns = [c for c in (fields.id_field, *fields.wanted()) if c in available]
    number = 0
    for batch in pf.iter_batches(columns=columns or None, batch_size=2048):
        for row in batch.to_pylist():
            number += 1
            yield _doc_from_row(row, f"{name}:{number}", fields)


def _sniff(stream: IO[bytes]) -> tuple[str, IO[bytes]]:
    """Guess JSONL or TXT for stdin from its first non-blank byte."""
    buffered: Any = stream if hasattr(stream, "peek") else io.BufferedReader(cast(Any, stream))
    head = buffered.peek(4096).lstrip()
    return ("jsonl" if head.startswith(b"{") else "txt"), buffered


def read_source(source: Source, fields: FieldMap) -> Iterator[Doc]:
    """The documents of one source, in order."""
    if source.format == "parquet":
        yield from _read_parquet(source.path, source.name, fields)
        return
    stream = _binary(source)
    try:
        fmt = source.format
        if fmt == "auto":
            fmt, stream = _sniff(stream)
        if fmt == "jsonl":
            yield from _read_jsonl(stream, source.name, fields)
        elif fmt == "txt":
            yield from _read_txt(stream, source.name, fields)
        elif fmt in ("csv", "tsv"):
            yield from _read_csv(stream, source.name, fields, "," if fmt == "csv" else "\t")
        else:
            raise InputError(f"unknown input format {fmt!r}")
    finally:
        if source.path != STDIN:
            stream.close()


def iter_documents(sources: Sequence[Source], fields: FieldMap) -> Iterator[Doc]:
    """Every document of every source, in order."""
    for source in sources:
        yield from read_source(source, fields)


def first_fields(source: Source, no_header: bool = False) -> set[str] | None:
    """The column names of a source, from its header, schema or first readable record.

    With `no_header`, a CSV/TSV's columns are its column numbers, "1" to the first row's width.

    None when they cannot be known without consuming input (stdin, TXT, an empty file).
    """
    if source.path == STDIN or source.format == "txt":
        return None
    if source.format == "parquet":
        import pyarrow.parquet as pq

        with storage.open_read(source.path) as fh:
            return set(pq.ParquetFile(fh).schema_arrow.names)
    with storage.open_read(source.path) as fh:
        if source.format in ("csv", "tsv"):
            text = io.TextIOWrapper(fh, encoding="utf-8", errors="replace", newline="")
            header = next(csv.reader(text, delimiter="," if source.format == "csv" else "\t"), None)
            if header and no_header:
                return set(column_numbers(header))
            return set(header) if header else None
        for raw in fh:
            try:
                row = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue
            if isinstance(row, dict):
                return set(row)
    return None


def check_fields(sources: Sequence[Source], fields: FieldMap, required: Sequence[str]) -> None:
    """InputError if the first readable source lacks a required column: caught before any work."""
    columns = {v: k for k, v in fields.wanted().items()}
    for source in sources:
        present = first_fields(source, fields.no_header)
        if present is None:
            continue
        for name in required:
            column = columns.get(name, name)
            if column not in present:
                raise InputError(
                    missing_field_message(
                        source.path, source.format, source.name, column, name, present, fields.no_header
                    )
                )
        if not fields.no_header:
            used = [columns.get(name, name) for name in required]
            used += [fields.id_field] if fields.id_field in present else []
            warn_if_header_looks_like_data(source.path, source.format, source.name, used)
        return


def column_numbers(row: Sequence[str]) -> dict[str, str]:
    """A headerless row's cells by column number, counted from 1."""
    return {str(number): cell for number, cell in enumerate(row, start=1)}
