"""The Python API: `nlpbatch.pipeline(...)` over texts in memory, and `nlpbatch.run(...)` over files.

Both go through the engine `nlpbatch run` uses (`worker.local.run_chunk` on chunk messages),
so their records are the records of `run` and `submit`; neither needs Redis.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from nlpbatch import defaults
from nlpbatch.checkpoint import check_checkpoint
from nlpbatch.errors import InvalidParameter
from nlpbatch.modelref import resolve
from nlpbatch.schema import ChunkMessage, Doc, Record
from nlpbatch.settings import Settings
from nlpbatch.tasks import get_task
from producer.chunking import chunked
from producer.job import PRECISIONS, JobSpec, prepare_job
from producer.readers import doc_from_row
from producer.run import RunReport, run_job

JOB_ID = "pipeline"


class Pipeline:
    """A task's model, called on texts (or dicts of input fields) to give their records.

    Built by `nlpbatch.pipeline`; the model loads on the first call, once per process.
    """

    def __init__(
        self,
        task: str,
        model: str | None = None,
        *,
        precision: str = "fp32",
        chunk_size: int = defaults.CHUNK_SIZE,
        text_field: str = "text",
        id_field: str = "id",
        threads: int | None = None,
        backend: str = "auto",
        settings: Settings | None = None,
        gate_docs: int = defaults.GATE_DOCS,
        gate_threshold: float | None = None,
        **params: Any,
    ) -> None:
        spec = get_task(task)
        validated = spec.validate_params(dict(params))
        if precision not in PRECISIONS:
            raise InvalidParameter(f"unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}")
        if chunk_size < 1:
            raise InvalidParameter(f"chunk size must be at least 1, got {chunk_size}")
        model = model or spec.default_model
        source = resolve(model, download=False)
        if source.path != Path() and source.path.is_dir():
            check_checkpoint(spec.name, validated, source.path)
        self.job = JobSpec(
            task=spec.name,
            model=model,
            inputs=(),
            output="",
            params=validated,
            precision=precision,
            text_field=text_field,
            id_field=id_field,
            chunk_size=chunk_size,
        )
        self.settings = settings or Settings.from_env()
        self._threads, self._backend = threads, backend
        self._gate = (gate_docs, gate_threshold)
        self._precision: str | None = None if precision != "fp32" else "fp32"

    @property
    def task(self) -> str:
        return self.job.task

    def __call__(self, inputs: str | Mapping[str, Any] | Iterable[str | Mapping[str, Any]]) -> Any:
        """One record for a text or a dict; for an iterable, an iterator of records in its order.

        The iterable is read one chunk at a time, so a generator over a huge corpus is fine.
        """
        if isinstance(inputs, str | Mapping):
            return next(self.stream([inputs]))
        return self.stream(inputs)

    def stream(self, inputs: Iterable[str | Mapping[str, Any]]) -> Iterator[Record]:
        """The records of `inputs`, chunk by chunk, in order."""
        from producer.precision import GateReuse, choose_precision
        from worker import local

        if not local.configured():
            local.configure(self.settings, threads=self._threads, backend=self._backend)
        messages = self._messages(self._docs(inputs))
        reuse = GateReuse()
        if self._precision is None:  # int8 or auto: the gate decides once, on the first documents
            gate_docs, threshold = self._gate
            self._precision, _, messages = choose_precision(
                self.job, messages, self.settings, gate_docs=gate_docs, threshold=threshold, reuse=reuse
            )
        else:
            messages = (_with_precision(m, self._precision) for m in messages)
        for msg in messages:  # the gate's records in the chosen precision are not computed again
            done = reuse.take(msg.index)
            yield from local.run_chunk(msg, done) if done else local.run_chunk(msg)

    def _docs(self, inputs: Iterable[str | Mapping[str, Any]]) -> Iterator[Doc]:
        fields = self.job.fields
        for number, item in enumerate(inputs):
            if isinstance(item, str):
                item = {fields.text_field: item}
            # Documents given without an id are named by their position, from 0.
            yield doc_from_row(dict(item) if isinstance(item, Mapping) else item, number, fields)

    def _messages(self, docs: Iterator[Doc]) -> Iterator[ChunkMessage]:
        for index, chunk in enumerate(chunked(docs, self.job.chunk_size)):
            yield ChunkMessage(
                job_id=JOB_ID,
                index=index,
                task=self.job.task,
                model=self.job.model,
                docs=chunk,
                params=self.job.params,
                precision=self.job.precision,
            )


def _with_precision(msg: ChunkMessage, precision: str) -> ChunkMessage:
    import dataclasses

    return dataclasses.replace(msg, precision=precision)


def pipeline(task: str, model: str | None = None, **options: Any) -> Pipeline:
    """A callable over texts, like `transformers.pipeline`, running as `nlpbatch run` does.

    `options`: precision, chunk_size, text_field, id_field, threads, backend, and the task's
    parameters (`top_k=3`). A bad task, parameter or model raises a JobError at once.
    """
    return Pipeline(task, model, **options)


def run(
    inputs: str | Sequence[str],
    *,
    task: str,
    output: str,
    model: str | None = None,
    params: Mapping[str, Any] | None = None,
    precision: str = "fp32",
    text_field: str = "text",
    id_field: str = "id",
    chunk_size: int = defaults.CHUNK_SIZE,
    threads: int | None = None,
    backend: str = "auto",
    gate_threshold: float | None = None,
    gate_docs: int = defaults.GATE_DOCS,
    settings: Settings | None = None,
    keep_fields: Sequence[str] = (),
    field_map: Mapping[str, str] | None = None,
    limit: int | None = None,
    processes: int = 1,
) -> RunReport:
    """`nlpbatch run` from Python: read the input files, write `output`, return the report.

    `processes` > 1 runs the chunks in that many processes (`nlpbatch run --processes`).
    """
    job = prepare_job(
        task=task,
        model=model or get_task(task).default_model,
        inputs=[inputs] if isinstance(inputs, str) else list(inputs),
        output=output,
        params=dict(params or {}),
        precision=precision,
        text_field=text_field,
        id_field=id_field,
        chunk_size=chunk_size,
        keep_fields=keep_fields,
        field_map=dict(field_map or {}),
        limit=limit,
    )
    return run_job(
        job,
        settings or Settings.from_env(),
        threads=threads,
        backend=backend,
        gate_threshold=gate_threshold,
        gate_docs=gate_docs,
        processes=processes,
    )


__all__ = ["Pipeline", "pipeline", "run"]
