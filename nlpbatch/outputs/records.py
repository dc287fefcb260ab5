"""Record formats: JSONL or Parquet by extension, written aside and renamed into place.

A job's output never exists half-written: records go to a temporary file beside the target,
which is renamed over it only when the writer closes without error. Outputs may also be
fsspec URLs (see `nlpbatch.storage` for what atomic means on object stores).
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from nlpbatch import storage
from nlpbatch.columns import output_fields
from nlpbatch.errors import OutputError
from nlpbatch.schema import Record
from nlpbatch.tasks import TaskSpec

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}


def output_format(path: str | Path) -> str:
    """'jsonl' or 'parquet' from the output's extension, else OutputError."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise OutputError(
            f"unknown output extension {suffix or '(none)'!r} for {path}; use one of: " + ", ".join(FORMATS)
        )
    return FORMATS[suffix]


def _json_default(value: Any) -> Any:
    # numpy scalars and arrays reach here from post-processing.
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(record: Record) -> str:
    """One record as a JSON line (without the newline)."""
    return json.dumps(record, ensure_ascii=False, default=_json_default)


def _float32_lists(spec: TaskSpec, record: Record) -> Record:
    """The record with its float32 lists (embeddings, as in Parquet) written at float32 precision.

    The values are float32 computed and carried as Python floats, which JSON writes with the
    17 digits of a float64; the shortest decimal that reads back as the same float32 is about
    half as long. numpy's str of a float32 is that shortest round-trip form.
    """
    lists = [
        n for n, kind in spec.output_fields.items() if kind == "float_list" and record.get(n) is not None
    ]
    if not lists:
        return record
    import numpy as np

    out = dict(record)
    for name in lists:
        values = np.asarray(record[name])
        if values.ndim == 1 and values.dtype.kind in "fiu":  # else (a None inside, ...) as it is
            out[name] = [float(text) for text in values.astype(np.float32).astype(str)]
    return out


def jsonl_bytes(records: Iterable[Record]) -> bytes:
    """Records as the UTF-8 bytes of a JSONL file."""
    return "".join(dumps(r) + "\n" for r in records).encode("utf-8")


def arrow_schema(
    spec: TaskSpec, params: dict[str, Any] | None = None, kept: dict[str, Any] | None = None
) -> Any:
    """The Parquet schema of a job's records: id, kept input fields, the task's fields, error."""
    import pyarrow as pa

    types = {
        "string": pa.string(),
        "float": pa.float64(),
        "int": pa.int64(),
        "float_list": pa.list_(pa.float32()),
        "string_list": pa.list_(pa.string()),
        "int_list": pa.list_(pa.int64()),
        "json": pa.string(),
    }
    error = pa.struct([("type", pa.string()), ("message", pa.string())])
    fields = [pa.field("id", pa.string())]
    fields += [
        pa.field(n, pa.string() if t in (JSON_TYPE, TEXT_TYPE) else t) for n, t in (kept or {}).items()
    ]
    fields += [pa.field(name, types[kind]) for name, kind in output_fields(spec, params).items()]
    fields.append(pa.field("error", error))
    return pa.schema(fields)


