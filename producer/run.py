"""The embedded runner: a whole job on this machine, no Redis and no worker.

It runs each chunk through `worker.local.run_chunk`, the very function the Celery task
calls, so `run` and `submit` give the same records, in this process or in `--processes N`
(producer/parallel.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from nlpbatch import defaults
from nlpbatch.errorbudget import ErrorBudget
from nlpbatch.errors import InvalidParameter, OutputError, TooManyErrors
from nlpbatch.outputs import open_output
from nlpbatch.outputs.base import Output
from nlpbatch.repeats import RepeatedIds
from nlpbatch.report import peak_rss_mb, rates, write_report
from nlpbatch.settings import Settings
from producer.job import JobSpec
from producer.parallel import InlineRunner, ProcessRunner, auto_processes, ordered, running
from producer.precision import GateReuse, choose_precision
from producer.resume import run_manifest, written_chunks


@dataclass(frozen=True)
class RunReport:
    """What a finished job did, and how fast.

    `seconds` runs from the model being loaded (in every process) to the output merged; the
    int8 gate comes before, and its time is in `gate["seconds"]` (and in `load_seconds`, which
    counts from the start). The records the gate computed in the chosen precision are written
    as they are: `gate_docs` documents (with `gate_tokens`, `gate_padded_tokens`) are in the
    totals but not in the rates, which count only what was computed within `seconds`.
    """

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
    gate_docs: int = 0
    gate_tokens: int = 0
    gate_padded_tokens: int = 0

    @property
    def computed_docs(self) -> int:
        """Documents whose records were computed within `seconds`."""
        return self.docs - self.resumed_docs - self.gate_docs

    @property
    def docs_per_second(self) -> float:
        return self.computed_docs / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "output": self.output,
            "docs": self.docs,
            "errors": self.errors,
            "chunks": self.chunks,
            "seconds": round(self.seconds, 3),
            # The rates count only what this run computed within `seconds`: not the chunks it
            # resumed from, nor the records the int8 gate computed before.
            **rates(
                self.computed_docs,
                self.tokens - self.gate_tokens,
                self.padded_tokens - self.gate_padded_tokens,
                self.seconds,
            ),
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
            "gate_docs_reused": self.gate_docs,
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
    processes: int | str = 1,
) -> RunReport:
    """Run `job` to completion, write its output atomically and its report beside it.

    Each chunk's records are kept in `<output>.parts/` until the end, so the same job run
    again after a crash or Ctrl-C skips the chunks already written (`on_resume` hears how
    many); the parts are merged into the output and removed when the job is done.
    `on_chunk(chunks, documents, errors)` is called with zeros once the model is loaded, then
    after each chunk with the totals so far. The int8 gate's records in the precision it
    chose are written, not computed again. `processes` > 1 runs the chunks in that many
    processes, each loading the model once with `threads` threads (default: its share of the
    cores); the records and parts are the same. "auto": `producer.parallel.auto_processes`
    (one process).
    """
    from worker import local  # the heavy imports happen only when a job really runs

    if processes != "auto" and (not isinstance(processes, int) or processes < 1):
        raise InvalidParameter(f"processes must be a whole number from 1, or auto; got {processes!r}")
    output = open_output(job.output)
    if not output.runnable:
        raise OutputError("`run` writes files; results in Redis are for jobs queued with `submit`")
    local.check_backend(backend, job.task)  # before any work: a usage error, exit code 2
    # The gate (before the processes start) may use every core.
    parent_threads = None if isinstance(processes, int) and processes > 1 else threads
    local.configure(settings, threads=parent_threads, backend=backend)
    started = time.perf_counter()
    reuse = GateReuse()
    precision, gate, messages = choose_precision(
        job,
        job.messages("run"),
        settings,
        gate_docs=gate_docs,
        threshold=gate_threshold,
        gate_max_docs=gate_max_docs,
        reuse=reuse,
    )
    if processes == "auto":
        processes = auto_processes()
    assert isinstance(processes, int)
    manifest = run_manifest(job, precision)
    written = written_chunks(output, manifest)
    if written and on_resume:
        on_resume(len(written))
    output.write_manifest(json.dumps(manifest).encode("utf-8"))
    with chunk_runner(job, settings, output, precision, processes, threads, backend) as (runner, info):
        load_seconds = time.perf_counter() - started
        docs = errors = chunks = resumed_docs = 0
        budget = ErrorBudget.parse(job.max_errors)
        t0 = time.perf_counter()
        repeats = RepeatedIds()
        if on_chunk:
            on_chunk(0, 0, 0)  # the model is loaded: the documents' clock starts here
        for msg, records, resumed in ordered(runner, repeats.count(messages), written, output, reuse.take):
            resumed_docs += len(records) if resumed else 0
            chunks += 1
            docs += len(records)
            errors += sum(1 for r in records if "error" in r)
            if on_chunk:
                on_chunk(chunks, docs, errors)
            if budget and (why := budget.exceeded(errors, docs)):
                raise TooManyErrors(f"stopped after chunk {msg.index}: {why}")
        tokens, padded = runner.counts
        peak = runner.peak_mb
    output.merge(job.spec, chunks, params=job.params)
    seconds = time.perf_counter() - t0
    gate_tokens, gate_padded = reuse.used_counts()
    report = RunReport(
        output=job.output,
        docs=docs,
        errors=errors,
        chunks=chunks,
        seconds=seconds,
        load_seconds=load_seconds,
        tokens=tokens + gate_tokens,
        padding_waste=1 - (tokens + gate_tokens) / (padded + gate_padded) if padded + gate_padded else 0.0,
        backend=info.backend,
        precision=info.precision,
        threads=info.threads,
        padded_tokens=padded + gate_padded,
        processes=processes,
        peak_rss_mb=round(peak_rss_mb() + peak, 1),
        gate=gate,
        resumed_chunks=len(written),
        resumed_docs=resumed_docs,
        repeated_ids=repeats.summary(),
        gate_docs=reuse.used_docs,
        gate_tokens=gate_tokens,
        gate_padded_tokens=gate_padded,
    )
    write_report(job.output, report.to_dict())
    return report


@contextmanager
def chunk_runner(
    job: JobSpec,
    settings: Settings,
    output: Output,
    precision: str,
    processes: int,
    threads: int | None,
    backend: str,
) -> Iterator[tuple[InlineRunner | ProcessRunner, Any]]:
    """The runner of the job's chunks, its model loaded, and what that model runs on."""
    from worker import local
    from worker.engine import thread_budget

    if processes == 1:
        info = local.load(job.task, job.model, precision, job.params)
        yield InlineRunner(output), info
        return
    local.configure(settings, backend=backend)  # the gate's models are the processes' now
    per_process = threads or thread_budget(processes)
    key = (job.task, job.model, precision, job.params)
    pool = ProcessRunner(output, processes, settings, threads=per_process, backend=backend, model_key=key)
    with running(pool):
        yield pool, pool.info
