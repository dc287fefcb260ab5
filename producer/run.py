"""The embedded runner: a whole job in this process, no Redis and no worker.

It runs each chunk through `worker.local.run_chunk`, the very function the Celery task
calls, so `run` and `submit` give the same records.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nlpbatch import defaults
from nlpbatch.errors import OutputError
from nlpbatch.outputs import open_output
from nlpbatch.repeats import RepeatedIds
from nlpbatch.report import peak_rss_mb, rates, write_report
from nlpbatch.settings import Settings
from producer.job import JobSpec
from producer.precision import choose_precision


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
    repeated_ids: dict[str, Any] | None = None

    @property
    def docs_per_second(self) -> float:
        return self.docs / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "output": self.output,
            "docs": self.docs,
            "errors": self.errors,
            "chunks": self.chunks,
            "seconds": round(self.seconds, 3),
            **rates(self.docs, self.tokens, self.padded_tokens, self.seconds),
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
) -> RunReport:
    """Run `job` to completion, write its output atomically and its report beside it.

    `on_chunk(chunks, documents, errors)` is called with zeros once the model is loaded, then
    after each chunk with the totals so far.
    """
    from worker import local  # the heavy imports happen only when a job really runs

    output = open_output(job.output)
    if not output.runnable:
        raise OutputError("`run` writes files; results in Redis are for jobs queued with `submit`")
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
    docs = errors = chunks = 0
    t0 = time.perf_counter()
    repeats = RepeatedIds()
    if on_chunk:
        on_chunk(0, 0, 0)  # the model is loaded: the documents' clock starts here
    with output.writer(job.spec, job.params) as writer:
        for msg in repeats.count(messages):
            records = local.run_chunk(msg)
            writer.write(records)
            chunks += 1
            docs += len(records)
            errors += sum(1 for r in records if "error" in r)
            if on_chunk:
                on_chunk(chunks, docs, errors)
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
        repeated_ids=repeats.summary(),
    )
    write_report(job.output, report.to_dict())
    return report
