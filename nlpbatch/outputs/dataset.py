"""A partitioned output: a folder (`out/`, a path or fsspec URL) of one file per chunk, never merged.

    out/part-00000000.parquet   chunk 0's records, then chunk 1's ... (zero-padded, so file
    out/part-00000001.parquet   names sort in input order)
    out/_nlpbatch.json          job, task, model, counts and schema, written last: the job is done

Each part is written whole by `nlpbatch.storage.write_bytes` (renamed into place, or one PUT),
and every part of a job has the task's Parquet schema, so `pyarrow.dataset.dataset("out/")`,
`pandas.read_parquet("out/")` and DuckDB's `read_parquet('out/*.parquet')` read the folder as
one table in input order. A folder named `*.jsonl/` holds JSONL parts instead. Files whose
names start with `_` or `.` (the manifest, the report, temporary files) are skipped by those
readers. There is no merge, so no step grows with the size of the output.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nlpbatch import storage
from nlpbatch.columns import output_fields
from nlpbatch.errors import OutputError
from nlpbatch.outputs.base import Output
from nlpbatch.outputs.records import (
    TEXT_TYPE,
    RecordWriter,
    arrow_schema,
    jsonl_bytes,
    kept_names,
    read_records,
    to_row,
)
from nlpbatch.schema import Record
from nlpbatch.tasks import TaskSpec

PART_PREFIX = "part-"
MANIFEST = "_nlpbatch.json"
JOB_COPY = "_job.json"
REPORT = "_report.json"
CANCELLED_NOTE = "_CANCELLED"
#: `--output-format` values that ask for a dataset, with the part files' format.
DATASET_FORMATS = {"parquet-dataset": "parquet", "jsonl-dataset": "jsonl"}


def is_dataset_output(output: str | Path) -> bool:
    """True when `output` names a folder (a trailing slash): the job is written as a dataset."""
    return isinstance(output, str) and output.endswith(("/", "\\"))


def dataset_output(output: str, output_format: str) -> str:
    """`output` as a dataset folder of `output_format` parts (see DATASET_FORMATS)."""
    if output_format not in DATASET_FORMATS:
        raise OutputError(f"unknown output format {output_format!r}; valid: {', '.join(DATASET_FORMATS)}")
    folder = output.rstrip("/\\")
    if DATASET_FORMATS[output_format] == "jsonl" and not folder.endswith(".jsonl"):
        folder += ".jsonl"
    return folder + "/"


def parquet_bytes(
    spec: TaskSpec, records: list[Record], params: dict[str, Any] | None, keep: list[str] | None = None
) -> bytes:
    """Records as the bytes of one Parquet file with the job's schema (task and parameters).

    Kept input fields (`keep`, the job's `--keep-fields`; by default those in the records) are
    string columns after the id: strings as read, other values as JSON text, so that parts
    written apart, one of error records only among them, have one schema.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    own = {"id", "error", *output_fields(spec, params)}
    names = [n for n in keep if n not in own] if keep is not None else kept_names(spec, records, params)
    kept = dict.fromkeys(names, TEXT_TYPE)
    schema = arrow_schema(spec, params, kept)
    fields = output_fields(spec, params)
    table = pa.Table.from_pylist([to_row(fields, r, kept) for r in records], schema=schema)
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


class DatasetOutput(Output):
    """A folder of one part file per chunk plus a manifest, read as one table in input order."""

    partitioned = True

    @classmethod
    def claims(cls, output: str | Path) -> bool:
        return is_dataset_output(output)

    @property
    def folder(self) -> str | Path:
        """The dataset's folder, without the trailing slash."""
        folder = str(self.target).rstrip("/\\")
        return folder if storage.is_url(folder) else Path(folder)

    @property
    def format(self) -> str:
        """'jsonl' for a folder named `*.jsonl/`, else 'parquet'."""
        return "jsonl" if str(self.folder).lower().endswith(".jsonl") else "parquet"

    def _at(self, name: str) -> str | Path:
        return storage.join(self.folder, name)

    def part_location(self, index: int) -> str | Path:
        """Where chunk `index`'s part is written."""
        return self._at(f"{PART_PREFIX}{index:08d}.{self.format}")

    def check(self) -> str:
        if storage.is_url(self.folder):
            storage.check_writable(str(self.folder))
            return f"{self.folder}/"
        folder = Path(self.folder).expanduser().absolute()
        if folder.is_file():
            raise OutputError(f"output {folder} is a file; a dataset output is a folder")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create output folder {folder}: {exc.strerror}") from None
        if self.done_parts_in(folder):
            raise OutputError(f"output folder {folder} already holds parts; name an empty or new folder")
        return f"{folder}/"

    def check_safe(self) -> None:
        if not storage.is_url(self.folder) and not Path(self.folder).is_absolute():
            raise OutputError(f"chunk output must be an absolute path or a URL, got {self.target!r}")

    def write_part(self, index: int, records: list[Record]) -> None:
        # The spec is needed for the schema; the chunk's records carry no task, the job copy does.
        if self.format == "jsonl":
            data = jsonl_bytes(records)
        else:
            data = parquet_bytes(self._spec(), records, self._params(), self._keep_fields())
        storage.write_bytes(self.part_location(index), data)

    _task: TaskSpec | None = None
    _job_params: dict[str, Any] | None = None

    def with_task(self, spec: TaskSpec, params: dict[str, Any] | None = None) -> DatasetOutput:
        """This output, writing parts with the schema of `spec` and the job's `params`."""
        self._task, self._job_params = spec, params
        return self

    def _spec(self) -> TaskSpec:
        if self._task is None:  # a worker: the job copy names the task and its parameters
            from nlpbatch.tasks import get_task

            job = self._job_copy()
            self._task, self._job_params = get_task(job["task"]), job.get("params")
        return self._task

    def _params(self) -> dict[str, Any] | None:
        self._spec()
        return self._job_params

    def _keep_fields(self) -> list[str] | None:
        """The job's kept input fields as named (`--keep-fields a,b`); None for `all`, or no copy."""
        if storage.is_file(self._at(JOB_COPY)):
            keep = list(self._job_copy().get("keep_fields") or ())
            return None if "all" in keep else keep
        return None

    def _job_copy(self) -> dict[str, Any]:
        location = self._at(JOB_COPY)
        if not storage.is_file(location):
            raise OutputError(f"{self.target} lacks {JOB_COPY}: the job's task is unknown")
        with storage.open_read(location) as fh:
            data: dict[str, Any] = json.loads(fh.read())
        return data

    def done_parts_in(self, folder: str | Path) -> set[int]:
        """Indexes of the parts in `folder`."""
        if not storage.is_dir(folder):
            return set()
        if storage.is_url(folder):
            names = [storage.name_of(url) for url, _ in storage.list_files(str(folder))]
        else:
            names = [p.name for p in Path(folder).iterdir()]
        stems = [n[len(PART_PREFIX) :].split(".")[0] for n in names if n.startswith(PART_PREFIX)]
        return {int(s) for s in stems if s.isdigit()}

    def done_parts(self) -> set[int]:
        return self.done_parts_in(self.folder)

    def read_part(self, index: int) -> list[Record]:
        return list(read_records(self.part_location(index)))

    def merge(
        self,
        spec: TaskSpec,
        n_chunks: int,
        *,
        keep_parts: bool = False,
        params: dict[str, Any] | None = None,
    ) -> None:
        """Write the manifest that marks the dataset whole; the parts stay where they are."""
        self.check_complete(n_chunks, "finish")
        job = self._job_copy() if storage.is_file(self._at(JOB_COPY)) else {}
        counts = [self._count(index) for index in range(n_chunks)]
        manifest = {
            "job_id": self.job_id or job.get("job_id"),
            "task": spec.name,
            "model": job.get("model"),
            "format": self.format,
            "parts": [storage.name_of(self.part_location(i)) for i in range(n_chunks)],
            "counts": counts,
            "records": sum(counts),
            "schema": [{"name": f.name, "type": str(f.type)} for f in arrow_schema(spec, params)],
        }
        storage.write_bytes(self._at(MANIFEST), json.dumps(manifest, indent=2).encode("utf-8"))

    def _count(self, index: int) -> int:
        if self.format == "jsonl":
            return sum(1 for _ in read_records(self.part_location(index)))
        import pyarrow.parquet as pq

        with storage.open_read(self.part_location(index)) as fh:
            return int(pq.ParquetFile(fh).metadata.num_rows)  # the footer only

    def read(self, n_chunks: int) -> Iterator[Record]:
        self.check_complete(n_chunks, "read")
        return (r for index in range(n_chunks) for r in read_records(self.part_location(index)))

    @property
    def report_location(self) -> str | Path:
        return self._at(REPORT)

    def write_manifest(self, data: bytes) -> None:
        storage.write_bytes(self._at(JOB_COPY), data)

    def note_cancelled(self, note: str | None) -> None:
        if storage.is_url(self.folder):
            return  # on URLs the job's state in Redis is the only mark
        path = Path(self._at(CANCELLED_NOTE))
        if note is None:
            path.unlink(missing_ok=True)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(note, encoding="utf-8")

    def merged(self) -> bool:
        return storage.is_file(self._at(MANIFEST))

    def writer(self, spec: TaskSpec, params: dict[str, Any] | None = None) -> RecordWriter:
        return DatasetWriter(self, spec, params)


class DatasetWriter(RecordWriter):
    """`run`'s writer: each `write` call (one chunk) becomes the next part; close writes the manifest."""

    def __init__(self, output: DatasetOutput, spec: TaskSpec, params: dict[str, Any] | None) -> None:
        self.output = output.with_task(spec, params)
        self.spec = spec
        self.params = params
        self.count = 0
        self.parts = 0

    def write(self, records: Any) -> None:
        batch = list(records)
        self.output.write_part(self.parts, batch)
        self.parts += 1
        self.count += len(batch)

    def close(self) -> str | Path:
        self.output.merge(self.spec, self.parts, params=self.params)
        return str(self.output.target)

    def abort(self) -> None:
        return None  # the parts stay; without the manifest the folder is not a finished dataset
