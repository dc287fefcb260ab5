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
from nlpbatch.backends import check_backend
from nlpbatch.checkpoint import check_checkpoint
from nlpbatch.errorbudget import ErrorBudget
from nlpbatch.errors import InputError, InvalidParameter
from nlpbatch.gating import GateOptions
from nlpbatch.modelref import resolve
from nlpbatch.outputs import open_output
from nlpbatch.schema import ChunkMessage, Doc
from nlpbatch.tasks import TaskSpec, get_task
from producer.chunking import chunked
from producer.readers import STDIN, FieldMap, Source, check_fields, check_kept, expand_inputs, iter_documents

#: The precisions a job may ask for (`auto`: int8 if the gate passes).
JOB_PRECISIONS = ("fp32", "int8", "auto")


@dataclass(frozen=True)
class RunOptions:
    """How a job runs, beside what it computes: none of these change its records.

    `threads`, `backend` and `processes` are for `run` (a worker has its own); `gate` and
    `max_errors` for both. `processes` "auto": `producer.parallel.auto_processes`.
    """

    threads: int | None = None
    backend: str = "auto"
    processes: int | str = 1
    gate: GateOptions = field(default_factory=GateOptions)
    #: Stop the job as failed past this many error records, or this share (`--max-errors 10`, `2%`).
    max_errors: str | None = None


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
    options: RunOptions = field(default_factory=RunOptions)

    @property
    def max_errors(self) -> str | None:
        return self.options.max_errors

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

    def as_dict(self) -> dict[str, Any]:
        """What defines the job's records, and its error budget, as a manifest holds them."""
        data = asdict(self)
        del data["options"]  # how it runs here is no part of the job
        return {**data, "max_errors": self.options.max_errors}

    def manifest(self, job_id: str) -> dict[str, Any]:
        return {"job_id": job_id, "created": time.time(), **self.as_dict()}

    @classmethod
    def from_manifest(cls, data: dict[str, Any]) -> JobSpec:
        known = {f for f in cls.__dataclass_fields__} - {"options"}
        values = {k: v for k, v in data.items() if k in known}
        values["inputs"] = tuple(values["inputs"])
        values["keep_fields"] = tuple(values.get("keep_fields") or ())
        return cls(**values, options=RunOptions(max_errors=data.get("max_errors")))


def prepare_job(
    *,
    task: str,
    model: str | None = None,
    inputs: Sequence[str],
    output: str | None,
    output_format: str | None = None,
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
    threads: int | None = None,
    backend: str = "auto",
    processes: int | str = 1,
    gate_threshold: float | None = None,
    gate_docs: int = defaults.GATE_DOCS,
    gate_max_docs: int = defaults.GATE_MAX_DOCS,
) -> JobSpec:
    """A validated JobSpec, options included; raises a JobError naming the problem and the valid choices.

    The one place a job's options are declared and checked: the CLI, `Client.submit`,
    `nlpbatch.run`, `nlpbatch.pipeline` and schedule entries all build their job here.
    `model` None: the task's default. `output` None: the records go back to the caller
    (`nlpbatch.pipeline`), with no inputs or output to check.
    """
    spec = get_task(task)
    check_backend(backend, spec.name)  # before the model is looked up: a backend that cannot run it
    model = model or spec.default_model
    options = RunOptions(
        threads=threads,
        backend=backend,
        processes=processes,
        gate=GateOptions(gate_threshold, gate_docs, gate_max_docs),
        max_errors=max_errors,
    )
    check_options(options)
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
    if precision not in JOB_PRECISIONS:
        raise InvalidParameter(f"unknown precision {precision!r}; valid: {', '.join(JOB_PRECISIONS)}")
    if chunk_size < 1:
        raise InvalidParameter(f"chunk size must be at least 1, got {chunk_size}")
    if limit is not None and limit < 1:
        raise InvalidParameter(f"--limit must be at least 1, got {limit}")
    if check_model:
        source = resolve(model, download=False)
        if source.path != Path() and source.path.is_dir():
            check_checkpoint(spec.name, validated, source.path)
        # A local folder is passed on as an absolute path, so workers elsewhere find it.
        if source.path != Path() and Path(model).expanduser().is_dir():
            model = str(source.path)
    if output is None:  # records handed back to the caller: no inputs, no output
        return JobSpec(
            task=spec.name,
            model=model,
            inputs=(),
            output="",
            params=validated,
            precision=precision,
            text_field=text_field,
            id_field=id_field,
            chunk_size=chunk_size,
            field_map=renames,
            keep_fields=tuple(keep_fields),
            options=options,
        )
    if output_format:
        from nlpbatch.outputs.dataset import dataset_output

        output = dataset_output(output, output_format)
    target = open_output(output)
    out = target.check()
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
        options=options,
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


def check_options(options: RunOptions) -> None:
    """InvalidParameter for a thread count, process count, gate option or error budget out of range."""
    processes, gate = options.processes, options.gate
    if processes != "auto" and (
        not isinstance(processes, int) or isinstance(processes, bool) or processes < 1
    ):
        raise InvalidParameter(f"processes must be a whole number from 1, or auto; got {processes!r}")
    if options.threads is not None and options.threads < 1:
        raise InvalidParameter(f"threads must be at least 1, got {options.threads}")
    if gate.threshold is not None and not 0 <= gate.threshold <= 1:
        raise InvalidParameter(f"the gate threshold must be from 0 to 1, got {gate.threshold}")
    if gate.docs < 1 or gate.max_docs < 1:
        raise InvalidParameter(f"the gate reads at least 1 document, got {gate.docs} and {gate.max_docs}")
    ErrorBudget.parse(options.max_errors)
