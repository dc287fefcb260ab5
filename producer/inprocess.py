"""The Python API: `nlpbatch.pipeline(...)` over texts in memory, and `nlpbatch.run(...)` over files.

Both go through the engine `nlpbatch run` uses (`Engine.run_chunk` on chunk messages),
so their records are the records of `run` and `submit`; neither needs Redis.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from nlpbatch import defaults
from nlpbatch.passages import passage_job
from nlpbatch.report import JobReport
from nlpbatch.schema import ChunkMessage, Doc, Record
from nlpbatch.settings import Settings
from producer.chunking import chunked
from producer.job import prepare_job
from producer.readers import doc_from_row
from producer.run import run_job

JOB_ID = "pipeline"


class Pipeline:
    """A task's model, called on texts (or dicts of input fields) to give their records.

    Built by `nlpbatch.pipeline`; the model loads on the first call, once per Pipeline.
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
        keep_fields: Sequence[str] = (),
        threads: int | None = None,
        backend: str = "auto",
        settings: Settings | None = None,
        gate_threshold: float | None = None,
        gate_docs: int = defaults.GATE_DOCS,
        gate_max_docs: int = defaults.GATE_MAX_DOCS,
        **params: Any,
    ) -> None:
        self.job = prepare_job(
            task=task,
            model=model,
            inputs=(),
            output=None,
            params=params,
            precision=precision,
            text_field=text_field,
            id_field=id_field,
            chunk_size=chunk_size,
            keep_fields=keep_fields,
            threads=threads,
            backend=backend,
            gate_threshold=gate_threshold,
            gate_docs=gate_docs,
            gate_max_docs=gate_max_docs,
        )
        self.settings = settings or Settings.from_env()
        self._engine: Any = None
        self._precision: str | None = None if precision != "fp32" else "fp32"

    @property
    def task(self) -> str:
        return self.job.task

    def __call__(self, inputs: str | Mapping[str, Any] | Iterable[str | Mapping[str, Any]]) -> Any:
        """One record for a text or a dict; for an iterable, an iterator of records in its order.

        `embed` with `passages` gives a record per passage: a list of them for one text or
        dict, one after another for an iterable. The iterable is read one chunk at a time,
        so a generator over a huge corpus is fine.
        """
        if isinstance(inputs, str | Mapping):
            if passage_job(self.job.params):
                return list(self.stream([inputs]))
            return next(self.stream([inputs]))
        return self.stream(inputs)

    def stream(self, inputs: Iterable[str | Mapping[str, Any]]) -> Iterator[Record]:
        """The records of `inputs`, chunk by chunk, in order."""
        from producer.precision import choose_precision
        from worker import local
        from worker.engine import Engine

        if self._engine is None:
            options = self.job.options
            self._engine = Engine.from_settings(
                self.settings, threads=options.threads, backend=options.backend
            )
        messages = self._messages(self._docs(inputs))
        decision = None
        if self._precision is None:  # int8 or auto: the gate decides once, on the first documents
            decision = choose_precision(self.job, messages, self.settings, self._engine)
            self._precision, messages = decision.precision, decision.messages
        else:
            messages = (_with_precision(m, self._precision) for m in messages)
        for msg in messages:  # the gate's records in the chosen precision are not computed again
            precomputed = decision.take(msg.index) if decision else None
            yield from local.run_chunk(self._engine, msg, precomputed).records

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

    `options`: precision, chunk_size, text_field, id_field, keep_fields, threads, backend, the
    gate's gate_threshold, gate_docs and gate_max_docs, and the task's parameters (`top_k=3`).
    A bad task, parameter or model raises a JobError at once.
    """
    return Pipeline(task, model, **options)


def run(
    inputs: str | Sequence[str],
    *,
    task: str,
    output: str,
    model: str | None = None,
    output_format: str | None = None,
    params: Mapping[str, Any] | None = None,
    precision: str = "fp32",
    text_field: str = "text",
    id_field: str = "id",
    no_header: bool = False,
    chunk_size: int = defaults.CHUNK_SIZE,
    threads: int | None = None,
    backend: str = "auto",
    gate_threshold: float | None = None,
    gate_docs: int = defaults.GATE_DOCS,
    gate_max_docs: int = defaults.GATE_MAX_DOCS,
    settings: Settings | None = None,
    keep_fields: Sequence[str] = (),
    field_map: Mapping[str, str] | None = None,
    limit: int | None = None,
    max_errors: str | int | None = None,
    input_format: str | None = None,
    processes: int | str = 1,
    passages: int | None = None,
    overlap: int | None = None,
    passage_text: bool | None = None,
) -> JobReport:
    """`nlpbatch run` from Python: read the input files, write `output`, return the report.

    Every option is the `nlpbatch run` option of that name; `processes` > 1 runs the chunks
    in that many processes (`--processes`); `passages=N` (embed) cuts each document into
    passages of at most N tokens, one record each, as `params={"passages": N}` does.
    """
    from nlpbatch.passages import with_passage_options

    passage_options = {"passages": passages, "overlap": overlap, "passage_text": passage_text}
    job = prepare_job(
        task=task,
        model=model,
        inputs=[inputs] if isinstance(inputs, str) else list(inputs),
        output=output,
        output_format=output_format,
        params=with_passage_options(task, params, passage_options),
        precision=precision,
        text_field=text_field,
        id_field=id_field,
        no_header=no_header,
        chunk_size=chunk_size,
        keep_fields=keep_fields,
        field_map=dict(field_map or {}),
        limit=limit,
        max_errors=None if max_errors is None else str(max_errors),
        stdin_format=input_format,
        threads=threads,
        backend=backend,
        processes=processes,
        gate_threshold=gate_threshold,
        gate_docs=gate_docs,
        gate_max_docs=gate_max_docs,
    )
    return run_job(job, settings or Settings.from_env())


__all__ = ["Pipeline", "pipeline", "run"]