def kept_types(spec: TaskSpec, rows: list[Record], params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Arrow types of the input fields kept in `rows` (the first rows of a job's output).

    A field's type is what Arrow infers from those rows; a field that is null in all of
    them, or whose values have no one type, is a JSON string, so that every row group of
    the file has the same schema.
    """
    import pyarrow as pa

    types: dict[str, Any] = {}
    for name in kept_names(spec, rows, params):
        try:
            kind = pa.array([r.get(name) for r in rows]).type
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            kind = pa.null()
        types[name] = JSON_TYPE if pa.types.is_null(kind) else kind
    return types


#: A kept input field whose type is not known from the first rows: each value as JSON text.
JSON_TYPE = "json"
#: A kept input field of a dataset's part: strings as read, other values as JSON text. Parts
#: are written apart, by different workers, and must share one schema whatever their rows hold.
TEXT_TYPE = "text"


def kept_names(spec: TaskSpec, rows: list[Record], params: dict[str, Any] | None = None) -> list[str]:
    """The input fields kept in `rows`, in their order: every field that is not the task's."""
    own = {"id", "error", *output_fields(spec, params)}
    return [n for n in dict.fromkeys(k for r in rows for k in r) if n not in own]


def to_row(fields: dict[str, str], record: Record, kept: dict[str, Any] | None = None) -> Record:
    """A record as a Parquet row of these output `fields` (see nlpbatch.columns) and kept fields."""
    row: Record = {"id": None if record.get("id") is None else str(record["id"])}
    for name, kind in (kept or {}).items():
        value = record.get(name)
        if value is not None and (kind == JSON_TYPE or (kind == TEXT_TYPE and not isinstance(value, str))):
            value = dumps(value)
        row[name] = value
    for name, kind in fields.items():
        value = record.get(name)
        if kind == "json" and value is not None:
            value = dumps(value)
        elif value is not None and hasattr(value, "tolist"):
            value = value.tolist()
        row[name] = value
    row["error"] = record.get("error")
    return row


def _create_temporary(folder: Path, name: str) -> Path:
    """A new empty file `.<name>.<random>.tmp` in `folder`, with the mode the umask gives.

    Not `tempfile.mkstemp`: it creates files 0600 whatever the umask, and the file is renamed
    into place as the output, which others (a group, a web server) are meant to read.
    """
    while True:
        tmp = folder / f".{name}.{uuid.uuid4().hex[:12]}.tmp"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return tmp


class RecordWriter:
    """Writes records to a temporary file and renames it over `path` on a clean close."""

    def __init__(
        self,
        path: str | Path,
        spec: TaskSpec,
        *,
        row_group: int = 4096,
        params: dict[str, Any] | None = None,
    ) -> None:
        """`params`, the job's, choose the Parquet columns (see output_fields)."""
        # A URL is written to a local temporary file, then uploaded whole on close.
        self.target: str | None = str(path) if storage.is_url(path) else None
        self.path = Path(storage.name_of(path)) if self.target else Path(path)
        self.spec = spec
        self._fields = output_fields(spec, params)
        self.format = output_format(self.path)
        self.count = 0
        self._row_group = row_group
        self._params = params
        folder = None if self.target else self.path.parent
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
        self._tmp = _create_temporary(folder or Path(tempfile.gettempdir()), self.path.name)
        self._fh: Any = None
        self._pq: Any = None
        if self.format == "jsonl":
            self._fh = self._tmp.open("w", encoding="utf-8")
        else:
            # The schema waits for the first rows: kept input fields take their types from them.
            self._raw: list[Record] = []
            self._kept: dict[str, Any] | None = None

    def write(self, records: Iterable[Record]) -> None:
        for record in records:
            self.count += 1
            if self._fh is not None:
                self._fh.write(dumps(_float32_lists(self.spec, record)) + "\n")
            else:
                self._raw.append(record)
                if len(self._raw) >= self._row_group:
                    self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        if self._pq is None:
            import pyarrow.parquet as pq

            self._kept = kept_types(self.spec, self._raw, self._params)
            self._schema = arrow_schema(self.spec, self._params, self._kept)
            self._pq = pq.ParquetWriter(str(self._tmp), self._schema)
        if self._raw:
            rows = [to_row(self._fields, r, self._kept) for r in self._raw]
            try:
                table = pa.Table.from_pylist(rows, schema=self._schema)
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                raise OutputError(
                    f"a kept input field changed type after the output's first rows ({exc}); "
                    "write .jsonl, or keep fields of one type"
                ) from None
            self._pq.write_table(table)
            self._raw = []

    def close(self) -> Path | str:
        """Finish the file and move it into place; returns the final path or URL."""
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
        else:
            self._flush()
            self._pq.close()
        if self.target is not None:
            try:
                storage.upload(self._tmp, self.target)
            finally:
                self._tmp.unlink(missing_ok=True)
            return self.target
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Drop the temporary file; the target is left as it was."""
        try:
            if self._fh is not None:
                self._fh.close()
            elif self._pq is not None:
                self._pq.close()
        except OSError:
            pass  # the disk that failed the write may fail the close too; the file goes anyway
        finally:
            self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None:
            self.abort()
            return
        try:
            self.close()
        except BaseException:
            # A full disk can fail the last flush or fsync: leave no half-written temporary.
            self.abort()
            raise


def read_records(path: str | Path) -> Iterator[Record]:
    """Records from a JSONL or Parquet output (a path or a URL), in file order."""
    with storage.open_read(path) as fh:
        if output_format(path) == "jsonl":
            for line in fh:
                if line.strip():
                    yield json.loads(line)
        else:
            import pyarrow.parquet as pq

            for batch in pq.ParquetFile(fh).iter_batches():
                yield from batch.to_pylist()
