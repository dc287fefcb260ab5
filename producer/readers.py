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
from producer.csvrows import read_csv as _read_csv  # the name callers and tests know
from producer.fields import ALL, FieldMap, column_numbers, doc_from_row, error_doc
from producer.formats import VALID, decompressed, format_of
from producer.headerless import missing_field_message, warn_if_header_looks_like_data

STDIN = "-"


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
            found = sorted(p for p in path.rglob("*") if p.is_file() and format_of(p.name))
            if not found:
                raise InputError(f"folder {item} has no readable files ({VALID})")
            sources += [Source(str(p), _format(p.name), str(given / p.relative_to(path))) for p in found]
        elif path.is_file():
            fmt = format_of(path.name)
            if fmt is None:
                raise InputError(
                    f"unknown input format {''.join(path.suffixes[-2:]) or '(no extension)'!r} for {item}; "
                    f"valid: {VALID}"
                )
            sources.append(Source(str(path), fmt, item))
        elif glob.has_magic(item):
            matched = sorted(
                Path(p)
                for p in glob.glob(str(path), recursive=True)
                if Path(p).is_file() and format_of(Path(p).name)
            )
            if not matched:
                raise InputError(f"no readable files match {item}")
            sources += [
                Source(
                    str(p),
                    _format(p.name),
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
            fmt = format_of(Path(item).name)
            if fmt is None:
                raise InputError(f"unknown input format for {item}; valid: {VALID}")
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
        Source(url, _format(url), prefix + rel if prefix else url) for url, rel in found if format_of(url)
    ]
    if not sources:
        raise InputError(f"no readable files ({VALID}) in {item}")
    return sources


def _format(name: str) -> str:
    return format_of(name) or "auto"


def _binary(source: Source) -> IO[bytes]:
    if source.path == STDIN:
        return sys.stdin.buffer
    return decompressed(storage.open_read(source.path), source.path)


def _read_jsonl(stream: IO[bytes], name: str, fields: FieldMap) -> Iterator[Doc]:
    for number, raw in enumerate(stream, start=1):
        where = f"{name}:{number}"
        if not raw.strip():
            continue
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield error_doc(where, "MalformedInput", f"invalid UTF-8 at byte {exc.start}")
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            yield error_doc(where, "MalformedInput", f"invalid JSON: {exc.msg} at column {exc.colno}")
            continue
        yield doc_from_row(row, where, fields)


def _read_txt(stream: IO[bytes], name: str, fields: FieldMap) -> Iterator[Doc]:
    for number, raw in enumerate(stream, start=1):
        where = f"{name}:{number}"
        try:
            text = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as exc:
            yield error_doc(where, "MalformedInput", f"invalid UTF-8 at byte {exc.start}")
            continue
        yield {"id": where, "text": text}


def _read_parquet(path: str, name: str, fields: FieldMap) -> Iterator[Doc]:
    import pyarrow.parquet as pq

    # pre_buffer (on by default) fetches every row group up front: the whole file in memory.
    source = storage.open_read(path) if storage.is_url(path) else path
    pf = pq.ParquetFile(source, pre_buffer=False)
    number = 0
    for batch in pf.iter_batches(columns=fields.columns(pf.schema_arrow.names), batch_size=2048):
        for row in batch.to_pylist():
            number += 1
            yield doc_from_row(row, f"{name}:{number}", fields)


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
    with _binary(source) as fh:
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


def check_kept(sources: Sequence[Source], fields: FieldMap) -> None:
    """InputError if the first readable source lacks a column named in `--keep-fields`."""
    named = [name for name in fields.keep if name != ALL]
    for source in sources:
        present = first_fields(source, fields.no_header)
        if present is None:
            continue
        missing = [name for name in named if name not in present]
        if missing:
            raise InputError(
                f"--keep-fields: {', '.join(missing)} not found in {source.name}; "
                f"fields there: {', '.join(sorted(present)) or 'none'}"
            )
        return
