"""The embedded runner: a whole job on this machine, no Redis and no worker.

It runs each chunk through `Engine.run_chunk` (worker/engine.py), which the Celery task
calls too, so `run` and `submit` give the same records, in this process or in `--processes N`
(producer/parallel.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from nlpbatch.chunkresult import ChunkResult, Runtime
from nlpbatch.errors import OutputError
from nlpbatch.outputs import open_output
from nlpbatch.outputs.base import Output
from nlpbatch.passages import passage_job
from nlpbatch.repeats import RepeatedIds
from nlpbatch.report import JobReport, peak_rss_mb, write_report
from nlpbatch.schema import ChunkMessage, Record
from nlpbatch.settings import Settings
from producer.job import JobSpec
from producer.parallel import InlineRunner, ProcessRunner, auto_processes, ordered, running
from producer.precision import choose_precision
from producer.resume import resumable_chunks, run_manifest


def run_job(
    job: JobSpec,
    settings: Settings,
    *,
    on_chunk: Callable[..., None] | None = None,
    on_resume: Callable[[int], None] | None = None,
) -> JobReport:
    """Run `job` to completion, write its output atomically and its report beside it.

    Each chunk's records are kept in `<output>.parts/` until the end, so the same job run
    again after a crash or Ctrl-C skips the chunks already written (`on_resume` hears how
    many); the parts are merged into the output and removed when the job is done.
    `on_chunk(chunks, documents, errors)` is called with zeros (and the int8 gate's seconds)
    once the model is loaded, then after each chunk with the totals so far. The int8 gate's
    records in the precision it chose are written, not computed again.
    `job.options.processes` > 1 runs the chunks in that many processes, each loading the
    model once with `threads` threads (default: its share of the cores); the records and
    parts are the same. "auto": `producer.parallel.auto_processes` (one process).
    """
    from worker.engine import Engine  # the heavy imports happen only when a job really runs
    from worker.hooks import after_chunk, run_hooks

    options = job.options
    output = open_output(job.output)
    if not output.runnable:
        raise OutputError("`run` writes files; results in Redis are for jobs queued with `submit`")
    processes = auto_processes() if options.processes == "auto" else options.processes
    assert isinstance(processes, int)
    # The gate (before the processes start) may use every core.
    engine = Engine.from_settings(
        settings, threads=options.threads if processes == 1 else None, backend=options.backend
    )
    started = time.perf_counter()
    decision = choose_precision(job, job.messages("run"), settings, engine)
    precision = decision.precision
    manifest = run_manifest(job, precision)
    written = resumable_chunks(output, manifest)
    if written and on_resume:
        on_resume(len(written))
    output.write_manifest(json.dumps(manifest).encode("utf-8"))
    gate = decision.gate.to_dict() if decision.gate is not None else None
    gate_seconds = gate["seconds"] if gate else 0.0
    with chunk_runner(job, settings, output, precision, processes, engine) as (runner, info):
        load_seconds = time.perf_counter() - started - gate_seconds
        tally = Tally()
        hooks = run_hooks(options.max_errors, lambda: (tally.errors, tally.docs))
        t0 = time.perf_counter()
        repeats = RepeatedIds()
        if on_chunk:
            # The model is loaded: the documents' clock starts here, the gate's seconds counted in.
            on_chunk(0, 0, 0, gate_seconds)
        chunks = ordered(runner, repeats.count(decision.messages), written, output, decision.take)
        for msg, records, result in chunks:
            tally.add(msg, records, result)
            if on_chunk:
                on_chunk(tally.chunks, tally.docs, tally.errors)
            after_chunk(hooks, msg, result)
        workers = runner.workers
    output.merge(job.spec, tally.chunks, params=job.params)
    seconds = time.perf_counter() - t0
    report = JobReport(
        output=job.output,
        docs=tally.docs,
        errors=tally.errors,
        chunks=tally.chunks,
        seconds=seconds,
        tokens=tally.tokens,
        padded_tokens=tally.padded_tokens,
        backend=info.backend,
        precision=info.precision,
        threads=info.threads,
        processes=processes,
        peak_rss_mb=round(peak_rss_mb() + sum(w["peak_rss_mb"] for w in workers.values() if w["child"]), 1),
        load_seconds=load_seconds,
        gate=gate,
        repeated_ids=repeats.summary(),
        resumed_chunks=len(written),
        resumed_docs=tally.resumed_docs,
        gate_docs=tally.reused,
        passages=tally.rows - tally.errors if passage_job(job.params) else None,
        workers={
            name: {**asdict(info), "peak_rss_mb": w["peak_rss_mb"], "load_seconds": round(load_seconds, 2)}
            for name, w in workers.items()
        },
    )
    write_report(job.output, report.to_dict())
    return report


@dataclass
class Tally:
    """A run's totals so far, from each chunk's ChunkResult (None: read back from its part)."""

    chunks: int = 0
    docs: int = 0
    errors: int = 0
    tokens: int = 0
    padded_tokens: int = 0
    reused: int = 0
    resumed_docs: int = 0
    rows: int = 0

    def add(self, msg: ChunkMessage, records: list[Record], result: ChunkResult | None) -> None:
        """Count one chunk: its documents, and its records (one per passage with `passages`)."""
        self.chunks += 1
        self.docs += len(msg.docs)
        self.rows += len(records)
        self.errors += sum(1 for r in records if "error" in r)
        if result is None:
            self.resumed_docs += len(msg.docs)
            return
        self.tokens += result.tokens
        self.padded_tokens += result.padded_tokens
        self.reused += result.reused


@contextmanager
def chunk_runner(
    job: JobSpec,
    settings: Settings,
    output: Output,
    precision: str,
    processes: int,
    engine: Any,
) -> Iterator[tuple[InlineRunner | ProcessRunner, Runtime]]:
    """The runner of the job's chunks, its model loaded, and what that model runs on."""
    from worker.engine import thread_budget

    if processes == 1:
        info = engine.runtime(job.task, job.model, precision, job.params)
        yield InlineRunner(output, engine), info
        return
    engine.unload_all()  # the gate's models are the processes' now
    per_process = job.options.threads or thread_budget(processes)
    key = (job.task, job.model, precision, job.params)
    pool = ProcessRunner(
        output, processes, settings, threads=per_process, backend=job.options.backend, model_key=key
    )
    with running(pool):
        yield pool, pool.info
