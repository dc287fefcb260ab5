"""The embedded runner: a whole job in this process, no Redis and no worker.

It runs each chunk through `worker.local.run_chunk`, the very function the Celery task
calls, so `run` and `submit` give the same records.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nlpbatch import defaults
from nlpbatch.errorbudget import ErrorBudget
from nlpbatch.errors import OutputError, TooManyErrors
from nlpbatch.outputs import open_output
from nlpbatch.repeats import RepeatedIds
from nlpbatch.report import peak_rss_mb, rates, write_report
from nlpbatch.settings import Settings
from producer.job import JobSpec
from producer.precision import choose_precision
from producer.resume import run_manifest, written_chunks


@dataclass(frozen=True)
class RunReport:
    """What a finished job did, and how fast."""

    output: str
    docs: int
    errors: int
    chunks: int
    seconds: float
    load_seconds: float
    tokens: int
    padding_waste: float
    backend: str
    precision: str
    threads: int
    padded_tokens: int = 0
    processes: int = 1
    peak_rss_mb: float = 0.0
    gate: dict[str, Any] | None = None
    #: Chunks (and their documents) found written by an earlier, interrupted run of this job.
    resumed_chunks: int = 0
    resumed_docs: int = 0
    repeated_ids: dict[str, Any] | None = None

    @property
    def docs_per_second(self) -> float:
        return (self.docs - self.resumed_docs) / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "output": self.output,
            "docs": self.docs,
            "errors": self.errors,
            "chunks": self.chunks,
            "seconds": round(self.seconds, 3),
            # The rates count only what this run did, not the chunks it resumed from.
            **rates(self.docs - self.resumed_docs, self.tokens, self.padded_tokens, self.seconds),
            "tokens": self.tokens,
            "padded_tokens": self.padded_tokens,
            "model_load_seconds": round(self.load_seconds, 2),
            "backend": self.backend,
            "precision": self.precision,
            "gate": self.gate,
            "repeated_ids": self.repeated_ids,
            "threads": self.threads,
            "processes": self.processes,
            "peak_rss_mb": self.peak_rss_mb,
            "resumed_chunks": self.resumed_chunks,
        }


def run_job(
    job: JobSpec,
    settings: Settings,
    *,
    threads: int | None = None,
    backend: str = "auto",
    on_chunk: Callable[[int, int, int], None] | None = None,
    gate_threshold: float | None = None,
    gate_docs: int = defaults.GATE_DOCS,
    gate_max_docs: int = defaults.GATE_MAX_DOCS,
    on_resume: Callable[[int], None] | None = None,
) -> RunReport:
    """Run `job` to completion, write its output atomically and its report beside it.

    Each chunk's records are kept in `<output>.parts/` until the end, so the same job run
    again after a crash or Ctrl-C skips the chunks already written (`on_resume` hears how
    many); the parts are merged into the output and removed when the job is done.
    `on_chunk(chunks, documents, errors)` is called with zeros once the model is loaded, then
    after each chunk with the totals so far.
    """
    from worker import local  # the heavy imports happen only when a job really runs

    output = open_output(job.output)
    if not output.runnable:
        raise OutputError("`run` writes files; results in Redis are for jobs queued with `submit`")
    local.check_backend(backend, job.task)  # before any work: a usage error, exit code 2
    local.configure(settings, threads=threads, backend=backend)
    started = time.perf_counter()
    precision, gate, messages = choose_precision(
        job,
        job.messages("run"),
        settings,
        gate_docs=gate_docs,
        threshold=gate_threshold,
        gate_max_docs=gate_max_docs,
    )
    runtime = local.load(job.task, job.model, precision, job.params)
    load_seconds = time.perf_counter() - started
    stats = local.stats()
    base_tokens, base_padded = stats.tokens, stats.padded_tokens
    manifest = run_manifest(job, precision)
    written = written_chunks(output, manifest)
    if written and on_resume:
        on_resume(len(written))
    output.write_manifest(json.dumps(manifest).encode("utf-8"))
    docs = errors = chunks = resumed_docs = 0
    budget = ErrorBudget.parse(job.max_errors)
    t0 = time.perf_counter()
    repeats = RepeatedIds()
    if on_chunk:
        on_chunk(0, 0, 0)  # the model is loaded: the documents' clock starts here
    for msg in repeats.count(messages):
        if msg.index in written:
            records = output.read_part(msg.index)
            resumed_docs += len(records)
        else:
            records = local.run_chunk(msg)
            output.write_part(msg.index, records)
        chunks += 1
        docs += len(records)
        errors += sum(1 for r in records if "error" in r)
        if on_chunk:
            on_chunk(chunks, docs, errors)
        if budget and (why := budget.exceeded(errors, docs)):
            raise TooManyErrors(f"stopped after chunk {msg.index}: {why}")
    output.merge(job.spec, chunks, params=job.params)
    seconds = time.perf_counter() - t0
    tokens = stats.tokens - base_tokens
    padded = stats.padded_tokens - base_padded
    report = RunReport(
        output=job.output,
        docs=docs,
        errors=errors,
        chunks=chunks,
        seconds=seconds,
        load_seconds=load_seconds,
        tokens=tokens,
        padding_waste=1 - tokens / padded if padded else 0.0,
        backend=runtime.backend,
        precision=runtime.precision,
        threads=runtime.threads,
        padded_tokens=padded,
        peak_rss_mb=peak_rss_mb(),
        gate=gate,
        resumed_chunks=len(written),
        resumed_docs=resumed_docs,
        repeated_ids=repeats.summary(),
    )
    write_report(job.output, report.to_dict())
    return report
