"""A job as the user asked for it, checked whole before any work starts."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nlpbatch import defaults
from nlpbatch.checkpoint import check_checkpoint
from nlpbatch.errorbudget import ErrorBudget
from nlpbatch.errors import InputError, InvalidParameter
from nlpbatch.modelref import resolve
from nlpbatch.outputs import open_output
from nlpbatch.schema import ChunkMessage, Doc
from nlpbatch.tasks import TaskSpec, get_task
from producer.chunking import chunked
from producer.readers import STDIN, FieldMap, Source, check_fields, check_kept, expand_inputs, iter_documents

PRECISIONS = ("fp32", "int8", "auto")


@dataclass(frozen=True)
class JobSpec:
    """Everything that defines a job's output. Built by `prepare_job`, which validates it."""

    task: str
    model: str
    inputs: tuple[str, ...]
    output: str
    params: dict[str, Any] = field(default_factory=dict)
    precision: str = "fp32"
    text_field: str = "text"
    id_field: str = "id"
    chunk_size: int = defaults.CHUNK_SIZE
    stdin_format: str | None = None
    #: CSV/TSV inputs have no header row: every row is a document, columns are named "1", "2", ...
    no_header: bool = False
    #: The folder relative inputs are read from.
    cwd: str = ""
    #: Task field -> the input column it is read from (`--field question=q`).
    field_map: dict[str, str] = field(default_factory=dict)
    #: Input columns copied into every record (`--keep-fields`; `("all",)` for every one).
    keep_fields: tuple[str, ...] = ()
    #: Read only the first this many documents (`--limit`); None for all.
    limit: int | None = None
    #: Stop the job as failed past this many error records, or this share (`--max-errors 10`, `2%`).
    max_errors: str | None = None

    @property
    def spec(self) -> TaskSpec:
        return get_task(self.task)

    @property
    def fields(self) -> FieldMap:
        spec = self.spec
        others = tuple(f for f in (*spec.input_fields, *spec.optional_fields) if f != "text")
        return FieldMap(
            self.text_field, self.id_field, others, dict(self.field_map), self.keep_fields, self.no_header
        )

    def sources(self) -> list[Source]:
        return expand_inputs(self.inputs, stdin_format=self.stdin_format, base=self.cwd or None)

    def messages(self, job_id: str) -> Iterator[ChunkMessage]:
        """The job's chunk messages, in order; the same every time for the same input."""
        docs = self.documents()
        for index, chunk in enumerate(chunked(docs, self.chunk_size)):
            yield ChunkMessage(
                job_id=job_id,
                index=index,
                task=self.task,
                model=self.model,
                docs=chunk,
                params=self.params,
                precision=self.precision,
                output=self.output,
            )

    def documents(self) -> Iterator[Doc]:
        """The job's documents, in order, up to its limit."""
        return itertools.islice(iter_documents(self.sources(), self.fields), self.limit)

    def manifest(self, job_id: str) -> dict[str, Any]:
        return {"job_id": job_id, "created": time.time(), **asdict(self)}

    @classmethod
    def from_manifest(cls, data: dict[str, Any]) -> JobSpec:
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        values["inputs"] = tuple(values["inputs"])
        values["keep_fields"] = tuple(values.get("keep_fields") or ())
        return cls(**values)


def prepare_job(
    *,
    task: str,
    model: str,
    inputs: Sequence[str],
    output: str,
    params: dict[str, Any] | None = None,
    precision: str = "fp32",
    text_field: str = "text",
    id_field: str = "id",
    chunk_size: int = defaults.CHUNK_SIZE,
    stdin_format: str | None = None,
    no_header: bool = False,
    check_model: bool = True,
    field_map: dict[str, str] | None = None,
    keep_fields: Sequence[str] = (),
    limit: int | None = None,
    max_errors: str | None = None,
) -> JobSpec:
    """A validated JobSpec; raises a JobError naming the problem and the valid choices."""
    spec = get_task(task)
    validated = spec.validate_params(dict(params or {}))
    renames = dict(field_map or {})
    readable = ("text", *spec.input_fields, *spec.optional_fields)
    for name in renames:
        if name not in readable:
            raise InvalidParameter(
                f"--field {name}=...: task {spec.name} reads no field {name!r}; "
                f"it reads: {', '.join(dict.fromkeys(readable))}"
            )
    text_field = renames.pop("text", text_field)
    if precision not in PRECISIONS:
        raise InvalidParameter(f"unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}")
    if chunk_size < 1:
        raise InvalidParameter(f"chunk size must be at least 1, got {chunk_size}")
    if limit is not None and limit < 1:
        raise InvalidParameter(f"--limit must be at least 1, got {limit}")
    ErrorBudget.parse(max_errors)
    target = open_output(output)
    out = target.check()
    if check_model:
        source = resolve(model, download=False)
        if source.path != Path() and source.path.is_dir():
            check_checkpoint(spec.name, validated, source.path)
        # A local folder is passed on as an absolute path, so workers elsewhere find it.
        if source.path != Path() and Path(model).expanduser().is_dir():
            model = str(source.path)
    job = JobSpec(
        task=spec.name,
        model=model,
        inputs=tuple(inputs),
        output=str(out),
        params=validated,
        precision=precision,
        text_field=text_field,
        id_field=id_field,
        chunk_size=chunk_size,
        stdin_format=stdin_format,
        no_header=no_header,
        cwd=os.getcwd(),
        field_map=renames,
        keep_fields=tuple(keep_fields),
        limit=limit,
        max_errors=max_errors,
    )
    check_fields(job.sources(), job.fields, spec.input_fields)
    check_kept(job.sources(), job.fields)
    for name in spec.param_or_field:
        if validated.get(name) is None:
            try:
                check_fields(job.sources(), job.fields, (name,))
            except InputError as exc:
                raise InputError(f"{exc}; or give it for the whole job with --param {name}=...") from None
    target.check_size(job.documents, from_stdin=STDIN in job.inputs)
    return job
