"""`nlpbatch results`: write a job's results kept in Redis to a file, then drop them from Redis."""

from __future__ import annotations

from pathlib import Path

from nlpbatch.errors import InputError, NlpbatchError, OutputError
from nlpbatch.jobstate import JobState
from nlpbatch.outputs import open_output
from nlpbatch.settings import Settings
from nlpbatch.tasks import get_task
from producer.api import JobNotDone
from producer.client import connect, job_status


class ResultsGone(NlpbatchError):
    """The job's results expired or were already drained: nothing to write (CLI exit code 1)."""


def drain_results(
    settings: Settings, job_id: str, output: str, *, keep: bool = False
) -> tuple[int, str | Path]:
    """Write a finished job's results kept in Redis or a dataset folder to `output`; (records, path).

    The records come in input order. Results in Redis are dropped afterwards unless `keep`.
    InputError if the job wrote one file instead, JobNotDone if it has not finished,
    ResultsGone if they are gone already.
    """
    status = job_status(settings, job_id)
    where = status.manifest.get("output", "")
    if not (open_output(where).drainable or open_output(where).partitioned):
        raise InputError(f"job {job_id} wrote its results to {where}, not to Redis; read that file")
    if status.state is not JobState.DONE:
        raise JobNotDone(
            f"job {job_id} is {status.state.value} "
            f"({status.chunks_done}/{status.chunks_total or '?'} chunks); `nlpbatch wait {job_id}` first"
        )
    client = connect(settings).r
    source = open_output(where, job_id=job_id, redis=lambda: client)
    destination = open_output(output)
    if not destination.runnable:
        raise OutputError(f"cannot write results to {output}; name a .jsonl or .parquet file (a path or URL)")
    out = destination.check()
    try:
        task = get_task(status.manifest["task"])
        with open_output(out).writer(task, status.manifest.get("params")) as writer:
            writer.write(source.read(status.chunks_total or 0))
    except OutputError as exc:
        # Expired or already drained: nothing to write, and the job's state says it is done.
        raise ResultsGone(str(exc)) from None
    if not keep:
        source.drain()
    return writer.count, out
