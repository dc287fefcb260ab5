"""Resume and cancel distributed jobs, from Redis state or, when Redis lost it, from files.

A job's manifest (in `NLPBATCH_HOME/jobs/`) and its part files are the record of what was
asked and what is done; Redis only tracks progress. Chunking is deterministic, so reading
the inputs again yields the same chunks, and only those without a part file are queued.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from nlpbatch import defaults
from nlpbatch.errors import InputError
from nlpbatch.jobs import finalize, load_manifest
from nlpbatch.jobstore import JobState, JobStore
from nlpbatch.outputs import Output, open_output
from nlpbatch.passages import document_records, passage_job
from nlpbatch.schema import ChunkMessage
from nlpbatch.settings import Settings, redact_url
from producer.client import connect, send_chunks
from producer.failover import alive_chunks
from producer.job import JobSpec


@dataclass(frozen=True)
class Resumption:
    """What `resume` did: chunks queued again, out of the job's total."""

    job_id: str
    chunks: int
    queued: int
    rebuilt: bool
    already_complete: bool = False


@dataclass(frozen=True)
class Written:
    """One chunk's results as written: its documents' ids, in order, and how many are errors."""

    ids: list[Any]
    errors: int
    #: Passage records, for an `embed` job with `passages`; else 0.
    passages: int = 0

    @classmethod
    def of(cls, records: list[dict[str, Any]], params: dict[str, Any] | None = None) -> Written:
        """From a part's records: a passage job's part holds a record per passage."""
        errors = sum(1 for r in records if "error" in r)
        passages = len(records) - errors if passage_job(params) else 0
        return cls([r.get("id") for r in document_records(records, params)], errors, passages)


class Counted(Iterator[ChunkMessage]):
    """The job's chunk messages, counting those read so far."""

    def __init__(self, messages: Iterator[ChunkMessage]) -> None:
        self.messages = messages
        self.count = 0

    def __next__(self) -> ChunkMessage:
        msg = next(self.messages)
        self.count += 1
        return msg


def written_parts(output: Output, params: dict[str, Any] | None = None) -> dict[int, Written]:
    """Each chunk whose results are written (part files, or Redis results), by chunk index."""
    return {index: Written.of(records, params) for index, records in output.written_parts()}


def check_inputs_unchanged(job: JobSpec, job_id: str, written: dict[int, Written]) -> None:
    """InputError unless the inputs, cut again, give each written chunk the same documents.

    Resuming over inputs that gained, lost or reordered lines since the job was submitted
    would shift documents between chunks, so the output would double some and miss others.
    Reads the inputs only as far as the last written chunk.
    """
    if not written:
        return
    last = max(written)
    seen = set()
    for msg in job.messages(job_id):
        if msg.index > last:
            break
        if msg.index in written:
            seen.add(msg.index)
            if [d.get("id") for d in msg.docs] != written[msg.index].ids:
                raise InputError(
                    f"the inputs of job {job_id} changed since it was submitted: chunk {msg.index} "
                    "no longer holds the documents whose results are written. Submit a new job."
                )
    if seen != set(written):
        missing = min(set(written) - seen)
        raise InputError(
            f"the inputs of job {job_id} changed since it was submitted: they are too short "
            f"for chunk {missing}, whose results are written. Submit a new job."
        )


def resume_job(settings: Settings, job_id: str, *, max_in_flight: int = defaults.MAX_IN_FLIGHT) -> Resumption:
    """Queue again the chunks of `job_id` whose results are missing.

    Works whether Redis still knows the job or lost everything: the job's state is rebuilt
    from the manifest and the part files. Chunks whose message is still in Redis (queued, or
    held by a worker) are not sent again; should one still run twice, its results are
    idempotent, so the output holds each document once.
    """
    manifest = load_manifest(settings, job_id)
    job = JobSpec.from_manifest(manifest)
    store = connect(settings)
    status = store.status(job_id)
    output = open_output(manifest["output"], job_id=job_id, redis=lambda: store.r)
    if status is not None and status.state is JobState.DONE:
        return Resumption(job_id, status.chunks_total or 0, 0, False, already_complete=True)
    chunks = written_parts(output, job.params)
    written = set(chunks)
    if status is None and not written and output.merged():
        # Merged and cleaned up, then Redis forgot the job: nothing is missing.
        return Resumption(job_id, 0, 0, True, already_complete=True)
    check_inputs_unchanged(job, job_id, chunks)
    # A chunk whose message still waits in Redis (or is held by a worker) is not sent twice.
    alive = alive_chunks(store, settings.queue, job_id)
    done = {i: (len(w.ids), w.errors) for i, w in chunks.items()}
    store.restore(job_id, manifest, done, sum(w.passages for w in chunks.values()))
    output.note_cancelled(None)
    every = Counted(job.messages(job_id))
    missing = (msg for msg in every if msg.index not in written and msg.index not in alive)
    sent = send_chunks(
        settings, store, job_id, missing, max_in_flight=max_in_flight, done_before=len(written)
    )
    for _ in every:  # cancelled meanwhile: the total still counts every chunk
        pass
    store.set_total(job_id, every.count)
    finalize(store, job_id)
    return Resumption(job_id, every.count, sent, status is None)


def cancel_job(settings: Settings, job_id: str) -> JobState:
    """Stop a job: chunks not yet started are skipped, and no output is written.

    Returns the state the job had. The finished chunks stay in `<output>.parts/`, beside a
    CANCELLED note, and `nlpbatch resume` can carry the job on later.
    """
    store: JobStore = connect(settings)
    status = store.status(job_id)
    if status is None:
        raise InputError(f"unknown job {job_id!r} on {redact_url(settings.broker_url)}")
    if status.state.is_finished:
        return status.state
    store.set_state(job_id, JobState.CANCELLED)
    note = f"job {job_id} was cancelled at {time.strftime('%Y-%m-%d %H:%M:%S')}; the output is incomplete\n"
    open_output(status.manifest["output"]).note_cancelled(note)
    return status.state
